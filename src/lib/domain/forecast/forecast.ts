/**
 * Forecast one hourly arrival series: pick the model that did best in a
 * rolling-origin backtest, forecast with it, and wrap the forecast in
 * empirical prediction intervals from that model's backtest residuals.
 *
 * Pure: the caller passes the instant of the first forecast hour; the history
 * is the `history.length` hours immediately before it.
 *
 * @see ARCHITECTURE.md "Forecasting"
 */
import { HOUR_MS, WEEKLY_PERIOD, floorHour } from './calendar';
import { rollingOriginBacktest, type ModelBacktest } from './backtest';
import { intervalAt, residualQuantiles } from './intervals';
import { MODEL_NAMES, ModelName, buildCalendar, eligibleModels, runModels, type ModelCache } from './models';

export interface ForecastOptions {
	/** UTC instant (ms) of the first forecast hour; the history ends just before it. */
	startMs: number;
	/** Hours to forecast. */
	horizon: number;
	/** Seasonal periods in hours. Only [24, 168] (daily, weekly) is supported. */
	periods?: readonly number[];
	/** Local holiday dates (`YYYY-MM-DD`). */
	holidays?: readonly string[];
	/** Local time = UTC + offset, for hour-of-week and holiday dates. */
	utcOffsetMinutes?: number;
	/** Extra central interval level in percent (80 and 95 are always given). */
	level?: number;
	/** Candidate models (default: all that the history length allows). */
	models?: readonly ModelName[];
	/** Backtest origins (default 2) and hours per fold (default min(horizon, 336)). */
	backtestFolds?: number;
	backtestHorizon?: number;
}

export interface ForecastPoint {
	/** UTC start of the hour (ms). */
	t: number;
	mean: number;
	lo80: number;
	hi80: number;
	lo95: number;
	hi95: number;
	/** Interval at `options.level`, when one was asked for. */
	lo?: number;
	hi?: number;
}

export interface ForecastResult {
	model: ModelName;
	points: ForecastPoint[];
	/** Backtest score of every candidate, best first. */
	backtest: { model: ModelName; mase: number }[];
	/** Interval level of `lo`/`hi` in the points, when asked for. */
	level?: number;
}

export class ForecastError extends Error {
	readonly code: 'invalid_history' | 'invalid_options';
	constructor(code: ForecastError['code'], message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'ForecastError';
		this.code = code;
	}
}

/**
 * Forecast `opts.horizon` hours of a count series.
 *
 * Model choice: each eligible model (see `models.ts`) is scored by MASE over
 * rolling origins in the last weeks of the history; the lowest mean MASE wins
 * (ties go to the simpler model). With under three weeks of history there is
 * no room to backtest, and the weekly seasonal naive forecast is used.
 */
export function forecastSeries(history: readonly number[] | Float64Array, opts: ForecastOptions): ForecastResult {
	const { horizon } = opts;
	if (!Number.isInteger(horizon) || horizon < 1) {
		throw new ForecastError('invalid_options', `horizon must be a positive integer, got ${horizon}`);
	}
	if (!Number.isFinite(opts.startMs) || floorHour(opts.startMs) !== opts.startMs) {
		throw new ForecastError('invalid_options', 'startMs must be the start of a UTC hour');
	}
	if (opts.periods && !(opts.periods.length === 2 && opts.periods.includes(24) && opts.periods.includes(WEEKLY_PERIOD))) {
		throw new ForecastError('invalid_options', 'only daily (24) and weekly (168) seasonality are supported');
	}
	if (opts.level !== undefined && !(opts.level > 0 && opts.level < 100)) {
		throw new ForecastError('invalid_options', `level must be between 0 and 100, got ${opts.level}`);
	}
	const n = history.length;
	if (n === 0) throw new ForecastError('invalid_history', 'history is empty');
	const y = Float64Array.from(history);
	for (let i = 0; i < n; i++) {
		if (!Number.isFinite(y[i]) || y[i] < 0) {
			throw new ForecastError('invalid_history', `history[${i}] is not a non-negative number: ${history[i]}`);
		}
	}

	const histStart = opts.startMs - n * HOUR_MS;
	const cal = buildCalendar(histStart, n + horizon, opts);
	const foldHorizon = opts.backtestHorizon ?? Math.min(horizon, 2 * WEEKLY_PERIOD);
	const folds = opts.backtestFolds ?? 2;
	const minTrain = 2 * WEEKLY_PERIOD;
	const allowed = eligibleModels(n);
	let candidates = (opts.models ?? MODEL_NAMES).filter((m) => allowed.includes(m));
	if (candidates.length === 0) candidates = [ModelName.seasonalNaive];

	// Shrink the folds rather than skip the backtest when the history is short.
	const fh = Math.max(1, Math.min(foldHorizon, Math.floor((n - minTrain) / folds)));
	const cache: ModelCache = {};
	const bt: ModelBacktest[] =
		n - fh >= minTrain ? rollingOriginBacktest(y, cal, candidates, { folds, foldHorizon: fh, minTrain }, cache) : [];
	const order = (m: ModelName) => MODEL_NAMES.indexOf(m);
	const scored = bt
		.filter((b) => b.folds.length > 0 && Number.isFinite(b.mase))
		.sort((a, b) => a.mase - b.mase || order(a.model) - order(b.model));
	const chosen = scored[0]?.model ?? ModelName.seasonalNaive;

	const means = runModels(y, horizon, cal, [chosen], cache).get(chosen)!;
	const levels = [80, 95];
	if (opts.level !== undefined && !levels.includes(opts.level)) levels.push(opts.level);
	const folded = bt.find((b) => b.model === chosen)?.folds ?? [];
	const q = residualQuantiles(folded, horizon, levels);

	const points: ForecastPoint[] = [];
	for (let k = 0; k < horizon; k++) {
		const mean = means[k];
		const [lo80, hi80] = intervalAt(q, 80, k, mean);
		const [lo95, hi95] = intervalAt(q, 95, k, mean);
		const p: ForecastPoint = { t: opts.startMs + k * HOUR_MS, mean, lo80, hi80, lo95, hi95 };
		if (opts.level !== undefined) [p.lo, p.hi] = intervalAt(q, opts.level, k, mean);
		points.push(p);
	}
	return {
		model: chosen,
		points,
		backtest: scored.map((b) => ({ model: b.model, mase: b.mase })),
		...(opts.level !== undefined ? { level: opts.level } : {})
	};
}
