import { describe, it, expect } from 'vitest';
import { chestXr, CtEncoding, headCtSlice, Photometric, type PhantomImage } from '../../src/lib/domain/triage/phantom';
import { toModelInput } from '../../src/lib/domain/triage/preprocess';
// @ts-ignore -- dcmjs ships no type declarations
import dcmjs from 'dcmjs';
import { decodeDicom, decodeDicomReference, frameFromScan, readHeader, readHeaderReference, TransferSyntax } from './dicom';
import { phantomToPart10 } from './part10';
import { scanPart10 } from './scan';

const hu = (img: PhantomImage) => Array.from(img.pixels, (v) => v * img.rescaleSlope + img.rescaleIntercept);

function decoded(buf: ArrayBuffer) {
	const r = decodeDicom(buf);
	if (!r.ok) throw new Error(`expected a decoded image, got ${r.code}: ${r.message}`);
	return r.image;
}

describe('decodeDicom', () => {
	for (const ts of [TransferSyntax.implicitLittle, TransferSyntax.explicitLittle]) {
		for (const encoding of [CtEncoding.unsigned12, CtEncoding.signedOffset, CtEncoding.signedHu]) {
			it(`reads 16-bit ${encoding} CT in ${ts} back to the same Hounsfield units`, () => {
				const img = headCtSlice(31, { size: 48, encoding });
				const out = decoded(phantomToPart10(img, { transferSyntaxUid: ts }));
				expect(out.transferSyntaxUid).toBe(ts);
				expect([out.rows, out.columns, out.bitsAllocated, out.pixelRepresentation]).toEqual([48, 48, 16, img.pixelRepresentation]);
				expect(Array.from(out.values)).toEqual(hu(img));
				if (encoding === CtEncoding.signedHu) expect(Math.min(...out.stored)).toBeLessThan(-900);
				expect(out.attributes).toMatchObject({ modality: 'CT', bodyPart: 'HEAD', imageOrientationPatient: [1, 0, 0, 0, 1, 0], convolutionKernel: 'H30s' });
			});
		}
	}

	for (const signed of [false, true]) {
		it(`reads 8-bit ${signed ? 'signed' : 'unsigned'} pixels with their rescale`, () => {
			const img = headCtSlice(32, { size: 40, encoding: signed ? CtEncoding.signedHu : CtEncoding.unsigned12 });
			const out = decoded(phantomToPart10(img, { eightBit: true, transferSyntaxUid: TransferSyntax.implicitLittle }));
			expect(out.bitsAllocated).toBe(8);
			expect(out.pixelRepresentation).toBe(signed ? 1 : 0);
			if (signed) expect(Math.min(...out.stored)).toBeLessThan(0);
			const ref = hu(img);
			const range = Math.max(...ref) - Math.min(...ref);
			// 8 bits keep the values to within half a quantisation step
			const worst = Math.max(...ref.map((v, i) => Math.abs(v - out.values[i])));
			expect(worst).toBeLessThanOrEqual(range / 255 / 2 + 1e-3);
		});
	}

	it('sign-extends signed values within Bits Stored and ignores bits above High Bit', () => {
		// 12-bit two's complement with junk in the top nibble, as some devices write
		const img: PhantomImage = {
			...headCtSlice(1, { size: 2, encoding: CtEncoding.signedHu }),
			pixels: Uint16Array.from([0xaffb, 0x0005, 0x07ff, 0xf800]),
			bitsStored: 12,
			pixelRepresentation: 1,
			rescaleIntercept: 0
		};
		const out = decoded(phantomToPart10(img));
		expect(Array.from(out.stored)).toEqual([-5, 5, 2047, -2048]);
		const unsigned = decoded(phantomToPart10({ ...img, pixelRepresentation: 0 }));
		expect(Array.from(unsigned.stored)).toEqual([0xffb, 5, 0x7ff, 0x800]);
	});

	it('turns MONOCHROME1 into the same model input as MONOCHROME2', () => {
		const spec = { width: 32, height: 32, normalization: { kind: 'minmax' } as const };
		const m2 = decoded(phantomToPart10(chestXr(5, { size: 64, photometric: Photometric.monochrome2 })));
		const m1 = decoded(phantomToPart10(chestXr(5, { size: 64, photometric: Photometric.monochrome1 })));
		expect(m1.invert).toBe(true);
		expect(m2.invert).toBe(false);
		expect(Array.from(m1.values)).not.toEqual(Array.from(m2.values));
		const a = toModelInput({ width: 64, height: 64, values: m2.values, invert: m2.invert }, spec).data;
		const b = toModelInput({ width: 64, height: 64, values: m1.values, invert: m1.invert }, spec).data;
		const worst = Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
		expect(worst).toBeLessThan(0.02);
	});

	for (const [name, uid] of [
		['JPEG Baseline', TransferSyntax.jpegBaseline],
		['JPEG 2000', TransferSyntax.jpeg2000],
		['RLE Lossless', TransferSyntax.rleLossless],
		['JPEG-LS Lossless', TransferSyntax.jpegLsLossless]
	] as const) {
		it(`answers "cannot decode ${name}" instead of throwing`, () => {
			const r = decodeDicom(phantomToPart10(headCtSlice(2, { size: 16 }), { transferSyntaxUid: uid }));
			expect(r.ok).toBe(false);
			if (r.ok) return;
			expect(r.code).toBe('unsupported_transfer_syntax');
			expect(r.transferSyntaxUid).toBe(uid);
			expect(r.message).toContain(`cannot decode ${name}`);
		});
	}

	it('reports malformed input, truncated pixel data and colour images as typed failures', () => {
		expect(decodeDicom(new Uint8Array([1, 2, 3]))).toMatchObject({ ok: false, code: 'malformed' });
		expect(decodeDicom(new Uint8Array(300))).toMatchObject({ ok: false, code: 'malformed' });
		const img = headCtSlice(3, { size: 16 });
		const short = phantomToPart10({ ...img, pixels: img.pixels.slice(0, 100) as Uint16Array });
		expect(decodeDicom(short)).toMatchObject({ ok: false, code: 'malformed' });
		const rgb = phantomToPart10({ ...img, photometricInterpretation: 'RGB' as never });
		expect(decodeDicom(rgb)).toMatchObject({ ok: false, code: 'unsupported_pixel_format' });
		// Columns written as DS -1024 (found by `radflow fuzz`): a typed failure, not a RangeError from the pixel view.
		const negative = withElement(phantomToPart10(img, { transferSyntaxUid: TransferSyntax.explicitLittle }), '00280011', { vr: 'DS', Value: ['-1024'] });
		expect(decodeDicom(negative)).toMatchObject({ ok: false, code: 'malformed', message: expect.stringContaining('Columns -1024') });
	});

	it('refuses, without handing it to dcmjs, a file whose element declares more bytes than it has (dcmjs allocated them: out of memory)', () => {
		const file = Buffer.from(phantomToPart10(headCtSlice(3, { size: 16 }), { transferSyntaxUid: TransferSyntax.explicitLittle }));
		const pixelTag = file.indexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00]), 132);
		// (0009,0010) UN declaring 1.3 GB, before Pixel Data (found by radflow fuzz with a mangled (0028,0004)).
		const huge = Buffer.from([0x09, 0x00, 0x10, 0x00, 0x55, 0x4e, 0x00, 0x00, 0x4d, 0x4f, 0x4e, 0x4f]);
		const bad = Buffer.concat([file.subarray(0, pixelTag), huge, file.subarray(pixelTag)]);
		for (const r of [decodeDicom(bad), readHeader(bad)]) {
			expect(r).toMatchObject({ ok: false, code: 'malformed', message: expect.stringContaining('declares more bytes than the file has left') });
		}
		// The same under RLE Lossless: compressed syntaxes encode the data set as Explicit VR Little Endian too.
		const explicitUid = Buffer.from('1.2.840.10008.1.2.1\0', 'latin1');
		const at = bad.indexOf(explicitUid);
		const rle = Buffer.concat([bad.subarray(0, at), Buffer.from('1.2.840.10008.1.2.5\0', 'latin1'), bad.subarray(at + explicitUid.length)]);
		expect(readHeader(rle)).toMatchObject({ ok: false, code: 'malformed', message: expect.stringContaining('declares more bytes than the file has left') });
	});

	it('reads the header alone for series selection', () => {
		const h = readHeader(phantomToPart10(headCtSlice(4, { size: 16 }), { seriesDescription: 'AX BONE', convolutionKernel: 'H70h', imagePositionPatient: [0, 0, 42] }));
		expect(h.ok && h.attributes).toMatchObject({ seriesDescription: 'AX BONE', convolutionKernel: 'H70h', imagePositionPatient: [0, 0, 42] });
	});
});

/** Re-write a Part-10 file through dcmjs with extra elements (sequences, private tags) before Pixel Data. */
function withExtras(buf: ArrayBuffer, extras: Record<string, unknown>): ArrayBuffer {
	const { data } = dcmjs as { data: any }; // eslint-disable-line @typescript-eslint/no-explicit-any
	const file = data.DicomMessage.readFile(buf);
	const ds = { ...data.DicomMetaDictionary.naturalizeDataset(file.dict), ...extras };
	const out = new data.DicomDict(file.meta);
	out.dict = data.DicomMetaDictionary.denaturalizeDataset(ds);
	return out.write();
}

/** Re-write a Part-10 file through dcmjs with one element replaced as given (its VR too). */
function withElement(buf: ArrayBuffer, tag: string, element: { vr: string; Value: unknown[] }): ArrayBuffer {
	const { data } = dcmjs as { data: any }; // eslint-disable-line @typescript-eslint/no-explicit-any
	const file = data.DicomMessage.readFile(buf);
	file.dict[tag] = element;
	return file.write();
}

describe('element scanner (fast path) against dcmjs (reference)', () => {
	const variants: [string, ArrayBuffer][] = [];
	for (const ts of [TransferSyntax.implicitLittle, TransferSyntax.explicitLittle]) {
		for (const encoding of [CtEncoding.unsigned12, CtEncoding.signedOffset, CtEncoding.signedHu]) {
			variants.push([`16-bit ${encoding} CT, ${ts}`, phantomToPart10(headCtSlice(41, { size: 40, encoding }), { transferSyntaxUid: ts, imagePositionPatient: [-1.5, 2, 37.25], instanceNumber: 7 })]);
		}
		variants.push([`8-bit signed CT, ${ts}`, phantomToPart10(headCtSlice(42, { size: 30, encoding: CtEncoding.signedHu }), { transferSyntaxUid: ts, eightBit: true })]);
		variants.push([`MONOCHROME1 radiograph, ${ts}`, phantomToPart10(chestXr(43, { size: 48, photometric: Photometric.monochrome1 }), { transferSyntaxUid: ts })]);
		const withSequences = withExtras(phantomToPart10(headCtSlice(44, { size: 24 }), { transferSyntaxUid: ts }), {
			ReferencedImageSequence: [{ ReferencedSOPClassUID: '1.2.840.10008.5.1.4.1.1.2', ReferencedSOPInstanceUID: '2.25.1' }, { ReferencedSOPInstanceUID: '2.25.2' }],
			ProcedureCodeSequence: [{ CodeValue: 'CTHEAD', CodingSchemeDesignator: 'L', CodeMeaning: 'CT head', ConceptNameCodeSequence: [{ CodeValue: 'x' }] }],
			SeriesDescription: 'AXIAL 5MM BRAIN ÄÖ'
		});
		variants.push([`sequences (nested) before Pixel Data, ${ts}`, withSequences]);
	}

	for (const [name, buf] of variants) {
		it(`decodes the same image and attributes as dcmjs: ${name}`, () => {
			expect(scanPart10(new Uint8Array(buf))).not.toBeNull();
			const fast = decodeDicom(buf);
			const ref = decodeDicomReference(buf);
			if (!fast.ok || !ref.ok) throw new Error('expected both readers to decode');
			expect({ ...fast.image, stored: Array.from(fast.image.stored), values: Array.from(fast.image.values) }).toEqual({
				...ref.image,
				stored: Array.from(ref.image.stored),
				values: Array.from(ref.image.values)
			});
			expect(readHeader(buf)).toEqual(readHeaderReference(buf));
		});
	}

	it('reads pixel data at an odd byte offset (a view into a larger buffer)', () => {
		const buf = new Uint8Array(phantomToPart10(headCtSlice(45, { size: 16 })));
		const shifted = new Uint8Array(buf.length + 1);
		shifted.set(buf, 1);
		const view = shifted.subarray(1);
		const fast = decodeDicom(view);
		const ref = decodeDicomReference(buf);
		expect(fast.ok && ref.ok && Array.from(fast.image.values)).toEqual(ref.ok && Array.from(ref.image.values));
	});

	it('declines what it does not handle, and decodeDicom still answers like the reference', () => {
		const jpeg = phantomToPart10(headCtSlice(46, { size: 16 }), { transferSyntaxUid: TransferSyntax.jpegBaseline });
		const img = headCtSlice(47, { size: 16 });
		const truncated = phantomToPart10({ ...img, pixels: img.pixels.slice(0, 100) as Uint16Array });
		for (const buf of [jpeg, new Uint8Array(300).buffer, new Uint8Array([1, 2, 3]).buffer]) expect(scanPart10(new Uint8Array(buf))).toBeNull();
		// well-formed elements, too few pixels for Rows × Columns: the scan succeeds, the frame is declined
		expect(frameFromScan(scanPart10(new Uint8Array(truncated))!)).toBeNull();
		for (const buf of [jpeg, truncated, new Uint8Array(300).buffer, new Uint8Array([1, 2, 3]).buffer]) {
			const r = decodeDicom(buf);
			expect(r.ok).toBe(false);
			expect(r).toEqual(decodeDicomReference(buf));
		}
	});
});
