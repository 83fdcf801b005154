/**
 * Deterministic generators of hostile input for the MLLP edge: a seeded PRNG and
 * mutations of valid messages (truncation, binary garbage, wrong delimiters, huge
 * frames, field overflow). Used by the generative tests.
 */

/** mulberry32: small, fast, seeded PRNG returning [0, 1). */
export function prng(seed: number): () => number {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

export function randomBytes(rand: () => number, n: number): Buffer {
	const b = Buffer.allocUnsafe(n);
	for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
	return b;
}

export const Mutation = {
	truncated: 'truncated',
	binaryGarbage: 'binary_garbage',
	wrongDelimiters: 'wrong_delimiters',
	fieldOverflow: 'field_overflow',
	byteFlips: 'byte_flips',
	noMsh: 'no_msh'
} as const;
export type Mutation = (typeof Mutation)[keyof typeof Mutation];
export const MUTATIONS = Object.values(Mutation);

/**
 * Mutate a valid message payload (no MLLP framing). Framing bytes are removed from
 * the result so the mutation stays inside one frame.
 */
export function mutate(message: string, kind: Mutation, rand: () => number): Buffer {
	const bytes = Buffer.from(message, 'utf8');
	let out: Buffer;
	switch (kind) {
		case Mutation.truncated:
			out = bytes.subarray(0, Math.floor(rand() * bytes.length));
			break;
		case Mutation.binaryGarbage:
			out = randomBytes(rand, 1 + Math.floor(rand() * 2048));
			break;
		case Mutation.wrongDelimiters: {
			const alphabet = ['|', '^', '~', '\\', '&', 'A', '1', ' ', '\r'];
			const chars = [...message.slice(3, 8)];
			const i = Math.floor(rand() * chars.length);
			chars[i] = alphabet[Math.floor(rand() * alphabet.length)];
			out = Buffer.from(message.slice(0, 3) + chars.join('') + message.slice(8), 'utf8');
			break;
		}
		case Mutation.fieldOverflow: {
			const at = message.indexOf('|PID|') >= 0 ? message.indexOf('\rPID|') + 5 : message.length;
			out = Buffer.from(message.slice(0, at) + 'X'.repeat(50_000 + Math.floor(rand() * 50_000)) + message.slice(at), 'utf8');
			break;
		}
		case Mutation.byteFlips: {
			out = Buffer.from(bytes);
			const flips = 1 + Math.floor(rand() * 8);
			for (let k = 0; k < flips; k++) out[Math.floor(rand() * out.length)] = Math.floor(rand() * 256);
			break;
		}
		case Mutation.noMsh:
			out = Buffer.from(message.slice(message.indexOf('\r') + 1), 'utf8');
			break;
		default:
			return kind satisfies never;
	}
	return Buffer.from(out.filter((b) => b !== 0x0b && b !== 0x1c));
}
