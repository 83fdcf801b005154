/**
 * Deterministic generators of hostile HL7 v2 input for the MLLP edge: structure-aware
 * mutations of valid messages (delimiters in MSH-2, escapes, repetitions, segments,
 * field values, character sets, line endings, huge fields, binary bytes) and of the
 * MLLP framing around them. Used by the generative tests and `radflow fuzz`.
 *
 * Messages are handled as latin1 strings so that every byte survives a mutation.
 */
import { Prng } from '../../src/lib/domain/routing/prng';
import { havoc, randomBytes } from '../fuzz/bytes';
import { MLLP } from './framing';

export { Prng, randomBytes };

export const Mutation = {
	truncated: 'truncated',
	binaryGarbage: 'binary_garbage',
	wrongDelimiters: 'wrong_delimiters',
	fieldOverflow: 'field_overflow',
	byteFlips: 'byte_flips',
	noMsh: 'no_msh',
	escapes: 'escapes',
	repetitions: 'repetitions',
	segments: 'segments',
	fieldValue: 'field_value',
	messageType: 'message_type',
	charset: 'charset',
	lineEndings: 'line_endings',
	binaryBytes: 'binary_bytes'
} as const;
export type Mutation = (typeof Mutation)[keyof typeof Mutation];
export const MUTATIONS = Object.values(Mutation);

/** Values that break naive field handling: empty, HL7 null, out-of-range dates, odd numbers, delimiters. */
const FIELD_VALUES = [
	'',
	'""',
	' ',
	'^',
	'~',
	'&',
	'\\',
	'^^^^^^^^',
	'~~~~',
	'0',
	'-1',
	'1e309',
	'NaN',
	'00000000',
	'0000',
	'0050',
	'19700101',
	'20240231',
	'20241301',
	'2024010124',
	'20240101000060',
	'20240101+9999',
	'20240101120000.12345',
	'20240101120000-1400',
	'99991231235959+1400',
	'2.5.1',
	'9.9',
	'\\X00\\',
	'\\XFF\\',
	'\\.br\\',
	'\\F\\\\S\\',
	'MR',
	'ISO',
	'O01',
	'A40',
	'R01',
	'NW',
	'CA',
	'XO',
	'SC',
	'F',
	'S',
	'CT',
	'SN',
	'NM',
	'TX',
	'CE',
	'<>^1^:^2',
	'AL',
	'NE',
	'ER'
];

const MESSAGE_TYPES = [
	'ORM^O01',
	'OMI^O23',
	'ADT^A01',
	'ADT^A02',
	'ADT^A03',
	'ADT^A04',
	'ADT^A08',
	'ADT^A11',
	'ADT^A40',
	'ADT',
	'ORU^R01',
	'ACK',
	'ACK^O01',
	'QRY^A19',
	'^O01',
	'ORM^^ORM_O01',
	'ORM^O01^ORM_O01^EXTRA'
];
const CHARSETS = ['', 'ASCII', '8859/1', '8859/5', '8859/9', 'UNICODE UTF-8', 'UTF-8', 'GB 18030-2000', 'BIG-5', 'KS X 1001', 'ISO IR87', 'EBCDIC', '8859/1~UNICODE UTF-8'];
const ESCAPES = ['\\F\\', '\\S\\', '\\T\\', '\\R\\', '\\E\\', '\\P\\', '\\H\\', '\\N\\', '\\.br\\', '\\X41\\', '\\X\\', '\\X0\\', '\\XC3A9\\', '\\XFFFE\\', '\\C2842\\', '\\M2442\\', '\\Zabc\\', '\\.sp5\\', '\\', '\\\\', '\\Q\\'];

const latin1 = (b: Buffer | string) => (typeof b === 'string' ? b : b.toString('latin1'));

/** Field separator of a (possibly mutated) message: MSH-1, or '|'. */
function fieldSeparator(text: string): string {
	return text.startsWith('MSH') && text.length > 3 ? text[3] : '|';
}

/** Rewrites one field (1-based, MSH numbering shifted so MSH-n stays MSH-n) of one segment. */
function withField(text: string, rand: Prng, value: (old: string) => string, onlySegment?: string): string {
	const sep = fieldSeparator(text);
	const segs = text.split('\r');
	const candidates = segs.map((s, i) => i).filter((i) => segs[i].length > 3 && (!onlySegment || segs[i].startsWith(onlySegment)));
	if (candidates.length === 0) return text;
	const i = rand.pick(candidates);
	const fields = segs[i].split(sep);
	const f = rand.int(1, Math.max(1, Math.min(fields.length + 3, 50)));
	while (fields.length <= f) fields.push('');
	// MSH-2 (the encoding characters) sits at index 1 too; leave it to wrongDelimiters.
	if (segs[i].startsWith('MSH') && f === 1) return text;
	fields[f] = value(fields[f]);
	segs[i] = fields.join(sep);
	return segs.join('\r');
}

/** MSH-1 and MSH-2 replaced or reshuffled: too few, too many, repeated, alphanumeric, CR. */
function mutateDelimiters(text: string, rand: Prng): string {
	if (!text.startsWith('MSH')) return text;
	const alphabet = ['|', '^', '~', '\\', '&', '#', '!', 'A', '1', ' ', '\r', '\n', '\0', '\x0b', '\xff', '\u00e9'];
	const sep = fieldSeparator(text);
	const end = text.indexOf(sep, 4);
	const encoding = end < 0 ? '' : text.slice(4, end);
	const rest = end < 0 ? text.slice(4) : text.slice(end);
	const chars = [...encoding];
	switch (rand.int(0, 4)) {
		case 0:
			chars[rand.int(0, Math.max(0, chars.length - 1))] = rand.pick(alphabet);
			break;
		case 1:
			chars.splice(rand.int(0, chars.length), 0, rand.pick(alphabet));
			break;
		case 2:
			chars.splice(rand.int(0, Math.max(0, chars.length - 1)), 1);
			break;
		case 3: {
			// A consistent switch to other delimiters throughout the message.
			const swap = new Map([[sep, '#'], ['^', '!'], ['~', '$'], ['\\', '%'], ['&', '*']]);
			return [...text].map((c, i) => (i < 3 ? c : swap.get(c) ?? c)).join('');
		}
		default:
			return 'MSH' + rand.pick(alphabet) + encoding + rest;
	}
	return 'MSH' + sep + chars.join('') + rest;
}

/** Most bytes a repeating mutation adds: stacked on a field overflow, 5,000 copies once built a string past V8's limit and killed the fuzzing thread. */
const MAX_GROWTH_BYTES = 4 * 1024 * 1024;

/** `n` copies of something `unit` long, fewer if they would pass MAX_GROWTH_BYTES (at least one). */
function bounded(n: number, unit: number): number {
	return Math.max(1, Math.min(n, Math.floor(MAX_GROWTH_BYTES / Math.max(1, unit))));
}

/**
 * Mutate a valid message payload (no MLLP framing). Framing bytes are removed from
 * the result so the mutation stays inside one frame.
 */
export function mutate(message: Buffer | string, kind: Mutation, rand: Prng): Buffer {
	const text = latin1(message);
	const bytes = Buffer.from(text, 'latin1');
	let out: Buffer;
	switch (kind) {
		case Mutation.truncated:
			out = bytes.subarray(0, rand.int(0, bytes.length));
			break;
		case Mutation.binaryGarbage:
			out = randomBytes(rand, rand.int(1, 2048));
			break;
		case Mutation.wrongDelimiters:
			out = Buffer.from(mutateDelimiters(text, rand), 'latin1');
			break;
		case Mutation.fieldOverflow: {
			const huge = rand.pick(['X', '^', '~', '\\F\\', '9']).repeat(rand.int(50_000, 100_000));
			out = Buffer.from(withField(text, rand, () => huge), 'latin1');
			break;
		}
		case Mutation.byteFlips: {
			out = Buffer.from(bytes);
			for (let k = rand.int(1, 8); k > 0 && out.length; k--) out[rand.int(0, out.length - 1)] = rand.int(0, 255);
			break;
		}
		case Mutation.noMsh:
			out = Buffer.from(text.slice(text.indexOf('\r') + 1), 'latin1');
			break;
		case Mutation.escapes:
			out = Buffer.from(
				withField(text, rand, (old) => {
					const at = rand.int(0, old.length);
					return old.slice(0, at) + rand.pick(ESCAPES) + old.slice(at);
				}),
				'latin1'
			);
			break;
		case Mutation.repetitions:
			out = Buffer.from(
				withField(text, rand, (old) => Array.from({ length: bounded(rand.int(2, rand.next() < 0.1 ? 5000 : 20), old.length) }, () => rand.pick([old, '', rand.pick(FIELD_VALUES)])).join('~')),
				'latin1'
			);
			break;
		case Mutation.segments: {
			const segs = text.split('\r').filter((s) => s !== '');
			const i = rand.int(0, Math.max(0, segs.length - 1));
			switch (rand.int(0, 5)) {
				case 0:
					segs.splice(i, 0, ...Array.from({ length: bounded(rand.int(1, rand.next() < 0.1 ? 2000 : 3), segs[i]?.length ?? 0) }, () => segs[i] ?? ''));
					break;
				case 1:
					segs.splice(Math.max(1, i), 1);
					break;
				case 2: {
					const j = rand.int(0, Math.max(0, segs.length - 1));
					[segs[i], segs[j]] = [segs[j], segs[i]];
					break;
				}
				case 3:
					segs.splice(i + 1, 0, rand.pick(['ZZZ|1', 'MRG|OLD1^^^X^MR', 'MSH|^~\\&|A|B', 'OBX|1|TX|||line', 'ORC|NW', 'OBR|1', 'PID|1', 'pid|1', 'PV1', 'EVN|A01|20240101', 'IPC|ACC|1|1.2.3|CT|CT', 'TQ1|1||||||20240101|S']));
					break;
				case 4:
					if (segs[i]) segs[i] = segs[i].slice(0, 3).toLowerCase() + segs[i].slice(3);
					break;
				default:
					if (segs[i]) segs[i] = segs[i].slice(0, 3);
			}
			out = Buffer.from(segs.join('\r') + '\r', 'latin1');
			break;
		}
		case Mutation.fieldValue:
			out = Buffer.from(withField(text, rand, () => rand.pick(FIELD_VALUES)), 'latin1');
			break;
		case Mutation.messageType: {
			const sep = fieldSeparator(text);
			const comp = text.length > 4 ? text[4] : '^';
			const type = rand.pick(MESSAGE_TYPES).replaceAll('^', comp);
			const fields = text.split('\r')[0].split(sep);
			while (fields.length < 12) fields.push('');
			fields[8] = type;
			if (rand.next() < 0.3) fields[11] = rand.pick(['2.1', '2.2', '2.3.1', '2.5.1', '2.9', '3.0', '', 'x']);
			if (rand.next() < 0.3) {
				while (fields.length < 16) fields.push('');
				fields[14] = rand.pick(['AL', 'NE', 'ER', 'SU', 'XX', '']);
				fields[15] = rand.pick(['AL', 'NE', 'ER', 'SU', 'XX', '']);
			}
			const rest = text.indexOf('\r') < 0 ? '' : text.slice(text.indexOf('\r'));
			out = Buffer.from(fields.join(sep) + rest, 'latin1');
			break;
		}
		case Mutation.charset: {
			const sep = fieldSeparator(text);
			const fields = text.split('\r')[0].split(sep);
			while (fields.length < 18) fields.push('');
			fields[17] = rand.pick(CHARSETS);
			const rest = text.indexOf('\r') < 0 ? '' : text.slice(text.indexOf('\r'));
			let body = fields.join(sep) + rest;
			if (rand.next() < 0.5) {
				// Bytes that are invalid in the declared character set.
				const at = rand.int(0, body.length);
				body = body.slice(0, at) + rand.pick(['\xc3', '\xff\xfe', '\xe9', '\x80\x80', '\xf0\x9f\x98']) + body.slice(at);
			}
			out = Buffer.from(body, 'latin1');
			break;
		}
		case Mutation.lineEndings:
			out = Buffer.from(text.replaceAll('\r', rand.pick(['\n', '\r\n', '', '\r\r', '\n\r'])), 'latin1');
			break;
		case Mutation.binaryBytes:
			out = havoc(bytes, rand);
			break;
		default:
			return kind satisfies never;
	}
	return withoutFraming(out);
}

/** The bytes without MLLP start and end blocks. */
function withoutFraming(b: Buffer): Buffer {
	if (b.indexOf(MLLP.startBlock) < 0 && b.indexOf(MLLP.endBlock) < 0) return b;
	const out = Buffer.allocUnsafe(b.length);
	let n = 0;
	for (const x of b) if (x !== MLLP.startBlock && x !== MLLP.endBlock) out[n++] = x;
	return out.subarray(0, n);
}

/** A random mutation of one message, stacked 1..3 deep. */
export function mutateMessage(message: Buffer | string, rand: Prng): Buffer {
	let out = mutate(message, rand.pick(MUTATIONS), rand);
	for (let k = rand.int(0, 2); k > 0; k--) out = mutate(out, rand.pick(MUTATIONS), rand);
	return out;
}

/**
 * A hostile MLLP byte stream carrying `payloads`: frames split, joined, nested,
 * missing their end block or <CR>, surrounded by junk, or oversized.
 */
export function mutateFraming(payloads: Buffer[], rand: Prng): Buffer {
	const vt = Buffer.from([MLLP.startBlock]);
	const end = Buffer.from([MLLP.endBlock, MLLP.carriageReturn]);
	const parts: Buffer[] = [];
	for (const p of payloads) {
		switch (rand.int(0, 9)) {
			case 0:
				parts.push(Buffer.from(randomBytes(rand, rand.int(1, 64)).filter((b) => b !== MLLP.startBlock)), vt, p, end);
				break;
			case 1:
				parts.push(vt, p, Buffer.from([MLLP.endBlock]));
				break;
			case 2:
				parts.push(vt, p.subarray(0, rand.int(0, p.length)), vt, p, end);
				break;
			case 3:
				parts.push(vt, p, end, end);
				break;
			case 4:
				parts.push(vt, vt, p, end);
				break;
			case 5:
				parts.push(p, end);
				break;
			default:
				parts.push(vt, p, end);
		}
	}
	return Buffer.concat(parts);
}
