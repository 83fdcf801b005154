/**
 * Triage one study: DICOM bytes → (series / slice selection) → decode →
 * preprocess → model → one result with provenance and timings.
 *
 * CT models with `slices` in their manifest run on that many slices of the
 * chosen axial series (soft-tissue kernel, most slices) and report the
 * highest slice score; radiograph models score every image (up to
 * `maxImages`) and report the highest.
 */
import { preprocessSpec } from '../../src/lib/domain/triage/manifest';
import { frameToModelInput, selectAxialSeries, selectSlices, toModelInput, type LutCache, type SeriesInfo } from '../../src/lib/domain/triage/preprocess';
import { decodeDicomReference, frameFromScan, readHeader, type ImageAttributes } from './dicom';
import { scanPart10, type Part10Scan } from './scan';
import type { TriageModel, TriagePrediction } from './model';

export interface SkippedInstance {
	index: number;
	sopInstanceUid?: string;
	code: string;
	message: string;
}

/**
 * An instance whose whole file is read only if it is chosen: `head` is its
 * first bytes (enough for the header in all but odd files), `read` the file.
 */
export interface LazyInstance {
	head: Uint8Array;
	read(): Promise<Uint8Array>;
}

/** What triageStudy takes per instance: the file's bytes, or a lazy reader of them. */
export type StudyInstance = ArrayBuffer | Uint8Array | LazyInstance;

/**
 * Window tables shared by all studies: one per pixel encoding and window, so
 * the slices of a series, and the next study from the same scanner, reuse it
 * (building one is about a millisecond). Emptied past a few encodings.
 */
const windowTables: LutCache = new Map();
const MAX_WINDOW_TABLES = 16;

const isLazy = (i: StudyInstance): i is LazyInstance => !(i instanceof ArrayBuffer) && !(i instanceof Uint8Array);
const asBytes = (b: ArrayBuffer | Uint8Array): Uint8Array => (b instanceof Uint8Array ? b : new Uint8Array(b));

export interface StudyTriageResult {
	status: 'scored' | 'no_usable_images';
	modelId: string;
	modelVersion: string;
	mode: string;
	runtime: string;
	/** Highest critical-label probability over the images run (NaN when none). */
	score: number;
	critical: boolean;
	label: string | null;
	/** Prediction of the highest-scoring image. */
	top: TriagePrediction | null;
	seriesInstanceUid?: string;
	/** Why this series / these images were chosen. */
	selection: string;
	imagesScored: number;
	skipped: SkippedInstance[];
	/** readMs: time spent waiting for whole files of the chosen images (lazy instances only). */
	timings: { headerMs: number; readMs: number; decodeMs: number; preprocessMs: number; inferMs: number; totalMs: number };
}

/**
 * Run one model over the instances of a study. Never throws for bad
 * instances: they are listed in `skipped`; a model or backend failure
 * rejects (the caller's job retries).
 */
export async function triageStudy(model: TriageModel, instances: readonly StudyInstance[], opts: { maxImages?: number } = {}): Promise<StudyTriageResult> {
	const m = model.manifest;
	const t0 = performance.now();
	const skipped: SkippedInstance[] = [];
	const headers: { index: number; attributes: ImageAttributes }[] = [];
	// A lazy instance whose header does not fit its head is read whole now (rare: very long headers).
	const files: (Uint8Array | null)[] = await Promise.all(
		instances.map(async (i) => (!isLazy(i) ? asBytes(i) : scanPart10(i.head, { headerOnly: true }) ? null : await i.read()))
	);
	// One scan per file finds both the attributes and where its pixels lie; nothing is copied.
	const scans: (Part10Scan | null)[] = instances.map((inst, index) => {
		const bytes = files[index];
		return bytes ? scanPart10(bytes) : scanPart10((inst as LazyInstance).head, { headerOnly: true });
	});
	instances.forEach((_, index) => {
		const h = readHeader(scans[index] ?? files[index]!);
		if (h.ok) headers.push({ index, attributes: h.attributes });
		else skipped.push({ index, code: h.code, message: h.message });
	});
	const tHeader = performance.now();

	let chosen: number[];
	let selection: string;
	let seriesUid: string | undefined;
	if (m.slices) {
		const bySeries = new Map<string, typeof headers>();
		for (const h of headers) {
			const uid = h.attributes.seriesInstanceUid ?? '(none)';
			bySeries.set(uid, [...(bySeries.get(uid) ?? []), h]);
		}
		const infos: SeriesInfo[] = [...bySeries].map(([uid, hs]) => ({
			seriesInstanceUid: uid,
			modality: hs[0].attributes.modality ?? '',
			imageOrientationPatient: hs[0].attributes.imageOrientationPatient,
			numberOfInstances: hs.length,
			convolutionKernel: hs[0].attributes.convolutionKernel,
			seriesDescription: hs[0].attributes.seriesDescription,
			sliceThickness: hs[0].attributes.sliceThickness
		}));
		const choice = selectAxialSeries(infos);
		selection = choice.reason;
		seriesUid = choice.series?.seriesInstanceUid;
		const members = choice.series ? bySeries.get(choice.series.seriesInstanceUid)! : [];
		chosen = selectSlices(members.map((h) => h.attributes), m.slices).map((i) => members[i].index);
		if (choice.series) selection += `; ${chosen.length} slices`;
	} else {
		const max = opts.maxImages ?? 4;
		chosen = headers.slice(0, max).map((h) => h.index);
		selection = `${chosen.length} of ${instances.length} images`;
	}

	// Whole files only for the chosen images: all reads start now, and each image is decoded as soon
	// as its file is in (with an asynchronous reader, the disk works while the CPU preprocesses).
	const reads = chosen.map(async (index) => {
		const inst = instances[index];
		if (files[index] || !isLazy(inst)) return;
		files[index] = await inst.read();
		scans[index] = scanPart10(files[index]!);
	});
	// a failed read rejects where it is awaited below; until then it must not count as unhandled
	for (const r of reads) r.catch(() => {});

	const spec = preprocessSpec(m);
	const inputs: Float32Array[] = [];
	let readMs = 0;
	let decodeMs = 0;
	let preprocessMs = 0;
	if (windowTables.size >= MAX_WINDOW_TABLES) windowTables.clear();
	for (const [k, index] of chosen.entries()) {
		const tw = performance.now();
		await reads[k];
		const td = performance.now();
		readMs += td - tw;
		// Only the chosen images are decoded; the fast path reads words in place, the reference path is dcmjs.
		const scan = scans[index];
		const fast = scan ? frameFromScan(scan) : null;
		if (fast) {
			const tp = performance.now();
			decodeMs += tp - td;
			inputs.push(frameToModelInput(fast.frame, spec, windowTables).data);
			preprocessMs += performance.now() - tp;
			continue;
		}
		const r = decodeDicomReference(files[index]!);
		const tp = performance.now();
		decodeMs += tp - td;
		if (!r.ok) {
			skipped.push({ index, code: r.code, message: r.message });
			continue;
		}
		inputs.push(toModelInput({ width: r.image.columns, height: r.image.rows, values: r.image.values, invert: r.image.invert }, spec).data);
		preprocessMs += performance.now() - tp;
	}
	const ti = performance.now();
	const preds = inputs.length ? await model.predictBatch(inputs) : [];
	const tEnd = performance.now();
	let top: TriagePrediction | null = null;
	for (const p of preds) if (!top || p.score > top.score) top = p;
	return {
		status: top ? 'scored' : 'no_usable_images',
		modelId: m.id,
		modelVersion: m.version,
		mode: m.mode,
		runtime: model.runtime,
		score: top ? top.score : NaN,
		critical: top ? top.critical : false,
		label: top ? top.label : null,
		top,
		seriesInstanceUid: seriesUid,
		selection,
		imagesScored: preds.length,
		skipped,
		timings: {
			headerMs: tHeader - t0,
			readMs,
			decodeMs,
			preprocessMs,
			inferMs: tEnd - ti,
			totalMs: tEnd - t0
		}
	};
}
