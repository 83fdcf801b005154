/**
 * Synthetic DICOM objects for a simulated study: small 16-bit images with the
 * attributes a real modality writes, phantom pixels for the triage use cases
 * (head CT hemorrhage, chest radiograph pneumothorax) and the ground truth in
 * ImageComments (`SIM:critical=1;finding=...`), never in a PHI-like field.
 *
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part10.html PS3.10 (file format)
 * @see https://dicom.nema.org/medical/dicom/current/output/chtml/part03/sect_C.7.6.3.html PS3.3 C.7.6.3 (Image Pixel)
 */
import dcmjs from 'dcmjs';
import { chestXr, headCtSeries, type PhantomImage } from '../../src/lib/domain/triage/phantom';
import { createRng } from '../../src/lib/domain/simulation/random';
import { CriticalKind } from './network';
import { simUid, type SeriesPlan, type StudyPlan } from './plan';

const { DicomDict, DicomMetaDictionary } = dcmjs.data;

export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
export const IMPLEMENTATION_CLASS_UID = '2.25.98765104290044573251011460871937301117';
export const IMPLEMENTATION_VERSION = 'RADFLOW_SIM_1';

/** Storage SOP classes per modality. @see PS3.4 Annex B.5 */
export const STORAGE_SOP_CLASS: Record<string, string> = {
	CT: '1.2.840.10008.5.1.4.1.1.2',
	MR: '1.2.840.10008.5.1.4.1.1.4',
	CR: '1.2.840.10008.5.1.4.1.1.1',
	DX: '1.2.840.10008.5.1.4.1.1.1.1',
	MG: '1.2.840.10008.5.1.4.1.1.1.2',
	US: '1.2.840.10008.5.1.4.1.1.6.1',
	NM: '1.2.840.10008.5.1.4.1.1.20',
	PT: '1.2.840.10008.5.1.4.1.1.128',
	XA: '1.2.840.10008.5.1.4.1.1.12.1',
	RF: '1.2.840.10008.5.1.4.1.1.12.2',
	OT: '1.2.840.10008.5.1.4.1.1.7'
};

/** Pixels and the Image Pixel / Modality LUT attributes that describe them. */
export interface SimPixels {
	rows: number;
	columns: number;
	pixels: Int16Array | Uint16Array;
	bitsStored: number;
	pixelRepresentation: 0 | 1;
	photometric: 'MONOCHROME1' | 'MONOCHROME2';
	rescaleSlope?: number;
	rescaleIntercept?: number;
	windowCenter: number;
	windowWidth: number;
	pixelSpacing: [number, number];
}

/** One encoded instance, ready for C-STORE (dataset) or a file (part10). */
export interface SimInstance {
	sopClassUid: string;
	sopInstanceUid: string;
	seriesInstanceUid: string;
	/** Dataset only, Explicit VR Little Endian. */
	dataset: Buffer;
	/** Preamble + file meta + dataset. */
	part10: Buffer;
}

export interface InstanceOptions {
	/** Matrix of the triage phantoms (head CT, chest radiograph). Default 128. */
	phantomSize?: number;
	/** Matrix of every other image. Default 64. */
	size?: number;
}

function fromPhantom(p: PhantomImage): SimPixels {
	return {
		rows: p.rows,
		columns: p.columns,
		pixels: p.pixels,
		bitsStored: p.bitsStored,
		pixelRepresentation: p.pixelRepresentation,
		photometric: p.photometricInterpretation,
		rescaleSlope: p.rescaleSlope,
		rescaleIntercept: p.rescaleIntercept,
		windowCenter: p.windowCenter,
		windowWidth: p.windowWidth,
		pixelSpacing: p.pixelSpacing
	};
}

/** A plain grey image with a soft blob and noise: cheap, deterministic. */
function greyImage(seed: number, size: number): SimPixels {
	const rng = createRng(seed);
	const px = new Uint16Array(size * size);
	const cx = size * rng.uniform(0.35, 0.65);
	const cy = size * rng.uniform(0.35, 0.65);
	const r2 = (size * rng.uniform(0.2, 0.35)) ** 2;
	for (let y = 0; y < size; y++) {
		for (let x = 0; x < size; x++) {
			const d = ((x - cx) ** 2 + (y - cy) ** 2) / r2;
			px[y * size + x] = Math.max(0, Math.min(4095, Math.round(600 + 1400 * Math.exp(-d) + rng.normal(0, 30))));
		}
	}
	return { rows: size, columns: size, pixels: px, bitsStored: 12, pixelRepresentation: 0, photometric: 'MONOCHROME2', windowCenter: 1200, windowWidth: 2000, pixelSpacing: [0.8, 0.8] };
}

/**
 * Pixels for every instance of one series. The hook where better phantoms
 * plug in: head CT primary series → hemorrhage phantom, chest radiograph → pneumothorax phantom,
 * everything else a grey image.
 */
export function pixelsFor(plan: StudyPlan, series: SeriesPlan, options: InstanceOptions = {}): SimPixels[] {
	const phantomSize = options.phantomSize ?? 128;
	const size = options.size ?? 64;
	const seed = (plan.pixelSeed + series.number * 7919) >>> 0;
	if (series.primary && plan.exam.critical === CriticalKind.hemorrhage) {
		const s = headCtSeries(seed, { size: phantomSize, slices: series.instances, hemorrhage: plan.critical === CriticalKind.hemorrhage });
		return s.slices.map(fromPhantom);
	}
	if (series.primary && plan.exam.critical === CriticalKind.pneumothorax) {
		return Array.from({ length: series.instances }, (_, i) =>
			fromPhantom(chestXr(seed + i, { size: phantomSize, pneumothorax: plan.critical === CriticalKind.pneumothorax }))
		);
	}
	return Array.from({ length: series.instances }, (_, i) => greyImage(seed + i, size));
}

function dicomDate(ms: number, offsetMinutes: number): { date: string; time: string } {
	const d = new Date(ms + offsetMinutes * 60_000);
	const p = (n: number) => String(n).padStart(2, '0');
	return { date: `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}`, time: `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}` };
}

function offsetString(minutes: number): string {
	const a = Math.abs(minutes);
	return `${minutes < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}${String(a % 60).padStart(2, '0')}`;
}

/** The ground truth as an ImageComments value. */
export function groundTruthComment(plan: Pick<StudyPlan, 'critical'>): string {
	return plan.critical ? `SIM:critical=1;finding=${plan.critical}` : 'SIM:critical=0';
}

/** Byte offset of the dataset in a Part 10 buffer (after preamble, DICM and group 0002). */
export function datasetOffset(part10: Buffer): number {
	if (part10.length < 144 || part10.toString('latin1', 128, 132) !== 'DICM') throw new Error('not a DICOM Part 10 buffer');
	// (0002,0000) UL group length follows DICM: tag(4) VR(2) len(2) value(4).
	return 144 + part10.readUInt32LE(140);
}

/**
 * Encode every instance of a study (all series, in order).
 * Times: series acquired between firstImageAt and completeAt.
 */
export function buildStudyInstances(plan: StudyPlan, options: InstanceOptions = {}): SimInstance[] {
	const off = plan.site.utcOffsetMinutes;
	const study = dicomDate(plan.firstImageAt, off);
	const out: SimInstance[] = [];
	const total = plan.seriesPlan.length;
	plan.seriesPlan.forEach((series, si) => {
		const seriesUid = simUid(`series|${plan.key}|${series.number}`);
		const seriesAt = plan.firstImageAt + ((plan.completeAt - plan.firstImageAt) * si) / Math.max(1, total);
		const st = dicomDate(seriesAt, off);
		const images = pixelsFor(plan, series, options);
		const sopClassUid = STORAGE_SOP_CLASS[plan.exam.modality] ?? STORAGE_SOP_CLASS.OT;
		images.forEach((img, ii) => {
			const sopInstanceUid = simUid(`sop|${plan.key}|${series.number}|${ii + 1}`);
			const ds: Record<string, unknown> = {
				SpecificCharacterSet: 'ISO_IR 192',
				ImageType: ['ORIGINAL', 'PRIMARY', series.primary ? 'AXIAL' : 'OTHER'],
				SOPClassUID: sopClassUid,
				SOPInstanceUID: sopInstanceUid,
				StudyDate: study.date,
				SeriesDate: st.date,
				ContentDate: st.date,
				StudyTime: study.time,
				SeriesTime: st.time,
				ContentTime: st.time,
				TimezoneOffsetFromUTC: offsetString(off),
				AccessionNumber: plan.accession,
				Modality: plan.exam.modality,
				Manufacturer: 'RADFLOW SIMULATOR',
				InstitutionName: plan.site.name,
				ReferringPhysicianName: '',
				StationName: plan.stationName,
				StudyDescription: plan.exam.description,
				SeriesDescription: series.description,
				PatientName: 'SIMULATED^PATIENT',
				PatientID: plan.mrn,
				IssuerOfPatientID: plan.site.facility,
				PatientBirthDate: '',
				PatientSex: '',
				BodyPartExamined: plan.exam.bodyPart,
				StudyInstanceUID: plan.studyUid,
				SeriesInstanceUID: seriesUid,
				StudyID: plan.accession.slice(-16),
				SeriesNumber: String(series.number),
				InstanceNumber: String(ii + 1),
				ImageComments: groundTruthComment(plan),
				SamplesPerPixel: 1,
				PhotometricInterpretation: img.photometric,
				Rows: img.rows,
				Columns: img.columns,
				PixelSpacing: img.pixelSpacing.map(String),
				BitsAllocated: 16,
				BitsStored: img.bitsStored,
				HighBit: img.bitsStored - 1,
				PixelRepresentation: img.pixelRepresentation,
				WindowCenter: String(img.windowCenter),
				WindowWidth: String(img.windowWidth),
				PixelData: [img.pixels.buffer.slice(img.pixels.byteOffset, img.pixels.byteOffset + img.pixels.byteLength)],
				_vrMap: { PixelData: 'OW' }
			};
			if (img.rescaleSlope !== undefined) {
				ds.RescaleSlope = String(img.rescaleSlope);
				ds.RescaleIntercept = String(img.rescaleIntercept ?? 0);
				ds.RescaleType = plan.exam.modality === 'CT' ? 'HU' : 'US';
			}
			if (plan.exam.modality === 'CT' || plan.exam.modality === 'MR') {
				const thickness = plan.exam.modality === 'CT' ? 5 : 4;
				ds.SliceThickness = String(thickness);
				ds.ImageOrientationPatient = ['1', '0', '0', '0', '1', '0'];
				ds.ImagePositionPatient = ['-100', '-100', String(ii * thickness - 60)];
				ds.FrameOfReferenceUID = simUid(`for|${plan.key}`);
			}
			const meta = {
				FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
				MediaStorageSOPClassUID: sopClassUid,
				MediaStorageSOPInstanceUID: sopInstanceUid,
				TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
				ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
				ImplementationVersionName: IMPLEMENTATION_VERSION
			};
			const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
			dict.dict = DicomMetaDictionary.denaturalizeDataset(ds);
			const part10 = Buffer.from(dict.write({ allowInvalidVRLength: false }) as ArrayBuffer);
			out.push({ sopClassUid, sopInstanceUid, seriesInstanceUid: seriesUid, dataset: part10.subarray(datasetOffset(part10)), part10 });
		});
	});
	return out;
}
