/**
 * HL7 v2 message model for the MLLP edge: bytes → characters (MSH-18) → segments,
 * fields, repetitions, components (via @medplum/core's Hl7Message) → unescaped values.
 *
 * Why wrap @medplum/core rather than use it directly (checked against v4.5):
 * - it honours MSH-1/MSH-2 delimiters, repetitions, and keeps Z-segments: we use it for that;
 * - it does not decode escape sequences (\F\ \S\ \T\ \R\ \E\ \Xhh\ \.br\): we decode here;
 * - `getComponent` throws on a repetition that is absent, and parse() accepts a
 *   header with fewer than four encoding characters by taking the next `|` as a
 *   delimiter: we validate MSH-2 first and read components defensively;
 * - it has no character set handling: we decode bytes per MSH-18 before parsing.
 *
 * @see HL7 v2.5.1 Ch. 2.5.4 (escape sequences), 2.7 (MSH), 2.15.9.18 (MSH-18, table 0211)
 */
import { Hl7Context, Hl7Message, Hl7Segment } from '@medplum/core';
import iconv from 'iconv-lite';
import { Hl7ApplicationError, Hl7ErrorCode } from '../../src/lib/domain/hl7/errors';
import type { Hl7MessageView, Hl7SegmentView } from '../../src/lib/domain/hl7/view';

export interface Hl7Delimiters {
	field: string;
	component: string;
	repetition: string;
	escape: string;
	subcomponent: string;
	/** v2.7 truncation character (MSH-2.5), '' when absent. */
	truncation: string;
}

export const DEFAULT_DELIMITERS: Hl7Delimiters = {
	field: '|',
	component: '^',
	repetition: '~',
	escape: '\\',
	subcomponent: '&',
	truncation: ''
};

/** Character sets we decode, keyed by MSH-18 value (table 0211). */
export const Charset = {
	ascii: 'ASCII',
	latin1: '8859/1',
	utf8: 'UNICODE UTF-8'
} as const;
export type Charset = (typeof Charset)[keyof typeof Charset];

/** MSH-18 value → WHATWG/Node decoder label. ASCII and 8859/1 use Node's exact latin1. */
const DECODERS: Readonly<Record<string, string>> = {
	'': 'default',
	ASCII: 'latin1',
	'8859/1': 'latin1',
	'8859/2': 'iso-8859-2',
	'8859/3': 'iso-8859-3',
	'8859/4': 'iso-8859-4',
	'8859/5': 'iso-8859-5',
	'8859/6': 'iso-8859-6',
	'8859/7': 'iso-8859-7',
	'8859/8': 'iso-8859-8',
	'8859/9': 'windows-1254',
	'8859/15': 'iso-8859-15',
	'UNICODE UTF-8': 'utf-8',
	'UTF-8': 'utf-8',
	'GB 18030-2000': 'gb18030',
	'BIG-5': 'big5',
	'KS X 1001': 'euc-kr'
};

/** The MSH fields the edge needs before and besides mapping. Values are unescaped. */
export interface MshHeader {
	delimiters: Hl7Delimiters;
	/** MSH-3..6 as sent (still escaped): echoed swapped in the ACK. */
	rawSendingApplication: string;
	rawSendingFacility: string;
	rawReceivingApplication: string;
	rawReceivingFacility: string;
	messageType: string;
	triggerEvent: string;
	messageStructure: string;
	/** MSH-10 as sent (still escaped), echoed in MSA-2. */
	rawControlId: string;
	controlId: string;
	processingId: string;
	version: string;
	/** MSH-15 / MSH-16 (table 0155: AL, NE, ER, SU), '' when absent. */
	acceptAckType: string;
	applicationAckType: string;
	/** MSH-18 first repetition as sent, '' when absent. */
	charset: string;
	/**
	 * How the message's bytes were decoded (a WHATWG encoding label; 'latin1'
	 * also when undeclared bytes were not UTF-8): an ACK is encoded the same way,
	 * so the fields it echoes go back byte for byte. Absent when not decoded from bytes.
	 */
	encoding?: string;
}

/**
 * A message the edge could not parse. Carries what could be read of the header so
 * that the NACK can still be addressed (MSA-2) when possible.
 */
export class Hl7ParseError extends Hl7ApplicationError {
	readonly header: MshHeader | null;
	constructor(
		code: Hl7ErrorCode,
		message: string,
		header: MshHeader | null,
		options: ConstructorParameters<typeof Hl7ApplicationError>[2] = {}
	) {
		super(code, message, options);
		this.name = 'Hl7ParseError';
		this.header = header;
	}
}

// --- escapes -------------------------------------------------------------------

/**
 * Decode HL7 escape sequences in one already-split value.
 * \F\ \S\ \T\ \R\ \E\ \P\ → delimiters; \Xhh…\ → bytes in the message charset;
 * \.br\ → newline; \H\ \N\ and other formatting / charset switches are dropped;
 * an unterminated escape is kept literally.
 */
export function unescapeHl7(value: string, d: Hl7Delimiters, charset = ''): string {
	const e = d.escape;
	if (!e || !value.includes(e)) return value;
	let out = '';
	let i = 0;
	while (i < value.length) {
		const start = value.indexOf(e, i);
		if (start < 0) {
			out += value.slice(i);
			break;
		}
		out += value.slice(i, start);
		const end = value.indexOf(e, start + 1);
		if (end < 0) {
			out += value.slice(start);
			break;
		}
		const seq = value.slice(start + 1, end);
		out += decodeEscape(seq, d, charset) ?? value.slice(start, end + 1);
		i = end + 1;
	}
	return out;
}

function decodeEscape(seq: string, d: Hl7Delimiters, charset: string): string | null {
	switch (seq) {
		case 'F':
			return d.field;
		case 'S':
			return d.component;
		case 'T':
			return d.subcomponent;
		case 'R':
			return d.repetition;
		case 'E':
			return d.escape;
		case 'P':
			return d.truncation || null;
		case 'H':
		case 'N':
			return '';
		case '.br':
			return '\n';
	}
	const head = seq[0];
	if (head === 'X' && /^X(?:[0-9A-Fa-f]{2})+$/.test(seq)) {
		const bytes = Buffer.from(seq.slice(1), 'hex');
		return decodeBytes(bytes, charset).text;
	}
	// \Cxxyy\, \Mxxyyzz\ (charset switches), \Zxx\ (locally defined), \.sp\ etc.: drop.
	if (head === 'C' || head === 'M' || head === 'Z' || head === '.') return '';
	return null;
}

/** Escape text for a field we write (ERR-8, MSA-3). */
export function escapeHl7(value: string, d: Hl7Delimiters = DEFAULT_DELIMITERS): string {
	let out = '';
	for (const ch of value) {
		if (ch === d.escape) out += `${d.escape}E${d.escape}`;
		else if (ch === d.field) out += `${d.escape}F${d.escape}`;
		else if (ch === d.component) out += `${d.escape}S${d.escape}`;
		else if (ch === d.subcomponent) out += `${d.escape}T${d.escape}`;
		else if (ch === d.repetition) out += `${d.escape}R${d.escape}`;
		else if (ch === '\r' || ch === '\n') out += `${d.escape}.br${d.escape}`;
		else out += ch;
	}
	return out;
}

// --- character sets --------------------------------------------------------------

const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const utf8Loose = new TextDecoder('utf-8');

/**
 * Decode bytes per MSH-18. With no MSH-18 we try UTF-8 and fall back to ISO 8859-1
 * (legacy senders often send Latin-1 undeclared); declared UTF-8 that is not
 * valid is decoded with U+FFFD and flagged.
 */
export function decodeBytes(bytes: Uint8Array, charset: string): { text: string; warning?: string; encoding: string } {
	const label = DECODERS[charset.trim().toUpperCase()];
	if (label === undefined) {
		throw new Hl7ApplicationError(Hl7ErrorCode.tableValueNotFound, `character set ${charset} not supported`, {
			location: { segment: 'MSH', sequence: 1, field: 18 },
			ack: 'AR'
		});
	}
	const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
	if (label === 'latin1') return { text: buf.toString('latin1'), encoding: 'latin1' };
	if (label === 'default' || label === 'utf-8') {
		try {
			return { text: utf8Strict.decode(buf), encoding: 'utf-8' };
		} catch {
			if (label === 'default') return { text: buf.toString('latin1'), warning: 'undeclared non-UTF-8 bytes decoded as 8859/1', encoding: 'latin1' };
			return { text: utf8Loose.decode(buf), warning: 'invalid UTF-8 replaced with U+FFFD', encoding: 'utf-8' };
		}
	}
	return { text: decodeAs(label, buf), encoding: label };
}

/** Bytes → text in one WHATWG encoding ('latin1' as Node reads it). */
function decodeAs(encoding: string, buf: Buffer): string {
	return encoding === 'latin1' ? buf.toString('latin1') : new TextDecoder(encoding).decode(buf);
}

/** True for an MSH-18 value we can decode (and so may declare in an ACK). */
export function isSupportedCharset(charset: string): boolean {
	return DECODERS[charset.trim().toUpperCase()] !== undefined;
}

/**
 * Encode an ACK for the wire the way its message was decoded (see
 * MshHeader.encoding), so MSA-2 and the echoed MSH-3..6 go back as sent; a
 * header that was not decoded from bytes (or none) gets UTF-8. Writing
 * non-Latin text as latin1 (what this did before) cut each character to its
 * low byte: an 8859/5 'Њ' became a line feed, and a GB 18030 control id came
 * back as another one (found by radflow fuzz).
 */
export function encodeText(text: string, header: Pick<MshHeader, 'encoding'> | null): Buffer {
	const encoding = header?.encoding ?? 'utf-8';
	if (encoding === 'utf-8') return Buffer.from(text, 'utf8');
	// A character the charset cannot carry becomes '?' (iconv does the same), never a stray control byte.
	if (encoding === 'latin1') return Buffer.from(text.replace(/[^\x00-\xff]/g, '?'), 'latin1');
	return iconv.encode(text, encoding);
}

/**
 * True when `value`, read from the message, goes back into an ACK as the
 * bytes it came from (encodeText): it has no replacement character from a
 * byte the declared character set does not define, and that character set
 * can carry it again.
 */
export function echoesExactly(value: string, header: Pick<MshHeader, 'encoding'>): boolean {
	if (value.includes('\uFFFD')) return false;
	const encoding = header.encoding ?? 'utf-8';
	if (encoding === 'utf-8') return true;
	return decodeAs(encoding, encodeText(value, header)) === value;
}

// --- header --------------------------------------------------------------------

/** Read delimiters and MSH fields from the first segment; throws Hl7ParseError. */
export function readHeader(text: string): MshHeader {
	if (!text.startsWith('MSH')) {
		throw new Hl7ParseError(Hl7ErrorCode.segmentSequenceError, 'message does not start with MSH', null, {
			location: { segment: 'MSH', sequence: 1 }
		});
	}
	const field = text.charAt(3);
	const end = text.indexOf(field, 4);
	const encoding = end < 0 ? '' : text.slice(4, end);
	const all = field + encoding;
	const bad =
		field === '' ||
		encoding.length < 3 ||
		encoding.length > 5 ||
		new Set(all).size !== all.length ||
		/[A-Za-z0-9\r\n ]/.test(all) ||
		// Printable ASCII only: a non-ASCII delimiter would change bytes between the sender's charset and our ACK's.
		/[^\x21-\x7e]/.test(all);
	if (bad) {
		throw new Hl7ParseError(Hl7ErrorCode.dataTypeError, 'MSH-1/MSH-2 delimiters invalid', null, {
			location: { segment: 'MSH', sequence: 1, field: 2 }
		});
	}
	const d: Hl7Delimiters = {
		field,
		component: encoding[0],
		repetition: encoding[1],
		escape: encoding[2],
		subcomponent: encoding[3] ?? '',
		truncation: encoding[4] ?? ''
	};
	const lineEnd = text.search(/[\r\n]/);
	const line = lineEnd < 0 ? text : text.slice(0, lineEnd);
	const f = line.split(field); // f[n-1] is MSH-n for n ≥ 2
	const raw = (n: number) => f[n - 1] ?? '';
	const comp = (n: number, c: number) => unescapeHl7(raw(n).split(d.repetition)[0].split(d.component)[c - 1] ?? '', d);
	const charset = comp(18, 1);
	return {
		delimiters: d,
		rawSendingApplication: raw(3),
		rawSendingFacility: raw(4),
		rawReceivingApplication: raw(5),
		rawReceivingFacility: raw(6),
		messageType: comp(9, 1),
		triggerEvent: comp(9, 2),
		messageStructure: comp(9, 3),
		rawControlId: raw(10),
		// A \Xhh\ escape means bytes in the message's charset, as the segment views read it (the key is built from
		// those): read otherwise, MSH-10 and the idempotency key disagreed (found by radflow fuzz).
		controlId: unescapeHl7(raw(10), d, isSupportedCharset(charset) ? charset : ''),
		processingId: comp(11, 1),
		version: comp(12, 1),
		acceptAckType: comp(15, 1).toUpperCase(),
		applicationAckType: comp(16, 1).toUpperCase(),
		charset
	};
}

/**
 * The bytes of the first segment (MSH), whatever its length: MSH-18 decides how
 * the rest is decoded. A fixed 4 KiB window missed the MSH-18 of a long MSH, so
 * the message was decoded as undeclared while its ACK declared the charset
 * (found by radflow fuzz). Bounded by the frame size.
 */
function firstSegment(bytes: Uint8Array): Buffer {
	const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
	const cr = b.indexOf(0x0d);
	const head = cr < 0 ? b : b.subarray(0, cr);
	// LF only before the first CR: most senders end segments with CR alone, and the rest need not be searched.
	const lf = head.indexOf(0x0a);
	return lf < 0 ? head : head.subarray(0, lf);
}

/** The header of a frame read from its first segment as latin1: a NACK addressed from it echoes the bytes as they came. */
function latin1Header(bytes: Uint8Array): MshHeader {
	return { ...readHeader(firstSegment(bytes).toString('latin1')), encoding: 'latin1' };
}

/**
 * Best effort: read the header of a frame that will not be parsed further
 * (oversized, undecodable). Null when the bytes do not start with a usable MSH.
 */
export function peekHeader(bytes: Uint8Array): MshHeader | null {
	try {
		return latin1Header(bytes);
	} catch {
		return null;
	}
}

// --- parsed message ----------------------------------------------------------------

const SEGMENT_NAME = /^[A-Z][A-Z0-9]{2}$/;

class SegmentView implements Hl7SegmentView {
	constructor(
		private readonly seg: Hl7Segment,
		readonly sequence: number,
		private readonly msg: ParsedHl7Message
	) {}

	get name(): string {
		return this.seg.name;
	}

	/** The medplum field array at standard position `field`. */
	private fieldAt(field: number) {
		if (this.seg.name === 'MSH') return field <= 2 ? undefined : this.seg.fields[field - 1];
		return this.seg.fields[field];
	}

	get(field: number, component = 1, repetition = 0, subcomponent?: number): string {
		const d = this.msg.delimiters;
		if (this.seg.name === 'MSH' && field <= 2) {
			if (repetition > 0 || component > 1) return '';
			return field === 1 ? d.field : d.component + d.repetition + d.escape + d.subcomponent + d.truncation;
		}
		const rep = this.fieldAt(field)?.components[repetition];
		let value = rep?.[component - 1] ?? '';
		if (subcomponent !== undefined) value = d.subcomponent ? (value.split(d.subcomponent)[subcomponent - 1] ?? '') : subcomponent === 1 ? value : '';
		return unescapeHl7(value, d, this.msg.charset);
	}

	repetitions(field: number): number {
		const f = this.fieldAt(field);
		if (!f) return 0;
		if (f.components.length === 1 && f.components[0].every((c) => c === '')) return 0;
		return f.components.length;
	}

	/** The field as sent, still escaped. */
	raw(field: number): string {
		if (this.seg.name === 'MSH' && field <= 2) return this.get(field);
		return this.fieldAt(field)?.toString() ?? '';
	}
}

/** A parsed inbound message: header, segment views, and the exact text received. */
export class ParsedHl7Message implements Hl7MessageView {
	readonly segments: SegmentView[];
	readonly delimiters: Hl7Delimiters;
	readonly charset: string;
	/** The message text exactly as decoded from the frame (segment terminators kept). */
	readonly raw: string;
	readonly header: MshHeader;
	/** The underlying @medplum/core model, for callers that want its API. */
	readonly model: Hl7Message;
	readonly charsetWarning: string | undefined;

	constructor(raw: string, header: MshHeader, model: Hl7Message, charsetWarning?: string) {
		this.raw = raw;
		this.header = header;
		this.delimiters = header.delimiters;
		this.charset = header.charset;
		this.model = model;
		this.charsetWarning = charsetWarning;
		const seen = new Map<string, number>();
		this.segments = model.segments.map((s) => {
			const n = (seen.get(s.name) ?? 0) + 1;
			seen.set(s.name, n);
			return new SegmentView(s, n, this);
		});
	}

	/** All segments with a given id, in message order. */
	all(name: string): SegmentView[] {
		return this.segments.filter((s) => s.name === name);
	}

	first(name: string): SegmentView | undefined {
		return this.segments.find((s) => s.name === name);
	}
}

/**
 * Parse one MLLP payload (or text). Throws Hl7ParseError (code 100/102/103) with
 * whatever header it could read, so the caller can still answer with a NACK.
 */
export function parseHl7Message(input: Uint8Array | string): ParsedHl7Message {
	let text: string;
	let warning: string | undefined;
	let header: MshHeader;
	if (typeof input === 'string') {
		text = input;
		header = readHeader(text);
	} else {
		const peek = latin1Header(input);
		let encoding: string;
		try {
			({ text, warning, encoding } = decodeBytes(input, peek.charset));
		} catch (err) {
			if (err instanceof Hl7ApplicationError) {
				throw new Hl7ParseError(err.code, err.message, peek, { location: err.location, ack: err.ack, cause: err });
			}
			throw err;
		}
		header = { ...readHeader(text), encoding };
	}
	const d = header.delimiters;
	// medplum needs four single-char delimiters; NUL stands in for an absent sub-component separator.
	const ctx = new Hl7Context('\r', d.field, d.component, d.repetition, d.escape, d.subcomponent || '\u0000');
	const segments: Hl7Segment[] = [];
	for (const line of text.split(/\r\n|\r|\n/)) {
		if (line === '') continue;
		const name = line.slice(0, 3);
		if (!SEGMENT_NAME.test(name) || (line.length > 3 && line[3] !== d.field)) {
			throw new Hl7ParseError(Hl7ErrorCode.segmentSequenceError, `segment ${segments.length + 1} has no valid segment id`, header, {
				location: { segment: SEGMENT_NAME.test(name) ? name : 'MSH', sequence: 1 }
			});
		}
		segments.push(Hl7Segment.parse(line, ctx));
	}
	const model = new Hl7Message(segments, ctx);
	return new ParsedHl7Message(text, header, model, warning);
}
