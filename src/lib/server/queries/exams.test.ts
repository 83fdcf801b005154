import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../../tests/helpers/db';
import type { User } from '../auth/users';
import { EXAM_CATALOG } from '../../domain/exams/catalog';
import { normalizeDescriptionKey, normalizeExam } from '../../domain/exams/normalize';
import { applyExamMapping, deleteExamMapping, ExamMappingError, examReviewWithCandidates, listExamMappings } from './exams';

let t: TestDatabase;
const admin: User = { id: 7, username: 'ada', displayName: 'Ada', role: 'admin' };
const DESCRIPTION = 'CT HEAD TRAUMA PROTOCOL WO';
const KEY = normalizeDescriptionKey(DESCRIPTION);
const TARGET = EXAM_CATALOG.find((e) => e.examCode === 'CT-HEAD-WO')!;

async function study(uid: string, modality: string, description: string, status = 'arriving') {
	const [r] = await t.db.sql`INSERT INTO studies (study_instance_uid, modality, description, status, exam_code)
		VALUES (${uid}, ${modality}, ${description}, ${status}, ${status === 'reported' ? 'OLD' : null}) RETURNING id`;
	return r.id as number;
}

beforeAll(async () => {
	t = await createTestDatabase('q_exams');
	await t.db.sql`INSERT INTO exam_review (modality, description_key, example_description, occurrences, first_seen, last_seen) VALUES
		('CT', ${KEY}, ${DESCRIPTION}, 4, '2025-03-01T08:00:00Z', '2025-03-04T09:00:00Z'),
		('MR', 'ZZZ', 'MR ZZZ', 9, '2025-03-02T08:00:00Z', '2025-03-03T09:00:00Z')`;
});

afterAll(async () => {
	await t?.drop();
});

describe('exam review and mappings', () => {
	it('lists unknown descriptions, most frequent first, with catalog candidates', async () => {
		const review = await examReviewWithCandidates(t.db.sql);
		expect(review.map((r) => [r.modality, r.descriptionKey, r.occurrences])).toEqual([
			['MR', 'ZZZ', 9],
			['CT', KEY, 4]
		]);
		const ct = review[1];
		expect(ct.candidates.length).toBeGreaterThan(0);
		expect(ct.candidates.length).toBeLessThanOrEqual(3);
		// Same ranking the normalizer gives, restricted to CT-compatible exams.
		const expected = normalizeExam({ modality: 'CT', description: DESCRIPTION }, EXAM_CATALOG).candidates.slice(0, 3);
		expect(ct.candidates).toEqual(expected);
		expect(ct.candidates.every((c) => EXAM_CATALOG.find((e) => e.examCode === c.examCode)?.modality !== 'MR')).toBe(true);
	});

	it('a mapping rewrites every unreported study with that description and audits the count', async () => {
		const open1 = await study('1.1', 'CT', DESCRIPTION);
		const open2 = await study('1.2', 'CT', 'ct head trauma protocol w/o', 'assigned'); // same key, different spelling
		const reported = await study('1.3', 'CT', DESCRIPTION, 'reported');
		const otherModality = await study('1.4', 'MR', DESCRIPTION);
		const otherText = await study('1.5', 'CT', 'CT CHEST');

		const result = await t.db.sql.begin((tx) => applyExamMapping(tx, admin, { modality: 'CT', descriptionKey: KEY, examCode: TARGET.examCode }));
		expect(result.studyIds).toEqual([open1, open2]);

		const rows = await t.db.sql`SELECT id, exam_code, exam_name, body_region, subspecialty, rvu::float8 AS rvu,
			expected_read_minutes::float8 AS minutes, version FROM studies ORDER BY id`;
		const byId = new Map(rows.map((r) => [r.id, r]));
		for (const id of [open1, open2]) {
			expect(byId.get(id)).toMatchObject({
				exam_code: TARGET.examCode,
				exam_name: TARGET.examName,
				body_region: TARGET.bodyRegion,
				subspecialty: TARGET.subspecialty,
				rvu: TARGET.rvu,
				minutes: TARGET.expectedReadMinutes,
				version: 1
			});
		}
		expect(byId.get(reported)!.exam_code).toBe('OLD');
		expect(byId.get(otherModality)!.exam_code).toBeNull();
		expect(byId.get(otherText)!.exam_code).toBeNull();

		const [mapping] = await listExamMappings(t.db.sql);
		expect(mapping).toMatchObject({ modality: 'CT', descriptionKey: KEY, examCode: TARGET.examCode, examName: TARGET.examName, mappedBy: 'ada' });
		const review = await t.db.sql`SELECT modality FROM exam_review`;
		expect(review).toEqual([{ modality: 'MR' }]);
		const [a] = await t.db.sql`SELECT action, target, details FROM audit_log WHERE action = 'exam.map'`;
		expect(a).toMatchObject({ target: `exam_mapping:CT:${KEY}`, details: { examCode: TARGET.examCode, studiesUpdated: 2 } });
		const events = await t.db.sql`SELECT study_id AS "studyId", kind, actor FROM study_events WHERE kind = 'exam_mapped' ORDER BY study_id`;
		expect(events).toEqual([
			{ studyId: open1, kind: 'exam_mapped', actor: 'ada' },
			{ studyId: open2, kind: 'exam_mapped', actor: 'ada' }
		]);
	});

	it('re-mapping replaces the exam code; an unknown code changes nothing', async () => {
		await t.db.sql.begin((tx) => applyExamMapping(tx, admin, { modality: 'CT', descriptionKey: KEY, examCode: 'CT-HEAD-W' }));
		const [m] = await listExamMappings(t.db.sql);
		expect(m.examCode).toBe('CT-HEAD-W');
		const [{ n }] = await t.db.sql`SELECT count(*)::int AS n FROM studies WHERE exam_code = 'CT-HEAD-W'`;
		expect(n).toBe(2);

		const err = await t.db.sql
			.begin((tx) => applyExamMapping(tx, admin, { modality: 'MR', descriptionKey: 'ZZZ', examCode: 'NOT-A-CODE' }))
			.catch((e) => e);
		expect(err).toBeInstanceOf(ExamMappingError);
		expect(err.code).toBe('unknown_exam');
		const [{ reviews }] = await t.db.sql`SELECT count(*)::int AS reviews FROM exam_review WHERE modality = 'MR'`;
		expect(reviews).toBe(1);
	});

	it('deleting a mapping is audited and keeps the studies as mapped', async () => {
		await t.db.sql.begin((tx) => deleteExamMapping(tx, admin, { modality: 'CT', descriptionKey: KEY }));
		expect(await listExamMappings(t.db.sql)).toEqual([]);
		const [a] = await t.db.sql`SELECT details FROM audit_log WHERE action = 'exam.unmap'`;
		expect(a.details).toEqual({ examCode: 'CT-HEAD-W' });
		const [{ n }] = await t.db.sql`SELECT count(*)::int AS n FROM studies WHERE exam_code = 'CT-HEAD-W'`;
		expect(n).toBe(2);
		const again = await t.db.sql.begin((tx) => deleteExamMapping(tx, admin, { modality: 'CT', descriptionKey: KEY })).catch((e) => e);
		expect(again.code).toBe('not_found');
	});
});
