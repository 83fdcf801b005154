/**
 * Benchmark: per-study triage latency from job start to result — decode the
 * study's DICOM instances → choose series / slices → preprocess → infer — for
 * each shipped model, on the wasm backend and, as the baseline in the same
 * run, on the pure-JS cpu backend.
 *
 *   npx tsx workers/bench/triage.ts [--studies 20] [--ct-size 512] [--ct-slices 32] [--cxr-size 1024]
 */
import { chestXr, headCtSeries } from '../../src/lib/domain/triage/phantom';
import { deriveSeed } from '../../src/lib/domain/triage/random';
import { CATALOG, numArg } from '../triage/catalog';
import { triageStudy } from '../triage/infer';
import { loadModel, readManifest, shippedManifestPath } from '../triage/model';
import { phantomToPart10 } from '../triage/part10';
import type { Task } from '../triage/dataset';

const log = (msg: string, extra: Record<string, unknown> = {}) => process.stderr.write(JSON.stringify({ at: 'bench.triage', msg, ...extra }) + '\n');

const quantile = (xs: number[], q: number): number => {
	const s = [...xs].sort((a, b) => a - b);
	const pos = (s.length - 1) * q;
	const lo = Math.floor(pos);
	const hi = Math.ceil(pos);
	return s[lo] + (s[hi] - s[lo]) * (pos - lo);
};
const r2 = (x: number) => Math.round(x * 100) / 100;

/** A few distinct studies per model, as Part-10 files, built before timing starts. */
function buildStudies(task: Task, count: number, opts: { ctSize: number; ctSlices: number; cxrSize: number }): ArrayBuffer[][] {
	const studies: ArrayBuffer[][] = [];
	for (let k = 0; k < count; k++) {
		const seed = deriveSeed(5150, k);
		if (task === 'ich') {
			const s = headCtSeries(seed, { size: opts.ctSize, slices: opts.ctSlices, hemorrhage: k % 2 === 0 });
			const series = `2.25.${seed}.1`;
			studies.push(s.slices.map((img, i) => phantomToPart10(img, { seriesInstanceUid: series, imagePositionPatient: [-115, -115, s.positions[i]], instanceNumber: i + 1 })));
		} else {
			studies.push([phantomToPart10(chestXr(seed, { size: opts.cxrSize, pneumothorax: k % 2 === 0, photometric: k % 3 === 0 ? 'MONOCHROME1' : 'MONOCHROME2' }))]);
		}
	}
	return studies;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
	const n = numArg(args, 'studies', 20);
	const opts = { ctSize: numArg(args, 'ct-size', 512), ctSlices: numArg(args, 'ct-slices', 32), cxrSize: numArg(args, 'cxr-size', 1024) };
	const distinct = 4;
	const models: Record<string, unknown>[] = [];
	const ratios: Record<string, number> = {};
	const inferRatios: Record<string, number> = {};
	for (const task of ['ich', 'ptx'] as const) {
		const entry = CATALOG[task];
		const { manifest, dir } = await readManifest(shippedManifestPath(entry.manifest.id, entry.manifest.version));
		log('building studies', { model: manifest.id, distinct, ...opts });
		const studies = buildStudies(task, distinct, opts);
		const p50: Record<string, number> = {};
		const infer50: Record<string, number> = {};
		for (const backend of ['wasm', 'cpu'] as const) {
			const model = await loadModel(manifest, { backend, baseDir: dir });
			for (let w = 0; w < 2; w++) await triageStudy(model, studies[w % distinct]);
			const total: number[] = [];
			const infer: number[] = [];
			const decode: number[] = [];
			for (let i = 0; i < n; i++) {
				const t0 = performance.now();
				const r = await triageStudy(model, studies[i % distinct]);
				total.push(performance.now() - t0);
				infer.push(r.timings.inferMs);
				decode.push(r.timings.headerMs + r.timings.decodeMs + r.timings.preprocessMs);
			}
			model.dispose();
			p50[backend] = quantile(total, 0.5);
			infer50[backend] = quantile(infer, 0.5);
			const row = {
				id: manifest.id,
				backend,
				detail: model.backend?.detail,
				studies: n,
				images_per_study: task === 'ich' ? manifest.slices : 1,
				p50_ms: r2(p50[backend]),
				p95_ms: r2(quantile(total, 0.95)),
				infer_p50_ms: r2(infer50[backend]),
				decode_preprocess_p50_ms: r2(quantile(decode, 0.5))
			};
			log('measured', row);
			models.push(row);
		}
		ratios[manifest.id] = r2(p50.cpu / p50.wasm);
		inferRatios[manifest.id] = r2(infer50.cpu / infer50.wasm);
	}
	const vals = Object.values(ratios);
	return {
		bench: 'triage',
		study: { ct: `${opts.ctSlices} slices ${opts.ctSize}×${opts.ctSize} 16-bit`, cxr: `${opts.cxrSize}×${opts.cxrSize} 12-bit` },
		models,
		// end-to-end p50 cpu / p50 wasm, averaged over models; the baseline is the pure-JS cpu backend
		cpu_ratio: r2(vals.reduce((a, b) => a + b, 0) / vals.length),
		cpu_ratio_by_model: ratios,
		cpu_ratio_infer_only: inferRatios
	};
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
	run(process.argv.slice(2)).then(
		(r) => console.log(JSON.stringify(r)),
		(e) => {
			console.error(e);
			process.exit(1);
		}
	);
}
