/**
 * Small seeded pseudo-random generator for simulations and benchmarks.
 *
 * Deterministic: the same seed gives the same sequence on every platform,
 * so a simulated day can be replayed exactly. Not for cryptography.
 */

/** A seeded random source with the draws the simulator needs. */
export interface Rng {
	/** Uniform in [0, 1). */
	next(): number;
	/** Uniform in [min, max). */
	uniform(min?: number, max?: number): number;
	/** Integer uniform in [min, max] (both inclusive). */
	int(min: number, max: number): number;
	/** Normal draw (Box–Muller). */
	normal(mean?: number, sd?: number): number;
	/** Poisson count with the given mean (λ ≥ 0). */
	poisson(lambda: number): number;
	/** One element of a non-empty array, uniformly. */
	choice<T>(items: readonly T[]): T;
	/** One element chosen with probability proportional to its weight. */
	weighted<T>(items: readonly T[], weights: readonly number[]): T;
	/** An independent generator derived from this one (for per-series streams). */
	fork(): Rng;
}

/** Hash any string or number into a 32-bit seed (FNV-1a), so seeds can be names. */
export function seedFrom(value: string | number): number {
	const s = String(value);
	let h = 0x811c9dc5;
	for (let i = 0; i < s.length; i++) {
		h ^= s.charCodeAt(i);
		h = Math.imul(h, 0x01000193);
	}
	return h >>> 0;
}

/**
 * Create a generator from a 32-bit seed.
 *
 * The core is mulberry32 (Tommy Ettinger's 32-bit mixer): one state word,
 * full 2^32 period, good enough equidistribution for Monte Carlo work.
 */
export function createRng(seed: number | string): Rng {
	let state = (typeof seed === 'number' ? seed : seedFrom(seed)) >>> 0;
	let spareNormal: number | null = null;

	const next = (): number => {
		state = (state + 0x6d2b79f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};

	const normal = (mean = 0, sd = 1): number => {
		if (spareNormal !== null) {
			const z = spareNormal;
			spareNormal = null;
			return mean + sd * z;
		}
		let u = 0;
		while (u === 0) u = next();
		const v = next();
		const r = Math.sqrt(-2 * Math.log(u));
		spareNormal = r * Math.sin(2 * Math.PI * v);
		return mean + sd * r * Math.cos(2 * Math.PI * v);
	};

	const rng: Rng = {
		next,
		uniform: (min = 0, max = 1) => min + (max - min) * next(),
		int: (min, max) => min + Math.floor(next() * (max - min + 1)),
		normal,
		poisson: (lambda) => poisson(next, lambda),
		choice: (items) => {
			if (items.length === 0) throw new RangeError('choice() needs a non-empty array');
			return items[Math.floor(next() * items.length)];
		},
		weighted: (items, weights) => {
			if (items.length === 0 || items.length !== weights.length) {
				throw new RangeError('weighted() needs equally long, non-empty arrays');
			}
			let total = 0;
			for (const w of weights) total += Math.max(0, w);
			if (!(total > 0)) throw new RangeError('weighted() needs a positive total weight');
			let u = next() * total;
			for (let i = 0; i < items.length; i++) {
				u -= Math.max(0, weights[i]);
				if (u < 0) return items[i];
			}
			return items[items.length - 1];
		},
		fork: () => createRng(Math.floor(next() * 4294967296))
	};
	return rng;
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9); accurate to ~1e-13. */
export function lnGamma(x: number): number {
	if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
	const c = [
		0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
		-176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
		1.5056327351493116e-7
	];
	const z = x - 1;
	let a = c[0];
	const t = z + 7.5;
	for (let i = 1; i < 9; i++) a += c[i] / (z + i);
	return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/**
 * Poisson draw. Small means use Knuth's product of uniforms; large means use
 * Hörmann's transformed rejection (PTRS), which stays exact and O(1).
 * @see W. Hörmann, "The transformed rejection method for generating Poisson random variables", 1993.
 */
function poisson(next: () => number, lambda: number): number {
	if (!(lambda > 0)) return 0;
	if (lambda < 30) {
		const limit = Math.exp(-lambda);
		let k = 0;
		let p = next();
		while (p > limit) {
			k++;
			p *= next();
		}
		return k;
	}
	const slam = Math.sqrt(lambda);
	const loglam = Math.log(lambda);
	const b = 0.931 + 2.53 * slam;
	const a = -0.059 + 0.02483 * b;
	const invAlpha = 1.1239 + 1.1328 / (b - 3.4);
	const vr = 0.9277 - 3.6224 / (b - 2);
	for (;;) {
		const u = next() - 0.5;
		const v = next();
		const us = 0.5 - Math.abs(u);
		const k = Math.floor(((2 * a) / us + b) * u + lambda + 0.43);
		if (us >= 0.07 && v <= vr) return k;
		if (k < 0 || (us < 0.013 && v > us)) continue;
		const lhs = Math.log(v) + Math.log(invAlpha) - Math.log(a / (us * us) + b);
		if (lhs <= -lambda + k * loglam - lnGamma(k + 1)) return k;
	}
}
