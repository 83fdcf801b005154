/**
 * The canonical study model on the database side: patients (issuer + MRN, A40
 * merges), orders by accession, and one study per accession / Study Instance
 * UID whichever side (HL7 order or DICOM images) arrives first.
 *
 * Concurrency: every path that may create or merge a study first takes
 * transaction-scoped advisory locks on its keys (`acc:<accession>`,
 * `uid:<study uid>`, sorted), then the study row locks, then the event-id lock
 * (inside insertEvents). One global order, so no deadlocks; the unique
 * constraints stay the last line of defence.
 */
import type { Sql, SqlLike } from '../db/client';
import { EXAM_CATALOG, toNormalizedExam, type ExamCatalog } from '../../domain/exams/catalog';
import {
	MatchMethod,
	normalizeDescriptionKey,
	normalizeExam,
	type ExamMapping,
	type ExamMatch,
	type ExamQuery
} from '../../domain/exams/normalize';
import { DEFAULT_POLICY, computeDeadline, validatePolicy, type RoutingPolicy } from '../../domain/routing/policy';
import { PatientClass, Priority, type NormalizedExam } from '../../domain/study/model';
import { LOCKED_STUDY_SELECT, seenEventKeys, toLockedStudy, type LockedStudy, type StudyPatch } from '../events/transition';

/** Problems the ingest layer reports with a stable code. */
export class IngestError extends Error {
	readonly code: 'study_not_found' | 'invalid_input';
	constructor(code: IngestError['code'], message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'IngestError';
		this.code = code;
	}
}

// --- patients -----------------------------------------------------------------

export interface PatientKey {
	mrn: string;
	/** Assigning authority (HL7 CX-4, DICOM Issuer of Patient ID); '' when unknown. */
	issuer: string;
}

/** Follows merged_into to the surviving patient. */
async function survivorOf(tx: SqlLike, id: number): Promise<number> {
	const [r] = await tx<{ id: number }[]>`
		WITH RECURSIVE chain(id, merged_into, depth) AS (
			SELECT id, merged_into, 0 FROM patients WHERE id = ${id}
			UNION ALL
			SELECT p.id, p.merged_into, c.depth + 1 FROM patients p JOIN chain c ON p.id = c.merged_into WHERE c.depth < 32
		)
		SELECT id FROM chain WHERE merged_into IS NULL LIMIT 1`;
	return r?.id ?? id;
}

/** Visit fields an upsert may set; null leaves a value as it is. */
export interface PatientVisit {
	patientClass: string | null;
	location: string | null;
}

const NO_VISIT: PatientVisit = { patientClass: null, location: null };

/**
 * The patient row for issuer + MRN, created if missing, in one statement. A given
 * visit is written on the row unless it was merged away (the caller then writes
 * it on the survivor).
 */
async function patientRowId(tx: SqlLike, p: PatientKey, visit: PatientVisit = NO_VISIT): Promise<{ id: number; mergedInto: number | null }> {
	const [r] = await tx<{ id: number; merged_into: number | null }[]>`
		WITH ins AS (
			INSERT INTO patients (mrn, issuer, patient_class, location) VALUES (${p.mrn}, ${p.issuer}, ${visit.patientClass}, ${visit.location})
			ON CONFLICT (issuer, mrn) DO UPDATE SET patient_class = COALESCE(EXCLUDED.patient_class, patients.patient_class),
				location = COALESCE(EXCLUDED.location, patients.location), updated_at = now()
			WHERE patients.merged_into IS NULL AND (EXCLUDED.patient_class IS NOT NULL OR EXCLUDED.location IS NOT NULL)
			RETURNING id, merged_into
		)
		SELECT id, merged_into FROM ins
		UNION ALL SELECT id, merged_into FROM patients WHERE issuer = ${p.issuer} AND mrn = ${p.mrn}
		LIMIT 1`;
	return { id: r.id, mergedInto: r.merged_into };
}

/**
 * Finds or creates a patient by issuer + MRN and returns the id of the surviving
 * record (a merged-away identifier resolves to the patient it was merged into).
 */
export async function upsertPatient(tx: SqlLike, p: PatientKey): Promise<number> {
	const r = await patientRowId(tx, p);
	return r.mergedInto ? survivorOf(tx, r.mergedInto) : r.id;
}

/**
 * {@link upsertPatient} and {@link updatePatientVisit} in one round trip for the
 * usual case (the identifier is not merged away); merged identifiers take the
 * long way to the surviving record.
 */
export async function upsertPatientVisit(tx: SqlLike, p: PatientKey, visit: PatientVisit): Promise<number> {
	const r = await patientRowId(tx, p, visit);
	if (!r.mergedInto) return r.id;
	const survivor = await survivorOf(tx, r.mergedInto);
	if (visit.patientClass || visit.location) await updatePatientVisit(tx, survivor, visit);
	return survivor;
}

/** Sets the patient's class and location (ADT, order PV1). Null leaves a value as it is. */
export async function updatePatientVisit(tx: SqlLike, patientId: number, visit: PatientVisit): Promise<void> {
	await tx`UPDATE patients SET patient_class = COALESCE(${visit.patientClass}, patient_class),
		location = COALESCE(${visit.location}, location), updated_at = now() WHERE id = ${patientId}`;
}

/**
 * ADT^A40: `merged` disappears into `survivor`. The merged record keeps its row
 * (merged_into points at the survivor) so later messages with the old MRN still
 * resolve; its studies, orders and clinical context move to the survivor.
 * @see HL7 v2.5.1 Ch. 3.3.40 (A40 merge patient – patient identifier list)
 */
export async function mergePatients(
	tx: SqlLike,
	survivor: PatientKey,
	merged: PatientKey
): Promise<{ survivorId: number; mergedId: number; studies: number; orders: number }> {
	const survivorId = await upsertPatient(tx, survivor);
	const m = await patientRowId(tx, merged);
	if (m.id === survivorId) return { survivorId, mergedId: m.id, studies: 0, orders: 0 };
	await tx`UPDATE patients SET merged_into = ${survivorId}, updated_at = now()
		WHERE (id = ${m.id} OR merged_into = ${m.id}) AND id <> ${survivorId}`;
	const studies = await tx`UPDATE studies SET patient_id = ${survivorId}, updated_at = now() WHERE patient_id = ${m.id}`;
	const orders = await tx`UPDATE orders SET patient_id = ${survivorId}, updated_at = now() WHERE patient_id = ${m.id}`;
	await tx`UPDATE clinical_context SET patient_id = ${survivorId} WHERE patient_id = ${m.id}`;
	return { survivorId, mergedId: m.id, studies: studies.count, orders: orders.count };
}

// --- orders ---------------------------------------------------------------------

export interface OrderInput {
	accessionNumber: string;
	patientId: number | null;
	placerOrderNumber?: string | null;
	fillerOrderNumber?: string | null;
	procedureCode?: string | null;
	procedureText?: string | null;
	examCode?: string | null;
	modality?: string | null;
	priority: Priority;
	patientClass?: string | null;
	orderingLocation?: string | null;
	status: string;
	orderedAt: string;
}

export interface OrderRow {
	id: number;
	accessionNumber: string;
	patientId: number | null;
	examCode: string | null;
	modality: string | null;
	priority: Priority;
	patientClass: string | null;
	expectedSeries: number | null;
	status: string;
}

const ORDER_COLUMNS = `id, accession_number AS "accessionNumber", patient_id AS "patientId", exam_code AS "examCode",
	modality, priority, patient_class AS "patientClass", expected_series AS "expectedSeries", status`;

/**
 * Inserts or updates the order with this accession; empty values never erase
 * known ones. `previousPriority`: the priority before this call (null for a new order).
 */
export async function upsertOrder(tx: SqlLike, o: OrderInput): Promise<OrderRow & { previousPriority: Priority | null }> {
	const nz = (v: string | null | undefined) => (v ? v : null);
	const [r] = await tx.unsafe<(OrderRow & { previousPriority: Priority | null })[]>(
		`WITH prev AS (SELECT priority FROM orders WHERE accession_number = $1)
		INSERT INTO orders (accession_number, patient_id, placer_order_number, filler_order_number, procedure_code,
			procedure_text, exam_code, modality, priority, patient_class, ordering_location, status, ordered_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (accession_number) DO UPDATE SET
			patient_id = COALESCE(EXCLUDED.patient_id, orders.patient_id),
			placer_order_number = COALESCE(EXCLUDED.placer_order_number, orders.placer_order_number),
			filler_order_number = COALESCE(EXCLUDED.filler_order_number, orders.filler_order_number),
			procedure_code = COALESCE(EXCLUDED.procedure_code, orders.procedure_code),
			procedure_text = COALESCE(EXCLUDED.procedure_text, orders.procedure_text),
			exam_code = COALESCE(EXCLUDED.exam_code, orders.exam_code),
			modality = COALESCE(EXCLUDED.modality, orders.modality),
			priority = EXCLUDED.priority,
			patient_class = COALESCE(EXCLUDED.patient_class, orders.patient_class),
			ordering_location = COALESCE(EXCLUDED.ordering_location, orders.ordering_location),
			status = EXCLUDED.status,
			updated_at = now()
		RETURNING ${ORDER_COLUMNS}, (SELECT priority FROM prev) AS "previousPriority"`,
		[
			o.accessionNumber,
			o.patientId,
			nz(o.placerOrderNumber),
			nz(o.fillerOrderNumber),
			nz(o.procedureCode),
			nz(o.procedureText),
			nz(o.examCode),
			nz(o.modality),
			o.priority,
			nz(o.patientClass),
			nz(o.orderingLocation),
			o.status,
			o.orderedAt
		] as never[],
		{ prepare: true }
	);
	return r;
}

export async function findOrder(tx: SqlLike, accessionNumber: string): Promise<OrderRow | null> {
	const [r] = await tx.unsafe<OrderRow[]>(`SELECT ${ORDER_COLUMNS} FROM orders WHERE accession_number = $1`, [accessionNumber], { prepare: true });
	return r ?? null;
}

export async function setOrderStatus(tx: SqlLike, accessionNumber: string, status: string): Promise<boolean> {
	const r = await tx`UPDATE orders SET status = ${status}, updated_at = now() WHERE accession_number = ${accessionNumber}`;
	return r.count > 0;
}

// --- exam normalization ---------------------------------------------------------

/**
 * Exam normalization with the administrator's mappings from `exam_mappings`,
 * cached and re-read when the table changes (checked at most every `checkMs`)
 * or when `invalidate()` is called.
 */
export class ExamNormalizer {
	private mappings: ExamMapping[] = [];
	private fingerprint = '';
	private checkedAt = -Infinity;
	private loading: Promise<void> | null = null;

	constructor(
		private readonly sql: Sql,
		private readonly catalog: ExamCatalog = EXAM_CATALOG,
		private readonly checkMs = 5_000,
		private readonly clock: () => number = Date.now
	) {}

	/** Forget the cached mappings: the next call re-reads them. */
	invalidate(): void {
		this.checkedAt = -Infinity;
		this.fingerprint = '';
	}

	private async refresh(): Promise<void> {
		if (this.clock() - this.checkedAt < this.checkMs) return;
		this.loading ??= (async () => {
			try {
				const [f] = await this.sql<{ fp: string }[]>`
					SELECT count(*)::text || '/' || coalesce(max(mapped_at)::text, '') AS fp FROM exam_mappings`;
				if (f.fp !== this.fingerprint) {
					const rows = await this.sql<{ modality: string; key: string; code: string }[]>`
						SELECT modality, description_key AS key, exam_code AS code FROM exam_mappings`;
					this.mappings = rows.map((r) => ({ modality: r.modality, descriptionNormalized: r.key, examCode: r.code }));
					this.fingerprint = f.fp;
				}
				this.checkedAt = this.clock();
			} finally {
				this.loading = null;
			}
		})();
		await this.loading;
	}

	/** Normalizes a procedure (code, description, body part) to a catalog exam. */
	async normalize(query: ExamQuery): Promise<ExamMatch> {
		await this.refresh();
		return normalizeExam(query, this.catalog, this.mappings);
	}

	/** The catalog exam with this Radflow exam code, or null. */
	byCode(examCode: string | null | undefined): NormalizedExam | null {
		if (!examCode) return null;
		const e = this.catalog.find((c) => c.examCode === examCode);
		return e ? toNormalizedExam(e) : null;
	}
}

/** Puts an unrecognized procedure on the administrator's review list (method 'none'). */
export async function recordExamReview(tx: SqlLike, modality: string | null, description: string | null): Promise<void> {
	const key = normalizeDescriptionKey(description);
	if (!key || !description) return;
	await tx`INSERT INTO exam_review (modality, description_key, example_description)
		VALUES (${modality ?? ''}, ${key}, ${description})
		ON CONFLICT (modality, description_key) DO UPDATE SET occurrences = exam_review.occurrences + 1, last_seen = now()`;
}

/** Normalizes and records the miss; returns the exam or null. */
export async function normalizeAndReview(tx: SqlLike, normalizer: ExamNormalizer, query: ExamQuery): Promise<NormalizedExam | null> {
	const m = await normalizer.normalize(query);
	if (m.method === MatchMethod.none) await recordExamReview(tx, query.modality ?? null, query.description ?? null);
	return m.exam;
}

/** The study columns an exam fills. */
export function examPatch(exam: NormalizedExam | null): StudyPatch {
	if (!exam) return {};
	return {
		examCode: exam.examCode,
		examName: exam.examName,
		bodyRegion: exam.bodyRegion,
		subspecialty: exam.subspecialty,
		rvu: exam.rvu,
		expectedReadMinutes: exam.expectedReadMinutes
	};
}

// --- studies ----------------------------------------------------------------------

export interface StudyKeys {
	studyInstanceUid?: string | null;
	accessionNumber?: string | null;
}

export interface StudyRef {
	id: number;
	studyInstanceUid: string | null;
	accessionNumber: string | null;
	orderId: number | null;
	patientId: number | null;
	examCode: string | null;
	modality: string | null;
	status: string;
	siteId: string | null;
}

const STUDY_REF = `id, study_instance_uid AS "studyInstanceUid", accession_number AS "accessionNumber",
	order_id AS "orderId", patient_id AS "patientId", exam_code AS "examCode", modality, status, site_id AS "siteId"`;

/** Serializes every writer that may create or merge the study with these keys. */
export async function lockStudyKeys(tx: SqlLike, keys: StudyKeys): Promise<void> {
	const ks = [keys.accessionNumber && `acc:${keys.accessionNumber}`, keys.studyInstanceUid && `uid:${keys.studyInstanceUid}`]
		.filter((k): k is string => !!k)
		.sort();
	// unnest keeps array order: the locks are taken in the sorted order, in one round trip.
	if (ks.length > 0) await tx`SELECT pg_advisory_xact_lock(hashtext(k)) FROM unnest(${ks}::text[]) AS k`;
}

export async function studyByUid(tx: SqlLike, uid: string): Promise<StudyRef | null> {
	const [r] = await tx.unsafe<StudyRef[]>(`SELECT ${STUDY_REF} FROM studies WHERE study_instance_uid = $1`, [uid], { prepare: true });
	return r ?? null;
}

export async function studyByAccession(tx: SqlLike, accession: string): Promise<StudyRef | null> {
	const [r] = await tx.unsafe<StudyRef[]>(`SELECT ${STUDY_REF} FROM studies WHERE accession_number = $1`, [accession], { prepare: true });
	return r ?? null;
}

/** Tables whose rows point at a study and follow it when two rows merge. */
const STUDY_CHILDREN = ['series', 'instances', 'study_events', 'assignments', 'ai_results', 'critical_flags'] as const;

/**
 * Folds `drop` (typically the row an order created) into `keep` (the row images
 * created): children and events move, order link / accession / patient / priority /
 * patient class / exam / ordered_at are taken from `drop` where `keep` lacks them,
 * and `drop` is deleted. Caller holds the key locks.
 */
export async function mergeStudies(tx: SqlLike, keep: number, drop: number): Promise<void> {
	const rows = await tx<Record<string, unknown>[]>`SELECT * FROM studies WHERE id IN (${keep}, ${drop}) ORDER BY id FOR UPDATE`;
	const k = rows.find((r) => r.id === keep);
	const d = rows.find((r) => r.id === drop);
	if (!k || !d) throw new IngestError('study_not_found', `cannot merge study ${drop} into ${keep}: a row is missing`);
	for (const t of STUDY_CHILDREN) await tx.unsafe(`UPDATE ${t} SET study_id = $1 WHERE study_id = $2`, [keep, drop], { prepare: true });
	// Free the unique keys before the survivor takes them.
	await tx`UPDATE studies SET accession_number = NULL, study_instance_uid = NULL WHERE id = ${drop}`;
	await tx`
		UPDATE studies k SET
			accession_number = COALESCE(k.accession_number, ${d.accession_number as string | null}),
			study_instance_uid = COALESCE(k.study_instance_uid, ${d.study_instance_uid as string | null}),
			order_id = COALESCE(k.order_id, d.order_id),
			patient_id = COALESCE(d.patient_id, k.patient_id),
			site_id = COALESCE(k.site_id, d.site_id),
			-- the order's requested procedure and urgency win over what images imply
			priority = CASE WHEN d.order_id IS NOT NULL THEN d.priority ELSE k.priority END,
			patient_class = COALESCE(d.patient_class, k.patient_class),
			exam_code = COALESCE(d.exam_code, k.exam_code),
			exam_name = COALESCE(d.exam_name, k.exam_name),
			body_region = COALESCE(d.body_region, k.body_region),
			subspecialty = COALESCE(d.subspecialty, k.subspecialty),
			rvu = COALESCE(d.rvu, k.rvu),
			expected_read_minutes = COALESCE(d.expected_read_minutes, k.expected_read_minutes),
			modality = COALESCE(k.modality, d.modality),
			description = COALESCE(k.description, d.description),
			ordered_at = COALESCE(k.ordered_at, d.ordered_at),
			version = k.version + 1,
			updated_at = now()
		FROM studies d WHERE k.id = ${keep} AND d.id = ${drop}`;
	await tx`DELETE FROM studies WHERE id = ${drop}`;
}

export interface ResolveOptions {
	/** Values for a new row. */
	create: {
		patientId?: number | null;
		orderId?: number | null;
		priority?: Priority;
		patientClass?: string | null;
		description?: string | null;
		modality?: string | null;
	};
	/**
	 * Names that may identify the site: HL7 sending facility or point-of-care
	 * facility, DICOM Institution Name. The first that matches a site's id or
	 * name (case-insensitive) sets the study's site when it has none.
	 */
	siteHints?: (string | null | undefined)[];
}

/** The site a set of names points to, matching `sites.id` or `sites.name` case-insensitively. */
export async function resolveSiteId(tx: SqlLike, hints: (string | null | undefined)[]): Promise<string | null> {
	const names = siteHintNames(hints);
	if (names.length === 0) return null;
	const [r] = await tx.unsafe<{ id: string | null }[]>(`SELECT (${SITE_FROM_HINTS('$1')}) AS id`, [names] as never[], { prepare: true });
	return r?.id ?? null;
}

/**
 * Finds the one study for these keys, creating it if neither key is known and
 * merging the two rows if the UID and the accession each name a different one.
 * Takes the key locks itself.
 */
export async function resolveStudy(
	tx: SqlLike,
	keys: StudyKeys,
	options: ResolveOptions
): Promise<{ study: StudyRef; created: boolean; mergedFrom: number | null }> {
	const resolved = await resolveStudyRow(tx, keys, options);
	// A new row took its site from the hints as it was inserted.
	if (options.siteHints && !resolved.study.siteId && !resolved.created) {
		resolved.study.siteId = await assignSiteFromHints(tx, resolved.study.id, options.siteHints);
	}
	return resolved;
}

/**
 * Sets a study's site from the first hint naming a site (see {@link resolveSiteId}),
 * when it has none, in one statement. Returns the site id it now has, or null.
 */
async function assignSiteFromHints(tx: SqlLike, studyId: number, hints: (string | null | undefined)[]): Promise<string | null> {
	const names = siteHintNames(hints);
	if (names.length === 0) return null;
	const [r] = await tx.unsafe<{ site_id: string }[]>(
		`UPDATE studies SET site_id = (${SITE_FROM_HINTS('$2')}) WHERE id = $1 AND site_id IS NULL RETURNING site_id`,
		[studyId, names] as never[],
		{ prepare: true }
	);
	return r?.site_id ?? null;
}

function siteHintNames(hints: (string | null | undefined)[]): string[] {
	return hints.map((h) => h?.trim().toLowerCase()).filter((h): h is string => !!h);
}

/** SQL: the id of the site the first matching name (a text[] parameter, lower case) points to, or NULL. */
const SITE_FROM_HINTS = (param: string) => `SELECT s.id FROM unnest(${param}::text[]) WITH ORDINALITY AS h(name, i)
	JOIN sites s ON lower(s.id) = h.name OR lower(s.name) = h.name ORDER BY h.i LIMIT 1`;

/**
 * Takes the key locks and, in the same round trip once they are granted, looks
 * the study up by each key (the two may name different rows: see resolveStudy).
 */
export async function lookupStudyKeys(tx: SqlLike, keys: StudyKeys): Promise<{ byUid: StudyRef | null; byAcc: StudyRef | null }> {
	const uid = keys.studyInstanceUid || null;
	const acc = keys.accessionNumber || null;
	if (!uid && !acc) throw new IngestError('invalid_input', 'a study needs a Study Instance UID or an accession number');
	const [, byUid, byAcc] = await Promise.all([
		lockStudyKeys(tx, { studyInstanceUid: uid, accessionNumber: acc }),
		uid ? studyByUid(tx, uid) : null,
		acc ? studyByAccession(tx, acc) : null
	]);
	return { byUid, byAcc };
}

/**
 * Gives a study found by one key the other key it lacks and, with `siteHints`,
 * the site they name when it has none ({@link resolveSiteId}'s rule). The
 * statements are sent at once (they can share a round trip with what follows);
 * `found` is updated when they complete. Caller holds the key locks.
 */
export function fillStudyKeys(tx: SqlLike, found: StudyRef, keys: StudyKeys, siteHints?: (string | null | undefined)[]): Promise<unknown> {
	const uid = keys.studyInstanceUid || null;
	const acc = keys.accessionNumber || null;
	const sent: Promise<unknown>[] = [];
	if (uid && !found.studyInstanceUid) {
		sent.push(tx`UPDATE studies SET study_instance_uid = ${uid}, updated_at = now() WHERE id = ${found.id}`.execute());
		found.studyInstanceUid = uid;
	} else if (acc && !found.accessionNumber) {
		sent.push(tx`UPDATE studies SET accession_number = ${acc}, updated_at = now() WHERE id = ${found.id}`.execute());
		found.accessionNumber = acc;
	}
	if (siteHints && !found.siteId) sent.push(assignSiteFromHints(tx, found.id, siteHints).then((id) => (found.siteId = id)));
	return Promise.all(sent);
}

/**
 * Inserts a study for keys that name none (caller holds the key locks), returning
 * `columns`; no row when a key was taken after all. The accession may already
 * belong to another identified study: then this one goes without it. The site
 * comes from the hints in the same statement (see resolveSiteId for the rule).
 */
function insertStudy<T extends object>(tx: SqlLike, keys: StudyKeys, options: ResolveOptions, columns: string) {
	const c = options.create;
	return tx.unsafe<T[]>(
		`INSERT INTO studies (study_instance_uid, accession_number, patient_id, order_id, priority, patient_class, description, modality, site_id)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, (${SITE_FROM_HINTS('$9')}))
		 ON CONFLICT DO NOTHING RETURNING ${columns}`,
		[
			keys.studyInstanceUid || null,
			keys.accessionNumber || null,
			c.patientId ?? null,
			c.orderId ?? null,
			c.priority ?? Priority.routine,
			c.patientClass ?? null,
			c.description ?? null,
			c.modality ?? null,
			siteHintNames(options.siteHints ?? [])
		] as never[],
		{ prepare: true }
	);
}

/**
 * The open studies of the patient with this identifier (its surviving record)
 * whose patient class differs from `patientClass`, locked, oldest first. One
 * statement, so it can follow the patient upsert in the same round trip;
 * `patientId` is the survivor the statement resolved to (merges keep one level).
 */
export async function lockOpenStudiesWithOtherClass(
	tx: SqlLike,
	p: PatientKey | { patientId: number },
	patientClass: string
): Promise<{ patientId: number | null; studies: LockedStudy[] }> {
	const patient =
		'patientId' in p
			? { where: 'SELECT $1::bigint AS survivor', values: [p.patientId] }
			: { where: 'SELECT COALESCE(merged_into, id) AS survivor FROM patients WHERE issuer = $1 AND mrn = $2', values: [p.issuer, p.mrn] };
	const n = patient.values.length + 1;
	const rows = await tx.unsafe<(Record<string, unknown> & { survivor: number })[]>(
		`WITH p AS (${patient.where})
		SELECT ${LOCKED_STUDY_SELECT}, p.survivor FROM studies JOIN p ON studies.patient_id = p.survivor
		WHERE status NOT IN ('reported', 'cancelled') AND patient_class IS DISTINCT FROM $${n}
		ORDER BY studies.id FOR UPDATE OF studies`,
		[...patient.values, patientClass] as never[],
		{ prepare: true }
	);
	return { patientId: rows[0]?.survivor ?? null, studies: rows.map((r) => toLockedStudy(r, [])) };
}

/**
 * {@link insertStudy} returning the new row as {@link lockStudyRow} does (the row
 * is new: no other transaction can see it yet). Null when a key was taken after all.
 */
export async function insertStudyRow(tx: SqlLike, keys: StudyKeys, options: ResolveOptions, eventKeys: string[]): Promise<LockedStudy | null> {
	// The insert goes out first, then the key read (seenEventKeys sends its statement at once).
	const insert = insertStudy<Record<string, unknown>>(tx, keys, options, LOCKED_STUDY_SELECT).execute();
	const [[row], seen] = await Promise.all([insert, seenEventKeys(tx, eventKeys)]);
	return row ? toLockedStudy(row, seen) : null;
}

async function resolveStudyRow(
	tx: SqlLike,
	keys: StudyKeys,
	options: ResolveOptions
): Promise<{ study: StudyRef; created: boolean; mergedFrom: number | null }> {
	const uid = keys.studyInstanceUid || null;
	const acc = keys.accessionNumber || null;
	const { byUid, byAcc } = await lookupStudyKeys(tx, keys);
	if (byUid && byAcc && byUid.id !== byAcc.id) {
		// Same accession on a different, already-identified study (one order, several
		// studies): keep them apart rather than fuse two real studies.
		if (byAcc.studyInstanceUid) return { study: byUid, created: false, mergedFrom: null };
		await mergeStudies(tx, byUid.id, byAcc.id);
		return { study: (await studyByUid(tx, uid!))!, created: false, mergedFrom: byAcc.id };
	}
	const found = byUid ?? byAcc;
	if (found) {
		await fillStudyKeys(tx, found, keys);
		return { study: found, created: false, mergedFrom: null };
	}
	const [row] = await insertStudy<StudyRef>(tx, keys, options, STUDY_REF);
	if (row) return { study: row, created: true, mergedFrom: null };
	const again = (uid && (await studyByUid(tx, uid))) || (acc && (await studyByAccession(tx, acc)));
	if (!again) throw new IngestError('study_not_found', 'study insert conflicted but no row was found');
	return { study: again, created: false, mergedFrom: null };
}

// --- SLA --------------------------------------------------------------------------

/** The routing policy in force: the newest published row, else the shipped default. */
export async function currentRoutingPolicy(tx: SqlLike): Promise<RoutingPolicy> {
	const [r] = await tx<{ body: unknown }[]>`SELECT body FROM routing_policies ORDER BY version DESC LIMIT 1`;
	if (!r) return DEFAULT_POLICY;
	const body = typeof r.body === 'string' ? JSON.parse(r.body) : r.body;
	return validatePolicy(body).length === 0 ? (body as RoutingPolicy) : DEFAULT_POLICY;
}

const PATIENT_CLASSES = new Set<string>(Object.values(PatientClass));
const PRIORITIES = new Set<string>(Object.values(Priority));

/**
 * Report deadline (ISO) for a study that became readable at `readyAt`: priority ×
 * patient class × modality from the policy. Unknown class counts as outpatient.
 */
export function slaDeadline(
	policy: RoutingPolicy,
	study: { priority: string; patientClass: string | null; modality: string | null },
	readyAt: string
): string {
	const patientClass = (study.patientClass && PATIENT_CLASSES.has(study.patientClass) ? study.patientClass : PatientClass.outpatient) as PatientClass;
	const priority = (PRIORITIES.has(study.priority) ? study.priority : Priority.routine) as Priority;
	return new Date(computeDeadline({ arrivedAt: Date.parse(readyAt), priority, patientClass, modality: study.modality ?? '' }, policy)).toISOString();
}
