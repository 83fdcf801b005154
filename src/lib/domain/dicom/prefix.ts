/**
 * A small, fast reader for the start of a DICOM dataset (Implicit or Explicit
 * VR Little Endian): it walks the elements in front of Pixel Data and returns
 * the attributes Radflow extracts ({@link Tag}) in the DICOM JSON model, with
 * text decoded under the dataset's Specific Character Set. Everything else is
 * skipped without being decoded, so a header costs microseconds, not a full
 * parse. The input may end mid-element: reading stops at what is complete.
 *
 * Pure: no I/O, no clock.
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part05.html#chapter_7 PS3.5 7 (data set encoding)
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part18.html#sect_F.2 PS3.18 F.2 DICOM JSON Model
 */
import { Tag, type DicomJsonDataset } from './attributes';
import { decodeDicomText, resolveCharacterSet, type CharacterSet } from './charset';
import { MAX_SEQUENCE_DEPTH } from './shape';

const WANTED: ReadonlySet<string> = new Set(Object.values(Tag));

/** VRs with a 4-byte length in explicit VR (PS3.5 Table 7.1-1). */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
/** Text VRs whose value is one string (backslash is not a separator). */
const SINGLE_TEXT = new Set(['LT', 'ST', 'UT', 'UR']);
/** Text VRs decoded under the Specific Character Set; the others are ASCII. */
const CHARSET_TEXT = new Set(['LO', 'LT', 'PN', 'SH', 'ST', 'UC', 'UT']);
const ASCII_TEXT = new Set(['AE', 'AS', 'CS', 'DA', 'DS', 'DT', 'IS', 'TM', 'UI', 'UR']);

/** VRs of the wanted tags, for Implicit VR Little Endian (PS3.6 Table 6-1). */
const IMPLICIT_VR: Readonly<Record<string, string>> = {
	[Tag.SpecificCharacterSet]: 'CS',
	[Tag.SOPClassUID]: 'UI',
	[Tag.SOPInstanceUID]: 'UI',
	[Tag.StudyDate]: 'DA',
	[Tag.SeriesDate]: 'DA',
	[Tag.StudyTime]: 'TM',
	[Tag.SeriesTime]: 'TM',
	[Tag.AccessionNumber]: 'SH',
	[Tag.Modality]: 'CS',
	[Tag.InstitutionName]: 'LO',
	[Tag.ReferringPhysicianName]: 'PN',
	[Tag.TimezoneOffsetFromUTC]: 'SH',
	[Tag.StationName]: 'SH',
	[Tag.StudyDescription]: 'LO',
	[Tag.ProcedureCodeSequence]: 'SQ',
	[Tag.SeriesDescription]: 'LO',
	[Tag.CodeValue]: 'SH',
	[Tag.CodingSchemeDesignator]: 'SH',
	[Tag.PatientName]: 'PN',
	[Tag.PatientID]: 'LO',
	[Tag.IssuerOfPatientID]: 'LO',
	[Tag.PatientBirthDate]: 'DA',
	[Tag.PatientSex]: 'CS',
	[Tag.BodyPartExamined]: 'CS',
	[Tag.StudyInstanceUID]: 'UI',
	[Tag.SeriesInstanceUID]: 'UI',
	[Tag.StudyID]: 'SH',
	[Tag.SeriesNumber]: 'IS',
	[Tag.InstanceNumber]: 'IS',
	[Tag.NumberOfFrames]: 'IS',
	[Tag.Rows]: 'US',
	[Tag.Columns]: 'US',
	[Tag.RequestedProcedureDescription]: 'LO',
	[Tag.RequestedProcedureID]: 'SH'
};

const UNDEFINED = 0xffffffff;
const ITEM = 0xfffee000;
const ITEM_END = 0xfffee00d;
const SEQUENCE_END = 0xfffee0dd;
const PIXEL_DATA = 0x7fe00010;

/** The input is not a dataset at all (not even its first element is readable). */
export class DatasetPrefixError extends Error {
	readonly code = 'unreadable_dataset';
	constructor(message: string) {
		super(message);
		this.name = 'DatasetPrefixError';
	}
}

/** Stops the walk: the rest of the prefix is missing or unreadable. */
class End extends Error {}

const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');

class Walker {
	charset: CharacterSet = resolveCharacterSet(undefined);
	elements = 0;
	constructor(
		private readonly b: Buffer,
		private readonly implicit: boolean
	) {}

	/** Reads elements in [pos, end) into `out` (wanted tags only); returns where it stopped. */
	dataset(pos: number, end: number, out: DicomJsonDataset, depth: number): number {
		const b = this.b;
		while (pos < end) {
			if (pos + 8 > end) throw new End();
			const tag = ((b.readUInt16LE(pos) << 16) | b.readUInt16LE(pos + 2)) >>> 0;
			if (tag === PIXEL_DATA && depth === 0) throw new End();
			if (tag === ITEM_END || tag === SEQUENCE_END) return pos;
			const key = hex(tag);
			let vr: string;
			let length: number;
			let head: number;
			if (this.implicit || (tag >>> 16) === 0xfffe) {
				vr = IMPLICIT_VR[key] ?? 'UN';
				length = b.readUInt32LE(pos + 4);
				head = 8;
			} else {
				vr = b.toString('latin1', pos + 4, pos + 6);
				if (!/^[A-Z]{2}$/.test(vr)) throw new End();
				if (LONG_VRS.has(vr)) {
					if (pos + 12 > end) throw new End();
					length = b.readUInt32LE(pos + 8);
					head = 12;
				} else {
					length = b.readUInt16LE(pos + 6);
					head = 8;
				}
			}
			const value = pos + head;
			if (length === UNDEFINED) {
				// A sequence (SQ, or UN holding one): walk its items, keeping those of a wanted one.
				const items: DicomJsonDataset[] = [];
				pos = this.sequence(value, end, WANTED.has(key) ? items : null, depth);
				this.elements++;
				if (WANTED.has(key)) out[key] = { vr: 'SQ', Value: items };
				continue;
			}
			if (value + length > end) throw new End();
			this.elements++;
			if (WANTED.has(key)) {
				if (vr === 'SQ') {
					const items: DicomJsonDataset[] = [];
					this.sequence(value, value + length, items, depth);
					out[key] = { vr, Value: items };
				} else {
					const v = this.value(vr, b.subarray(value, value + length));
					if (v) out[key] = { vr, Value: v };
					if (key === Tag.SpecificCharacterSet && v) this.charset = resolveCharacterSet(v.filter((x): x is string => typeof x === 'string'));
				}
			}
			pos = value + length;
		}
		return pos;
	}

	/** Items of a sequence from `pos`, up to its delimiter or `end`; returns the position after it. */
	private sequence(pos: number, end: number, items: DicomJsonDataset[] | null, depth: number): number {
		const b = this.b;
		if (depth > MAX_SEQUENCE_DEPTH) throw new End();
		while (pos < end) {
			if (pos + 8 > end) throw new End();
			const tag = ((b.readUInt16LE(pos) << 16) | b.readUInt16LE(pos + 2)) >>> 0;
			const length = b.readUInt32LE(pos + 4);
			pos += 8;
			if (tag === SEQUENCE_END) return pos;
			if (tag !== ITEM) throw new End();
			const item: DicomJsonDataset = {};
			if (length === UNDEFINED) {
				pos = this.dataset(pos, end, item, depth + 1);
				if (pos + 8 > end) throw new End();
				pos += 8; // the item delimiter
			} else {
				if (pos + length > end) throw new End();
				// Items of a sequence we do not keep are skipped unread.
				if (items) this.dataset(pos, pos + length, item, depth + 1);
				pos += length;
			}
			items?.push(item);
		}
		return pos;
	}

	private value(vr: string, v: Buffer): unknown[] | null {
		if (v.length === 0) return null;
		if (vr === 'US') return Array.from({ length: v.length >> 1 }, (_, i) => v.readUInt16LE(i * 2));
		if (vr === 'UL') return Array.from({ length: v.length >> 2 }, (_, i) => v.readUInt32LE(i * 4));
		const text = CHARSET_TEXT.has(vr) ? decodeDicomText(v, this.charset) : ASCII_TEXT.has(vr) ? v.toString('latin1') : null;
		if (text === null) return null;
		const values = SINGLE_TEXT.has(vr) ? [text] : text.split('\\');
		const clean = values.map((s) => s.replace(/[\0 ]+$/, '').replace(/^ +/, ''));
		if (vr !== 'PN') return clean;
		return clean.map((s) => {
			const [Alphabetic, Ideographic, Phonetic] = s.split('=');
			return { ...(Alphabetic ? { Alphabetic } : {}), ...(Ideographic ? { Ideographic } : {}), ...(Phonetic ? { Phonetic } : {}) };
		});
	}
}

/**
 * Reads the attributes Radflow extracts from a dataset prefix (no File Meta
 * group, no preamble), in Implicit or Explicit VR Little Endian.
 * @throws DatasetPrefixError when not a single element could be read
 */
export function readDatasetPrefix(bytes: Uint8Array, implicit: boolean): DicomJsonDataset {
	const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
	const w = new Walker(b, implicit);
	const out: DicomJsonDataset = {};
	try {
		w.dataset(0, b.length, out, 0);
	} catch (e) {
		if (!(e instanceof End) && !(e instanceof RangeError)) throw e;
	}
	if (w.elements === 0) throw new DatasetPrefixError('no readable element in dataset');
	return out;
}
