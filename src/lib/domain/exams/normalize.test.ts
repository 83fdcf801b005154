import { describe, it, expect } from 'vitest';
import { EXAM_CATALOG, type CatalogExam } from './catalog';
import { SUBSPECIALTIES } from '../study/model';
import { descriptionTokens, normalizeDescriptionKey, normalizeExam, trigramSimilarity } from './normalize';

describe('exam catalog', () => {
	it('has unique exam codes and sane values for every entry', () => {
		const codes = EXAM_CATALOG.map((e) => e.examCode);
		expect(new Set(codes).size).toBe(codes.length);
		expect(EXAM_CATALOG.length).toBeGreaterThanOrEqual(60);
		for (const e of EXAM_CATALOG) {
			expect(SUBSPECIALTIES).toContain(e.subspecialty);
			expect(e.rvu).toBeGreaterThan(0);
			expect(e.rvu).toBeLessThan(5);
			expect(e.expectedReadMinutes).toBeGreaterThan(0);
			if (e.loinc) expect(e.loinc).toMatch(/^\d{1,7}-\d$/);
		}
	});

	it('covers every planned cross-sectional and projection modality', () => {
		const modalities = new Set(EXAM_CATALOG.map((e) => e.modality));
		for (const m of ['CT', 'MR', 'DX', 'US', 'NM', 'PT', 'MG']) expect(modalities).toContain(m);
	});

	it('no two exams of one modality share a normalized name or synonym', () => {
		const seen = new Map<string, string>();
		for (const e of EXAM_CATALOG) {
			for (const phrase of [e.examName, ...e.synonyms]) {
				const key = `${e.modality}|${normalizeDescriptionKey(phrase)}`;
				const other = seen.get(key);
				if (other && other !== e.examCode) throw new Error(`${phrase} of ${e.examCode} collides with ${other}`);
				seen.set(key, e.examCode);
			}
		}
	});
});

describe('descriptionTokens / normalizeDescriptionKey', () => {
	it.each([
		['CT ABD/PEL W CNTRST', 'ABDOMEN PELVIS W'],
		['CT A/P WITHOUT CONTRAST', 'ABDOMEN PELVIS WO'],
		['MR BRAIN W/WO', 'WWO BRAIN'],
		['MRI BRAIN WITH AND WITHOUT CONTRAST', 'BRAIN WWO'],
		['CT HEAD W/O & W/ CONTRAST', 'HEAD WWO'],
		['CT CHST W/O', 'CHEST WO'],
		['CT HD NON-CONTRAST', 'HEAD WO'],
		['XR L-SPINE 2 VIEWS', 'LSPINE 2V'],
		['CHEST PA AND LATERAL', 'CHEST 2V'],
		['CT SPINE LUMBAR WO', 'LSPINE WO']
	])('%s → tokens %s', (text, expected) => {
		expect(normalizeDescriptionKey(text)).toBe(normalizeDescriptionKey(expected));
	});

	it('keys are order and punctuation insensitive, so one review row collects variants', () => {
		expect(normalizeDescriptionKey('CT PELVIS/ABD W')).toBe(normalizeDescriptionKey('ct abdomen and pelvis with contrast'));
		expect(normalizeDescriptionKey('CT HEAD WO')).not.toBe(normalizeDescriptionKey('CT HEAD W'));
	});

	it('drops laterality and modality words', () => {
		expect(descriptionTokens('MRI RIGHT KNEE')).toEqual(['KNEE']);
		expect(descriptionTokens(null)).toEqual([]);
	});

	it('trigram similarity is 1 for equal strings and low for unrelated ones', () => {
		expect(trigramSimilarity('ABDOMEN', 'ABDOMEN')).toBe(1);
		expect(trigramSimilarity('ABDOMEN', 'ABDOMN')).toBeGreaterThan(0.5);
		expect(trigramSimilarity('ABDOMEN', 'KNEE')).toBeLessThan(0.2);
	});
});

describe('normalizeExam', () => {
	const norm = (modality: string, description: string, extra: Record<string, string> = {}) =>
		normalizeExam({ modality, description, ...extra }, EXAM_CATALOG);

	it.each([
		['CT', 'CT HD WO CNTRST', 'CT-HEAD-WO'],
		['CT', 'CT ABD/PEL W CNTRST', 'CT-ABDPEL-W'],
		['CT', 'CT CHST W/O', 'CT-CHEST-WO'],
		['MR', 'MRI L-SPINE W/O', 'MR-LSPINE-WO'],
		['MR', 'MR BRAIN W/WO', 'MR-BRAIN-WWO'],
		['CR', 'CHEST PA/LAT', 'XR-CHEST-2V'],
		['US', 'US ABD COMPLETE', 'US-ABD-COMPLETE'],
		['CT', 'PET CT SKULL BASE TO THIGH', 'PT-ONC-SKULL-THIGH'],
		['MG', 'SCREENING MAMMO BILAT W/ TOMO', 'MG-SCREEN-TOMO']
	])('%s "%s" → %s by exact match after abbreviation expansion', (modality, text, code) => {
		const r = norm(modality, text);
		expect(r.method).toBe('exact');
		expect(r.exam?.examCode).toBe(code);
		expect(r.score).toBe(1);
	});

	it.each([
		['CT', 'CT ABDOMN PELVIS W', 'CT-ABDPEL-W'],
		['MR', 'MRI LEFT KNEE WITHOUT CONTRAST ARTHRO', 'MR-KNEE-WO'],
		['CT', 'CTA CHEST PULM EMBOLISM', 'CTA-CHEST-PE'],
		['US', 'US LOWER EXTREMITY VENOUS DOPPLER BILAT', 'US-VENOUS-LE-BI'],
		['NM', 'NM BONE WHOLE BODY', 'NM-BONE-WB']
	])('%s "%s" → %s by fuzzy match', (modality, text, code) => {
		const r = norm(modality, text);
		expect(r.method).toBe('fuzzy');
		expect(r.exam?.examCode).toBe(code);
		expect(r.score).toBeGreaterThanOrEqual(0.74);
		expect(r.score).toBeLessThan(1);
		expect(r.candidates[0].examCode).toBe(code);
	});

	it('returns none with candidates for an unknown procedure, for the review list', () => {
		const r = norm('CT', 'CT GUIDED BIOPSY LUNG');
		expect(r.method).toBe('none');
		expect(r.exam).toBeNull();
		expect(r.candidates.length).toBeGreaterThan(0);
	});

	it('never crosses modality: an MR description does not match a CT exam', () => {
		const r = norm('MR', 'HEAD WO');
		expect(r.exam?.modality ?? 'MR').toBe('MR');
		expect(norm('XA', 'CORONARY ANGIOGRAM').method).toBe('none');
	});

	it('a contrast phase that disagrees is not accepted as fuzzy', () => {
		// Only a WO knee exam exists; "with contrast" must not silently become it.
		const r = norm('MR', 'MRI KNEE WITH CONTRAST');
		expect(r.exam?.examCode).not.toBe('MR-KNEE-WO');
	});

	it('prefers a procedure code over the description', () => {
		const r = normalizeExam({ modality: 'CT', description: 'CT CHEST', procedureCode: '30799-1' }, EXAM_CATALOG);
		expect(r.method).toBe('code');
		expect(r.exam?.examCode).toBe('CT-HEAD-WO');
		expect(normalizeExam({ modality: 'MR', description: '', procedureCode: 'mr-knee-wo' }, EXAM_CATALOG).exam?.examCode).toBe('MR-KNEE-WO');
	});

	it('applies an admin mapping before fuzzy matching, keyed by modality and description key', () => {
		const text = 'CT GUIDED BIOPSY LUNG';
		const mappings = [{ modality: 'CT', descriptionNormalized: normalizeDescriptionKey(text), examCode: 'CT-CHEST-W' }];
		const r = normalizeExam({ modality: 'CT', description: 'ct lung biopsy guided' }, EXAM_CATALOG, mappings);
		expect(r.method).toBe('mapping');
		expect(r.exam?.examCode).toBe('CT-CHEST-W');
		// same text from another modality is not mapped
		expect(normalizeExam({ modality: 'MR', description: text }, EXAM_CATALOG, mappings).method).toBe('none');
	});

	it('falls back to the body part when the description is empty', () => {
		const r = normalizeExam({ modality: 'CT', description: '', bodyPart: 'HEAD' }, EXAM_CATALOG);
		expect(r.exam?.examCode).toBe('CT-HEAD-WO');
		expect(normalizeExam({ modality: 'CT', description: '' }, EXAM_CATALOG).method).toBe('none');
	});

	it('returns the NormalizedExam fields the routing engine needs', () => {
		const r = norm('CT', 'CT HEAD WO');
		const entry = EXAM_CATALOG.find((e) => e.examCode === 'CT-HEAD-WO') as CatalogExam;
		expect(r.exam).toEqual({
			examCode: entry.examCode,
			examName: entry.examName,
			modality: 'CT',
			bodyRegion: entry.bodyRegion,
			subspecialty: 'neuro',
			rvu: entry.rvu,
			expectedReadMinutes: entry.expectedReadMinutes
		});
	});

	it('works with a site catalog, not only the seed', () => {
		const site = [{ ...EXAM_CATALOG[0], examCode: 'SITE-1', examName: 'CT Dental implant planning', synonyms: ['DENTASCAN'] }];
		expect(normalizeExam({ modality: 'CT', description: 'DENTASCAN' }, site).exam?.examCode).toBe('SITE-1');
	});
});
