import { describe, expect, it } from 'vitest';
import { HOUR_MS } from './calendar';
import type { ForecastPoint } from './forecast';
import {
	bottleneckWindows,
	capacityPerHour,
	compareWithShiftPlan,
	erlangC,
	meanWait,
	poolWorkload,
	requiredReaders,
	serviceLevel,
	type SlaTarget
} from './staffing';

/** Erlang C straight from its textbook sum, for cross-checking. */
function erlangCBySum(c: number, a: number): number {
	let sum = 0;
	let term = 1;
	for (let k = 0; k < c; k++) {
		if (k > 0) term *= a / k;
		sum += term;
	}
	const top = ((term * a) / c) * (c / (c - a));
	return top / (sum + top);
}

describe('Erlang C', () => {
	it('matches the textbook call-centre example (10 Erlangs, 180 s handling, 20 s target)', () => {
		// 100 calls per 30 min × 180 s = 10 Erlangs.
		const table = [
			[11, 0.6821, 0.3896, 122.8],
			[12, 0.4494, 0.6402, 40.4],
			[13, 0.2853, 0.7956, 17.1],
			[14, 0.1741, 0.8884, 7.8]
		];
		for (const [c, pWait, sl, asa] of table) {
			expect(erlangC(c, 10)).toBeCloseTo(pWait, 4);
			expect(serviceLevel(c, 10, 180, 20)).toBeCloseTo(sl, 4);
			expect(meanWait(c, 10, 180)).toBeCloseTo(asa, 1);
		}
	});

	it('reduces to closed forms: M/M/1 waits with probability ρ; A = 2, c = 3 gives 4/9', () => {
		expect(erlangC(1, 0.5)).toBeCloseTo(0.5, 12);
		expect(erlangC(2, 1)).toBeCloseTo(1 / 3, 12);
		expect(erlangC(3, 2)).toBeCloseTo(4 / 9, 12);
	});

	it('agrees with the direct sum formula over a grid, and handles edges', () => {
		for (const c of [1, 2, 5, 10, 40])
			for (const rho of [0.1, 0.5, 0.9, 0.99]) expect(erlangC(c, c * rho)).toBeCloseTo(erlangCBySum(c, c * rho), 10);
		expect(erlangC(5, 0)).toBe(0);
		expect(erlangC(5, 5)).toBe(1);
		expect(serviceLevel(5, 6, 10, 5)).toBe(0);
		expect(meanWait(2, 3, 10)).toBe(Infinity);
		expect(erlangC(2000, 1950)).toBeGreaterThan(0);
		expect(erlangC(2000, 1950)).toBeLessThan(1);
	});
});

describe('requiredReaders', () => {
	const sla: SlaTarget = { targetWaitMinutes: 20 / 60, serviceLevel: 0.8 };
	it('gives the textbook 14 agents for 80 % in 20 s at 10 Erlangs', () => {
		expect(requiredReaders(200, 3, sla)).toBe(14);
	});

	it('is the minimal staffing that meets the SLA, and grows with volume and reading time', () => {
		const s: SlaTarget = { targetWaitMinutes: 30, serviceLevel: 0.9 };
		for (const lambda of [0.5, 3, 12, 40]) {
			const c = requiredReaders(lambda, 15, s);
			const load = (lambda * 15) / 60;
			expect(serviceLevel(c, load, 15, 30)).toBeGreaterThanOrEqual(0.9);
			if (c > Math.floor(load) + 1) expect(serviceLevel(c - 1, load, 15, 30)).toBeLessThan(0.9);
		}
		expect(requiredReaders(20, 15, s)).toBeGreaterThan(requiredReaders(10, 15, s));
		expect(requiredReaders(10, 20, s)).toBeGreaterThan(requiredReaders(10, 5, s));
		expect(requiredReaders(0, 15, s)).toBe(0);
	});

	it('honours an occupancy cap and reader productivity', () => {
		const base: SlaTarget = { targetWaitMinutes: 60, serviceLevel: 0.5 };
		const capped = requiredReaders(30, 10, { ...base, maxOccupancy: 0.7 });
		expect((30 * 10) / 60 / capped).toBeLessThanOrEqual(0.7);
		expect(requiredReaders(30, 10, { ...base, productivity: 0.5 })).toBeGreaterThan(requiredReaders(30, 10, base));
	});

	it('capacityPerHour is the inverse: the largest volume the staff can carry', () => {
		const s: SlaTarget = { targetWaitMinutes: 30, serviceLevel: 0.8 };
		for (const c of [1, 3, 8]) {
			const cap = capacityPerHour(c, 12, s);
			expect(requiredReaders(cap * 0.999, 12, s)).toBeLessThanOrEqual(c);
			expect(requiredReaders(cap * 1.01, 12, s)).toBeGreaterThan(c);
		}
	});
});

const T0 = Date.parse('2025-06-02T12:00:00Z');
function points(means: number[], relWidth = 0.3): ForecastPoint[] {
	return means.map((m, k) => ({
		t: T0 + k * HOUR_MS,
		mean: m,
		lo80: Math.max(0, m * (1 - relWidth)),
		hi80: m * (1 + relWidth),
		lo95: Math.max(0, m * (1 - 2 * relWidth)),
		hi95: m * (1 + 2 * relWidth)
	}));
}

describe('poolWorkload', () => {
	it('sums series into site × subspecialty pools with reading-minute weighted workload', () => {
		const pools = poolWorkload([
			{ site: 'north', subspecialty: 'neuro', modality: 'CT', points: points([6, 6]) },
			{ site: 'north', subspecialty: 'neuro', modality: 'MR', points: points([2, 2]) },
			{ site: 'south', subspecialty: 'neuro', modality: 'CT', readMinutes: 10, points: points([1, 1]) }
		]);
		expect(pools).toHaveLength(4);
		const north = pools.find((p) => p.site === 'north' && p.hourStart === T0)!;
		expect(north.exams.mean).toBeCloseTo(8, 9);
		expect(north.workloadMinutes.mean).toBeCloseTo(6 * 12 + 2 * 18, 9);
		expect(north.readMinutes).toBeCloseTo((6 * 12 + 2 * 18) / 8, 9);
		expect(north.required.lo80).toBeLessThanOrEqual(north.required.mean);
		expect(north.required.mean).toBeLessThanOrEqual(north.required.hi80);
		// Pool spread is the root sum of squares, narrower than adding the intervals.
		expect(north.workloadMinutes.hi80 - north.workloadMinutes.mean).toBeLessThan(6 * 0.3 * 12 + 2 * 0.3 * 18);
		expect(pools.find((p) => p.site === 'south')!.workloadMinutes.mean).toBeCloseTo(10, 9);
	});
});

describe('compareWithShiftPlan', () => {
	const sla: SlaTarget = { targetWaitMinutes: 30, serviceLevel: 0.8 };
	// Hour 0 quiet, hour 1 busy, hour 2 very busy, hour 3 busy with a wide interval.
	const pools = poolWorkload(
		[{ site: 'north', subspecialty: 'body', modality: 'CT', readMinutes: 12, points: [...points([2, 20, 40]), ...points([20], 0.9).map((p) => ({ ...p, t: T0 + 3 * HOUR_MS }))] }],
		sla
	);
	const req = pools.map((p) => p.required);

	it('names short hours with a confidence that follows the forecast interval', () => {
		const plan = [0, 1, 2, 3].map((k) => ({
			hourStart: T0 + k * HOUR_MS,
			site: 'north',
			subspecialty: 'body' as const,
			readers: [req[0].hi80 + 2, req[1].mean, req[2].lo80 - 1, req[3].mean - 1][k]
		}));
		const { bottlenecks, surplus } = compareWithShiftPlan(pools, plan, sla);
		const at = (k: number) => bottlenecks.find((b) => b.hourStart === T0 + k * HOUR_MS);
		expect(at(0)).toBeUndefined();
		expect(surplus.map((s) => s.hourStart)).toEqual([T0]);
		expect(surplus[0].surplus).toBe(2);
		// Staffed for the mean: short only if volume runs high.
		expect(at(1)?.confidence).toBe('possible');
		expect(at(1)!.short).toBe(req[1].hi80 - req[1].mean);
		// Below even the optimistic need: almost certainly short.
		expect(at(2)?.confidence).toBe('high');
		expect(at(2)!.short).toBe(req[2].mean - (req[2].lo80 - 1));
		expect(at(2)!.probability).toBeGreaterThan(0.9);
		// One reader under the mean need: more likely than not.
		expect(['likely', 'high']).toContain(at(3)?.confidence);
		expect(at(3)!.probability).toBeGreaterThan(0.5);
		expect(at(3)!.scheduled).toBe(req[3].mean - 1);
	});

	it('treats hours missing from the plan as unstaffed, and merges consecutive hours', () => {
		const { bottlenecks } = compareWithShiftPlan(pools, [], sla);
		expect(bottlenecks).toHaveLength(4);
		expect(bottlenecks.every((b) => b.scheduled === 0 && b.confidence === 'high')).toBe(true);
		const windows = bottleneckWindows(bottlenecks);
		expect(windows).toHaveLength(1);
		expect(windows[0]).toMatchObject({ from: T0, to: T0 + 4 * HOUR_MS, hours: 4, confidence: 'high', maxShort: Math.max(...req.map((r) => r.mean)) });
	});
});
