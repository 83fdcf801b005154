/**
 * Test fixture generator: synthetic DICOM Part 10 files written with dcmjs.
 * Used by the DICOM tests, the ingest bench and the simulator. No real PHI.
 */
import dcmjs from 'dcmjs';
import { createHash } from 'node:crypto';

const { DicomDict, DicomMetaDictionary } = dcmjs.data;

export const SOP_CLASS_BY_MODALITY: Record<string, string> = {
	CT: '1.2.840.10008.5.1.4.1.1.2',
	MR: '1.2.840.10008.5.1.4.1.1.4',
	CR: '1.2.840.10008.5.1.4.1.1.1',
	DX: '1.2.840.10008.5.1.4.1.1.1.1',
	US: '1.2.840.10008.5.1.4.1.1.6.1',
	NM: '1.2.840.10008.5.1.4.1.1.20',
	PT: '1.2.840.10008.5.1.4.1.1.128',
	MG: '1.2.840.10008.5.1.4.1.1.1.2',
	XA: '1.2.840.10008.5.1.4.1.1.12.1',
	RF: '1.2.840.10008.5.1.4.1.1.12.2',
	OT: '1.2.840.10008.5.1.4.1.1.7'
};

export interface FixtureSpec {
	studyUid: string;
	seriesUid: string;
	sopUid: string;
	modality: string;
	description: string;
	patientId: string;
	accession: string;
	rows: number;
	cols: number;
	/** 16-bit pixels; when absent a deterministic gradient fills rows × cols × frames. */
	pixels?: Uint16Array;
	frames?: number;
	patientName?: string;
	studyDate?: string;
	studyTime?: string;
	bodyPart?: string;
	/** Implicit VR Little Endian when true; Explicit VR Little Endian otherwise. */
	implicit?: boolean;
	/** Overrides the SOP Class UID (default by modality). */
	sopClassUid?: string;
}

/** Builds a Part 10 file (uncompressed 16-bit monochrome) as a Buffer. */
export function makeInstance(spec: FixtureSpec): Buffer {
	const frames = spec.frames ?? 1;
	const count = spec.rows * spec.cols * frames;
	let pixels = spec.pixels;
	if (!pixels) {
		pixels = new Uint16Array(count);
		for (let i = 0; i < count; i++) pixels[i] = (i * 7 + spec.rows) & 0x0fff;
	}
	const sopClassUid = spec.sopClassUid ?? SOP_CLASS_BY_MODALITY[spec.modality] ?? SOP_CLASS_BY_MODALITY.OT;
	const transferSyntaxUid = spec.implicit ? '1.2.840.10008.1.2' : '1.2.840.10008.1.2.1';
	const meta = {
		FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
		MediaStorageSOPClassUID: sopClassUid,
		MediaStorageSOPInstanceUID: spec.sopUid,
		TransferSyntaxUID: transferSyntaxUid,
		ImplementationClassUID: '2.25.276032069915094827463434095632447412149',
		ImplementationVersionName: 'RADFLOW_FIXTURE'
	};
	const ds: Record<string, unknown> = {
		SpecificCharacterSet: 'ISO_IR 192',
		SOPClassUID: sopClassUid,
		SOPInstanceUID: spec.sopUid,
		StudyDate: spec.studyDate ?? '20240105',
		StudyTime: spec.studyTime ?? '142200',
		AccessionNumber: spec.accession,
		Modality: spec.modality,
		StudyDescription: spec.description,
		PatientName: spec.patientName ?? 'Test^Patient',
		PatientID: spec.patientId,
		PatientBirthDate: '19700101',
		PatientSex: 'O',
		BodyPartExamined: spec.bodyPart ?? '',
		StudyInstanceUID: spec.studyUid,
		SeriesInstanceUID: spec.seriesUid,
		StudyID: '1',
		SeriesNumber: '1',
		InstanceNumber: '1',
		SamplesPerPixel: 1,
		PhotometricInterpretation: 'MONOCHROME2',
		Rows: spec.rows,
		Columns: spec.cols,
		BitsAllocated: 16,
		BitsStored: 12,
		HighBit: 11,
		PixelRepresentation: 0,
		PixelData: [pixels.buffer.slice(pixels.byteOffset, pixels.byteOffset + pixels.byteLength)],
		_vrMap: { PixelData: 'OW' }
	};
	if (frames > 1) ds.NumberOfFrames = String(frames);
	const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
	dict.dict = DicomMetaDictionary.denaturalizeDataset(ds);
	return Buffer.from(dict.write({ allowInvalidVRLength: false }) as ArrayBuffer);
}

/** A syntactically valid, unique-enough UID under the UUID root for fixtures. */
export function fixtureUid(seed: string | number): string {
	const n = BigInt('0x' + createHash('sha256').update(String(seed)).digest('hex').slice(0, 30));
	return `2.25.${n}`;
}
