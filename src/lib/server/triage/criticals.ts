/**
 * AI critical findings after the model spoke: the open flags with their age
 * and confirmation clock, the human decision (confirm / dismiss, audited),
 * and governance figures per model version (flag rate, confirmation rate,
 * image-to-alert time, inference latency) over a window, by day.
 *
 * A dismissal clears the flag but does NOT lower the study's priority: the
 * priority was raised for a reason a human may still agree with, and lowering
 * it is a separate, deliberate worklist command.
 */
import { can, Permission } from '../../domain/auth/roles';
import type { Sql, SqlLike } from '../db/client';
import { audit } from '../auth/guard';
import type { User } from '../auth/users';
import { insertEvents, type StoredEvent } from '../events/store';

/** Minutes within which a pending flag should be confirmed or dismissed. */
export const CRITICAL_CONFIRM_SLA_MINUTES = 15;

export const CriticalDecision = { confirm: 'confirm', dismiss: 'dismiss' } as const;
export type CriticalDecision = (typeof CriticalDecision)[keyof typeof CriticalDecision];

export const CriticalEventKind = { confirmed: 'critical_confirmed', dismissed: 'critical_dismissed' } as const;

export const CriticalsErrorCode = {
	forbidden: 'forbidden',
	notFound: 'not_found',
	alreadyDecided: 'already_decided',
	reasonRequired: 'reason_required'
} as const;
export type CriticalsErrorCode = (typeof CriticalsErrorCode)[keyof typeof CriticalsErrorCode];

/** A refused decision; `status` is the HTTP status the edge answers with. */
export class CriticalsError extends Error {
	constructor(
		readonly code: CriticalsErrorCode,
		message: string,
		options?: { cause?: unknown }
	) {
		super(message, options);
		this.name = 'CriticalsError';
	}
	get status(): number {
		switch (this.code) {
			case CriticalsErrorCode.forbidden:
				return 403;
			case CriticalsErrorCode.notFound:
				return 404;
			case CriticalsErrorCode.alreadyDecided:
				return 409;
			case CriticalsErrorCode.reasonRequired:
				return 422;
			default:
				return this.code satisfies never;
		}
	}
}

/**
 * One critical flag with its study. Columns: id, studyId, accession, siteId, modality, examName,
 * priority, studyStatus, finding, score, modelId, modelVersion, modelMode, status, raisedAt,
 * imageToAlertMs, decidedAt, decidedBy, reason, ageMs, dueAt, remainingMs.
 */
export interface CriticalFlagRow {
	id: number;
	studyId: number;
	accession: string | null;
	siteId: string | null;
	modality: string | null;
	examName: string | null;
	priority: string;
	studyStatus: string;
	finding: string;
	score: number;
	modelId: string;
	modelVersion: string;
	status: 'pending' | 'confirmed' | 'dismissed';
	raisedAt: string;
	imageToAlertMs: number | null;
	decidedAt: string | null;
	decidedBy: string | null;
	reason: string | null;
	/** now − raisedAt */
	ageMs: number;
	/** raisedAt + the confirmation SLA */
	dueAt: string;
	/** dueAt − now; negative when overdue */
	remainingMs: number;
}

const iso = (d: unknown) => (d instanceof Date ? d.toISOString() : d === null || d === undefined ? null : new Date(String(d)).toISOString());

function toFlag(r: Record<string, unknown>, now: Date, slaMinutes: number): CriticalFlagRow {
	const raised = new Date(r.raisedAt as Date);
	const due = raised.getTime() + slaMinutes * 60_000;
	return {
		id: r.id as number,
		studyId: r.studyId as number,
		accession: (r.accession as string | null) ?? null,
		siteId: (r.siteId as string | null) ?? null,
		modality: (r.modality as string | null) ?? null,
		examName: (r.examName as string | null) ?? null,
		priority: r.priority as string,
		studyStatus: r.studyStatus as string,
		finding: r.finding as string,
		score: Number(r.score),
		modelId: r.modelId as string,
		modelVersion: r.modelVersion as string,
		status: r.status as CriticalFlagRow['status'],
		raisedAt: raised.toISOString(),
		imageToAlertMs: r.imageToAlertMs === null ? null : Number(r.imageToAlertMs),
		decidedAt: iso(r.decidedAt),
		decidedBy: (r.decidedBy as string | null) ?? null,
		reason: (r.reason as string | null) ?? null,
		ageMs: now.getTime() - raised.getTime(),
		dueAt: new Date(due).toISOString(),
		remainingMs: due - now.getTime()
	};
}

const FLAG_SELECT = `f.id, f.study_id AS "studyId", s.accession_number AS accession, s.site_id AS "siteId", s.modality,
	s.exam_name AS "examName", s.priority, s.status AS "studyStatus", f.finding, f.score, f.model_id AS "modelId",
	f.model_version AS "modelVersion", f.status, f.raised_at AS "raisedAt", f.image_to_alert_ms AS "imageToAlertMs",
	f.decided_at AS "decidedAt", f.decided_by AS "decidedBy", f.reason
	FROM critical_flags f JOIN studies s ON s.id = f.study_id`;

/** Pending flags, oldest first (the most overdue on top). */
export async function openFlags(sql: SqlLike, params: { now?: Date; slaMinutes?: number } = {}): Promise<CriticalFlagRow[]> {
	const now = params.now ?? new Date();
	const rows = await sql.unsafe(`SELECT ${FLAG_SELECT} WHERE f.status = 'pending' ORDER BY f.raised_at, f.id`);
	return rows.map((r) => toFlag(r, now, params.slaMinutes ?? CRITICAL_CONFIRM_SLA_MINUTES));
}

/** Flags decided in the last `hours` (default 24), newest first. */
export async function recentDecisions(sql: SqlLike, params: { now?: Date; hours?: number; limit?: number; slaMinutes?: number } = {}): Promise<CriticalFlagRow[]> {
	const now = params.now ?? new Date();
	const since = new Date(now.getTime() - (params.hours ?? 24) * 3_600_000);
	const rows = await sql.unsafe(`SELECT ${FLAG_SELECT} WHERE f.status <> 'pending' AND f.decided_at >= $1 ORDER BY f.decided_at DESC LIMIT $2`, [
		since,
		params.limit ?? 50
	]);
	return rows.map((r) => toFlag(r, now, params.slaMinutes ?? CRITICAL_CONFIRM_SLA_MINUTES));
}

/** The study-level flag from all of a study's flags: confirmed wins, then pending, then dismissed. */
function studyFlag(statuses: string[]): 'none' | 'pending' | 'confirmed' | 'dismissed' {
	if (statuses.includes('confirmed')) return 'confirmed';
	if (statuses.includes('pending')) return 'pending';
	if (statuses.includes('dismissed')) return 'dismissed';
	return 'none';
}

/**
 * Confirm or dismiss one pending flag (permission decide_criticals; a
 * dismissal needs a reason). One transaction: the flag, the study's
 * critical_flag, an event for the live dashboard, and the audit row.
 * Priority is left as it is.
 */
export async function decideCritical(
	sql: Sql,
	user: User,
	input: { flagId: number; decision: CriticalDecision; reason?: string | null; at?: Date }
): Promise<{ flag: CriticalFlagRow; studyFlag: string; event: StoredEvent }> {
	if (!can(user.role, Permission.decideCriticals)) {
		throw new CriticalsError(CriticalsErrorCode.forbidden, `Your role (${user.role}) may not decide criticals.`);
	}
	const reason = (input.reason ?? '').trim() || null;
	if (input.decision === CriticalDecision.dismiss && !reason) {
		throw new CriticalsError(CriticalsErrorCode.reasonRequired, 'Say why the finding is dismissed.');
	}
	const at = input.at ?? new Date();
	const status = input.decision === CriticalDecision.confirm ? 'confirmed' : 'dismissed';
	return (await sql.begin(async (tx) => {
		const [f] = await tx`SELECT id, study_id, status, model_id, model_version, finding, score FROM critical_flags WHERE id = ${input.flagId} FOR UPDATE`;
		if (!f) throw new CriticalsError(CriticalsErrorCode.notFound, `No critical flag ${input.flagId}.`);
		if (f.status !== 'pending') throw new CriticalsError(CriticalsErrorCode.alreadyDecided, `This finding was already ${f.status}.`);
		await tx`UPDATE critical_flags SET status = ${status}, decided_at = ${at}, decided_by = ${user.username}, reason = ${reason} WHERE id = ${f.id}`;
		const all = await tx<{ status: string }[]>`SELECT status FROM critical_flags WHERE study_id = ${f.study_id}`;
		const flag = studyFlag(all.map((r) => r.status));
		const [s] = await tx`UPDATE studies SET critical_flag = ${flag}, version = version + 1, updated_at = now() WHERE id = ${f.study_id}
			RETURNING site_id, subspecialty, modality, priority, patient_class`;
		const kind = status === 'confirmed' ? CriticalEventKind.confirmed : CriticalEventKind.dismissed;
		const { inserted } = await insertEvents(tx, [
			{
				time: at.toISOString(),
				studyId: f.study_id,
				kind,
				actor: user.username,
				siteId: s.site_id,
				subspecialty: s.subspecialty,
				modality: s.modality,
				priority: s.priority,
				patientClass: s.patient_class,
				payload: { flagId: f.id, finding: f.finding, modelId: f.model_id, modelVersion: f.model_version, score: f.score, reason, studyFlag: flag },
				idempotencyKey: `critical-decision:${f.id}`
			}
		]);
		await audit(tx, user, `critical.${input.decision}`, `study:${f.study_id}`, reason, {
			flagId: f.id,
			finding: f.finding,
			model: `${f.model_id}@${f.model_version}`,
			score: f.score,
			priorityKept: s.priority
		});
		const [row] = await tx.unsafe(`SELECT ${FLAG_SELECT} WHERE f.id = $1`, [f.id]);
		return { flag: toFlag(row, at, CRITICAL_CONFIRM_SLA_MINUTES), studyFlag: flag, event: inserted[0] };
	})) as { flag: CriticalFlagRow; studyFlag: string; event: StoredEvent };
}

/** One day of one model's activity. */
export interface GovernanceDay {
	day: string;
	runs: number;
	criticalResults: number;
	flags: number;
	confirmed: number;
	dismissed: number;
}

/** Governance figures for one model version over the window. */
export interface ModelGovernance {
	modelId: string;
	modelVersion: string;
	mode: string | null;
	/** Studies with a result row (any status). */
	studiesRun: number;
	/** Results that scored (status ok). */
	scored: number;
	cannotDecode: number;
	errors: number;
	/** Scored results at or above the threshold (shadow included). */
	criticalResults: number;
	/** criticalResults / scored */
	flagRate: number | null;
	flagsRaised: number;
	confirmed: number;
	dismissed: number;
	pending: number;
	/** confirmed / (confirmed + dismissed) */
	confirmationRate: number | null;
	alertMedianMs: number | null;
	alertP95Ms: number | null;
	latencyMedianMs: number | null;
	latencyP95Ms: number | null;
	byDay: GovernanceDay[];
}

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

/** Per model version: runs, flag rate, confirmation rate, alert time and latency percentiles, and a daily series. */
export async function governanceStats(sql: SqlLike, params: { now?: Date; days?: number } = {}): Promise<ModelGovernance[]> {
	const now = params.now ?? new Date();
	const days = params.days ?? 14;
	const since = new Date(now.getTime() - days * 86_400_000);
	const results = await sql`
		SELECT r.model_id, r.model_version, max(m.mode) AS mode,
			count(*)::int AS runs,
			count(*) FILTER (WHERE r.status = 'ok')::int AS scored,
			count(*) FILTER (WHERE r.status = 'cannot_decode')::int AS cannot_decode,
			count(*) FILTER (WHERE r.status = 'error')::int AS errors,
			count(*) FILTER (WHERE r.status = 'ok' AND r.critical)::int AS critical_results,
			percentile_cont(0.5) WITHIN GROUP (ORDER BY r.latency_ms) AS lat50,
			percentile_cont(0.95) WITHIN GROUP (ORDER BY r.latency_ms) AS lat95
		FROM ai_results r LEFT JOIN ai_models m ON m.id = r.model_id AND m.version = r.model_version
		WHERE r.created_at >= ${since} AND r.created_at <= ${now}
		GROUP BY r.model_id, r.model_version`;
	const flags = await sql`
		SELECT model_id, model_version,
			count(*)::int AS raised,
			count(*) FILTER (WHERE status = 'confirmed')::int AS confirmed,
			count(*) FILTER (WHERE status = 'dismissed')::int AS dismissed,
			count(*) FILTER (WHERE status = 'pending')::int AS pending,
			percentile_cont(0.5) WITHIN GROUP (ORDER BY image_to_alert_ms) AS alert50,
			percentile_cont(0.95) WITHIN GROUP (ORDER BY image_to_alert_ms) AS alert95
		FROM critical_flags WHERE raised_at >= ${since} AND raised_at <= ${now}
		GROUP BY model_id, model_version`;
	const dailyResults = await sql`
		SELECT model_id, model_version, to_char(date_trunc('day', created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS day,
			count(*)::int AS runs, count(*) FILTER (WHERE status = 'ok' AND critical)::int AS critical_results
		FROM ai_results WHERE created_at >= ${since} AND created_at <= ${now}
		GROUP BY 1, 2, 3`;
	const dailyFlags = await sql`
		SELECT model_id, model_version, to_char(date_trunc('day', raised_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS day,
			count(*)::int AS flags,
			count(*) FILTER (WHERE status = 'confirmed')::int AS confirmed,
			count(*) FILTER (WHERE status = 'dismissed')::int AS dismissed
		FROM critical_flags WHERE raised_at >= ${since} AND raised_at <= ${now}
		GROUP BY 1, 2, 3`;

	const key = (r: { model_id: string; model_version: string }) => `${r.model_id}@${r.model_version}`;
	const out = new Map<string, ModelGovernance>();
	const entry = (id: string, version: string): ModelGovernance => {
		const k = `${id}@${version}`;
		let e = out.get(k);
		if (!e) {
			e = {
				modelId: id,
				modelVersion: version,
				mode: null,
				studiesRun: 0,
				scored: 0,
				cannotDecode: 0,
				errors: 0,
				criticalResults: 0,
				flagRate: null,
				flagsRaised: 0,
				confirmed: 0,
				dismissed: 0,
				pending: 0,
				confirmationRate: null,
				alertMedianMs: null,
				alertP95Ms: null,
				latencyMedianMs: null,
				latencyP95Ms: null,
				byDay: []
			};
			out.set(k, e);
		}
		return e;
	};
	for (const r of results) {
		const e = entry(r.model_id, r.model_version);
		Object.assign(e, {
			mode: r.mode,
			studiesRun: r.runs,
			scored: r.scored,
			cannotDecode: r.cannot_decode,
			errors: r.errors,
			criticalResults: r.critical_results,
			flagRate: r.scored ? r.critical_results / r.scored : null,
			latencyMedianMs: num(r.lat50),
			latencyP95Ms: num(r.lat95)
		});
	}
	for (const f of flags) {
		const e = entry(f.model_id, f.model_version);
		const decided = f.confirmed + f.dismissed;
		Object.assign(e, {
			flagsRaised: f.raised,
			confirmed: f.confirmed,
			dismissed: f.dismissed,
			pending: f.pending,
			confirmationRate: decided ? f.confirmed / decided : null,
			alertMedianMs: num(f.alert50),
			alertP95Ms: num(f.alert95)
		});
	}
	// A full series of days (zeros included) so the trend chart's x axis is honest.
	const dayList: string[] = [];
	for (let d = days - 1; d >= 0; d--) dayList.push(new Date(now.getTime() - d * 86_400_000).toISOString().slice(0, 10));
	for (const e of out.values()) {
		const k = `${e.modelId}@${e.modelVersion}`;
		const map = new Map(dayList.map((day) => [day, { day, runs: 0, criticalResults: 0, flags: 0, confirmed: 0, dismissed: 0 } as GovernanceDay]));
		for (const r of dailyResults) if (key(r as never) === k && map.has(r.day)) Object.assign(map.get(r.day)!, { runs: r.runs, criticalResults: r.critical_results });
		for (const r of dailyFlags) if (key(r as never) === k && map.has(r.day)) Object.assign(map.get(r.day)!, { flags: r.flags, confirmed: r.confirmed, dismissed: r.dismissed });
		e.byDay = [...map.values()];
	}
	return [...out.values()].sort((a, b) => a.modelId.localeCompare(b.modelId) || b.modelVersion.localeCompare(a.modelVersion));
}
