/**
 * file-system IO handlers for TF.js models, so LayersModel and GraphModel
 * folders (model.json + *.bin shards) load and save on the wasm and cpu
 * backends without @tensorflow/tfjs-node (whose file:// handler we lack).
 * @see https://www.tensorflow.org/js/guide/save_load (model.json layout)
 */
import * as tf from '@tensorflow/tfjs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Thrown when a model folder cannot be read. */
export class ModelLoadError extends Error {
	readonly code = 'model_load_failed';
	constructor(message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'ModelLoadError';
	}
}

interface ModelJson {
	format?: string;
	modelTopology?: unknown;
	weightsManifest: tf.io.WeightsManifestConfig;
	[k: string]: unknown;
}

/** Read model.json from a folder. */
export async function readModelJson(dir: string): Promise<ModelJson> {
	try {
		return JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as ModelJson;
	} catch (e) {
		throw new ModelLoadError(`cannot read ${join(dir, 'model.json')}: ${(e as Error).message}`, { cause: e });
	}
}

/** An IOHandler that loads model.json and its weight shards from a folder. */
export function folderLoader(dir: string): tf.io.IOHandler {
	return {
		load: async () => {
			const json = await readModelJson(dir);
			return tf.io.getModelArtifactsForJSON(json as unknown as tf.io.ModelJSON, async (manifest) => {
				const specs: tf.io.WeightsManifestEntry[] = [];
				const buffers: Buffer[] = [];
				for (const group of manifest) {
					specs.push(...group.weights);
					for (const p of group.paths) {
						try {
							buffers.push(await readFile(join(dir, p)));
						} catch (e) {
							throw new ModelLoadError(`cannot read weights ${join(dir, p)}: ${(e as Error).message}`, { cause: e });
						}
					}
				}
				const all = Buffer.concat(buffers);
				return [specs, all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength)];
			});
		}
	};
}

/** An IOHandler that writes model.json + weights.bin into a folder (created if missing). */
export function folderSaver(dir: string): tf.io.IOHandler {
	return {
		save: async (artifacts) => {
			await mkdir(dir, { recursive: true });
			const data = artifacts.weightData;
			const buf = data === undefined ? Buffer.alloc(0) : Array.isArray(data) ? Buffer.concat(data.map((d) => Buffer.from(d))) : Buffer.from(data);
			const json = {
				format: artifacts.format ?? 'layers-model',
				generatedBy: artifacts.generatedBy,
				convertedBy: artifacts.convertedBy ?? null,
				modelTopology: artifacts.modelTopology,
				weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
				...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {})
			};
			await writeFile(join(dir, 'weights.bin'), buf);
			await writeFile(join(dir, 'model.json'), JSON.stringify(json));
			return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: buf.byteLength } };
		}
	};
}

/** Load a LayersModel or GraphModel folder, whichever model.json describes. */
export async function loadFolderModel(dir: string): Promise<tf.LayersModel | tf.GraphModel> {
	const json = await readModelJson(dir);
	const handler = folderLoader(dir);
	try {
		return json.format === 'graph-model' ? await tf.loadGraphModel(handler) : await tf.loadLayersModel(handler);
	} catch (e) {
		throw new ModelLoadError(`cannot load model from ${dir}: ${(e as Error).message}`, { cause: e });
	}
}
