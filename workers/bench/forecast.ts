/**
 * Forecast benchmark: accuracy, calibration and speed of `forecastSeries`
 * on simulated arrivals whose generating rates are known.
 *
 * 12 weeks of hourly history per series are drawn from the arrival model
 * (`src/lib/domain/simulation/arrivals.ts`), the following 2 weeks are held
 * out. Reported, over the evaluated series:
 * - `mase`: mean MASE (m = 168, scaled by the in-sample weekly seasonal naive
 *   error) of our chosen forecasts; `snaive_mase` the same for the weekly
 *   seasonal naive baseline; `oracle_mase` for the true generating rate, the
 *   floor that Poisson noise leaves to any forecaster;
 * - `coverage80` / `coverage95`: share of held-out hours inside the intervals;
 * - `seconds_200_series`: wall time to forecast 200 series × 14 days
 *   (model selection, backtests and intervals included).
 *
 * Options: --weeks N (12), --days N (14), --series N (200), --min-rate R
 * (1 exam/hour averaged over the week: the series that drive staffing),
 * --start ISO (history start; default Monday 2025-08-04 00:00 local),
 * --seed S.
 */
import { HOUR_MS, WEEKLY_PERIOD } from '../../src/lib/domain/forecast/calendar';
import { mase, seasonalNaiveScale } from '../../src/lib/domain/forecast/backtest';
import { forecastSeries } from '../../src/lib/domain/forecast/forecast';
import { seasonalNaive } from '../../src/lib/domain/forecast/models';
import {
	DEFAULT_NETWORK,
	defaultSeriesList,
	sampleHourlyCounts,
	seriesKeyId,
	type SampledSeries
} from '../../src/lib/domain/simulation/arrivals';

function arg(args: string[], name: string, fallback: string): string {
	const i = args.indexOf(`--${name}`);
	return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}

function log(msg: string): void {
	process.stderr.write(`[bench:forecast] ${msg}\n`);
}

interface Scores {
	series: number;
	mase: number;
	snaive_mase: number;
	oracle_mase: number;
	coverage80: number;
	coverage95: number;
	models: Record<string, number>;
	seconds: number;
	snaive_seconds: number;
}

function evaluate(sets: SampledSeries[], histHours: number, horizon: number, startMs: number): Scores {
	const site = DEFAULT_NETWORK.sites[0];
	let sumOurs = 0, sumSnaive = 0, sumOracle = 0, inside80 = 0, inside95 = 0, hours = 0, counted = 0;
	const models: Record<string, number> = {};
	let seconds = 0;
	let snaiveSeconds = 0;
	const forecastStart = startMs + histHours * HOUR_MS;
	for (const s of sets) {
		const history = s.counts.slice(0, histHours);
		const actual = s.counts.slice(histHours, histHours + horizon);
		const offset = DEFAULT_NETWORK.sites.find((x) => x.id === s.series.site)?.utcOffsetMinutes ?? site.utcOffsetMinutes;
		const t0 = performance.now();
		const res = forecastSeries(history, {
			startMs: forecastStart,
			horizon,
			holidays: DEFAULT_NETWORK.holidays,
			utcOffsetMinutes: offset
		});
		const t1 = performance.now();
		const naive = seasonalNaive(history, horizon);
		snaiveSeconds += (performance.now() - t1) / 1000;
		seconds += (t1 - t0) / 1000;
		models[res.model] = (models[res.model] ?? 0) + 1;
		const scale = seasonalNaiveScale(history, WEEKLY_PERIOD);
		if (!(scale > 0)) continue;
		counted++;
		sumOurs += mase(actual, res.points.map((p) => p.mean), scale);
		sumSnaive += mase(actual, naive, scale);
		sumOracle += mase(actual, s.rates.subarray(histHours, histHours + horizon), scale);
		res.points.forEach((p, k) => {
			const y = actual[k];
			if (y >= p.lo80 && y <= p.hi80) inside80++;
			if (y >= p.lo95 && y <= p.hi95) inside95++;
			hours++;
		});
	}
	const r = (x: number, d = 4) => Math.round(x * 10 ** d) / 10 ** d;
	return {
		series: counted,
		mase: r(sumOurs / counted),
		snaive_mase: r(sumSnaive / counted),
		oracle_mase: r(sumOracle / counted),
		coverage80: r(inside80 / hours),
		coverage95: r(inside95 / hours),
		models,
		seconds: r(seconds, 3),
		snaive_seconds: r(snaiveSeconds, 4)
	};
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
	const weeks = Number(arg(args, 'weeks', '12'));
	const days = Number(arg(args, 'days', '14'));
	const target = Number(arg(args, 'series', '200'));
	const minRate = Number(arg(args, 'min-rate', '1'));
	const seed = arg(args, 'seed', 'radflow-forecast-bench');
	const startMs = Date.parse(arg(args, 'start', '2025-08-04T05:00:00Z'));
	const histHours = weeks * WEEKLY_PERIOD;
	const horizon = days * 24;
	const total = histHours + horizon;

	const network = defaultSeriesList(DEFAULT_NETWORK);
	// The network's forecastable streams (site × subspecialty × modality × class)
	// with a weekly-average volume of at least `minRate` exams per hour; independent
	// replicate draws of the network until `target` series are collected.
	const sets: SampledSeries[] = [];
	const all: SampledSeries[] = [];
	for (let rep = 0; sets.length < target; rep++) {
		const drawn = sampleHourlyCounts(`${seed}#${rep}`, network, startMs, total, DEFAULT_NETWORK);
		if (rep === 0) all.push(...drawn);
		const eligible = drawn.filter((s) => {
			let sum = 0;
			for (let i = 0; i < histHours; i++) sum += s.rates[i];
			return sum / histHours >= minRate;
		});
		if (eligible.length === 0) throw new Error(`no series reaches --min-rate ${minRate}`);
		sets.push(...eligible.slice(0, target - sets.length));
	}
	const meanRate = sets.reduce((a, s) => a + s.counts.slice(0, histHours).reduce((x, y) => x + y, 0) / histHours, 0) / sets.length;
	log(`${sets.length} series (${new Set(sets.map((s) => seriesKeyId(s.series))).size} distinct streams, mean ${meanRate.toFixed(2)} exams/h), ${weeks} weeks history, ${days} days horizon`);

	const main = evaluate(sets, histHours, horizon, startMs);
	log(`ours MASE ${main.mase} vs snaive ${main.snaive_mase} (oracle ${main.oracle_mase}); coverage80 ${main.coverage80}; ${main.seconds}s`);

	log(`all ${all.length} network streams, any volume (one draw)`);
	const everything = evaluate(all, histHours, horizon, startMs);
	log(`all streams: ours ${everything.mase} vs snaive ${everything.snaive_mase} (oracle ${everything.oracle_mase}); coverage80 ${everything.coverage80}`);

	return {
		bench: 'forecast',
		mase: main.mase,
		snaive_mase: main.snaive_mase,
		mase_reduction_vs_snaive: Math.round((1 - main.mase / main.snaive_mase) * 1000) / 1000,
		oracle_mase: main.oracle_mase,
		coverage80: main.coverage80,
		coverage95: main.coverage95,
		seconds_200_series: Math.round((main.seconds * 200) / sets.length * 1000) / 1000,
		snaive_seconds_200_series: Math.round((main.snaive_seconds * 200) / sets.length * 10000) / 10000,
		series: main.series,
		mean_exams_per_hour: Math.round(meanRate * 100) / 100,
		min_rate: minRate,
		models_chosen: main.models,
		history_weeks: weeks,
		horizon_days: days,
		history_start: new Date(startMs).toISOString(),
		all_streams: {
			series: everything.series,
			mase: everything.mase,
			snaive_mase: everything.snaive_mase,
			oracle_mase: everything.oracle_mase,
			coverage80: everything.coverage80,
			coverage95: everything.coverage95,
			models_chosen: everything.models
		}
	};
}
