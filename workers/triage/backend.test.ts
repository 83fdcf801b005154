import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { BackendError, selectBackend } from './backend';

const installed = (pkg: string) => {
	try {
		createRequire(import.meta.url).resolve(pkg);
		return true;
	} catch {
		return false;
	}
};

describe('selectBackend', () => {
	it('honours TRIAGE_BACKEND', async () => {
		const cpu = await selectBackend({ env: { TRIAGE_BACKEND: 'cpu' } });
		expect(cpu).toEqual({ name: 'cpu', detail: 'cpu (pure JS)', fallbacksTried: [] });
		expect(tf.getBackend()).toBe('cpu');
		const wasm = await selectBackend({ env: { TRIAGE_BACKEND: 'wasm' } });
		expect(wasm.name).toBe('wasm');
		expect(wasm.detail).toMatch(/^wasm simd=(true|false) threads=(true|false)( \(threads: not offered by tfjs-backend-wasm under Node.js\))?$/);
		expect(tf.getBackend()).toBe('wasm');
	});

	it('rejects an unknown name and a forced backend that cannot start', async () => {
		await expect(selectBackend({ env: { TRIAGE_BACKEND: 'tpu' } })).rejects.toBeInstanceOf(BackendError);
		if (!installed('@tensorflow/tfjs-node')) {
			const err = await selectBackend({ backend: 'tensorflow' }).catch((e) => e);
			expect(err).toBeInstanceOf(BackendError);
			expect(err.code).toBe('backend_unavailable');
			expect(err.message).toContain('@tensorflow/tfjs-node');
		}
	});

	it('falls back in order and reports what it tried', async () => {
		const s = await selectBackend({ env: {} });
		const order = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];
		const tried = s.fallbacksTried.map((f) => f.name);
		expect(tried).toEqual(order.slice(0, order.indexOf(s.name)));
		for (const f of s.fallbacksTried) expect(f.error.length).toBeGreaterThan(0);
		if (!installed('@tensorflow/tfjs-node') && !installed('@tensorflow/tfjs-node-gpu')) expect(s.name).toBe('wasm');
		expect(tf.getBackend()).toBe(s.name === 'tensorflow-gpu' ? 'tensorflow' : s.name);
	});
});
