#!/usr/bin/env node
// Fixes in installed dependencies that upstream has not released yet. Run after
// every install (npm's postinstall); idempotent; warns and changes nothing when
// a package's code is not the version the fix was written for.
//
// postgres 3.4.9 (porsager/postgres#1154, #1208): a connection whose socket
// closes while a small write waits for setImmediate keeps a cleared but
// non-null write timer. Its next startup message is then never flushed
// (queries on it hang until connect_timeout, again on every reconnect), and a
// write that still fires finds no socket and throws an uncaught TypeError that
// kills the process. And a reserved connection (sql.reserve()) whose backend
// dies is put back among the open connections on release(), where every later
// query fails with CONNECTION_CLOSED, and the queries queued on the reservation
// are never settled (callers await forever). Found by the fault suite (restart,
// crash, connection exhaustion of PostgreSQL under DICOM load).
//
// And postgres 3.4.9 never sets TCP_NODELAY on its sockets: every protocol
// socket of Radflow's does (a small write held back by Nagle's algorithm waits
// for the previous one's acknowledgment).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const POSTGRES_EDITS = [
	{
		find: '  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)',
		replace:
			"  function nextWrite(fn) {\n    if (!socket) { // radflow patch: closed meanwhile; fail the queries instead of crashing\n      chunk = nextWriteTimer = null\n      error(Errors.connection('CONNECTION_CLOSED', options))\n      return false\n    }\n    const x = socket.write(chunk, fn)"
	},
	{
		find: '    clearImmediate(nextWriteTimer)\n    if (socket) {',
		replace: '    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null // radflow patch\n    if (socket) {'
	},
	{
		find: "    clearImmediate(nextWriteTimer)\n    socket.removeListener('data', data)",
		replace: "    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null // radflow patch\n    socket.removeListener('data', data)"
	},
	{
		find: "    x.on('error', error)\n    x.on('close', closed)\n",
		replace: "    x.on('error', error)\n    x.on('close', closed)\n    typeof x.setNoDelay === 'function' && x.setNoDelay(true) // radflow patch: no Nagle delay on the database socket\n"
	}
];

const POSTGRES_INDEX_EDITS = [
	{
		find: '    move(c, reserved)\n    c.reserved = () => queue.length',
		replace:
			'    move(c, reserved)\n    // radflow patch: a reservation whose connection closes fails its queued queries\n    c.onclose = (e) => { while (queue.length) queue.shift().reject(e) }\n    c.reserved = () => queue.length'
	},
	{
		find: '    sql.release = () => {\n      c.reserved = null\n      onopen(c)\n    }',
		replace: '    sql.release = () => {\n      c.reserved = null\n      c.onclose = null\n      c.queue === closed || onopen(c) // radflow patch: a closed connection stays closed\n    }'
	}
];

function patchFile(file, edits, label) {
	if (!fs.existsSync(file)) return;
	let text = fs.readFileSync(file, 'utf8');
	if (text.includes('radflow patch')) return;
	if (!edits.every((e) => text.includes(e.find))) {
		console.warn(`patch-dependencies: ${label} differs from the version the fix was written for; not patched`);
		return;
	}
	for (const e of edits) text = text.replace(e.find, e.replace);
	fs.writeFileSync(file, text);
}

function patchPostgres() {
	const dir = path.join(root, 'node_modules', 'postgres');
	if (!fs.existsSync(path.join(dir, 'package.json'))) return;
	const { version } = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
	for (const flavour of ['src', 'cjs/src', 'cf/src']) {
		const hint = `postgres ${version} ${flavour} (written for 3.4.9; check whether upstream fixed porsager/postgres#1154 and #1208)`;
		patchFile(path.join(dir, flavour, 'connection.js'), POSTGRES_EDITS, `${hint} connection.js`);
		patchFile(path.join(dir, flavour, 'index.js'), POSTGRES_INDEX_EDITS, `${hint} index.js`);
	}
}

patchPostgres();
