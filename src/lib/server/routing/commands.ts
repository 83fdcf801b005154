/**
 * Worklist commands shared by the router and the dashboard: assign, return to
 * pool, hold, override priority, pause a reader. Each runs inside the caller's
 * transaction so that the state change, its event, the assignment rows and the
 * audit entry commit together.
 */
import { computeDeadline } from '../../domain/routing/policy';
import { ANY_SITE, ReaderStatus } from '../../domain/routing/types';
import { StudyEventKind } from '../../domain/study/lifecycle';
import { PatientClass, Priority, StudyStatus, type Priority as PriorityT } from '../../domain/study/model';
import type { SqlLike } from '../db/client';
import { applyStudyCommandTx, getStudyRow, type CommandOutcome, type StudyRow } from '../events/transition';
import { insertEvents } from '../events/store';
import type { JobQueue } from '../jobs/queue';
import { currentPolicy } from './policy-store';

/** Who the router writes as, in events and assignment rows. */
export const ROUTER_ACTOR = 'router';

/** Event kinds the worklist adds beside the lifecycle ones. */
export const WorklistEventKind = {
	held: 'held',
	holdReleased: 'hold_released',
	readerStatus: 'reader_status',
	slaRisk: 'sla_risk'
} as const;
export type WorklistEventKind = (typeof WorklistEventKind)[keyof typeof WorklistEventKind];

/** What a command produced, ready to translate to an HTTP status at the edge. */
export type WorklistOutcome =
	| { status: 'applied'; study: StudyRow }
	| { status: 'conflict'; currentVersion: number }
	| { status: 'refused'; reason: string }
	| { status: 'not_found' };

/** A command that cannot run as asked; `code` is stable for clients. */
export class WorklistCommandError extends Error {
	constructor(
		readonly code: 'bad_request' | 'not_found' | 'refused',
		message: string,
		options?: { cause?: unknown }
	) {
		super(message, options);
		this.name = 'WorklistCommandError';
	}
}

function fromCommand(out: CommandOutcome): WorklistOutcome {
	switch (out.status) {
		case 'applied':
			return { status: 'applied', study: out.study };
		case 'conflict':
			return out;
		case 'refused':
			return out;
		case 'not_found':
			return out;
		case 'duplicate':
			return { status: 'refused', reason: 'this command was already applied' };
		default:
			return out satisfies never;
	}
}

export interface AssignInput {
	studyId: number;
	readerId: number;
	actor: string;
	explanation: string;
	/** Routing policy version in force (null for a manual override outside the policy). */
	policyVersion: number | null;
	expectedVersion?: number;
	at: string;
	payload?: Record<string, unknown>;
}

/**
 * Put a study on a reader's worklist: lifecycle `assigned` with the reader,
 * the previous open assignment closed, a new assignment row with its reason.
 */
export async function assignStudyTx(tx: SqlLike, jobs: JobQueue | null, a: AssignInput): Promise<WorklistOutcome> {
	const out = await applyStudyCommandTx(tx, jobs, {
		studyId: a.studyId,
		event: { kind: StudyEventKind.assigned, at: a.at },
		actor: a.actor,
		payload: { readerId: a.readerId, explanation: a.explanation, policyVersion: a.policyVersion, ...a.payload },
		patch: { assignedTo: a.readerId },
		expectedVersion: a.expectedVersion
	});
	if (out.status === 'refused' && out.reason.includes(StudyStatus.opened)) {
		return { status: 'refused', reason: 'the reader has already opened this study; it stays with them' };
	}
	if (out.status !== 'applied') return fromCommand(out);
	await tx`UPDATE assignments SET released_at = ${a.at} WHERE study_id = ${a.studyId} AND released_at IS NULL`;
	await tx`INSERT INTO assignments (study_id, radiologist_id, assigned_at, actor, policy_version, explanation)
		VALUES (${a.studyId}, ${a.readerId}, ${a.at}, ${a.actor}, ${a.policyVersion}, ${a.explanation})`;
	return { status: 'applied', study: out.study };
}

function notWithReader(status: string): string {
	if (status === StudyStatus.opened) return 'the reader has already opened this study; it stays with them';
	if (status === StudyStatus.complete || status === StudyStatus.triaged) return 'the study is already in the pool';
	return `the study is ${status}, not on a reader's worklist`;
}

/** Take a study off its reader's worklist and back into the pool. */
export async function releaseStudyTx(
	tx: SqlLike,
	jobs: JobQueue | null,
	r: { studyId: number; actor: string; reason: string | null; expectedVersion?: number; at: string; payload?: Record<string, unknown> }
): Promise<WorklistOutcome> {
	await tx`SELECT 1 FROM studies WHERE id = ${r.studyId} FOR UPDATE`;
	const before = await getStudyRow(tx, r.studyId);
	if (!before) return { status: 'not_found' };
	if (r.expectedVersion !== undefined && r.expectedVersion !== before.version) return { status: 'conflict', currentVersion: before.version };
	if (before.status !== StudyStatus.assigned) return { status: 'refused', reason: notWithReader(before.status) };
	const out = await applyStudyCommandTx(tx, jobs, {
		studyId: r.studyId,
		event: { kind: StudyEventKind.unassigned, at: r.at },
		actor: r.actor,
		payload: { fromReaderId: before?.assignedTo ?? null, reason: r.reason, ...r.payload },
		patch: { assignedTo: null },
		expectedVersion: r.expectedVersion
	});
	if (out.status !== 'applied') return fromCommand(out);
	await tx`UPDATE assignments SET released_at = ${r.at} WHERE study_id = ${r.studyId} AND released_at IS NULL`;
	return { status: 'applied', study: out.study };
}

/**
 * Hold or release a hold. Not a lifecycle step, so it has its own event kind,
 * but the same rules: row lock, expected version, version bump, one event.
 */
export async function setHoldTx(
	tx: SqlLike,
	h: { studyId: number; hold: boolean; actor: string; reason: string | null; expectedVersion?: number; at: string }
): Promise<WorklistOutcome> {
	const [row] = await tx`SELECT id, version, status, held FROM studies WHERE id = ${h.studyId} FOR UPDATE`;
	if (!row) return { status: 'not_found' };
	if (h.expectedVersion !== undefined && h.expectedVersion !== row.version) return { status: 'conflict', currentVersion: row.version };
	if (row.status === StudyStatus.reported || row.status === StudyStatus.cancelled) {
		return { status: 'refused', reason: `cannot ${h.hold ? 'hold' : 'release'} a study that is ${row.status}` };
	}
	if (row.held === h.hold) return { status: 'refused', reason: h.hold ? 'the study is already on hold' : 'the study is not on hold' };
	await tx`UPDATE studies SET held = ${h.hold}, version = version + 1, updated_at = now() WHERE id = ${h.studyId}`;
	const study = (await getStudyRow(tx, h.studyId))!;
	await insertEvents(tx, [
		{
			time: h.at,
			studyId: h.studyId,
			kind: h.hold ? WorklistEventKind.held : WorklistEventKind.holdReleased,
			actor: h.actor,
			siteId: study.siteId,
			subspecialty: study.subspecialty,
			modality: study.modality,
			priority: study.priority,
			patientClass: study.patientClass,
			payload: { reason: h.reason, status: study.status }
		}
	]);
	return { status: 'applied', study };
}

/** Override a study's priority and move its SLA deadline with it (from the policy in force). */
export async function changePriorityTx(
	tx: SqlLike,
	jobs: JobQueue | null,
	p: { studyId: number; priority: PriorityT; actor: string; reason: string; expectedVersion?: number; at: string }
): Promise<WorklistOutcome> {
	const [row] = await tx`SELECT modality, patient_class, complete_at, first_image_at, priority FROM studies WHERE id = ${p.studyId}`;
	if (!row) return { status: 'not_found' };
	if (row.priority === p.priority) return { status: 'refused', reason: `the study is already ${p.priority}` };
	const arrived = (row.complete_at ?? row.first_image_at) as Date | null;
	let slaDeadline: string | undefined;
	if (arrived) {
		const { policy } = await currentPolicy(tx);
		const patientClass = (Object.values(PatientClass) as string[]).includes(row.patient_class) ? row.patient_class : PatientClass.outpatient;
		slaDeadline = new Date(
			computeDeadline({ arrivedAt: arrived.getTime(), priority: p.priority, patientClass, modality: row.modality ?? '' }, policy)
		).toISOString();
	}
	const out = await applyStudyCommandTx(tx, jobs, {
		studyId: p.studyId,
		event: { kind: StudyEventKind.priorityChanged, at: p.at, priority: p.priority },
		actor: p.actor,
		payload: { from: row.priority, to: p.priority, reason: p.reason, ...(slaDeadline ? { slaDeadline } : {}) },
		patch: slaDeadline ? { slaDeadline } : {},
		expectedVersion: p.expectedVersion
	});
	return fromCommand(out);
}

export interface ReaderSummary {
	id: number;
	name: string;
	status: ReaderStatus;
	subspecialties: string[];
	sites: string[];
}

/** Set a reader's live status (reading / paused / off) with an event for the live board. */
export async function setReaderStatusTx(
	tx: SqlLike,
	r: { readerId: number; status: ReaderStatus; actor: string; reason: string | null; at: string }
): Promise<{ status: 'applied'; reader: ReaderSummary; previous: ReaderStatus } | { status: 'not_found' } | { status: 'refused'; reason: string }> {
	const [row] = await tx`SELECT id, name, status, subspecialties,
			(SELECT coalesce(array_agg(site_id ORDER BY site_id), '{}') FROM radiologist_sites WHERE radiologist_id = ${r.readerId}) AS sites
		FROM radiologists WHERE id = ${r.readerId} FOR UPDATE`;
	if (!row) return { status: 'not_found' };
	if (row.status === r.status) return { status: 'refused', reason: `${row.name} is already ${r.status}` };
	await tx`UPDATE radiologists SET status = ${r.status} WHERE id = ${r.readerId}`;
	await insertEvents(tx, [
		{
			time: r.at,
			studyId: null,
			kind: WorklistEventKind.readerStatus,
			actor: r.actor,
			payload: { readerId: r.readerId, status: r.status, previous: row.status, reason: r.reason }
		}
	]);
	return {
		status: 'applied',
		previous: row.status as ReaderStatus,
		reader: { id: row.id, name: row.name, status: r.status, subspecialties: row.subspecialties, sites: row.sites }
	};
}

/**
 * Why a reader may not take a study by hand, or null: unknown reader, no
 * privileges at the study's site. (Subspecialty and queue caps are the
 * router's rules; a charge radiologist may override those.)
 */
export async function manualAssignRefusal(tx: SqlLike, studyId: number, readerId: number): Promise<string | null> {
	const [study] = await tx`SELECT site_id FROM studies WHERE id = ${studyId}`;
	if (!study) return null; // the command itself answers "not found"
	const [r] = await tx`SELECT r.id, r.name, r.status,
			EXISTS (SELECT 1 FROM radiologist_sites rs WHERE rs.radiologist_id = r.id
				AND (rs.site_id = ${study.site_id} OR rs.site_id = ${ANY_SITE})) AS credentialed
		FROM radiologists r WHERE r.id = ${readerId}`;
	if (!r) return `reader ${readerId} does not exist`;
	if (study.site_id && !r.credentialed) return `${r.name} has no reading privileges at site ${study.site_id}`;
	if (r.status === ReaderStatus.off) return `${r.name} is off today`;
	return null;
}

export function isPriority(x: unknown): x is PriorityT {
	return typeof x === 'string' && (Object.values(Priority) as string[]).includes(x);
}
