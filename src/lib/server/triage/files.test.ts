import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { FileBuffers, HEAD_BYTES, StudyFiles } from './files';

const dir = mkdtempSync(join(os.tmpdir(), 'radflow-triage-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, size: number, seed: number): { path: string; bytes: Uint8Array } {
	const bytes = new Uint8Array(size).map((_, i) => (i * 31 + seed) & 0xff);
	const path = join(dir, name);
	writeFileSync(path, bytes);
	return { path, bytes };
}

describe('study files', () => {
	it('gives the head now and the whole file on demand, byte for byte', async () => {
		const big = file('big.dcm', 3 * HEAD_BYTES + 17, 1);
		const files = new StudyFiles(new FileBuffers());
		const f = files.open(big.path)!;
		expect(f.head).toEqual(big.bytes.subarray(0, HEAD_BYTES));
		expect(await f.read()).toEqual(big.bytes);
		// a second model reading the same file gets the same bytes, read once
		expect(files.open(big.path)).toBe(f);
		expect(await f.read()).toBe(await f.read());
	});

	it('a file shorter than the head is whole at once; a missing file is null', async () => {
		const small = file('small.dcm', 1000, 2);
		const files = new StudyFiles(new FileBuffers());
		const f = files.open(small.path)!;
		expect(f.head).toEqual(small.bytes);
		expect(await f.read()).toBe(f.head);
		expect(files.open(join(dir, 'missing.dcm'))).toBeNull();
	});

	it('hands its buffers to the next job only when closed, and the next job reads its own bytes', async () => {
		const a = file('a.dcm', 2 * HEAD_BYTES + 5, 3);
		const b = file('b.dcm', 2 * HEAD_BYTES + 5, 4);
		const buffers = new FileBuffers();
		const first = new StudyFiles(buffers);
		const whole = await first.open(a.path)!.read();
		const during = new StudyFiles(buffers);
		expect((await during.open(b.path)!.read()).buffer).not.toBe(whole.buffer);
		first.close();

		const next = new StudyFiles(buffers);
		const again = await next.open(b.path)!.read();
		expect(again).toEqual(b.bytes);
		// the first job's memory, reused (its view now shows the other file)
		expect(again.buffer).toBe(whole.buffer);
	});

	it('takes the smallest free buffer that fits, and keeps no more than its limit', () => {
		const buffers = new FileBuffers(1000);
		const [big, small, over] = [new Uint8Array(700), new Uint8Array(300), new Uint8Array(100)];
		buffers.give([big, small, over]);
		expect(buffers.take(200)).toBe(small);
		expect(buffers.take(200)).toBe(big);
		expect(buffers.take(50)).not.toBe(over);
	});
});
