/**
 * The `completeness` job: decides when a study's images have all arrived.
 *
 * Complete when the order names how many series to expect and they are all
 * there (after a short settle), or when no image arrived for the modality's
 * stability timeout. Completing sets the SLA deadline from the routing policy
 * in force and, through the lifecycle, enqueues triage. A job that finds new
 * images re-schedules itself for the remaining quiet time, so one pending job per
 * study debounces the whole arrival.
 *
 * On time, and durable: the pending job in the queue is the durable record (a
 * restart loses nothing; the job runs when due). Polling alone would complete
 * up to a poll interval late, and a re-check could wait a whole extra second,
 * so each worker also arms an in-process timer for the exact moment a check is
 * due: for re-checks it scheduled itself, and for pending checks it sees coming
 * in the queue (a short look-ahead). Whichever runs first completes the study;
 * the other finds it no longer arriving and does nothing.
 */
import type { Sql } from '../db/client';
import { applyStudyCommandTx } from '../events/transition';
import { JobName, type JobData, type JobQueue } from '../jobs/queue';
import type { Logger } from '../log';
import { StudyEventKind } from '../../domain/study/lifecycle';
import { StudyStatus } from '../../domain/study/model';
import { DEFAULT_STABILITY_SECONDS, scheduleCompleteness, stabilityFor, type StabilityMap } from './dicom-sink';
import { currentRoutingPolicy, slaDeadline } from './studies';

export interface CompletenessOptions {
	stability?: StabilityMap;
	settleSeconds?: number;
	now?: () => Date;
}

export type CompletenessResult =
	| { status: 'complete'; reason: 'expected_series' | 'stability'; slaDeadline: string }
	| { status: 'rescheduled'; inSeconds: number; inMs: number }
	| { status: 'not_arriving'; current: string }
	| { status: 'not_found' };

interface Row {
	id: number;
	status: string;
	modality: string | null;
	priority: string;
	patient_class: string | null;
	last_image_at: Date | null;
	series_count: number;
	instance_count: number;
	expected_series: number | null;
}

/** Runs one completeness check in one transaction (study row locked). */
export async function checkCompleteness(
	sql: Sql,
	jobs: JobQueue | null,
	data: JobData['completeness'],
	options: CompletenessOptions = {}
): Promise<CompletenessResult> {
	const stability = options.stability ?? DEFAULT_STABILITY_SECONDS;
	const settle = options.settleSeconds ?? 3;
	const now = (options.now ?? (() => new Date()))();
	return (await sql.begin(async (tx) => {
		const [s] = await tx<Row[]>`
			SELECT s.id, s.status, s.modality, s.priority, s.patient_class, s.last_image_at, s.series_count, s.instance_count, o.expected_series
			FROM studies s LEFT JOIN orders o ON o.id = s.order_id WHERE s.id = ${data.studyId} FOR UPDATE OF s`;
		if (!s) return { status: 'not_found' };
		if (s.status !== StudyStatus.arriving) return { status: 'not_arriving', current: s.status };
		const lastMs = s.last_image_at ? s.last_image_at.getTime() : Date.parse(data.lastImageAt);
		const quietMs = now.getTime() - lastMs;
		const expectedReached = s.expected_series != null && s.series_count >= s.expected_series;
		const neededMs = (expectedReached ? settle : stabilityFor(stability, s.modality)) * 1000;
		if (quietMs < neededMs) {
			const inMs = neededMs - quietMs;
			// The durable re-check; an in-process timer (startCompletenessWorker) usually completes first, on the dot.
			const inSeconds = Math.max(1, Math.ceil(inMs / 1000));
			if (jobs) await scheduleCompleteness(tx, jobs, s.id, new Date(lastMs).toISOString(), inSeconds);
			return { status: 'rescheduled', inSeconds, inMs };
		}
		const at = now.toISOString();
		const deadline = slaDeadline(await currentRoutingPolicy(tx), { priority: s.priority, patientClass: s.patient_class, modality: s.modality }, at);
		const reason = expectedReached ? 'expected_series' : 'stability';
		const out = await applyStudyCommandTx(tx, jobs, {
			studyId: s.id,
			event: { kind: StudyEventKind.complete, at },
			actor: 'completeness',
			// A retried job after a commit must not complete twice for the same last image.
			idempotencyKey: `complete:${s.id}:${new Date(lastMs).toISOString()}`,
			payload: { reason, series: s.series_count, instances: s.instance_count, quiet_seconds: Math.round(quietMs / 1000) },
			patch: { slaDeadline: deadline }
		});
		if (out.status === 'applied' || out.status === 'duplicate') return { status: 'complete', reason, slaDeadline: deadline };
		return { status: 'not_arriving', current: s.status };
	})) as CompletenessResult;
}

/** Checks due within this horizon get an in-process timer (look-ahead into the queue). */
const LOOKAHEAD_MS = 1_500;
/** A timer fires this much after the due time, so clock granularity never makes it a little early. */
const TIMER_SLACK_MS = 5;

/**
 * Registers the completeness worker on the job queue and arms in-process
 * timers for checks about to fall due. `stop()` unregisters it.
 */
export async function startCompletenessWorker(
	sql: Sql,
	jobs: JobQueue,
	log: Logger,
	options: CompletenessOptions & { pollingIntervalSeconds?: number; lookaheadIntervalMs?: number } = {}
): Promise<{ stop(): Promise<void> }> {
	let stopped = false;
	const timers = new Map<number, { at: number; timer: NodeJS.Timeout }>();

	const check = async (data: JobData['completeness']): Promise<void> => {
		const r = await checkCompleteness(sql, jobs, data, options);
		if (r.status === 'complete') log.debug('study complete', { studyId: data.studyId, reason: r.reason });
		else if (r.status === 'rescheduled') arm(data.studyId, data.lastImageAt, Date.now() + r.inMs);
	};

	/** One timer per study; a later due time replaces an earlier one. */
	function arm(studyId: number, lastImageAt: string, dueAt: number): void {
		if (stopped) return;
		const held = timers.get(studyId);
		if (held && held.at >= dueAt) return;
		if (held) clearTimeout(held.timer);
		const timer = setTimeout(
			() => {
				timers.delete(studyId);
				// A failure here is not lost: the pending job in the queue checks again.
				check({ studyId, lastImageAt }).catch((err) => log.warn('completeness check on timer failed; the queued check retries', { studyId, err }));
			},
			Math.max(0, dueAt - Date.now()) + TIMER_SLACK_MS
		);
		timer.unref?.();
		timers.set(studyId, { at: dueAt, timer });
	}

	/** Pending checks due soon, with the database's view of how soon. */
	const lookAhead = async () => {
		const rows = await sql<{ data: JobData['completeness']; inMs: number }[]>`
			SELECT data, (extract(epoch FROM start_after - now()) * 1000)::float8 AS "inMs"
			FROM pgboss.job
			WHERE name = ${JobName.completeness} AND state = 'created' AND start_after < now() + ${LOOKAHEAD_MS / 1000} * interval '1 second'`;
		const now = Date.now();
		for (const r of rows) {
			const studyId = Number(r.data?.studyId);
			if (Number.isSafeInteger(studyId) && r.inMs > 0 && !timers.has(studyId)) arm(studyId, r.data.lastImageAt, now + r.inMs);
		}
	};
	const lookAheadTimer = setInterval(() => {
		lookAhead().catch((err) => log.debug('completeness look-ahead failed', { err }));
	}, options.lookaheadIntervalMs ?? 500);
	lookAheadTimer.unref?.();

	const id = await jobs.boss.work<JobData['completeness']>(
		JobName.completeness,
		{ pollingIntervalSeconds: options.pollingIntervalSeconds ?? 1, batchSize: 8 },
		async (batch) => {
			for (const job of batch) await check(job.data);
		}
	);
	return {
		stop: async () => {
			stopped = true;
			clearInterval(lookAheadTimer);
			for (const { timer } of timers.values()) clearTimeout(timer);
			timers.clear();
			await jobs.boss.offWork({ id });
		}
	};
}
