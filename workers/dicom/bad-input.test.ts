/**
 * Bad input at the DICOM edge: each case gets a DICOM failure status or a clean
 * abort, an event that says why, and leaves the server storing for everyone
 * else (checked with a real storescu right after). Complements server.test.ts
 * (garbage/truncated datasets, SOP mismatch, oversized PDUs, size cap, sink failure).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DicomServer, type InstanceSink, type ReceivedInstance } from './server';
import { FileBlobStore } from './storage';
import { makeInstance, fixtureUid, SOP_CLASS_BY_MODALITY } from './fixtures';
import { datasetOffset } from './part10';
import { parseAllowedPeers } from './policy';
import { RawScu, associateRq, cStoreCommand, pData } from './raw-scu';
import type { DicomServerEventMap } from './events';

import { ingestTestEnv, runTool as tool, type IngestTestEnv } from '../../src/lib/server/ingest/test-kit';
import { createStowHook } from '../../src/lib/server/ingest/stow';
import { DbInstanceSink, IngestSource } from '../../src/lib/server/ingest/dicom-sink';

class RecordingSink implements InstanceSink {
	received: ReceivedInstance[] = [];
	async store(obj: ReceivedInstance) {
		this.received.push(obj);
	}
}

const CT = SOP_CLASS_BY_MODALITY.CT;
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const EXPLICIT_BE = '1.2.840.10008.1.2.2';
const CAP = 1024 * 1024;
const IDLE_MS = 400;

let dir: string;
let seq = 0;
const fixture = (tag: string) =>
	makeInstance({
		studyUid: fixtureUid(`bad-${tag}-study`),
		seriesUid: fixtureUid(`bad-${tag}-series`),
		sopUid: fixtureUid(`bad-${tag}-sop`),
		modality: 'CT',
		description: 'CT HEAD WO',
		patientId: 'MRN-BAD',
		accession: `ACC-BAD-${tag}`,
		rows: 16,
		cols: 16
	});

type Seen<K extends keyof DicomServerEventMap> = DicomServerEventMap[K][0][];

/** Records the server events these tests look at. */
function record(server: DicomServer) {
	const seen = {
		rejected: [] as Seen<'rejected'>,
		connectionError: [] as Seen<'connectionError'>,
		contextRejected: [] as Seen<'contextRejected'>,
		associationClosed: [] as Seen<'associationClosed'>
	};
	server.on('rejected', (e) => seen.rejected.push(e));
	server.on('connectionError', (e) => seen.connectionError.push(e));
	server.on('contextRejected', (e) => seen.contextRejected.push(e));
	server.on('associationClosed', (e) => seen.associationClosed.push(e));
	return seen;
}

async function startServer(extra: Partial<ConstructorParameters<typeof DicomServer>[0]> = {}) {
	const sink = new RecordingSink();
	const blobs = join(dir, `blobs-${++seq}`);
	const server = new DicomServer(
		{
			port: 0,
			host: '127.0.0.1',
			aeTitle: 'RADFLOW',
			allowedPeers: parseAllowedPeers('MODALITY1 RAWSCU'),
			maxPduLength: 65_536,
			maxObjectBytes: CAP,
			idleTimeoutMs: IDLE_MS,
			...extra
		},
		{ blobStore: new FileBlobStore(blobs), sink, log: () => {} }
	);
	const events = record(server);
	const { port } = await server.start();
	return { server, sink, events, port, blobs };
}

/** A real storescu stores a fresh instance: the server is healthy for everyone else. */
async function storesFine(port: number, sink: RecordingSink, tag: string, tls: string[] = []): Promise<void> {
	const file = join(dir, `ok-${tag}.dcm`);
	await writeFile(file, fixture(`ok-${tag}`));
	const r = await tool('storescu', [...tls, '-aet', 'MODALITY1', '-aec', 'RADFLOW', '127.0.0.1', String(port), file]);
	expect(r.code, r.out).toBe(0);
	expect(sink.received.map((x) => x.attributes.sopInstanceUid)).toContain(fixtureUid(`bad-ok-${tag}-sop`));
}

/** Result byte of presentation context `id` in an A-ASSOCIATE-AC body. @see PS3.8 9.3.3.2 */
function contextResult(acBody: Buffer, id: number): number | null {
	let o = 68;
	while (o + 4 <= acBody.length) {
		const type = acBody[o];
		const len = acBody.readUInt16BE(o + 2);
		if (type === 0x21 && acBody[o + 4] === id) return acBody[o + 6];
		o += 4 + len;
	}
	return null;
}

const until = async (cond: () => boolean, what: string) => {
	for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 25));
	expect(cond(), what).toBe(true);
};

beforeAll(async () => {
	dir = await mkdtemp(join(tmpdir(), 'radflow-bad-input-'));
});
afterAll(async () => {
	await rm(dir, { recursive: true, force: true });
});

describe('DICOM edge: bad input', () => {
	let s: Awaited<ReturnType<typeof startServer>>;
	beforeAll(async () => {
		s = await startServer();
	});
	afterAll(() => s.server.stop());

	it('refuses Explicit VR Big Endian (retired, not in the conformance statement): context result 4, an event, then A-ABORT if used anyway', async () => {
		const c = await RawScu.connect(s.port);
		c.send(associateRq('RAWSCU', 'RADFLOW', CT, EXPLICIT_BE));
		const ac = await c.nextPdu();
		expect(ac?.type).toBe(2);
		expect(contextResult(ac!.body, 1)).toBe(4); // transfer-syntaxes-not-supported
		expect(s.events.contextRejected.at(-1)).toMatchObject({ callingAe: 'RAWSCU', transferSyntaxes: [EXPLICIT_BE], reason: 'transfer_syntaxes_not_supported' });
		// A sender that stores on the refused context anyway is aborted, not answered.
		c.send(pData(1, cStoreCommand(CT, fixtureUid('bad-be-sop'), 1), true, true));
		const next = await c.nextPdu();
		expect(next === null || next.type === 7).toBe(true);
		await until(() => c.closed, 'connection closed');
		expect(s.events.connectionError.at(-1)?.message).toMatch(/not accepted/);
		await storesFine(s.port, s.sink, 'be');
	});

	it('storescu offering big endian first gets a little endian context and stores', async () => {
		const file = join(dir, 'be-first.dcm');
		await writeFile(file, fixture('be-first'));
		const r = await tool('storescu', ['-xb', '-aet', 'MODALITY1', '-aec', 'RADFLOW', '127.0.0.1', String(s.port), file]);
		expect(r.code, r.out).toBe(0);
		expect(s.sink.received.at(-1)?.transferSyntaxUid).not.toBe(EXPLICIT_BE);
	});

	it('a dataset file without File Meta header (DIMSE import) is stored with a Part 10 header Radflow writes', async () => {
		const full = fixture('no-meta');
		const bare = join(dir, 'no-meta.dcm');
		await writeFile(bare, full.subarray(datasetOffset(full)!));
		const r = await tool('storescu', ['-aet', 'MODALITY1', '-aec', 'RADFLOW', '127.0.0.1', String(s.port), bare]);
		expect(r.code, r.out).toBe(0);
		const got = s.sink.received.at(-1)!;
		expect(got.attributes.sopInstanceUid).toBe(fixtureUid('bad-no-meta-sop'));
		const stored = await readFile(got.blobPath);
		expect(stored.toString('latin1', 128, 132)).toBe('DICM');
		expect(stored.subarray(datasetOffset(stored)!)).toEqual(full.subarray(datasetOffset(full)!));
	});

	it('a 1 GB object over the size cap is refused early while streaming: A-ABORT, too_large event, no file, memory flat', async () => {
		const c = await RawScu.connect(s.port);
		c.send(associateRq('RAWSCU', 'RADFLOW', CT, EXPLICIT_LE));
		expect((await c.nextPdu())?.type).toBe(2);
		const sop = fixtureUid('bad-huge-sop');
		const head = makeInstance({ ...{ studyUid: fixtureUid('bad-huge'), seriesUid: fixtureUid('bad-huge-s'), sopUid: sop }, modality: 'CT', description: 'CT', patientId: 'X', accession: 'A', rows: 2, cols: 2 });
		const ds = head.subarray(datasetOffset(head)!);
		const pixelAt = ds.indexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00]));
		const pixelHeader = Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x57, 0, 0, 0, 0, 0, 0]);
		pixelHeader.writeUInt32LE(1024 ** 3, 8);
		const rssBefore = process.memoryUsage().rss;
		c.send(pData(1, cStoreCommand(CT, sop, 1), true, true));
		c.send(pData(1, Buffer.concat([ds.subarray(0, pixelAt), pixelHeader]), false, false));
		// 1 GiB of pixel data in 60 000-byte PDVs (under the 64 KiB the SCP advertised), one reused buffer.
		const pdv = pData(1, Buffer.alloc(60_000), false, false);
		const block = Buffer.concat(Array.from({ length: 16 }, () => pdv));
		let sent = 0;
		while (sent < 1024 ** 3 && !c.closed) {
			if (!c.socket.write(block)) await new Promise((r) => c.socket.once('drain', r).once('close', r));
			sent += 16 * 60_000;
		}
		const answer = await c.nextPdu();
		expect(answer === null || answer.type === 7).toBe(true);
		expect(sent, 'the cap tripped long before 1 GB was sent').toBeLessThan(256 * 1024 * 1024);
		expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * 1024 * 1024);
		expect(s.events.rejected.at(-1)).toMatchObject({ reason: 'too_large', status: 0xa700 });
		await until(() => s.server.stats().associationsOpen === 0, 'association closed');
		expect(await readdir(join(s.blobs, '.tmp'))).toEqual([]);
		expect(s.sink.received.some((x) => x.attributes.sopInstanceUid === sop)).toBe(false);
		await storesFine(s.port, s.sink, 'huge');
	});

	it('a connection that never sends A-ASSOCIATE-RQ is closed by the ARTIM timer', async () => {
		const c = await RawScu.connect(s.port);
		await until(() => c.closed, 'closed by the server');
		expect(s.events.connectionError.at(-1)?.message).toMatch(/no A-ASSOCIATE-RQ within/);
	});

	it('a sender that stalls mid-object is aborted after the idle timeout; its partial file is dropped', async () => {
		const c = await RawScu.connect(s.port);
		c.send(associateRq('RAWSCU', 'RADFLOW', CT, EXPLICIT_LE));
		expect((await c.nextPdu())?.type).toBe(2);
		const good = fixture('stall');
		const ds = good.subarray(datasetOffset(good)!);
		c.send(pData(1, cStoreCommand(CT, fixtureUid('bad-stall-sop'), 1), true, true));
		c.send(pData(1, ds.subarray(0, 200), false, false)); // and nothing more
		const abort = await c.nextPdu(IDLE_MS * 20);
		expect(abort?.type === 7 || abort === null).toBe(true);
		await until(() => c.closed, 'closed by the server');
		expect(s.events.connectionError.at(-1)?.message).toMatch(/peer idle within/);
		await until(() => s.server.stats().associationsOpen === 0, 'association closed');
		expect(s.events.associationClosed.at(-1)).toMatchObject({ callingAe: 'RAWSCU', released: false, instances: 0 });
		expect(await readdir(join(s.blobs, '.tmp'))).toEqual([]);
		await storesFine(s.port, s.sink, 'stall');
	});
});

describe('DICOM edge: TLS with real certificates', () => {
	let certs: string;
	let s: Awaited<ReturnType<typeof startServer>>;
	const openssl = async (...args: string[]) => {
		const r = await tool('openssl', args);
		expect(r.code, r.out).toBe(0);
	};
	const at = (f: string) => join(certs, f);
	/** A key and a certificate for `cn`, signed by `ca`. */
	async function issue(name: string, cn: string, ca: string, ext: string) {
		await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', at(`${name}.key`), '-out', at(`${name}.csr`), '-subj', `/CN=${cn}`);
		await writeFile(at(`${name}.ext`), ext);
		await openssl('x509', '-req', '-in', at(`${name}.csr`), '-CA', at(`${ca}.crt`), '-CAkey', at(`${ca}.key`), '-CAcreateserial', '-out', at(`${name}.crt`), '-days', '2', '-extfile', at(`${name}.ext`));
	}

	beforeAll(async () => {
		certs = join(dir, 'certs');
		await mkdir(certs);
		for (const ca of ['ca', 'rogue-ca']) {
			await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', at(`${ca}.key`), '-out', at(`${ca}.crt`), '-days', '2', '-subj', `/CN=Radflow test ${ca}`);
		}
		await issue('server', 'localhost', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
		await issue('client', 'MODALITY1', 'ca', 'extendedKeyUsage=clientAuth\n');
		await issue('rogue', 'MODALITY1', 'rogue-ca', 'extendedKeyUsage=clientAuth\n');
		const read = (f: string) => readFile(join(certs, f));
		s = await startServer({
			idleTimeoutMs: 10_000,
			tls: { key: await read('server.key'), cert: await read('server.crt'), ca: await read('ca.crt'), requestCert: true }
		});
	}, 60_000);
	afterAll(() => s?.server.stop());

	const tlsArgs = (who: string) => ['+tls', join(certs, `${who}.key`), join(certs, `${who}.crt`), '+cf', join(certs, 'ca.crt')];

	it('echoscu and storescu with a client certificate from the configured CA associate over TLS', async () => {
		const opened: boolean[] = [];
		s.server.on('associationOpened', (a) => opened.push(a.tls));
		const echo = await tool('echoscu', [...tlsArgs('client'), '-aet', 'MODALITY1', '-aec', 'RADFLOW', '127.0.0.1', String(s.port)]);
		expect(echo.code, echo.out).toBe(0);
		await storesFine(s.port, s.sink, 'tls', tlsArgs('client'));
		expect(opened).toEqual([true, true]);
	});

	it('a client certificate from another CA is refused in the handshake, with an event; good clients carry on', async () => {
		const before = s.server.stats().connectionErrors;
		const r = await tool('echoscu', [...tlsArgs('rogue'), '-aet', 'MODALITY1', '-aec', 'RADFLOW', '127.0.0.1', String(s.port)]);
		expect(r.code).not.toBe(0);
		await until(() => s.server.stats().connectionErrors > before, 'TLS error counted');
		expect(s.events.connectionError.at(-1)?.message).toMatch(/^TLS: /);
		// Plain TCP to the TLS port is no association either.
		const plain = await tool('echoscu', ['-aet', 'MODALITY1', '-aec', 'RADFLOW', '127.0.0.1', String(s.port)]);
		expect(plain.code).not.toBe(0);
		await storesFine(s.port, s.sink, 'tls-after', tlsArgs('client'));
	});
});

describe('STOW-RS: a Part 10 file without its File Meta header', () => {
	const TOKEN = 'bad-input-token';
	let env: IngestTestEnv;
	let web: http.Server;
	let base: string;
	beforeAll(async () => {
		env = await ingestTestEnv('bad_input');
		const hook = createStowHook({
			blobStore: new FileBlobStore(join(dir, 'stow-blobs')),
			sink: new DbInstanceSink({ sql: env.tdb.db.sql, jobs: env.jobs, normalizer: env.normalizer, log: env.log, source: IngestSource.dicomweb }),
			sql: env.tdb.db.sql,
			log: env.log,
			token: TOKEN,
			maxRequestBytes: 8 * 1024 * 1024,
			maxObjectBytes: CAP
		});
		web = http.createServer((req, res) => void hook(req, res));
		await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
		base = `http://127.0.0.1:${(web.address() as { port: number }).port}`;
	});
	afterAll(async () => {
		await new Promise<void>((r) => web?.close(() => r()));
		await env?.close();
	});

	async function stow(parts: Buffer[]) {
		const boundary = 'bad-input-boundary';
		const body = Buffer.concat([
			...parts.flatMap((p) => [Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`), p, Buffer.from('\r\n')]),
			Buffer.from(`--${boundary}--\r\n`)
		]);
		const res = await fetch(`${base}/dicomweb/studies`, {
			method: 'POST',
			headers: { authorization: `Bearer ${TOKEN}`, 'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}` },
			body: new Uint8Array(body)
		});
		return { status: res.status, json: (await res.json()) as Record<string, { Value: Record<string, { Value: unknown[] }>[] }> };
	}

	it('answers 0xC000 for a bare dataset and for "DICM" without a meta group, records why, then stores a good file', async () => {
		const full = fixture('stow-no-meta');
		const bare = full.subarray(datasetOffset(full)!);
		const dicmOnly = Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), bare]);
		const r = await stow([bare, dicmOnly]);
		expect(r.status).toBe(409);
		const failed = r.json['00081198'].Value;
		expect(failed.map((f) => f['00081197'].Value[0])).toEqual([0xc000, 0xc000]);
		const rows = await env.tdb.db.sql<{ reason: string }[]>`SELECT reason FROM ingest_failures WHERE source = 'dicomweb' ORDER BY id`;
		expect(rows.map((x) => x.reason)).toEqual(['part is not a DICOM Part 10 file', 'part is not a DICOM Part 10 file']);
		const ok = await stow([full]);
		expect(ok.status).toBe(200);
		const [{ n }] = await env.tdb.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM instances WHERE sop_instance_uid = ${fixtureUid('bad-stow-no-meta-sop')}`;
		expect(n).toBe(1);
	});
});
