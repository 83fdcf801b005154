/**
 * Does @tensorflow/tfjs-node-gpu load here, and how fast are the shipped
 * models on it? Installs nothing; prints one JSON line.
 *
 *   npx tsx workers/triage/gpu-check.ts [--runs 50]
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync } from 'node:fs';
import { nvidiaGpuVisible } from './backend';
import { CATALOG, numArg } from './catalog';
import { phantomFor, phantomInput } from './dataset';
import { preprocessSpec } from '../../src/lib/domain/triage/manifest';
import { loadModel, readManifest, shippedManifestPath } from './model';

async function main(argv: string[]) {
	const runs = numArg(argv, 'runs', 50);
	const out: Record<string, unknown> = {
		check: 'tfjs-node-gpu',
		nvidia_driver: nvidiaGpuVisible(),
		driver_version: existsSync('/proc/driver/nvidia/version') ? readFileSync('/proc/driver/nvidia/version', 'utf8').split('\n')[0].trim() : null
	};
	try {
		await import(/* @vite-ignore */ '@tensorflow/tfjs-node-gpu' as string);
		out.loaded = true;
	} catch (e) {
		out.loaded = false;
		out.error = (e as Error).message.split('\n')[0];
		console.log(JSON.stringify(out));
		return;
	}
	out.backend_started = await tf.setBackend('tensorflow');
	await tf.ready();
	out.backend = tf.getBackend();
	const models: Record<string, unknown>[] = [];
	for (const task of ['ich', 'ptx'] as const) {
		const entry = CATALOG[task];
		const { manifest, dir } = await readManifest(shippedManifestPath(entry.manifest.id, entry.manifest.version));
		const model = await loadModel(manifest, { backend: 'tensorflow-gpu', baseDir: dir });
		const input = phantomInput(phantomFor(task, 1, 0), preprocessSpec(manifest));
		for (let i = 0; i < 5; i++) await model.predict(input);
		const times: number[] = [];
		for (let i = 0; i < runs; i++) {
			const t0 = performance.now();
			await model.predict(input);
			times.push(performance.now() - t0);
		}
		times.sort((a, b) => a - b);
		const batch = Array.from({ length: 32 }, () => input);
		const tb = performance.now();
		await model.predictBatch(batch);
		models.push({
			id: manifest.id,
			p50_ms: Number(times[Math.floor(runs / 2)].toFixed(3)),
			p95_ms: Number(times[Math.floor(runs * 0.95)].toFixed(3)),
			batch32_ms: Number((performance.now() - tb).toFixed(3))
		});
		model.dispose();
	}
	out.models = models;
	console.log(JSON.stringify(out));
}

main(process.argv.slice(2)).catch((e) => {
	console.log(JSON.stringify({ check: 'tfjs-node-gpu', loaded: false, error: (e as Error).message.split('\n')[0] }));
	process.exitCode = 1;
});
