import { describe, expect, it } from 'vitest';
import { createRng, lnGamma, seedFrom } from './random';

function moments(xs: number[]): { mean: number; variance: number } {
	const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
	const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
	return { mean, variance };
}

describe('createRng', () => {
	it('replays the same sequence for the same seed, and another for another seed', () => {
		const a = createRng(42);
		const b = createRng(42);
		const c = createRng(43);
		const sa = Array.from({ length: 20 }, () => a.next());
		const sb = Array.from({ length: 20 }, () => b.next());
		const sc = Array.from({ length: 20 }, () => c.next());
		expect(sa).toEqual(sb);
		expect(sa).not.toEqual(sc);
		expect(createRng('site-a').next()).toBe(createRng(seedFrom('site-a')).next());
	});

	it('draws uniforms in [0, 1) with the right mean and spread', () => {
		const rng = createRng(1);
		const xs = Array.from({ length: 50_000 }, () => rng.next());
		expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
		expect(Math.max(...xs)).toBeLessThan(1);
		const { mean, variance } = moments(xs);
		expect(mean).toBeCloseTo(0.5, 2);
		expect(variance).toBeCloseTo(1 / 12, 2);
		const bins = new Array(10).fill(0);
		for (const x of xs) bins[Math.floor(x * 10)]++;
		for (const b of bins) expect(Math.abs(b - 5000)).toBeLessThan(300);
	});

	it('draws integers within inclusive bounds, all values reachable', () => {
		const rng = createRng(5);
		const seen = new Set<number>();
		for (let i = 0; i < 2000; i++) {
			const v = rng.int(3, 7);
			expect(v).toBeGreaterThanOrEqual(3);
			expect(v).toBeLessThanOrEqual(7);
			seen.add(v);
		}
		expect([...seen].sort()).toEqual([3, 4, 5, 6, 7]);
	});

	it('draws normals with the requested mean and standard deviation', () => {
		const rng = createRng(7);
		const { mean, variance } = moments(Array.from({ length: 40_000 }, () => rng.normal(10, 3)));
		expect(mean).toBeCloseTo(10, 1);
		expect(Math.sqrt(variance)).toBeCloseTo(3, 1);
	});

	it.each([0.3, 4, 29.5, 30, 75, 400])('draws Poisson(%f) with mean = variance = λ', (lambda) => {
		const rng = createRng(`poisson-${lambda}`);
		const xs = Array.from({ length: 30_000 }, () => rng.poisson(lambda));
		expect(xs.every((x) => Number.isInteger(x) && x >= 0)).toBe(true);
		const { mean, variance } = moments(xs);
		const se = Math.sqrt(lambda / xs.length);
		expect(Math.abs(mean - lambda)).toBeLessThan(5 * se);
		expect(variance / lambda).toBeGreaterThan(0.93);
		expect(variance / lambda).toBeLessThan(1.07);
	});

	it('matches the Poisson probability of zero and of the mode for a large mean', () => {
		const rng = createRng(11);
		const lambda = 50;
		const n = 40_000;
		let atMode = 0;
		for (let i = 0; i < n; i++) if (rng.poisson(lambda) === 50) atMode++;
		const p = Math.exp(-lambda + 50 * Math.log(lambda) - lnGamma(51));
		expect(Math.abs(atMode / n - p)).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / n));
		expect(createRng(1).poisson(0)).toBe(0);
	});

	it('chooses uniformly and by weight', () => {
		const rng = createRng(3);
		const counts = { a: 0, b: 0, c: 0 };
		for (let i = 0; i < 30_000; i++) counts[rng.weighted(['a', 'b', 'c'] as const, [1, 2, 7])]++;
		expect(counts.a / 30_000).toBeCloseTo(0.1, 1);
		expect(counts.c / 30_000).toBeCloseTo(0.7, 1);
		const picks = new Set(Array.from({ length: 200 }, () => rng.choice(['x', 'y'])));
		expect(picks).toEqual(new Set(['x', 'y']));
		expect(() => rng.choice([])).toThrow(RangeError);
		expect(() => rng.weighted(['a'], [0])).toThrow(RangeError);
	});

	it('forks independent but reproducible streams', () => {
		const f1 = createRng(9).fork();
		const f2 = createRng(9).fork();
		expect(f1.next()).toBe(f2.next());
		const parent = createRng(9);
		const child = parent.fork();
		expect(child.next()).not.toBe(parent.next());
	});
});

describe('lnGamma', () => {
	it('matches log factorials and Γ(1/2) = √π', () => {
		expect(lnGamma(1)).toBeCloseTo(0, 10);
		expect(lnGamma(6)).toBeCloseTo(Math.log(120), 10);
		expect(lnGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 10);
		expect(lnGamma(101)).toBeCloseTo(363.73937555556347, 8);
	});
});
