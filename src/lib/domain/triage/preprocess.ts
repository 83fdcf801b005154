/**
 * Pixel preprocessing for the triage models: Modality LUT (rescale), VOI
 * windowing, robust min-max normalisation, resampling, and the choice of
 * which CT series and slices to feed a model.
 *
 * Pure functions over typed arrays; no I/O.
 *
 * @see https://dicom.nema.org/medical/dicom/current/output/chtml/part03/sect_C.11.html (LUT modules)
 */

/** A single-channel image of float samples, row-major. */
export interface FloatImage {
	width: number;
	height: number;
	data: Float32Array;
}

/**
 * Apply the Modality LUT as a linear rescale: output = stored * slope + intercept.
 * For CT the output unit is Hounsfield units.
 * @see https://dicom.nema.org/medical/dicom/current/output/chtml/part03/sect_C.11.html#sect_C.11.1.1.2
 */
export function rescale(stored: ArrayLike<number>, slope = 1, intercept = 0): Float32Array {
	const out = new Float32Array(stored.length);
	for (let i = 0; i < stored.length; i++) out[i] = stored[i] * slope + intercept;
	return out;
}

/**
 * Linear VOI window to [0, 1] per the DICOM LINEAR function:
 * below c - 0.5 - (w-1)/2 → 0, above c - 0.5 + (w-1)/2 → 1,
 * else ((x - (c - 0.5)) / (w - 1) + 0.5).
 * @see https://dicom.nema.org/medical/dicom/current/output/chtml/part03/sect_C.11.2.html#sect_C.11.2.1.2.1
 */
export function applyWindow(values: ArrayLike<number>, center: number, width: number): Float32Array {
	if (!(width >= 1)) throw new RangeError(`window width must be >= 1, got ${width}`);
	const out = new Float32Array(values.length);
	const lo = center - 0.5 - (width - 1) / 2;
	const hi = center - 0.5 + (width - 1) / 2;
	const span = width - 1;
	for (let i = 0; i < values.length; i++) {
		const x = values[i];
		if (x <= lo) out[i] = 0;
		else if (x > hi) out[i] = 1;
		else out[i] = span === 0 ? 1 : (x - (center - 0.5)) / span + 0.5;
	}
	return out;
}

/**
 * Normalise to [0, 1] between two percentiles of the data (robust min-max),
 * for modalities without calibrated units such as radiographs.
 */
export function normalizeMinMax(values: ArrayLike<number>, lowPercentile = 0.5, highPercentile = 99.5): Float32Array {
	const n = values.length;
	const out = new Float32Array(n);
	if (n === 0) return out;
	const sorted = Float32Array.from(values).sort();
	const lo = sorted[percentileRank(n, lowPercentile)];
	const hi = sorted[percentileRank(n, highPercentile)];
	return normalizeBetween(values, lo, hi, out);
}

/** Index into n sorted samples of the p-th percentile (nearest rank), as normalizeMinMax reads it. */
export function percentileRank(n: number, p: number): number {
	return Math.min(n - 1, Math.max(0, Math.round((p / 100) * (n - 1))));
}

/** Map [lo, hi] linearly to [0, 1], clamping; all zeros when hi <= lo. */
export function normalizeBetween(values: ArrayLike<number>, lo: number, hi: number, out = new Float32Array(values.length)): Float32Array {
	const span = hi - lo;
	for (let i = 0; i < values.length; i++) {
		const v = span > 0 ? (values[i] - lo) / span : 0;
		out[i] = v < 0 ? 0 : v > 1 ? 1 : v;
	}
	return out;
}

/** MONOCHROME1 is displayed inverted: after windowing, 1 - x gives MONOCHROME2 semantics. @see PS3.3 C.7.6.3.1.2 */
export function invert01(values: Float32Array): Float32Array {
	const out = new Float32Array(values.length);
	for (let i = 0; i < values.length; i++) out[i] = 1 - values[i];
	return out;
}

/**
 * Bilinear resampling with half-pixel centres (the convention of most image
 * libraries with align_corners = false). Edge samples are clamped.
 */
export function resizeBilinear(src: FloatImage, width: number, height: number): FloatImage {
	const out = new Float32Array(width * height);
	const sx = src.width / width;
	const sy = src.height / height;
	for (let y = 0; y < height; y++) {
		const fy = Math.min(src.height - 1, Math.max(0, (y + 0.5) * sy - 0.5));
		const y0 = Math.floor(fy);
		const y1 = Math.min(src.height - 1, y0 + 1);
		const wy = fy - y0;
		for (let x = 0; x < width; x++) {
			const fx = Math.min(src.width - 1, Math.max(0, (x + 0.5) * sx - 0.5));
			const x0 = Math.floor(fx);
			const x1 = Math.min(src.width - 1, x0 + 1);
			const wx = fx - x0;
			const a = src.data[y0 * src.width + x0];
			const b = src.data[y0 * src.width + x1];
			const c = src.data[y1 * src.width + x0];
			const d = src.data[y1 * src.width + x1];
			out[y * width + x] = (a * (1 - wx) + b * wx) * (1 - wy) + (c * (1 - wx) + d * wx) * wy;
		}
	}
	return { width, height, data: out };
}

/**
 * Area-average (box) downsampling by an integer factor per axis. Used before
 * bilinear resampling when shrinking, so that small bright findings are
 * averaged in rather than skipped between sample points (aliasing).
 */
export function downsampleBox(src: FloatImage, fx: number, fy: number): FloatImage {
	const width = Math.floor(src.width / fx);
	const height = Math.floor(src.height / fy);
	const out = new Float32Array(width * height);
	const norm = 1 / (fx * fy);
	for (let y = 0; y < height; y++) {
		for (let x = 0; x < width; x++) {
			let sum = 0;
			for (let j = 0; j < fy; j++) {
				const row = (y * fy + j) * src.width + x * fx;
				for (let i = 0; i < fx; i++) sum += src.data[row + i];
			}
			out[y * width + x] = sum * norm;
		}
	}
	return { width, height, data: out };
}

/**
 * Resample to a model's input size: box-average by the largest integer factor
 * that keeps the image at least as large as the target, then bilinear.
 */
export function resampleTo(src: FloatImage, width: number, height: number): FloatImage {
	const fx = Math.max(1, Math.floor(src.width / width));
	const fy = Math.max(1, Math.floor(src.height / height));
	const boxed = fx > 1 || fy > 1 ? downsampleBox(src, fx, fy) : src;
	if (boxed.width === width && boxed.height === height) return boxed;
	return resizeBilinear(boxed, width, height);
}

/** How a model wants its pixels normalised before resampling. */
export type Normalization = { kind: 'window'; center: number; width: number } | { kind: 'minmax'; low?: number; high?: number };

/** Everything needed to turn decoded pixels into a model input. */
export interface PreprocessSpec {
	width: number;
	height: number;
	normalization: Normalization;
}

/** Decoded modality pixels (after the Modality LUT) of one frame. */
export interface ModalityImage {
	width: number;
	height: number;
	/** Values after rescale (HU for CT). */
	values: Float32Array;
	/** MONOCHROME1 images get inverted after windowing. */
	invert: boolean;
}

/** Window (or min-max), invert MONOCHROME1, resample: a [0,1] float image at the model's size. */
export function toModelInput(img: ModalityImage, spec: PreprocessSpec): FloatImage {
	const norm = spec.normalization;
	let data: Float32Array;
	switch (norm.kind) {
		case 'window':
			data = applyWindow(img.values, norm.center, norm.width);
			break;
		case 'minmax':
			data = normalizeMinMax(img.values, norm.low, norm.high);
			break;
		default:
			return norm satisfies never;
	}
	if (img.invert) data = invert01(data);
	return resampleTo({ width: img.width, height: img.height, data }, spec.width, spec.height);
}

// ---------------------------------------------------------------------------
// Fast path: stored words → model input without full-size float images

/**
 * One frame of pixel data as stored in the file (little-endian words, high
 * bits possibly junk), with what turns it into modality values.
 */
export interface StoredFrame {
	width: number;
	height: number;
	/** Uint8Array for 8 bits allocated, Uint16Array for 16. */
	words: Uint8Array | Uint16Array;
	bitsStored: number;
	/** Pixel Representation 1: two's complement within Bits Stored. */
	signed: boolean;
	rescaleSlope: number;
	rescaleIntercept: number;
	/** MONOCHROME1: invert after windowing. */
	invert: boolean;
}

/**
 * The stored value of one word: bits above Bits Stored masked off,
 * sign-extended within Bits Stored when signed (e.g. 12-bit signed CT).
 * @see PS3.5 8.1.1
 */
export function storedValue(word: number, bitsStored: number, signed: boolean): number {
	const mask = bitsStored >= 32 ? 0xffffffff : (1 << bitsStored) - 1;
	let v = word & mask;
	if (signed && v & (1 << (bitsStored - 1))) v -= 1 << bitsStored;
	return v;
}

/** The stored values of a frame, as the reference decoder produces them. */
export function storedValues(frame: StoredFrame): Int32Array {
	const { words, bitsStored, signed } = frame;
	const out = new Int32Array(words.length);
	for (let i = 0; i < words.length; i++) out[i] = storedValue(words[i], bitsStored, signed);
	return out;
}

/** Lookup tables by frame encoding and window, reusable across the slices of a series. */
export type LutCache = Map<string, { lut: Float32Array }>;

/** Modality values (rescaled, float32 like the reference) of the words 0..max. */
function modalityValuesOfWords(frame: StoredFrame, max: number): Float32Array {
	const stored = new Int32Array(max + 1);
	for (let w = 0; w <= max; w++) stored[w] = storedValue(w, frame.bitsStored, frame.signed);
	return rescale(stored, frame.rescaleSlope, frame.rescaleIntercept);
}

/**
 * Word → normalised [0, 1] value, computed with the same functions as the
 * reference path (rescale, applyWindow / normalizeBetween, invert01), so the
 * table holds exactly the values the reference produces per pixel.
 */
function wordLut(frame: StoredFrame, norm: Normalization, cache?: LutCache): { lut: Float32Array } {
	if (norm.kind === 'window') {
		const bitsAllocated = frame.words.BYTES_PER_ELEMENT * 8;
		const key = `${bitsAllocated}/${frame.bitsStored}/${frame.signed}/${frame.rescaleSlope}/${frame.rescaleIntercept}/${norm.center}/${norm.width}/${frame.invert}`;
		const hit = cache?.get(key);
		if (hit) return hit;
		// the whole word range once per encoding: later slices with other extremes reuse it
		const max = bitsAllocated === 8 ? 0xff : 0xffff;
		let lut = applyWindow(modalityValuesOfWords(frame, max), norm.center, norm.width);
		if (frame.invert) lut = invert01(lut);
		const entry = { lut };
		cache?.set(key, entry);
		return entry;
	}
	// Min-max depends on this image's percentiles: a histogram of words gives them exactly.
	// The table starts at word 0 (lookups need no offset); words below the smallest are never looked up.
	const words = frame.words;
	const counts = new Uint32Array(words.BYTES_PER_ELEMENT === 1 ? 0x100 : 0x10000);
	for (let i = 0; i < words.length; i++) counts[words[i]]++;
	let max = counts.length - 1;
	while (max > 0 && counts[max] === 0) max--;
	const values = modalityValuesOfWords(frame, max);
	const present: number[] = [];
	for (let k = 0; k < counts.length; k++) if (counts[k] > 0) present.push(k);
	present.sort((a, b) => values[a] - values[b]);
	const n = words.length;
	const valueAtRank = (rank: number): number => {
		let seen = 0;
		for (const k of present) {
			seen += counts[k];
			if (seen > rank) return values[k];
		}
		return values[present[present.length - 1]];
	};
	const lo = valueAtRank(percentileRank(n, norm.low ?? 0.5));
	const hi = valueAtRank(percentileRank(n, norm.high ?? 99.5));
	let lut = normalizeBetween(values, lo, hi);
	if (frame.invert) lut = invert01(lut);
	return { lut };
}

/**
 * Same result as `toModelInput` on the decoded frame (bit for bit), without
 * building full-size stored, modality and windowed images: each word is
 * mapped through a lookup table while box-averaging, so a 512×512 slice
 * costs one pass over its words.
 */
export function frameToModelInput(frame: StoredFrame, spec: PreprocessSpec, cache?: LutCache): FloatImage {
	const { lut } = wordLut(frame, spec.normalization, cache);
	const { width: W, height: H, words } = frame;
	const fx = Math.max(1, Math.floor(W / spec.width));
	const fy = Math.max(1, Math.floor(H / spec.height));
	if (fx === 1 && fy === 1) {
		const data = new Float32Array(W * H);
		for (let i = 0; i < data.length; i++) data[i] = lut[words[i]];
		const full = { width: W, height: H, data };
		return W === spec.width && H === spec.height ? full : resizeBilinear(full, spec.width, spec.height);
	}
	const bw = Math.floor(W / fx);
	const bh = Math.floor(H / fy);
	const out =
		words instanceof Uint16Array ? boxThroughLut16(words, W, fx, fy, bw, bh, lut) : boxThroughLut8(words, W, fx, fy, bw, bh, lut);
	const boxed = { width: bw, height: bh, data: out };
	return bw === spec.width && bh === spec.height ? boxed : resizeBilinear(boxed, spec.width, spec.height);
}

/*
 * downsampleBox read through the table. Rows are walked in input order with
 * one running sum per output column; each sum still adds its block's values
 * row by row, left to right, exactly as downsampleBox does, so the float
 * results are identical. A block row is added eight words per statement
 * (`s + a + b + …` still adds left to right): about twice as fast as one word
 * per loop turn. Two copies keep each loop monomorphic (8 / 16 bit).
 */
function boxThroughLut16(words: Uint16Array, W: number, fx: number, fy: number, bw: number, bh: number, lut: Float32Array): Float32Array {
	const out = new Float32Array(bw * bh);
	const acc = new Float64Array(bw);
	const norm = 1 / (fx * fy);
	const by8 = fx - (fx % 8);
	for (let y = 0; y < bh; y++) {
		acc.fill(0);
		for (let j = 0; j < fy; j++) {
			let p = (y * fy + j) * W;
			for (let x = 0; x < bw; x++) {
				let sum = acc[x];
				let i = 0;
				for (; i < by8; i += 8, p += 8)
					sum = sum + lut[words[p]] + lut[words[p + 1]] + lut[words[p + 2]] + lut[words[p + 3]] + lut[words[p + 4]] + lut[words[p + 5]] + lut[words[p + 6]] + lut[words[p + 7]];
				for (; i < fx; i++) sum += lut[words[p++]];
				acc[x] = sum;
			}
		}
		for (let x = 0; x < bw; x++) out[y * bw + x] = acc[x] * norm;
	}
	return out;
}

function boxThroughLut8(words: Uint8Array, W: number, fx: number, fy: number, bw: number, bh: number, lut: Float32Array): Float32Array {
	const out = new Float32Array(bw * bh);
	const acc = new Float64Array(bw);
	const norm = 1 / (fx * fy);
	const by8 = fx - (fx % 8);
	for (let y = 0; y < bh; y++) {
		acc.fill(0);
		for (let j = 0; j < fy; j++) {
			let p = (y * fy + j) * W;
			for (let x = 0; x < bw; x++) {
				let sum = acc[x];
				let i = 0;
				for (; i < by8; i += 8, p += 8)
					sum = sum + lut[words[p]] + lut[words[p + 1]] + lut[words[p + 2]] + lut[words[p + 3]] + lut[words[p + 4]] + lut[words[p + 5]] + lut[words[p + 6]] + lut[words[p + 7]];
				for (; i < fx; i++) sum += lut[words[p++]];
				acc[x] = sum;
			}
		}
		for (let x = 0; x < bw; x++) out[y * bw + x] = acc[x] * norm;
	}
	return out;
}

// ---------------------------------------------------------------------------
// Series and slice selection (CT)

/** What selection needs to know about one series of a study. */
export interface SeriesInfo {
	seriesInstanceUid: string;
	modality: string;
	/** Image Orientation (Patient) (0020,0037) of the first instance: row then column direction cosines. */
	imageOrientationPatient?: readonly number[];
	numberOfInstances: number;
	/** Convolution Kernel (0018,1210). */
	convolutionKernel?: string;
	seriesDescription?: string;
	sliceThickness?: number;
}

/** The plane a series is acquired in, from its orientation cosines. */
export const Plane = { axial: 'axial', coronal: 'coronal', sagittal: 'sagittal', oblique: 'oblique', unknown: 'unknown' } as const;
export type Plane = (typeof Plane)[keyof typeof Plane];

/**
 * Classify the imaging plane from Image Orientation (Patient): the slice
 * normal is row × column; axial when it lies within ~18° of the patient's
 * z axis (|n_z| ≥ 0.95), and so on.
 * @see https://dicom.nema.org/medical/dicom/current/output/chtml/part03/sect_C.7.6.2.html#sect_C.7.6.2.1.1
 */
export function planeOf(iop: readonly number[] | undefined, tolerance = 0.95): Plane {
	if (!iop || iop.length !== 6 || iop.some((v) => !Number.isFinite(v))) return Plane.unknown;
	const [rx, ry, rz, cx, cy, cz] = iop;
	const nx = ry * cz - rz * cy;
	const ny = rz * cx - rx * cz;
	const nz = rx * cy - ry * cx;
	const len = Math.hypot(nx, ny, nz);
	if (len < 1e-6) return Plane.unknown;
	if (Math.abs(nz) / len >= tolerance) return Plane.axial;
	if (Math.abs(ny) / len >= tolerance) return Plane.coronal;
	if (Math.abs(nx) / len >= tolerance) return Plane.sagittal;
	return Plane.oblique;
}

/** Reconstruction kernel family. */
export const KernelClass = { soft: 'soft', sharp: 'sharp', unknown: 'unknown' } as const;
export type KernelClass = (typeof KernelClass)[keyof typeof KernelClass];

const SHARP_WORDS = /bone|lung|sharp|edge|detail|\by[a-f]\b/i;
const SOFT_WORDS = /soft|standard|\bstd\b|brain|smooth|\bub\b|\bfc[0-2]\d\b/i;

/**
 * Guess the kernel family from the vendor's kernel name (and, failing that,
 * the series description). Siemens-style names ("H30s", "Hr38", "J40s")
 * carry a sharpness number: >= 60 is a bone/lung kernel.
 */
export function kernelClass(kernel: string | undefined, description?: string): KernelClass {
	const k = (kernel ?? '').trim();
	const siemens = /^[A-Za-z]{1,2}(\d{2})[a-z]?\b/.exec(k);
	if (siemens) return Number(siemens[1]) >= 60 ? KernelClass.sharp : KernelClass.soft;
	if (k && SHARP_WORDS.test(k)) return KernelClass.sharp;
	if (k && SOFT_WORDS.test(k)) return KernelClass.soft;
	const d = description ?? '';
	if (/bone|lung|sharp/i.test(d)) return KernelClass.sharp;
	if (/soft|brain|standard/i.test(d)) return KernelClass.soft;
	return KernelClass.unknown;
}

/** Why a series was (not) chosen; for logs and the dashboard. */
export interface SeriesChoice {
	series: SeriesInfo | null;
	reason: string;
}

/**
 * Choose the CT series to triage: axial only; prefer a soft-tissue kernel
 * over an unknown one over a sharp one; then the most slices; then the
 * thinnest slices; ties broken by UID so the choice is deterministic.
 */
export function selectAxialSeries(series: readonly SeriesInfo[]): SeriesChoice {
	const kernelRank = { [KernelClass.soft]: 0, [KernelClass.unknown]: 1, [KernelClass.sharp]: 2 } as const;
	const axial = series.filter((s) => planeOf(s.imageOrientationPatient) === Plane.axial && s.numberOfInstances > 0);
	if (axial.length === 0) return { series: null, reason: `no axial series among ${series.length}` };
	const ranked = [...axial].sort(
		(a, b) =>
			kernelRank[kernelClass(a.convolutionKernel, a.seriesDescription)] - kernelRank[kernelClass(b.convolutionKernel, b.seriesDescription)] ||
			b.numberOfInstances - a.numberOfInstances ||
			(a.sliceThickness ?? Infinity) - (b.sliceThickness ?? Infinity) ||
			a.seriesInstanceUid.localeCompare(b.seriesInstanceUid)
	);
	const best = ranked[0];
	const kc = kernelClass(best.convolutionKernel, best.seriesDescription);
	return { series: best, reason: `axial, ${kc} kernel, ${best.numberOfInstances} slices (of ${series.length} series)` };
}

/** Position of one slice for ordering. */
export interface SlicePosition {
	/** Image Position (Patient) (0020,0032). */
	imagePositionPatient?: readonly number[];
	imageOrientationPatient?: readonly number[];
	instanceNumber?: number;
}

/**
 * Order slices along the slice normal (position · normal), falling back to
 * Instance Number, and pick `count` of them evenly spread over the central
 * `coverage` fraction of the stack (the ends are skull base / vertex, where a
 * slice-wise model has least to say). Returns indices into the input.
 */
export function selectSlices(slices: readonly SlicePosition[], count: number, coverage = 0.8): number[] {
	if (slices.length === 0 || count <= 0) return [];
	const key = (s: SlicePosition, i: number): number => {
		const p = s.imagePositionPatient;
		const o = s.imageOrientationPatient;
		if (p && p.length === 3 && o && o.length === 6) {
			const n = [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]];
			return p[0] * n[0] + p[1] * n[1] + p[2] * n[2];
		}
		return s.instanceNumber ?? i;
	};
	const order = slices.map((s, i) => ({ i, k: key(s, i) })).sort((a, b) => a.k - b.k || a.i - b.i).map((e) => e.i);
	if (count >= order.length) return order;
	const n = order.length;
	const margin = ((1 - coverage) / 2) * (n - 1);
	const picked: number[] = [];
	for (let j = 0; j < count; j++) {
		const pos = count === 1 ? (n - 1) / 2 : margin + (j * (n - 1 - 2 * margin)) / (count - 1);
		const idx = order[Math.round(pos)];
		if (!picked.includes(idx)) picked.push(idx);
	}
	return picked;
}
