import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../../tests/helpers/db';
import { DEFAULT_POLICY, PolicyError, type RoutingPolicy } from '../../domain/routing/policy';
import type { User } from '../auth/users';
import { currentPolicy, policyHistory } from './policy-store';
import {
	candidateHash,
	loadRoster,
	loadReplayStudies,
	MAX_REPLAY_DAYS,
	PublishError,
	publishReplayed,
	recordReplayReceipt,
	ReplayDataError,
	rollbackPolicy,
	runReplayComparison
} from './replay-data';
import { seedReplayHistory, type SeededHistory } from './replay-data.fixtures';

const DAY = 86_400_000;
const FROM = Date.UTC(2025, 2, 3); // a Monday, long past: the window is fully recorded
let t: TestDatabase;
let h: SeededHistory;
let admin: User;

/** Nearest-rank percentile, the definition the engine uses. */
function pct(values: number[], p: number): number {
	const s = [...values].sort((a, b) => a - b);
	return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
}

beforeAll(async () => {
	t = await createTestDatabase('replay');
	h = await seedReplayHistory(t.db.sql, { from: FROM, days: 2, seed: 11, perHour: 7 });
	const [u] = await t.db.sql`INSERT INTO users (username, display_name, role, password_hash)
		VALUES ('alice', 'Alice Admin', 'admin', 'x') RETURNING id`;
	admin = { id: Number(u.id), username: 'alice', displayName: 'Alice Admin', role: 'admin' };
});

afterAll(async () => {
	await t?.drop();
});

const window = () => ({ from: h.from, to: h.to });
const withWeights = (over: Partial<RoutingPolicy['weights']>): RoutingPolicy => ({
	...DEFAULT_POLICY,
	version: 'candidate',
	weights: { ...DEFAULT_POLICY.weights, ...over }
});

describe('loading recorded history', () => {
	it('loads exactly the non-cancelled studies that became complete in [from, to), with recorded times', async () => {
		const studies = await loadReplayStudies(t.db.sql, h.from, h.to);
		expect(studies.map((s) => Number(s.studyId)).sort((a, b) => a - b)).toEqual(h.inWindow.map((s) => s.id).sort((a, b) => a - b));
		const byId = new Map(h.inWindow.map((s) => [String(s.id), s]));
		for (const s of studies) {
			const seeded = byId.get(s.studyId)!;
			expect(s.arrivedAt).toBe(seeded.completeAt);
			expect(s.actualReportedAt ?? null).toBe(seeded.reportedAt);
			expect(s.priority).toBe(seeded.priority);
			expect(s.patientClass).toBe(seeded.patientClass);
		}
	});

	it('loads the roster with pace, site privileges and merged shifts', async () => {
		const roster = await loadRoster(t.db.sql, h.from, h.to);
		const ada = roster.find((r) => r.id === String(h.readers.ada))!;
		expect(ada.paceFactor).toBeCloseTo(0.9);
		expect(ada.siteCredentials).toEqual(['north', 'south']);
		// Two recorded 6-hour blocks per day become one 12-hour shift.
		for (const s of ada.shifts) expect(s.end - s.start).toBe(12 * 3_600_000);
		expect(roster.find((r) => r.id === String(h.readers.dee))!.paceFactor).toBeCloseTo(1.2);
	});
});

describe('runReplayComparison', () => {
	it('returns candidate, current, FIFO and actual over the same studies with sane figures', async () => {
		const r = await runReplayComparison(t.db.sql, withWeights({ urgency: 70 }), window(), { now: h.to + 10 * DAY });
		expect(r.studies).toBe(h.inWindow.length);
		expect(r.readers).toBe(4);
		expect(r.currentVersion).toBe(0);
		expect(r.current.policyVersion).toBe(DEFAULT_POLICY.version);
		for (const s of [r.candidate, r.current, r.fifo, r.actual]) {
			expect(s.count).toBe(h.inWindow.length);
			expect(s.tatP50Min).toBeGreaterThan(0);
			expect(s.tatP90Min).toBeGreaterThanOrEqual(s.tatP50Min);
			expect(s.maxWaitMin).toBeGreaterThanOrEqual(s.waitP90Min);
			expect(s.breaches).toBeGreaterThanOrEqual(0);
			expect(s.breaches).toBeLessThanOrEqual(s.count);
			const perPriority = Object.values(s.perPriority).reduce((n, p) => n + p.count, 0);
			expect(perPriority).toBe(s.count);
		}
		// Simulated readers work the whole window plus a day: everything gets read.
		for (const s of [r.candidate, r.current, r.fifo]) expect(s.read).toBe(h.inWindow.length);
		// "Actual" is what the database recorded, not a simulation.
		const reported = h.inWindow.filter((s) => s.reportedAt !== null);
		expect(r.actual.read).toBe(reported.length);
		expect(r.actual.unfinished).toBe(h.inWindow.length - reported.length);
		const tats = reported.map((s) => (s.reportedAt! - s.completeAt) / 60_000);
		expect(r.actual.tatP50Min).toBeCloseTo(pct(tats, 0.5), 1);
		expect(r.actual.tatP90Min).toBeCloseTo(pct(tats, 0.9), 1);
		const stat = reported.filter((s) => s.priority === 'stat');
		expect(r.actual.perPriority.stat.read).toBe(stat.length);
		expect(r.elapsedSeconds).toBeGreaterThanOrEqual(0);
	});

	it('is deterministic: the same candidate over the same window gives the same answer', async () => {
		const a = await runReplayComparison(t.db.sql, withWeights({ aging: 10 }), window(), { now: h.to + 10 * DAY });
		const b = await runReplayComparison(t.db.sql, withWeights({ aging: 10 }), window(), { now: h.to + 10 * DAY });
		expect({ ...a, elapsedSeconds: 0 }).toEqual({ ...b, elapsedSeconds: 0 });
	});

	it('a candidate identical to the policy in force replays exactly like it; the routing policy beats FIFO on stat turnaround and breaches', async () => {
		const r = await runReplayComparison(t.db.sql, { ...DEFAULT_POLICY }, window(), { now: h.to + 10 * DAY });
		const { policyVersion: _a, ...cand } = r.candidate;
		const { policyVersion: _b, ...cur } = r.current;
		expect(cand).toEqual(cur);
		expect(r.targetsDiffer).toBe(false);
		expect(r.current.perPriority.stat.tatP50Min).toBeLessThan(r.fifo.perPriority.stat.tatP50Min);
		expect(r.current.breaches).toBeLessThan(r.fifo.breaches);
	});

	it('judges the candidate by its own SLA targets and says when they differ from the policy in force', async () => {
		const loose = structuredClone(DEFAULT_POLICY) as RoutingPolicy;
		for (const p of Object.values(loose.slaTargetsMinutes)) for (const c of Object.keys(p) as (keyof typeof p)[]) p[c] *= 20;
		const r = await runReplayComparison(t.db.sql, loose, window(), { now: h.to + 10 * DAY });
		expect(r.targetsDiffer).toBe(true);
		expect(r.actual.breaches).toBeLessThan((await runReplayComparison(t.db.sql, DEFAULT_POLICY, window(), { now: h.to + 10 * DAY })).actual.breaches);
	});

	it('refuses windows longer than 35 days, or backwards, with a clear message', async () => {
		const err = await runReplayComparison(t.db.sql, DEFAULT_POLICY, { from: h.from, to: h.from + (MAX_REPLAY_DAYS + 1) * DAY }).catch((e) => e);
		expect(err).toBeInstanceOf(ReplayDataError);
		expect(err.code).toBe('window_too_long');
		expect(err.message).toContain('35 days');
		const back = await runReplayComparison(t.db.sql, DEFAULT_POLICY, { from: h.to, to: h.from }).catch((e) => e);
		expect(back.code).toBe('bad_window');
	});

	it('refuses an invalid candidate and lists every problem', async () => {
		const bad = { ...DEFAULT_POLICY, weights: { ...DEFAULT_POLICY.weights, urgency: -1 }, waitCapMinutes: 0 };
		const err = await runReplayComparison(t.db.sql, bad, window()).catch((e) => e);
		expect(err).toBeInstanceOf(PolicyError);
		expect(err.errors).toEqual(expect.arrayContaining([expect.stringContaining('weights.urgency'), expect.stringContaining('waitCapMinutes')]));
	});
});

describe('publishing after a replay', () => {
	it('refuses to publish a candidate nobody replayed, or one changed since its replay', async () => {
		const candidate = withWeights({ loadBalance: 17 });
		await expect(publishReplayed(t.db.sql, admin, candidate, null, 'no replay')).rejects.toMatchObject({ code: 'replay_required' });
		// A hash for the body alone is not enough: the server needs its own receipt.
		await expect(publishReplayed(t.db.sql, admin, candidate, candidateHash(candidate), 'forged')).rejects.toBeInstanceOf(PublishError);
		const r = await runReplayComparison(t.db.sql, candidate, window(), { now: h.to + 10 * DAY });
		await recordReplayReceipt(t.db.sql, admin, candidateHash(candidate), r);
		const changed = withWeights({ loadBalance: 18 });
		await expect(publishReplayed(t.db.sql, admin, changed, candidateHash(candidate), 'changed')).rejects.toMatchObject({ code: 'replay_required' });
		expect((await currentPolicy(t.db.sql)).version).toBe(0);
	});

	it('publishes a replayed candidate as the next version with an audit row; rollback publishes the old body anew', async () => {
		const candidate = withWeights({ continuity: 3 });
		const hash = candidateHash(candidate);
		const r = await runReplayComparison(t.db.sql, candidate, window(), { now: h.to + 10 * DAY });
		await recordReplayReceipt(t.db.sql, admin, hash, r);
		const before = (await currentPolicy(t.db.sql)).version;
		const published = await publishReplayed(t.db.sql, admin, candidate, hash, 'less continuity');
		expect(published.version).toBe(before + 1);
		const now = await currentPolicy(t.db.sql);
		expect(now.version).toBe(before + 1);
		expect(now.policy.weights.continuity).toBe(3);
		const audits = await t.db.sql`SELECT action, target, reason, username FROM audit_log WHERE action = 'policy.publish' ORDER BY id`;
		expect(audits.at(-1)).toMatchObject({ target: `policy:v${before + 1}`, reason: 'less continuity', username: 'alice' });

		// The receipt is spent: publishing the same body again needs a fresh replay against the new version.
		await expect(publishReplayed(t.db.sql, admin, candidate, hash, 'again')).rejects.toMatchObject({ code: 'replay_required' });

		// The replay comparison now runs "current" under the published version.
		const again = await runReplayComparison(t.db.sql, DEFAULT_POLICY, window(), { now: h.to + 10 * DAY });
		expect(again.currentVersion).toBe(before + 1);

		const back = await rollbackPolicy(t.db.sql, admin, 0, 'undo');
		expect(back.version).toBe(before + 2);
		expect((await currentPolicy(t.db.sql)).policy.weights).toEqual(DEFAULT_POLICY.weights);
		const history = await policyHistory(t.db.sql);
		expect(history.map((p) => p.version).slice(0, 3)).toEqual([before + 2, before + 1, before]);
		const [rb] = await t.db.sql`SELECT details FROM audit_log WHERE action = 'policy.rollback' ORDER BY id DESC LIMIT 1`;
		expect(rb.details).toEqual({ from: 0, to: before + 2 });
		await expect(rollbackPolicy(t.db.sql, admin, 99, null)).rejects.toMatchObject({ code: 'unknown_version' });
	});
});
