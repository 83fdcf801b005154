/**
 * Accuracy measures and rolling-origin backtests.
 *
 * @see R.J. Hyndman & A.B. Koehler, "Another look at measures of forecast accuracy", IJF 22 (2006) — MASE.
 * @see R.J. Hyndman & G. Athanasopoulos, Forecasting: Principles and Practice, 3rd ed., §5.10 (time series cross-validation).
 */
import { DAILY_PERIOD, WEEKLY_PERIOD } from './calendar';
import { runModels, type HourCalendar, type ModelCache, type ModelName } from './models';

/**
 * In-sample mean absolute error of the seasonal naive forecast with period
 * `m` (the MASE denominator). Falls back to a shorter period when the history
 * is shorter than two periods; returns 0 for a constant series.
 */
export function seasonalNaiveScale(history: ArrayLike<number>, m = WEEKLY_PERIOD): number {
	const n = history.length;
	const period = n > m ? m : n > DAILY_PERIOD ? DAILY_PERIOD : 1;
	if (n <= period) return 0;
	let sum = 0;
	for (let i = period; i < n; i++) sum += Math.abs(history[i] - history[i - period]);
	return sum / (n - period);
}

export function meanAbsoluteError(actual: ArrayLike<number>, forecast: ArrayLike<number>): number {
	const n = Math.min(actual.length, forecast.length);
	if (n === 0) return NaN;
	let s = 0;
	for (let i = 0; i < n; i++) s += Math.abs(actual[i] - forecast[i]);
	return s / n;
}

/**
 * Mean absolute scaled error. A scale of 0 (a perfectly repeating history)
 * makes MASE undefined; we return 0 for a perfect forecast and Infinity otherwise.
 */
export function mase(actual: ArrayLike<number>, forecast: ArrayLike<number>, scale: number): number {
	const mae = meanAbsoluteError(actual, forecast);
	if (scale > 0) return mae / scale;
	return mae === 0 ? 0 : Infinity;
}

/** Out-of-sample errors of one model, by horizon step, pooled over folds. */
export interface ModelBacktest {
	model: ModelName;
	/** Mean over folds of each fold's MASE. */
	mase: number;
	/** Per fold: forecast and actual, aligned by horizon step (index 0 = one hour ahead). */
	folds: { forecast: Float64Array; actual: Float64Array }[];
}

export interface BacktestOptions {
	/** Number of forecast origins, the latest at n − foldHorizon. */
	folds: number;
	/** Hours forecast from each origin. */
	foldHorizon: number;
	/** Smallest training length; origins that would leave less are dropped. */
	minTrain: number;
}

/**
 * Rolling-origin evaluation: for origins n − h, n − 2h, … each model is fitted
 * on the history before the origin and scored on the following h hours.
 * `cal` covers the history (length ≥ n).
 */
export function rollingOriginBacktest(
	history: ArrayLike<number>,
	cal: HourCalendar,
	models: readonly ModelName[],
	opts: BacktestOptions,
	cache: ModelCache = {}
): ModelBacktest[] {
	const n = history.length;
	const h = opts.foldHorizon;
	const results = new Map<ModelName, ModelBacktest>(models.map((m) => [m, { model: m, mase: 0, folds: [] }]));
	const arr = ArrayBuffer.isView(history) ? (history as unknown as Float64Array) : Float64Array.from(history);
	// Earliest origin first, so parameters tuned there (see ModelCache) never saw a later hold-out.
	for (let f = opts.folds; f >= 1; f--) {
		const origin = n - f * h;
		if (origin < opts.minTrain) continue;
		const train = arr.subarray(0, origin);
		const actual = arr.subarray(origin, origin + h);
		const scale = seasonalNaiveScale(train);
		const fc = runModels(train, h, cal, models, cache);
		for (const [m, forecast] of fc) {
			const r = results.get(m)!;
			r.folds.push({ forecast, actual });
			r.mase += mase(actual, forecast, scale);
		}
	}
	for (const r of results.values()) r.mase = r.folds.length ? r.mase / r.folds.length : NaN;
	return [...results.values()];
}
