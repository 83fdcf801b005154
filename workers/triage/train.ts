/**
 * Train a demonstration model on synthetic phantoms and write it to
 * models/<id>/<version>/ (model.json, weights.bin, manifest.json).
 *
 *   npx tsx workers/triage/train.ts --model ich|ptx [--n 1600] [--epochs 40] [--seed 1]
 *
 * The frozen convolutional front end runs once per image on the wasm backend
 * to produce features; only the dense head is fitted (see architecture.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { rocAuc, confusionAt, thresholdForSensitivity } from '../../src/lib/domain/triage/metrics';
import { parseManifest, type ModelManifest } from '../../src/lib/domain/triage/manifest';
import { buildModel, featureExtractor, HEAD_HIDDEN, HEAD_OUT, STANDARDIZE } from './architecture';
import { selectBackend } from './backend';
import { buildDataset, type Dataset } from './dataset';
import { CATALOG, numArg, parseTaskArg } from './catalog';
import { folderSaver } from './io';
import { MODELS_DIR } from './model';

const log = (msg: string, extra: Record<string, unknown> = {}) => process.stderr.write(JSON.stringify({ at: 'triage.train', msg, ...extra }) + '\n');

async function features(extractor: tf.LayersModel, ds: Dataset, batch = 64): Promise<tf.Tensor2D> {
	const parts: tf.Tensor2D[] = [];
	const px = ds.width * ds.height;
	for (let i = 0; i < ds.n; i += batch) {
		const m = Math.min(batch, ds.n - i);
		const x = tf.tensor4d(ds.x.subarray(i * px, (i + m) * px), [m, ds.height, ds.width, 1]);
		parts.push(extractor.predict(x) as tf.Tensor2D);
		x.dispose();
	}
	const all = tf.concat(parts) as tf.Tensor2D;
	tf.dispose(parts);
	return all;
}

export async function train(argv: string[]): Promise<Record<string, unknown>> {
	const task = parseTaskArg(argv);
	const entry = CATALOG[task];
	const n = numArg(argv, 'n', 1600);
	const epochs = numArg(argv, 'epochs', 40);
	const seed = numArg(argv, 'seed', 1);
	const size = entry.manifest.input.width;
	const t0 = performance.now();

	const trainSet = buildDataset(task, entry.manifest, n, seed * 1000 + 1);
	const valSet = buildDataset(task, entry.manifest, Math.round(n / 4), seed * 1000 + 2);
	const tData = performance.now();
	log('phantoms generated', { task, n, val: valSet.n, ms: Math.round(tData - t0) });

	const backend = await selectBackend({ backend: 'wasm' });
	const model = buildModel(size, entry.manifest.labels.length, seed);
	const extractor = featureExtractor(model);
	const fTrain = await features(extractor, trainSet);
	const fVal = await features(extractor, valSet);
	const tFeat = performance.now();
	log('features extracted', { backend: backend.detail, features: fTrain.shape[1], ms: Math.round(tFeat - tData) });

	// standardise with training statistics; baked into the model as a frozen batch-norm layer
	const { mean, variance } = tf.moments(fTrain, 0);
	const std = tf.sqrt(tf.add(variance, 1e-6));
	const zTrain = tf.div(tf.sub(fTrain, mean), std);
	const zVal = tf.div(tf.sub(fVal, mean), std);

	const dim = fTrain.shape[1];
	const head = tf.sequential({
		layers: [
			tf.layers.dropout({ inputShape: [dim], rate: 0.4 }),
			tf.layers.dense({ units: 32, activation: 'relu', kernelRegularizer: tf.regularizers.l2({ l2: 3e-3 }) }),
			tf.layers.dense({ units: entry.manifest.labels.length, activation: 'softmax' })
		]
	});
	head.compile({ optimizer: tf.train.adam(0.003), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
	const yTrain = tf.tensor1d(Array.from(trainSet.y), 'float32');
	const yVal = tf.tensor1d(Array.from(valSet.y), 'float32');
	const hist = await head.fit(zTrain, yTrain, { epochs, batchSize: 64, shuffle: true, validationData: [zVal, yVal], verbose: 0 });
	const tFit = performance.now();
	const last = (k: string) => Number(hist.history[k]?.at(-1));
	log('head trained', { epochs, loss: last('loss'), acc: last('acc'), valLoss: last('val_loss'), valAcc: last('val_acc'), ms: Math.round(tFit - tFeat) });

	// move trained head + statistics into the full model
	const [, hidden, out] = head.layers;
	model.getLayer(HEAD_HIDDEN).setWeights(hidden.getWeights());
	model.getLayer(HEAD_OUT).setWeights(out.getWeights());
	model.getLayer(STANDARDIZE).setWeights([tf.onesLike(mean), tf.zerosLike(mean), mean, variance]);

	// operating point from the validation set, scored by the full model
	const pVal = model.predict(tf.tensor4d(valSet.x, [valSet.n, size, size, 1])) as tf.Tensor2D;
	const ci = entry.manifest.labels.indexOf(entry.manifest.criticalLabel);
	const scores = Array.from((await pVal.data()) as Float32Array).filter((_, i) => i % entry.manifest.labels.length === ci);
	const threshold = Number(thresholdForSensitivity(scores, valSet.y, entry.targetSensitivity).toFixed(4));
	const valAuc = rocAuc(scores, valSet.y);
	const valAt = confusionAt(scores, valSet.y, threshold);

	const manifest: ModelManifest = parseManifest({ ...entry.manifest, thresholds: { critical: threshold } });
	const dir = join(MODELS_DIR, manifest.id, manifest.version);
	await model.save(folderSaver(dir));
	await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest, null, '\t') + '\n');
	const total = performance.now() - t0;
	const result = {
		train: manifest.id,
		version: manifest.version,
		dir,
		samples: n,
		epochs,
		features: dim,
		threshold,
		validation: { auc: Number(valAuc.toFixed(4)), sensitivity: Number(valAt.sensitivity.toFixed(4)), specificity: Number(valAt.specificity.toFixed(4)) },
		ms: { phantoms: Math.round(tData - t0), features: Math.round(tFeat - tData), head: Math.round(tFit - tFeat), total: Math.round(total) }
	};
	// the model card (evaluate.ts) quotes this
	await writeFile(join(MODELS_DIR, manifest.id, 'training.json'), JSON.stringify({ ...result, dir: undefined, backend: backend.detail, cores: (await import('node:os')).cpus().length }, null, '\t') + '\n');
	log('saved', result);
	return result;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
	train(process.argv.slice(2)).then(
		(r) => console.log(JSON.stringify(r)),
		(e) => {
			console.error(e);
			process.exit(1);
		}
	);
}
