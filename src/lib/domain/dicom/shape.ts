/**
 * The shape of a little-endian dataset prefix, found by a linear scan of element
 * headers without decoding values: how deeply it nests sequences, and where the
 * last complete element ends. Both guard dcmjs (found by `radflow fuzz`):
 * - it re-reads each undefined-length sequence's content once per level, so its
 *   time grows with depth × size: a 64 KiB dataset nesting 2000 sequences took
 *   8 s of one event loop, a 4 MiB prefix would take hours. Real objects (SR
 *   content trees included) nest a few levels;
 * - it allocates an element's declared length before finding the bytes missing,
 *   so a 1 KiB prefix declaring a 0xFFFFFFF0-byte value costs gigabytes.
 *
 * Pure: no I/O, no clock.
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part05.html#sect_7.5 PS3.5 7.5 Nesting of Data Sets
 */

/** Nesting that a parser of received objects should refuse to follow. */
export const MAX_SEQUENCE_DEPTH = 64;

const UNDEFINED = 0xffffffff;
const ITEM_GROUP = 0xfffe;
const ITEM = 0xe000;
const ITEM_END = 0xe00d;
const SEQUENCE_END = 0xe0dd;
/** Explicit VRs with a 2-byte reserved field and a 32-bit length. PS3.5 Table 7.1-1. */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT', 'SV', 'UV']);
const SHORT_VRS = new Set(['AE', 'AS', 'AT', 'CS', 'DA', 'DS', 'DT', 'FL', 'FD', 'IS', 'LO', 'LT', 'PN', 'SH', 'SL', 'SS', 'ST', 'TM', 'UI', 'UL', 'US']);

export interface DatasetShape {
	/** Sequences nest deeper than the limit. */
	tooDeep: boolean;
	/** Bytes up to the first element (at any level) whose declared extent runs past the end. */
	complete: number;
}

/**
 * Scans element headers. The scan stops where the bytes stop making sense (the
 * parser will stop there too). A defined-length value is entered when it starts
 * with an Item tag, which is how a sequence looks in Implicit VR without a data
 * dictionary.
 */
export function datasetShape(bytes: Uint8Array, explicit: boolean, limit = MAX_SEQUENCE_DEPTH): DatasetShape {
	const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
	/** Open sequences and items, with their end offset (Infinity for undefined length). */
	const open: { end: number; sequence: boolean }[] = [];
	let depth = 0;
	const pop = () => {
		if (open.pop()?.sequence) depth--;
	};
	/** Closes containers up to and including the innermost sequence (or item). */
	const closeUntil = (sequence: boolean) => {
		const i = open.findLastIndex((c) => c.sequence === sequence);
		if (i >= 0) while (open.length > i) pop();
	};
	let p = 0;
	while (p + 8 <= b.length) {
		while (open.length && p >= open[open.length - 1].end) pop();
		const group = b.readUInt16LE(p);
		const element = b.readUInt16LE(p + 2);
		if (group === ITEM_GROUP) {
			const length = b.readUInt32LE(p + 4);
			if (element === ITEM && length !== UNDEFINED && p + 8 + length > b.length) return { tooDeep: false, complete: p };
			p += 8;
			if (element === ITEM) open.push({ end: length === UNDEFINED ? Infinity : p + length, sequence: false });
			else if (element === ITEM_END) closeUntil(false);
			else if (element === SEQUENCE_END) closeUntil(true);
			continue;
		}
		let length: number;
		let header: number;
		let sequence: boolean;
		if (explicit) {
			const vr = b.toString('latin1', p + 4, p + 6);
			// dcmjs reads an unknown VR as UN, with a 32-bit length.
			const long = LONG_VRS.has(vr) || !SHORT_VRS.has(vr);
			if (long && p + 12 > b.length) break;
			length = long ? b.readUInt32LE(p + 8) : b.readUInt16LE(p + 6);
			header = long ? 12 : 8;
			sequence = vr === 'SQ';
		} else {
			length = b.readUInt32LE(p + 4);
			header = 8;
			sequence = length === UNDEFINED;
		}
		const value = p + header;
		if (length !== UNDEFINED && value + length > b.length) return { tooDeep: false, complete: p };
		if (!sequence && length !== UNDEFINED && value + 4 <= b.length) {
			sequence = b.readUInt16LE(value) === ITEM_GROUP && b.readUInt16LE(value + 2) === ITEM;
		}
		if (!sequence) {
			if (length === UNDEFINED) break;
			p = value + length;
			continue;
		}
		open.push({ end: length === UNDEFINED ? Infinity : value + length, sequence: true });
		if (++depth > limit) return { tooDeep: true, complete: p };
		p = value;
	}
	return { tooDeep: false, complete: b.length };
}
