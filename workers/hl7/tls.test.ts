/**
 * MLLP listener security with real certificates made by openssl in the test:
 * a CA, a server certificate, a client certificate it signed, and a client
 * certificate from a CA the listener does not trust. Also the peer allow-list
 * and the connection caps, over real sockets.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/lib/server/config';
import { encodeMllp, MllpDecoder } from './framing';
import type { Hl7Handler } from './handlers';
import { silentLogger, type Hl7Logger } from './log';
import { resolvePeerAllowList } from './peers';
import { SAMPLE } from './samples';
import { hl7SecurityFromEnv, startHl7Server, type Hl7Server, type Hl7ServerOptions } from './server';
import { field, MllpTestClient } from './testing';

let dir: string;
const pem = (name: string) => path.join(dir, name);
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

/** A CA, and a certificate it signs for `cn` (server certificates get a SAN for 127.0.0.1). */
function makeCa(name: string) {
	openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.crt`);
}
function makeCert(name: string, ca: string, server: boolean) {
	openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
	const ext = server ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' : 'extendedKeyUsage=clientAuth\n';
	fs.writeFileSync(pem(`${name}.ext`), ext);
	openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
}

beforeAll(() => {
	dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radflow-hl7-tls-'));
	makeCa('hospital-ca');
	makeCert('radflow', 'hospital-ca', true);
	makeCert('ris', 'hospital-ca', false);
	makeCa('rogue-ca');
	makeCert('intruder', 'rogue-ca', false);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let servers: Hl7Server[] = [];
afterEach(async () => {
	await Promise.all(servers.map((s) => s.close()));
	servers = [];
});

const accept: Hl7Handler = async () => {};
async function start(options: Partial<Hl7ServerOptions>, logger: Hl7Logger = silentLogger) {
	const server = await startHl7Server({ port: 0, host: '127.0.0.1', handler: accept, ...options }, logger);
	servers.push(server);
	return server;
}

/** Send one message over TLS; resolves with the ACK, or null when the listener closed the connection instead. */
function sendOverTls(port: number, client: { cert?: string; key?: string }): Promise<string | null> {
	return new Promise((resolve) => {
		const decoder = new MllpDecoder({ maxFrameBytes: 1 << 20 });
		const socket = tls.connect({
			port,
			host: '127.0.0.1',
			ca: fs.readFileSync(pem('hospital-ca.crt')),
			cert: client.cert ? fs.readFileSync(pem(client.cert)) : undefined,
			key: client.key ? fs.readFileSync(pem(client.key)) : undefined
		});
		socket.setNoDelay(true);
		socket.on('secureConnect', () => socket.write(encodeMllp(Buffer.from(SAMPLE.ormNew))));
		socket.on('data', (chunk: Buffer) => {
			for (const ev of decoder.push(chunk)) {
				if (ev.type === 'frame') {
					resolve(ev.payload.toString('utf8'));
					socket.end();
				}
			}
		});
		socket.on('error', () => resolve(null));
		socket.on('close', () => resolve(null));
	});
}

const tlsEnv = (extra: Record<string, string> = {}) => ({
	HL7_TLS_CERT: pem('radflow.crt'),
	HL7_TLS_KEY: pem('radflow.key'),
	HL7_TLS_CA: pem('hospital-ca.crt'),
	HL7_ALLOWED_PEERS: '127.0.0.1',
	...extra
});

describe('MLLP over TLS with real certificates', () => {
	it('acknowledges a message from a client whose certificate the hospital CA signed', async () => {
		const server = await start(hl7SecurityFromEnv(tlsEnv({ HL7_TLS_REQUIRE_CLIENT_CERT: '1' })));
		expect(server.tls).toBe(true);
		const ack = await sendOverTls(server.port, { cert: 'ris.crt', key: 'ris.key' });
		expect(ack && field(ack, 'MSA', 1)).toBe('AA');
	});

	it('refuses a client certificate from an untrusted CA, and a client without one, in the handshake', async () => {
		const server = await start(hl7SecurityFromEnv(tlsEnv({ HL7_TLS_REQUIRE_CLIENT_CERT: '1' })));
		expect(await sendOverTls(server.port, { cert: 'intruder.crt', key: 'intruder.key' })).toBeNull();
		expect(await sendOverTls(server.port, {})).toBeNull();
		expect(server.refused.tlsHandshake).toBe(2);
	});

	it('without the client-certificate requirement, encrypts for any client; plain MLLP gets no answer', async () => {
		const server = await start(hl7SecurityFromEnv(tlsEnv()));
		const ack = await sendOverTls(server.port, {});
		expect(ack && field(ack, 'MSA', 1)).toBe('AA');
		const plain = await MllpTestClient.connect(server.port);
		plain.send(SAMPLE.ormNew);
		expect(await plain.receive(1)).toEqual([]);
		plain.close();
	});

	it('stops at start with one line naming the variable to fix', () => {
		expect(() => hl7SecurityFromEnv({ HL7_TLS_CERT: pem('radflow.crt') })).toThrow(ConfigError);
		expect(() => hl7SecurityFromEnv({ HL7_TLS_CERT: pem('radflow.crt') })).toThrow(/HL7_TLS_KEY and HL7_TLS_CERT must be set together/);
		expect(() => hl7SecurityFromEnv({ HL7_TLS_CERT: pem('radflow.crt'), HL7_TLS_KEY: pem('radflow.key'), HL7_TLS_REQUIRE_CLIENT_CERT: '1' })).toThrow(/needs HL7_TLS_CA/);
		expect(() => hl7SecurityFromEnv({ HL7_TLS_CERT: pem('missing.crt'), HL7_TLS_KEY: pem('radflow.key') })).toThrow(/cannot read/);
		expect(() => hl7SecurityFromEnv({ HL7_MAX_CONNECTIONS: '0' })).toThrow(/HL7_MAX_CONNECTIONS=0/);
	});
});

describe('MLLP peer allow-list', () => {
	it('defaults to this machine only when HL7_ALLOWED_PEERS is unset', () => {
		expect(hl7SecurityFromEnv({}).allowedPeers).toBe('127.0.0.1,::1');
		expect(hl7SecurityFromEnv({}).tls).toBeUndefined();
	});

	it('matches addresses, CIDR blocks (v4 and v6), IPv4-mapped addresses and host names', async () => {
		const list = await resolvePeerAllowList('10.1.0.0/16, 192.168.5.7 fd00::/8,ris.example', async () => ['172.16.0.9']);
		expect(list.allows('10.1.200.3')).toBe(true);
		expect(list.allows('::ffff:10.1.0.1')).toBe(true);
		expect(list.allows('10.2.0.1')).toBe(false);
		expect(list.allows('192.168.5.7')).toBe(true);
		expect(list.allows('192.168.5.8')).toBe(false);
		expect(list.allows('fd12::1')).toBe(true);
		expect(list.allows('fe80::1')).toBe(false);
		expect(list.allows('172.16.0.9')).toBe(true);
		expect(list.allows(undefined)).toBe(false);
		expect((await resolvePeerAllowList('*')).allows('203.0.113.5')).toBe(true);
		expect((await resolvePeerAllowList('')).allows('127.0.0.1')).toBe(false);
		await expect(resolvePeerAllowList('10.0.0.0/40')).rejects.toThrow(/not a CIDR block/);
		await expect(resolvePeerAllowList('no-such-host.invalid', async () => Promise.reject(new Error('ENOTFOUND')))).rejects.toThrow(/cannot resolve host "no-such-host.invalid"/);
	});

	it('closes a connection from an address not on the list before reading anything, and logs it without PHI', async () => {
		const lines: string[] = [];
		const logger: Hl7Logger = {
			debug() {},
			info() {},
			warn: (event, fields) => lines.push(JSON.stringify({ event, ...fields })),
			error: (event, fields) => lines.push(JSON.stringify({ event, ...fields }))
		};
		let handled = 0;
		const server = await start({ allowedPeers: '10.0.0.0/8', handler: async () => void handled++ }, logger);
		const c = await MllpTestClient.connect(server.port);
		c.send(SAMPLE.ormNew);
		expect(await c.receive(1)).toEqual([]);
		expect(handled).toBe(0);
		expect(server.refused.notAllowed).toBe(1);
		expect(lines.some((l) => l.includes('hl7.peer_refused') && l.includes('notAllowed'))).toBe(true);
		const allowed = await start({ allowedPeers: '127.0.0.0/8' });
		const ok = await MllpTestClient.connect(allowed.port);
		expect(field(await ok.request(SAMPLE.ormNew), 'MSA', 1)).toBe('AA');
		ok.close();
	});
});

describe('MLLP connection caps', () => {
	it('refuses connections past the per-peer cap while the admitted ones keep working', async () => {
		const server = await start({ maxConnectionsPerPeer: 2 });
		const a = await MllpTestClient.connect(server.port);
		const b = await MllpTestClient.connect(server.port);
		expect(field(await a.request(SAMPLE.ormNew), 'MSA', 1)).toBe('AA');
		const c = await MllpTestClient.connect(server.port);
		await c.waitClosed();
		expect(server.refused.overCapacity).toBe(1);
		expect(field(await b.request(SAMPLE.ormNew), 'MSA', 1)).toBe('AA');
		a.close();
		await a.waitClosed();
		// A slot freed by a closed connection is available again (once the server has seen the close).
		let d = await MllpTestClient.connect(server.port);
		for (let i = 0; i < 40 && (await d.request(SAMPLE.ormNew).catch(() => '')) === undefined; i++) {
			await new Promise((r) => setTimeout(r, 25));
			d = await MllpTestClient.connect(server.port);
		}
		expect(field((await d.request(SAMPLE.ormNew)) ?? '', 'MSA', 1)).toBe('AA');
		for (const x of [b, c, d]) x.close();
	});

	it('refuses connections past the total cap', async () => {
		const server = await start({ maxConnections: 1 });
		const a = await MllpTestClient.connect(server.port);
		const b = await MllpTestClient.connect(server.port);
		await b.waitClosed();
		expect(server.refused.overCapacity).toBe(1);
		expect(field(await a.request(SAMPLE.ormNew), 'MSA', 1)).toBe('AA');
		a.close();
	});
});
