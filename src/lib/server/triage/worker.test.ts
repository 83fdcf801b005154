import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../../../../tests/helpers/db';
import { createLogger } from '../log';
import { startJobQueue, type JobQueue } from '../jobs/queue';
import { selectBackend, BACKEND_NAMES, type BackendSelection } from '../../../../workers/triage/backend';
import { loadModel, readManifest, shippedManifestPath } from '../../../../workers/triage/model';
import { triageStudy } from '../../../../workers/triage/infer';
import { TransferSyntax } from '../../../../workers/triage/dicom';
import { registerShippedModels, setModelMode, getModel } from './registry';
import { startTriage, triageJob, type TriageDeps } from './worker';
import { phantomFiles, seedPhantomStudy, type PhantomStudySeed } from './testing';

const log = createLogger('test', 'warn');
const admin = { id: 1, username: 'root', displayName: 'Root', role: 'admin' as const };
let t: TestDatabase;
let jobs: JobQueue;
let dir: string;
let backend: BackendSelection;
let deps: TriageDeps;
/** Seeds the shipped ICH model calls critical (positive phantom) and clear (negative phantom). */
const seeds = { positive: 0, negative: 0 };

beforeAll(async () => {
	t = await createTestDatabase('triage_worker');
	jobs = await startJobQueue(t.url, log, { supervise: false });
	dir = mkdtempSync(join(os.tmpdir(), 'radflow-triage-'));
	await t.db.sql`INSERT INTO sites (id, name) VALUES ('main', 'Main Hospital')`;
	await registerShippedModels(t.db.sql, log);
	backend = await selectBackend({ backend: 'wasm' });
	deps = { sql: t.db.sql, jobs, log, backend, cache: new Map() };
	// The demonstration model is good, not perfect: pick phantoms it gets right, so the test is about the plumbing.
	const { manifest, dir: mdir } = await readManifest(shippedManifestPath('ich-ct-demo', '1.0.0'));
	const model = await loadModel(manifest, { backend: 'wasm', baseDir: mdir });
	for (let seed = 1000; seed < 1040 && (!seeds.positive || !seeds.negative); seed++) {
		const positive = seed % 2 === 0;
		if ((positive && seeds.positive) || (!positive && seeds.negative)) continue;
		const r = await triageStudy(model, phantomFiles('head-ct', seed, positive));
		if (positive && r.critical) seeds.positive = seed;
		if (!positive && !r.critical) seeds.negative = seed;
	}
	model.dispose();
	expect(seeds.positive && seeds.negative).toBeTruthy();
}, 120_000);

afterAll(async () => {
	await jobs?.stop();
	await t?.drop();
	if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach(async () => {
	await t.db.sql`TRUNCATE studies, series, instances, ai_results, critical_flags, study_events, event_keys RESTART IDENTITY CASCADE`;
	await t.db.sql`UPDATE ai_models SET mode = 'shadow'`;
});

let n = 0;
const seed = (s: Omit<PhantomStudySeed, 'dir' | 'accession'>) => seedPhantomStudy(t.db.sql, { dir, accession: `ACC-${++n}`, ...s });

async function study(id: number) {
	const [r] = await t.db.sql`SELECT status, priority, critical_flag, sla_deadline, triaged_at FROM studies WHERE id = ${id}`;
	return r;
}
async function results(id: number) {
	return t.db.sql`SELECT model_id, model_version, backend, mode, score, label, critical, status, detail, latency_ms FROM ai_results WHERE study_id = ${id} ORDER BY model_id`;
}
async function events(id: number) {
	return t.db.sql`SELECT kind, actor, priority, payload FROM study_events WHERE study_id = ${id} ORDER BY id`;
}

describe('triage job', () => {
	it('an ACTIVE model calling hemorrhage raises a pending flag, stat priority and a live critical_flagged event, then triages', async () => {
		await setModelMode(t.db.sql, admin, 'ich-ct-demo', 'active', 'go live');
		const id = await seed({ kind: 'head-ct', seed: seeds.positive, positive: true, lastImageMsAgo: 3_000 });
		const before = await study(id);
		const out = await triageJob(deps, id);
		expect(out.status).toBe('triaged');

		const [r] = await results(id);
		expect(r).toMatchObject({ model_id: 'ich-ct-demo', model_version: '1.0.0', backend: 'wasm', mode: 'active', critical: true, status: 'ok', label: 'hemorrhage' });
		const threshold = (await getModel(t.db.sql, 'ich-ct-demo'))!.threshold;
		expect(r.score).toBeGreaterThanOrEqual(threshold);
		expect(r.latency_ms).toBeGreaterThan(0);
		expect(r.detail).toContain('12 slices');

		const [flag] = await t.db.sql`SELECT status, finding, score, model_id, model_version, image_to_alert_ms FROM critical_flags WHERE study_id = ${id}`;
		expect(flag).toMatchObject({ status: 'pending', finding: 'hemorrhage', model_id: 'ich-ct-demo', model_version: '1.0.0' });
		expect(flag.image_to_alert_ms).toBeGreaterThanOrEqual(3_000);

		const s = await study(id);
		expect(s).toMatchObject({ status: 'triaged', priority: 'stat', critical_flag: 'pending' });
		// stat reading target: the deadline only moves earlier
		expect(s.sla_deadline.getTime()).toBeLessThan(before.sla_deadline.getTime());

		const ev = await events(id);
		expect(ev.map((e) => e.kind)).toEqual(['priority_changed', 'critical_flagged', 'triaged']);
		expect(ev[0].payload.reason).toBe('AI critical finding: hemorrhage (model ich-ct-demo@1.0.0) — awaiting radiologist confirmation');
		expect(ev[1]).toMatchObject({ priority: 'stat', payload: { finding: 'hemorrhage', modelId: 'ich-ct-demo', modelVersion: '1.0.0' } });
		expect(ev[2].payload.models).toEqual([expect.objectContaining({ id: 'ich-ct-demo', version: '1.0.0', mode: 'active', critical: true, status: 'ok' })]);
		const [route] = await t.db.sql`SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'route' AND data->>'studyId' = ${String(id)}`;
		expect(route.n).toBeGreaterThan(0);

		// A retried job (or a second worker) changes nothing.
		const again = await triageJob(deps, id);
		expect(again.status === 'scored' && again.models[0].reused).toBe(true);
		expect(await results(id)).toHaveLength(1);
		expect((await t.db.sql`SELECT id FROM critical_flags WHERE study_id = ${id}`).length).toBe(1);
		expect(await events(id)).toHaveLength(3);
	});

	it('a result another worker recorded while this one ran is kept, and nothing is acted on twice', async () => {
		await setModelMode(t.db.sql, admin, 'ich-ct-demo', 'active');
		const id = await seed({ kind: 'head-ct', seed: seeds.positive, positive: true });
		const { manifest, dir: mdir } = await readManifest(shippedManifestPath('ich-ct-demo', '1.0.0'));
		const model = await loadModel(manifest, { backend: 'wasm', baseDir: mdir });
		// The other worker commits its (shadow) result while this one runs the model.
		const racing = {
			...model,
			predictBatch: async (images: Float32Array[]) => {
				await t.db.sql`INSERT INTO ai_results (study_id, model_id, model_version, backend, mode, score, critical, status)
					VALUES (${id}, 'ich-ct-demo', '1.0.0', 'wasm', 'shadow', 0.01, false, 'ok')`;
				return model.predictBatch(images);
			}
		};
		const out = await triageJob({ ...deps, cache: new Map([['ich-ct-demo@1.0.0', Promise.resolve(racing)]]) }, id);
		model.dispose();
		expect(out.status === 'triaged' && out.models[0]).toMatchObject({ critical: true, flagged: false });
		expect(await results(id)).toEqual([expect.objectContaining({ mode: 'shadow', score: 0.01, critical: false })]);
		expect(await t.db.sql`SELECT id FROM critical_flags WHERE study_id = ${id}`).toHaveLength(0);
		expect(await study(id)).toMatchObject({ status: 'triaged', priority: 'routine', critical_flag: 'none' });
		expect((await events(id)).map((e) => e.kind)).toEqual(['triaged']);
	});

	it('a negative head CT on an active model is recorded as not critical and acts on nothing', async () => {
		await setModelMode(t.db.sql, admin, 'ich-ct-demo', 'active');
		const id = await seed({ kind: 'head-ct', seed: seeds.negative, positive: false });
		await triageJob(deps, id);
		const [r] = await results(id);
		expect(r).toMatchObject({ mode: 'active', critical: false, status: 'ok' });
		expect(await study(id)).toMatchObject({ status: 'triaged', priority: 'routine', critical_flag: 'none' });
	});

	it('a SHADOW model records its critical result but never flags or raises priority', async () => {
		const id = await seed({ kind: 'head-ct', seed: seeds.positive, positive: true });
		await triageJob(deps, id);
		const [r] = await results(id);
		expect(r).toMatchObject({ model_id: 'ich-ct-demo', mode: 'shadow', critical: true, status: 'ok' });
		expect(await t.db.sql`SELECT id FROM critical_flags WHERE study_id = ${id}`).toHaveLength(0);
		expect(await study(id)).toMatchObject({ status: 'triaged', priority: 'routine', critical_flag: 'none' });
		expect((await events(id)).map((e) => e.kind)).toEqual(['triaged']);
	});

	it('an OFF model does not run: the study is triaged with no models', async () => {
		await setModelMode(t.db.sql, admin, 'ich-ct-demo', 'off');
		const id = await seed({ kind: 'head-ct', seed: seeds.positive, positive: true });
		await triageJob(deps, id);
		expect(await results(id)).toHaveLength(0);
		const ev = await events(id);
		expect(ev.map((e) => e.kind)).toEqual(['triaged']);
		expect(ev[0].payload.models).toEqual([]);
	});

	it('a study no model is eligible for (MR knee) is triaged at once with {models: []}', async () => {
		const id = await seed({ kind: 'head-ct', seed: 7, positive: false, modality: 'MR', description: 'MR KNEE' });
		await t.db.sql`UPDATE series SET modality = 'MR', body_part = 'KNEE', description = 'SAG PD' WHERE study_id = ${id}`;
		await triageJob(deps, id);
		expect(await results(id)).toHaveLength(0);
		expect((await events(id))[0]).toMatchObject({ kind: 'triaged', payload: { models: [] } });
	});

	it('undecodable images are recorded as cannot_decode with the transfer syntax, and triage carries on', async () => {
		const id = await seed({ kind: 'chest-xr', seed: 11, positive: true, transferSyntaxUid: TransferSyntax.jpegBaseline });
		await triageJob(deps, id);
		const [r] = await results(id);
		expect(r).toMatchObject({ model_id: 'ptx-cxr-demo', status: 'cannot_decode', score: null, critical: false });
		expect(r.detail).toContain('JPEG Baseline');
		expect((await study(id)).status).toBe('triaged');
	});

	it('a junk file next to good slices is listed in the detail and the study still scores', async () => {
		const id = await seed({ kind: 'head-ct', seed: seeds.negative, positive: false, junkFiles: 1 });
		await triageJob(deps, id);
		const [r] = await results(id);
		expect(r.status).toBe('ok');
		expect(r.detail).toMatch(/1 of 17 instances not usable/);
	});
});

describe('triage role on the queue', () => {
	it('reports its backend in role_status and works jobs from the triage queue', async () => {
		await setModelMode(t.db.sql, admin, 'ich-ct-demo', 'active');
		const role = await startTriage({ db: t.db, jobs, log }, { backend: 'wasm', pollingIntervalSeconds: 0.5, concurrency: 2 });
		try {
			const [st] = await t.db.sql`SELECT data FROM role_status WHERE role = 'triage'`;
			expect(BACKEND_NAMES).toContain(st.data.backend);
			expect(st.data).toMatchObject({ backend: 'wasm', models: expect.arrayContaining([expect.objectContaining({ id: 'ich-ct-demo', mode: 'active' })]) });
			expect(typeof st.data.detail).toBe('string');

			const id = await seed({ kind: 'head-ct', seed: seeds.positive, positive: true });
			await jobs.send('triage', { studyId: id });
			const deadline = Date.now() + 30_000;
			while ((await study(id)).status !== 'triaged' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
			expect(await study(id)).toMatchObject({ status: 'triaged', priority: 'stat', critical_flag: 'pending' });
		} finally {
			await role.stop();
		}
		expect(await t.db.sql`SELECT 1 FROM role_status WHERE role = 'triage'`).toHaveLength(0);
	});

	it('fetches a triage job as soon as it is sent (NOTIFY), not at the next poll (poll set to ten minutes)', async () => {
		const role = await startTriage({ db: t.db, jobs, log }, { backend: 'wasm', pollingIntervalSeconds: 600 });
		try {
			// the worker's first (empty) fetch happens at start; after it, only a wake-up can fetch before 600 s
			await new Promise((r) => setTimeout(r, 500));
			const id = await seed({ kind: 'head-ct', seed: seeds.negative, positive: false });
			await t.db.sql.begin((tx) => jobs.send('triage', { studyId: id }, { tx }));
			const deadline = Date.now() + 30_000;
			while ((await study(id)).status !== 'triaged' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
			expect((await study(id)).status).toBe('triaged');
		} finally {
			await role.stop();
		}
	});
});
