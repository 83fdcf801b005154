import { describe, it, expect } from 'vitest';
import { cleanUid, daToIso, daTmToIso, isValidUid, parsePersonName, tmToIso, DicomValueError } from './values';
import { decodeDicomText, resolveCharacterSet } from './charset';
import { extractInstanceAttributes, Tag, type DicomJsonDataset } from './attributes';

describe('UIDs', () => {
	it.each([
		['1.2.840.10008.5.1.4.1.1.2', true],
		['2.25.329800735698586629295641978511506172918', true],
		['0.1', true],
		['1.02.3', false],
		['1..2', false],
		['1.2.', false],
		['1.2.a', false],
		['', false],
		['1.' + '2'.repeat(63), false]
	])('%s valid=%s', (uid, ok) => expect(isValidUid(uid)).toBe(ok));

	it('strips NUL padding', () => expect(cleanUid('1.2.3\0')).toBe('1.2.3'));
});

describe('DA / TM', () => {
	it('converts DA, including the old dotted form', () => {
		expect(daToIso('20240229')).toBe('2024-02-29');
		expect(daToIso('2024.02.29')).toBe('2024-02-29');
		expect(daToIso('')).toBeNull();
	});
	it('rejects impossible dates', () => {
		expect(() => daToIso('20230229')).toThrow(DicomValueError);
		expect(() => daToIso('2023-01-01')).toThrow(/invalid DA/);
	});
	it('converts TM at every precision', () => {
		expect(tmToIso('07')).toBe('07:00:00');
		expect(tmToIso('0715')).toBe('07:15:00');
		expect(tmToIso('071530.123456')).toBe('07:15:30.123456');
		expect(tmToIso('07:15:30')).toBe('07:15:30');
		expect(() => tmToIso('2515')).toThrow(/out of range/);
	});
	it('combines date, time and offset', () => {
		expect(daTmToIso('20240105', '1422', '-0500')).toBe('2024-01-05T14:22:00-05:00');
		expect(daTmToIso('20240105', null)).toBe('2024-01-05T00:00:00');
		expect(daTmToIso(null, '1422')).toBeNull();
	});
});

describe('person names', () => {
	it('splits components and builds a display name', () => {
		const n = parsePersonName('Doe^John^Q^Dr^Jr');
		expect(n).toMatchObject({ family: 'Doe', given: 'John', middle: 'Q', prefix: 'Dr', suffix: 'Jr', display: 'Doe, John Q' });
	});
	it('keeps ideographic and phonetic groups', () => {
		const n = parsePersonName('Yamada^Tarou=山田^太郎=やまだ^たろう');
		expect(n?.family).toBe('Yamada');
		expect(n?.ideographic).toBe('山田^太郎');
		expect(n?.phonetic).toBe('やまだ^たろう');
	});
	it('accepts the DICOM JSON object form and empty names', () => {
		expect(parsePersonName({ Alphabetic: 'Smith^Ann' })?.display).toBe('Smith, Ann');
		expect(parsePersonName('^^^^')).toBeNull();
		expect(parsePersonName(undefined)).toBeNull();
	});
});

describe('character sets', () => {
	it('maps defined terms and flags unknown ones', () => {
		expect(resolveCharacterSet('ISO_IR 192').encoding).toBe('utf-8');
		expect(resolveCharacterSet(['ISO_IR 100']).encoding).toBe('windows-1252');
		expect(resolveCharacterSet(undefined).iso2022).toBe(false);
		expect(resolveCharacterSet('\\ISO 2022 IR 87').iso2022).toBe(true);
		expect(resolveCharacterSet('ISO_IR 999').unsupported).toEqual(['ISO_IR_999']);
	});
	it('decodes Latin-1 and UTF-8 names', () => {
		expect(decodeDicomText(Uint8Array.from([0x4d, 0xfc, 0x6c, 0x6c, 0x65, 0x72]), resolveCharacterSet('ISO_IR 100'))).toBe('Müller');
		expect(decodeDicomText(new TextEncoder().encode('Šimić'), resolveCharacterSet('ISO_IR 192'))).toBe('Šimić');
	});
	it('decodes an ISO 2022 Japanese name (PS3.5 H.3.1 example)', () => {
		// "Yamada^Tarou=山田^太郎" with ESC $ B / ESC ( B switching
		const bytes = Buffer.concat([
			Buffer.from('Yamada^Tarou='),
			Buffer.from([0x1b, 0x24, 0x42, 0x3b, 0x33, 0x45, 0x44, 0x1b, 0x28, 0x42]),
			Buffer.from('^'),
			Buffer.from([0x1b, 0x24, 0x42, 0x42, 0x40, 0x4f, 0x3a, 0x1b, 0x28, 0x42])
		]);
		expect(decodeDicomText(bytes, resolveCharacterSet('\\ISO 2022 IR 87'))).toBe('Yamada^Tarou=山田^太郎');
	});
	it('decodes an ISO 2022 Korean name (PS3.5 I.2 example)', () => {
		const bytes = Buffer.concat([
			Buffer.from('Hong^Gildong='),
			Buffer.from([0x1b, 0x24, 0x29, 0x43, 0xfb, 0xf3, 0x5e, 0x1b, 0x24, 0x29, 0x43, 0xd1, 0xce, 0xd4, 0xd7])
		]);
		expect(decodeDicomText(bytes, resolveCharacterSet('\\ISO 2022 IR 149'))).toBe('Hong^Gildong=洪^吉洞');
	});
});

describe('extractInstanceAttributes', () => {
	const base = (): DicomJsonDataset => ({
		[Tag.SpecificCharacterSet]: { vr: 'CS', Value: ['ISO_IR 192'] },
		[Tag.SOPClassUID]: { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.2'] },
		[Tag.SOPInstanceUID]: { vr: 'UI', Value: ['1.2.3.4.5.6'] },
		[Tag.StudyInstanceUID]: { vr: 'UI', Value: ['1.2.3.4'] },
		[Tag.SeriesInstanceUID]: { vr: 'UI', Value: ['1.2.3.4.5'] },
		[Tag.Modality]: { vr: 'CS', Value: ['ct'] },
		[Tag.StudyDescription]: { vr: 'LO', Value: ['CT HEAD WO '] },
		[Tag.AccessionNumber]: { vr: 'SH', Value: ['ACC123'] },
		[Tag.PatientID]: { vr: 'LO', Value: ['MRN1'] },
		[Tag.PatientName]: { vr: 'PN', Value: [{ Alphabetic: 'Doe^Jane' }] },
		[Tag.PatientBirthDate]: { vr: 'DA', Value: ['19800230'] },
		[Tag.PatientSex]: { vr: 'CS', Value: ['F'] },
		[Tag.StudyDate]: { vr: 'DA', Value: ['20240105'] },
		[Tag.StudyTime]: { vr: 'TM', Value: ['142200'] },
		[Tag.Rows]: { vr: 'US', Value: [512] },
		[Tag.InstanceNumber]: { vr: 'IS', Value: ['7'] },
		[Tag.ProcedureCodeSequence]: {
			vr: 'SQ',
			Value: [{ [Tag.CodeValue]: { vr: 'SH', Value: ['CT-HEAD-WO'] }, [Tag.CodingSchemeDesignator]: { vr: 'SH', Value: ['99RADFLOW'] } }]
		}
	});

	it('normalizes identifiers, names, dates and numbers', () => {
		const a = extractInstanceAttributes(base());
		expect(a).toMatchObject({
			sopInstanceUid: '1.2.3.4.5.6',
			studyInstanceUid: '1.2.3.4',
			modality: 'CT',
			studyDescription: 'CT HEAD WO',
			accessionNumber: 'ACC123',
			patientSex: 'F',
			studyDateTime: '2024-01-05T14:22:00',
			rows: 512,
			instanceNumber: 7,
			procedureCode: { value: 'CT-HEAD-WO', scheme: '99RADFLOW' }
		});
		expect(a.patientName?.display).toBe('Doe, Jane');
		expect(a.characterSet.encoding).toBe('utf-8');
	});

	it('degrades a bad birth date to null with a warning instead of refusing the image', () => {
		const a = extractInstanceAttributes(base());
		expect(a.patientBirthDate).toBeNull();
		expect(a.warnings.join()).toMatch(/PatientBirthDate/);
	});

	it('refuses an object without a study UID or with a malformed SOP Instance UID', () => {
		const noStudy = base();
		delete noStudy[Tag.StudyInstanceUID];
		expect(() => extractInstanceAttributes(noStudy)).toThrow(expect.objectContaining({ code: 'missing_attribute' }));
		const badSop = base();
		badSop[Tag.SOPInstanceUID] = { vr: 'UI', Value: ['1.2.03'] };
		expect(() => extractInstanceAttributes(badSop)).toThrow(expect.objectContaining({ code: 'invalid_uid' }));
	});
});
