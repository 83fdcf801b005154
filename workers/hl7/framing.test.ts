import { describe, expect, it } from 'vitest';
import { encodeMllp, MllpDecoder, type MllpEvent } from './framing';

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;
const frame = (s: string) => encodeMllp(Buffer.from(s));
const payloads = (evs: MllpEvent[]) => evs.filter((e) => e.type === 'frame').map((e) => (e as { payload: Buffer }).payload.toString());

describe('MllpDecoder', () => {
	it('reassembles a frame delivered one byte at a time', () => {
		const d = new MllpDecoder();
		const bytes = frame('MSH|^~\\&|A');
		const out: MllpEvent[] = [];
		for (const b of bytes) out.push(...d.push(Buffer.from([b])));
		expect(payloads(out)).toEqual(['MSH|^~\\&|A']);
		expect(out.filter((e) => e.type === 'junk')).toEqual([]);
	});

	it('splits several frames arriving in one chunk, in order', () => {
		const d = new MllpDecoder();
		const out = d.push(Buffer.concat([frame('one'), frame('two'), frame('three')]));
		expect(payloads(out)).toEqual(['one', 'two', 'three']);
	});

	it('handles FS at the end of one chunk and CR at the start of the next', () => {
		const d = new MllpDecoder();
		const bytes = Buffer.concat([frame('first'), frame('second')]);
		const cut = bytes.indexOf(FS) + 1;
		const a = d.push(bytes.subarray(0, cut));
		expect(payloads(a)).toEqual([]);
		const b = d.push(bytes.subarray(cut));
		expect(payloads(b)).toEqual(['first', 'second']);
		expect(b.some((e) => e.type === 'junk')).toBe(false);
	});

	it('discards and counts junk between frames', () => {
		const d = new MllpDecoder();
		const out = d.push(Buffer.concat([Buffer.from('garbage'), frame('a'), Buffer.from('\r\n'), frame('b')]));
		expect(payloads(out)).toEqual(['a', 'b']);
		const junk = out.filter((e) => e.type === 'junk').map((e) => (e as { bytes: number }).bytes);
		expect(junk).toEqual([7, 2]);
	});

	it('drops a frame that a new start block interrupts and keeps the next one', () => {
		const d = new MllpDecoder();
		const out = d.push(Buffer.concat([Buffer.from([VT]), Buffer.from('half a mess'), frame('whole')]));
		expect(payloads(out)).toEqual(['whole']);
		expect(out).toContainEqual({ type: 'junk', bytes: 11, reason: 'truncated_frame' });
	});

	it('tolerates FS without CR', () => {
		const d = new MllpDecoder();
		const out = d.push(Buffer.concat([Buffer.from([VT]), Buffer.from('x'), Buffer.from([FS]), frame('y')]));
		expect(payloads(out)).toEqual(['x', 'y']);
	});

	it('reports an oversized frame without buffering it and keeps its head', () => {
		const d = new MllpDecoder({ maxFrameBytes: 100, headBytes: 10 });
		const big = 'MSH|^~\\&|' + 'x'.repeat(1000);
		const bytes = frame(big);
		const out: MllpEvent[] = [];
		for (let i = 0; i < bytes.length; i += 64) {
			out.push(...d.push(bytes.subarray(i, i + 64)));
			expect(d.buffered).toBeLessThanOrEqual(100);
		}
		out.push(...d.push(frame('next')));
		expect(out[0]).toMatchObject({ type: 'oversized', bytes: big.length });
		expect((out[0] as { head: Buffer }).head.toString()).toBe(big.slice(0, 10));
		expect(payloads(out)).toEqual(['next']);
	});

	it('accepts a frame exactly at the cap', () => {
		const d = new MllpDecoder({ maxFrameBytes: 5 });
		expect(payloads(d.push(frame('12345')))).toEqual(['12345']);
		expect(d.push(frame('123456'))[0].type).toBe('oversized');
	});

	it('passes non-UTF-8 bytes through untouched', () => {
		const d = new MllpDecoder();
		const raw = Buffer.from([0x4d, 0xff, 0xfe, 0x00, 0xe9]);
		const out = d.push(encodeMllp(raw));
		expect((out[0] as { payload: Buffer }).payload.equals(raw)).toBe(true);
	});

	it('reports a frame cut off by end of stream as junk', () => {
		const d = new MllpDecoder();
		d.push(Buffer.concat([Buffer.from([VT]), Buffer.from('unfinished')]));
		expect(d.end()).toEqual([{ type: 'junk', bytes: 10, reason: 'truncated_frame' }]);
	});

	it('encodes VT payload FS CR', () => {
		expect([...frame('A')]).toEqual([VT, 0x41, FS, CR]);
	});
});
