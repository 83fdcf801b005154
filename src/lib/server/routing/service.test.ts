import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../../tests/helpers/db';
import { DEFAULT_POLICY } from '../../domain/routing/policy';
import { createLogger } from '../log';
import { applyStudyCommand } from '../events/transition';
import { startJobQueue, type JobQueue } from '../jobs/queue';
import { assignStudyTx, setReaderStatusTx } from './commands';
import { publishPolicy } from './policy-store';
import { createRouter, startRouting } from './service';
import { seedReader, seedSites, seedStudy } from './testing';

const log = createLogger('test', 'warn');
const NOW = Date.parse('2026-03-02T10:00:00.000Z');
const admin = { id: 1, username: 'root', displayName: 'Root', role: 'admin' as const };
let t: TestDatabase;

beforeAll(async () => {
	t = await createTestDatabase('routing');
	await seedSites(t.db.sql);
});
afterAll(async () => t?.drop());
beforeEach(async () => {
	await t.db.sql`TRUNCATE studies, radiologists, study_events, event_keys, routing_policies RESTART IDENTITY CASCADE`;
});

const router = () => createRouter({ sql: t.db.sql, jobs: null, log }, { untriagedAfterSeconds: 60 });

async function studyRow(id: number) {
	const [r] = await t.db.sql`SELECT status, assigned_to, version, held, sla_deadline FROM studies WHERE id = ${id}`;
	return r;
}
async function openAssignments(id: number) {
	return t.db.sql`SELECT radiologist_id, actor, policy_version, explanation FROM assignments WHERE study_id = ${id} AND released_at IS NULL`;
}

describe('routing tick', () => {
	it('assigns triaged studies to matching readers and stores the explanation and the policy version', async () => {
		await t.db.sql.begin((tx) => publishPolicy(tx, admin, { ...DEFAULT_POLICY, version: 'x' }, 'test policy'));
		const nora = await seedReader(t.db.sql, NOW, { name: 'Nora Neuro', subspecialties: ['neuro'] });
		const bea = await seedReader(t.db.sql, NOW, { name: 'Bea Body', subspecialties: ['body'] });
		const head = await seedStudy(t.db.sql, NOW, { accession: 'H1', subspecialty: 'neuro' });
		const abd = await seedStudy(t.db.sql, NOW, { accession: 'B1', subspecialty: 'body', modality: 'CT' });
		const breast = await seedStudy(t.db.sql, NOW, { accession: 'M1', subspecialty: 'breast', modality: 'MG' });

		const r = await router().tick(NOW);
		expect(r.ran).toBe(true);
		expect(r.policyVersion).toBe(1);
		expect((await studyRow(head)).assigned_to).toBe(nora);
		expect((await studyRow(abd)).assigned_to).toBe(bea);
		expect((await studyRow(head)).status).toBe('assigned');
		const [a] = await openAssignments(head);
		expect(a).toMatchObject({ radiologist_id: nora, actor: 'router', policy_version: 1 });
		expect(a.explanation).toContain('neuro match');
		// Nobody reads breast: it waits in the pool with nothing written.
		expect((await studyRow(breast)).status).toBe('triaged');
		expect(await openAssignments(breast)).toHaveLength(0);
		expect(r.waiting).toBe(1);
		const events = await t.db.sql`SELECT actor, payload FROM study_events WHERE study_id = ${head} AND kind = 'assigned'`;
		expect(events).toHaveLength(1);
		expect(events[0].actor).toBe('router');
		expect(events[0].payload.policyVersion).toBe(1);
	});

	it('routes an untriaged study after the grace period, a stat one at once, and never one inside the grace', async () => {
		await seedReader(t.db.sql, NOW, { name: 'Nora', subspecialties: ['neuro'] });
		const fresh = await seedStudy(t.db.sql, NOW, { accession: 'F1', status: 'complete', completeMinAgo: 0.5 });
		const stale = await seedStudy(t.db.sql, NOW, { accession: 'S1', status: 'complete', completeMinAgo: 3 });
		const stat = await seedStudy(t.db.sql, NOW, { accession: 'T1', status: 'complete', completeMinAgo: 0.1, priority: 'stat' });
		await router().tick(NOW);
		expect((await studyRow(fresh)).status).toBe('complete');
		expect((await studyRow(stale)).status).toBe('assigned');
		expect((await studyRow(stat)).status).toBe('assigned');
	});

	it('gives the only free slot to the critical study even though the other one waited longer', async () => {
		await seedReader(t.db.sql, NOW, { name: 'Nora', subspecialties: ['neuro'], maxQueuedRvu: 1 });
		const routine = await seedStudy(t.db.sql, NOW, { accession: 'R1', completeMinAgo: 40, deadlineInMin: 100 });
		const crit = await seedStudy(t.db.sql, NOW, { accession: 'C1', completeMinAgo: 2, deadlineInMin: 170, critical: 'pending' });
		await router().tick(NOW);
		expect((await studyRow(crit)).status).toBe('assigned');
		expect((await studyRow(routine)).status).toBe('triaged');
		const [a] = await openAssignments(crit);
		expect(a.explanation).toContain('AI critical');
	});

	it('a paused reader gets nothing; resumed, they get the work; paused again, the router moves its own unopened work', async () => {
		const nora = await seedReader(t.db.sql, NOW, { name: 'Nora', subspecialties: ['neuro'], status: 'paused' });
		const s = await seedStudy(t.db.sql, NOW, { accession: 'P1' });
		const r1 = await router().tick(NOW);
		expect((await studyRow(s)).status).toBe('triaged');
		expect(r1.waiting).toBe(1);

		await t.db.sql.begin((tx) => setReaderStatusTx(tx, { readerId: nora, status: 'reading', actor: 'chad', reason: null, at: new Date(NOW).toISOString() }));
		await router().tick(NOW + 1000);
		expect((await studyRow(s)).assigned_to).toBe(nora);

		const omar = await seedReader(t.db.sql, NOW, { name: 'Omar', subspecialties: ['neuro'] });
		await t.db.sql.begin((tx) => setReaderStatusTx(tx, { readerId: nora, status: 'paused', actor: 'chad', reason: 'procedure', at: new Date(NOW).toISOString() }));
		await router().tick(NOW + 2000);
		expect((await studyRow(s)).assigned_to).toBe(omar);
		const rows = await t.db.sql`SELECT radiologist_id, released_at FROM assignments WHERE study_id = ${s} ORDER BY id`;
		expect(rows.map((r) => [r.radiologist_id, r.released_at !== null])).toEqual([
			[nora, true],
			[omar, false]
		]);
	});

	it('leaves a charge radiologist’s manual placement alone even when the reader pauses', async () => {
		const nora = await seedReader(t.db.sql, NOW, { name: 'Nora', subspecialties: ['neuro'], status: 'paused' });
		await seedReader(t.db.sql, NOW, { name: 'Omar', subspecialties: ['neuro'] });
		const s = await seedStudy(t.db.sql, NOW, { accession: 'MAN1' });
		await t.db.sql.begin((tx) =>
			assignStudyTx(tx, null, { studyId: s, readerId: nora, actor: 'chad', explanation: 'manual', policyVersion: null, at: new Date(NOW).toISOString() })
		);
		await router().tick(NOW);
		expect((await studyRow(s)).assigned_to).toBe(nora);
	});

	it('does not assign held studies', async () => {
		await seedReader(t.db.sql, NOW, { name: 'Nora', subspecialties: ['neuro'] });
		const held = await seedStudy(t.db.sql, NOW, { accession: 'HOLD1', held: true });
		await router().tick(NOW);
		expect((await studyRow(held)).status).toBe('triaged');
		expect(await openAssignments(held)).toHaveLength(0);
	});

	it('fills a missing SLA deadline from the policy', async () => {
		await seedReader(t.db.sql, NOW, { name: 'Nora', subspecialties: ['neuro'], status: 'paused' });
		const s = await seedStudy(t.db.sql, NOW, { accession: 'D1', deadlineInMin: null, priority: 'stat', patientClass: 'E', completeMinAgo: 5 });
		await router().tick(NOW);
		const { sla_deadline } = await studyRow(s);
		// stat / emergency = 30 min after completion under the default policy.
		expect(new Date(sla_deadline).toISOString()).toBe(new Date(NOW - 5 * 60_000 + 30 * 60_000).toISOString());
	});
});

describe('concurrency', () => {
	it('a manual assignment racing the router: exactly one wins per study, no double assignment', async () => {
		const nora = await seedReader(t.db.sql, NOW, { name: 'Nora', subspecialties: ['neuro'] });
		await seedReader(t.db.sql, NOW, { name: 'Omar', subspecialties: ['neuro'] });
		const ids: number[] = [];
		for (let i = 0; i < 8; i++) ids.push(await seedStudy(t.db.sql, NOW, { accession: `RACE${i}` }));
		const versions = new Map((await t.db.sql`SELECT id, version FROM studies`).map((r) => [r.id as number, r.version as number]));
		const manual = ids.map((id) =>
			t.db.sql.begin((tx) =>
				assignStudyTx(tx, null, {
					studyId: id,
					readerId: nora,
					actor: 'chad',
					explanation: 'manual',
					policyVersion: null,
					expectedVersion: versions.get(id)!,
					at: new Date(NOW).toISOString()
				})
			)
		);
		const [tick, ...outs] = await Promise.all([router().tick(NOW), ...manual]);
		const manualWins = outs.filter((o) => o.status === 'applied').length;
		expect(manualWins + tick.assigned.length).toBe(ids.length);
		for (const id of ids) {
			expect(await openAssignments(id)).toHaveLength(1);
			const [{ n }] = await t.db.sql`SELECT count(*)::int AS n FROM study_events WHERE study_id = ${id} AND kind = 'assigned'`;
			expect(n).toBe(1);
		}
	});

	it('two routers ticking at once assign each study once', async () => {
		await seedReader(t.db.sql, NOW, { name: 'Nora', subspecialties: ['neuro'] });
		await seedReader(t.db.sql, NOW, { name: 'Omar', subspecialties: ['neuro'] });
		for (let i = 0; i < 6; i++) await seedStudy(t.db.sql, NOW, { accession: `TWO${i}` });
		const [a, b] = await Promise.all([router().tick(NOW), router().tick(NOW)]);
		expect(a.assigned.length + b.assigned.length).toBe(6);
		const [{ n }] = await t.db.sql`SELECT count(*)::int AS n FROM assignments`;
		expect(n).toBe(6);
	});
});

describe('SLA risk alerts', () => {
	it('raises an sla_risk event before the deadline, once per level', async () => {
		// The only neuro reader starts in an hour; the study is due in 20 minutes.
		await seedReader(t.db.sql, NOW, { name: 'Nora', subspecialties: ['neuro'], shift: { beforeMin: -60, afterMin: 480 } });
		const s = await seedStudy(t.db.sql, NOW, { accession: 'RISK1', deadlineInMin: 20, expectedReadMinutes: 10 });
		const r = await router().tick(NOW);
		expect(r.alerts).toEqual([{ studyId: s, level: 'at_risk' }]);
		const events = await t.db.sql`SELECT time, payload, idempotency_key FROM study_events WHERE study_id = ${s} AND kind = 'sla_risk'`;
		expect(events).toHaveLength(1);
		expect(events[0].idempotency_key).toBe(`risk:${s}:at_risk`);
		expect(new Date(events[0].time).getTime()).toBeLessThan(Date.parse(events[0].payload.deadline));
		expect(events[0].payload.reason).toContain('next starts in');
		// Another process (fresh memory) ticking again adds nothing.
		const again = await router().tick(NOW + 60_000);
		expect(again.alerts).toEqual([]);
		const [{ n }] = await t.db.sql`SELECT count(*)::int AS n FROM study_events WHERE study_id = ${s} AND kind = 'sla_risk'`;
		expect(n).toBe(1);
	});
});

describe('startRouting', () => {
	let jobs: JobQueue;
	beforeAll(async () => {
		jobs = await startJobQueue(t.url, log);
	});
	afterAll(async () => jobs?.stop());

	it('a study that becomes triaged is assigned live, with the route job or the event kick', async () => {
		const now = Date.now();
		const nora = await seedReader(t.db.sql, now, { name: 'Nora', subspecialties: ['neuro'] });
		const s = await seedStudy(t.db.sql, now, { accession: 'LIVE1', status: 'complete', completeMinAgo: 0 });
		const role = await startRouting({ db: t.db, jobs, log }, { tickMs: 600_000, untriagedAfterSeconds: 600 });
		try {
			expect(role.name).toBe('route');
			// Inside the triage grace the start-up tick leaves it alone.
			expect((await studyRow(s)).status).toBe('complete');
			await applyStudyCommand(t.db.sql, jobs, { studyId: s, event: { kind: 'triaged', at: new Date().toISOString() }, actor: 'triage' });
			let row = await studyRow(s);
			for (let i = 0; i < 100 && row.status !== 'assigned'; i++) {
				await new Promise((r) => setTimeout(r, 100));
				row = await studyRow(s);
			}
			expect(row.assigned_to).toBe(nora);
		} finally {
			await role.stop();
		}
	});
});
