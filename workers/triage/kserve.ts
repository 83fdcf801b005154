/**
 * Client for the KServe v2 / Triton HTTP inference protocol (JSON body,
 * FP32 tensors), and a small server implementing the same endpoint around a
 * local model — for tests, demos, and sites that want to host a Radflow model
 * for another system.
 * @see https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/
 * @see https://github.com/kserve/open-inference-protocol/blob/main/specification/protocol/inference_rest.md
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

/** One tensor in a v2 request or response. */
export interface V2Tensor {
	name: string;
	shape: number[];
	datatype: 'FP32';
	data: number[];
}

export interface V2InferResponse {
	model_name: string;
	model_version?: string;
	id?: string;
	outputs: V2Tensor[];
}

/** Remote inference failure; `code` is stable for logs and retries. */
export class RemoteInferenceError extends Error {
	constructor(
		readonly code: 'timeout' | 'http_status' | 'network' | 'bad_response',
		message: string,
		readonly status?: number,
		options?: { cause?: unknown }
	) {
		super(message, options);
		this.name = 'RemoteInferenceError';
	}
}

export interface KserveTarget {
	/** Base URL of the server, e.g. http://triton:8000 */
	url: string;
	modelName: string;
	modelVersion?: string;
	timeoutMs?: number;
}

/**
 * POST {url}/v2/models/{name}[/versions/{v}]/infer with one FP32 input;
 * resolves to the parsed response or rejects with RemoteInferenceError.
 */
export function kserveInfer(target: KserveTarget, input: { name: string; shape: number[]; data: Float32Array }, requestId?: string): Promise<V2InferResponse> {
	const base = new URL(target.url);
	const path = `/v2/models/${encodeURIComponent(target.modelName)}${target.modelVersion ? `/versions/${encodeURIComponent(target.modelVersion)}` : ''}/infer`;
	const url = new URL(base.pathname.replace(/\/$/, '') + path, base);
	const body = JSON.stringify({
		...(requestId ? { id: requestId } : {}),
		inputs: [{ name: input.name, shape: input.shape, datatype: 'FP32', data: Array.from(input.data) }]
	});
	const timeoutMs = target.timeoutMs ?? 10_000;
	const lib = url.protocol === 'https:' ? https : http;
	return new Promise((resolve, reject) => {
		const req = lib.request(
			url,
			{ method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: timeoutMs },
			(res) => {
				const chunks: Buffer[] = [];
				res.on('data', (c: Buffer) => chunks.push(c));
				res.on('error', (e) => reject(new RemoteInferenceError('network', e.message, undefined, { cause: e })));
				res.on('end', () => {
					const text = Buffer.concat(chunks).toString('utf8');
					if (res.statusCode !== 200) {
						let detail = text.slice(0, 200);
						try {
							detail = (JSON.parse(text) as { error?: string }).error ?? detail;
						} catch {
							/* not JSON */
						}
						return reject(new RemoteInferenceError('http_status', `inference server answered ${res.statusCode}: ${detail}`, res.statusCode));
					}
					try {
						const parsed = JSON.parse(text) as V2InferResponse;
						if (!Array.isArray(parsed.outputs) || !parsed.outputs.every((o) => Array.isArray(o.data) && Array.isArray(o.shape)))
							throw new Error('missing outputs[].data / shape');
						resolve(parsed);
					} catch (e) {
						reject(new RemoteInferenceError('bad_response', `unusable inference response: ${(e as Error).message}`, 200, { cause: e }));
					}
				});
			}
		);
		req.on('socket', (s) => s.setNoDelay(true));
		req.on('timeout', () => req.destroy(new RemoteInferenceError('timeout', `no answer from ${url.origin} within ${timeoutMs} ms`)));
		req.on('error', (e) => reject(e instanceof RemoteInferenceError ? e : new RemoteInferenceError('network', e.message, undefined, { cause: e })));
		req.end(body);
	});
}

/** What the server needs from a model: run a batch NHWC tensor, give back rows of probabilities. */
export interface ServableModel {
	name: string;
	version: string;
	inputName: string;
	/** [n, h, w, c] */
	inputShape: number[];
	outputName: string;
	run(data: Float32Array, shape: number[]): Promise<{ data: Float32Array; shape: number[] }>;
}

/**
 * Serve models over the v2 REST protocol: GET /v2/health/ready,
 * GET /v2/models/{name}, POST /v2/models/{name}[/versions/{v}]/infer.
 * Binds to loopback by default; close() stops it.
 */
export async function startKserveServer(models: ServableModel[], opts: { host?: string; port?: number } = {}): Promise<{ url: string; close: () => Promise<void> }> {
	const byName = new Map(models.map((m) => [m.name, m]));
	const send = (res: http.ServerResponse, status: number, obj: unknown) => {
		const body = JSON.stringify(obj);
		res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
		res.end(body);
	};
	const server = http.createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on('data', (c: Buffer) => chunks.push(c));
		req.on('end', () => {
			void (async () => {
				const u = new URL(req.url ?? '/', 'http://x');
				if (req.method === 'GET' && u.pathname === '/v2/health/ready') return send(res, 200, { ready: true });
				const m = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/infer)?$/.exec(u.pathname);
				const model = m ? byName.get(decodeURIComponent(m[1])) : undefined;
				if (!m || !model) return send(res, 404, { error: `unknown model or path ${u.pathname}` });
				if (!m[3] && req.method === 'GET')
					return send(res, 200, {
						name: model.name,
						versions: [model.version],
						platform: 'tensorflowjs',
						inputs: [{ name: model.inputName, datatype: 'FP32', shape: [-1, ...model.inputShape.slice(1)] }],
						outputs: [{ name: model.outputName, datatype: 'FP32', shape: [-1, -1] }]
					});
				if (!m[3] || req.method !== 'POST') return send(res, 405, { error: 'use POST .../infer' });
				let parsed: { id?: string; inputs?: { name?: string; shape?: number[]; datatype?: string; data?: unknown }[] };
				try {
					parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
				} catch {
					return send(res, 400, { error: 'body is not JSON' });
				}
				const inp = parsed.inputs?.[0];
				const expected = model.inputShape.slice(1);
				if (!inp || inp.datatype !== 'FP32' || !Array.isArray(inp.shape) || !Array.isArray(inp.data))
					return send(res, 400, { error: 'expected one FP32 input with shape and data' });
				const flat = (inp.data as unknown[]).flat(Infinity) as number[];
				const count = inp.shape.reduce((a, b) => a * b, 1);
				if (inp.shape.length !== 4 || inp.shape.slice(1).some((d, i) => d !== expected[i]) || flat.length !== count)
					return send(res, 400, { error: `input shape must be [n, ${expected.join(', ')}] with matching data length` });
				try {
					const out = await model.run(Float32Array.from(flat), inp.shape);
					send(res, 200, {
						model_name: model.name,
						model_version: model.version,
						...(parsed.id ? { id: parsed.id } : {}),
						outputs: [{ name: model.outputName, datatype: 'FP32', shape: out.shape, data: Array.from(out.data) }]
					});
				} catch (e) {
					send(res, 500, { error: (e as Error).message });
				}
			})();
		});
	});
	server.on('connection', (s) => s.setNoDelay(true));
	await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
	const { port } = server.address() as AddressInfo;
	return {
		url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
		close: () => new Promise<void>((resolve) => {
			server.closeAllConnections();
			server.close(() => resolve());
		})
	};
}
