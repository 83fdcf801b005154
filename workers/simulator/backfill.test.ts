import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../tests/helpers/db';
import { buildNetwork } from './network';
import { arrivalsForHour, HOUR, studiesForHour } from './plan';
import { backfill } from './backfill';
import { seedRoster } from './roster';

let t: TestDatabase;
beforeAll(async () => {
	t = await createTestDatabase('sim');
});
afterAll(async () => {
	await t?.drop();
});

// Two sites, one and a half days ending mid-afternoon: some studies are still open at the end.
const net = buildNetwork({ sites: ['south', 'east'] });
const seed = 42;
const to = Date.UTC(2025, 2, 4, 20, 30);
const from = to - 36 * HOUR - 30 * 60_000;

describe('backfill', () => {
	it('seeds the roster idempotently', async () => {
		const a = await seedRoster(t.db.sql, net, from, to + 7 * 24 * HOUR);
		const b = await seedRoster(t.db.sql, net, from, to + 7 * 24 * HOUR);
		expect([...b.ids.entries()]).toEqual([...a.ids.entries()]);
		expect(a.shiftsAdded).toBeGreaterThan(0);
		expect(b.shiftsAdded).toBe(0);
		const [{ n }] = await t.db.sql`SELECT count(*)::int AS n FROM radiologists`;
		expect(n).toBe(net.radiologists.length);
		const sites = await t.db.sql`SELECT id FROM sites ORDER BY id`;
		expect(sites.map((s) => s.id)).toEqual(['east', 'south']);
		const [{ future }] = await t.db.sql`SELECT count(*)::int AS future FROM shifts WHERE starts_at > ${new Date(to + 6 * 24 * HOUR)}`;
		expect(future).toBeGreaterThan(0);
	});

	it('writes orders, studies and events whose hourly rollup matches the generated arrivals, and is idempotent', async () => {
		const { ids } = await seedRoster(t.db.sql, net, from, to);
		const r = await backfill(t.db.sql, net, { seed, fromMs: from, toMs: to, ids, batchHours: 12 });
		// Expected: every study ordered in [from, to), per hour × series.
		const expected = new Map<string, number>();
		let total = 0;
		const firstHour = Math.floor(from / HOUR) * HOUR;
		for (let h = firstHour; h < to; h += HOUR) {
			const plans = studiesForHour(net, seed, h).filter((p) => p.orderedAt >= from && p.orderedAt < to);
			for (const p of plans) {
				const k = `${h}|${p.site.id}|${p.exam.subspecialty}|${p.exam.modality}|${p.patientClass}`;
				expected.set(k, (expected.get(k) ?? 0) + 1);
				total++;
			}
		}
		// Sanity: for full hours the plans are exactly the Poisson draws.
		const fullHour = firstHour + 2 * HOUR;
		expect(studiesForHour(net, seed, fullHour)).toHaveLength(arrivalsForHour(net, seed, fullHour).reduce((a, c) => a + c.count, 0));
		expect(r.studies).toBe(total);
		expect(r.orders).toBe(total);

		const rows = await t.db.sql`SELECT bucket, site_id, subspecialty, modality, patient_class, sum(orders)::int AS orders,
			sum(reported)::int AS reported, sum(tat_sum_min)::float AS tat FROM study_hourly GROUP BY 1, 2, 3, 4, 5`;
		const got = new Map<string, number>();
		for (const row of rows) if (row.orders > 0) got.set(`${(row.bucket as Date).getTime()}|${row.site_id}|${row.subspecialty}|${row.modality}|${row.patient_class}`, row.orders);
		expect(got).toEqual(expected);

		// Turnaround in the rollup equals the studies' own complete → reported minutes.
		const [tat] = await t.db.sql`SELECT count(*)::int AS n, coalesce(sum(round(extract(epoch FROM reported_at - complete_at) / 6) / 10), 0)::float AS minutes
			FROM studies WHERE status = 'reported'`;
		const rolled = rows.reduce((a, row) => a + row.reported, 0);
		const rolledTat = rows.reduce((a, row) => a + row.tat, 0);
		expect(rolled).toBe(tat.n);
		expect(rolledTat).toBeCloseTo(tat.minutes, 0);

		// The end of the window leaves a realistic open worklist, and nothing happens after `to`.
		const open = await t.db.sql`SELECT status, count(*)::int AS n FROM studies GROUP BY status`;
		const byStatus = Object.fromEntries(open.map((o) => [o.status, o.n]));
		expect(byStatus.reported).toBeGreaterThan(total / 2);
		expect((byStatus.ordered ?? 0) + (byStatus.arriving ?? 0) + (byStatus.complete ?? 0) + (byStatus.assigned ?? 0) + (byStatus.opened ?? 0)).toBeGreaterThan(0);
		const [late] = await t.db.sql`SELECT count(*)::int AS n FROM study_events WHERE time >= ${new Date(to)}`;
		expect(late.n).toBe(0);
		const [events] = await t.db.sql`SELECT count(*)::int AS n FROM study_events`;
		expect(events.n).toBe(r.events);

		// Assigned studies point at a seeded radiologist with privileges at the site.
		const [badAssign] = await t.db.sql`SELECT count(*)::int AS n FROM studies s WHERE s.assigned_to IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM radiologist_sites rs WHERE rs.radiologist_id = s.assigned_to AND rs.site_id = s.site_id)`;
		expect(badAssign.n).toBe(0);

		// Run again: nothing doubles.
		const again = await backfill(t.db.sql, net, { seed, fromMs: from, toMs: to, ids, batchHours: 12 });
		expect(again.studies).toBe(0);
		expect(again.skipped).toBe(total);
		const [events2] = await t.db.sql`SELECT count(*)::int AS n FROM study_events`;
		expect(events2.n).toBe(events.n);
	});
});
