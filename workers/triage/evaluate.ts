/**
 * Evaluate a shipped demonstration model on a fresh, held-out synthetic set
 * and write the figures into models/<id>/MODEL_CARD.md.
 *
 *   npx tsx workers/triage/evaluate.ts --model ich|ptx [--n 400] [--seed 90210] [--no-card]
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { confusionAt, rocAuc } from '../../src/lib/domain/triage/metrics';
import { preprocessSpec, type ModelManifest } from '../../src/lib/domain/triage/manifest';
import { CATALOG, numArg, parseTaskArg } from './catalog';
import { phantomFor, phantomInput, type Task } from './dataset';
import { loadModel, MODELS_DIR, readManifest, shippedManifestPath } from './model';
import type { BackendName } from './backend';
import { featureCount } from './architecture';

export interface Evaluation {
	model: string;
	version: string;
	backend: string;
	n: number;
	seed: number;
	threshold: number;
	auc: number;
	sensitivity: number;
	specificity: number;
	tp: number;
	fp: number;
	tn: number;
	fn: number;
	/** Sensitivity per finding type (ICH: subdural / intraparenchymal). */
	byFinding: Record<string, { n: number; sensitivity: number }>;
	ms: number;
}

const r4 = (x: number) => Number(x.toFixed(4));

/** Score n fresh phantoms (seeded; disjoint from the training seeds) with the shipped model. */
export async function evaluate(task: Task, opts: { n?: number; seed?: number; backend?: BackendName } = {}): Promise<Evaluation> {
	const t0 = performance.now();
	const entry = CATALOG[task];
	const { manifest, dir } = await readManifest(shippedManifestPath(entry.manifest.id, entry.manifest.version));
	const model = await loadModel(manifest, { backend: opts.backend ?? 'wasm', baseDir: dir });
	const n = opts.n ?? 400;
	const seed = opts.seed ?? 90210;
	const spec = preprocessSpec(manifest);
	const scores: number[] = [];
	const labels: number[] = [];
	const findings: string[] = [];
	const batch: Float32Array[] = [];
	const flush = async () => {
		for (const p of await model.predictBatch(batch.splice(0))) scores.push(p.score);
	};
	for (let i = 0; i < n; i++) {
		const img = phantomFor(task, seed, i);
		batch.push(phantomInput(img, spec));
		labels.push(img.label.positive ? 1 : 0);
		findings.push(img.label.finding);
		if (batch.length === 64) await flush();
	}
	await flush();
	model.dispose();
	const threshold = manifest.thresholds.critical;
	const c = confusionAt(scores, labels, threshold);
	const byFinding: Evaluation['byFinding'] = {};
	for (const f of new Set(findings.filter((_, i) => labels[i]))) {
		const idx = findings.map((x, i) => (x === f && labels[i] ? i : -1)).filter((i) => i >= 0);
		byFinding[f] = { n: idx.length, sensitivity: r4(idx.filter((i) => scores[i] >= threshold).length / idx.length) };
	}
	return {
		model: manifest.id,
		version: manifest.version,
		backend: model.runtime,
		n,
		seed,
		threshold,
		auc: r4(rocAuc(scores, labels)),
		sensitivity: r4(c.sensitivity),
		specificity: r4(c.specificity),
		tp: c.tp,
		fp: c.fp,
		tn: c.tn,
		fn: c.fn,
		byFinding,
		ms: Math.round(performance.now() - t0)
	};
}

const INTENDED: Record<Task, { use: string; data: string; limits: string[] }> = {
	ich: {
		use: 'Exercise the Radflow triage path end to end for non-contrast head CT: eligibility, axial series and slice selection, brain windowing (W80/L40), inference, shadow/active modes and critical-finding escalation.',
		data: 'Synthetic axial head CT phantoms (workers/triage/dataset.ts, src/lib/domain/triage/phantom.ts): elliptical skull (700–1400 HU), brain 30–40 HU with grey/white contrast, CSF ventricles, Gaussian noise 3–8 HU, matrices 128–256 px, three scanner encodings. Positives carry an acute subdural crescent or an intraparenchymal blob of 60–80 HU.',
		limits: [
			'Trained only on cartoons of anatomy: it has never seen a real CT and its output on one is meaningless.',
			'No subarachnoid, intraventricular or epidural hemorrhage, no calcification, no metal or motion artefacts, no post-operative changes.',
			'Slice-wise model; the study score is the maximum over the selected slices, so a very small bleed on an unsampled slice is missed.'
		]
	},
	ptx: {
		use: 'Exercise the Radflow triage path end to end for frontal chest radiographs (CR/DX): eligibility, MONOCHROME1 handling, robust min-max normalisation, inference, shadow/active modes and critical-finding escalation.',
		data: 'Synthetic PA chest radiograph phantoms: torso, lungs with branching vessel markings, mediastinum and heart, posterior ribs, quantum noise, 12-bit stored values, matrices 128–256 px. Positives carry an apicolateral pneumothorax: a lucent rim without lung markings bounded by a visceral pleural line.',
		limits: [
			'Trained only on cartoons of anatomy: it has never seen a real radiograph and its output on one is meaningless.',
			'No tension signs, no supine/deep-sulcus pneumothorax, no chest tubes, skin folds, bullae or other mimics.',
			'64×64 input: thin pleural lines are below the model\'s resolution; it relies on the lucent rim.'
		]
	}
};

/** The model card text for a manifest and its evaluation. */
export function modelCard(task: Task, manifest: ModelManifest, ev: Evaluation, training?: string): string {
	const info = INTENDED[task];
	const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
	return `# ${manifest.id} ${manifest.version}

**Demonstration model, synthetic data, not for clinical use.**

${manifest.description ?? ''}

## Intended use

${info.use} It exists so that the pipeline, the dashboard and the governance
features (shadow mode, thresholds, audit) can be shown and tested without
patient data. It must not inform any clinical decision.

## Model

- Task: \`${manifest.task}\`; labels ${manifest.labels.map((l) => `\`${l}\``).join(', ')}; critical label \`${manifest.criticalLabel}\`.
- Input: ${manifest.input.width}×${manifest.input.height}×${manifest.input.channels}, ${manifest.input.window ? `window W${manifest.input.window.width}/L${manifest.input.window.center}` : 'robust min-max (0.5–99.5th percentile)'}, box + bilinear resampling.
- Network: frozen convolutional front end (hand-designed filter bank + seeded random filters, global and 4×4 regional max/mean pooling, ${featureCount(manifest.input.width)} features) and a trained dense head (32 ReLU units, softmax). TF.js LayersModel, \`model.json\` + \`weights.bin\` in \`${manifest.version}/\`.
- Eligibility: modality ${manifest.eligibility.modality.join('/')}; body part ${(manifest.eligibility.bodyPart ?? []).join('/') || 'any'}; or description matching ${(manifest.eligibility.descriptionMatches ?? []).map((p) => `\`/${p}/i\``).join(', ') || '—'}.${manifest.slices ? `\n- CT: ${manifest.slices} slices of the chosen axial series; study score = highest slice score.` : ''}
- Operating threshold (critical): **${manifest.thresholds.critical}**, chosen on a validation set for ≥ 90 % sensitivity. Default mode: \`${manifest.mode}\`.

## Training data

${info.data}
${training ? `\n${training}\n` : ''}
## Evaluation (held-out synthetic set)

Fresh phantoms from seed ${ev.seed} (disjoint from the training and validation seeds), ${ev.n} images, balanced classes, scored on the ${ev.backend} backend with \`npx tsx workers/triage/evaluate.ts --model ${task}\`.

| metric | value |
|---|---|
| ROC AUC | ${ev.auc.toFixed(3)} |
| sensitivity at ${manifest.thresholds.critical} | ${pct(ev.sensitivity)} (${ev.tp}/${ev.tp + ev.fn}) |
| specificity at ${manifest.thresholds.critical} | ${pct(ev.specificity)} (${ev.tn}/${ev.tn + ev.fp}) |
${Object.entries(ev.byFinding)
	.map(([f, v]) => `| sensitivity, ${f} | ${pct(v.sensitivity)} (n = ${v.n}) |`)
	.join('\n')}

These figures describe performance on the generator that made the training
data. They say nothing about real images.

## Limitations

${info.limits.map((l) => `- ${l}`).join('\n')}
- The phantoms are simple enough that a frozen feature bank separates them; real findings are not.
- No subgroup, site, vendor or protocol analysis exists, because no real data was used.
`;
}

async function main(argv: string[]) {
	const task = parseTaskArg(argv);
	const ev = await evaluate(task, { n: numArg(argv, 'n', 400), seed: numArg(argv, 'seed', 90210) });
	if (!argv.includes('--no-card')) {
		const entry = CATALOG[task];
		const { manifest } = await readManifest(shippedManifestPath(entry.manifest.id, entry.manifest.version));
		let trainingNote: string | undefined;
		try {
			const t = JSON.parse(await readFile(join(MODELS_DIR, manifest.id, 'training.json'), 'utf8'));
			trainingNote = `Training run (\`npx tsx workers/triage/train.ts --model ${task}\`): ${t.samples} training + ${Math.round(t.samples / 4)} validation phantoms, ${t.epochs} epochs, features on ${t.backend}, ${t.cores} CPU cores; wall time ${(t.ms.total / 1000).toFixed(1)} s (phantoms ${(t.ms.phantoms / 1000).toFixed(1)} s, features ${(t.ms.features / 1000).toFixed(1)} s, head ${(t.ms.head / 1000).toFixed(1)} s). Validation AUC ${t.validation.auc}.`;
		} catch {
			/* no training log: card without it */
		}
		await writeFile(join(MODELS_DIR, manifest.id, 'MODEL_CARD.md'), modelCard(task, manifest, ev, trainingNote));
	}
	console.log(JSON.stringify({ evaluate: ev.model, ...ev }));
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
	main(process.argv.slice(2)).catch((e) => {
		console.error(e);
		process.exit(1);
	});
}
