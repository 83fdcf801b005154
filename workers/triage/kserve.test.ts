import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { preprocessSpec, type ModelManifest } from '../../src/lib/domain/triage/manifest';
import { CATALOG } from './catalog';
import { phantomFor, phantomInput } from './dataset';
import { kserveInfer, RemoteInferenceError, startKserveServer } from './kserve';
import { loadModel, readManifest, servableFromFolder, shippedManifestPath } from './model';

describe('KServe v2 remote model', () => {
	let local: { manifest: ModelManifest; dir: string };
	let server: Awaited<ReturnType<typeof startKserveServer>>;
	beforeAll(async () => {
		local = await readManifest(shippedManifestPath(CATALOG.ich.manifest.id, CATALOG.ich.manifest.version));
		await (await import('./backend')).selectBackend({ backend: 'wasm' });
		server = await startKserveServer([await servableFromFolder(local.manifest, local.dir, 'ich')]);
	});
	afterAll(() => server?.close());

	it('round-trips over real HTTP and agrees with the local model', async () => {
		const remoteManifest: ModelManifest = { ...local.manifest, runtime: { kind: 'remote', url: server.url, protocol: 'kserve-v2', modelName: 'ich', timeoutMs: 5000 } };
		const remote = await loadModel(remoteManifest);
		expect(remote.runtime).toBe(`remote:${server.url}`);
		const near = await loadModel(local.manifest, { backend: 'wasm', baseDir: local.dir });
		const spec = preprocessSpec(local.manifest);
		const inputs = [0, 1, 2].map((i) => phantomInput(phantomFor('ich', 777, i), spec));
		const [a, b] = [await remote.predictBatch(inputs), await near.predictBatch(inputs)];
		expect(a.map((p) => p.label)).toEqual(b.map((p) => p.label));
		a.forEach((p, i) => expect(Math.abs(p.score - b[i].score)).toBeLessThan(1e-6));
		expect((await remote.predict(inputs[0])).score).toBeCloseTo(b[0].score, 6);
	});

	it('answers model metadata and readiness like a v2 server', async () => {
		const ready = await fetch(`${server.url}/v2/health/ready`);
		expect(ready.status).toBe(200);
		const meta = (await (await fetch(`${server.url}/v2/models/ich`)).json()) as { inputs: { shape: number[] }[] };
		expect(meta.inputs[0].shape).toEqual([-1, 64, 64, 1]);
	});

	it('maps server errors to typed failures', async () => {
		const unknown = kserveInfer({ url: server.url, modelName: 'nope' }, { name: 'image', shape: [1, 64, 64, 1], data: new Float32Array(64 * 64) });
		await expect(unknown).rejects.toMatchObject({ code: 'http_status', status: 404 });
		const badShape = kserveInfer({ url: server.url, modelName: 'ich' }, { name: 'image', shape: [1, 8, 8, 1], data: new Float32Array(64) });
		await expect(badShape).rejects.toMatchObject({ code: 'http_status', status: 400 });
		const refused = kserveInfer({ url: 'http://127.0.0.1:9', modelName: 'ich' }, { name: 'image', shape: [1, 1, 1, 1], data: new Float32Array(1) });
		await expect(refused).rejects.toMatchObject({ code: 'network' });
	});

	it('gives up after the timeout when the server never answers', async () => {
		const sockets = new Set<import('node:net').Socket>();
		const silent = http.createServer(() => {});
		silent.on('connection', (s) => {
			s.setNoDelay(true);
			sockets.add(s);
		});
		await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
		const { port } = silent.address() as AddressInfo;
		try {
			const err = await kserveInfer({ url: `http://127.0.0.1:${port}`, modelName: 'ich', timeoutMs: 150 }, { name: 'image', shape: [1, 1, 1, 1], data: new Float32Array(1) }).catch((e) => e);
			expect(err).toBeInstanceOf(RemoteInferenceError);
			expect(err.code).toBe('timeout');
		} finally {
			for (const s of sockets) s.destroy();
			await new Promise((r) => silent.close(r));
		}
	});
});
