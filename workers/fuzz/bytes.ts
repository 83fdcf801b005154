/**
 * Format-blind byte mutations ("havoc" in AFL's terms), shared by every fuzz
 * target underneath its structure-aware mutations: flips, interesting integers,
 * block deletion / duplication / insertion, truncation and splicing.
 */
import type { Prng } from '../../src/lib/domain/routing/prng';

/** Integers that sit on the edges parsers get wrong (AFL's interesting values, plus DICOM's undefined length). */
export const INTERESTING_U32 = [0, 1, 2, 3, 4, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

export function randomBytes(rand: Prng, n: number): Buffer {
	const b = Buffer.allocUnsafe(n);
	for (let i = 0; i < n; i++) b[i] = rand.int(0, 255);
	return b;
}

const ByteMutation = {
	flipBit: 'flip_bit',
	setByte: 'set_byte',
	interesting16: 'interesting_16',
	interesting32: 'interesting_32',
	deleteBlock: 'delete_block',
	duplicateBlock: 'duplicate_block',
	insertRandom: 'insert_random',
	truncate: 'truncate',
	splice: 'splice'
} as const;
type ByteMutation = (typeof ByteMutation)[keyof typeof ByteMutation];
const BYTE_MUTATIONS = Object.values(ByteMutation);

/** A block length biased towards small blocks. */
function blockLength(rand: Prng, max: number): number {
	if (max <= 1) return max;
	return 1 + Math.min(max - 1, Math.floor(Math.pow(rand.next(), 3) * max));
}

/** One format-blind mutation. `other` is a second input to splice with. */
export function mutateBytes(input: Buffer, rand: Prng, other?: Buffer): Buffer {
	const kind = rand.pick(BYTE_MUTATIONS);
	const n = input.length;
	if (n === 0) return randomBytes(rand, rand.int(1, 64));
	const at = rand.int(0, n - 1);
	switch (kind) {
		case ByteMutation.flipBit: {
			const out = Buffer.from(input);
			out[at] ^= 1 << rand.int(0, 7);
			return out;
		}
		case ByteMutation.setByte: {
			const out = Buffer.from(input);
			out[at] = rand.pick([0x00, 0xff, 0x7f, 0x80, 0x0b, 0x1c, 0x0d, 0x7c, 0x5e, 0x5c, rand.int(0, 255)]);
			return out;
		}
		case ByteMutation.interesting16:
		case ByteMutation.interesting32: {
			const width = kind === ByteMutation.interesting16 ? 2 : 4;
			if (n < width) return Buffer.concat([input, randomBytes(rand, width)]);
			const out = Buffer.from(input);
			const p = rand.int(0, n - width);
			const v = rand.pick(INTERESTING_U32);
			const le = rand.next() < 0.5;
			if (width === 2) le ? out.writeUInt16LE(v & 0xffff, p) : out.writeUInt16BE(v & 0xffff, p);
			else le ? out.writeUInt32LE(v >>> 0, p) : out.writeUInt32BE(v >>> 0, p);
			return out;
		}
		case ByteMutation.deleteBlock: {
			const len = blockLength(rand, n - at);
			return Buffer.concat([input.subarray(0, at), input.subarray(at + len)]);
		}
		case ByteMutation.duplicateBlock: {
			const len = blockLength(rand, n - at);
			const copies = rand.int(1, 4);
			const block = input.subarray(at, at + len);
			return Buffer.concat([input.subarray(0, at + len), ...Array.from({ length: copies }, () => block), input.subarray(at + len)]);
		}
		case ByteMutation.insertRandom:
			return Buffer.concat([input.subarray(0, at), randomBytes(rand, blockLength(rand, 256)), input.subarray(at)]);
		case ByteMutation.truncate:
			return input.subarray(0, at);
		case ByteMutation.splice: {
			if (!other || other.length === 0) return input.subarray(0, at);
			return Buffer.concat([input.subarray(0, at), other.subarray(rand.int(0, other.length - 1))]);
		}
		default:
			return kind satisfies never;
	}
}

/** Stacks 1..max format-blind mutations. */
export function havoc(input: Buffer, rand: Prng, other?: Buffer, max = 6): Buffer {
	let out = input;
	for (let i = rand.int(1, max); i > 0; i--) out = mutateBytes(out, rand, other);
	return out;
}
