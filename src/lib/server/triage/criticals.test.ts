import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../../tests/helpers/db';
import { createUser, type User } from '../auth/users';
import { verifyAuditChain } from '../auth/audit';
import { CRITICAL_CONFIRM_SLA_MINUTES, CriticalsError, decideCritical, governanceStats, openFlags, recentDecisions } from './criticals';

let t: TestDatabase;
const users: Record<'chad' | 'manny' | 'ada', User> = {} as never;
const NOW = new Date('2026-03-02T10:00:00.000Z');

beforeAll(async () => {
	t = await createTestDatabase('triage_criticals');
	const sql = t.db.sql;
	const system = { userId: null, username: 'test', role: null };
	users.chad = await createUser(sql, { username: 'chad', role: 'charge', password: 'charge-password-1' }, system);
	users.manny = await createUser(sql, { username: 'manny', role: 'manager', password: 'manager-password-1' }, system);
	users.ada = await createUser(sql, { username: 'ada', role: 'admin', password: 'admin-password-12' }, system);
	await sql`INSERT INTO sites (id, name) VALUES ('main', 'Main Hospital')`;
});
afterAll(async () => t?.drop());

/** A stat study with one pending flag raised `minutesAgo` before NOW; returns the flag id and study id. */
async function flagged(accession: string, minutesAgo: number, model = 'ich-ct-demo'): Promise<{ flagId: number; studyId: number }> {
	const sql = t.db.sql;
	const raised = new Date(NOW.getTime() - minutesAgo * 60_000);
	const [s] = await sql`INSERT INTO studies (accession_number, site_id, modality, priority, status, critical_flag, last_image_at, exam_name)
		VALUES (${accession}, 'main', 'CT', 'stat', 'triaged', 'pending', ${new Date(raised.getTime() - 40_000)}, 'CT head without contrast') RETURNING id`;
	await sql`INSERT INTO ai_results (study_id, model_id, model_version, backend, mode, score, label, critical, status, latency_ms, created_at)
		VALUES (${s.id}, ${model}, '1.0.0', 'wasm', 'active', 0.93, 'hemorrhage', true, 'ok', 120, ${raised})`;
	const [f] = await sql`INSERT INTO critical_flags (study_id, model_id, model_version, finding, score, status, raised_at, image_to_alert_ms)
		VALUES (${s.id}, ${model}, '1.0.0', 'hemorrhage', 0.93, 'pending', ${raised}, 40000) RETURNING id`;
	return { flagId: f.id, studyId: s.id };
}

const studyRow = async (id: number) => (await t.db.sql`SELECT priority, critical_flag, version FROM studies WHERE id = ${id}`)[0];
const flagRow = async (id: number) => (await t.db.sql`SELECT status, decided_by, reason FROM critical_flags WHERE id = ${id}`)[0];

describe('critical flags', () => {
	it('lists open flags oldest first with age and the confirmation clock', async () => {
		const a = await flagged('OPEN-1', 20);
		const b = await flagged('OPEN-2', 5);
		const open = await openFlags(t.db.sql, { now: NOW });
		const mine = open.filter((f) => [a.flagId, b.flagId].includes(f.id));
		expect(mine.map((f) => f.accession)).toEqual(['OPEN-1', 'OPEN-2']);
		expect(mine[0]).toMatchObject({ finding: 'hemorrhage', modelId: 'ich-ct-demo', modelVersion: '1.0.0', ageMs: 20 * 60_000, status: 'pending' });
		expect(mine[0].remainingMs).toBe((CRITICAL_CONFIRM_SLA_MINUTES - 20) * 60_000);
		expect(mine[1].remainingMs).toBe((CRITICAL_CONFIRM_SLA_MINUTES - 5) * 60_000);
	});

	it('a manager may not decide; a dismissal needs a reason; nothing changes on refusal', async () => {
		const { flagId, studyId } = await flagged('REFUSE-1', 3);
		const before = await studyRow(studyId);
		const e = await decideCritical(t.db.sql, users.manny, { flagId, decision: 'confirm' }).catch((x) => x);
		expect(e).toBeInstanceOf(CriticalsError);
		expect(e).toMatchObject({ code: 'forbidden', status: 403 });
		await expect(decideCritical(t.db.sql, users.chad, { flagId, decision: 'dismiss', reason: '  ' })).rejects.toMatchObject({ code: 'reason_required', status: 422 });
		expect(await flagRow(flagId)).toMatchObject({ status: 'pending', decided_by: null });
		expect(await studyRow(studyId)).toEqual(before);
		expect(await t.db.sql`SELECT 1 FROM audit_log WHERE target = ${`study:${studyId}`}`).toHaveLength(0);
	});

	it('a charge radiologist confirms: flag, study flag, event and audit in one go; a second decision is refused', async () => {
		const { flagId, studyId } = await flagged('CONFIRM-1', 4);
		const r = await decideCritical(t.db.sql, users.chad, { flagId, decision: 'confirm', reason: 'agree, acute SDH' });
		expect(r.flag).toMatchObject({ status: 'confirmed', decidedBy: 'chad' });
		expect(await flagRow(flagId)).toMatchObject({ status: 'confirmed', decided_by: 'chad', reason: 'agree, acute SDH' });
		expect(await studyRow(studyId)).toMatchObject({ critical_flag: 'confirmed', priority: 'stat' });
		const [ev] = await t.db.sql`SELECT kind, actor, payload FROM study_events WHERE study_id = ${studyId}`;
		expect(ev).toMatchObject({ kind: 'critical_confirmed', actor: 'chad', payload: { flagId, finding: 'hemorrhage', modelId: 'ich-ct-demo' } });
		const [a] = await t.db.sql`SELECT username, action, reason, details FROM audit_log WHERE target = ${`study:${studyId}`}`;
		expect(a).toMatchObject({ username: 'chad', action: 'critical.confirm', details: { flagId, model: 'ich-ct-demo@1.0.0' } });
		await expect(decideCritical(t.db.sql, users.ada, { flagId, decision: 'dismiss', reason: 'no' })).rejects.toMatchObject({ code: 'already_decided', status: 409 });
		expect((await openFlags(t.db.sql, { now: NOW })).some((f) => f.id === flagId)).toBe(false);
	});

	it('an admin dismisses with a reason: the flag clears but the priority stays stat', async () => {
		const { flagId, studyId } = await flagged('DISMISS-1', 2);
		await decideCritical(t.db.sql, users.ada, { flagId, decision: 'dismiss', reason: 'calcification, not blood', at: NOW });
		expect(await studyRow(studyId)).toMatchObject({ critical_flag: 'dismissed', priority: 'stat' });
		const [ev] = await t.db.sql`SELECT kind FROM study_events WHERE study_id = ${studyId}`;
		expect(ev.kind).toBe('critical_dismissed');
		const recent = await recentDecisions(t.db.sql, { now: new Date(NOW.getTime() + 60_000) });
		expect(recent.find((f) => f.id === flagId)).toMatchObject({ status: 'dismissed', reason: 'calcification, not blood', decidedBy: 'ada' });
		expect((await verifyAuditChain(t.db.sql)).ok).toBe(true);
	});

	it('governance: runs, flag rate, confirmation rate and alert/latency percentiles per model version, by day', async () => {
		const sql = t.db.sql;
		// a separate model id keeps these figures apart from the other tests
		const ids = [await flagged('GOV-1', 30, 'gov-model'), await flagged('GOV-2', 20, 'gov-model'), await flagged('GOV-3', 10, 'gov-model')];
		await decideCritical(sql, users.chad, { flagId: ids[0].flagId, decision: 'confirm' });
		await decideCritical(sql, users.chad, { flagId: ids[1].flagId, decision: 'dismiss', reason: 'artefact' });
		const [s] = await sql`INSERT INTO studies (accession_number, site_id, modality, status) VALUES ('GOV-4', 'main', 'CT', 'triaged') RETURNING id`;
		await sql`INSERT INTO ai_results (study_id, model_id, model_version, backend, mode, score, label, critical, status, latency_ms, created_at)
			VALUES (${s.id}, 'gov-model', '1.0.0', 'wasm', 'active', 0.1, 'no_hemorrhage', false, 'ok', 300, ${NOW})`;
		const [g] = (await governanceStats(sql, { now: new Date(NOW.getTime() + 60_000), days: 7 })).filter((x) => x.modelId === 'gov-model');
		expect(g).toMatchObject({ studiesRun: 4, scored: 4, criticalResults: 3, flagsRaised: 3, confirmed: 1, dismissed: 1, pending: 1 });
		expect(g.flagRate).toBeCloseTo(0.75);
		expect(g.confirmationRate).toBeCloseTo(0.5);
		expect(g.alertMedianMs).toBe(40000);
		expect(g.latencyMedianMs).toBe(120);
		expect(g.latencyP95Ms).toBeGreaterThan(120);
		expect(g.byDay).toHaveLength(7);
		expect(g.byDay.at(-1)).toMatchObject({ day: '2026-03-02', runs: 4, flags: 3, confirmed: 1, dismissed: 1 });
	});
});
