/**
 * Recorded history and the live roster/queue, loaded into the routing
 * engine's types — and the what-if comparison an administrator runs before
 * publishing a routing policy.
 *
 * The comparison replays one window of real arrivals over the readers'
 * recorded shifts and pace four ways: the candidate policy, the policy in
 * force, plain FIFO, and what actually happened.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
	PATIENT_CLASSES,
	PRIORITIES,
	SUBSPECIALTIES,
	type PatientClass,
	type Priority,
	type Subspecialty
} from '../../domain/study/model';
import { assertValidPolicy, DEFAULT_POLICY } from '../../domain/routing/policy';
import { replay, ReplayMode, summarizeActual, type ReplayResult, type ReplayStudy } from '../../domain/routing/replay';
import {
	CriticalFlag,
	READER_STATUSES,
	ReaderStatus,
	type Radiologist,
	type Shift
} from '../../domain/routing/types';
import type { Sql, SqlLike } from '../db/client';
import { audit } from '../auth/guard';
import type { User } from '../auth/users';
import { currentPolicy, publishPolicy, type StoredPolicy } from './policy-store';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Longest window one replay may cover. */
export const MAX_REPLAY_DAYS = 35;
/** Most studies one replay may load (a month of a large network is far below this). */
export const MAX_REPLAY_STUDIES = 250_000;
/** Work arriving late in the window may still be read this long after it. */
export const REPLAY_TAIL_MS = DAY;
/** Shifts this long before the window are loaded too: a night shift may span its start. */
const SHIFT_LEAD_MS = DAY;

export const ReplayDataErrorCode = {
	badWindow: 'bad_window',
	windowTooLong: 'window_too_long',
	tooManyStudies: 'too_many_studies'
} as const;
export type ReplayDataErrorCode = (typeof ReplayDataErrorCode)[keyof typeof ReplayDataErrorCode];

/** A replay the server refuses to run; `message` is meant for the administrator. */
export class ReplayDataError extends Error {
	constructor(
		readonly code: ReplayDataErrorCode,
		message: string,
		options?: { cause?: unknown }
	) {
		super(message, options);
		this.name = 'ReplayDataError';
	}
}

export interface ReplayWindow {
	/** Inclusive start, epoch ms or Date. */
	from: number | Date;
	/** Exclusive end, epoch ms or Date. */
	to: number | Date;
}

const ms = (t: number | Date) => (typeof t === 'number' ? t : t.getTime());
const num = (v: unknown, fallback: number) => {
	const n = v === null || v === undefined ? NaN : Number(v);
	return Number.isFinite(n) ? n : fallback;
};
const time = (v: unknown): number | null => (v === null || v === undefined ? null : new Date(v as string | Date).getTime());

function asPriority(v: unknown): Priority {
	return (PRIORITIES as unknown[]).includes(v) ? (v as Priority) : 'routine';
}
function asPatientClass(v: unknown): PatientClass {
	return (PATIENT_CLASSES as unknown[]).includes(v) ? (v as PatientClass) : 'O';
}
function asSubspecialty(v: unknown): Subspecialty {
	return (SUBSPECIALTIES as unknown[]).includes(v) ? (v as Subspecialty) : 'general';
}
function asCritical(v: unknown): CriticalFlag {
	// A dismissed flag no longer moves the study.
	return v === CriticalFlag.pending || v === CriticalFlag.confirmed ? v : CriticalFlag.none;
}

/** Merge overlapping or touching shifts so each reader has disjoint working blocks. */
function mergeShifts(list: Shift[]): Shift[] {
	const sorted = list.filter((s) => s.end > s.start).sort((a, b) => a.start - b.start || a.end - b.end);
	const out: Shift[] = [];
	for (const s of sorted) {
		const last = out[out.length - 1];
		if (last && s.start <= last.end) last.end = Math.max(last.end, s.end);
		else out.push({ ...s });
	}
	return out;
}

/**
 * The roster with site privileges, recorded pace and the shifts overlapping
 * [from, to), ordered by radiologist id so replays are deterministic.
 */
export async function loadRoster(sql: SqlLike, from: number, to: number): Promise<Radiologist[]> {
	const rows = await sql`
		SELECT r.id, r.name, r.subspecialties, r.status, r.max_queued_rvu, r.pace_factor,
			coalesce((SELECT array_agg(rs.site_id ORDER BY rs.site_id) FROM radiologist_sites rs WHERE rs.radiologist_id = r.id), '{}') AS sites
		FROM radiologists r ORDER BY r.id`;
	const shifts = await sql`
		SELECT radiologist_id, starts_at, ends_at FROM shifts
		WHERE starts_at < ${new Date(to)} AND ends_at > ${new Date(from)}
		ORDER BY radiologist_id, starts_at, id`;
	const byReader = new Map<number, Shift[]>();
	for (const s of shifts) {
		const id = Number(s.radiologist_id);
		let list = byReader.get(id);
		if (!list) byReader.set(id, (list = []));
		list.push({ start: time(s.starts_at)!, end: time(s.ends_at)! });
	}
	return rows.map((r) => ({
		id: String(r.id),
		name: r.name as string,
		subspecialties: (r.subspecialties as string[]).filter((s) => (SUBSPECIALTIES as string[]).includes(s)) as Subspecialty[],
		siteCredentials: r.sites as string[],
		shifts: mergeShifts(byReader.get(Number(r.id)) ?? []),
		status: (READER_STATUSES as unknown[]).includes(r.status) ? (r.status as ReaderStatus) : ReaderStatus.off,
		maxQueuedRvu: num(r.max_queued_rvu, NaN) > 0 ? Number(r.max_queued_rvu) : undefined,
		paceFactor: num(r.pace_factor, 1)
	}));
}

/**
 * Studies that became complete in [from, to) (cancelled ones left out), with
 * what actually happened to them. Missing exam figures fall back to 1 RVU and
 * 10 expected minutes, so an unmapped exam still takes a reader's time.
 */
export async function loadReplayStudies(sql: SqlLike, from: number, to: number): Promise<ReplayStudy[]> {
	const rows = await sql`
		SELECT s.id, s.accession_number, s.site_id, s.modality, s.subspecialty, s.rvu, s.expected_read_minutes,
			s.priority, coalesce(s.patient_class, o.patient_class, p.patient_class) AS patient_class,
			s.critical_flag, s.complete_at, s.opened_at, s.reported_at, s.patient_id
		FROM studies s
		LEFT JOIN orders o ON o.id = s.order_id
		LEFT JOIN patients p ON p.id = s.patient_id
		WHERE s.complete_at >= ${new Date(from)} AND s.complete_at < ${new Date(to)} AND s.status <> 'cancelled'
		ORDER BY s.complete_at, s.id
		LIMIT ${MAX_REPLAY_STUDIES + 1}`;
	if (rows.length > MAX_REPLAY_STUDIES) {
		throw new ReplayDataError(
			ReplayDataErrorCode.tooManyStudies,
			`More than ${MAX_REPLAY_STUDIES} studies in this window; replay a shorter one.`
		);
	}
	return rows.map((r) => {
		const reportedAt = time(r.reported_at);
		return {
			studyId: String(r.id),
			accession: r.accession_number ?? undefined,
			site: r.site_id ?? 'unknown',
			modality: r.modality ?? 'OT',
			subspecialty: asSubspecialty(r.subspecialty),
			rvu: num(r.rvu, 1),
			expectedReadMinutes: Math.max(0.5, num(r.expected_read_minutes, 10)),
			priority: asPriority(r.priority),
			patientClass: asPatientClass(r.patient_class),
			critical: asCritical(r.critical_flag),
			arrivedAt: time(r.complete_at)!,
			patientId: r.patient_id === null ? `study:${r.id}` : String(r.patient_id),
			// A report without an "opened" stamp (reported straight from the RIS) still started some time.
			actualStartedAt: time(r.opened_at) ?? reportedAt,
			actualReportedAt: reportedAt
		} satisfies ReplayStudy;
	});
}

/** Stable text of a candidate policy (keys sorted, the version label left out: publishing assigns it). */
export function canonicalPolicy(candidate: unknown): string {
	const walk = (v: unknown): string => {
		if (v === null || typeof v !== 'object') return JSON.stringify(v ?? null);
		if (Array.isArray(v)) return `[${v.map(walk).join(',')}]`;
		const o = v as Record<string, unknown>;
		return `{${Object.keys(o)
			.filter((k) => o[k] !== undefined)
			.sort()
			.map((k) => `${JSON.stringify(k)}:${walk(o[k])}`)
			.join(',')}}`;
	};
	if (candidate && typeof candidate === 'object' && !Array.isArray(candidate)) {
		const { version: _version, ...rest } = candidate as Record<string, unknown>;
		return walk(rest);
	}
	return walk(candidate);
}

/** SHA-256 of `canonicalPolicy`: what a replay receipt and a publish request must agree on. */
export function candidateHash(candidate: unknown): string {
	return createHash('sha256').update(canonicalPolicy(candidate)).digest('hex');
}

/** The figures a comparison shows for one way of running the window. */
export type ReplaySummary = Omit<ReplayResult, 'outcomes'>;

export interface ReplayComparison {
	window: { from: string; to: string; until: string };
	studies: number;
	readers: number;
	candidate: ReplaySummary;
	current: ReplaySummary;
	fifo: ReplaySummary;
	actual: ReplaySummary;
	/** Version number of the policy in force (0 = built-in default). */
	currentVersion: number;
	/** The candidate's SLA targets differ from the policy in force: "current" breaches are judged against its own targets. */
	targetsDiffer: boolean;
	elapsedSeconds: number;
}

/** Check a window and return it as epoch ms. @throws ReplayDataError */
export function checkWindow(window: ReplayWindow): { from: number; to: number } {
	const from = ms(window.from);
	const to = ms(window.to);
	if (!Number.isFinite(from) || !Number.isFinite(to) || to <= from) {
		throw new ReplayDataError(ReplayDataErrorCode.badWindow, 'The replay window must end after it starts.');
	}
	if (to - from > MAX_REPLAY_DAYS * DAY) {
		const days = Math.ceil((to - from) / DAY);
		throw new ReplayDataError(
			ReplayDataErrorCode.windowTooLong,
			`A replay covers at most ${MAX_REPLAY_DAYS} days (asked for ${days}); choose a shorter window.`
		);
	}
	return { from, to };
}

/**
 * Replay the studies that became complete in [from, to) under the candidate
 * policy, the policy in force and FIFO, next to what actually happened.
 *
 * The clock runs to `to` + 24 h (capped at `now`) so late arrivals get read;
 * all four are cut at that same instant. Candidate, FIFO and actual are judged
 * against the candidate's SLA targets; "current" routes and is judged by its
 * own. Studies still in the queue when the window opens are not replayed, so
 * replays start from an empty room.
 *
 * @throws PolicyError when the candidate is invalid (every problem listed)
 * @throws ReplayDataError for a window that is too long or too full
 */
export async function runReplayComparison(
	sql: SqlLike,
	candidatePolicy: unknown,
	window: ReplayWindow,
	options: { now?: number } = {}
): Promise<ReplayComparison> {
	const candidate = assertValidPolicy(candidatePolicy);
	const { from, to } = checkWindow(window);
	const started = performance.now();
	const until = Math.max(to, Math.min(to + REPLAY_TAIL_MS, options.now ?? Date.now()));

	const [stored, studies, roster] = await Promise.all([
		currentPolicy(sql),
		loadReplayStudies(sql, from, to),
		loadRoster(sql, from - SHIFT_LEAD_MS, until)
	]);
	const strip = ({ outcomes: _o, ...rest }: ReplayResult): ReplaySummary => rest;
	const label = { ...candidate, version: candidate.version?.trim() ? candidate.version : 'candidate' };
	const result: ReplayComparison = {
		window: { from: new Date(from).toISOString(), to: new Date(to).toISOString(), until: new Date(until).toISOString() },
		studies: studies.length,
		readers: roster.filter((r) => r.shifts.length > 0).length,
		candidate: strip(replay(studies, roster, label, { mode: ReplayMode.policy, until })),
		current: strip(replay(studies, roster, stored.policy, { mode: ReplayMode.policy, until })),
		fifo: strip(replay(studies, roster, label, { mode: ReplayMode.fifo, until })),
		actual: strip(summarizeActual(studies, label, until)),
		currentVersion: stored.version,
		targetsDiffer:
			canonicalPolicy({ a: candidate.slaTargetsMinutes, b: candidate.modalitySlaOverrides ?? null }) !==
			canonicalPolicy({ a: stored.policy.slaTargetsMinutes, b: stored.policy.modalitySlaOverrides ?? null }),
		elapsedSeconds: 0
	};
	result.elapsedSeconds = Math.round((performance.now() - started) / 10) / 100;
	return result;
}

/** How long a replay stays good for publishing the same candidate. */
export const REPLAY_RECEIPT_TTL_MS = 30 * MINUTE;

export const PublishErrorCode = {
	replayRequired: 'replay_required',
	unknownVersion: 'unknown_version'
} as const;
export type PublishErrorCode = (typeof PublishErrorCode)[keyof typeof PublishErrorCode];

export class PublishError extends Error {
	constructor(
		readonly code: PublishErrorCode,
		message: string,
		options?: { cause?: unknown }
	) {
		super(message, options);
		this.name = 'PublishError';
	}
}

/**
 * Record that `user` replayed the candidate with this hash. The receipt is an
 * audit row: it survives restarts, works across web instances, and leaves a
 * trail of what was evaluated before a publish.
 */
export async function recordReplayReceipt(sql: Sql, user: User, hash: string, comparison: ReplayComparison): Promise<void> {
	const brief = (s: ReplaySummary) => ({ tatP50Min: s.tatP50Min, tatP90Min: s.tatP90Min, breaches: s.breaches, maxWaitMin: s.maxWaitMin });
	await sql.begin((tx) =>
		audit(tx, user, 'policy.replay', 'policy:candidate', null, {
			hash,
			window: comparison.window,
			studies: comparison.studies,
			candidate: brief(comparison.candidate),
			current: brief(comparison.current),
			fifo: brief(comparison.fifo),
			actual: brief(comparison.actual)
		})
	);
}

/**
 * Whether `user` replayed exactly this candidate within the receipt lifetime
 * and after the newest publish: a replay compared against a policy that is no
 * longer in force (or already published) does not count.
 */
export async function hasReplayReceipt(sql: SqlLike, user: User, hash: string, now = Date.now()): Promise<boolean> {
	const [row] = await sql`SELECT 1 AS ok FROM audit_log
		WHERE action = 'policy.replay' AND user_id = ${user.id} AND details->>'hash' = ${hash}
			AND at > ${new Date(now - REPLAY_RECEIPT_TTL_MS)}
			AND at > (SELECT coalesce(max(published_at), '-infinity'::timestamptz) FROM routing_policies)
		LIMIT 1`;
	return Boolean(row);
}

/**
 * Publish a candidate that this user replayed (the hash the form carries must
 * be the candidate's own, and a receipt for it must exist). Validation, the
 * new version and its audit row commit in one transaction.
 * @throws PolicyError, PublishError
 */
export async function publishReplayed(sql: Sql, user: User, candidate: unknown, replayHash: string | null, note: string | null): Promise<StoredPolicy> {
	const policy = assertValidPolicy(candidate);
	const hash = candidateHash(policy);
	if (!replayHash) throw new PublishError(PublishErrorCode.replayRequired, 'Replay this candidate before publishing it.');
	if (replayHash !== hash) {
		throw new PublishError(PublishErrorCode.replayRequired, 'The candidate changed since its replay; replay it again before publishing.');
	}
	return sql.begin(async (tx) => {
		if (!(await hasReplayReceipt(tx, user, hash))) {
			throw new PublishError(
				PublishErrorCode.replayRequired,
				`No replay of this candidate by ${user.username} in the last ${REPLAY_RECEIPT_TTL_MS / MINUTE} minutes; replay it before publishing.`
			);
		}
		return publishPolicy(tx, user, policy, note);
	}) as Promise<StoredPolicy>;
}

/**
 * Roll back: publish an earlier version's body as a new version (history is
 * never edited). Version 0 is the built-in default.
 * @throws PublishError when the version does not exist
 */
export async function rollbackPolicy(sql: Sql, user: User, version: number, note: string | null): Promise<StoredPolicy> {
	return sql.begin(async (tx) => {
		let body: unknown;
		if (version === 0) body = DEFAULT_POLICY;
		else {
			const [row] = await tx`SELECT body FROM routing_policies WHERE version = ${version}`;
			if (!row) throw new PublishError(PublishErrorCode.unknownVersion, `There is no policy version ${version}.`);
			body = row.body;
		}
		const text = `roll back to v${version}${note ? `: ${note}` : ''}`;
		const published = await publishPolicy(tx, user, body, text);
		await audit(tx, user, 'policy.rollback', `policy:v${published.version}`, note, { from: version, to: published.version });
		return published;
	}) as Promise<StoredPolicy>;
}
