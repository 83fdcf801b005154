import { describe, expect, it } from 'vitest';
import { HOUR_MS } from './calendar';
import {
	ModelName,
	buildCalendar,
	fitHoltWinters,
	fitRegression,
	forecastHoltWinters,
	forecastRegression,
	runModels,
	seasonalNaive
} from './models';

const MONDAY = Date.parse('2025-03-10T00:00:00Z');
const daily = (h: number) => 5 + 4 * Math.sin((2 * Math.PI * h) / 24);
const weekly = (how: number) => (how >= 120 ? -3 : 1); // weekends quieter

function signal(n: number, trend = 0, start = 0): number[] {
	return Array.from({ length: n }, (_, i) => daily((start + i) % 24) + weekly((start + i) % 168) + trend * (start + i));
}

describe('seasonalNaive', () => {
	it('repeats the last observed week', () => {
		const y = Array.from({ length: 400 }, (_, i) => i);
		const f = seasonalNaive(y, 200);
		expect(f[0]).toBe(400 - 168);
		expect(f[167]).toBe(399);
		expect(f[168]).toBe(400 - 168);
	});
	it('falls back to the last day, then to the last value, for short histories', () => {
		expect(Array.from(seasonalNaive([1, 2, 3], 2))).toEqual([3, 3]);
		const day = Array.from({ length: 30 }, (_, i) => i);
		expect(seasonalNaive(day, 1)[0]).toBe(6);
	});
});

describe('fitRegression', () => {
	it('recovers an exact hour-of-week pattern and a linear trend', () => {
		const n = 168 * 6;
		const cal = buildCalendar(MONDAY, n + 168);
		const y = signal(n, 0.01);
		const fit = fitRegression(y, { how: cal.how.subarray(0, n), holiday: cal.holiday.subarray(0, n) });
		expect(fit.trend).toBeCloseTo(0.01, 8);
		const f = forecastRegression(fit, { how: cal.how.subarray(n), holiday: cal.holiday.subarray(n) });
		const truth = signal(168, 0.01, n);
		f.forEach((v, k) => expect(v).toBeCloseTo(truth[k], 6));
	});

	it('treats a holiday like a Sunday plus a learned level shift', () => {
		const n = 168 * 6;
		const holidays = ['2025-03-19', '2025-04-16']; // Wednesdays in history and horizon
		const cal = buildCalendar(MONDAY, n + 168, { holidays });
		const y = Array.from({ length: n + 168 }, (_, i) => (cal.holiday[i] ? 0.5 : 0) + (cal.holiday[i] ? daily(i % 24) + weekly(144) : daily(i % 24) + weekly(i % 168)));
		const fit = fitRegression(y.slice(0, n), { how: cal.how.subarray(0, n), holiday: cal.holiday.subarray(0, n) });
		expect(fit.holiday).toBeCloseTo(0.5, 6);
		const f = forecastRegression(fit, { how: cal.how.subarray(n), holiday: cal.holiday.subarray(n) });
		f.forEach((v, k) => expect(v).toBeCloseTo(y[n + k], 6));
	});
});

describe('Holt-Winters (double seasonal)', () => {
	it('recovers a noiseless daily + weekly pattern', () => {
		const n = 168 * 8;
		const cal = buildCalendar(MONDAY, n + 336);
		const y = signal(n);
		const fit = fitHoltWinters(y, { how: cal.how.subarray(0, n), holiday: cal.holiday.subarray(0, n) });
		const f = forecastHoltWinters(fit, { how: cal.how.subarray(n), holiday: cal.holiday.subarray(n) });
		const truth = signal(336, 0, n);
		f.forEach((v, k) => expect(Math.abs(v - truth[k])).toBeLessThan(0.05));
	});

	it('follows a level shift faster than the weekly pattern would', () => {
		const n = 168 * 8;
		const cal = buildCalendar(MONDAY, n + 24);
		const y = signal(n).map((v, i) => (i >= n - 168 * 2 ? v + 3 : v));
		const fit = fitHoltWinters(y, { how: cal.how.subarray(0, n), holiday: cal.holiday.subarray(0, n) });
		const f = forecastHoltWinters(fit, { how: cal.how.subarray(n), holiday: cal.holiday.subarray(n) });
		const truth = signal(24, 0, n).map((v) => v + 3);
		const mae = f.reduce((a, v, k) => a + Math.abs(v - truth[k]), 0) / 24;
		expect(mae).toBeLessThan(0.5);
	});
});

describe('runModels', () => {
	it('runs every model, averages hw and regression in combo, and never forecasts below zero', () => {
		const n = 168 * 4;
		const cal = buildCalendar(MONDAY, n + 48);
		// A series that trends down steeply: a linear extrapolation goes negative.
		const y = Array.from({ length: n }, (_, i) => Math.max(0, 20 - 0.03 * i));
		const out = runModels(y, 48, cal, [ModelName.seasonalNaive, ModelName.holtWinters, ModelName.regression, ModelName.combination]);
		expect(out.size).toBe(4);
		for (const f of out.values()) for (const v of f) expect(v).toBeGreaterThanOrEqual(0);
		const hw = out.get('hw')!;
		const reg = out.get('regression')!;
		const combo = out.get('combo')!;
		combo.forEach((v, k) => {
			if (hw[k] > 0 && reg[k] > 0) expect(v).toBeCloseTo((hw[k] + reg[k]) / 2, 10);
		});
	});
	it('builds the calendar in local time', () => {
		const cal = buildCalendar(MONDAY + 5 * HOUR_MS, 24, { utcOffsetMinutes: -300, holidays: ['2025-03-10'] });
		expect(cal.how[0]).toBe(0);
		expect(Array.from(cal.holiday).every((h) => h === 1)).toBe(true);
	});
});
