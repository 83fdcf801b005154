/**
 * The one way to change a study's state: in one transaction, lock the
 * current-state row, ask the pure lifecycle what the event means, update the
 * row, append the event (idempotent on its key) and enqueue follow-up jobs.
 */
import { applyStudyEvent, FollowUp, type StudyEvent } from '../../domain/study/lifecycle';
import type { Priority, StudyState, StudyStatus } from '../../domain/study/model';
import type { Sql, SqlLike } from '../db/client';
import { JobName, type JobQueue } from '../jobs/queue';
import { insertEvents, type EventDimensions, type NewEvent, type StoredEvent } from './store';

/** Columns a command may set beside the lifecycle fields (normalization results, links). */
export interface StudyPatch {
	studyInstanceUid?: string;
	accessionNumber?: string;
	orderId?: number;
	patientId?: number;
	siteId?: string;
	description?: string;
	examCode?: string;
	examName?: string;
	modality?: string;
	bodyRegion?: string;
	subspecialty?: string;
	rvu?: number;
	expectedReadMinutes?: number;
	patientClass?: string;
	slaDeadline?: string | null;
	criticalFlag?: 'none' | 'pending' | 'confirmed' | 'dismissed';
	assignedTo?: number | null;
	held?: boolean;
	lastImageAt?: string;
	reportedBy?: string;
}

export interface StudyCommand {
	studyId: number;
	event: StudyEvent;
	actor: string;
	payload?: Record<string, unknown>;
	idempotencyKey?: string;
	patch?: StudyPatch;
	/** Optimistic concurrency for dashboard commands: refuse if the row moved on. */
	expectedVersion?: number;
}

export type CommandOutcome =
	| { status: 'applied'; study: StudyRow; event: StoredEvent }
	| { status: 'duplicate' }
	| { status: 'refused'; reason: string }
	| { status: 'conflict'; currentVersion: number }
	| { status: 'not_found' };

export interface StudyRow extends StudyState {
	id: number;
	version: number;
	siteId: string | null;
	subspecialty: string | null;
	modality: string | null;
	patientClass: string | null;
	accessionNumber: string | null;
	assignedTo: number | null;
	criticalFlag: string;
	held: boolean;
}

const PATCH_COLUMNS: Record<keyof StudyPatch, string> = {
	studyInstanceUid: 'study_instance_uid',
	accessionNumber: 'accession_number',
	orderId: 'order_id',
	patientId: 'patient_id',
	siteId: 'site_id',
	description: 'description',
	examCode: 'exam_code',
	examName: 'exam_name',
	modality: 'modality',
	bodyRegion: 'body_region',
	subspecialty: 'subspecialty',
	rvu: 'rvu',
	expectedReadMinutes: 'expected_read_minutes',
	patientClass: 'patient_class',
	slaDeadline: 'sla_deadline',
	criticalFlag: 'critical_flag',
	assignedTo: 'assigned_to',
	held: 'held',
	lastImageAt: 'last_image_at',
	reportedBy: 'reported_by'
};

/** Patch fields that are also {@link StudyRow} fields: a fold's new row carries them. */
const ROW_PATCH_KEYS = ['siteId', 'subspecialty', 'modality', 'patientClass', 'accessionNumber', 'assignedTo', 'criticalFlag', 'held'] as const satisfies readonly (keyof StudyPatch & keyof StudyRow)[];

const ROW_SELECT = `id, version, status, priority, site_id AS "siteId", subspecialty, modality,
	patient_class AS "patientClass", accession_number AS "accessionNumber", assigned_to AS "assignedTo",
	critical_flag AS "criticalFlag", held,
	ordered_at AS "orderedAt", first_image_at AS "firstImageAt", complete_at AS "completeAt",
	triaged_at AS "triagedAt", assigned_at AS "assignedAt", opened_at AS "openedAt",
	reported_at AS "reportedAt", cancelled_at AS "cancelledAt"`;

function iso(v: unknown): string | null {
	if (v === null || v === undefined) return null;
	return v instanceof Date ? v.toISOString() : String(v);
}

function toRow(r: Record<string, unknown>): StudyRow {
	return {
		...(r as unknown as StudyRow),
		status: r.status as StudyStatus,
		priority: r.priority as Priority,
		orderedAt: iso(r.orderedAt),
		firstImageAt: iso(r.firstImageAt),
		completeAt: iso(r.completeAt),
		triagedAt: iso(r.triagedAt),
		assignedAt: iso(r.assignedAt),
		openedAt: iso(r.openedAt),
		reportedAt: iso(r.reportedAt),
		cancelledAt: iso(r.cancelledAt)
	};
}

/** Turnaround from complete (or first image) to report, in minutes, for rollups. */
function turnaroundMinutes(s: StudyState): number | null {
	const start = s.completeAt ?? s.firstImageAt;
	if (!start || !s.reportedAt) return null;
	return Math.round(((Date.parse(s.reportedAt) - Date.parse(start)) / 60000) * 10) / 10;
}

/** A study's state for a lifecycle fold: its row, its order link, and which of the asked idempotency keys are recorded. */
export interface LockedStudy {
	row: StudyRow;
	orderId: number | null;
	seenKeys: Set<string>;
}

/** The columns of a {@link LockedStudy} (see {@link toLockedStudy}). */
export const LOCKED_STUDY_SELECT = `${ROW_SELECT}, order_id AS "orderId"`;

/** A row selected with {@link LOCKED_STUDY_SELECT}, and the recorded keys, as a LockedStudy. */
export function toLockedStudy(r: Record<string, unknown>, seen: { key: string }[]): LockedStudy {
	return { row: toRow(r), orderId: (r.orderId as number | null) ?? null, seenKeys: new Set(seen.map((k) => k.key)) };
}

/** The event keys among `keys` already recorded; the statement is sent at once. */
export function seenEventKeys(tx: SqlLike, keys: string[]): Promise<{ key: string }[]> {
	return keys.length > 0 ? tx<{ key: string }[]>`SELECT key FROM event_keys WHERE key = ANY(${keys}::text[])`.execute() : Promise.resolve([]);
}

/**
 * Locks one study row (by id or accession) and reads which of `keys` are
 * recorded, in one round trip: the state a fold starts from. The key read is
 * pipelined behind the lock, so it sees what the lock's previous holder
 * committed (two retries of one command serialize on the row). Null if no such study.
 */
export async function lockStudyRow(tx: SqlLike, where: { id: number } | { accession: string }, keys: string[]): Promise<LockedStudy | null> {
	// Sent in this order, the lock first (a postgres.js query goes out when executed or awaited).
	const lock = ('id' in where
		? tx.unsafe(`SELECT ${LOCKED_STUDY_SELECT} FROM studies WHERE id = $1 FOR UPDATE`, [where.id], { prepare: true })
		: tx.unsafe(`SELECT ${LOCKED_STUDY_SELECT} FROM studies WHERE accession_number = $1 FOR UPDATE`, [where.accession], { prepare: true })
	).execute();
	const [[row], seen] = await Promise.all([lock, seenEventKeys(tx, keys)]);
	return row ? toLockedStudy(row, seen) : null;
}

/**
 * Apply a command inside the caller's transaction.
 *
 * Two round trips: the row lock and the idempotency check ({@link lockStudyRow}),
 * then the row update and the event append, pipelined. The new
 * state is computed by the same fold the batch paths use.
 */
export async function applyStudyCommandTx(tx: SqlLike, jobs: JobQueue | null, cmd: StudyCommand): Promise<CommandOutcome> {
	const locked = await lockStudyRow(tx, { id: cmd.studyId }, cmd.idempotencyKey ? [cmd.idempotencyKey] : []);
	if (!locked) return { status: 'not_found' };
	if (locked.seenKeys.size > 0) return { status: 'duplicate' };
	const { row } = locked;
	if (cmd.expectedVersion !== undefined && cmd.expectedVersion !== row.version) {
		return { status: 'conflict', currentVersion: row.version };
	}
	const fold = foldStudyCommands(row, new Set(), [cmd]);
	const outcome = fold.outcomes[0];
	if (outcome.status !== 'applied' || !fold.update) return outcome.status === 'refused' ? outcome : { status: 'duplicate' };
	// execute() sends the update now, ahead of the event append it is pipelined with.
	const update = tx.unsafe(fold.update.text, fold.update.values as never[], { prepare: true }).execute();
	const [, { inserted }] = await Promise.all([update, insertEvents(tx, [outcome.event])]);
	await sendFollowUps(tx, jobs, cmd.studyId, fold.followUps);
	return { status: 'applied', study: fold.next, event: inserted[0] };
}

/** One command of a {@link foldStudyCommands} run (no optimistic version: ingest only). */
export type FoldedCommand = Omit<StudyCommand, 'studyId' | 'expectedVersion'>;

export type FoldOutcome = { status: 'applied'; event: NewEvent } | { status: 'duplicate' } | { status: 'refused'; reason: string };

/** The study columns selected by {@link foldStudyCommands}' callers (aliases match {@link StudyRow}). */
export const STUDY_ROW_SELECT = ROW_SELECT;

/** A raw studies row selected with {@link STUDY_ROW_SELECT} → StudyRow. */
export const toStudyRow = toRow;

/**
 * High-volume variant of {@link applyStudyCommandTx} for many commands on ONE
 * study (a batch of images), without I/O: the pure lifecycle folded over the
 * commands in order. The caller, holding the row lock, writes `update` (ONE
 * row update however many commands) and appends `events` with every other
 * study's in a single {@link insertEvents} call after all its row locks (the
 * global lock order is: key locks, study rows, event-id lock), then enqueues
 * `followUps`.
 *
 * Each applied command yields exactly the event it would have yielded alone
 * (kind, key, payload status and note); only `version` moves once.
 * `seenKeys`: idempotency keys already recorded (event_keys), read under the lock.
 * `dims`: event dimensions after the update, when the caller changes them beside the patch.
 */
export function foldStudyCommands(
	current: StudyRow,
	seenKeys: ReadonlySet<string>,
	commands: FoldedCommand[],
	dims: EventDimensions = {}
): { next: StudyRow; outcomes: FoldOutcome[]; followUps: FollowUp[]; update: { text: string; values: unknown[] } | null } {
	const seen = new Set(seenKeys);
	let row = current;
	const outcomes: FoldOutcome[] = [];
	const followUps = new Set<FollowUp>();
	const patch: StudyPatch = {};
	const applied: { cmd: FoldedCommand; note: string | null; status: StudyStatus; tat: number | null; index: number }[] = [];
	for (const cmd of commands) {
		if (cmd.idempotencyKey) {
			if (seen.has(cmd.idempotencyKey)) {
				outcomes.push({ status: 'duplicate' });
				continue;
			}
			seen.add(cmd.idempotencyKey);
		}
		const result = applyStudyEvent(row, cmd.event);
		if (!result.ok) {
			outcomes.push({ status: 'refused', reason: result.reason });
			continue;
		}
		row = { ...row, ...result.state };
		Object.assign(patch, cmd.patch ?? {});
		for (const f of result.followUps) followUps.add(f);
		const tat = cmd.event.kind === 'reported' ? turnaroundMinutes(result.state) : null;
		applied.push({ cmd, note: result.note ?? null, status: result.state.status, tat, index: outcomes.length });
		outcomes.push({ status: 'duplicate' }); // replaced below
	}
	if (applied.length === 0) return { next: row, outcomes, followUps: [], update: null };

	const sets: string[] = [];
	const values: unknown[] = [];
	const set = (col: string, v: unknown) => {
		values.push(v);
		sets.push(`${col} = $${values.length}`);
	};
	set('status', row.status);
	set('priority', row.priority);
	set('ordered_at', row.orderedAt);
	set('first_image_at', row.firstImageAt);
	set('complete_at', row.completeAt);
	set('triaged_at', row.triagedAt);
	set('assigned_at', row.assignedAt);
	set('opened_at', row.openedAt);
	set('reported_at', row.reportedAt);
	set('cancelled_at', row.cancelledAt);
	for (const [k, v] of Object.entries(patch)) {
		if (v !== undefined) set(PATCH_COLUMNS[k as keyof StudyPatch], v);
	}
	values.push(current.id);
	const update = { text: `UPDATE studies SET ${sets.join(', ')}, version = version + 1, updated_at = now() WHERE id = $${values.length}`, values };
	const next: StudyRow = { ...row, version: current.version + 1 };
	for (const k of ROW_PATCH_KEYS) {
		if (patch[k] !== undefined) (next as unknown as Record<string, unknown>)[k] = patch[k];
	}
	for (const a of applied) {
		outcomes[a.index] = {
			status: 'applied',
			event: {
				time: a.cmd.event.at,
				studyId: current.id,
				kind: a.cmd.event.kind,
				actor: a.cmd.actor,
				siteId: dims.siteId !== undefined ? dims.siteId : next.siteId,
				subspecialty: dims.subspecialty !== undefined ? dims.subspecialty : next.subspecialty,
				modality: dims.modality !== undefined ? dims.modality : next.modality,
				priority: dims.priority !== undefined ? dims.priority : next.priority,
				patientClass: dims.patientClass !== undefined ? dims.patientClass : next.patientClass,
				payload: { ...a.cmd.payload, status: a.status, ...(a.note ? { note: a.note } : {}), ...(a.tat !== null ? { tat_minutes: a.tat } : {}) },
				idempotencyKey: a.cmd.idempotencyKey ?? null
			}
		};
	}
	return { next, outcomes, followUps: [...followUps], update };
}

const FOLLOW_UP_QUEUE: Record<FollowUp, JobName> = { [FollowUp.triage]: JobName.triage, [FollowUp.route]: JobName.route };

/** Enqueues a fold's follow-up jobs inside the transaction (pipelined: one round trip). */
export async function sendFollowUps(tx: SqlLike, jobs: JobQueue | null, studyId: number, followUps: FollowUp[]): Promise<void> {
	if (!jobs) return;
	await Promise.all(followUps.map((f) => jobs.send(FOLLOW_UP_QUEUE[f], { studyId }, { tx })));
}

/** Apply a command in its own transaction. */
export function applyStudyCommand(sql: Sql, jobs: JobQueue | null, cmd: StudyCommand): Promise<CommandOutcome> {
	return sql.begin((tx) => applyStudyCommandTx(tx, jobs, cmd)) as Promise<CommandOutcome>;
}

/** Read one study's current state. */
export async function getStudyRow(sql: SqlLike, studyId: number): Promise<StudyRow | null> {
	const [r] = await sql.unsafe(`SELECT ${ROW_SELECT} FROM studies WHERE id = $1`, [studyId], { prepare: true });
	return r ? toRow(r) : null;
}
