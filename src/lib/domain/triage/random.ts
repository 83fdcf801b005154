/**
 * Seeded pseudo-random numbers for the synthetic phantoms.
 *
 * Pure and deterministic: the same seed always yields the same sequence, so a
 * training set, a held-out set and a test set are reproducible from a number.
 */

/** A seeded source of uniform and normal variates. */
export interface Rng {
	/** Uniform in [0, 1). */
	next(): number;
	/** Uniform in [lo, hi). */
	uniform(lo: number, hi: number): number;
	/** Integer uniform in [lo, hi] inclusive. */
	int(lo: number, hi: number): number;
	/** Standard normal variate (mean 0, sd 1). */
	normal(): number;
	/** true with probability p. */
	chance(p: number): boolean;
}

/**
 * mulberry32: a small 32-bit generator, good enough for image synthesis and
 * much faster than a cryptographic one.
 */
export function createRng(seed: number): Rng {
	let state = (Math.floor(seed) ^ 0x9e3779b9) >>> 0;
	let spare: number | null = null;
	const next = (): number => {
		state = (state + 0x6d2b79f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
	return {
		next,
		uniform: (lo, hi) => lo + (hi - lo) * next(),
		int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
		normal: () => {
			if (spare !== null) {
				const s = spare;
				spare = null;
				return s;
			}
			// Box-Muller; keep the second variate for the next call.
			let u = 0;
			while (u === 0) u = next();
			const v = next();
			const r = Math.sqrt(-2 * Math.log(u));
			spare = r * Math.sin(2 * Math.PI * v);
			return r * Math.cos(2 * Math.PI * v);
		},
		chance: (p) => next() < p
	};
}

/** Derive an independent child seed (e.g. per sample index) from a base seed. */
export function deriveSeed(seed: number, index: number): number {
	let h = (Math.floor(seed) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
	h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
	h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
	return (h ^ (h >>> 16)) >>> 0;
}
