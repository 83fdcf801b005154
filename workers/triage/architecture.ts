/**
 * Network shape of the demonstration models.
 *
 * Convolution training is out of reach on the pure-JS cpu backend (about
 * 1 s per 64×64 image per epoch measured here) and the wasm backend has no
 * Conv2DBackpropFilter kernel. So the convolutional front end is frozen: a
 * hand-designed filter bank (smoothed intensity at several thresholds,
 * darkness, centre-surround blobs, edges) plus seeded random filters, a second
 * frozen random layer for conjunctions, then global and 4×4-regional max/mean
 * pooling. Only the dense head is trained — on features computed once with
 * the fast wasm backend. The saved model is one ordinary LayersModel.
 */
import * as tf from '@tensorflow/tfjs';
import { createRng } from '../../src/lib/domain/triage/random';

/** Number of frozen first-layer filters: 4+4 bright, 4 dark, 4 blob, 4 edge, 8 random. */
const F1 = 28;
const F2 = 32;
const GRID = 4;
export const FEATURE_LAYER = 'features';
export const HEAD_HIDDEN = 'head_hidden';
export const HEAD_OUT = 'head_out';
export const STANDARDIZE = 'standardize';

function gaussian(k: number, sigma: number): number[][] {
	const c = (k - 1) / 2;
	const g: number[][] = [];
	let sum = 0;
	for (let y = 0; y < k; y++) {
		g.push([]);
		for (let x = 0; x < k; x++) {
			const v = Math.exp(-((x - c) ** 2 + (y - c) ** 2) / (2 * sigma * sigma));
			g[y].push(v);
			sum += v;
		}
	}
	return g.map((r) => r.map((v) => v / sum));
}

/** First-layer kernels [7,7,1,F1] and biases [F1]. */
function bank1(seed: number): { kernel: tf.Tensor4D; bias: tf.Tensor1D } {
	const k = 7;
	const filters: { w: number[][]; b: number }[] = [];
	const g1 = gaussian(k, 1);
	const g2 = gaussian(k, 2);
	for (const t of [0.55, 0.65, 0.75, 0.85]) filters.push({ w: g1, b: -t });
	for (const t of [0.55, 0.65, 0.75, 0.85]) filters.push({ w: g2, b: -t });
	for (const t of [0.15, 0.3, 0.45, 0.6]) filters.push({ w: g1.map((r) => r.map((v) => -v)), b: t });
	const dog = g1.map((r, y) => r.map((v, x) => v - g2[y][x]));
	for (const s of [1, -1]) for (const b of [0, -0.05]) filters.push({ w: dog.map((r) => r.map((v) => s * v * 4)), b });
	const sob = [-1, -2, -1];
	for (const [dx, dy] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
		const w = Array.from({ length: k }, (_, y) => Array.from({ length: k }, (_, x) => {
			const cx = x - 3;
			const cy = y - 3;
			if (Math.abs(cx) > 1 || Math.abs(cy) > 1) return 0;
			return dx ? -dx * Math.sign(cx) * -sob[cy + 1] / 4 : -dy * Math.sign(cy) * -sob[cx + 1] / 4;
		}));
		filters.push({ w, b: 0 });
	}
	const rng = createRng(seed);
	while (filters.length < F1) {
		const w = Array.from({ length: k }, () => Array.from({ length: k }, () => rng.normal() / k));
		const mean = w.flat().reduce((a, v) => a + v, 0) / (k * k);
		filters.push({ w: w.map((r) => r.map((v) => v - mean)), b: 0 });
	}
	const kernel = new Float32Array(k * k * F1);
	for (let y = 0; y < k; y++) for (let x = 0; x < k; x++) for (let f = 0; f < F1; f++) kernel[(y * k + x) * F1 + f] = filters[f].w[y][x];
	return { kernel: tf.tensor4d(kernel, [k, k, 1, F1]), bias: tf.tensor1d(filters.map((f) => f.b)) };
}

/** Second-layer random kernels [3,3,F1,F2], He-scaled, seeded. */
function bank2(seed: number): { kernel: tf.Tensor4D; bias: tf.Tensor1D } {
	const rng = createRng(seed ^ 0x5bd1e995);
	const n = 3 * 3 * F1 * F2;
	const scale = Math.sqrt(2 / (3 * 3 * F1));
	const w = new Float32Array(n);
	for (let i = 0; i < n; i++) w[i] = rng.normal() * scale;
	return { kernel: tf.tensor4d(w, [3, 3, F1, F2]), bias: tf.fill([F2], -0.02) as tf.Tensor1D };
}

/**
 * Build the full classifier (frozen front end + head). The head's weights
 * are random until trained; `standardize` starts as identity.
 */
export function buildModel(size: number, classes: number, seed = 7): tf.LayersModel {
	if (size % (GRID * 2) !== 0) throw new RangeError(`input size must be a multiple of ${GRID * 2}`);
	const input = tf.input({ shape: [size, size, 1], name: 'image' });
	const b1 = bank1(seed);
	const b2 = bank2(seed);
	const c1 = tf.layers.conv2d({ filters: F1, kernelSize: 7, padding: 'same', activation: 'relu', trainable: false, weights: [b1.kernel, b1.bias], name: 'bank1' });
	const l1 = c1.apply(input) as tf.SymbolicTensor;
	const p1 = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }).apply(l1) as tf.SymbolicTensor;
	const c2 = tf.layers.conv2d({ filters: F2, kernelSize: 3, padding: 'same', activation: 'relu', trainable: false, weights: [b2.kernel, b2.bias], name: 'bank2' });
	const l2 = c2.apply(p1) as tf.SymbolicTensor;
	const pooled: tf.SymbolicTensor[] = [];
	for (const [name, t, s] of [['l1', l1, size], ['l2', l2, size / 2]] as const) {
		pooled.push(tf.layers.globalMaxPooling2d({ name: `${name}_gmax` }).apply(t) as tf.SymbolicTensor);
		pooled.push(tf.layers.globalAveragePooling2d({ name: `${name}_gavg` }).apply(t) as tf.SymbolicTensor);
		const cell = s / GRID;
		pooled.push(tf.layers.flatten({ name: `${name}_rmax_f` }).apply(tf.layers.maxPooling2d({ poolSize: cell, name: `${name}_rmax` }).apply(t)) as tf.SymbolicTensor);
		pooled.push(tf.layers.flatten({ name: `${name}_ravg_f` }).apply(tf.layers.averagePooling2d({ poolSize: cell, name: `${name}_ravg` }).apply(t)) as tf.SymbolicTensor);
	}
	const features = tf.layers.concatenate({ name: FEATURE_LAYER }).apply(pooled) as tf.SymbolicTensor;
	const std = tf.layers.batchNormalization({ name: STANDARDIZE, trainable: false, epsilon: 1e-6 }).apply(features) as tf.SymbolicTensor;
	const hidden = tf.layers.dense({ units: 32, activation: 'relu', name: HEAD_HIDDEN }).apply(std) as tf.SymbolicTensor;
	const out = tf.layers.dense({ units: classes, activation: 'softmax', name: HEAD_OUT }).apply(hidden) as tf.SymbolicTensor;
	return tf.model({ inputs: input, outputs: out, name: 'triage_demo' });
}

/** The frozen front end of a built model, ending at the feature vector. */
export function featureExtractor(model: tf.LayersModel): tf.LayersModel {
	return tf.model({ inputs: model.inputs, outputs: model.getLayer(FEATURE_LAYER).output as tf.SymbolicTensor });
}

/** Number of features the front end produces for an input size. */
export function featureCount(size: number): number {
	return 2 * F1 + 2 * F2 + 2 * GRID * GRID * (F1 + F2);
}
