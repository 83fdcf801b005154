import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../../tests/helpers/db';
import { verifyAuditChain } from '../auth/audit';
import type { User } from '../auth/users';
import { seedSyntheticHistory, addRadiologist } from './testing';
import { aggregateSeries, computeStaffing, getForecastSnapshot, poolGap } from './service';
import { createShift, deleteShift, loadShiftPlan, updateShift, ShiftError } from './shifts';
import { raiseStaffingAlerts, shortShiftAlerts, STAFFING_ALERT_KIND } from './alerts';

const H = 3_600_000;
// Tuesday 2025-10-14 12:00 UTC = 07:00 at the simulated sites (UTC−5).
const NOW = Date.UTC(2025, 9, 14, 12, 20);
const AS_OF = Date.UTC(2025, 9, 14, 12);
const admin: User = { id: 1, username: 'planner', displayName: 'Planner', role: 'admin' };

let t: TestDatabase;
beforeAll(async () => {
	t = await createTestDatabase('fcservice');
	await t.db.sql`INSERT INTO users (id, username, display_name, role, password_hash) VALUES (1, 'planner', 'Planner', 'admin', 'x')`;
	await seedSyntheticHistory(t.db.sql, { sites: ['south'], endMs: AS_OF, weeks: 5 });
});
afterAll(async () => {
	await t?.drop();
});

describe('forecast service', () => {
	it('forecasts every active series from the current hour with ordered 80/95 % intervals', async () => {
		const snap = await getForecastSnapshot(t.db, NOW);
		expect(snap.asOf).toBe(AS_OF);
		expect(snap.series.length).toBeGreaterThan(10);
		for (const s of snap.series) {
			expect(s.points).toHaveLength(168);
			expect(s.points[0].t).toBe(AS_OF);
			for (const p of s.points) {
				// Empirical intervals nest, but need not be centred on the mean (biased residuals shift them).
				expect(p.lo95).toBeGreaterThanOrEqual(0);
				expect(p.lo95).toBeLessThanOrEqual(p.lo80);
				expect(p.lo80).toBeLessThanOrEqual(p.hi80);
				expect(p.hi80).toBeLessThanOrEqual(p.hi95);
			}
			expect(s.backtest.length).toBeGreaterThan(0);
			expect(s.points.some((p) => p.hi95 > p.lo95)).toBe(true);
		}
		// A second call in the same hour is the cached snapshot, not a recomputation.
		expect(await getForecastSnapshot(t.db, NOW + 60_000)).toBe(snap);

		// Outpatient DX at south: busy on a weekday morning, near zero at 3 a.m. local.
		const agg = aggregateSeries(snap, { site: 'south', modality: 'DX', patientClass: 'O' });
		const at = (localHour: number) => agg.forecast.find((p) => new Date(p.t - 5 * H).getUTCHours() === localHour)!;
		expect(at(10).mean).toBeGreaterThan(at(3).mean + 2);
		expect(at(10).hi95).toBeGreaterThan(at(10).hi80);
		expect(agg.history.length).toBe(336);
		expect(agg.history.reduce((a, h) => a + h.v, 0)).toBeGreaterThan(100);
	});

	it('a covered pool has no bottleneck; removing its shifts makes one appear, and the change is audited', async () => {
		const snap = await getForecastSnapshot(t.db, NOW);
		const window = { from: AS_OF, to: AS_OF + 24 * H, site: 'south', subspecialty: 'body' };
		const bare = await computeStaffing(t.db.sql, snap, window);
		expect(bare.windows.length).toBeGreaterThan(0);
		const need = Math.max(...bare.hours.map((h) => h.requiredHi80)) + 1;

		const ids: number[] = [];
		for (let i = 0; i < need; i++) {
			const rid = await addRadiologist(t.db.sql, `Dr Body ${i}`, ['body'], ['south']);
			ids.push(await createShift(t.db.sql, admin, { radiologistId: rid, siteId: 'south', subspecialty: 'body', startsAt: AS_OF, endsAt: AS_OF + 12 * H }));
			await createShift(t.db.sql, admin, { radiologistId: rid, siteId: 'south', subspecialty: 'body', startsAt: AS_OF + 12 * H, endsAt: AS_OF + 24 * H });
		}
		const covered = await computeStaffing(t.db.sql, snap, window);
		expect(covered.bottlenecks).toEqual([]);
		expect(covered.hours.every((h) => h.scheduled === need)).toBe(true);
		expect((await poolGap(t.db.sql, snap, 'south', 'body', AS_OF, AS_OF + 12 * H)).shortReaderHours).toBe(0);

		for (const id of ids) await deleteShift(t.db.sql, admin, id, 'test: remove morning cover');
		const after = await computeStaffing(t.db.sql, snap, window);
		const short = after.bottlenecks.filter((b) => b.hourStart < AS_OF + 12 * H);
		expect(short.length).toBeGreaterThan(0);
		expect(after.bottlenecks.every((b) => b.hourStart < AS_OF + 12 * H)).toBe(true);
		expect(short.every((b) => b.scheduled === 0 && b.short >= 1)).toBe(true);
		const gap = await poolGap(t.db.sql, snap, 'south', 'body', AS_OF, AS_OF + 12 * H);
		expect(gap.shortReaderHours).toBeGreaterThan(0);

		const audits = await t.db.sql`SELECT action, target, reason, details FROM audit_log WHERE action LIKE 'shift.%' ORDER BY id`;
		expect(audits.filter((a) => a.action === 'shift.create')).toHaveLength(2 * need);
		const deletes = audits.filter((a) => a.action === 'shift.delete');
		expect(deletes).toHaveLength(need);
		expect(deletes[0]).toMatchObject({ target: `shift:${ids[0]}`, reason: 'test: remove morning cover' });
		expect(deletes[0].details.before).toMatchObject({ siteId: 'south', subspecialty: 'body', startsAt: new Date(AS_OF).toISOString() });
		expect((await verifyAuditChain(t.db.sql)).ok).toBe(true);
	});

	it('short shifts in the next 72 h become one staffing_alert event each, raised once', async () => {
		const alerts = await shortShiftAlerts(NOW, { db: t.db });
		const body = alerts.find((a) => a.site === 'south' && a.subspecialty === 'body' && a.from < AS_OF + 12 * H);
		expect(body).toBeDefined();
		expect(body!.maxShort).toBeGreaterThanOrEqual(1);
		expect(['likely', 'high']).toContain(body!.confidence);
		expect(alerts.every((a) => a.from >= AS_OF && a.to <= AS_OF + 72 * H)).toBe(true);

		const first = await raiseStaffingAlerts(t.db.sql, alerts, NOW);
		expect(first).toBe(alerts.length);
		expect(await raiseStaffingAlerts(t.db.sql, alerts, NOW)).toBe(0);
		const events = await t.db.sql`SELECT study_id, site_id, subspecialty, idempotency_key, payload FROM study_events WHERE kind = ${STAFFING_ALERT_KIND}`;
		expect(events).toHaveLength(alerts.length);
		const ev = events.find((e) => e.site_id === 'south' && e.subspecialty === 'body' && Date.parse(e.payload.from) === body!.from)!;
		expect(ev.study_id).toBeNull();
		expect(ev.idempotency_key).toBe(`staffing:south:body:${new Date(body!.from).toISOString().slice(0, 13)}`);
		expect(ev.payload.readersShort).toBe(body!.maxShort);
	});

	it('refuses invalid shifts and audits edits with before and after', async () => {
		const rid = await addRadiologist(t.db.sql, 'Dr Neuro', ['neuro'], ['south']);
		const base = { radiologistId: rid, siteId: 'south', subspecialty: 'neuro', startsAt: AS_OF + 30 * H, endsAt: AS_OF + 38 * H };
		const attempt = (s: Partial<typeof base>) => createShift(t.db.sql, admin, { ...base, ...s }).catch((e) => e);
		expect((await attempt({ endsAt: base.startsAt })).message).toMatch(/end after it starts/);
		expect((await attempt({ endsAt: base.startsAt + 30 * H })).message).toMatch(/at most 24 hours/);
		expect((await attempt({ subspecialty: 'body' })).message).toMatch(/does not read body/);
		expect((await attempt({ siteId: 'nowhere' })).message).toMatch(/Unknown site/);
		const id = await createShift(t.db.sql, admin, base);
		const clash = await attempt({ startsAt: base.startsAt + 2 * H, endsAt: base.endsAt + 2 * H });
		expect(clash).toBeInstanceOf(ShiftError);
		expect(clash.code).toBe('overlap');

		const before = await loadShiftPlan(t.db.sql, base.startsAt, base.endsAt + 4 * H);
		expect(before.filter((e) => e.subspecialty === 'neuro')).toHaveLength(8);
		await updateShift(t.db.sql, admin, id, { ...base, endsAt: base.endsAt + 4 * H }, 'extend for the evening');
		const plan = await loadShiftPlan(t.db.sql, base.startsAt, base.endsAt + 4 * H);
		expect(plan.filter((e) => e.subspecialty === 'neuro')).toHaveLength(12);
		const [edit] = await t.db.sql`SELECT reason, details FROM audit_log WHERE action = 'shift.update' AND target = ${`shift:${id}`}`;
		expect(edit.reason).toBe('extend for the evening');
		expect(Date.parse(edit.details.after.endsAt) - Date.parse(edit.details.before.endsAt)).toBe(4 * H);
	});
});
