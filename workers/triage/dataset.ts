/**
 * Synthetic labelled sets for training and evaluating the demonstration
 * models. Every sample goes through the same preprocessing as inference
 * (rescale → window / min-max → resample), so train and serve agree.
 */
import { chestXr, headCtSlice, type PhantomImage } from '../../src/lib/domain/triage/phantom';
import { deriveSeed } from '../../src/lib/domain/triage/random';
import { rescale, toModelInput, type PreprocessSpec } from '../../src/lib/domain/triage/preprocess';
import type { ModelManifest } from '../../src/lib/domain/triage/manifest';
import { preprocessSpec } from '../../src/lib/domain/triage/manifest';

/** Which phantom family a model is trained on. */
export const Task = { ich: 'ich', ptx: 'ptx' } as const;
export type Task = (typeof Task)[keyof typeof Task];

export interface Dataset {
	/** n × height × width × 1, values in [0, 1] */
	x: Float32Array;
	/** 0 negative, 1 positive */
	y: Uint8Array;
	n: number;
	width: number;
	height: number;
}

/** The phantom for sample i of a set: balanced classes, varied matrix sizes. */
export function phantomFor(task: Task, seed: number, i: number): PhantomImage {
	const s = deriveSeed(seed, i);
	const positive = i % 2 === 0;
	// mix matrix sizes so the model sees the resampler at different factors
	const size = [128, 192, 256][i % 3];
	switch (task) {
		case Task.ich:
			return headCtSlice(s, { size, hemorrhage: positive });
		case Task.ptx:
			return chestXr(s, { size, pneumothorax: positive });
		default:
			return task satisfies never;
	}
}

/** Preprocess a phantom exactly as inference preprocesses decoded DICOM pixels. */
export function phantomInput(img: PhantomImage, spec: PreprocessSpec): Float32Array {
	const values = rescale(img.pixels, img.rescaleSlope, img.rescaleIntercept);
	return toModelInput({ width: img.columns, height: img.rows, values, invert: img.photometricInterpretation === 'MONOCHROME1' }, spec).data;
}

/** Build n samples from a seed (deterministic). */
export function buildDataset(task: Task, manifest: Pick<ModelManifest, 'input'>, n: number, seed: number): Dataset {
	const spec = preprocessSpec(manifest);
	const px = spec.width * spec.height;
	const x = new Float32Array(n * px);
	const y = new Uint8Array(n);
	for (let i = 0; i < n; i++) {
		const img = phantomFor(task, seed, i);
		x.set(phantomInput(img, spec), i * px);
		y[i] = img.label.positive ? 1 : 0;
	}
	return { x, y, n, width: spec.width, height: spec.height };
}
