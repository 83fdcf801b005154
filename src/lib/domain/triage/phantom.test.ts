import { describe, it, expect } from 'vitest';
import { chestXr, CtEncoding, Finding, headCtSeries, headCtSlice, Photometric, type PhantomImage } from './phantom';
import { createRng, deriveSeed } from './random';

const hu = (img: PhantomImage) => Array.from(img.pixels, (v) => v * img.rescaleSlope + img.rescaleIntercept);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

describe('random', () => {
	it('repeats a sequence for a seed and differs across seeds', () => {
		const a = createRng(42);
		const b = createRng(42);
		const c = createRng(43);
		const sa = Array.from({ length: 20 }, () => a.next());
		expect(Array.from({ length: 20 }, () => b.next())).toEqual(sa);
		expect(Array.from({ length: 20 }, () => c.next())).not.toEqual(sa);
		expect(sa.every((x) => x >= 0 && x < 1)).toBe(true);
	});

	it('gives roughly standard normal variates', () => {
		const r = createRng(1);
		const xs = Array.from({ length: 4000 }, () => r.normal());
		const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
		const sd = Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length);
		expect(Math.abs(mean)).toBeLessThan(0.06);
		expect(Math.abs(sd - 1)).toBeLessThan(0.06);
	});

	it('derives distinct child seeds', () => {
		const seeds = new Set(Array.from({ length: 1000 }, (_, i) => deriveSeed(7, i)));
		expect(seeds.size).toBe(1000);
	});
});

describe('head CT phantom', () => {
	it('is deterministic per seed, different across seeds', () => {
		const a = headCtSlice(11, { size: 96 });
		const b = headCtSlice(11, { size: 96 });
		const c = headCtSlice(12, { size: 96 });
		expect(Array.from(b.pixels)).toEqual(Array.from(a.pixels));
		expect(b.label).toEqual(a.label);
		expect(Array.from(c.pixels)).not.toEqual(Array.from(a.pixels));
	});

	it('has air, skull and brain at Hounsfield values a reader would expect', () => {
		const img = headCtSlice(3, { size: 128, hemorrhage: false });
		const v = hu(img);
		const n = img.columns;
		expect(median(v.slice(0, n))).toBeLessThan(-900); // top row: air
		expect(Math.max(...v)).toBeGreaterThan(600); // skull
		const centre: number[] = [];
		for (let y = n / 2 - 20; y < n / 2 - 10; y++) for (let x = n / 2 + 12; x < n / 2 + 22; x++) centre.push(v[y * n + x]);
		const m = median(centre);
		expect(m).toBeGreaterThan(20);
		expect(m).toBeLessThan(45);
		expect(img.label).toEqual({ positive: false, finding: Finding.none });
	});

	it('puts a 60-80 HU hemorrhage inside the labelled region', () => {
		for (const kind of [Finding.intraparenchymal, Finding.subdural] as const) {
			const img = headCtSlice(5, { size: 128, hemorrhage: true, kind });
			expect(img.label.positive).toBe(true);
			expect(img.label.finding).toBe(kind);
			const r = img.label.region!;
			const v = hu(img);
			const inBox: number[] = [];
			for (let y = r.y; y < r.y + r.height; y++) for (let x = r.x; x < r.x + r.width; x++) inBox.push(v[y * img.columns + x]);
			const bleed = inBox.filter((x) => x > 55 && x < 90).length;
			expect(bleed).toBeGreaterThan(10);
		}
	});

	it('stores the same Hounsfield units under every scanner encoding', () => {
		const ref = hu(headCtSlice(9, { size: 64, encoding: CtEncoding.signedHu }));
		for (const encoding of [CtEncoding.unsigned12, CtEncoding.signedOffset]) {
			const img = headCtSlice(9, { size: 64, encoding });
			expect(img.pixelRepresentation).toBe(encoding === CtEncoding.unsigned12 ? 0 : 1);
			expect(hu(img)).toEqual(ref.map((x) => Math.max(-1024, x)));
		}
	});

	it('builds a series that is positive only near the bleed', () => {
		const s = headCtSeries(21, { size: 64, slices: 16, hemorrhage: true });
		expect(s.slices).toHaveLength(16);
		expect(s.label.positive).toBe(true);
		const flags = s.slices.map((x) => x.label.positive);
		expect(flags.some((f) => f)).toBe(true);
		expect(flags.some((f) => !f)).toBe(true);
		expect(headCtSeries(21, { size: 64, slices: 16, hemorrhage: false }).slices.every((x) => !x.label.positive)).toBe(true);
	});
});

describe('chest radiograph phantom', () => {
	it('is deterministic and MONOCHROME1 stores the inverse of MONOCHROME2', () => {
		const a = chestXr(4, { size: 96, photometric: Photometric.monochrome2 });
		const b = chestXr(4, { size: 96, photometric: Photometric.monochrome1 });
		expect(Array.from(chestXr(4, { size: 96 }).pixels)).toEqual(Array.from(a.pixels));
		expect(Array.from(b.pixels)).toEqual(Array.from(a.pixels, (v) => 4095 - v));
		expect(b.photometricInterpretation).toBe('MONOCHROME1');
	});

	it('shows a pneumothorax as a lucent apicolateral region', () => {
		const img = chestXr(8, { size: 128, pneumothorax: true });
		expect(img.label.finding).toBe(Finding.pneumothorax);
		const r = img.label.region!;
		// the labelled region sits in the upper half and at one side of the chest
		expect(r.y).toBeLessThan(64);
		expect(Math.min(r.x, 128 - (r.x + r.width))).toBeLessThan(40);
		// same anatomy without the finding is brighter there (the collapsed space has no lung tissue)
		const normal = chestXr(8, { size: 128, pneumothorax: false });
		let diff = 0;
		for (let y = r.y; y < r.y + r.height; y++) for (let x = r.x; x < r.x + r.width; x++) diff += normal.pixels[y * 128 + x] - img.pixels[y * 128 + x];
		expect(diff / (r.width * r.height)).toBeGreaterThan(10);
		expect(normal.label.positive).toBe(false);
	});
});
