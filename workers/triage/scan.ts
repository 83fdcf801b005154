/**
 * A minimal Part-10 element scanner for the triage fast path: one pass over
 * the file meta and the top-level data set of a native little-endian file,
 * recording where the few attributes triage reads lie and where Pixel Data
 * starts. No value is copied, no dataset object is built; sequences are
 * skipped by their lengths or delimiters.
 *
 * It never guesses: anything it does not expect (no DICM prefix, another
 * transfer syntax, an unexpected VR, encapsulated or truncated data) makes it
 * decline with `null`, and the caller uses the dcmjs reader (the reference).
 *
 * @see https://dicom.nema.org/medical/dicom/current/output/chtml/part10/chapter_7.html (file format)
 * @see https://dicom.nema.org/medical/dicom/current/output/chtml/part05/chapter_7.html (data set encoding)
 */
import { decodeDicomText, resolveCharacterSet, type CharacterSet } from '../../src/lib/domain/dicom/charset';
import { MAX_SEQUENCE_DEPTH, datasetShape } from '../../src/lib/domain/dicom/shape';

const IMPLICIT_LITTLE = '1.2.840.10008.1.2';
const EXPLICIT_LITTLE = '1.2.840.10008.1.2.1';
const EXPLICIT_BIG = '1.2.840.10008.1.2.2';
const DEFLATED = '1.2.840.10008.1.2.1.99';
const UNDEFINED = 0xffffffff;

/** VRs whose explicit encoding has 2 reserved bytes and a 32-bit length. @see PS3.5 7.1.2 */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT', 'SV', 'UV']);

/** The attributes triage reads, by tag (group << 16 | element), with the VRs they may carry. */
export const ScanTag = {
	specificCharacterSet: 0x00080005,
	sopInstanceUid: 0x00080018,
	modality: 0x00080060,
	studyDescription: 0x00081030,
	seriesDescription: 0x0008103e,
	bodyPartExamined: 0x00180015,
	sliceThickness: 0x00180050,
	convolutionKernel: 0x00181210,
	seriesInstanceUid: 0x0020000e,
	instanceNumber: 0x00200013,
	imagePositionPatient: 0x00200032,
	imageOrientationPatient: 0x00200037,
	samplesPerPixel: 0x00280002,
	photometricInterpretation: 0x00280004,
	numberOfFrames: 0x00280008,
	rows: 0x00280010,
	columns: 0x00280011,
	bitsAllocated: 0x00280100,
	bitsStored: 0x00280101,
	pixelRepresentation: 0x00280103,
	rescaleIntercept: 0x00281052,
	rescaleSlope: 0x00281053,
	pixelData: 0x7fe00010
} as const;

const EXPECTED_VR: ReadonlyMap<number, readonly string[]> = new Map<number, readonly string[]>([
	[ScanTag.specificCharacterSet, ['CS']],
	[ScanTag.sopInstanceUid, ['UI']],
	[ScanTag.modality, ['CS']],
	[ScanTag.studyDescription, ['LO']],
	[ScanTag.seriesDescription, ['LO']],
	[ScanTag.bodyPartExamined, ['CS']],
	[ScanTag.sliceThickness, ['DS']],
	[ScanTag.convolutionKernel, ['SH']],
	[ScanTag.seriesInstanceUid, ['UI']],
	[ScanTag.instanceNumber, ['IS']],
	[ScanTag.imagePositionPatient, ['DS']],
	[ScanTag.imageOrientationPatient, ['DS']],
	[ScanTag.samplesPerPixel, ['US']],
	[ScanTag.photometricInterpretation, ['CS']],
	[ScanTag.numberOfFrames, ['IS']],
	[ScanTag.rows, ['US']],
	[ScanTag.columns, ['US']],
	[ScanTag.bitsAllocated, ['US']],
	[ScanTag.bitsStored, ['US']],
	[ScanTag.pixelRepresentation, ['US']],
	[ScanTag.rescaleIntercept, ['DS']],
	[ScanTag.rescaleSlope, ['DS']],
	[ScanTag.pixelData, ['OW', 'OB']]
]);

/** Where one element's value lies in the file. */
interface Span {
	offset: number;
	length: number;
}

/** What a scan found: the transfer syntax, the wanted elements, and Pixel Data's place. */
export interface Part10Scan {
	bytes: Uint8Array;
	transferSyntaxUid: string;
	elements: Map<number, Span>;
	/** Value of (7FE0,0010), when the file reaches it with a defined length. */
	pixelData: Span | null;
}

class Decline extends Error {}

/** A little-endian cursor over the file. */
class Cursor {
	readonly view: DataView;
	constructor(
		readonly bytes: Uint8Array,
		public pos: number
	) {
		this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
	}
	need(n: number): void {
		if (this.pos + n > this.bytes.length) throw new Decline();
	}
	u16(): number {
		this.need(2);
		const v = this.view.getUint16(this.pos, true);
		this.pos += 2;
		return v;
	}
	u32(): number {
		this.need(4);
		const v = this.view.getUint32(this.pos, true);
		this.pos += 4;
		return v;
	}
	vr(): string {
		this.need(2);
		const a = this.bytes[this.pos];
		const b = this.bytes[this.pos + 1];
		this.pos += 2;
		return String.fromCharCode(a, b);
	}
}

interface Header {
	tag: number;
	vr: string | null;
	length: number;
}

function readElementHeader(c: Cursor, explicit: boolean): Header {
	const group = c.u16();
	const element = c.u16();
	const tag = ((group << 16) | element) >>> 0;
	// Item and delimitation tags never carry a VR. @see PS3.5 7.5
	if (group === 0xfffe) return { tag, vr: null, length: c.u32() };
	if (!explicit) return { tag, vr: null, length: c.u32() };
	const vr = c.vr();
	if (!/^[A-Z]{2}$/.test(vr)) throw new Decline();
	if (LONG_VRS.has(vr)) {
		c.u16();
		return { tag, vr, length: c.u32() };
	}
	return { tag, vr, length: c.u16() };
}

/** Skip the items of a sequence of undefined length, through its delimiter. */
function skipUndefinedSequence(c: Cursor, explicit: boolean, depth: number): void {
	if (depth > 16) throw new Decline();
	for (;;) {
		const h = readElementHeader(c, explicit);
		if (h.tag === 0xfffee0dd) return; // Sequence Delimitation Item
		if (h.tag !== 0xfffee000) throw new Decline(); // only Items inside a sequence
		if (h.length !== UNDEFINED) {
			c.need(h.length);
			c.pos += h.length;
			continue;
		}
		// An item of undefined length: its elements, through the Item Delimitation Item.
		for (;;) {
			const e = readElementHeader(c, explicit);
			if (e.tag === 0xfffee00d) break;
			skipValue(c, e, explicit, depth + 1);
		}
	}
}

function skipValue(c: Cursor, h: Header, explicit: boolean, depth: number): void {
	if (h.length === UNDEFINED) {
		// Undefined length is only valid for SQ (or UN / implicit holding a sequence); encapsulated Pixel Data is not ours.
		if (h.tag === ScanTag.pixelData || (h.vr !== null && h.vr !== 'SQ' && h.vr !== 'UN')) throw new Decline();
		skipUndefinedSequence(c, explicit, depth);
		return;
	}
	c.need(h.length);
	c.pos += h.length;
}

/**
 * Scan a Part-10 file written in Implicit or Explicit VR Little Endian, up to
 * and including the position of Pixel Data. Returns null (decline) for
 * anything else, so the caller falls back to the reference reader.
 * `headerOnly`: `bytes` may be the first part of a file; the scan must reach
 * the Pixel Data tag, and `pixelData` stays null.
 */
export function scanPart10(bytes: Uint8Array, opts: { headerOnly?: boolean } = {}): Part10Scan | null {
	try {
		if (bytes.length < 132 + 12) return null;
		const meta = readFileMeta(bytes);
		if (!meta || meta.dataset + 4 > bytes.length) return null;
		const { transferSyntaxUid } = meta;
		const c = new Cursor(bytes, meta.dataset);
		const explicit = transferSyntaxUid === EXPLICIT_LITTLE;
		if (!explicit && transferSyntaxUid !== IMPLICIT_LITTLE) return null;
		const elements = new Map<number, Span>();
		let pixelData: Span | null = null;
		let last = -1;
		while (c.pos < bytes.length) {
			const h = readElementHeader(c, explicit);
			// Top-level elements ascend; anything else is not a file we understand.
			if (h.tag <= last || h.tag >>> 16 === 0xfffe) return null;
			last = h.tag;
			const expected = EXPECTED_VR.get(h.tag);
			if (expected && h.vr !== null && !expected.includes(h.vr)) return null;
			if (h.tag === ScanTag.pixelData) {
				if (h.length === UNDEFINED) return null;
				// headerOnly: the first bytes of a file; the pixels are read later, from the whole file
				if (opts.headerOnly) break;
				if (c.pos + h.length > bytes.length) return null;
				pixelData = { offset: c.pos, length: h.length };
				break;
			}
			if (expected && h.length !== UNDEFINED) {
				c.need(h.length);
				elements.set(h.tag, { offset: c.pos, length: h.length });
			}
			skipValue(c, h, explicit, 0);
			if (h.tag > ScanTag.pixelData) break;
		}
		return { bytes, transferSyntaxUid, elements, pixelData };
	} catch (e) {
		if (e instanceof Decline) return null;
		throw e;
	}
}

/**
 * Why dcmjs must not read this Part-10 file, or null. dcmjs allocates an
 * element's declared length before it finds the bytes missing, and re-reads
 * nested undefined-length sequences once per level: an 868-byte file declaring
 * a 1.3 GB value ran the triage process out of memory (found by radflow fuzz).
 * A stored file is whole, so a value that runs past its end is malformed.
 * Big-endian and deflated data sets are not scanned; a file without the DICM
 * prefix is left to dcmjs's own error.
 */
export function dcmjsHazard(bytes: Uint8Array): string | null {
	let meta: ReturnType<typeof readFileMeta>;
	try {
		meta = readFileMeta(bytes);
	} catch (e) {
		if (e instanceof Decline) return 'the file meta information runs past the end of the file';
		throw e;
	}
	if (!meta) return null;
	// Every other transfer syntax (the compressed ones included) encodes its data set as Explicit VR Little Endian.
	if (meta.transferSyntaxUid === EXPLICIT_BIG || meta.transferSyntaxUid === DEFLATED) return null;
	const shape = datasetShape(bytes.subarray(meta.dataset), meta.transferSyntaxUid !== IMPLICIT_LITTLE);
	if (shape.tooDeep) return `sequences nest deeper than ${MAX_SEQUENCE_DEPTH} levels`;
	if (meta.dataset + shape.complete < bytes.length) return 'an element declares more bytes than the file has left';
	return null;
}

/**
 * The file meta information (group 0002, always Explicit VR Little Endian):
 * the transfer syntax and where the data set starts. Null without the DICM
 * prefix; Decline when an element is truncated or of undefined length.
 * @see PS3.10 7.1
 */
function readFileMeta(bytes: Uint8Array): { transferSyntaxUid: string; dataset: number } | null {
	if (bytes.length < 132 || bytes[128] !== 0x44 || bytes[129] !== 0x49 || bytes[130] !== 0x43 || bytes[131] !== 0x4d) return null;
	const c = new Cursor(bytes, 132);
	let transferSyntaxUid = '';
	while (c.pos + 4 <= bytes.length && c.view.getUint16(c.pos, true) === 0x0002) {
		const h = readElementHeader(c, true);
		if (h.length === UNDEFINED) throw new Decline();
		c.need(h.length);
		if (h.tag === 0x00020010) transferSyntaxUid = text(bytes, c.pos, h.length);
		c.pos += h.length;
	}
	return { transferSyntaxUid, dataset: c.pos };
}

/** ASCII value with DICOM padding (trailing NUL / spaces) removed. */
function text(bytes: Uint8Array, offset: number, length: number): string {
	let end = offset + length;
	while (end > offset && (bytes[end - 1] === 0 || bytes[end - 1] === 0x20)) end--;
	let s = '';
	for (let i = offset; i < end; i++) s += String.fromCharCode(bytes[i]);
	return s;
}

/** Reads typed values out of a scan. */
export class ScanValues {
	private readonly charset: CharacterSet;
	constructor(private readonly scan: Part10Scan) {
		const cs = this.strings(ScanTag.specificCharacterSet, false);
		this.charset = resolveCharacterSet(cs);
	}

	/** Backslash-separated values, each trimmed; text VRs decoded under Specific Character Set. */
	strings(tag: number, decode = true): string[] | undefined {
		const span = this.scan.elements.get(tag);
		if (!span) return undefined;
		const raw = this.scan.bytes.subarray(span.offset, span.offset + span.length);
		const s = decode ? decodeDicomText(raw, this.charset) : text(this.scan.bytes, span.offset, span.length);
		return s.split('\\').map((v) => v.replace(/^[\s\0]+|[\s\0]+$/g, ''));
	}

	/** First value as text, or undefined when absent or empty. */
	string(tag: number): string | undefined {
		const v = this.strings(tag)?.[0];
		return v ? v : undefined;
	}

	/** IS / DS values as numbers; undefined when absent or any value is not a finite number. */
	numbers(tag: number): number[] | undefined {
		const vs = this.strings(tag, false);
		if (!vs) return undefined;
		const out = vs.map((v) => (v === '' ? NaN : Number(v)));
		return out.every(Number.isFinite) ? out : undefined;
	}

	/** First IS / DS value as a number. */
	number(tag: number): number | undefined {
		const v = this.strings(tag, false)?.[0];
		if (v === undefined || v === '') return undefined;
		const n = Number(v);
		return Number.isFinite(n) ? n : undefined;
	}

	/** First US value. */
	us(tag: number): number | undefined {
		const span = this.scan.elements.get(tag);
		if (!span || span.length < 2) return undefined;
		const b = this.scan.bytes;
		return b[span.offset] | (b[span.offset + 1] << 8);
	}
}
