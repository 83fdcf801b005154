/**
 * A tiny seeded PRNG (mulberry32) for synthetic workloads in tests and benches:
 * the same seed always yields the same sequence, on every platform.
 */
export class Prng {
	private state: number;
	constructor(seed: number) {
		this.state = seed >>> 0;
	}

	/** Uniform in [0, 1). */
	next(): number {
		let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	}

	/** Integer in [lo, hi]. */
	int(lo: number, hi: number): number {
		return lo + Math.floor(this.next() * (hi - lo + 1));
	}

	pick<T>(xs: readonly T[]): T {
		return xs[Math.floor(this.next() * xs.length)];
	}

	/** Pick by weight; `weights` need not sum to 1. */
	weighted<T>(xs: readonly T[], weights: readonly number[]): T {
		let total = 0;
		for (const w of weights) total += w;
		let r = this.next() * total;
		for (let i = 0; i < xs.length; i++) {
			r -= weights[i];
			if (r < 0) return xs[i];
		}
		return xs[xs.length - 1];
	}

	/** Exponential with the given mean (inter-arrival times). */
	exponential(mean: number): number {
		return -Math.log(1 - this.next()) * mean;
	}
}
