/**
 * Empirical prediction intervals from backtest residuals.
 *
 * Assumptions (stated because they decide calibration):
 * - Hourly counts are roughly Poisson: their spread grows with the square root
 *   of the level. Residuals are therefore standardized by √max(forecast, floor)
 *   before pooling, and scaled back by the same factor for each future hour,
 *   so a quiet night hour gets a narrow interval and a busy morning a wide one.
 * - The error distribution depends on the horizon step only through its
 *   lead-time bucket (24 h by default); neighbouring buckets are pooled until
 *   there are enough residuals for stable quantiles.
 * - Intervals are clipped at zero: counts cannot be negative.
 *
 * @see R.J. Hyndman & G. Athanasopoulos, Forecasting: Principles and Practice, 3rd ed., §5.5 (prediction intervals from bootstrapped/empirical residuals).
 */

/** Standardized residual quantiles per lead-time bucket. */
export interface ResidualQuantiles {
	bucketHours: number;
	/** floor for the √forecast scale, in counts per hour. */
	scaleFloor: number;
	/** For each level (e.g. 80), [lower quantile, upper quantile] per bucket. */
	byLevel: Map<number, { lo: Float64Array; hi: Float64Array }>;
}

/** Type-7 (linear interpolation) sample quantile of sorted values. */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
	const n = sorted.length;
	if (n === 0) return NaN;
	const pos = (n - 1) * Math.min(1, Math.max(0, p));
	const lo = Math.floor(pos);
	const hi = Math.min(n - 1, lo + 1);
	return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function residualScale(forecast: number, floor: number): number {
	return Math.sqrt(Math.max(forecast, floor));
}

/**
 * Quantiles of standardized residuals (actual − forecast) / √max(forecast, floor)
 * per lead-time bucket, for each central level in `levels` (percent).
 * Buckets with fewer than `minSamples` residuals borrow from neighbours.
 */
export function residualQuantiles(
	folds: readonly { forecast: ArrayLike<number>; actual: ArrayLike<number> }[],
	horizon: number,
	levels: readonly number[],
	opts: { bucketHours?: number; minSamples?: number; scaleFloor?: number } = {}
): ResidualQuantiles {
	const bucketHours = opts.bucketHours ?? 24;
	const minSamples = opts.minSamples ?? 200;
	const scaleFloor = opts.scaleFloor ?? 0.25;
	const nb = Math.max(1, Math.ceil(horizon / bucketHours));
	const perBucket: number[][] = Array.from({ length: nb }, () => []);
	for (const f of folds) {
		const len = Math.min(f.forecast.length, f.actual.length);
		for (let k = 0; k < len; k++) {
			const b = Math.min(nb - 1, Math.floor(k / bucketHours));
			perBucket[b].push((f.actual[k] - f.forecast[k]) / residualScale(f.forecast[k], scaleFloor));
		}
	}
	// Buckets past the backtested lead times reuse the last bucket that has data.
	let last = -1;
	for (let b = 0; b < nb; b++) if (perBucket[b].length) last = b;
	const byLevel = new Map<number, { lo: Float64Array; hi: Float64Array }>();
	for (const level of levels) byLevel.set(level, { lo: new Float64Array(nb), hi: new Float64Array(nb) });
	for (let b = 0; b < nb; b++) {
		const center = last < 0 ? b : Math.min(b, last);
		let pooled: number[] = [...perBucket[center]];
		for (let r = 1; pooled.length < minSamples && (center - r >= 0 || center + r < nb); r++) {
			if (center - r >= 0) pooled = pooled.concat(perBucket[center - r]);
			if (center + r < nb) pooled = pooled.concat(perBucket[center + r]);
		}
		pooled.sort((a, c) => a - c);
		for (const level of levels) {
			const q = byLevel.get(level)!;
			const tail = (1 - level / 100) / 2;
			// Without residuals fall back to a Poisson-like ±z·√level band.
			q.lo[b] = pooled.length ? quantileSorted(pooled, tail) : -normalQuantile(1 - tail);
			q.hi[b] = pooled.length ? quantileSorted(pooled, 1 - tail) : normalQuantile(1 - tail);
		}
	}
	return { bucketHours, scaleFloor, byLevel };
}

/** Interval [lo, hi] for lead-time step k (0-based) around a point forecast, clipped at 0. */
export function intervalAt(
	q: ResidualQuantiles,
	level: number,
	k: number,
	mean: number
): [number, number] {
	const l = q.byLevel.get(level);
	if (!l) throw new RangeError(`no quantiles for level ${level}`);
	const b = Math.min(l.lo.length - 1, Math.floor(k / q.bucketHours));
	const s = residualScale(mean, q.scaleFloor);
	return [Math.max(0, mean + l.lo[b] * s), Math.max(0, mean + l.hi[b] * s)];
}

/** Standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
	if (p <= 0) return -Infinity;
	if (p >= 1) return Infinity;
	const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
	const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
	const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
	const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
	const pl = 0.02425;
	let x: number;
	if (p < pl) {
		const q = Math.sqrt(-2 * Math.log(p));
		x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
	} else if (p <= 1 - pl) {
		const q = p - 0.5;
		const r = q * q;
		x = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
	} else {
		const q = Math.sqrt(-2 * Math.log(1 - p));
		x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
	}
	return x;
}

/** Standard normal CDF (Abramowitz & Stegun 7.1.26 via erf; |error| < 1.5e-7). */
export function normalCdf(z: number): number {
	const x = Math.abs(z) / Math.SQRT2;
	const t = 1 / (1 + 0.3275911 * x);
	const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
	return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}
