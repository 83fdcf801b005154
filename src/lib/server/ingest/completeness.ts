/**
 * The `completeness` job: decides when a study's images have all arrived.
 *
 * Complete when the order names how many series to expect and they are all
 * there (after a short settle), or when no image arrived for the modality's
 * stability timeout. Completing sets the SLA deadline from the routing policy
 * in force and, through the lifecycle, enqueues triage. A job that finds new
 * images re-schedules itself for the remaining quiet time, so one pending job per
 * study debounces the whole arrival.
 */
import type { Sql } from '../db/client';
import { applyStudyCommandTx } from '../events/transition';
import { JobName, type JobData, type JobQueue } from '../jobs/queue';
import type { Logger } from '../log';
import { StudyEventKind } from '../../domain/study/lifecycle';
import { StudyStatus } from '../../domain/study/model';
import { DEFAULT_STABILITY_SECONDS, completenessKey, stabilityFor, type StabilityMap } from './dicom-sink';
import { currentRoutingPolicy, slaDeadline } from './studies';

export interface CompletenessOptions {
	stability?: StabilityMap;
	settleSeconds?: number;
	now?: () => Date;
}

export type CompletenessResult =
	| { status: 'complete'; reason: 'expected_series' | 'stability'; slaDeadline: string }
	| { status: 'rescheduled'; inSeconds: number }
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
			const inSeconds = Math.max(1, Math.ceil((neededMs - quietMs) / 1000));
			if (jobs) {
				await jobs.send(
					JobName.completeness,
					{ studyId: s.id, lastImageAt: new Date(lastMs).toISOString() },
					{ tx, startAfterSeconds: inSeconds, singletonKey: completenessKey(s.id) }
				);
			}
			return { status: 'rescheduled', inSeconds };
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

/** Registers the completeness worker on the job queue. `stop()` unregisters it. */
export async function startCompletenessWorker(
	sql: Sql,
	jobs: JobQueue,
	log: Logger,
	options: CompletenessOptions & { pollingIntervalSeconds?: number } = {}
): Promise<{ stop(): Promise<void> }> {
	const id = await jobs.boss.work<JobData['completeness']>(
		JobName.completeness,
		{ pollingIntervalSeconds: options.pollingIntervalSeconds ?? 2, batchSize: 8 },
		async (batch) => {
			for (const job of batch) {
				const r = await checkCompleteness(sql, jobs, job.data, options);
				if (r.status === 'complete') log.debug('study complete', { studyId: job.data.studyId, reason: r.reason });
			}
		}
	);
	return { stop: () => jobs.boss.offWork({ id }) };
}
