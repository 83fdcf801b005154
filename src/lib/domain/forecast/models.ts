/**
 * Point-forecast models for hourly arrival counts. Pure functions: a model
 * sees the history, a calendar of the history and horizon hours, and returns
 * the expected count for each future hour.
 *
 * Models:
 * - `snaive`: weekly seasonal naive (the value one week earlier); the baseline.
 * - `hw`: double-seasonal additive Holt-Winters (daily 24 + weekly 168) after
 *   Taylor, with the AR(1) error adjustment; smoothing constants from a small
 *   grid searched on one-step squared error.
 * - `regression`: least squares on hour-of-week + linear trend + holiday indicator.
 * - `combo`: the mean of `hw` and `regression` (forecast combination usually
 *   beats either member when both are decent).
 *
 * Holidays: holiday hours are treated like the same hour on a Sunday (the
 * usual planning rule: outpatient closes, emergency carries on); `hw` skips
 * its state updates on them and `regression` adds a holiday level shift.
 *
 * @see J.W. Taylor, "Short-term electricity demand forecasting using double seasonal exponential smoothing", JORS 54 (2003) 799–805.
 * @see R.J. Hyndman & G. Athanasopoulos, Forecasting: Principles and Practice, 3rd ed., §5.2 (simple methods), §7 (regression), §8.3 (Holt-Winters).
 */
import { DAILY_PERIOD, HOUR_MS, WEEKLY_PERIOD, hourOfWeek, localDateKey } from './calendar';

export const ModelName = {
	seasonalNaive: 'snaive',
	holtWinters: 'hw',
	regression: 'regression',
	combination: 'combo'
} as const;
export type ModelName = (typeof ModelName)[keyof typeof ModelName];
export const MODEL_NAMES = Object.values(ModelName);

/** Calendar of a contiguous run of hours: local hour-of-week and a holiday flag per hour. */
export interface HourCalendar {
	/** Local hour of week (0 = Monday 00:00) per hour. */
	how: Uint8Array;
	/** 1 where the hour lies on a holiday. */
	holiday: Uint8Array;
}

/** Options shared by every model. */
export interface CalendarOptions {
	/** Local dates (`YYYY-MM-DD`) that are holidays. */
	holidays?: readonly string[];
	/** Local time of the series = UTC + this offset. */
	utcOffsetMinutes?: number;
}

/**
 * Calendar for `hours` consecutive hours starting at `startMs` (an hour
 * boundary). Cheap: one date computation per local day.
 */
export function buildCalendar(startMs: number, hours: number, opts: CalendarOptions = {}): HourCalendar {
	const offset = opts.utcOffsetMinutes ?? 0;
	const holidays = new Set(opts.holidays ?? []);
	const how = new Uint8Array(hours);
	const holiday = new Uint8Array(hours);
	if (hours === 0) return { how, holiday };
	const how0 = hourOfWeek(startMs, offset);
	let dayKey = '';
	let dayIsHoliday = false;
	for (let i = 0; i < hours; i++) {
		const h = (how0 + i) % WEEKLY_PERIOD;
		how[i] = h;
		if (i === 0 || h % DAILY_PERIOD === 0) {
			dayKey = localDateKey(startMs + i * HOUR_MS, offset);
			dayIsHoliday = holidays.size > 0 && holidays.has(dayKey);
		}
		holiday[i] = dayIsHoliday ? 1 : 0;
	}
	return { how, holiday };
}

/** Hour-of-week used for seasonal lookup: holidays borrow Sunday's same hour. */
function seasonalSlot(cal: HourCalendar, i: number): number {
	return cal.holiday[i] ? 6 * DAILY_PERIOD + (cal.how[i] % DAILY_PERIOD) : cal.how[i];
}

/** Weekly seasonal naive: each future hour repeats the same hour of the last observed week. */
export function seasonalNaive(history: ArrayLike<number>, horizon: number, period = WEEKLY_PERIOD): Float64Array {
	const n = history.length;
	const out = new Float64Array(horizon);
	if (n === 0) return out;
	const m = n >= period ? period : n >= DAILY_PERIOD ? DAILY_PERIOD : 1;
	for (let k = 1; k <= horizon; k++) {
		out[k - 1] = history[n + k - m * Math.ceil(k / m) - 1] ?? 0;
	}
	return out;
}

/** Smoothing constants of the double-seasonal Holt-Winters model. */
export interface HoltWintersParams {
	alpha: number;
	delta: number;
	omega: number;
	phi: number;
}

const HW_GRID = {
	alpha: [0.005, 0.02, 0.08],
	delta: [0.005, 0.03, 0.1],
	omega: [0.01, 0.05, 0.15],
	phi: [0, 0.3]
} as const;

interface HwState {
	level: number;
	daily: Float64Array;
	weekly: Float64Array;
	lastError: number;
	sse: number;
}

function hwInit(y: ArrayLike<number>, cal: HourCalendar): HwState {
	const n = y.length;
	const initLen = Math.min(n, 2 * WEEKLY_PERIOD);
	let sum = 0;
	let cnt = 0;
	const wSum = new Float64Array(WEEKLY_PERIOD);
	const wCnt = new Float64Array(WEEKLY_PERIOD);
	for (let i = 0; i < initLen; i++) {
		if (cal.holiday[i]) continue;
		sum += y[i];
		cnt++;
		wSum[cal.how[i]] += y[i];
		wCnt[cal.how[i]]++;
	}
	const level = cnt ? sum / cnt : 0;
	const weekly = new Float64Array(WEEKLY_PERIOD);
	const daily = new Float64Array(DAILY_PERIOD);
	const dCnt = new Float64Array(DAILY_PERIOD);
	for (let k = 0; k < WEEKLY_PERIOD; k++) {
		weekly[k] = wCnt[k] ? wSum[k] / wCnt[k] - level : 0;
		if (wCnt[k]) {
			daily[k % DAILY_PERIOD] += weekly[k];
			dCnt[k % DAILY_PERIOD]++;
		}
	}
	for (let h = 0; h < DAILY_PERIOD; h++) daily[h] = dCnt[h] ? daily[h] / dCnt[h] : 0;
	for (let k = 0; k < WEEKLY_PERIOD; k++) weekly[k] -= daily[k % DAILY_PERIOD];
	return { level, daily, weekly, lastError: 0, sse: 0 };
}

function hwRun(y: ArrayLike<number>, cal: HourCalendar, init: HwState, p: HoltWintersParams): HwState {
	let level = init.level;
	const daily = Float64Array.from(init.daily);
	const weekly = Float64Array.from(init.weekly);
	let lastError = 0;
	let sse = 0;
	const a = p.alpha;
	const dg = p.delta * (1 - a);
	const wg = p.omega * (1 - a);
	for (let i = 0; i < y.length; i++) {
		if (cal.holiday[i]) {
			lastError = 0;
			continue;
		}
		const w = cal.how[i];
		const d = w % DAILY_PERIOD;
		const err = y[i] - (level + daily[d] + weekly[w]);
		if (i >= WEEKLY_PERIOD) {
			const e1 = err - p.phi * lastError;
			sse += e1 * e1;
		}
		level += a * err;
		daily[d] += dg * err;
		weekly[w] += wg * err;
		lastError = err;
	}
	return { level, daily, weekly, lastError, sse };
}

/** A fitted Holt-Winters model, ready to forecast from the end of its history. */
export interface HoltWintersFit {
	params: HoltWintersParams;
	state: HwState;
}

/** Fit double-seasonal Holt-Winters by grid search on one-step SSE. Needs ≥ 2 weeks of history. */
export function fitHoltWinters(
	history: ArrayLike<number>,
	cal: HourCalendar,
	grid: { [K in keyof HoltWintersParams]: readonly number[] } = HW_GRID
): HoltWintersFit {
	const init = hwInit(history, cal);
	let best: HoltWintersFit | null = null;
	for (const alpha of grid.alpha)
		for (const delta of grid.delta)
			for (const omega of grid.omega)
				for (const phi of grid.phi) {
					const params = { alpha, delta, omega, phi };
					const state = hwRun(history, cal, init, params);
					if (!best || state.sse < best.state.sse) best = { params, state };
				}
	return best!;
}

/** Forecast `futureCal.how.length` hours after the end of the fitted history. */
export function forecastHoltWinters(fit: HoltWintersFit, futureCal: HourCalendar): Float64Array {
	const { state, params } = fit;
	const out = new Float64Array(futureCal.how.length);
	let ar = state.lastError;
	for (let k = 0; k < out.length; k++) {
		ar *= params.phi;
		const w = seasonalSlot(futureCal, k);
		out[k] = state.level + state.daily[w % DAILY_PERIOD] + state.weekly[w] + ar;
	}
	return out;
}

/** Coefficients of the hour-of-week + trend + holiday regression. */
export interface RegressionFit {
	/** Intercept per hour-of-week slot (holidays use Sunday's slots). */
	intercept: Float64Array;
	trend: number;
	holiday: number;
	/** Index of the first future hour on the model's trend axis. */
	n: number;
}

/**
 * Ordinary least squares of y on 168 hour-of-week dummies, a linear trend and
 * a holiday indicator. Solved exactly by partialling the dummies out (within-
 * slot demeaning, Frisch–Waugh–Lovell) and a 2×2 solve, so it is O(n).
 */
export function fitRegression(history: ArrayLike<number>, cal: HourCalendar): RegressionFit {
	const n = history.length;
	const S = WEEKLY_PERIOD;
	const cnt = new Float64Array(S);
	const my = new Float64Array(S);
	const mt = new Float64Array(S);
	const mh = new Float64Array(S);
	let total = 0;
	for (let i = 0; i < n; i++) {
		const g = seasonalSlot(cal, i);
		cnt[g]++;
		my[g] += history[i];
		mt[g] += i;
		mh[g] += cal.holiday[i];
		total += history[i];
	}
	for (let g = 0; g < S; g++) {
		if (cnt[g]) {
			my[g] /= cnt[g];
			mt[g] /= cnt[g];
			mh[g] /= cnt[g];
		}
	}
	let stt = 0, sth = 0, shh = 0, sty = 0, shy = 0;
	for (let i = 0; i < n; i++) {
		const g = seasonalSlot(cal, i);
		const t = i - mt[g];
		const h = cal.holiday[i] - mh[g];
		const yy = history[i] - my[g];
		stt += t * t;
		sth += t * h;
		shh += h * h;
		sty += t * yy;
		shy += h * yy;
	}
	let trend = 0;
	let holiday = 0;
	const det = stt * shh - sth * sth;
	if (shh > 1e-9 && Math.abs(det) > 1e-9 * stt * shh) {
		trend = (shh * sty - sth * shy) / det;
		holiday = (stt * shy - sth * sty) / det;
	} else if (stt > 0) {
		trend = sty / stt;
	}
	const fallback = n ? total / n : 0;
	const intercept = new Float64Array(S);
	for (let g = 0; g < S; g++) {
		intercept[g] = cnt[g] ? my[g] - trend * mt[g] - holiday * mh[g] : fallback - trend * (n - 1) / 2;
	}
	return { intercept, trend, holiday, n };
}

export function forecastRegression(fit: RegressionFit, futureCal: HourCalendar): Float64Array {
	const out = new Float64Array(futureCal.how.length);
	for (let k = 0; k < out.length; k++) {
		const g = seasonalSlot(futureCal, k);
		out[k] = fit.intercept[g] + fit.trend * (fit.n + k) + fit.holiday * futureCal.holiday[k];
	}
	return out;
}

/**
 * State shared across the fits of one series. The Holt-Winters grid search
 * runs once (on the first, shortest history it sees) and later fits of the
 * same series reuse its smoothing constants: a 3× saving, and no peeking at
 * backtest hold-outs.
 */
export interface ModelCache {
	hwParams?: HoltWintersParams;
}

/** Which models can run on a history of `n` hours. */
export function eligibleModels(n: number): ModelName[] {
	if (n < 2 * WEEKLY_PERIOD) return [ModelName.seasonalNaive, ModelName.regression];
	return [...MODEL_NAMES];
}

/**
 * Point forecasts of every requested model for the `horizon` hours after the
 * history. `cal` must cover history and horizon (length n + horizon).
 * Forecasts are clipped at zero: counts cannot be negative.
 */
export function runModels(
	history: ArrayLike<number>,
	horizon: number,
	cal: HourCalendar,
	models: readonly ModelName[],
	cache: ModelCache = {}
): Map<ModelName, Float64Array> {
	const n = history.length;
	const histCal: HourCalendar = { how: cal.how.subarray(0, n), holiday: cal.holiday.subarray(0, n) };
	const futCal: HourCalendar = {
		how: cal.how.subarray(n, n + horizon),
		holiday: cal.holiday.subarray(n, n + horizon)
	};
	const out = new Map<ModelName, Float64Array>();
	let hw: Float64Array | null = null;
	let reg: Float64Array | null = null;
	const fitHw = (): HoltWintersFit => {
		if (cache.hwParams) return { params: cache.hwParams, state: hwRun(history, histCal, hwInit(history, histCal), cache.hwParams) };
		const fit = fitHoltWinters(history, histCal);
		cache.hwParams = fit.params;
		return fit;
	};
	const getHw = () => (hw ??= forecastHoltWinters(fitHw(), futCal));
	const getReg = () => (reg ??= forecastRegression(fitRegression(history, histCal), futCal));
	for (const m of models) {
		let f: Float64Array;
		switch (m) {
			case ModelName.seasonalNaive:
				f = seasonalNaive(history, horizon);
				break;
			case ModelName.holtWinters:
				f = Float64Array.from(getHw());
				break;
			case ModelName.regression:
				f = Float64Array.from(getReg());
				break;
			case ModelName.combination: {
				const a = getHw();
				const b = getReg();
				f = new Float64Array(horizon);
				for (let k = 0; k < horizon; k++) f[k] = (a[k] + b[k]) / 2;
				break;
			}
			default:
				m satisfies never;
				continue;
		}
		for (let k = 0; k < f.length; k++) if (!(f[k] > 0)) f[k] = 0;
		out.set(m, f);
	}
	return out;
}
