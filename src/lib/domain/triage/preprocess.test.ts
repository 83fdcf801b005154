import { describe, it, expect } from 'vitest';
import {
	applyWindow,
	downsampleBox,
	frameToModelInput,
	storedValue,
	storedValues,
	type LutCache,
	type PreprocessSpec,
	type StoredFrame,
	kernelClass,
	normalizeMinMax,
	Plane,
	planeOf,
	rescale,
	resampleTo,
	resizeBilinear,
	selectAxialSeries,
	selectSlices,
	toModelInput,
	type SeriesInfo
} from './preprocess';

const close = (a: ArrayLike<number>, b: number[], eps = 1e-5) => {
	expect(a.length).toBe(b.length);
	b.forEach((v, i) => expect(Math.abs(a[i] - v)).toBeLessThan(eps));
};

describe('rescale and windowing', () => {
	it('applies slope and intercept (stored 0 with intercept -1024 is air)', () => {
		close(rescale(new Uint16Array([0, 1024, 1064, 2024]), 1, -1024), [-1024, 0, 40, 1000]);
		close(rescale(new Int16Array([-10, 10]), 2.5, 3), [-22, 28]);
	});

	it('follows the DICOM linear VOI function for a brain window (W80/L40)', () => {
		// lower edge c-0.5-(w-1)/2 = 0, upper edge c-0.5+(w-1)/2 = 79
		const out = applyWindow([-1000, 0, 0.5, 39.5, 40, 79, 79.5, 1000], 40, 80);
		close(out, [0, 0, 0.5 - 39 / 79, 0.5, 0.5 + 0.5 / 79, 0.5 + 39.5 / 79, 1, 1]);
		expect(() => applyWindow([1], 40, 0)).toThrow(RangeError);
	});

	it('normalises min-max between percentiles, clamping outliers', () => {
		const values = Array.from({ length: 101 }, (_, i) => i);
		values[100] = 10_000; // a single hot pixel must not squash the range
		const out = normalizeMinMax(values, 0, 99);
		expect(out[0]).toBe(0);
		expect(out[50]).toBeCloseTo(50 / 99, 5);
		expect(out[100]).toBe(1);
		close(normalizeMinMax([5, 5, 5]), [0, 0, 0]);
	});
});

describe('resampling', () => {
	it('keeps an image unchanged at the same size and a constant image constant', () => {
		const src = { width: 3, height: 2, data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
		close(resizeBilinear(src, 3, 2).data, [1, 2, 3, 4, 5, 6]);
		const flat = { width: 7, height: 5, data: new Float32Array(35).fill(0.25) };
		expect(Array.from(resizeBilinear(flat, 13, 3).data).every((v) => Math.abs(v - 0.25) < 1e-6)).toBe(true);
	});

	it('upsamples 2×2 → 4×4 with half-pixel centres', () => {
		const out = resizeBilinear({ width: 2, height: 2, data: Float32Array.from([0, 1, 2, 3]) }, 4, 4);
		// first row: samples at x = -0.25 (clamped 0), 0.25, 0.75, 1.25 (clamped 1)
		close(out.data.slice(0, 4), [0, 0.25, 0.75, 1]);
		close(out.data.slice(12, 16), [2, 2.25, 2.75, 3]);
	});

	it('box-averages when shrinking so thin structures are not skipped', () => {
		// one bright column out of every four: plain bilinear at 1/4 scale can miss it entirely
		const w = 64;
		const data = new Float32Array(w * w);
		for (let y = 0; y < w; y++) for (let x = 0; x < w; x += 4) data[y * w + x] = 1;
		const out = resampleTo({ width: w, height: w, data }, 16, 16);
		expect(out.width).toBe(16);
		expect(Array.from(out.data).every((v) => Math.abs(v - 0.25) < 1e-6)).toBe(true);
		close(downsampleBox({ width: 4, height: 2, data: Float32Array.from([1, 3, 5, 7, 1, 3, 5, 7]) }, 2, 2).data, [2, 6]);
	});

	it('windows, inverts MONOCHROME1 and resamples to the model size', () => {
		const values = Float32Array.from([0, 80, 80, 0]);
		const m2 = toModelInput({ width: 2, height: 2, values, invert: false }, { width: 2, height: 2, normalization: { kind: 'window', center: 40, width: 80 } });
		const m1 = toModelInput({ width: 2, height: 2, values, invert: true }, { width: 2, height: 2, normalization: { kind: 'window', center: 40, width: 80 } });
		close(m2.data, [0, 1, 1, 0]);
		close(m1.data, [1, 0, 0, 1]);
	});
});

describe('series and slice selection', () => {
	const AX = [1, 0, 0, 0, 1, 0];
	const COR = [1, 0, 0, 0, 0, -1];
	const SAG = [0, 1, 0, 0, 0, -1];

	it('classifies planes from Image Orientation (Patient), tolerating tilt', () => {
		expect(planeOf(AX)).toBe(Plane.axial);
		const t = (15 * Math.PI) / 180; // 15° gantry tilt
		expect(planeOf([1, 0, 0, 0, Math.cos(t), Math.sin(t)])).toBe(Plane.axial);
		const o = (40 * Math.PI) / 180;
		expect(planeOf([1, 0, 0, 0, Math.cos(o), Math.sin(o)])).toBe(Plane.oblique);
		expect(planeOf(COR)).toBe(Plane.coronal);
		expect(planeOf(SAG)).toBe(Plane.sagittal);
		expect(planeOf(undefined)).toBe(Plane.unknown);
		expect(planeOf([1, 0, 0])).toBe(Plane.unknown);
	});

	it('recognises soft and sharp reconstruction kernels', () => {
		expect(kernelClass('H30s')).toBe('soft');
		expect(kernelClass('Hr38')).toBe('soft');
		expect(kernelClass('H70h')).toBe('sharp');
		expect(kernelClass('BONE')).toBe('sharp');
		expect(kernelClass('LUNG')).toBe('sharp');
		expect(kernelClass('STANDARD')).toBe('soft');
		expect(kernelClass('SOFT')).toBe('soft');
		expect(kernelClass(undefined, 'Bone window 1mm')).toBe('sharp');
		expect(kernelClass(undefined)).toBe('unknown');
	});

	it('chooses the axial soft-tissue series with the most slices', () => {
		const series: SeriesInfo[] = [
			{ seriesInstanceUid: '1.1', modality: 'CT', imageOrientationPatient: AX, numberOfInstances: 300, convolutionKernel: 'H70h' },
			{ seriesInstanceUid: '1.2', modality: 'CT', imageOrientationPatient: COR, numberOfInstances: 400, convolutionKernel: 'H30s' },
			{ seriesInstanceUid: '1.3', modality: 'CT', imageOrientationPatient: AX, numberOfInstances: 32, convolutionKernel: 'H30s' },
			{ seriesInstanceUid: '1.4', modality: 'CT', imageOrientationPatient: AX, numberOfInstances: 150, convolutionKernel: 'J40s' },
			{ seriesInstanceUid: '1.5', modality: 'CT', numberOfInstances: 1, seriesDescription: 'Scout' }
		];
		const choice = selectAxialSeries(series);
		expect(choice.series?.seriesInstanceUid).toBe('1.4');
		expect(choice.reason).toContain('soft');
		// with only a bone series, take it rather than nothing
		expect(selectAxialSeries([series[0], series[1]]).series?.seriesInstanceUid).toBe('1.1');
		expect(selectAxialSeries([series[1], series[4]]).series).toBeNull();
	});

	it('orders slices by position along the normal and picks from the central part', () => {
		// shuffled z positions 0..19 with instance numbers that disagree with position
		const zs = [7, 3, 19, 0, 12, 5, 16, 1, 9, 14, 2, 18, 6, 11, 4, 17, 8, 13, 10, 15];
		const slices = zs.map((z, i) => ({ imagePositionPatient: [0, 0, z * 5], imageOrientationPatient: AX, instanceNumber: 100 - i }));
		const picked = selectSlices(slices, 5, 0.8);
		const pickedZ = picked.map((i) => zs[i]);
		expect(pickedZ).toEqual([...pickedZ].sort((a, b) => a - b));
		expect(pickedZ[0]).toBe(2); // 10 % margin of 19 ≈ 1.9 → index 2
		expect(pickedZ.at(-1)).toBe(17);
		expect(new Set(picked).size).toBe(5);
		// everything when asking for more than there is, in order
		expect(selectSlices(slices.slice(0, 3), 10).map((i) => zs[i])).toEqual([3, 7, 19]);
		// no positions: instance number order
		expect(selectSlices([{ instanceNumber: 3 }, { instanceNumber: 1 }, { instanceNumber: 2 }], 3)).toEqual([1, 2, 0]);
	});
});

describe('fast path: stored words → model input', () => {
	/** The reference path: stored values → rescale → toModelInput. */
	const reference = (f: StoredFrame, spec: PreprocessSpec) =>
		toModelInput({ width: f.width, height: f.height, values: rescale(storedValues(f), f.rescaleSlope, f.rescaleIntercept), invert: f.invert }, spec).data;

	/** Deterministic words: a bright disc on a ramp, junk in the bits above Bits Stored. */
	function frame(width: number, height: number, o: Partial<StoredFrame> & { eightBit?: boolean; junk?: number } = {}): StoredFrame {
		const words = o.eightBit ? new Uint8Array(width * height) : new Uint16Array(width * height);
		const bitsStored = o.bitsStored ?? (o.eightBit ? 8 : 12);
		let x = 12345;
		for (let i = 0; i < words.length; i++) {
			x = (x * 1103515245 + 12345) >>> 0;
			const r = Math.hypot((i % width) - width / 2, Math.floor(i / width) - height / 2);
			const v = (r < width / 4 ? (1 << bitsStored) * 0.7 : ((i % width) / width) * (1 << bitsStored) * 0.5) + (x % 37);
			words[i] = (Math.floor(v) & ((1 << bitsStored) - 1)) | ((o.junk ?? 0) << bitsStored);
		}
		return { width, height, words, bitsStored, signed: false, rescaleSlope: 1, rescaleIntercept: -1024, invert: false, ...o };
	}

	const brain: PreprocessSpec = { width: 64, height: 64, normalization: { kind: 'window', center: 40, width: 80 } };
	const wide: PreprocessSpec = { width: 64, height: 64, normalization: { kind: 'window', center: 300, width: 2500 } };
	const minmax: PreprocessSpec = { width: 64, height: 64, normalization: { kind: 'minmax' } };

	const cases: [string, StoredFrame, PreprocessSpec][] = [
		['512² unsigned 12-bit CT, brain window (box 8×8 exactly)', frame(512, 512), brain],
		['512² with junk above Bits Stored', frame(512, 512, { junk: 0xa }), wide],
		['512² signed 12-bit (two’s complement within Bits Stored)', frame(512, 512, { signed: true, rescaleIntercept: 0 }), wide],
		['256² signed 16-bit HU with slope', frame(256, 256, { bitsStored: 16, signed: true, rescaleSlope: 0.5, rescaleIntercept: -3 }), brain],
		['200×120 (box then bilinear)', frame(200, 120), brain],
		['640×704 (box 10×11: eight words at a time, then the rest of the block row)', frame(640, 704), brain],
		['100² (no box, bilinear up and down)', frame(100, 100), brain],
		['64² (same size)', frame(64, 64), brain],
		['8-bit signed', frame(128, 128, { eightBit: true, signed: true, rescaleSlope: 7, rescaleIntercept: -100 }), wide],
		['512² 8-bit (box 8×8)', frame(512, 512, { eightBit: true, rescaleIntercept: 0 }), wide],
		['1024² radiograph, min-max', frame(1024, 1024, { rescaleIntercept: 0 }), minmax],
		['MONOCHROME1 radiograph, min-max, negative slope', frame(300, 260, { invert: true, rescaleSlope: -2, rescaleIntercept: 5 }), minmax],
		['MONOCHROME1 CT window', frame(512, 512, { invert: true }), brain],
		['min-max with explicit percentiles', frame(96, 96), { width: 32, height: 32, normalization: { kind: 'minmax', low: 2, high: 98 } }]
	];
	for (const [name, f, spec] of cases) {
		it(`gives the reference result bit for bit: ${name}`, () => {
			const fast = frameToModelInput(f, spec);
			expect([fast.width, fast.height]).toEqual([spec.width, spec.height]);
			expect(Array.from(fast.data)).toEqual(Array.from(reference(f, spec)));
		});
	}

	it('reuses a window table across slices of one encoding and stays exact', () => {
		const cache: LutCache = new Map();
		const a = frame(256, 256);
		const b = frame(256, 256, { junk: 3 });
		expect(Array.from(frameToModelInput(a, brain, cache).data)).toEqual(Array.from(reference(a, brain)));
		expect(Array.from(frameToModelInput(b, brain, cache).data)).toEqual(Array.from(reference(b, brain)));
		expect(cache.size).toBe(1);
		frameToModelInput({ ...a, rescaleIntercept: 0 }, brain, cache);
		expect(cache.size).toBe(2);
	});

	it('masks and sign-extends stored words as PS3.5 8.1.1 says', () => {
		expect([0xaffb, 0x0005, 0x07ff, 0xf800].map((w) => storedValue(w, 12, true))).toEqual([-5, 5, 2047, -2048]);
		expect([0xaffb, 0x0005, 0x07ff, 0xf800].map((w) => storedValue(w, 12, false))).toEqual([0xffb, 5, 0x7ff, 0x800]);
		expect(storedValue(0xff, 8, true)).toBe(-1);
		expect(storedValue(0x8000, 16, true)).toBe(-32768);
	});
});
