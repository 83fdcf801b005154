import { describe, expect, it } from 'vitest';
import { HOUR_MS } from './calendar';
import { mase, seasonalNaiveScale } from './backtest';
import { ForecastError, forecastSeries } from './forecast';
import { seasonalNaive } from './models';
import { createRng } from '../simulation/random';

const START = Date.parse('2025-01-06T00:00:00Z'); // a Monday
const WEEKS = 10;
const N = WEEKS * 168;
const H = 168;

/** A daily + weekly pattern with mean `scale` per hour, weekends lower. */
function rate(i: number, scale: number): number {
	const h = i % 24;
	const dow = Math.floor((i % 168) / 24);
	const day = 1 + 0.8 * Math.sin((2 * Math.PI * (h - 8)) / 24);
	return scale * day * (dow >= 5 ? 0.5 : 1.1);
}

function simulate(seed: string, scale: number, n = N + H) {
	const rng = createRng(seed);
	const rates = Array.from({ length: n }, (_, i) => rate(i, scale));
	return { rates, counts: rates.map((r) => rng.poisson(r)) };
}

describe('forecastSeries', () => {
	it('recovers a known seasonal signal from Poisson counts, closer than the seasonal naive forecast', () => {
		const { rates, counts } = simulate('recover', 8);
		const res = forecastSeries(counts.slice(0, N), { startMs: START + N * HOUR_MS, horizon: H });
		const mean = res.points.map((p) => p.mean);
		const truth = rates.slice(N);
		const maeTruth = mean.reduce((a, m, k) => a + Math.abs(m - truth[k]), 0) / H;
		const naive = seasonalNaive(counts.slice(0, N), H);
		const naiveTruth = Array.from(naive).reduce((a, m, k) => a + Math.abs(m - truth[k]), 0) / H;
		// Average true rate is ~8; ours is within ~1 exam/h, at most half the naive error.
		expect(maeTruth).toBeLessThan(1);
		expect(maeTruth).toBeLessThan(0.5 * naiveTruth);
		expect(res.points[0].t).toBe(START + N * HOUR_MS);
		expect(res.points[H - 1].t).toBe(START + (N + H - 1) * HOUR_MS);
		expect(res.backtest.map((b) => b.model)).toContain('snaive');
		expect(res.backtest[0].model).toBe(res.model);
		const actual = counts.slice(N);
		const scale = seasonalNaiveScale(counts.slice(0, N));
		expect(mase(actual, mean, scale)).toBeLessThan(mase(actual, naive, scale));
	});

	it('calibrates its 80 % and 95 % intervals on held-out hours across volumes', () => {
		let in80 = 0;
		let in95 = 0;
		let total = 0;
		let width80 = 0;
		for (const [i, scale] of [0.7, 2, 5, 12, 30].entries()) {
			for (const rep of [0, 1]) {
				const { counts } = simulate(`cal-${i}-${rep}`, scale);
				const res = forecastSeries(counts.slice(0, N), { startMs: START + N * HOUR_MS, horizon: H });
				res.points.forEach((p, k) => {
					const y = counts[N + k];
					expect(p.lo95).toBeLessThanOrEqual(p.lo80);
					expect(p.lo80).toBeLessThanOrEqual(p.mean + 1e-9);
					expect(p.hi80).toBeGreaterThanOrEqual(p.mean - 1e-9);
					expect(p.hi95).toBeGreaterThanOrEqual(p.hi80);
					expect(p.lo95).toBeGreaterThanOrEqual(0);
					if (y >= p.lo80 && y <= p.hi80) in80++;
					if (y >= p.lo95 && y <= p.hi95) in95++;
					width80 += p.hi80 - p.lo80;
					total++;
				});
			}
		}
		expect(in80 / total).toBeGreaterThan(0.74);
		expect(in80 / total).toBeLessThan(0.88);
		expect(in95 / total).toBeGreaterThan(0.91);
		expect(in95 / total).toBeLessThan(0.99);
		expect(width80 / total).toBeGreaterThan(0);
	});

	it('widens intervals where the volume is higher (count noise grows with the level)', () => {
		const { counts } = simulate('width', 10);
		const res = forecastSeries(counts.slice(0, N), { startMs: START + N * HOUR_MS, horizon: 48 });
		const byMean = [...res.points].sort((a, b) => a.mean - b.mean);
		const quiet = byMean[0];
		const busy = byMean[byMean.length - 1];
		expect(busy.hi80 - busy.lo80).toBeGreaterThan(quiet.hi80 - quiet.lo80);
	});

	it('forecasts a closed outpatient holiday low when history contains one', () => {
		// Office-hours series; Martin Luther King Jr. Day 2025-01-20 in history, Presidents' Day-like test date in the horizon.
		const holidays = ['2025-01-20', '2025-03-17'];
		const rng = createRng('holiday');
		const horizonStart = START + N * HOUR_MS; // 2025-03-17, a Monday
		const office = (i: number, t: number) => {
			const d = new Date(t);
			const key = d.toISOString().slice(0, 10);
			const h = d.getUTCHours();
			const dow = (d.getUTCDay() + 6) % 7;
			if (holidays.includes(key) || dow >= 5) return 0.2;
			return h >= 8 && h < 18 ? 12 : 0.2;
		};
		const counts = Array.from({ length: N }, (_, i) => rng.poisson(office(i, START + i * HOUR_MS)));
		const res = forecastSeries(counts, { startMs: horizonStart, horizon: 48, holidays });
		const holidayNoon = res.points[12].mean;
		const nextNoon = res.points[36].mean;
		expect(nextNoon).toBeGreaterThan(8);
		expect(holidayNoon).toBeLessThan(2);
	});

	it('gives a custom interval level between the 80 % and 95 % ones', () => {
		const { counts } = simulate('level', 4);
		const res = forecastSeries(counts.slice(0, N), { startMs: START + N * HOUR_MS, horizon: 24, level: 90 });
		expect(res.level).toBe(90);
		for (const p of res.points) {
			expect(p.lo).toBeLessThanOrEqual(p.lo80);
			expect(p.hi).toBeGreaterThanOrEqual(p.hi80);
			expect(p.hi).toBeLessThanOrEqual(p.hi95);
		}
	});

	it('falls back to the seasonal naive forecast on short histories', () => {
		const { counts } = simulate('short', 5, 300);
		const res = forecastSeries(counts, { startMs: START + 300 * HOUR_MS, horizon: 24 });
		expect(['snaive', 'regression']).toContain(res.model);
		expect(res.points).toHaveLength(24);
		const tiny = forecastSeries([3, 4, 5], { startMs: START, horizon: 2 });
		expect(tiny.model).toBe('snaive');
		expect(tiny.points.map((p) => p.mean)).toEqual([5, 5]);
	});

	it('rejects bad input with a stable error code', () => {
		const ok = { startMs: START, horizon: 24 };
		const code = (f: () => unknown) => {
			try {
				f();
			} catch (e) {
				expect(e).toBeInstanceOf(ForecastError);
				return (e as ForecastError).code;
			}
			return 'no error';
		};
		expect(code(() => forecastSeries([], ok))).toBe('invalid_history');
		expect(code(() => forecastSeries([1, -1], ok))).toBe('invalid_history');
		expect(code(() => forecastSeries([1, NaN], ok))).toBe('invalid_history');
		expect(code(() => forecastSeries([1], { ...ok, horizon: 0 }))).toBe('invalid_options');
		expect(code(() => forecastSeries([1], { ...ok, startMs: START + 1 }))).toBe('invalid_options');
		expect(code(() => forecastSeries([1], { ...ok, periods: [12] }))).toBe('invalid_options');
		expect(code(() => forecastSeries([1], { ...ok, level: 100 }))).toBe('invalid_options');
	});
});
