/**
 * PostgreSQL faults under load, on an embedded server this test controls:
 * a restart (fast shutdown), a crash (immediate shutdown, crash recovery) and
 * every connection slot taken by someone else. While the database is
 * unreachable the senders must get failures (DICOM failure status, HL7 AE/AR,
 * or no answer), never a success; afterwards the running dicom and hl7 roles
 * recover by themselves (no restart), and every acknowledgment is on file.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { freePort } from '../../src/lib/server/db/embedded';
import type { Sql } from '../../src/lib/server/db/client';
import { RoleSet } from './harness/roles';
import { planStudies, type PlannedStudy } from './harness/traffic';
import { Ledger, sendStudyImages, sendStudyMessages } from './harness/senders';
import { compareWithStore, ledgerFigures } from './harness/verify';
import { ControlledPostgres, connectionsOf, exhaustConnections, releaseConnections } from './harness/postgres';
import './harness/figures';

const SEED = process.env.FAULTS_SEED ?? String(Date.now() % 1_000_000);
const DOWN_MS = 5000;
const LOAD_MS = 3000;
/** Time allowed from "database back" to the first new acknowledgment on each protocol. */
const RECOVERY_LIMIT_MS = 30_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let dir: string;
let pgServer: ControlledPostgres;
let roles: RoleSet;
let dicomPort: number;
let hl7Port: number;

beforeAll(async () => {
	dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radflow-faults-db-'));
	fs.chmodSync(dir, 0o755);
	// Room for both roles' pools (and pg-boss), low enough to fill quickly.
	pgServer = await ControlledPostgres.create(path.join(dir, 'db'), 60);
	[dicomPort, hl7Port] = [await freePort(), await freePort()];
	roles = new RoleSet(
		['dicom', 'hl7'],
		{
			DATABASE_URL: pgServer.url,
			RADFLOW_DATA_DIR: path.join(dir, 'data'),
			DICOM_PORT: String(dicomPort),
			HL7_PORT: String(hl7Port),
			DICOM_ALLOWED_AES: '*',
			DICOM_STABILITY_SECONDS: '3'
		},
		path.join(dir, 'logs')
	);
	await roles.startAll();
}, 240_000);

afterAll(async () => {
	await roles?.stopAll();
	await pgServer?.stop();
	if (process.env.FAULTS_KEEP !== '1') fs.rmSync(dir, { recursive: true, force: true });
	else process.stderr.write(`fault run kept in ${dir}\n`);
});

/**
 * Two independent streams, so both protocols are in flight at every moment:
 * HL7 orders of some studies, DICOM images of others.
 * Each item is retried until acknowledged (until 30 s after `stop()`).
 */
function continuousTraffic(orders: PlannedStudy[], images: PlannedStudy[], ledger: Ledger) {
	let stopped = false;
	let deadline = Infinity;
	const until = () => deadline;
	const stream = async (items: PlannedStudy[], send: (s: PlannedStudy) => Promise<boolean>) => {
		for (const s of items) {
			if (stopped) return;
			await send(s);
			await sleep(250);
		}
	};
	const running = Promise.all([
		stream(orders, (s) => sendStudyMessages(ledger, s, hl7Port, until, 300)),
		stream(images, (s) => sendStudyImages(ledger, s, dicomPort, until, 300))
	]);
	return {
		async stop() {
			stopped = true;
			deadline = Date.now() + 30_000;
			await running;
		}
	};
}

interface Outage {
	fault: string;
	/** Connections Radflow still held when the outage began (exhaustion only: the test cuts them all). */
	radflowConnections?: number;
	heldByTest?: number;
	/** Answers received while the database was certainly unreachable. */
	during: ReturnType<Ledger['triesBetween']>;
	recoveryMs: { dicom: number | null; hl7: number | null };
}

async function waitForRecovery(ledger: Ledger, from: number): Promise<Outage['recoveryMs']> {
	const until = from + RECOVERY_LIMIT_MS;
	for (;;) {
		const first = ledger.firstAckAfter(from);
		if ((first.dicom && first.hl7) || Date.now() > until) {
			return { dicom: first.dicom && first.dicom - from, hl7: first.hl7 && first.hl7 - from };
		}
		await sleep(100);
	}
}

it('senders get failures, never success, while PostgreSQL is down or full; the roles recover by themselves', async ({ task }) => {
	// Orders for one set of studies, images for another (each stream alone, so both are busy throughout).
	const orders = planStudies(`${SEED}-orders`, 200, path.join(dir, 'orders'), { maxInstances: 0 });
	const images = planStudies(`${SEED}-images`, 120, path.join(dir, 'images'), { maxInstances: 2 });
	const ledger = new Ledger();
	const traffic = continuousTraffic(orders, images, ledger);
	const outages: Outage[] = [];
	const pids = { dicom: roles.get('dicom').pid, hl7: roles.get('hl7').pid };

	// 1. Restart (fast shutdown), 2. crash (immediate shutdown): down for DOWN_MS, then back.
	for (const fault of ['restart', 'crash'] as const) {
		await sleep(LOAD_MS);
		if (fault === 'restart') await pgServer.stop();
		else await pgServer.crash();
		const downFrom = Date.now();
		await sleep(DOWN_MS);
		const downTo = Date.now();
		await pgServer.start();
		outages.push({ fault: `postgres_${fault}`, during: ledger.triesBetween(downFrom, downTo), recoveryMs: await waitForRecovery(ledger, Date.now()) });
	}

	// 3. Someone else holds every connection; Radflow's own connections are cut and cannot come back.
	await sleep(LOAD_MS);
	const { held, appConnectionsLeft } = await exhaustConnections(pgServer.url, /^radflow/);
	const heldByTest = held.length;
	const fullFrom = Date.now();
	await sleep(DOWN_MS);
	const fullTo = Date.now();
	await releaseConnections(held);
	outages.push({
		fault: 'connections_exhausted',
		radflowConnections: appConnectionsLeft,
		heldByTest,
		during: ledger.triesBetween(fullFrom, fullTo),
		recoveryMs: await waitForRecovery(ledger, Date.now())
	});
	await sleep(LOAD_MS);
	await traffic.stop();

	const sql: Sql = postgres(pgServer.url, { max: 2, onnotice: () => {}, types: { bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) } } });
	try {
		const figures = await compareWithStore(sql, ledger, path.join(dir, 'data', 'dicom'));
		const radflowConnections = await connectionsOf(pgServer.url, /^radflow/);
		task.meta.faults = {
			scenario: 'postgres_outages',
			seed: SEED,
			faults_injected: outages.length,
			...ledgerFigures(figures),
			outages
		};
		process.stderr.write(`postgres_outages: ${JSON.stringify(task.meta.faults)}\nproblems: ${figures.problems.join('\n')}\n`);

		for (const o of outages) {
			// Exhaustion is real only if Radflow kept no connection through it.
			if (o.radflowConnections !== undefined) expect(o.radflowConnections, `${o.fault}: Radflow kept connections`).toBe(0);
			// Never a success while the database could not have committed it.
			expect(o.during.dicom.ack, `${o.fault}: DICOM success while the database was unreachable`).toBe(0);
			expect(o.during.hl7.ack, `${o.fault}: HL7 AA while the database was unreachable`).toBe(0);
			// The senders were told (failure status, NACK or a closed connection), and kept trying.
			expect(o.during.dicom.refusal + o.during.dicom.none + o.during.hl7.refusal + o.during.hl7.none, `${o.fault}: no tries during the outage`).toBeGreaterThan(0);
			// Recovery without restarting anything.
			expect(o.recoveryMs.dicom, `${o.fault}: DICOM did not recover`).not.toBeNull();
			expect(o.recoveryMs.hl7, `${o.fault}: HL7 did not recover`).not.toBeNull();
		}
		expect({ dicom: roles.get('dicom').pid, hl7: roles.get('hl7').pid }, 'a role was restarted').toEqual(pids);
		expect(roles.unexpectedExits()).toEqual([]);
		expect(radflowConnections).toBeGreaterThan(0);
		expect(figures.problems).toEqual([]);
		expect(figures.lost).toBe(0);
		expect(figures.duplicates).toBe(0);
		expect(figures.corrupt).toBe(0);
		expect(figures.acked).toBe(figures.sent);
	} finally {
		await sql.end();
	}
});
