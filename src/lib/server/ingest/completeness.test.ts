import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../../../../tests/helpers/db';
import { createLogger } from '../log';
import { JobName, startJobQueue, type JobQueue } from '../jobs/queue';
import { seedPhantomStudy } from '../triage/testing';
import { checkCompleteness, startCompletenessWorker } from './completeness';
import { completenessKey, parseStabilitySeconds } from './dicom-sink';

const log = createLogger('test', 'error');
let t: TestDatabase;
let jobs: JobQueue;
let dir: string;
let n = 0;

beforeAll(async () => {
	t = await createTestDatabase('completeness');
	jobs = await startJobQueue(t.url, log, { supervise: false });
	dir = mkdtempSync(join(os.tmpdir(), 'radflow-completeness-'));
	await t.db.sql`INSERT INTO sites (id, name) VALUES ('main', 'Main Hospital')`;
}, 60_000);

afterAll(async () => {
	await jobs?.stop();
	await t?.drop();
	if (dir) rmSync(dir, { recursive: true, force: true });
});

const arriving = (lastImageMsAgo: number) =>
	seedPhantomStudy(t.db.sql, { dir, accession: `C-${++n}`, kind: 'chest-xr', seed: n, positive: false, status: 'arriving', lastImageMsAgo });

const pendingChecks = async (studyId: number) =>
	(await t.db.sql`SELECT start_after FROM pgboss.job WHERE name = ${JobName.completeness} AND singleton_key = ${completenessKey(studyId)} AND state = 'created'`).length;

async function waitForStatus(studyId: number, status: string, ms: number): Promise<string> {
	const deadline = Date.now() + ms;
	for (;;) {
		const [s] = await t.db.sql`SELECT status FROM studies WHERE id = ${studyId}`;
		if (s.status === status || Date.now() > deadline) return s.status;
		await new Promise((r) => setTimeout(r, 100));
	}
}

describe('completeness', () => {
	it('an early check says exactly when it is due and leaves one durable re-check in the queue (no duplicates)', async () => {
		const id = await arriving(0);
		const [{ last }] = await t.db.sql`SELECT last_image_at AS last FROM studies WHERE id = ${id}`;
		const stability = parseStabilitySeconds('DX=5');
		const now = () => new Date(last.getTime() + 1_300);
		const r = await checkCompleteness(t.db.sql, jobs, { studyId: id, lastImageAt: last.toISOString() }, { stability, now });
		expect(r).toEqual({ status: 'rescheduled', inSeconds: 4, inMs: 3_700 });
		expect(await pendingChecks(id)).toBe(1);
		await checkCompleteness(t.db.sql, jobs, { studyId: id, lastImageAt: last.toISOString() }, { stability, now });
		expect(await pendingChecks(id)).toBe(1);
		const done = await checkCompleteness(t.db.sql, jobs, { studyId: id, lastImageAt: last.toISOString() }, { stability, now: () => new Date(last.getTime() + 5_000) });
		expect(done).toMatchObject({ status: 'complete', reason: 'stability' });
	});

	it('a pending check survives a restart: a worker started later completes the study', async () => {
		const id = await arriving(0);
		const stability = parseStabilitySeconds('1');
		// "before the restart": the check was scheduled, then nothing ran it
		const r = await checkCompleteness(t.db.sql, jobs, { studyId: id, lastImageAt: new Date().toISOString() }, { stability });
		expect(r.status).toBe('rescheduled');
		const worker = await startCompletenessWorker(t.db.sql, jobs, log, { stability });
		try {
			expect(await waitForStatus(id, 'complete', 30_000)).toBe('complete');
		} finally {
			await worker.stop();
		}
	});

	it('completes on its in-process timer, not at the queue poll (poll set to ten minutes)', async () => {
		const stability = parseStabilitySeconds('1');
		// The worker's first (empty) fetch happens at start; its next poll would be 600 s later.
		const worker = await startCompletenessWorker(t.db.sql, jobs, log, { stability, pollingIntervalSeconds: 600 });
		try {
			await new Promise((r) => setTimeout(r, 300));
			const id = await arriving(0);
			await checkCompleteness(t.db.sql, null, { studyId: id, lastImageAt: new Date().toISOString() }, { stability });
			await jobs.send(JobName.completeness, { studyId: id, lastImageAt: new Date().toISOString() }, { startAfterSeconds: 1, singletonKey: completenessKey(id) });
			expect(await waitForStatus(id, 'complete', 30_000)).toBe('complete');
			// the queued check is still waiting for the poll: the timer did the work
			expect(await pendingChecks(id)).toBe(1);
		} finally {
			await worker.stop();
		}
	});
});
