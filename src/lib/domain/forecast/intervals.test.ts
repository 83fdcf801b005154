import { describe, expect, it } from 'vitest';
import { mase, meanAbsoluteError, seasonalNaiveScale } from './backtest';
import { intervalAt, normalCdf, normalQuantile, quantileSorted, residualQuantiles } from './intervals';
import { createRng } from '../simulation/random';

describe('accuracy measures', () => {
	it('computes MAE and MASE against the seasonal naive scale', () => {
		const y = Array.from({ length: 48 }, (_, i) => (i % 24) + (i >= 24 ? 2 : 0));
		// Daily naive (history shorter than two weeks): every difference is 2.
		expect(seasonalNaiveScale(y)).toBeCloseTo(2, 12);
		expect(meanAbsoluteError([1, 2, 3], [2, 2, 5])).toBeCloseTo(1, 12);
		expect(mase([1, 2, 3], [2, 2, 5], 2)).toBeCloseTo(0.5, 12);
		expect(mase([1], [1], 0)).toBe(0);
		expect(mase([1], [2], 0)).toBe(Infinity);
	});
});

describe('normal helpers', () => {
	it('invert each other and hit known quantiles', () => {
		expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 5);
		expect(normalQuantile(0.9)).toBeCloseTo(1.281552, 5);
		expect(normalQuantile(0.001)).toBeCloseTo(-3.090232, 5);
		for (const p of [0.01, 0.2, 0.5, 0.8, 0.99]) expect(normalCdf(normalQuantile(p))).toBeCloseTo(p, 6);
	});
	it('interpolates sample quantiles', () => {
		expect(quantileSorted([1, 2, 3, 4, 5], 0.5)).toBe(3);
		expect(quantileSorted([1, 2, 3, 4, 5], 0.1)).toBeCloseTo(1.4, 12);
		expect(quantileSorted([], 0.5)).toBeNaN();
	});
});

describe('residualQuantiles', () => {
	it('covers the requested share of fresh draws when errors are Poisson-like at varied levels', () => {
		const rng = createRng('intervals');
		const level = (k: number) => 1 + 20 * ((k * 7) % 24) / 24;
		const fold = () => {
			const forecast = Array.from({ length: 336 }, (_, k) => level(k));
			return { forecast, actual: forecast.map((m) => rng.poisson(m)) };
		};
		const q = residualQuantiles([fold(), fold(), fold()], 336, [80, 95]);
		let in80 = 0;
		let in95 = 0;
		const test = fold();
		test.forecast.forEach((m, k) => {
			const [lo80, hi80] = intervalAt(q, 80, k, m);
			const [lo95, hi95] = intervalAt(q, 95, k, m);
			if (test.actual[k] >= lo80 && test.actual[k] <= hi80) in80++;
			if (test.actual[k] >= lo95 && test.actual[k] <= hi95) in95++;
		});
		expect(in80 / 336).toBeGreaterThan(0.72);
		expect(in80 / 336).toBeLessThan(0.9);
		expect(in95 / 336).toBeGreaterThan(0.9);
	});

	it('reuses the last backtested lead time beyond it, and falls back to a normal band without residuals', () => {
		const q = residualQuantiles([{ forecast: new Array(24).fill(4), actual: new Array(24).fill(6) }], 72, [80]);
		expect(intervalAt(q, 80, 60, 4)).toEqual(intervalAt(q, 80, 0, 4));
		const empty = residualQuantiles([], 24, [80]);
		const [lo, hi] = intervalAt(empty, 80, 0, 9);
		expect(lo).toBeCloseTo(9 - 1.2816 * 3, 3);
		expect(hi).toBeCloseTo(9 + 1.2816 * 3, 3);
		expect(intervalAt(empty, 80, 0, 0)[0]).toBe(0);
		expect(() => intervalAt(empty, 50, 0, 1)).toThrow(RangeError);
	});
});
