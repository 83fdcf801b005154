/**
 * A tiny DICOM Part-10 writer (via dcmjs) for phantoms: used by the tests,
 * the benchmark and the training sanity checks to produce real files that
 * go through the same decoder as received instances.
 * @see https://dicom.nema.org/medical/dicom/current/output/chtml/part10/chapter_7.html
 */
// @ts-ignore -- dcmjs ships no type declarations; the subset we use is typed below
import dcmjs from 'dcmjs';
import type { PhantomImage } from '../../src/lib/domain/triage/phantom';
import { TransferSyntax } from './dicom';

interface DcmjsWrite {
	DicomDict: new (meta: Record<string, unknown>) => { dict: Record<string, unknown>; write(opts?: Record<string, unknown>): ArrayBuffer };
	DicomMetaDictionary: { denaturalizeDataset(ds: Record<string, unknown>): Record<string, unknown>; uid(): string };
}
const data = (dcmjs as unknown as { data: DcmjsWrite }).data;

const SOP_CLASS = { CT: '1.2.840.10008.5.1.4.1.1.2', DX: '1.2.840.10008.5.1.4.1.1.1.1' } as const;

export interface Part10Options {
	transferSyntaxUid?: string;
	/** Re-encode as 8 bits allocated (values scaled into 0..255, or -128..127 when signed). */
	eightBit?: boolean;
	sopInstanceUid?: string;
	seriesInstanceUid?: string;
	studyInstanceUid?: string;
	seriesDescription?: string;
	studyDescription?: string;
	imagePositionPatient?: number[];
	imageOrientationPatient?: number[];
	instanceNumber?: number;
	convolutionKernel?: string;
	sliceThickness?: number;
}

/** Write a phantom as a Part-10 file; returns the bytes. */
export function phantomToPart10(img: PhantomImage, opts: Part10Options = {}): ArrayBuffer {
	const ts = opts.transferSyntaxUid ?? TransferSyntax.explicitLittle;
	const sopClass = SOP_CLASS[img.modality];
	const sop = opts.sopInstanceUid ?? data.DicomMetaDictionary.uid();
	let pixels: ArrayBuffer;
	let bitsAllocated: number = img.bitsAllocated;
	let bitsStored = img.bitsStored;
	let slope = img.rescaleSlope;
	let intercept = img.rescaleIntercept;
	if (opts.eightBit) {
		// keep the modality values: value = stored8 * slope8 + intercept8
		let lo = Infinity;
		let hi = -Infinity;
		for (const v of img.pixels) {
			if (v < lo) lo = v;
			if (v > hi) hi = v;
		}
		const step = Math.max(1, (hi - lo) / 255);
		const signed = img.pixelRepresentation === 1;
		const base = signed ? -128 : 0;
		const out = signed ? new Int8Array(img.pixels.length) : new Uint8Array(img.pixels.length);
		for (let i = 0; i < out.length; i++) out[i] = base + Math.round((img.pixels[i] - lo) / step);
		pixels = out.buffer.slice(0, out.length + (out.length % 2)) as ArrayBuffer;
		bitsAllocated = 8;
		bitsStored = 8;
		slope = img.rescaleSlope * step;
		intercept = img.rescaleIntercept + img.rescaleSlope * lo - slope * base;
	} else {
		pixels = img.pixels.buffer.slice(img.pixels.byteOffset, img.pixels.byteOffset + img.pixels.byteLength) as ArrayBuffer;
	}
	const ds: Record<string, unknown> = {
		SOPClassUID: sopClass,
		SOPInstanceUID: sop,
		StudyInstanceUID: opts.studyInstanceUid ?? data.DicomMetaDictionary.uid(),
		SeriesInstanceUID: opts.seriesInstanceUid ?? data.DicomMetaDictionary.uid(),
		Modality: img.modality,
		BodyPartExamined: img.bodyPart,
		StudyDescription: opts.studyDescription ?? (img.modality === 'CT' ? 'CT HEAD WO CONTRAST' : 'XR CHEST 1 VIEW'),
		SeriesDescription: opts.seriesDescription ?? (img.modality === 'CT' ? 'AXIAL 5MM BRAIN' : 'PA'),
		PatientName: 'PHANTOM^SYNTHETIC',
		PatientID: 'PHANTOM',
		InstanceNumber: opts.instanceNumber ?? 1,
		SamplesPerPixel: 1,
		PhotometricInterpretation: img.photometricInterpretation,
		Rows: img.rows,
		Columns: img.columns,
		PixelSpacing: img.pixelSpacing,
		BitsAllocated: bitsAllocated,
		BitsStored: bitsStored,
		HighBit: bitsStored - 1,
		PixelRepresentation: img.pixelRepresentation,
		RescaleSlope: Number(slope.toPrecision(10)),
		RescaleIntercept: Number(intercept.toPrecision(10)),
		WindowCenter: img.windowCenter,
		WindowWidth: img.windowWidth,
		PixelData: [pixels],
		_vrMap: { PixelData: bitsAllocated === 8 ? 'OB' : 'OW' }
	};
	if (img.modality === 'CT') {
		ds.ImageOrientationPatient = opts.imageOrientationPatient ?? [1, 0, 0, 0, 1, 0];
		ds.ImagePositionPatient = opts.imagePositionPatient ?? [-115, -115, 0];
		ds.ConvolutionKernel = opts.convolutionKernel ?? 'H30s';
		ds.SliceThickness = opts.sliceThickness ?? 5;
		ds.RescaleType = 'HU';
	}
	const dict = new data.DicomDict({
		'00020001': { vr: 'OB', Value: [new Uint8Array([0, 1]).buffer] },
		'00020002': { vr: 'UI', Value: [sopClass] },
		'00020003': { vr: 'UI', Value: [sop] },
		'00020010': { vr: 'UI', Value: [ts] },
		'00020012': { vr: 'UI', Value: ['2.25.80302813137786398554742050926734630921'] }
	});
	dict.dict = data.DicomMetaDictionary.denaturalizeDataset(ds);
	return dict.write();
}
