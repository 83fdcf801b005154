/**
 * TensorFlow.js backend selection for the triage worker.
 *
 * Order: CUDA through @tensorflow/tfjs-node-gpu (when installed and a GPU is
 * visible), then native CPU through @tensorflow/tfjs-node, then WebAssembly
 * (SIMD / threads where the runtime allows), then the pure-JS cpu backend.
 * The native bindings are optional dependencies and are imported dynamically,
 * so their absence costs one logged fallback, never a crash.
 * `TRIAGE_BACKEND` (tensorflow-gpu | tensorflow | wasm | cpu) forces one.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Backends we know how to start. */
export const BackendName = {
	tensorflowGpu: 'tensorflow-gpu',
	tensorflow: 'tensorflow',
	wasm: 'wasm',
	cpu: 'cpu'
} as const;
export type BackendName = (typeof BackendName)[keyof typeof BackendName];
export const BACKEND_NAMES = Object.values(BackendName);

/** What was chosen and why, for logs and the dashboard. */
export interface BackendSelection {
	name: BackendName;
	/** tf.getBackend() after selection, plus flags such as SIMD / threads. */
	detail: string;
	fallbacksTried: { name: BackendName; error: string }[];
}

/** Thrown when a forced backend cannot start. */
export class BackendError extends Error {
	readonly code = 'backend_unavailable';
	constructor(
		message: string,
		readonly backend: BackendName,
		options?: { cause?: unknown }
	) {
		super(message, options);
		this.name = 'BackendError';
	}
}

const require = createRequire(import.meta.url);

/** Folder holding the tfjs-backend-wasm .wasm binaries shipped in the npm package. */
export function wasmDir(): string {
	return dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
}

/** A cheap look for an NVIDIA driver, so we do not load CUDA libraries for nothing. */
export function nvidiaGpuVisible(): boolean {
	return existsSync('/proc/driver/nvidia/version') || existsSync('/dev/nvidia0');
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 300);

let wasmRegistered: Promise<void> | null = null;

async function startWasm(): Promise<string> {
	wasmRegistered ??= (async () => {
		const wasm = await import('@tensorflow/tfjs-backend-wasm');
		// Node: the emscripten loader reads these paths with fs; a trailing slash marks a prefix.
		wasm.setWasmPaths(join(wasmDir(), '/'));
	})();
	await wasmRegistered;
	if (!(await tf.setBackend('wasm'))) throw new Error('wasm backend failed to initialise');
	await tf.ready();
	const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
	const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
	// tfjs-backend-wasm turns threads off under Node.js (tfjs issue 3830), so the threaded binary
	// is never picked here; SIMD is what speeds it up. Say so rather than leave "false" unexplained.
	const why = !threads && tf.env().get('IS_NODE') ? ' (threads: not offered by tfjs-backend-wasm under Node.js)' : '';
	return `wasm simd=${simd} threads=${threads}${why}`;
}

async function startNative(gpu: boolean): Promise<string> {
	if (gpu && !nvidiaGpuVisible()) throw new Error('no NVIDIA driver visible (/proc/driver/nvidia/version)');
	const pkg = gpu ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
	// a variable specifier keeps bundlers from resolving the optional package at build time
	await import(/* @vite-ignore */ pkg);
	if (!(await tf.setBackend('tensorflow'))) throw new Error(`${pkg} loaded but backend "tensorflow" did not start`);
	await tf.ready();
	return `${pkg} (tensorflow)`;
}

async function start(name: BackendName): Promise<string> {
	switch (name) {
		case BackendName.tensorflowGpu:
			return startNative(true);
		case BackendName.tensorflow:
			return startNative(false);
		case BackendName.wasm:
			return startWasm();
		case BackendName.cpu:
			if (!(await tf.setBackend('cpu'))) throw new Error('cpu backend failed');
			await tf.ready();
			return 'cpu (pure JS)';
		default:
			return name satisfies never;
	}
}

function parseBackend(value: string | undefined): BackendName | undefined {
	if (!value) return undefined;
	const v = value.trim().toLowerCase();
	const alias: Record<string, BackendName> = { gpu: 'tensorflow-gpu', cuda: 'tensorflow-gpu', node: 'tensorflow', native: 'tensorflow' };
	const name = (alias[v] ?? v) as BackendName;
	if (!BACKEND_NAMES.includes(name)) throw new BackendError(`unknown TRIAGE_BACKEND "${value}" (use ${BACKEND_NAMES.join(' | ')})`, BackendName.cpu);
	return name;
}

/**
 * Pick and activate a backend. With `backend` (or env TRIAGE_BACKEND) set,
 * only that one is tried and a failure throws BackendError; otherwise the
 * first that starts wins and the failures are reported in `fallbacksTried`.
 */
export async function selectBackend(opts: { backend?: BackendName; env?: NodeJS.ProcessEnv } = {}): Promise<BackendSelection> {
	const forced = opts.backend ?? parseBackend((opts.env ?? process.env).TRIAGE_BACKEND);
	const order: BackendName[] = forced ? [forced] : [BackendName.tensorflowGpu, BackendName.tensorflow, BackendName.wasm, BackendName.cpu];
	const fallbacksTried: BackendSelection['fallbacksTried'] = [];
	for (const name of order) {
		try {
			const detail = await start(name);
			return { name, detail, fallbacksTried };
		} catch (e) {
			if (forced) throw new BackendError(`backend ${name} unavailable: ${message(e)}`, name, { cause: e });
			fallbacksTried.push({ name, error: message(e) });
		}
	}
	// cpu is always registered by @tensorflow/tfjs, so this is unreachable in practice
	throw new BackendError(`no TensorFlow.js backend could start: ${fallbacksTried.map((f) => `${f.name}: ${f.error}`).join('; ')}`, BackendName.cpu);
}
