import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DicomServer, DimseStatus, type InstanceSink, type ReceivedInstance } from './server';
import { FileBlobStore } from './storage';
import { makeInstance, fixtureUid, SOP_CLASS_BY_MODALITY } from './fixtures';
import { datasetOffset } from './part10';
import { parseAllowedPeers } from './policy';
import { RawScu, associateRq, cStoreCommand, pData, statusOf } from './raw-scu';

type Run = { code: number; out: string };
function dcmtk(cmd: string, args: string[]): Promise<Run> {
	return new Promise((resolve) =>
		execFile(cmd, args, { env: { ...process.env, TCP_NODELAY: '1' }, timeout: 30_000 }, (e, stdout, stderr) =>
			resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` })
		)
	);
}

class RecordingSink implements InstanceSink {
	received: ReceivedInstance[] = [];
	failNext = 0;
	async store(obj: ReceivedInstance) {
		if (this.failNext > 0) {
			this.failNext--;
			throw new Error('database unavailable');
		}
		this.received.push(obj);
	}
}

let dir: string;
let store: FileBlobStore;
let sink: RecordingSink;
let server: DicomServer;
let port: number;
const MAX_OBJECT = 256 * 1024;

const study = fixtureUid('study-1');
const series = fixtureUid('series-1');
function fixture(n: number, extra: Partial<Parameters<typeof makeInstance>[0]> = {}) {
	return makeInstance({
		studyUid: study,
		seriesUid: series,
		sopUid: fixtureUid(`sop-${n}`),
		modality: 'CT',
		description: 'CT HEAD WO',
		patientId: 'MRN-1',
		accession: 'ACC-1',
		rows: 32,
		cols: 32,
		...extra
	});
}
async function fixtureFile(name: string, bytes: Buffer) {
	const p = join(dir, 'in', name);
	await writeFile(p, bytes);
	return p;
}
const scu = (...files: string[]) => ['-aet', 'MODALITY1', '-aec', 'RADFLOW', '127.0.0.1', String(port), ...files];

beforeAll(async () => {
	dir = await mkdtemp(join(tmpdir(), 'radflow-dicom-'));
	await import('node:fs/promises').then((fs) => fs.mkdir(join(dir, 'in')));
	store = new FileBlobStore(join(dir, 'blobs'));
	sink = new RecordingSink();
	server = new DicomServer(
		{
			port: 0,
			host: '127.0.0.1',
			aeTitle: 'RADFLOW',
			allowedPeers: parseAllowedPeers('MODALITY1@127.0.0.1 RAWSCU'),
			maxPduLength: 65_536,
			maxObjectBytes: MAX_OBJECT,
			idleTimeoutMs: 10_000
		},
		{ blobStore: store, sink, log: () => {} }
	);
	({ port } = await server.start());
});

afterAll(async () => {
	await server?.stop();
	await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
	sink.received = [];
	sink.failNext = 0;
});

describe('DICOM SCP with dcmtk', () => {
	it('answers C-ECHO', async () => {
		const r = await dcmtk('echoscu', scu());
		expect(r.code, r.out).toBe(0);
	});

	it('stores several files byte-equal in the dataset, then hands them to the sink', async () => {
		const files = [fixture(1), fixture(2), fixture(3, { implicit: true })];
		const paths = await Promise.all(files.map((f, i) => fixtureFile(`s${i}.dcm`, f)));
		// -xi keeps the implicit file implicit; explicit files are proposed as explicit first.
		const r = await dcmtk('storescu', scu(...paths.slice(0, 2)));
		expect(r.code, r.out).toBe(0);
		const ri = await dcmtk('storescu', ['-xi', ...scu(paths[2])]);
		expect(ri.code, ri.out).toBe(0);

		expect(sink.received.map((x) => x.attributes.sopInstanceUid)).toEqual([1, 2, 3].map((n) => fixtureUid(`sop-${n}`)));
		for (const [i, got] of sink.received.entries()) {
			const stored = await readFile(got.blobPath);
			const original = files[i];
			expect(stored.subarray(datasetOffset(stored)!)).toEqual(original.subarray(datasetOffset(original)!));
			expect(got.size).toBe(stored.length);
			expect(got.blobPath).toContain(join(study, series));
			expect(got.attributes).toMatchObject({ studyInstanceUid: study, modality: 'CT', accessionNumber: 'ACC-1', studyDescription: 'CT HEAD WO' });
			expect(got.callingAe).toBe('MODALITY1');
			expect(got.remoteAddress).toBe('127.0.0.1');
		}
		expect(sink.received[2].transferSyntaxUid).toBe('1.2.840.10008.1.2');
		expect(sink.received[0].transferSyntaxUid).toBe('1.2.840.10008.1.2.1');
		// The stored file is a valid Part 10 file dcmtk can read.
		const dump = await dcmtk('dcmdump', ['+P', '0002,0016', sink.received[0].blobPath]);
		expect(dump.out).toContain('MODALITY1');
	});

	it('rejects an unknown calling AE (reason 3) and a wrong called AE (reason 7)', async () => {
		const rejected: string[] = [];
		server.on('associationRejected', (e) => rejected.push(e.reason));
		const unknown = await dcmtk('echoscu', ['-aet', 'STRANGER', '-aec', 'RADFLOW', '127.0.0.1', String(port)]);
		expect(unknown.code).not.toBe(0);
		expect(unknown.out).toMatch(/Calling AE Title Not Recognized/i);
		const wrongCalled = await dcmtk('echoscu', ['-aet', 'MODALITY1', '-aec', 'OTHERPACS', '127.0.0.1', String(port)]);
		expect(wrongCalled.out).toMatch(/Called AE Title Not Recognized/i);
		expect(rejected).toEqual(['calling_ae_not_recognized', 'called_ae_not_recognized']);
	});

	it('stores the same SOP Instance UID twice idempotently', async () => {
		const p = await fixtureFile('dup.dcm', fixture(10));
		expect((await dcmtk('storescu', scu(p))).code).toBe(0);
		expect((await dcmtk('storescu', scu(p))).code).toBe(0);
		expect(sink.received.map((x) => x.replaced)).toEqual([false, true]);
		expect(sink.received[0].blobPath).toBe(sink.received[1].blobPath);
		const files = await readdir(join(dir, 'blobs', study, series));
		expect(files.filter((f) => f.startsWith(fixtureUid('sop-10')))).toHaveLength(1);
		expect(await readdir(join(dir, 'blobs', '.tmp'))).toEqual([]);
	});

	it('answers a failure status when the sink throws, and serves the next association', async () => {
		const rejected: number[] = [];
		server.on('rejected', (e) => rejected.push(e.status));
		sink.failNext = 1;
		const p = await fixtureFile('sinkfail.dcm', fixture(20));
		const r = await dcmtk('storescu', ['-v', ...scu(p)]);
		expect(r.out).toMatch(/Received Store Response \(.*(A700|OutOfResources)/i);
		expect(rejected).toContain(DimseStatus.outOfResources);
		expect(server.stats().failedObjects.sink_failed).toBeGreaterThanOrEqual(1);
		const again = await dcmtk('storescu', scu(p));
		expect(again.code, again.out).toBe(0);
		expect(sink.received).toHaveLength(1);
	});

	it('refuses an object over the size cap with 0xA700 and keeps nothing', async () => {
		const big = fixture(30, { rows: 512, cols: 512 });
		expect(big.length).toBeGreaterThan(MAX_OBJECT);
		const p = await fixtureFile('big.dcm', big);
		const r = await dcmtk('storescu', ['-v', ...scu(p)]);
		expect(r.out).toMatch(/Received Store Response \(.*(A700|OutOfResources)/i);
		expect(sink.received).toHaveLength(0);
		expect(await store.exists({ studyUid: study, seriesUid: series, sopUid: fixtureUid('sop-30') })).toBe(false);
		expect((await dcmtk('echoscu', scu())).code).toBe(0);
	});
});

describe('DICOM SCP with malformed input (raw PDUs)', () => {
	const CT = SOP_CLASS_BY_MODALITY.CT;
	const EXPLICIT = '1.2.840.10008.1.2.1';

	async function associate(): Promise<RawScu> {
		const c = await RawScu.connect(port);
		c.send(associateRq('RAWSCU', 'RADFLOW', CT, EXPLICIT));
		const ac = await c.nextPdu();
		expect(ac?.type).toBe(2);
		return c;
	}

	it('answers 0xC000 for a garbage dataset, and the association carries on', async () => {
		const c = await associate();
		const sop = fixtureUid('garbage');
		c.send(pData(1, cStoreCommand(CT, sop, 1), true, true));
		c.send(pData(1, Buffer.from([0x08, 0x00, 0x16]), false, true));
		const rsp = await c.nextPdu();
		expect(rsp?.type).toBe(4);
		expect(statusOf(rsp!.body)).toBe(DimseStatus.cannotUnderstand);

		// Same association: a real object right after is stored.
		const good = fixture(40);
		const ds = good.subarray(datasetOffset(good)!);
		c.send(pData(1, cStoreCommand(CT, fixtureUid('sop-40'), 2), true, true));
		c.send(pData(1, ds, false, true));
		const ok = await c.nextPdu();
		expect(statusOf(ok!.body)).toBe(DimseStatus.success);
		c.close();
	});

	it('answers 0xA900 when the dataset is not the instance the command announced', async () => {
		const c = await associate();
		const good = fixture(50);
		c.send(pData(1, cStoreCommand(CT, fixtureUid('something-else'), 1), true, true));
		c.send(pData(1, good.subarray(datasetOffset(good)!), false, true));
		const rsp = await c.nextPdu();
		expect(statusOf(rsp!.body)).toBe(DimseStatus.datasetMismatch);
		c.close();
	});

	it('answers 0xC000 for a truncated dataset that lost its identifying UIDs', async () => {
		const c = await associate();
		const good = fixture(60);
		const ds = good.subarray(datasetOffset(good)!);
		c.send(pData(1, cStoreCommand(CT, fixtureUid('sop-60'), 1), true, true));
		c.send(pData(1, ds.subarray(0, 60), false, true));
		const rsp = await c.nextPdu();
		expect(statusOf(rsp!.body)).toBe(DimseStatus.cannotUnderstand);
		c.close();
	});

	it('aborts a connection that sends an unknown PDU type or an oversized PDU, and stays healthy', async () => {
		const junk = await RawScu.connect(port);
		junk.send(Buffer.from([0x09, 0, 0, 0, 0, 2, 1, 2]));
		const p1 = await junk.nextPdu();
		expect(p1 === null || p1.type === 7).toBe(true);

		const huge = await associate();
		const h = Buffer.alloc(6);
		h[0] = 4;
		h.writeUInt32BE(512 * 1024 * 1024, 2);
		huge.send(h);
		const p2 = await huge.nextPdu();
		expect(p2?.type).toBe(7);

		expect(server.stats().connectionErrors).toBeGreaterThanOrEqual(2);
		expect((await dcmtk('echoscu', scu())).code).toBe(0);
	});
});
