/**
 * Seeded pseudo-random numbers for the synthetic phantoms.
 *
 * Pure and deterministic: the same seed always yields the same sequence, so a
 * training set, a held-out set and a test set are reproducible from a number.
 */

import { createRng as createSimulationRng } from '../simulation/random';

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
 * The simulator's mulberry32 generator (one implementation for the whole
 * project), seeded through the phantom generator's own seed mix so the
 * training, held-out and test phantoms stay exactly what the shipped models
 * were trained and evaluated on.
 */
export function createRng(seed: number): Rng {
	const r = createSimulationRng((Math.floor(seed) ^ 0x9e3779b9) >>> 0);
	return {
		next: r.next,
		uniform: (lo, hi) => r.uniform(lo, hi),
		int: (lo, hi) => r.int(lo, hi),
		normal: () => r.normal(),
		chance: (p) => r.next() < p
	};
}

/** Derive an independent child seed (e.g. per sample index) from a base seed. */
export function deriveSeed(seed: number, index: number): number {
	let h = (Math.floor(seed) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
	h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
	h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
	return (h ^ (h >>> 16)) >>> 0;
}
