/**
 * Exam normalization admin: the review list of unknown descriptions, the
 * mappings administrators make from it, and applying a mapping to the
 * studies that are still waiting to be read.
 */
import type { SqlLike } from '../db/client';
import { audit } from '../auth/guard';
import type { User } from '../auth/users';
import { insertEvents } from '../events/store';
import { EXAM_CATALOG, toNormalizedExam, type ExamCatalog } from '../../domain/exams/catalog';
import { normalizeDescriptionKey, normalizeExam, type ExamCandidate } from '../../domain/exams/normalize';

/** Why a mapping request was refused; translated to a 400 at the route. */
export class ExamMappingError extends Error {
	constructor(
		readonly code: 'unknown_exam' | 'invalid_key' | 'not_found',
		message: string,
		options?: { cause?: unknown }
	) {
		super(message, options);
		this.name = 'ExamMappingError';
	}
}

/** Columns: modality, descriptionKey, exampleDescription, occurrences, firstSeen, lastSeen. */
export interface ExamReviewRow {
	modality: string;
	descriptionKey: string;
	exampleDescription: string;
	occurrences: number;
	firstSeen: Date;
	lastSeen: Date;
}

/** Unknown descriptions waiting for a mapping, most frequent first. */
export async function listExamReview(sql: SqlLike, params: { limit?: number } = {}): Promise<ExamReviewRow[]> {
	return sql<ExamReviewRow[]>`
		SELECT modality, description_key AS "descriptionKey", example_description AS "exampleDescription",
			occurrences, first_seen AS "firstSeen", last_seen AS "lastSeen"
		FROM exam_review
		ORDER BY occurrences DESC, last_seen DESC
		LIMIT ${params.limit ?? 200}`;
}

/** Number of descriptions on the review list. */
export async function countExamReview(sql: SqlLike): Promise<number> {
	const [r] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM exam_review`;
	return r.n;
}

export interface ExamReviewItem extends ExamReviewRow {
	/** Best catalog candidates for the example description, best first. */
	candidates: ExamCandidate[];
}

/** The review list with the top `top` (default 3) fuzzy candidates for each description. */
export async function examReviewWithCandidates(
	sql: SqlLike,
	params: { catalog?: ExamCatalog; top?: number; limit?: number } = {}
): Promise<ExamReviewItem[]> {
	const catalog = params.catalog ?? EXAM_CATALOG;
	const rows = await listExamReview(sql, { limit: params.limit });
	return rows.map((r) => ({
		...r,
		candidates: normalizeExam({ modality: r.modality as never, description: r.exampleDescription }, catalog).candidates.slice(0, params.top ?? 3)
	}));
}

/** Columns: modality, descriptionKey, examCode, examName (from the catalog; null if retired), mappedBy, mappedAt. */
export interface ExamMappingRow {
	modality: string;
	descriptionKey: string;
	examCode: string;
	examName: string | null;
	mappedBy: string;
	mappedAt: Date;
}

export async function listExamMappings(sql: SqlLike, params: { catalog?: ExamCatalog } = {}): Promise<ExamMappingRow[]> {
	const catalog = params.catalog ?? EXAM_CATALOG;
	const rows = await sql<Omit<ExamMappingRow, 'examName'>[]>`
		SELECT modality, description_key AS "descriptionKey", exam_code AS "examCode", mapped_by AS "mappedBy", mapped_at AS "mappedAt"
		FROM exam_mappings
		ORDER BY mapped_at DESC, modality, description_key`;
	return rows.map((r) => ({ ...r, examName: catalog.find((e) => e.examCode === r.examCode)?.examName ?? null }));
}

/** Radiography is sent as CR, DX or XR; a mapping for one covers all three. */
function modalitiesLike(modality: string): string[] {
	const m = modality.toUpperCase();
	return ['CR', 'DX', 'XR'].includes(m) ? ['CR', 'DX', 'XR'] : [m];
}

export interface ApplyMappingResult {
	examCode: string;
	examName: string;
	/** Ids of the unreported studies whose exam fields were rewritten. */
	studyIds: number[];
}

/**
 * Maps an unknown description to a catalog exam, in the caller's transaction:
 * upserts `exam_mappings`, rewrites the exam fields (code, name, body region,
 * subspecialty, RVU, expected minutes) of every study with the same modality
 * and description key that is not yet reported or cancelled, appends an
 * `exam_mapped` event per study, removes the review row and audits the
 * mapping with the number of studies updated.
 *
 * Reported studies keep the exam they were read as: the record of what was
 * read must not change after the fact.
 */
export async function applyExamMapping(
	tx: SqlLike,
	user: User,
	params: { modality: string; descriptionKey: string; examCode: string },
	options: { catalog?: ExamCatalog; now?: Date } = {}
): Promise<ApplyMappingResult> {
	const catalog = options.catalog ?? EXAM_CATALOG;
	const modality = params.modality.trim();
	const descriptionKey = params.descriptionKey.trim();
	if (!modality || !descriptionKey) throw new ExamMappingError('invalid_key', 'A mapping needs a modality and a description.');
	const entry = catalog.find((e) => e.examCode === params.examCode.trim());
	if (!entry) throw new ExamMappingError('unknown_exam', `There is no catalog exam with code "${params.examCode}".`);
	const exam = toNormalizedExam(entry);
	const now = options.now ?? new Date();

	await tx`
		INSERT INTO exam_mappings (modality, description_key, exam_code, mapped_by, mapped_at)
		VALUES (${modality}, ${descriptionKey}, ${exam.examCode}, ${user.username}, ${now})
		ON CONFLICT (modality, description_key)
		DO UPDATE SET exam_code = EXCLUDED.exam_code, mapped_by = EXCLUDED.mapped_by, mapped_at = EXCLUDED.mapped_at`;

	// The key is computed in TypeScript (the normalizer is the one definition of
	// it), so candidates are narrowed in SQL by modality and status, then by key here.
	const open = await tx<{ id: number; description: string; examCode: string | null }[]>`
		SELECT id, description, exam_code AS "examCode" FROM studies
		WHERE modality = ANY(${modalitiesLike(modality)}::text[])
			AND description IS NOT NULL
			AND status NOT IN ('reported', 'cancelled')
		FOR UPDATE`;
	const matching = open.filter((s) => normalizeDescriptionKey(s.description) === descriptionKey);
	const ids = matching.map((s) => s.id);

	let updated: { id: number; siteId: string | null; modality: string | null; priority: string; patientClass: string | null }[] = [];
	if (ids.length > 0) {
		updated = await tx`
			UPDATE studies SET exam_code = ${exam.examCode}, exam_name = ${exam.examName}, body_region = ${exam.bodyRegion},
				subspecialty = ${exam.subspecialty}, rvu = ${exam.rvu}, expected_read_minutes = ${exam.expectedReadMinutes},
				version = version + 1, updated_at = ${now}
			WHERE id = ANY(${ids}::bigint[]) AND status NOT IN ('reported', 'cancelled')
			RETURNING id, site_id AS "siteId", modality, priority, patient_class AS "patientClass"`;
		const previous = new Map(matching.map((s) => [s.id, s.examCode]));
		await insertEvents(
			tx,
			updated.map((s) => ({
				time: now.toISOString(),
				studyId: s.id,
				kind: 'exam_mapped',
				actor: user.username,
				siteId: s.siteId,
				subspecialty: exam.subspecialty,
				modality: s.modality,
				priority: s.priority,
				patientClass: s.patientClass,
				payload: { examCode: exam.examCode, previousExamCode: previous.get(s.id) ?? null, descriptionKey }
			}))
		);
	}

	await tx`DELETE FROM exam_review WHERE modality = ${modality} AND description_key = ${descriptionKey}`;
	await audit(tx, user, 'exam.map', `exam_mapping:${modality}:${descriptionKey}`, null, {
		examCode: exam.examCode,
		studiesUpdated: updated.length
	});
	return { examCode: exam.examCode, examName: exam.examName, studyIds: updated.map((s) => s.id).sort((a, b) => a - b) };
}

/**
 * Deletes a mapping (audited). Studies already mapped keep their exam; new
 * arrivals with this description go back to fuzzy matching or the review list.
 */
export async function deleteExamMapping(
	tx: SqlLike,
	user: User,
	params: { modality: string; descriptionKey: string }
): Promise<void> {
	const [row] = await tx<{ examCode: string }[]>`
		DELETE FROM exam_mappings WHERE modality = ${params.modality} AND description_key = ${params.descriptionKey}
		RETURNING exam_code AS "examCode"`;
	if (!row) throw new ExamMappingError('not_found', 'That mapping no longer exists.');
	await audit(tx, user, 'exam.unmap', `exam_mapping:${params.modality}:${params.descriptionKey}`, null, { examCode: row.examCode });
}
