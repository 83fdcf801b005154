/**
 * Extraction of the attributes Radflow needs from a received DICOM object,
 * given as a DICOM JSON model dataset (tag → {vr, Value}), the shape dcmjs
 * produces and STOW-RS carries.
 *
 * Pure: no I/O, no clock.
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part18.html#sect_F.2 PS3.18 F.2 DICOM JSON Model
 */
import { resolveCharacterSet, type CharacterSet } from './charset';
import { DicomValueError, cleanUid, daToIso, daTmToIso, isValidUid, parsePersonName, type PersonName } from './values';

/** A DICOM JSON model element. */
export interface DicomJsonElement {
	vr: string;
	Value?: unknown[];
	InlineBinary?: string;
	BulkDataURI?: string;
}
/** A DICOM JSON model dataset: 8-hex-digit tag → element. */
export type DicomJsonDataset = Record<string, DicomJsonElement | undefined>;

/** Tags used here, as DICOM JSON keys. */
export const Tag = {
	SpecificCharacterSet: '00080005',
	SOPClassUID: '00080016',
	SOPInstanceUID: '00080018',
	StudyDate: '00080020',
	SeriesDate: '00080021',
	StudyTime: '00080030',
	SeriesTime: '00080031',
	AccessionNumber: '00080050',
	Modality: '00080060',
	InstitutionName: '00080080',
	ReferringPhysicianName: '00080090',
	TimezoneOffsetFromUTC: '00080201',
	StationName: '00081010',
	StudyDescription: '00081030',
	ProcedureCodeSequence: '00081032',
	SeriesDescription: '0008103E',
	CodeValue: '00080100',
	CodingSchemeDesignator: '00080102',
	PatientName: '00100010',
	PatientID: '00100020',
	IssuerOfPatientID: '00100021',
	PatientBirthDate: '00100030',
	PatientSex: '00100040',
	BodyPartExamined: '00180015',
	StudyInstanceUID: '0020000D',
	SeriesInstanceUID: '0020000E',
	StudyID: '00200010',
	SeriesNumber: '00200011',
	InstanceNumber: '00200013',
	NumberOfFrames: '00280008',
	Rows: '00280010',
	Columns: '00280011',
	RequestedProcedureDescription: '00321060',
	RequestedProcedureID: '00401001'
} as const;
export type Tag = (typeof Tag)[keyof typeof Tag];

/** The normalized attributes of one received instance. */
export interface InstanceAttributes {
	sopClassUid: string;
	sopInstanceUid: string;
	studyInstanceUid: string;
	seriesInstanceUid: string;
	modality: string | null;
	studyDescription: string | null;
	seriesDescription: string | null;
	requestedProcedureDescription: string | null;
	bodyPartExamined: string | null;
	procedureCode: { value: string; scheme: string | null } | null;
	accessionNumber: string | null;
	studyId: string | null;
	patientId: string | null;
	issuerOfPatientId: string | null;
	patientName: PersonName | null;
	patientBirthDate: string | null;
	patientSex: 'M' | 'F' | 'O' | null;
	referringPhysician: PersonName | null;
	/** ISO local date-time (with offset when 0008,0201 is present). */
	studyDateTime: string | null;
	seriesDateTime: string | null;
	seriesNumber: number | null;
	instanceNumber: number | null;
	numberOfFrames: number | null;
	rows: number | null;
	columns: number | null;
	institutionName: string | null;
	stationName: string | null;
	characterSet: CharacterSet;
	/** Non-fatal problems (bad dates, unknown character sets) for the ingest dashboard. */
	warnings: string[];
}

/**
 * First value of a text or numeric attribute. A binary value (the sender's VR was
 * wrong, or the bytes were) counts as absent: stringifying it would be garbage,
 * and for a huge declared length more than a string can hold.
 */
function first(ds: DicomJsonDataset, tag: string): string | number | undefined {
	const v = ds[tag]?.Value?.[0];
	return typeof v === 'string' || typeof v === 'number' ? v : undefined;
}

function str(ds: DicomJsonDataset, tag: string): string | null {
	const v = first(ds, tag);
	if (v == null) return null;
	const s = String(v).replace(/[\0]+/g, '').trim();
	return s.length ? s : null;
}

function num(ds: DicomJsonDataset, tag: string): number | null {
	const v = first(ds, tag);
	if (v == null || v === '') return null;
	const n = typeof v === 'number' ? v : Number(String(v).trim());
	return Number.isFinite(n) ? n : null;
}

function uid(ds: DicomJsonDataset, tag: string, name: string): string {
	const v = cleanUid(str(ds, tag));
	if (!v) throw new DicomValueError('missing_attribute', `${name} (${tag}) is missing`);
	if (!isValidUid(v)) throw new DicomValueError('invalid_uid', `${name} (${tag}) is not a valid UID`);
	return v;
}

function pn(ds: DicomJsonDataset, tag: string): PersonName | null {
	const v = ds[tag]?.Value?.[0];
	if (typeof v === 'string') return parsePersonName(v);
	// The DICOM JSON form: {Alphabetic, Ideographic, Phonetic}, each a string when present.
	if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return null;
	const { Alphabetic, Ideographic, Phonetic } = v as Record<string, unknown>;
	const text = (x: unknown) => (typeof x === 'string' ? x : undefined);
	return parsePersonName({ Alphabetic: text(Alphabetic), Ideographic: text(Ideographic), Phonetic: text(Phonetic) });
}

/**
 * Extracts and normalizes an instance's identifying and descriptive attributes.
 *
 * @throws DicomValueError with code 'missing_attribute' or 'invalid_uid' when one of
 *   the four UIDs that identify the instance (SOP Class/Instance, Study, Series) is
 *   absent or malformed: such an object cannot be filed and must be refused.
 *   Everything else degrades to null plus a warning.
 */
export function extractInstanceAttributes(ds: DicomJsonDataset): InstanceAttributes {
	const warnings: string[] = [];
	const charsetValue = ds[Tag.SpecificCharacterSet]?.Value?.filter((v): v is string => typeof v === 'string');
	const characterSet = resolveCharacterSet(charsetValue);
	if (characterSet.unsupported.length) warnings.push(`unsupported character set ${characterSet.unsupported.join('\\')}`);

	const safe = <T>(what: string, f: () => T): T | null => {
		try {
			return f();
		} catch (e) {
			warnings.push(`${what}: ${(e as Error).message}`);
			return null;
		}
	};
	const offset = str(ds, Tag.TimezoneOffsetFromUTC);
	const sex = str(ds, Tag.PatientSex)?.toUpperCase();
	const code = (ds[Tag.ProcedureCodeSequence]?.Value?.[0] ?? null) as DicomJsonDataset | null;
	const codeValue = code ? str(code, Tag.CodeValue) : null;

	return {
		sopClassUid: uid(ds, Tag.SOPClassUID, 'SOP Class UID'),
		sopInstanceUid: uid(ds, Tag.SOPInstanceUID, 'SOP Instance UID'),
		studyInstanceUid: uid(ds, Tag.StudyInstanceUID, 'Study Instance UID'),
		seriesInstanceUid: uid(ds, Tag.SeriesInstanceUID, 'Series Instance UID'),
		modality: str(ds, Tag.Modality)?.toUpperCase() ?? null,
		studyDescription: str(ds, Tag.StudyDescription),
		seriesDescription: str(ds, Tag.SeriesDescription),
		requestedProcedureDescription: str(ds, Tag.RequestedProcedureDescription),
		bodyPartExamined: str(ds, Tag.BodyPartExamined)?.toUpperCase() ?? null,
		procedureCode: codeValue ? { value: codeValue, scheme: code ? str(code, Tag.CodingSchemeDesignator) : null } : null,
		accessionNumber: str(ds, Tag.AccessionNumber),
		studyId: str(ds, Tag.StudyID),
		patientId: str(ds, Tag.PatientID),
		issuerOfPatientId: str(ds, Tag.IssuerOfPatientID),
		patientName: pn(ds, Tag.PatientName),
		patientBirthDate: safe('PatientBirthDate', () => daToIso(str(ds, Tag.PatientBirthDate))),
		patientSex: sex === 'M' || sex === 'F' || sex === 'O' ? sex : null,
		referringPhysician: pn(ds, Tag.ReferringPhysicianName),
		studyDateTime: safe('StudyDate/Time', () => daTmToIso(str(ds, Tag.StudyDate), str(ds, Tag.StudyTime), offset)),
		seriesDateTime: safe('SeriesDate/Time', () => daTmToIso(str(ds, Tag.SeriesDate), str(ds, Tag.SeriesTime), offset)),
		seriesNumber: num(ds, Tag.SeriesNumber),
		instanceNumber: num(ds, Tag.InstanceNumber),
		numberOfFrames: num(ds, Tag.NumberOfFrames),
		rows: num(ds, Tag.Rows),
		columns: num(ds, Tag.Columns),
		institutionName: str(ds, Tag.InstitutionName),
		stationName: str(ds, Tag.StationName),
		characterSet,
		warnings
	};
}
