import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from './policy';
import { criticalTerm, itemPriority, itemScore, urgencyCurve } from './scoring';
import { HOUR, MIN, study, T0 } from './testing';
import { CriticalFlag } from './types';

const P = DEFAULT_POLICY;

describe('item priority', () => {
	it('grows as the deadline nears and keeps growing once overdue', () => {
		const xs = [120, 60, 10, 0, -10, -60].map((m) => urgencyCurve(m, 30));
		for (let i = 1; i < xs.length; i++) expect(xs[i]).toBeGreaterThan(xs[i - 1]);
		expect(urgencyCurve(30, 30)).toBeCloseTo(0.5);
	});

	it('puts a fresh critical routine study ahead of an overdue stat and a study past its wait cap', () => {
		const now = T0 + 10 * HOUR;
		const critical = study({ critical: CriticalFlag.pending, arrivedAt: now });
		const overdueStat = study({ priority: 'stat', patientClass: 'E', arrivedAt: now - 3 * HOUR });
		const starved = study({ arrivedAt: now - 72 * HOUR, deadline: now - 48 * HOUR });
		const c = itemPriority(critical, now, P).total;
		expect(c).toBeGreaterThan(itemPriority(overdueStat, now, P).total);
		expect(c).toBeGreaterThan(itemPriority(starved, now, P).total);
	});

	it('ranks a confirmed critical ahead of a pending one', () => {
		expect(criticalTerm(CriticalFlag.confirmed)).toBeGreaterThan(criticalTerm(CriticalFlag.pending));
	});

	it('lets a routine study past its wait cap outrank a stat study about to breach', () => {
		const now = T0 + 9 * HOUR;
		const starved = study({ arrivedAt: now - (P.waitCapMinutes - P.agingLeadMinutes) * MIN });
		const stat = study({ priority: 'stat', patientClass: 'E', arrivedAt: now - 25 * MIN });
		const s = itemPriority(starved, now, P);
		expect(s.pastWaitCap).toBe(true);
		expect(s.total).toBeGreaterThan(itemPriority(stat, now, P).total);
		// One minute earlier it is still normal work, behind the stat.
		expect(itemPriority(starved, now - MIN, P).total).toBeLessThan(itemPriority(stat, now - MIN, P).total);
	});

	it('among studies past the wait cap, the longer wait goes first even against a nearer deadline', () => {
		const now = T0 + 48 * HOUR;
		const older = study({ arrivedAt: now - 20 * HOUR, deadline: now + 20 * HOUR });
		const newer = study({ arrivedAt: now - 10 * HOUR, deadline: now + 2 * HOUR });
		expect(itemPriority(older, now, P).total).toBeGreaterThan(itemPriority(newer, now, P).total);
	});

	it('itemScore matches itemPriority exactly', () => {
		for (const waited of [0, 30, 200, 450, 460, 700, 2000]) {
			for (const crit of [CriticalFlag.none, CriticalFlag.pending]) {
				const s = study({ arrivedAt: T0, critical: crit });
				const now = T0 + waited * MIN;
				expect(itemScore(s.arrivedAt, s.deadline, criticalTerm(crit), now, P)).toBeCloseTo(itemPriority(s, now, P).total, 9);
			}
		}
	});
});
