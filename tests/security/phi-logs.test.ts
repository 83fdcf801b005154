/**
 * PHI never reaches the logs. A real `radflow start` at LOG_LEVEL=debug
 * receives a DICOM object over C-STORE (storescu) and HL7 messages over MLLP
 * (mllp_send), good and bad, all carrying one known patient's name and birth
 * date; then its whole JSON log output is searched for them.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { startRadflow, type RunningRadflow } from '../helpers/server';
import { freePort } from '../../src/lib/server/db/embedded';
import { runTool } from '../../src/lib/server/ingest/test-kit';
import { fixtureUid, makeInstance } from '../../workers/dicom/fixtures';
import { SAMPLE, withControlId } from '../../workers/hl7/samples';

/** The canary: nothing else in the system spells these. */
const FAMILY = 'Canarywick';
const GIVEN = 'Phineasta';
const BIRTH = '19230405';
const PHI = [FAMILY, GIVEN, BIRTH, '1923-04-05'];

let t: TestDatabase;
let app: RunningRadflow;
let dir: string;
let dicomPort: number;
let hl7Port: number;

/** The sample ORM for our canary patient, with its own control id and accession. */
function canaryOrm(controlId: string, accession: string): string {
	return withControlId(SAMPLE.ormNew, controlId)
		.replace('DOE^JANE^Q||19700101', `${FAMILY.toUpperCase()}^${GIVEN.toUpperCase()}^Q||${BIRTH}`)
		.replaceAll('ACC5001', accession);
}

async function mllpSend(name: string, message: string): Promise<string> {
	const file = path.join(dir, `${name}.hl7`);
	fs.writeFileSync(file, message.replace(/\r/g, '\n'));
	const r = await runTool('/usr/bin/mllp_send', ['--loose', '-f', file, '-p', String(hl7Port), '127.0.0.1'], 20_000);
	return r.out;
}

function canaryInstance(name: string): string {
	const file = path.join(dir, `${name}.dcm`);
	fs.writeFileSync(
		file,
		makeInstance({
			studyUid: fixtureUid('phi-study'),
			seriesUid: fixtureUid('phi-series'),
			sopUid: fixtureUid(`phi-${name}`),
			modality: 'CT',
			description: 'CT HEAD WO',
			patientId: 'MRN-PHI-1',
			patientName: `${FAMILY}^${GIVEN}`,
			accession: 'ACC-PHI-1',
			rows: 16,
			cols: 16
		})
	);
	// The birth date, added by dcmtk itself.
	execFileSync('dcmodify', ['-nb', '-i', `(0010,0030)=${BIRTH}`, file]);
	return file;
}

const storescu = (aet: string, file: string) => runTool('storescu', ['-aet', aet, '-aec', 'RADFLOW', '127.0.0.1', String(dicomPort), file]);

async function waitFor<T>(f: () => Promise<T | null | undefined | false>, ms = 30_000): Promise<T> {
	const until = Date.now() + ms;
	for (;;) {
		const v = await f();
		if (v) return v;
		if (Date.now() > until) throw new Error('timed out waiting for the system to store what was sent');
		await new Promise((r) => setTimeout(r, 200));
	}
}

beforeAll(async () => {
	t = await createTestDatabase('phi');
	dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radflow-phi-'));
	[dicomPort, hl7Port] = [await freePort(), await freePort()];
	app = await startRadflow(
		['start'],
		{
			DATABASE_URL: t.url,
			RADFLOW_DATA_DIR: dir,
			RADFLOW_ADMIN_PASSWORD: 'phi-admin-password',
			LOG_LEVEL: 'debug',
			DICOM_PORT: String(dicomPort),
			HL7_PORT: String(hl7Port),
			DICOM_ALLOWED_AES: 'PHISCU',
			DICOM_STABILITY_SECONDS: '1'
		},
		/hl7\.listening/
	);
}, 300_000);

afterAll(async () => {
	await app?.stop();
	await t?.drop();
	if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('PHI in logs', () => {
	it('logs identifiers, never the patient name or birth date, for accepted and refused DICOM and HL7', async () => {
		// DICOM: one accepted object, one from an AE not on the allow-list, one truncated object.
		const good = canaryInstance('good');
		expect((await storescu('PHISCU', good)).code).toBe(0);
		await storescu('ROGUESCU', canaryInstance('rogue'));
		const truncated = canaryInstance('truncated');
		fs.truncateSync(truncated, fs.statSync(truncated).size - 200);
		await storescu('PHISCU', truncated);

		// HL7: an accepted order, a rejected version, a message the mapping refuses, an unknown type.
		expect(await mllpSend('orm', canaryOrm('PHI-1', 'ACC-PHI-1'))).toContain('MSA|AA|PHI-1');
		await mllpSend('badversion', canaryOrm('PHI-2', 'ACC-PHI-2').replace('|P|2.3.1', '|P|1.9'));
		await mllpSend('noaccession', canaryOrm('PHI-3', '').replace(/^OBR\|.*$/m, 'OBR|1|||'));
		await mllpSend('unknown', canaryOrm('PHI-4', 'ACC-PHI-4').replace('ORM^O01^ORM_O01', 'ZZZ^Z99'));

		// Everything reached the database (so every path that logs has run)...
		await waitFor(async () => (await t.db.sql`SELECT 1 FROM instances WHERE sop_instance_uid = ${fixtureUid('phi-good')}`).length > 0);
		await waitFor(async () => (await t.db.sql`SELECT count(*)::int AS n FROM hl7_messages`)[0].n >= 1);
		// The completeness check (1 s stability) logs "study complete": wait for it, not for the sends alone.
		const study = await waitFor(
			async () => (await t.db.sql`SELECT id FROM studies WHERE study_instance_uid = ${fixtureUid('phi-study')} AND complete_at IS NOT NULL`)[0]
		);
		expect(study).toBeDefined();
		// ...and the process flushed its logs on a clean stop.
		await app.stop();
		const out = app.output();
		if (process.env.PHI_LOG_DUMP) fs.writeFileSync(process.env.PHI_LOG_DUMP, out);

		// The logs did talk about these objects and messages, by identifier.
		for (const id of ['PHI-2', 'PHI-3', 'PHI-4', 'ROGUESCU', 'study complete']) expect(out).toContain(id);
		for (const phi of PHI) {
			const line = out.split('\n').find((l) => l.toLowerCase().includes(phi.toLowerCase()));
			expect(line, `log line carries PHI "${phi}"`).toBeUndefined();
		}
	});
});
