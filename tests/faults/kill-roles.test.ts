/**
 * Kill -9 each role (dicom, hl7, triage, web) at random moments while studies
 * arrive (ADT + ORM over MLLP, images over DIMSE from dcmtk's storescu), start
 * it again, and compare every acknowledgment with the database and the blob
 * store: nothing acknowledged is lost, nothing is applied twice, every study
 * ends triaged with its AI results once.
 *
 * FAULTS_SEED reproduces a run (the studies and the kill schedule).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { freePort } from '../../src/lib/server/db/embedded';
import { createRng, seedFrom } from '../../src/lib/domain/simulation/random';
import { RoleSet, type FaultRoleName } from './harness/roles';
import { planStudies, type PlannedStudy } from './harness/traffic';
import { inFlight, Ledger, sendStudyImages, sendStudyMessages } from './harness/senders';
import { compareWithStore, ledgerFigures, studiesNotFinal } from './harness/verify';
import { mapInbound } from '../../workers/hl7/handlers';
import { parseHl7Message } from '../../workers/hl7/message';
import { splitIdempotencyKey } from '../../src/lib/server/ingest/hl7-handler';
import { failedJobs, shortenJobExpiry, startFastSupervisor } from './harness/jobs';
import './harness/figures';

const SEED = process.env.FAULTS_SEED ?? String(Date.now() % 1_000_000);
const STUDIES = 36;
/** Grey images of 192² (74 KB): a C-STORE takes long enough to be cut mid-transfer. */
const IMAGE_SIZE = 192;
const TRAFFIC_MS = 34_000;
const KILLS: FaultRoleName[] = ['dicom', 'hl7', 'triage', 'web', 'dicom', 'triage'];

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let t: TestDatabase;
let dir: string;
let roles: RoleSet;
let dicomPort: number;
let hl7Port: number;
let supervisor: { stop(): Promise<void> } | undefined;

beforeAll(async () => {
	t = await createTestDatabase('faults_kill');
	dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radflow-faults-kill-'));
	[dicomPort, hl7Port] = [await freePort(), await freePort()];
	roles = new RoleSet(
		['dicom', 'hl7', 'triage', 'web'],
		{
			DATABASE_URL: t.url,
			RADFLOW_DATA_DIR: path.join(dir, 'data'),
			PORT: String(await freePort()),
			DICOM_PORT: String(dicomPort),
			HL7_PORT: String(hl7Port),
			DICOM_ALLOWED_AES: '*',
			DICOM_STABILITY_SECONDS: '3',
			RADFLOW_ADMIN_PASSWORD: 'faults-admin-password'
		},
		path.join(dir, 'logs')
	);
	await roles.startAll();
	await shortenJobExpiry(t.db.sql, 20);
	supervisor = await startFastSupervisor(t.url);
}, 240_000);

afterAll(async () => {
	await supervisor?.stop();
	await roles?.stopAll();
	await t?.drop();
	if (process.env.FAULTS_KEEP !== '1') fs.rmSync(dir, { recursive: true, force: true });
	else process.stderr.write(`fault run kept in ${dir}\n`);
});

interface Fault {
	role: FaultRoleName;
	atMs: number;
	downMs: number;
}

/** Kill moments spread over the traffic window, each role down for up to 1.5 s before its restart begins. */
function killSchedule(seed: string): Fault[] {
	const rng = createRng(seedFrom(`kills|${seed}`));
	const slot = (TRAFFIC_MS - 6000) / KILLS.length;
	return KILLS.map((role, i) => ({ role, atMs: Math.round(3000 + i * slot + rng.uniform(0, slot * 0.8)), downMs: Math.round(rng.uniform(0, 1500)) }));
}

/** True once the role is in the middle of something: an association, a message, a triage job. */
async function waitUntilBusy(role: FaultRoleName, maxMs: number): Promise<boolean> {
	const until = Date.now() + maxMs;
	for (;;) {
		if (role === 'dicom' && inFlight.dicom > 0) return true;
		if (role === 'hl7' && inFlight.hl7 > 0) return true;
		if (role === 'triage') {
			const [{ n }] = await t.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'triage' AND state = 'active'`;
			if (n > 0) return true;
		}
		if (role === 'web' || Date.now() > until) return role === 'web';
		await sleep(role === 'triage' ? 100 : 20);
	}
}

/**
 * A crash between an enhanced-mode CA and the apply, made certain: with the HL7
 * role killed, two orders are left as it would leave them (stored, answered CA,
 * pending) and count as acknowledged; the restarted role must apply them.
 */
async function leaveAcceptedOrdersPending(studies: PlannedStudy[], ledger: Ledger): Promise<void> {
	const hl7 = roles.get('hl7');
	await hl7.kill9();
	for (const s of studies.filter((_, i) => i % 2 === 1).slice(0, 2)) {
		const m = s.messages.find((x) => x.kind === 'ORM')!;
		const inbound = mapInbound(parseHl7Message(m.text), { receivedAt: new Date().toISOString(), connectionId: 'crashed', unknownTypes: 'reject' });
		const { sender, controlId } = splitIdempotencyKey(inbound.idempotencyKey);
		await t.db.sql`INSERT INTO hl7_messages (sender, control_id, message_type, received_at, ack_code, raw, pending)
			VALUES (${sender}, ${controlId}, 'ORM^O01', now(), 'CA', ${m.text}, true)`;
		const e = ledger.message(s, m);
		e.attempts++;
		e.acks++;
		e.ackedAt.push(Date.now());
	}
	await hl7.start();
}

it('kill -9 of every role under traffic loses nothing acknowledged and applies nothing twice', async ({ task }) => {
	const studies = planStudies(SEED, STUDIES, path.join(dir, 'files'), { imageSize: IMAGE_SIZE });
	const ledger = new Ledger();
	await leaveAcceptedOrdersPending(studies, ledger);
	const t0 = Date.now();
	const sendUntil = t0 + TRAFFIC_MS + 60_000;

	// Senders: each study at its moment in the window, order first, then images.
	const sendStudy = async (s: PlannedStudy, i: number) => {
		await sleep(Math.max(0, t0 + (i * TRAFFIC_MS) / STUDIES - Date.now()));
		await sendStudyMessages(ledger, s, hl7Port, sendUntil);
		await sendStudyImages(ledger, s, dicomPort, sendUntil);
	};
	const traffic = Promise.all(studies.map(sendStudy));

	// Faults: SIGKILL (once the role has work in hand, or 3 s later), a short outage, restart.
	const faults = killSchedule(SEED);
	const injected: (Fault & { restartMs: number; busy: boolean })[] = [];
	for (const f of faults) {
		await sleep(Math.max(0, t0 + f.atMs - Date.now()));
		const busy = await waitUntilBusy(f.role, 3000);
		const role = roles.get(f.role);
		await role.kill9();
		await sleep(f.downMs);
		const r0 = Date.now();
		await role.start();
		injected.push({ ...f, restartMs: Date.now() - r0, busy });
	}
	await traffic;
	const trafficDone = Date.now();

	// Every study reaches its final state: complete after the quiet time, then triaged.
	const accessions = studies.map((s) => s.accession);
	let notFinal = await studiesNotFinal(t.db.sql, accessions);
	const settleDeadline = Date.now() + 120_000;
	while (notFinal.length > 0 && Date.now() < settleDeadline) {
		await sleep(2000);
		notFinal = await studiesNotFinal(t.db.sql, accessions);
	}
	const settledMs = Date.now() - trafficDone;

	const figures = await compareWithStore(t.db.sql, ledger, path.join(dir, 'data', 'dicom'));
	const failed = await failedJobs(t.db.sql);
	const crashed = roles.unexpectedExits();
	task.meta.faults = {
		scenario: 'kill9_roles',
		seed: SEED,
		faults_injected: injected.length,
		...ledgerFigures(figures),
		orphan_blobs: figures.orphanBlobs,
		orphan_temp_files: figures.orphanTempFiles,
		studies: STUDIES,
		studies_not_final: notFinal.length,
		settle_ms: settledMs,
		failed_jobs: failed.reduce((a, j) => a + j.n, 0),
		kills_while_busy: injected.filter((f) => f.busy).length,
		kills: injected.map((f) => `${f.role}@${(f.atMs / 1000).toFixed(1)}s${f.busy ? ' busy' : ''} restart ${(f.restartMs / 1000).toFixed(1)}s`)
	};
	process.stderr.write(`kill9_roles: ${JSON.stringify(task.meta.faults)}\nproblems: ${figures.problems.join('\n')}\nnot final: ${notFinal.join(', ')}\nfailed jobs: ${JSON.stringify(failed)}\n`);

	expect(crashed, 'a role exited that the test did not kill').toEqual([]);
	expect(figures.problems).toEqual([]);
	expect(figures.lost).toBe(0);
	expect(figures.duplicates).toBe(0);
	expect(figures.corrupt).toBe(0);
	// Everything was eventually acknowledged: the senders' retries got through after each restart.
	expect(figures.acked).toBe(figures.sent);
	expect(notFinal).toEqual([]);
	expect(failed).toEqual([]);
});
