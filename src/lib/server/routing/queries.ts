/**
 * Reads for routing: the roster (radiologists, their site privileges and
 * shifts) and the open queue, mapped onto the pure engine's shapes, plus the
 * worklist board and the study detail that the dashboard shows.
 */
import { computeDeadline, type RoutingPolicy } from '../../domain/routing/policy';
import {
	CriticalFlag,
	ReaderStatus,
	type QueueItem,
	type Radiologist,
	type RoutingState
} from '../../domain/routing/types';
import { PatientClass, Priority, Subspecialty, StudyStatus } from '../../domain/study/model';
import type { SqlLike } from '../db/client';

const HOUR = 3_600_000;

/** Statuses the router sees: readable and not yet reported. */
export const OPEN_STATUSES = [StudyStatus.complete, StudyStatus.triaged, StudyStatus.assigned, StudyStatus.opened] as const;

/** One open study: the engine's item plus what the service needs to write it back. */
export interface QueueRow {
	item: QueueItem;
	id: number;
	version: number;
	status: StudyStatus;
	/** Epoch ms the study became complete (null when the row lacks it). */
	completeAt: number | null;
	/** Whether `sla_deadline` was empty and `item.deadline` was computed from the policy. */
	deadlineComputed: boolean;
	/** Who made the open assignment ('router' or a username), null when in the pool. */
	assignedBy: string | null;
	/** Explanation stored with the open assignment. */
	assignmentExplanation: string | null;
	assignmentPolicyVersion: number | null;
	examName: string | null;
	examCode: string | null;
	siteName: string | null;
}

export interface ReaderRow extends Radiologist {
	dbId: number;
	maxQueuedRvu: number;
}

const num = (v: unknown, fallback: number): number => {
	const n = typeof v === 'number' ? v : v == null ? NaN : Number(v);
	return Number.isFinite(n) ? n : fallback;
};
const ms = (v: unknown): number | null => (v == null ? null : v instanceof Date ? v.getTime() : Date.parse(String(v)));
const oneOf = <T extends string>(v: unknown, all: readonly T[], fallback: T): T => (all.includes(v as T) ? (v as T) : fallback);

/**
 * Radiologists with site privileges and shifts near `now` (a day either side,
 * enough for "next shift starts in …").
 */
export async function loadRoster(sql: SqlLike, now: number): Promise<ReaderRow[]> {
	const from = new Date(now - 24 * HOUR);
	const to = new Date(now + 24 * HOUR);
	const rows = await sql<
		{ id: number; name: string; subspecialties: string[]; status: string; max_queued_rvu: string; pace_factor: string; sites: string[] | null; shifts: { s: string; e: string }[] | null }[]
	>`
		SELECT r.id, r.name, r.subspecialties, r.status, r.max_queued_rvu, r.pace_factor,
			(SELECT array_agg(rs.site_id ORDER BY rs.site_id) FROM radiologist_sites rs WHERE rs.radiologist_id = r.id) AS sites,
			(SELECT json_agg(json_build_object('s', sh.starts_at, 'e', sh.ends_at) ORDER BY sh.starts_at)
				FROM shifts sh WHERE sh.radiologist_id = r.id AND sh.ends_at > ${from} AND sh.starts_at < ${to}) AS shifts
		FROM radiologists r ORDER BY r.name, r.id`;
	return rows.map((r) => ({
		dbId: r.id,
		id: String(r.id),
		name: r.name,
		subspecialties: (r.subspecialties ?? []).filter((s): s is Subspecialty => (Object.values(Subspecialty) as string[]).includes(s)),
		siteCredentials: r.sites ?? [],
		shifts: (r.shifts ?? []).map((s) => ({ start: Date.parse(s.s), end: Date.parse(s.e) })),
		status: oneOf(r.status, Object.values(ReaderStatus), ReaderStatus.off),
		maxQueuedRvu: num(r.max_queued_rvu, 40),
		paceFactor: num(r.pace_factor, 1)
	}));
}

interface StudyDbRow {
	id: number;
	version: number;
	status: string;
	accession_number: string | null;
	site_id: string | null;
	site_name: string | null;
	modality: string | null;
	subspecialty: string | null;
	rvu: string | null;
	expected_read_minutes: string | null;
	priority: string;
	patient_class: string | null;
	critical_flag: string;
	complete_at: Date | null;
	first_image_at: Date | null;
	ordered_at: Date | null;
	opened_at: Date | null;
	sla_deadline: Date | null;
	patient_id: number | null;
	assigned_to: number | null;
	held: boolean;
	exam_name: string | null;
	exam_code: string | null;
	description: string | null;
	a_actor: string | null;
	a_explanation: string | null;
	a_policy_version: number | null;
}

/** Map one `studies` row onto the engine's queue item. */
export function toQueueRow(r: StudyDbRow, now: number, policy: RoutingPolicy): QueueRow {
	const priority = oneOf(r.priority, Object.values(Priority), Priority.routine);
	const patientClass = oneOf(r.patient_class, Object.values(PatientClass), PatientClass.outpatient);
	const modality = r.modality ?? '';
	const arrivedAt = ms(r.complete_at) ?? ms(r.first_image_at) ?? ms(r.ordered_at) ?? now;
	const stored = ms(r.sla_deadline);
	const deadline = stored ?? computeDeadline({ arrivedAt, priority, patientClass, modality }, policy);
	const status = r.status as StudyStatus;
	const withReader = status === StudyStatus.assigned || status === StudyStatus.opened;
	const critical = r.critical_flag === 'pending' ? CriticalFlag.pending : r.critical_flag === 'confirmed' ? CriticalFlag.confirmed : CriticalFlag.none;
	return {
		id: r.id,
		version: r.version,
		status,
		completeAt: ms(r.complete_at),
		deadlineComputed: stored === null,
		assignedBy: withReader ? r.a_actor : null,
		assignmentExplanation: withReader ? r.a_explanation : null,
		assignmentPolicyVersion: withReader ? r.a_policy_version : null,
		examName: r.exam_name ?? r.description,
		examCode: r.exam_code,
		siteName: r.site_name,
		item: {
			studyId: String(r.id),
			accession: r.accession_number ?? `#${r.id}`,
			site: r.site_id ?? '',
			modality,
			subspecialty: oneOf(r.subspecialty, Object.values(Subspecialty), Subspecialty.general),
			rvu: num(r.rvu, 1),
			expectedReadMinutes: num(r.expected_read_minutes, 10),
			priority,
			patientClass,
			critical,
			arrivedAt,
			deadline,
			// A study without a patient link is its own patient: no false continuity.
			patientId: r.patient_id != null ? String(r.patient_id) : `study:${r.id}`,
			assignedTo: withReader && r.assigned_to != null ? String(r.assigned_to) : null,
			openedAt: status === StudyStatus.opened ? (ms(r.opened_at) ?? arrivedAt) : null,
			held: r.held
		}
	};
}

/** Every readable, unreported study (complete, triaged, assigned, opened). */
export async function loadOpenQueue(sql: SqlLike, now: number, policy: RoutingPolicy): Promise<QueueRow[]> {
	const rows = await sql<StudyDbRow[]>`
		SELECT s.id, s.version, s.status, s.accession_number, s.site_id, si.name AS site_name, s.modality, s.subspecialty,
			s.rvu, s.expected_read_minutes, s.priority, s.patient_class, s.critical_flag, s.complete_at, s.first_image_at,
			s.ordered_at, s.opened_at, s.sla_deadline, s.patient_id, s.assigned_to, s.held, s.exam_name, s.exam_code, s.description,
			a.actor AS a_actor, a.explanation AS a_explanation, a.policy_version AS a_policy_version
		FROM studies s
		LEFT JOIN sites si ON si.id = s.site_id
		LEFT JOIN LATERAL (
			SELECT actor, explanation, policy_version FROM assignments
			WHERE study_id = s.id AND released_at IS NULL ORDER BY assigned_at DESC, id DESC LIMIT 1
		) a ON true
		WHERE s.status IN ${sql(OPEN_STATUSES as unknown as string[])}
		ORDER BY s.id`;
	return rows.map((r) => toQueueRow(r, now, policy));
}

/** Roster and queue as one routing state. */
export async function loadRoutingState(
	sql: SqlLike,
	now: number,
	policy: RoutingPolicy
): Promise<{ readers: ReaderRow[]; rows: QueueRow[]; state: RoutingState }> {
	const [readers, rows] = await Promise.all([loadRoster(sql, now), loadOpenQueue(sql, now, policy)]);
	return { readers, rows, state: { readers, items: rows.map((r) => r.item) } };
}

/** Full detail of one study for the drawer. Patient identifiers included: callers audit the read. */
export async function loadStudyDetail(sql: SqlLike, studyId: number) {
	const [study] = await sql`
		SELECT s.id, s.version, s.status, s.priority, s.accession_number AS "accessionNumber", s.study_instance_uid AS "studyInstanceUid",
			s.exam_code AS "examCode", s.exam_name AS "examName", s.description, s.modality, s.body_region AS "bodyRegion",
			s.subspecialty, s.rvu::float8 AS rvu, s.expected_read_minutes::float8 AS "expectedReadMinutes", s.patient_class AS "patientClass",
			s.site_id AS "siteId", si.name AS "siteName", s.sla_deadline AS "slaDeadline", s.critical_flag AS "criticalFlag", s.held,
			s.assigned_to AS "assignedTo", r.name AS "assignedName", s.series_count AS "seriesCount", s.instance_count AS "instanceCount",
			s.ordered_at AS "orderedAt", s.first_image_at AS "firstImageAt", s.complete_at AS "completeAt", s.triaged_at AS "triagedAt",
			s.assigned_at AS "assignedAt", s.opened_at AS "openedAt", s.reported_at AS "reportedAt", s.cancelled_at AS "cancelledAt",
			s.patient_id AS "patientId", p.mrn, p.issuer, p.location AS "patientLocation"
		FROM studies s
		LEFT JOIN sites si ON si.id = s.site_id
		LEFT JOIN radiologists r ON r.id = s.assigned_to
		LEFT JOIN patients p ON p.id = s.patient_id
		WHERE s.id = ${studyId}`;
	if (!study) return null;
	const patientId = study.patientId as number | null;
	const [events, ai, flags, assignments, labs, priors] = await Promise.all([
		sql`SELECT id, time, kind, actor, payload FROM study_events WHERE study_id = ${studyId} ORDER BY time, id`,
		sql`SELECT model_id AS "modelId", model_version AS "modelVersion", backend, mode, score, label, critical, status, detail,
				latency_ms AS "latencyMs", created_at AS "createdAt"
			FROM ai_results WHERE study_id = ${studyId} ORDER BY created_at`,
		sql`SELECT model_id AS "modelId", model_version AS "modelVersion", finding, score, status, raised_at AS "raisedAt",
				decided_at AS "decidedAt", decided_by AS "decidedBy", reason
			FROM critical_flags WHERE study_id = ${studyId} ORDER BY raised_at`,
		sql`SELECT a.id, a.radiologist_id AS "readerId", r.name AS "readerName", a.assigned_at AS "assignedAt", a.released_at AS "releasedAt",
				a.actor, a.policy_version AS "policyVersion", a.explanation
			FROM assignments a LEFT JOIN radiologists r ON r.id = a.radiologist_id
			WHERE a.study_id = ${studyId} ORDER BY a.assigned_at, a.id`,
		patientId == null
			? Promise.resolve([])
			: sql`SELECT code, label, value, units, reference_range AS "referenceRange", abnormal_flags AS "abnormalFlags", observed_at AS "observedAt"
				FROM clinical_context WHERE patient_id = ${patientId} ORDER BY observed_at DESC NULLS LAST, id DESC LIMIT 50`,
		patientId == null
			? Promise.resolve([])
			: sql`SELECT id, accession_number AS "accessionNumber", exam_name AS "examName", description, modality, subspecialty,
					status, site_id AS "siteId", coalesce(complete_at, first_image_at, ordered_at) AS at, reported_at AS "reportedAt"
				FROM studies WHERE patient_id = ${patientId} AND id <> ${studyId}
				ORDER BY coalesce(complete_at, first_image_at, ordered_at) DESC NULLS LAST, id DESC LIMIT 50`
	]);
	return {
		study,
		events: [...events],
		aiResults: [...ai],
		criticalFlags: [...flags],
		assignments: [...assignments],
		clinicalContext: [...labs],
		priors: [...priors]
	};
}
export type StudyDetail = NonNullable<Awaited<ReturnType<typeof loadStudyDetail>>>;

/** One study card on the worklist board. */
export interface BoardCard {
	id: number;
	version: number;
	accession: string;
	examName: string | null;
	modality: string;
	subspecialty: string;
	site: string;
	siteName: string | null;
	priority: string;
	patientClass: string;
	critical: string;
	held: boolean;
	status: string;
	rvu: number;
	arrivedAt: number;
	deadline: number;
	risk: string;
	riskProbability: number;
	riskReason: string;
	/** Why it sits where it sits (stored assignment reason, or the router's view for pooled work). */
	explanation: string;
	assignedTo: number | null;
	assignedBy: string | null;
	opened: boolean;
}

export interface BoardReader {
	id: number;
	name: string;
	subspecialties: string[];
	sites: string[];
	status: string;
	onShift: boolean;
	shiftEndsAt: number | null;
	queuedRvu: number;
	capRvu: number;
	cards: BoardCard[];
}

export interface Board {
	now: number;
	policyVersion: number;
	pool: BoardCard[];
	readers: BoardReader[];
	lastEventId: number;
}
