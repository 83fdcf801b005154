import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBlobStore } from '../../../../workers/dicom/storage';
import { makeInstance, fixtureUid } from '../../../../workers/dicom/fixtures';
import { DbInstanceSink, IngestSource, parseStabilitySeconds } from './dicom-sink';
import { createStowHook, parseMultipart } from './stow';
import { ingestTestEnv, type IngestTestEnv } from './test-kit';

const TOKEN = 'stow-test-token';
let env: IngestTestEnv;
let dir: string;
let server: http.Server;
let base: string;
const MAX_REQUEST = 2 * 1024 * 1024;

function hookServer(token: string | null) {
	const hook = createStowHook({
		blobStore: new FileBlobStore(join(dir, 'blobs')),
		sink: new DbInstanceSink({
			sql: env.tdb.db.sql,
			jobs: env.jobs,
			normalizer: env.normalizer,
			log: env.log,
			source: IngestSource.dicomweb,
			stability: parseStabilitySeconds('60')
		}),
		sql: env.tdb.db.sql,
		log: env.log,
		token,
		maxRequestBytes: MAX_REQUEST,
		maxObjectBytes: 1024 * 1024
	});
	return http.createServer(async (req, res) => {
		if (!(await hook(req, res))) {
			res.writeHead(404);
			res.end();
		}
	});
}

beforeAll(async () => {
	env = await ingestTestEnv('stow');
	dir = await mkdtemp(join(tmpdir(), 'radflow-stow-'));
	server = hookServer(TOKEN);
	await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
	base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
	await new Promise<void>((r) => server?.close(() => r()));
	await env?.close();
	await rm(dir, { recursive: true, force: true });
});

const instance = (study: string, n: number, rows = 16) =>
	makeInstance({
		studyUid: fixtureUid(study),
		seriesUid: fixtureUid(`${study}-s`),
		sopUid: fixtureUid(`${study}-${n}`),
		modality: 'CT',
		description: 'CT CHEST WO',
		patientId: 'MRN-STOW',
		accession: `ACC-${study}`,
		rows,
		cols: rows
	});

function multipart(parts: Buffer[], boundary = 'radflow-boundary-7f3a'): { body: Buffer; type: string } {
	const chunks: Buffer[] = [Buffer.from('preamble is ignored\r\n')];
	for (const p of parts) chunks.push(Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`), p, Buffer.from('\r\n'));
	chunks.push(Buffer.from(`--${boundary}--\r\n`));
	return { body: Buffer.concat(chunks), type: `multipart/related; type="application/dicom"; boundary=${boundary}` };
}

async function post(path: string, body: Buffer, type: string, token: string | null = TOKEN) {
	const res = await fetch(`${base}${path}`, {
		method: 'POST',
		headers: { 'content-type': type, ...(token ? { authorization: `Bearer ${token}` } : {}) },
		body: new Uint8Array(body)
	});
	const text = await res.text();
	return { status: res.status, type: res.headers.get('content-type'), json: text ? JSON.parse(text) : null };
}

describe('STOW-RS', () => {
	it('stores a two-part request: 200, ReferencedSOPSequence with retrieve URLs, rows and blobs', async () => {
		const { body, type } = multipart([instance('g', 1), instance('g', 2)]);
		const r = await post('/dicomweb/studies', body, type);
		expect(r.status).toBe(200);
		expect(r.type).toBe('application/dicom+json');
		const refs = r.json['00081199'].Value;
		expect(refs.map((x: Record<string, { Value: string[] }>) => x['00081155'].Value[0])).toEqual([fixtureUid('g-1'), fixtureUid('g-2')]);
		expect(r.json['00081190'].Value[0]).toBe(`${base}/dicomweb/studies/${fixtureUid('g')}`);
		expect(r.json['00081198']).toBeUndefined();
		const [s] = await env.tdb.db.sql`SELECT id, instance_count, accession_number, exam_code FROM studies WHERE study_instance_uid = ${fixtureUid('g')}`;
		expect(s).toMatchObject({ instance_count: 2, accession_number: 'ACC-g', exam_code: 'CT-CHEST-WO' });
		const inst = await env.tdb.db.sql`SELECT blob_path FROM instances WHERE study_id = ${s.id}`;
		expect(inst.every((i) => existsSync(i.blob_path))).toBe(true);
		expect(await readdir(join(dir, 'blobs', '.tmp'))).toEqual([]);
	});

	it('answers 202 with FailedSOPSequence when one part is not DICOM, and stores the good one', async () => {
		const { body, type } = multipart([instance('h', 1), Buffer.from('this is not a DICOM file at all, just text')]);
		const r = await post(`/dicomweb/studies/${fixtureUid('h')}`, body, type);
		expect(r.status).toBe(202);
		expect(r.json['00081199'].Value).toHaveLength(1);
		const failed = r.json['00081198'].Value;
		expect(failed).toHaveLength(1);
		expect(failed[0]['00081197'].Value[0]).toBe(0xc000);
		const [f] = await env.tdb.db.sql`SELECT source, reason FROM ingest_failures WHERE source = 'dicomweb' ORDER BY id DESC LIMIT 1`;
		expect(f.reason).toMatch(/Part 10/);
	});

	it('refuses an instance of another study than the URL names (0xA900)', async () => {
		const { body, type } = multipart([instance('i', 1)]);
		const r = await post(`/dicomweb/studies/${fixtureUid('not-i')}`, body, type);
		expect(r.status).toBe(409);
		expect(r.json['00081198'].Value[0]['00081197'].Value[0]).toBe(0xa900);
	});

	it('requires the bearer token (401), and is disabled without DICOMWEB_TOKEN (503)', async () => {
		const { body, type } = multipart([instance('j', 1)]);
		expect((await post('/dicomweb/studies', body, type, null)).status).toBe(401);
		expect((await post('/dicomweb/studies', body, type, 'wrong-token')).status).toBe(401);
		const off = hookServer(null);
		await new Promise<void>((r) => off.listen(0, '127.0.0.1', () => r()));
		const res = await fetch(`http://127.0.0.1:${(off.address() as { port: number }).port}/dicomweb/studies`, { method: 'POST', headers: { 'content-type': type }, body: new Uint8Array(body) });
		await new Promise<void>((r) => off.close(() => r()));
		expect(res.status).toBe(503);
		expect((await res.json()).error).toMatch(/DICOMWEB_TOKEN/);
		expect(await env.tdb.db.sql`SELECT 1 FROM studies WHERE study_instance_uid = ${fixtureUid('j')}`).toHaveLength(0);
	});

	it('answers 415 for a wrong media type, 400 for a broken multipart body, 413 over the request cap', async () => {
		const { body, type } = multipart([instance('k', 1)]);
		expect((await post('/dicomweb/studies', body, 'application/json')).status).toBe(415);
		expect((await post('/dicomweb/studies', body, 'multipart/related; type="application/dicom+xml"; boundary=x')).status).toBe(415);
		expect((await post('/dicomweb/studies', body.subarray(0, body.length - 30), type)).status).toBe(400);
		const big = multipart([instance('k', 2, 1100)]);
		expect(big.body.length).toBeGreaterThan(MAX_REQUEST);
		expect((await post('/dicomweb/studies', big.body, big.type)).status).toBe(413);
	});

	it('reports a sink failure as a failed instance (409) with an ingest_failures row', async () => {
		const { body, type } = multipart([instance('l', 1)]);
		await env.tdb.db.sql`ALTER TABLE instances RENAME TO instances_away`;
		let r;
		try {
			r = await post('/dicomweb/studies', body, type);
		} finally {
			await env.tdb.db.sql`ALTER TABLE instances_away RENAME TO instances`;
		}
		expect(r.status).toBe(409);
		expect(r.json['00081198'].Value[0]['00081197'].Value[0]).toBe(0xa700);
		const [f] = await env.tdb.db.sql`SELECT source, peer, details FROM ingest_failures WHERE details->>'sopInstanceUid' = ${fixtureUid('l-1')}`;
		expect(f).toMatchObject({ source: 'dicomweb', peer: '127.0.0.1' });
	});
});

describe('parseMultipart', () => {
	it('yields the same parts whatever the chunking (byte by byte)', async () => {
		const a = Buffer.from('first\r\n--almost-a-boundary\r\npart');
		const b = Buffer.alloc(3000, 7);
		const { body } = multipart([a, b], 'bnd');
		const collect = async (chunks: Buffer[]) => {
			const parts: Buffer[][] = [];
			async function* src() {
				for (const c of chunks) yield c;
			}
			await parseMultipart(src(), 'bnd', { start: () => void parts.push([]), data: (c) => void parts.at(-1)!.push(Buffer.from(c)), end: () => {} });
			return parts.map((p) => Buffer.concat(p));
		};
		const whole = await collect([body]);
		const bytes = await collect([...body].map((x) => Buffer.from([x])));
		expect(whole).toEqual([a, b]);
		expect(bytes).toEqual([a, b]);
	});
});
