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

/** A layer in a Keras functional model config (model.json modelTopology). */
interface LayerConfig {
	name: string;
	class_name: string;
	config: Record<string, unknown>;
	inbound_nodes: unknown[];
}

const GLOBAL_POOLS: Record<string, string> = { GlobalMaxPooling2D: 'MaxPooling2D', GlobalAveragePooling2D: 'AveragePooling2D' };

/**
 * The same network with each global max / average pooling over an H×W map
 * written as an H×W max / average pooling window followed by a flatten.
 * Why: on the wasm backend a reduction over the spatial axes of an NHWC
 * tensor first transposes it (a copy of the whole feature map), while a
 * pooling window reduces in place; for the shipped models that is about a
 * quarter of the inference time. Same weights, same layer names downstream;
 * max is exact and average differs only in float summation order (~1e-6).
 * Layers without a known H×W (`spatial` lacks them) are left alone.
 */
export function withWindowedGlobalPools(topology: unknown, spatial: ReadonlyMap<string, readonly [number, number]>): unknown {
	const t = structuredClone(topology) as { config?: { layers?: LayerConfig[] } };
	const layers = t.config?.layers;
	if (!Array.isArray(layers)) return topology;
	const out: LayerConfig[] = [];
	for (const l of layers) {
		const window = GLOBAL_POOLS[l.class_name];
		const hw = spatial.get(l.name);
		const keepDims = l.config.keepdims === true || l.config.keep_dims === true;
		if (!window || !hw || keepDims || (l.config.data_format ?? 'channels_last') !== 'channels_last') {
			out.push(l);
			continue;
		}
		const poolName = `${l.name}__window`;
		out.push({
			name: poolName,
			class_name: window,
			config: { name: poolName, pool_size: [...hw], strides: [...hw], padding: 'valid', data_format: 'channels_last', trainable: false },
			inbound_nodes: l.inbound_nodes
		});
		out.push({ name: l.name, class_name: 'Flatten', config: { name: l.name, data_format: 'channels_last', trainable: false }, inbound_nodes: [[[poolName, 0, 0, {}]]] });
	}
	t.config!.layers = out;
	return t;
}

/** H×W of the input of each global pooling layer of a loaded LayersModel. */
function globalPoolInputs(net: tf.LayersModel): Map<string, [number, number]> {
	const out = new Map<string, [number, number]>();
	for (const layer of net.layers) {
		if (!(layer.getClassName() in GLOBAL_POOLS)) continue;
		const shape = (layer.input as tf.SymbolicTensor).shape;
		if (shape.length === 4 && typeof shape[1] === 'number' && typeof shape[2] === 'number') out.set(layer.name, [shape[1], shape[2]]);
	}
	return out;
}

/**
 * Load a LayersModel or GraphModel folder, whichever model.json describes.
 * `forInference`: a LayersModel is rebuilt with windowed global pools
 * (withWindowedGlobalPools) — the graph that runs fastest on wasm.
 */
export async function loadFolderModel(dir: string, opts: { forInference?: boolean } = {}): Promise<tf.LayersModel | tf.GraphModel> {
	const json = await readModelJson(dir);
	const handler = folderLoader(dir);
	try {
		if (json.format === 'graph-model') return await tf.loadGraphModel(handler);
		const net = await tf.loadLayersModel(handler);
		if (!opts.forInference) return net;
		const spatial = globalPoolInputs(net);
		if (spatial.size === 0) return net;
		const artifacts = await handler.load!();
		const fast = await tf.loadLayersModel(tf.io.fromMemory({ ...artifacts, modelTopology: withWindowedGlobalPools(artifacts.modelTopology, spatial) as tf.io.ModelArtifacts['modelTopology'] }));
		net.dispose();
		return fast;
	} catch (e) {
		throw new ModelLoadError(`cannot load model from ${dir}: ${(e as Error).message}`, { cause: e });
	}
}
