/**
 * Loading a triage model from its manifest and running it: local TF.js
 * folders (LayersModel or GraphModel) on the selected backend, or a remote
 * model over the KServe v2 protocol. Both give the same `predict` result.
 */
import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseManifest, RuntimeKind, type ModelManifest } from '../../src/lib/domain/triage/manifest';
import { selectBackend, type BackendName, type BackendSelection } from './backend';
import { loadFolderModel } from './io';
import { kserveInfer, type ServableModel } from './kserve';

/** One model answer. */
export interface TriagePrediction {
	/** One probability per manifest label, in label order. */
	probabilities: number[];
	/** The most probable label. */
	label: string;
	/** Probability of the manifest's critical label. */
	score: number;
	/** score >= thresholds.critical */
	critical: boolean;
}

export interface TriageModel {
	manifest: ModelManifest;
	/** Where it runs: a TF.js backend name, or "remote:<url>". */
	runtime: string;
	backend?: BackendSelection;
	/** Run one preprocessed image (height × width × 1 floats in [0, 1]). */
	predict(pixels: Float32Array): Promise<TriagePrediction>;
	/** Run several preprocessed images in one batch. */
	predictBatch(images: Float32Array[]): Promise<TriagePrediction[]>;
	dispose(): void;
}

/** The repository's models/ folder. */
export const MODELS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../models');

/** Read and validate models/<id>/<version>/manifest.json (or any manifest path). */
export async function readManifest(path: string): Promise<{ manifest: ModelManifest; dir: string }> {
	const manifest = parseManifest(JSON.parse(await readFile(path, 'utf8')));
	return { manifest, dir: dirname(path) };
}

/** Path of a shipped model's manifest. */
export function shippedManifestPath(id: string, version: string): string {
	return join(MODELS_DIR, id, version, 'manifest.json');
}

function toPredictions(manifest: ModelManifest, rows: Float32Array | number[], n: number): TriagePrediction[] {
	const k = manifest.labels.length;
	if (rows.length !== n * k) throw new Error(`model returned ${rows.length} values, expected ${n} × ${k} labels`);
	const ci = manifest.labels.indexOf(manifest.criticalLabel);
	const out: TriagePrediction[] = [];
	for (let i = 0; i < n; i++) {
		const probabilities = Array.from(rows.slice(i * k, i * k + k), Number);
		let best = 0;
		for (let j = 1; j < k; j++) if (probabilities[j] > probabilities[best]) best = j;
		const score = probabilities[ci];
		out.push({ probabilities, label: manifest.labels[best], score, critical: score >= manifest.thresholds.critical });
	}
	return out;
}

function stack(manifest: ModelManifest, images: Float32Array[]): Float32Array {
	const { width, height, channels } = manifest.input;
	const px = width * height * channels;
	const data = new Float32Array(images.length * px);
	images.forEach((img, i) => {
		if (img.length !== px) throw new RangeError(`input ${i} has ${img.length} values, model wants ${width}×${height}×${channels} = ${px}`);
		data.set(img, i * px);
	});
	return data;
}

/** Run a local tf model on a batch and read back the flat output. */
async function runLocal(net: tf.LayersModel | tf.GraphModel, data: Float32Array, shape: number[]): Promise<Float32Array> {
	const x = tf.tensor4d(data, shape as [number, number, number, number]);
	try {
		const y = net.predict(x) as tf.Tensor | tf.Tensor[];
		const t = Array.isArray(y) ? y[0] : y;
		const values = (await t.data()) as Float32Array;
		tf.dispose(y);
		return values;
	} finally {
		x.dispose();
	}
}

/**
 * Load the model a manifest describes. Local models select a backend first
 * (`backend`, else TRIAGE_BACKEND, else the best available); `baseDir` is
 * the manifest's folder, which a relative runtime.path is resolved against.
 */
export async function loadModel(manifest: ModelManifest, opts: { backend?: BackendName; baseDir?: string } = {}): Promise<TriageModel> {
	const { width, height, channels } = manifest.input;
	const rt = manifest.runtime;
	switch (rt.kind) {
		case RuntimeKind.local: {
			const backend = await selectBackend({ backend: opts.backend });
			const dir = resolve(opts.baseDir ?? join(MODELS_DIR, manifest.id, manifest.version), rt.path);
			const net = await loadFolderModel(dir, { forInference: true });
			const predictBatch = async (images: Float32Array[]) => {
				if (images.length === 0) return [];
				const out = await runLocal(net, stack(manifest, images), [images.length, height, width, channels]);
				return toPredictions(manifest, out, images.length);
			};
			// Warm up once at load with the batch a study brings, so the first study does not pay for
			// kernel set-up and buffer growth on the backend.
			const px = width * height * channels;
			await predictBatch(Array.from({ length: manifest.slices ?? 1 }, () => new Float32Array(px)));
			return {
				manifest,
				runtime: backend.name,
				backend,
				predictBatch,
				predict: async (pixels) => (await predictBatch([pixels]))[0],
				dispose: () => net.dispose()
			};
		}
		case RuntimeKind.remote: {
			let counter = 0;
			const predictBatch = async (images: Float32Array[]) => {
				if (images.length === 0) return [];
				const res = await kserveInfer(
					{ url: rt.url, modelName: rt.modelName, timeoutMs: rt.timeoutMs },
					{ name: 'image', shape: [images.length, height, width, channels], data: stack(manifest, images) },
					`${manifest.id}-${++counter}`
				);
				return toPredictions(manifest, res.outputs[0].data, images.length);
			};
			return {
				manifest,
				runtime: `remote:${rt.url}`,
				predictBatch,
				predict: async (pixels) => (await predictBatch([pixels]))[0],
				dispose: () => {}
			};
		}
		default:
			return rt satisfies never;
	}
}

/** Wrap a local model folder for startKserveServer (serving it to others). */
export async function servableFromFolder(manifest: ModelManifest, dir: string, name = manifest.id): Promise<ServableModel> {
	const net = await loadFolderModel(dir, { forInference: true });
	const { width, height, channels } = manifest.input;
	return {
		name,
		version: manifest.version,
		inputName: 'image',
		inputShape: [1, height, width, channels],
		outputName: 'probabilities',
		run: async (data, shape) => ({ data: await runLocal(net, data, shape), shape: [shape[0], manifest.labels.length] })
	};
}
