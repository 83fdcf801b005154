import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DicomServer } from '../../../../workers/dicom/server';
import { FileBlobStore } from '../../../../workers/dicom/storage';
import { parseAllowedPeers } from '../../../../workers/dicom/policy';
import { makeInstance, fixtureUid } from '../../../../workers/dicom/fixtures';
import { startHl7Server, type Hl7Server } from '../../../../workers/hl7/server';
import { silentLogger } from '../../../../workers/hl7/log';
import { SAMPLE, withControlId, withMshField } from '../../../../workers/hl7/samples';
import { MllpTestClient, field } from '../../../../workers/hl7/testing';
import { DbInstanceSink, parseStabilitySeconds } from './dicom-sink';
import { startCompletenessWorker } from './completeness';
import { createHl7DbHandler, recordNacks } from './hl7-handler';
import { ingestTestEnv, runTool, type IngestTestEnv } from './test-kit';

let env: IngestTestEnv;
let dir: string;
let dicom: DicomServer;
let hl7: Hl7Server;
let worker: { stop(): Promise<void> };
const stability = parseStabilitySeconds('1');

beforeAll(async () => {
	env = await ingestTestEnv('ingest');
	dir = await mkdtemp(join(tmpdir(), 'radflow-ingest-'));
	await mkdir(join(dir, 'in'));
	const sink = new DbInstanceSink({ sql: env.tdb.db.sql, jobs: env.jobs, normalizer: env.normalizer, log: env.log, stability });
	dicom = new DicomServer(
		{
			port: 0,
			host: '127.0.0.1',
			aeTitle: 'RADFLOW',
			allowedPeers: parseAllowedPeers('MODALITY1@127.0.0.1'),
			maxPduLength: 65_536,
			maxObjectBytes: 16 * 1024 * 1024,
			idleTimeoutMs: 10_000
		},
		{ blobStore: new FileBlobStore(join(dir, 'blobs')), sink, log: () => {} }
	);
	await dicom.start();
	const handler = createHl7DbHandler({ sql: env.tdb.db.sql, jobs: env.jobs, normalizer: env.normalizer, log: env.log });
	hl7 = await startHl7Server({ port: 0, host: '127.0.0.1', handler }, silentLogger);
	recordNacks(hl7.stats, env.tdb.db.sql, env.log);
	worker = await startCompletenessWorker(env.tdb.db.sql, env.jobs, env.log, { stability, pollingIntervalSeconds: 0.5 });
});

afterAll(async () => {
	await worker?.stop();
	await hl7?.close();
	await dicom?.stop();
	await env?.close();
	await rm(dir, { recursive: true, force: true });
});

interface Img {
	study: string;
	series?: string;
	n: number;
	accession?: string;
	description?: string;
	mrn?: string;
}
let fileSeq = 0;
async function images(spec: Img, count = 1): Promise<string[]> {
	const paths: string[] = [];
	for (let i = 0; i < count; i++) {
		const p = join(dir, 'in', `f${++fileSeq}.dcm`);
		await writeFile(
			p,
			makeInstance({
				studyUid: fixtureUid(spec.study),
				seriesUid: fixtureUid(spec.series ?? `${spec.study}-s1`),
				sopUid: fixtureUid(`${spec.study}-${spec.n + i}`),
				modality: 'CT',
				description: spec.description ?? 'CT HEAD WO',
				patientId: spec.mrn ?? 'MRN-9',
				accession: spec.accession ?? '',
				rows: 16,
				cols: 16
			})
		);
		paths.push(p);
	}
	return paths;
}
const storescu = (...files: string[]) =>
	runTool('storescu', ['-aet', 'MODALITY1', '-aec', 'RADFLOW', '127.0.0.1', String(dicom.port), ...files]);

/** An ORM^O01 NW for `accession` (no ZDS study UID unless given), sent by mllp_send. */
function orm(accession: string, controlId: string, studyUid?: string): string {
	let m = withControlId(SAMPLE.ormNew, controlId).replaceAll('ACC5001', accession);
	m = m.replace(/ZDS\|[^\r]*\r/, studyUid ? `ZDS|${studyUid}^EPIC^Application^DICOM\r` : '');
	return m;
}
async function mllpSend(message: string): Promise<string[]> {
	const file = join(dir, 'in', `m${++fileSeq}.hl7`);
	await writeFile(file, message.replace(/\r/g, '\n'));
	const r = await runTool('/usr/bin/mllp_send', ['--loose', '-f', file, '-p', String(hl7.port), '127.0.0.1'], 20_000);
	expect(r.code, r.out).toBe(0);
	return r.out.split('\x0b').filter((s) => s.includes('MSA|'));
}

const sql = () => env.tdb.db.sql;
async function studiesFor(uidSeed: string) {
	return sql()`SELECT * FROM studies WHERE study_instance_uid = ${fixtureUid(uidSeed)}`;
}
async function waitFor<T>(f: () => Promise<T | null | undefined | false>, ms = 20_000): Promise<T> {
	const until = Date.now() + ms;
	for (;;) {
		const v = await f();
		if (v) return v;
		if (Date.now() > until) throw new Error('timed out waiting');
		await new Promise((r) => setTimeout(r, 200));
	}
}

describe('DICOM ingest into the study model (storescu → SCP → database)', () => {
	it('files instances: study, series and instance rows, image_received events, blobs on disk, exam normalized', async () => {
		const r = await storescu(...(await images({ study: 'a', n: 1, accession: 'ACC-A', mrn: 'MRN-A' }, 2)));
		expect(r.code, r.out).toBe(0);
		const [s] = await studiesFor('a');
		expect(s).toMatchObject({ status: 'arriving', instance_count: 2, series_count: 1, accession_number: 'ACC-A', exam_code: 'CT-HEAD-WO', modality: 'CT' });
		const inst = await sql()`SELECT blob_path, calling_ae FROM instances WHERE study_id = ${s.id}`;
		expect(inst).toHaveLength(2);
		for (const i of inst) expect(existsSync(i.blob_path)).toBe(true);
		expect(inst[0].calling_ae).toBe('MODALITY1');
		const ev = await sql()`SELECT kind, idempotency_key FROM study_events WHERE study_id = ${s.id} AND kind = 'image_received'`;
		expect(ev.map((e) => e.idempotency_key).sort()).toEqual([`sop:${fixtureUid('a-1')}`, `sop:${fixtureUid('a-2')}`].sort());
		const [p] = await sql()`SELECT mrn FROM patients WHERE id = ${s.patient_id}`;
		expect(p.mrn).toBe('MRN-A');
	});

	it('stores the same file twice as one instance row and one event', async () => {
		const [f] = await images({ study: 'b', n: 1 });
		expect((await storescu(f)).code).toBe(0);
		expect((await storescu(f)).code).toBe(0);
		const [s] = await studiesFor('b');
		expect(s.instance_count).toBe(1);
		const [{ n }] = await sql()`SELECT count(*)::int AS n FROM instances WHERE study_id = ${s.id}`;
		const [{ e }] = await sql()`SELECT count(*)::int AS e FROM study_events WHERE study_id = ${s.id} AND kind = 'image_received'`;
		expect([n, e]).toEqual([1, 1]);
	});

	it('links images to an order that arrived first (mllp_send ORM, then storescu), with the order priority', async () => {
		const acks = await mllpSend(orm('ACC-ORDER-1', 'CTL-1'));
		expect(field(acks[0], 'MSA', 1)).toBe('AA');
		expect((await storescu(...(await images({ study: 'c', n: 1, accession: 'ACC-ORDER-1' }, 2)))).code).toBe(0);
		const rows = await sql()`SELECT s.*, o.id AS oid FROM studies s JOIN orders o ON o.accession_number = 'ACC-ORDER-1' WHERE s.accession_number = 'ACC-ORDER-1'`;
		expect(rows).toHaveLength(1);
		expect(rows[0]).toMatchObject({ study_instance_uid: fixtureUid('c'), priority: 'stat', patient_class: 'E', status: 'arriving', instance_count: 2 });
		expect(rows[0].order_id).toBe(rows[0].oid);
		const kinds = await sql()`SELECT kind FROM study_events WHERE study_id = ${rows[0].id} ORDER BY id`;
		expect(kinds.map((k) => k.kind)).toEqual(['order_placed', 'image_received', 'image_received']);
	});

	it('merges into one study when images came first without accession and the order created its own row', async () => {
		expect((await storescu(...(await images({ study: 'd', n: 1 }, 2)))).code).toBe(0);
		await mllpSend(orm('ACC-LATE', 'CTL-2'));
		expect(await sql()`SELECT id FROM studies WHERE accession_number = 'ACC-LATE' OR study_instance_uid = ${fixtureUid('d')}`).toHaveLength(2);
		// A later series carries the accession: the two rows become one.
		expect((await storescu(...(await images({ study: 'd', series: 'd-s2', n: 10, accession: 'ACC-LATE' })))).code).toBe(0);
		const rows = await sql()`SELECT * FROM studies WHERE accession_number = 'ACC-LATE' OR study_instance_uid = ${fixtureUid('d')}`;
		expect(rows).toHaveLength(1);
		expect(rows[0]).toMatchObject({ accession_number: 'ACC-LATE', priority: 'stat', instance_count: 3, series_count: 2 });
		expect(rows[0].order_id).not.toBeNull();
		const kinds = await sql()`SELECT kind FROM study_events WHERE study_id = ${rows[0].id}`;
		expect(kinds.filter((k) => k.kind === 'order_placed')).toHaveLength(1);
		expect(kinds.filter((k) => k.kind === 'image_received')).toHaveLength(3);
	});

	it('links an order that arrives after images carrying its accession to the same study', async () => {
		expect((await storescu(...(await images({ study: 'e', n: 1, accession: 'ACC-E' })))).code).toBe(0);
		await mllpSend(orm('ACC-E', 'CTL-3'));
		const rows = await sql()`SELECT * FROM studies WHERE accession_number = 'ACC-E'`;
		expect(rows).toHaveLength(1);
		expect(rows[0]).toMatchObject({ study_instance_uid: fixtureUid('e'), priority: 'stat', patient_class: 'E' });
		expect(rows[0].order_id).not.toBeNull();
	});

	it('completes a study after the stability timeout, sets its SLA deadline and enqueues triage; a report closes the clock', async () => {
		const [a] = await studiesFor('a');
		const done = await waitFor(async () => {
			const [s] = await sql()`SELECT * FROM studies WHERE id = ${a.id} AND status = 'complete'`;
			return s;
		});
		expect(done.sla_deadline).toBeInstanceOf(Date);
		// routine outpatient CT under the default policy: 1440 minutes after completion
		expect(done.sla_deadline.getTime() - done.complete_at.getTime()).toBe(1440 * 60_000);
		const [{ n }] = await sql()`SELECT count(*)::int AS n FROM study_events WHERE study_id = ${a.id} AND kind = 'complete'`;
		expect(n).toBe(1);
		const [{ t }] = await sql()`SELECT count(*)::int AS t FROM pgboss.job WHERE name = 'triage' AND (data->>'studyId')::bigint = ${a.id}`;
		expect(t).toBe(1);

		const oru = withControlId(SAMPLE.oruReport, 'ORU-A').replaceAll('ACC5001', 'ACC-A').replaceAll('MRN1234', 'MRN-A');
		const client = await MllpTestClient.connect(hl7.port);
		const ack = await client.request(oru);
		client.close();
		expect(field(ack, 'MSA', 1)).toBe('AA');
		const [r] = await sql()`SELECT status, reported_by, reported_at FROM studies WHERE id = ${a.id}`;
		expect(r).toMatchObject({ status: 'reported', reported_by: '8899' });
		const [ev] = await sql()`SELECT payload FROM study_events WHERE study_id = ${a.id} AND kind = 'reported'`;
		expect(typeof ev.payload.tat_minutes).toBe('number');
	});

	it('a late image re-opens a complete study and is recorded', async () => {
		const [b] = await studiesFor('b');
		await waitFor(async () => (await sql()`SELECT 1 FROM studies WHERE id = ${b.id} AND status = 'complete'`)[0]);
		expect((await storescu(...(await images({ study: 'b', n: 50 })))).code).toBe(0);
		const [s] = await sql()`SELECT status, instance_count FROM studies WHERE id = ${b.id}`;
		expect(s).toMatchObject({ status: 'arriving', instance_count: 2 });
		const [ev] = await sql()`SELECT payload FROM study_events WHERE study_id = ${b.id} AND kind = 'image_received' ORDER BY id DESC LIMIT 1`;
		expect(ev.payload.note).toMatch(/re-opened/);
	});

	it('answers a failure status when the database refuses, and records an ingest failure', async () => {
		await sql()`ALTER TABLE instances RENAME TO instances_away`;
		try {
			const r = await runTool('storescu', ['-v', '-aet', 'MODALITY1', '-aec', 'RADFLOW', '127.0.0.1', String(dicom.port), ...(await images({ study: 'f', n: 1 }))]);
			expect(r.out).toMatch(/Received Store Response \(.*(A700|OutOfResources)/i);
		} finally {
			await sql()`ALTER TABLE instances_away RENAME TO instances`;
		}
		const [f] = await sql()`SELECT source, peer, reason, details FROM ingest_failures ORDER BY id DESC LIMIT 1`;
		expect(f).toMatchObject({ source: 'dicom', peer: 'MODALITY1' });
		expect(f.reason).toMatch(/instances/);
		expect(f.details.sopInstanceUid).toBe(fixtureUid('f-1'));
		expect(await studiesFor('f')).toHaveLength(0);
	});
});

describe('HL7 ingest into the study model', () => {
	it('acknowledges a duplicate control id again (AA) and applies it once', async () => {
		const msg = orm('ACC-DUP', 'DUP-1');
		const client = await MllpTestClient.connect(hl7.port);
		const first = await client.request(msg);
		const second = await client.request(msg);
		client.close();
		expect([field(first, 'MSA', 1), field(second, 'MSA', 1)]).toEqual(['AA', 'AA']);
		const [{ n }] = await sql()`SELECT count(*)::int AS n FROM study_events e JOIN studies s ON s.id = e.study_id WHERE s.accession_number = 'ACC-DUP'`;
		expect(n).toBe(1);
		expect(await sql()`SELECT 1 FROM hl7_messages WHERE control_id = 'DUP-1'`).toHaveLength(1);
	});

	it('answers AE with ERR OBR^1^18 for an order without accession, and records the NACK', async () => {
		const msg = withControlId(SAMPLE.ormNew, 'NOACC-1').replace('ACC5001', '').replace(/ORC\|NW\|PL1001\|FL2002/, 'ORC|NW||').replace('|PL1001|FL2002|', '|||');
		const client = await MllpTestClient.connect(hl7.port);
		const ack = await client.request(msg);
		client.close();
		expect(field(ack, 'MSA', 1)).toBe('AE');
		expect(ack).toMatch(/ERR\|[^\r]*OBR\^1\^18/);
		const row = await waitFor(async () => (await sql()`SELECT ack_code, error, raw FROM hl7_messages WHERE control_id = 'NOACC-1'`)[0]);
		expect(row.ack_code).toBe('AE');
		expect(row.error).toMatch(/^101 /);
		expect(row.raw).toContain('ORM^O01');
	});

	it('enhanced mode: CA once stored, then AA when applied; a result the database refuses gets CA, then AR, and stays on file with the reason', async () => {
		const enhanced = (m: string) => withMshField(withMshField(m, 15, 'AL'), 16, 'AL');
		const client = await MllpTestClient.connect(hl7.port);
		client.send(enhanced(orm('ACC-ENH', 'ENH-1')));
		const [ca, aa] = await client.receive(2);
		expect([field(ca, 'MSA', 1), field(aa, 'MSA', 1)]).toEqual(['CA', 'AA']);
		expect(await sql()`SELECT 1 FROM studies WHERE accession_number = 'ACC-ENH'`).toHaveLength(1);

		await sql()`ALTER TABLE clinical_context ADD CONSTRAINT no_creatinine_enh CHECK (code <> '2160-0') NOT VALID`;
		try {
			client.send(enhanced(withControlId(SAMPLE.oruLab, 'ENH-2').replaceAll('MRN1234', 'MRN-ENH')));
			const [ca2, ar] = await client.receive(2);
			expect([field(ca2, 'MSA', 1), field(ar, 'MSA', 1)]).toEqual(['CA', 'AR']);
		} finally {
			await sql()`ALTER TABLE clinical_context DROP CONSTRAINT no_creatinine_enh`;
		}
		client.close();
		// Give the edge's NACK record a moment: it must not replace the handler's reason.
		await new Promise((r) => setTimeout(r, 300));
		const [row] = await sql()`SELECT ack_code, pending, error, raw FROM hl7_messages WHERE control_id = 'ENH-2'`;
		expect(row).toMatchObject({ ack_code: 'AR', pending: false, error: expect.stringMatching(/^207 .*no_creatinine_enh/) });
		expect(row.raw).toContain('ORU^R01');
	});

	it('applies ADT class changes to open studies, A40 merges and lab results as clinical context', async () => {
		const client = await MllpTestClient.connect(hl7.port);
		const place = withControlId(SAMPLE.ormNew, 'ADT-ORM').replaceAll('ACC5001', 'ACC-ADT').replaceAll('MRN1234', 'MRN-ADT');
		const a08 = withControlId(SAMPLE.adtA08, 'ADT-A08').replaceAll('MRN1234', 'MRN-ADT').replace('PV1|1|E|', 'PV1|1|I|');
		const lab = withControlId(SAMPLE.oruLab, 'ADT-LAB').replaceAll('MRN1234', 'MRN-OLD');
		const a40 = withControlId(SAMPLE.adtA40, 'ADT-A40').replaceAll('MRN1234', 'MRN-ADT').replace('MRN0999', 'MRN-OLD');
		for (const m of [place, a08, lab, a40]) expect(field(await client.request(m), 'MSA', 1)).toBe('AA');
		client.close();
		const [s] = await sql()`SELECT s.patient_class, p.mrn, p.patient_class AS pc FROM studies s JOIN patients p ON p.id = s.patient_id WHERE s.accession_number = 'ACC-ADT'`;
		expect(s).toEqual({ patient_class: 'I', mrn: 'MRN-ADT', pc: 'I' });
		const labs = await sql()`SELECT c.code, c.value, c.units, c.reference_range, c.abnormal_flags, p.mrn
			FROM clinical_context c JOIN patients p ON p.id = c.patient_id ORDER BY c.id`;
		expect(labs[0]).toEqual({ code: '2160-0', value: '1.8', units: 'mg/dL', reference_range: '0.6-1.2', abnormal_flags: 'H', mrn: 'MRN-ADT' });
		expect(labs[1]).toMatchObject({ code: '33914-3', value: '<30', abnormal_flags: 'L,A' });
		const [old] = await sql()`SELECT merged_into FROM patients WHERE mrn = 'MRN-OLD'`;
		expect(old.merged_into).not.toBeNull();
	});
});
