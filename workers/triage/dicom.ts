/**
 * Decode greyscale pixel data from DICOM Part-10 bytes with dcmjs, for the
 * triage models. Native (uncompressed) little-endian transfer syntaxes only;
 * anything else comes back as a typed "cannot decode <syntax>" result rather
 * than an exception, so one odd instance never stops a study's triage.
 *
 * @see https://dicom.nema.org/medical/dicom/current/output/chtml/part05/chapter_8.html (pixel data encoding)
 * @see https://dicom.nema.org/medical/dicom/current/output/chtml/part03/sect_C.7.6.3.html (Image Pixel module)
 */
// @ts-ignore -- dcmjs ships no type declarations; the subset we use is typed below
import dcmjs from 'dcmjs';
import { rescale, storedValues, type StoredFrame } from '../../src/lib/domain/triage/preprocess';
import { dcmjsHazard, scanPart10, ScanTag, ScanValues, type Part10Scan } from './scan';

/** The subset of dcmjs we use (it ships no type declarations). */
interface DcmjsData {
	DicomMessage: { readFile(buffer: ArrayBuffer, options?: Record<string, unknown>): { meta: Record<string, { Value?: unknown[] }>; dict: Record<string, unknown> } };
	DicomMetaDictionary: { naturalizeDataset(dict: Record<string, unknown>): Record<string, unknown> };
}
const data = (dcmjs as unknown as { data: DcmjsData }).data;

/** Transfer syntax UIDs. @see PS3.6 Annex A */
export const TransferSyntax = {
	implicitLittle: '1.2.840.10008.1.2',
	explicitLittle: '1.2.840.10008.1.2.1',
	deflatedExplicitLittle: '1.2.840.10008.1.2.1.99',
	explicitBig: '1.2.840.10008.1.2.2',
	jpegBaseline: '1.2.840.10008.1.2.4.50',
	jpegExtended: '1.2.840.10008.1.2.4.51',
	jpegLossless: '1.2.840.10008.1.2.4.57',
	jpegLosslessSv1: '1.2.840.10008.1.2.4.70',
	jpegLsLossless: '1.2.840.10008.1.2.4.80',
	jpegLsNearLossless: '1.2.840.10008.1.2.4.81',
	jpeg2000Lossless: '1.2.840.10008.1.2.4.90',
	jpeg2000: '1.2.840.10008.1.2.4.91',
	htj2kLossless: '1.2.840.10008.1.2.4.201',
	htj2kLosslessRpcl: '1.2.840.10008.1.2.4.202',
	htj2k: '1.2.840.10008.1.2.4.203',
	rleLossless: '1.2.840.10008.1.2.5'
} as const;
export type TransferSyntax = (typeof TransferSyntax)[keyof typeof TransferSyntax];

const SYNTAX_NAMES: Record<string, string> = {
	[TransferSyntax.implicitLittle]: 'Implicit VR Little Endian',
	[TransferSyntax.explicitLittle]: 'Explicit VR Little Endian',
	[TransferSyntax.deflatedExplicitLittle]: 'Deflated Explicit VR Little Endian',
	[TransferSyntax.explicitBig]: 'Explicit VR Big Endian (retired)',
	[TransferSyntax.jpegBaseline]: 'JPEG Baseline (Process 1)',
	[TransferSyntax.jpegExtended]: 'JPEG Extended (Process 2 & 4)',
	[TransferSyntax.jpegLossless]: 'JPEG Lossless (Process 14)',
	[TransferSyntax.jpegLosslessSv1]: 'JPEG Lossless SV1',
	[TransferSyntax.jpegLsLossless]: 'JPEG-LS Lossless',
	[TransferSyntax.jpegLsNearLossless]: 'JPEG-LS Near-Lossless',
	[TransferSyntax.jpeg2000Lossless]: 'JPEG 2000 Lossless',
	[TransferSyntax.jpeg2000]: 'JPEG 2000',
	[TransferSyntax.htj2kLossless]: 'HTJ2K Lossless',
	[TransferSyntax.htj2kLosslessRpcl]: 'HTJ2K Lossless RPCL',
	[TransferSyntax.htj2k]: 'HTJ2K',
	[TransferSyntax.rleLossless]: 'RLE Lossless'
};

/** Human name of a transfer syntax, or the UID itself. */
export function transferSyntaxName(uid: string): string {
	return SYNTAX_NAMES[uid] ?? (uid.startsWith('1.2.840.10008.1.2.4.10') ? `MPEG video (${uid})` : uid);
}

const DECODABLE = new Set<string>([TransferSyntax.implicitLittle, TransferSyntax.explicitLittle]);

/** Why a decode failed. */
export const DecodeErrorCode = {
	unsupportedTransferSyntax: 'unsupported_transfer_syntax',
	unsupportedPixelFormat: 'unsupported_pixel_format',
	noPixelData: 'no_pixel_data',
	malformed: 'malformed'
} as const;
export type DecodeErrorCode = (typeof DecodeErrorCode)[keyof typeof DecodeErrorCode];

/** The attributes triage needs besides pixels (no patient identifiers). */
export interface ImageAttributes {
	sopInstanceUid?: string;
	seriesInstanceUid?: string;
	modality?: string;
	bodyPart?: string;
	studyDescription?: string;
	seriesDescription?: string;
	imageOrientationPatient?: number[];
	imagePositionPatient?: number[];
	instanceNumber?: number;
	convolutionKernel?: string;
	sliceThickness?: number;
}

/** What the header says about the pixels of one image. */
export interface ImageHeader {
	transferSyntaxUid: string;
	rows: number;
	columns: number;
	frames: number;
	bitsAllocated: number;
	bitsStored: number;
	pixelRepresentation: 0 | 1;
	photometricInterpretation: 'MONOCHROME1' | 'MONOCHROME2';
	rescaleSlope: number;
	rescaleIntercept: number;
	/** MONOCHROME1: invert after windowing. */
	invert: boolean;
	attributes: ImageAttributes;
}

export interface DecodedImage extends ImageHeader {
	/** Stored values of the requested frame (sign-extended, high bits masked). */
	stored: Int32Array;
	/** After the Modality LUT (HU for CT). */
	values: Float32Array;
}

/** One frame as stored words (no per-pixel copies), for frameToModelInput. */
export interface DecodedFrame extends ImageHeader {
	frame: StoredFrame;
}

export type DecodeResult =
	| { ok: true; image: DecodedImage }
	| { ok: false; code: DecodeErrorCode; message: string; transferSyntaxUid?: string };

const fail = (code: DecodeErrorCode, message: string, transferSyntaxUid?: string): DecodeResult => ({ ok: false, code, message, transferSyntaxUid });

const num = (v: unknown): number | undefined => {
	const x = Array.isArray(v) ? v[0] : v;
	const n = typeof x === 'string' ? Number(x) : x;
	return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
};
const str = (v: unknown): string | undefined => {
	const x = Array.isArray(v) ? v[0] : v;
	return typeof x === 'string' && x.trim() ? x.trim() : undefined;
};
const nums = (v: unknown): number[] | undefined => {
	if (!Array.isArray(v)) return undefined;
	const out = v.map((x) => (typeof x === 'string' ? Number(x) : x));
	return out.every((x) => typeof x === 'number' && Number.isFinite(x)) ? (out as number[]) : undefined;
};

function pixelBytes(value: unknown): Uint8Array | undefined {
	const parts = Array.isArray(value) ? value : [value];
	const arrays = parts.filter((p) => p instanceof ArrayBuffer || ArrayBuffer.isView(p)).map((p) =>
		p instanceof ArrayBuffer ? new Uint8Array(p) : new Uint8Array((p as ArrayBufferView).buffer, (p as ArrayBufferView).byteOffset, (p as ArrayBufferView).byteLength)
	);
	if (arrays.length === 0) return undefined;
	if (arrays.length === 1) return arrays[0];
	const total = arrays.reduce((a, b) => a + b.length, 0);
	const out = new Uint8Array(total);
	let o = 0;
	for (const a of arrays) {
		out.set(a, o);
		o += a.length;
	}
	return out;
}

/**
 * Decode one frame of a greyscale image from Part-10 bytes.
 * Supports Implicit and Explicit VR Little Endian, 8 or 16 bits allocated,
 * signed or unsigned, any Bits Stored ≤ Bits Allocated, MONOCHROME1/2.
 * Uses the element scanner when it can, else the dcmjs reference reader;
 * both give the same image.
 */
export function decodeDicom(bytes: ArrayBuffer | Uint8Array, opts: { frame?: number } = {}): DecodeResult {
	const scan = scanPart10(asBytes(bytes));
	const fast = scan ? frameFromScan(scan, opts.frame) : null;
	if (!fast) return decodeDicomReference(bytes, opts);
	const stored = storedValues(fast.frame);
	const { frame: _, ...header } = fast;
	return { ok: true, image: { ...header, stored, values: rescale(stored, fast.rescaleSlope, fast.rescaleIntercept) } };
}

const asBytes = (b: ArrayBuffer | Uint8Array): Uint8Array => (b instanceof Uint8Array ? b : new Uint8Array(b));

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * One frame straight from a scan: header checks as in the reference reader,
 * pixels as a view on the file's words. Null when the reference reader
 * should answer instead (anything unusual, including every failure, so
 * failure messages come from one place).
 */
export function frameFromScan(scan: Part10Scan, frame = 0): DecodedFrame | null {
	const v = new ScanValues(scan);
	const rows = v.us(ScanTag.rows);
	const columns = v.us(ScanTag.columns);
	const bitsAllocated = v.us(ScanTag.bitsAllocated);
	const bitsStored = v.us(ScanTag.bitsStored) ?? bitsAllocated;
	const pixelRepresentation = v.us(ScanTag.pixelRepresentation) ?? 0;
	const samples = v.us(ScanTag.samplesPerPixel) ?? 1;
	const photometric = v.string(ScanTag.photometricInterpretation);
	const frames = v.number(ScanTag.numberOfFrames) ?? 1;
	if (!rows || !columns || !bitsAllocated || !bitsStored || !scan.pixelData) return null;
	if (samples !== 1 || (photometric !== 'MONOCHROME1' && photometric !== 'MONOCHROME2')) return null;
	if ((bitsAllocated !== 8 && bitsAllocated !== 16) || bitsStored > bitsAllocated || bitsStored < 1) return null;
	if (!Number.isInteger(frames) || frames < 1 || frame < 0 || frame >= frames || (bitsAllocated === 16 && !LITTLE_ENDIAN_HOST)) return null;
	const bytesPer = bitsAllocated / 8;
	const count = rows * columns;
	const start = scan.pixelData.offset + frame * count * bytesPer;
	if (scan.pixelData.length < (frame + 1) * count * bytesPer) return null;
	const b = scan.bytes;
	let words: Uint8Array | Uint16Array;
	if (bitsAllocated === 8) words = b.subarray(start, start + count);
	else if ((b.byteOffset + start) % 2 === 0) words = new Uint16Array(b.buffer, b.byteOffset + start, count);
	else words = new Uint16Array(b.slice(start, start + count * 2).buffer);
	const rescaleSlope = v.number(ScanTag.rescaleSlope) ?? 1;
	const rescaleIntercept = v.number(ScanTag.rescaleIntercept) ?? 0;
	const invert = photometric === 'MONOCHROME1';
	return {
		transferSyntaxUid: scan.transferSyntaxUid,
		rows,
		columns,
		frames,
		bitsAllocated,
		bitsStored,
		pixelRepresentation: pixelRepresentation === 1 ? 1 : 0,
		photometricInterpretation: photometric,
		rescaleSlope,
		rescaleIntercept,
		invert,
		attributes: attributesFromScan(v),
		frame: { width: columns, height: rows, words, bitsStored, signed: pixelRepresentation === 1, rescaleSlope, rescaleIntercept, invert }
	};
}

function attributesFromScan(v: ScanValues): ImageAttributes {
	return {
		sopInstanceUid: v.string(ScanTag.sopInstanceUid),
		seriesInstanceUid: v.string(ScanTag.seriesInstanceUid),
		modality: v.string(ScanTag.modality),
		bodyPart: v.string(ScanTag.bodyPartExamined),
		studyDescription: v.string(ScanTag.studyDescription),
		seriesDescription: v.string(ScanTag.seriesDescription),
		imageOrientationPatient: v.numbers(ScanTag.imageOrientationPatient),
		imagePositionPatient: v.numbers(ScanTag.imagePositionPatient),
		instanceNumber: v.number(ScanTag.instanceNumber),
		convolutionKernel: v.string(ScanTag.convolutionKernel),
		sliceThickness: v.number(ScanTag.sliceThickness)
	};
}

/** The dcmjs reader: the reference for the fast path, and the answer for files it declines. */
export function decodeDicomReference(bytes: ArrayBuffer | Uint8Array, opts: { frame?: number } = {}): DecodeResult {
	const hazard = dcmjsHazard(asBytes(bytes));
	if (hazard) return fail(DecodeErrorCode.malformed, `not a readable DICOM Part-10 file: ${hazard}`);
	const buffer = bytes instanceof Uint8Array ? (bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer) : bytes;
	let parsed: ReturnType<DcmjsData['DicomMessage']['readFile']>;
	let ds: Record<string, unknown>;
	let syntax: string | undefined;
	try {
		// Read the meta header alone first: compressed pixel data must not reach the parser's frame logic.
		const head = data.DicomMessage.readFile(buffer, { untilTag: '00080016' });
		syntax = str(head.meta['00020010']?.Value);
		if (!syntax) return fail(DecodeErrorCode.malformed, 'no Transfer Syntax UID (0002,0010) in the file meta information');
		if (!DECODABLE.has(syntax))
			return fail(DecodeErrorCode.unsupportedTransferSyntax, `cannot decode ${transferSyntaxName(syntax)} (${syntax}): only uncompressed little-endian pixel data is supported`, syntax);
		parsed = data.DicomMessage.readFile(buffer);
		ds = data.DicomMetaDictionary.naturalizeDataset(parsed.dict);
	} catch (e) {
		return fail(DecodeErrorCode.malformed, `not a readable DICOM Part-10 file: ${(e as Error).message}`, syntax);
	}
	const rows = num(ds.Rows);
	const columns = num(ds.Columns);
	const bitsAllocated = num(ds.BitsAllocated);
	const bitsStored = num(ds.BitsStored) ?? bitsAllocated;
	const pixelRepresentation = num(ds.PixelRepresentation) ?? 0;
	const samples = num(ds.SamplesPerPixel) ?? 1;
	const photometric = str(ds.PhotometricInterpretation);
	const frames = num(ds.NumberOfFrames) ?? 1;
	const frame = opts.frame ?? 0;
	if (!rows || !columns || !bitsAllocated || !bitsStored) return fail(DecodeErrorCode.malformed, 'missing Rows, Columns or Bits Allocated', syntax);
	// US values, but a file may declare another VR (a DS of -1024 Columns was seen): anything but a count is malformed.
	const isCount = (n: number, max: number) => Number.isInteger(n) && n >= 1 && n <= max;
	if (!isCount(rows, 0xffff) || !isCount(columns, 0xffff) || !isCount(frames, 0x7fffffff))
		return fail(DecodeErrorCode.malformed, `Rows ${rows}, Columns ${columns} and Number of Frames ${frames} must be positive whole numbers`, syntax);
	if (samples !== 1 || (photometric !== 'MONOCHROME1' && photometric !== 'MONOCHROME2'))
		return fail(DecodeErrorCode.unsupportedPixelFormat, `cannot decode ${photometric ?? 'unknown'} with ${samples} samples per pixel: greyscale only`, syntax);
	if (bitsAllocated !== 8 && bitsAllocated !== 16)
		return fail(DecodeErrorCode.unsupportedPixelFormat, `cannot decode ${bitsAllocated} bits allocated: 8 or 16 only`, syntax);
	if (bitsStored > bitsAllocated || bitsStored < 1) return fail(DecodeErrorCode.malformed, `Bits Stored ${bitsStored} exceeds Bits Allocated ${bitsAllocated}`, syntax);
	if (frame < 0 || frame >= frames) return fail(DecodeErrorCode.malformed, `frame ${frame} out of range (${frames} frames)`, syntax);
	const raw = pixelBytes(ds.PixelData);
	if (!raw) return fail(DecodeErrorCode.noPixelData, 'no Pixel Data (7FE0,0010)', syntax);
	const bytesPer = bitsAllocated / 8;
	const count = rows * columns;
	const offset = frame * count * bytesPer;
	if (raw.length < offset + count * bytesPer)
		return fail(DecodeErrorCode.malformed, `Pixel Data has ${raw.length} bytes, ${frames} frame(s) of ${rows}×${columns}×${bytesPer} need ${frames * count * bytesPer}`, syntax);

	const view = new DataView(raw.buffer, raw.byteOffset + offset, count * bytesPer);
	const stored = new Int32Array(count);
	const mask = bitsStored >= 32 ? 0xffffffff : (1 << bitsStored) - 1;
	const sign = 1 << (bitsStored - 1);
	for (let i = 0; i < count; i++) {
		let v = (bitsAllocated === 16 ? view.getUint16(i * 2, true) : view.getUint8(i)) & mask;
		// two's complement within Bits Stored (e.g. 12-bit signed CT)
		if (pixelRepresentation === 1 && v & sign) v -= 1 << bitsStored;
		stored[i] = v;
	}
	const slope = num(ds.RescaleSlope) ?? 1;
	const intercept = num(ds.RescaleIntercept) ?? 0;
	return {
		ok: true,
		image: {
			transferSyntaxUid: syntax!,
			rows,
			columns,
			frames,
			bitsAllocated,
			bitsStored,
			pixelRepresentation: pixelRepresentation === 1 ? 1 : 0,
			photometricInterpretation: photometric,
			rescaleSlope: slope,
			rescaleIntercept: intercept,
			stored,
			values: rescale(stored, slope, intercept),
			invert: photometric === 'MONOCHROME1',
			attributes: attributesOf(ds)
		}
	};
}

function attributesOf(ds: Record<string, unknown>): ImageAttributes {
	return {
		sopInstanceUid: str(ds.SOPInstanceUID),
		seriesInstanceUid: str(ds.SeriesInstanceUID),
		modality: str(ds.Modality),
		bodyPart: str(ds.BodyPartExamined),
		studyDescription: str(ds.StudyDescription),
		seriesDescription: str(ds.SeriesDescription),
		imageOrientationPatient: nums(ds.ImageOrientationPatient),
		imagePositionPatient: nums(ds.ImagePositionPatient),
		instanceNumber: num(ds.InstanceNumber),
		convolutionKernel: str(ds.ConvolutionKernel),
		sliceThickness: num(ds.SliceThickness)
	};
}

export type HeaderResult =
	| { ok: true; transferSyntaxUid: string; attributes: ImageAttributes }
	| { ok: false; code: DecodeErrorCode; message: string; transferSyntaxUid?: string };

/** Read the attributes triage needs, stopping before Pixel Data (cheap: for series and slice selection). */
export function readHeader(bytes: ArrayBuffer | Uint8Array | Part10Scan): HeaderResult {
	const scan = 'elements' in bytes ? bytes : scanPart10(asBytes(bytes));
	if (scan) return { ok: true, transferSyntaxUid: scan.transferSyntaxUid, attributes: attributesFromScan(new ScanValues(scan)) };
	return readHeaderReference('elements' in bytes ? bytes.bytes : bytes);
}

/** readHeader through dcmjs (the reference). */
export function readHeaderReference(bytes: ArrayBuffer | Uint8Array): HeaderResult {
	const hazard = dcmjsHazard(asBytes(bytes));
	if (hazard) return { ok: false, code: DecodeErrorCode.malformed, message: `not a readable DICOM Part-10 file: ${hazard}` };
	const buffer = bytes instanceof Uint8Array ? (bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer) : bytes;
	try {
		const parsed = data.DicomMessage.readFile(buffer, { untilTag: '7FE00010' });
		const syntax = str(parsed.meta['00020010']?.Value) ?? '';
		return { ok: true, transferSyntaxUid: syntax, attributes: attributesOf(data.DicomMetaDictionary.naturalizeDataset(parsed.dict)) };
	} catch (e) {
		return { ok: false, code: DecodeErrorCode.malformed, message: `not a readable DICOM Part-10 file: ${(e as Error).message}` };
	}
}
