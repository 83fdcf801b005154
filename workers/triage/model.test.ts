import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from './backend';
import { loadFolderModel } from './io';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { headCtSeries, chestXr } from '../../src/lib/domain/triage/phantom';
import { rocAuc } from '../../src/lib/domain/triage/metrics';
import { preprocessSpec, type ModelManifest } from '../../src/lib/domain/triage/manifest';
import { deriveSeed } from '../../src/lib/domain/triage/random';
import { CATALOG } from './catalog';
import { phantomFor, phantomInput, type Task } from './dataset';
import { loadModel, MODELS_DIR, readManifest, shippedManifestPath, type TriageModel } from './model';
import { phantomToPart10 } from './part10';
import { triageStudy } from './infer';
import { TransferSyntax } from './dicom';

const TASKS: Task[] = ['ich', 'ptx'];
// seeds never used by train.ts (seed*1000+1, +2) or evaluate.ts (90210)
const FRESH_SEED = 424242;

const shipped: Record<string, { manifest: ModelManifest; dir: string }> = {};
beforeAll(async () => {
	for (const t of TASKS) {
		const { id, version } = CATALOG[t].manifest;
		shipped[t] = await readManifest(shippedManifestPath(id, version));
	}
});

describe('shipped models', () => {
	it('each has valid manifest, weights and a model card that says what it is', async () => {
		const { readFile } = await import('node:fs/promises');
		for (const t of TASKS) {
			const { manifest, dir } = shipped[t];
			expect(readdirSync(dir).sort()).toEqual(['manifest.json', 'model.json', 'weights.bin']);
			const card = await readFile(join(MODELS_DIR, manifest.id, 'MODEL_CARD.md'), 'utf8');
			expect(card).toContain('demonstration model, synthetic data, not for clinical use'.replace(/^d/, 'D'));
			expect(card).toMatch(/ROC AUC \| 0\.\d{3}/);
		}
	});

	for (const task of TASKS) {
		it(`${task}: detects phantoms from a fresh seeded set well above chance (AUC > 0.8)`, async () => {
			const { manifest, dir } = shipped[task];
			const model = await loadModel(manifest, { backend: 'wasm', baseDir: dir });
			const spec = preprocessSpec(manifest);
			const n = 96;
			const inputs: Float32Array[] = [];
			const labels: number[] = [];
			for (let i = 0; i < n; i++) {
				const img = phantomFor(task, FRESH_SEED, i);
				inputs.push(phantomInput(img, spec));
				labels.push(img.label.positive ? 1 : 0);
			}
			const preds = await model.predictBatch(inputs);
			const auc = rocAuc(preds.map((p) => p.score), labels);
			expect(auc).toBeGreaterThan(0.8);
			// the probabilities are a distribution over the manifest's labels
			for (const p of preds.slice(0, 5)) {
				expect(p.probabilities).toHaveLength(manifest.labels.length);
				expect(p.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
				expect(p.critical).toBe(p.score >= manifest.thresholds.critical);
				expect(manifest.labels).toContain(p.label);
			}
			model.dispose();
		});
	}

	it('gives the same answers on the cpu and wasm backends', async () => {
		const { manifest, dir } = shipped.ich;
		const spec = preprocessSpec(manifest);
		const inputs = [0, 1, 2, 3].map((i) => phantomInput(phantomFor('ich', FRESH_SEED + 1, i), spec));
		const wasm = await loadModel(manifest, { backend: 'wasm', baseDir: dir });
		const a = await wasm.predictBatch(inputs);
		const cpu = await loadModel(manifest, { backend: 'cpu', baseDir: dir });
		expect(cpu.runtime).toBe('cpu');
		const b = await cpu.predictBatch(inputs);
		a.forEach((p, i) => expect(Math.abs(p.score - b[i].score)).toBeLessThan(1e-3));
		await expect(cpu.predict(new Float32Array(10))).rejects.toThrow(/model wants 64×64×1/);
	});

	for (const task of TASKS) {
		it(`${task}: the inference graph (windowed global pools) gives the stored graph's probabilities`, async () => {
			const { manifest, dir } = shipped[task];
			await selectBackend({ backend: 'wasm' });
			const stored = (await loadFolderModel(dir)) as tf.LayersModel;
			const fast = (await loadFolderModel(dir, { forInference: true })) as tf.LayersModel;
			expect(stored.layers.some((l) => l.getClassName().startsWith('Global'))).toBe(true);
			expect(fast.layers.some((l) => l.getClassName().startsWith('Global'))).toBe(false);
			const spec = preprocessSpec(manifest);
			const inputs = [0, 1, 2, 3, 4, 5].map((i) => phantomInput(phantomFor(task, FRESH_SEED + 2, i), spec));
			const x = tf.tensor4d(Float32Array.from(inputs.flatMap((a) => Array.from(a))), [inputs.length, 64, 64, 1]);
			const a = (await (stored.predict(x) as tf.Tensor).data()) as Float32Array;
			const b = (await (fast.predict(x) as tf.Tensor).data()) as Float32Array;
			expect(b.length).toBe(a.length);
			a.forEach((v, i) => expect(Math.abs(v - b[i])).toBeLessThan(1e-5));
			tf.dispose([x, stored, fast] as never);
		});
	}
});

describe('triageStudy from DICOM files', () => {
	let ich: TriageModel;
	let ptx: TriageModel;
	beforeAll(async () => {
		ich = await loadModel(shipped.ich.manifest, { backend: 'wasm', baseDir: shipped.ich.dir });
		ptx = await loadModel(shipped.ptx.manifest, { backend: 'wasm', baseDir: shipped.ptx.dir });
	});

	/** A CT study: the soft-tissue axial series, a bone-kernel copy and a coronal reformat. */
	function ctStudy(seed: number, hemorrhage: boolean): { files: ArrayBuffer[]; softSeries: string } {
		const series = headCtSeries(seed, { size: 128, slices: 16, hemorrhage });
		const files: ArrayBuffer[] = [];
		const study = `2.25.${seed}`;
		const softSeries = `${study}.1`;
		series.slices.forEach((s, i) => {
			const pos = [-115, -115, series.positions[i]];
			files.push(phantomToPart10(s, { studyInstanceUid: study, seriesInstanceUid: softSeries, imagePositionPatient: pos, instanceNumber: 16 - i, convolutionKernel: 'H30s', transferSyntaxUid: TransferSyntax.implicitLittle }));
			files.push(phantomToPart10(s, { studyInstanceUid: study, seriesInstanceUid: `${study}.2`, imagePositionPatient: pos, instanceNumber: i + 1, convolutionKernel: 'H70h', seriesDescription: 'AX BONE' }));
		});
		for (let i = 0; i < 20; i++)
			files.push(phantomToPart10(series.slices[8], { studyInstanceUid: study, seriesInstanceUid: `${study}.3`, imageOrientationPatient: [1, 0, 0, 0, 0, -1], instanceNumber: i + 1, seriesDescription: 'COR' }));
		return { files, softSeries };
	}

	it('chooses the soft-tissue axial series and separates bleeding from normal studies', async () => {
		const scores: number[] = [];
		const labels: number[] = [];
		for (let k = 0; k < 10; k++) {
			const positive = k % 2 === 0;
			const { files, softSeries } = ctStudy(deriveSeed(FRESH_SEED, k), positive);
			const r = await triageStudy(ich, files);
			expect(r.status).toBe('scored');
			expect(r.seriesInstanceUid).toBe(softSeries);
			expect(r.imagesScored).toBe(12);
			expect(r.selection).toContain('soft');
			expect(r.modelId).toBe('ich-ct-demo');
			scores.push(r.score);
			labels.push(positive ? 1 : 0);
		}
		expect(rocAuc(scores, labels)).toBeGreaterThan(0.8);
	});

	it('reads whole files only for the chosen slices, with the same result as from bytes in memory', async () => {
		const { files } = ctStudy(deriveSeed(FRESH_SEED, 7), true);
		const reads: number[] = [];
		const lazy = files.map((f, i) => {
			const bytes = new Uint8Array(f);
			// a few heads too short to hold the header: those files are read whole for it
			const head = bytes.subarray(0, i % 9 === 0 ? 200 : 4096);
			return { head, read: async () => (reads.push(i), bytes) };
		});
		const fromMemory = await triageStudy(ich, files);
		const fromDisk = await triageStudy(ich, lazy);
		expect(fromDisk.score).toBe(fromMemory.score);
		expect(fromDisk.selection).toBe(fromMemory.selection);
		expect(fromDisk.skipped).toEqual(fromMemory.skipped);
		const shortHeads = files.map((_, i) => i).filter((i) => i % 9 === 0);
		// 12 chosen slices plus the short-headed files, each read once
		expect(new Set(reads).size).toBe(reads.length);
		expect(reads.length).toBeLessThanOrEqual(12 + shortHeads.length);
		expect(reads.length).toBeLessThan(files.length / 2);
	});

	it('scores radiographs, including MONOCHROME1, and lists undecodable instances', async () => {
		const pos = chestXr(deriveSeed(FRESH_SEED, 99), { size: 128, pneumothorax: true, photometric: 'MONOCHROME1' });
		const files = [phantomToPart10(pos), phantomToPart10(pos, { transferSyntaxUid: TransferSyntax.jpegBaseline }), new Uint8Array([0, 1, 2]).buffer];
		const r = await triageStudy(ptx, files);
		expect(r.imagesScored).toBe(1);
		expect(r.skipped.map((s) => s.code).sort()).toEqual(['malformed', 'unsupported_transfer_syntax']);
		expect(r.skipped.find((s) => s.code === 'unsupported_transfer_syntax')?.message).toContain('cannot decode JPEG Baseline');
		const none = await triageStudy(ptx, [files[1]]);
		expect(none.status).toBe('no_usable_images');
		expect(none.critical).toBe(false);
	});
});
