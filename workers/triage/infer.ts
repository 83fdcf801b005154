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
import { selectAxialSeries, selectSlices, toModelInput, type SeriesInfo } from '../../src/lib/domain/triage/preprocess';
import { decodeDicom, readHeader, type ImageAttributes } from './dicom';
import type { TriageModel, TriagePrediction } from './model';

export interface SkippedInstance {
	index: number;
	sopInstanceUid?: string;
	code: string;
	message: string;
}

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
	timings: { headerMs: number; decodeMs: number; preprocessMs: number; inferMs: number; totalMs: number };
}

/**
 * Run one model over the instances of a study. Never throws for bad
 * instances: they are listed in `skipped`; a model or backend failure
 * rejects (the caller's job retries).
 */
export async function triageStudy(model: TriageModel, instances: readonly (ArrayBuffer | Uint8Array)[], opts: { maxImages?: number } = {}): Promise<StudyTriageResult> {
	const m = model.manifest;
	const t0 = performance.now();
	const skipped: SkippedInstance[] = [];
	const headers: { index: number; attributes: ImageAttributes }[] = [];
	instances.forEach((bytes, index) => {
		const h = readHeader(bytes);
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

	const spec = preprocessSpec(m);
	const inputs: Float32Array[] = [];
	let decodeMs = 0;
	let preprocessMs = 0;
	for (const index of chosen) {
		const td = performance.now();
		const r = decodeDicom(instances[index]);
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
			decodeMs,
			preprocessMs,
			inferMs: tEnd - ti,
			totalMs: tEnd - t0
		}
	};
}
