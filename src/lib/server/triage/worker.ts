/**
 * The triage role: a pg-boss worker on the `triage` queue. For each complete
 * study it runs every eligible current model (mode shadow or active), stores
 * one `ai_results` row per model version, and, when an ACTIVE model calls a
 * critical finding, raises a pending critical flag, moves the study to stat
 * and emits `critical_flagged` in the same transaction. Shadow results are
 * recorded and never act. Then the study is marked `triaged` (which enqueues
 * routing). The model never has the last word: a charge radiologist confirms
 * or dismisses the flag (criticals.ts).
 *
 * Every write is idempotent on (study, model, version), so any number of
 * workers may share the queue and a retried job never doubles anything.
 */
import os from 'node:os';
import { join } from 'node:path';
import { computeDeadline, type RoutingPolicy } from '../../domain/routing/policy';
import { matchEligibility, ModelMode, type ModelManifest, type StudyAttributes } from '../../domain/triage/manifest';
import { StudyEventKind } from '../../domain/study/lifecycle';
import { StudyStatus } from '../../domain/study/model';
import type { AppContext } from '../context';
import type { Sql, SqlLike } from '../db/client';
import { pipelinedTransaction } from '../db/pipelined';
import { insertEvents, type NewEvent } from '../events/store';
import { applyStudyCommand, applyStudyCommandTx, type CommandOutcome, type StudyCommand } from '../events/transition';
import { JobName, wakeWorkersOnSend, type JobData, type JobQueue } from '../jobs/queue';
import type { Logger } from '../log';
import { currentPolicy } from '../routing/policy-store';
import { FileBuffers, StudyFiles } from './files';
import { currentModels, effectiveManifest, modelsDir, registerShippedModels, type RegisteredModel } from './registry';
import { selectBackend, type BackendName, type BackendSelection } from '../../../../workers/triage/backend';
import { loadModel, type TriageModel } from '../../../../workers/triage/model';
import { triageStudy, type LazyInstance, type SkippedInstance } from '../../../../workers/triage/infer';
import { transferSyntaxName } from '../../../../workers/triage/dicom';

/** ai_results.status values. */
export const ResultStatus = { ok: 'ok', cannotDecode: 'cannot_decode', error: 'error' } as const;
export type ResultStatus = (typeof ResultStatus)[keyof typeof ResultStatus];

/** Event kinds this module writes besides lifecycle events. */
export const TriageEventKind = { criticalFlagged: 'critical_flagged' } as const;

/** Thrown when one job runs past its time limit (the queue retries it). */
export class TriageTimeoutError extends Error {
	readonly code = 'triage_timeout';
	constructor(studyId: number, seconds: number) {
		super(`triage of study ${studyId} took longer than ${seconds} s`);
		this.name = 'TriageTimeoutError';
	}
}

/** A model failed on a non-final attempt: the job fails and the queue retries it with backoff. */
export class TriageModelError extends Error {
	readonly code = 'model_failed';
	constructor(message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'TriageModelError';
	}
}

export interface TriageDeps {
	sql: Sql;
	jobs: JobQueue | null;
	log: Logger;
	backend: BackendSelection;
	/** Loaded models by id@version (weights only; mode/threshold come from the registry per job). */
	cache?: Map<string, Promise<TriageModel>>;
	/** Image file buffers, reused from job to job. */
	buffers?: FileBuffers;
	root?: string;
	now?: () => Date;
}

/** What one model did for one study. */
export interface ModelOutcome {
	id: string;
	version: string;
	mode: ModelMode;
	status: ResultStatus;
	score: number | null;
	critical: boolean;
	/** A critical flag was raised by this run (active model, critical result, first writer). */
	flagged: boolean;
	/** Already recorded by an earlier attempt or another worker: nothing was run. */
	reused: boolean;
}

export type TriageOutcome =
	| { status: 'triaged' | 'scored'; studyId: number; models: ModelOutcome[] }
	| { status: 'skipped'; studyId: number; reason: string };

interface StudyRowForTriage {
	id: number;
	status: string;
	priority: string;
	modality: string | null;
	description: string | null;
	examName: string | null;
	bodyRegion: string | null;
	patientClass: string | null;
	siteId: string | null;
	subspecialty: string | null;
	lastImageAt: Date | null;
	completeAt: Date | null;
	slaDeadline: Date | null;
}

interface InstanceRow {
	sopInstanceUid: string;
	blobPath: string;
	transferSyntaxUid: string;
	seriesUid: string;
	modality: string | null;
	seriesDescription: string | null;
	bodyPart: string | null;
}

/** Statuses in which a study's images are final enough to triage. */
const TRIAGEABLE = new Set<string>([StudyStatus.complete, StudyStatus.triaged, StudyStatus.assigned, StudyStatus.opened]);

const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 300);

function modelFor(deps: TriageDeps, m: RegisteredModel): Promise<TriageModel> {
	deps.cache ??= new Map();
	const key = `${m.id}@${m.version}`;
	let p = deps.cache.get(key);
	if (!p) {
		p = loadModel(m.manifest, { backend: deps.backend.name, baseDir: join(deps.root ?? modelsDir(), m.id, m.version) });
		// a failed load is retried by the next job, not cached forever
		p.catch(() => deps.cache?.delete(key));
		deps.cache.set(key, p);
	}
	return p;
}

function describeSkipped(skipped: SkippedInstance[], total: number): string {
	if (skipped.length === 0) return '';
	const byMessage = new Map<string, number>();
	for (const s of skipped) byMessage.set(s.message, (byMessage.get(s.message) ?? 0) + 1);
	const parts = [...byMessage].map(([m, n]) => `${n}× ${m}`);
	return `${skipped.length} of ${total} instances not usable: ${parts.join('; ')}`.slice(0, 1000);
}

/** Per-series attributes for eligibility; the study-level attributes when no image is on file. */
function attributesOf(study: StudyRowForTriage, instances: InstanceRow[]): { attrs: StudyAttributes; seriesUid: string | null }[] {
	const studyDescription = study.description ?? study.examName ?? undefined;
	const series = new Map<string, InstanceRow>();
	for (const i of instances) if (!series.has(i.seriesUid)) series.set(i.seriesUid, i);
	if (series.size === 0) {
		return [{ attrs: { modalities: study.modality ? [study.modality] : [], bodyPart: study.bodyRegion ?? undefined, studyDescription }, seriesUid: null }];
	}
	return [...series.values()].map((s) => ({
		attrs: {
			modalities: [s.modality ?? study.modality ?? ''].filter(Boolean),
			bodyPart: s.bodyPart ?? undefined,
			studyDescription,
			seriesDescription: s.seriesDescription ?? undefined
		},
		seriesUid: s.seriesUid
	}));
}

/**
 * Triage one study. `finalAttempt` decides what a model failure does: before
 * the last retry it fails the job (so the queue retries with backoff); on the
 * last one it is recorded as an `error` result and triage carries on.
 */
export async function triageJob(deps: TriageDeps, studyId: number, opts: { finalAttempt?: boolean } = {}): Promise<TriageOutcome> {
	const { sql, log } = deps;
	const now = deps.now ?? (() => new Date());
	// The four reads do not depend on each other: one round trip's worth of waiting, not four.
	const [[study], instances, registered, prior] = await Promise.all([
		sql<StudyRowForTriage[]>`
			SELECT id, status, priority, modality, description, exam_name AS "examName", body_region AS "bodyRegion",
				patient_class AS "patientClass", site_id AS "siteId", subspecialty, last_image_at AS "lastImageAt",
				complete_at AS "completeAt", sla_deadline AS "slaDeadline"
			FROM studies WHERE id = ${studyId}`,
		sql<InstanceRow[]>`
			SELECT i.sop_instance_uid AS "sopInstanceUid", i.blob_path AS "blobPath", i.transfer_syntax_uid AS "transferSyntaxUid",
				s.series_instance_uid AS "seriesUid", s.modality, s.description AS "seriesDescription", s.body_part AS "bodyPart"
			FROM instances i JOIN series s ON s.id = i.series_id
			WHERE i.study_id = ${studyId} ORDER BY s.id, i.received_at, i.sop_instance_uid`,
		currentModels(sql),
		sql<{ modelId: string; modelVersion: string; status: string; score: number | null; critical: boolean }[]>`
			SELECT model_id AS "modelId", model_version AS "modelVersion", status, score, critical FROM ai_results WHERE study_id = ${studyId}`
	]);
	if (!study) return { status: 'skipped', studyId, reason: 'no such study' };
	if (!TRIAGEABLE.has(study.status)) return { status: 'skipped', studyId, reason: `study is ${study.status}` };

	const series = attributesOf(study, instances);
	const models = registered.filter((m) => m.mode !== ModelMode.off);
	const done = new Map(prior.map((r) => [`${r.modelId}@${r.modelVersion}`, r]));

	// Each file is opened once per job, whatever the number of models: its head for the header,
	// the whole file only when a model chooses the image.
	const studyFiles = new StudyFiles((deps.buffers ??= new FileBuffers()));

	// The plan, in registry order: eligible models, with the result an earlier attempt already recorded.
	const plan = models
		.map((m) => ({ m, manifest: effectiveManifest(m), key: `${m.id}@${m.version}` }))
		.map((p) => ({ ...p, eligibleSeries: series.filter((s) => matchEligibility(p.manifest, s.attrs).eligible), prior: done.get(p.key) }))
		.filter((p) => p.eligibleSeries.length > 0);
	const reusedOutcome = (p: (typeof plan)[number]): ModelOutcome => ({
		id: p.m.id,
		version: p.m.version,
		mode: p.m.mode,
		status: p.prior!.status as ResultStatus,
		score: p.prior!.score,
		critical: p.prior!.critical,
		flagged: false,
		reused: true
	});
	const lastToRun = plan.findLastIndex((p) => !p.prior);
	const triagedCommand = (all: ModelOutcome[]) => ({
		studyId,
		event: { kind: StudyEventKind.triaged, at: now().toISOString() },
		actor: 'triage',
		payload: { models: all.map((o) => ({ id: o.id, version: o.version, mode: o.mode, status: o.status, score: o.score, critical: o.critical })) },
		// one triage per completion: a re-opened and re-completed study is triaged again
		idempotencyKey: `triaged:${studyId}:${study.completeAt?.toISOString() ?? 'none'}`
	});
	let triagedOut: CommandOutcome | null = null;

	const outcomes: ModelOutcome[] = [];
	for (const [index, { m, manifest, key, eligibleSeries, prior }] of plan.entries()) {
		if (prior) {
			outcomes.push(reusedOutcome(plan[index]));
			continue;
		}
		const t0 = performance.now();
		const uids = new Set(eligibleSeries.map((s) => s.seriesUid));
		const chosen = instances.filter((i) => uids.has(i.seriesUid));
		let status: ResultStatus;
		let score: number | null = null;
		let label: string | null = null;
		let critical = false;
		let detail: string | null = null;
		let backend = m.manifest.runtime.kind === 'remote' ? `remote:${m.manifest.runtime.url}` : deps.backend.name;
		if (chosen.length === 0) {
			status = ResultStatus.error;
			detail = 'no images on file for this study';
		} else {
			const read = chosen.map((i) => studyFiles.open(i.blobPath));
			const files: LazyInstance[] = [];
			const missing: SkippedInstance[] = [];
			read.forEach((b, i) => (b ? files.push(b) : missing.push({ index: i, sopInstanceUid: chosen[i].sopInstanceUid, code: 'blob_missing', message: 'image file missing on disk' })));
			try {
				const model = await modelFor(deps, m);
				backend = model.runtime;
				const r = await triageStudy({ ...model, manifest }, files);
				const skipped = [...missing, ...r.skipped];
				if (r.status === 'scored') {
					status = ResultStatus.ok;
					score = r.score;
					label = r.label;
					// the registry's threshold, not the one the weights were loaded with
					critical = r.score >= manifest.thresholds.critical;
					detail = [r.selection, describeSkipped(skipped, chosen.length)].filter(Boolean).join('; ');
				} else {
					status = ResultStatus.cannotDecode;
					const syntaxes = [...new Set(chosen.map((c) => transferSyntaxName(c.transferSyntaxUid)))].join(', ');
					detail = `${describeSkipped(skipped, chosen.length) || 'no usable images'} (transfer syntax ${syntaxes})`;
				}
			} catch (err) {
				if (!opts.finalAttempt) throw new TriageModelError(`${key} failed on study ${studyId}: ${firstLine(err)}`, { cause: err });
				status = ResultStatus.error;
				detail = firstLine(err);
				log.error('model failed on last attempt; recorded as error', { studyId, model: key, err });
			}
		}
		const latencyMs = performance.now() - t0;
		const actOn = status === ResultStatus.ok && critical && m.mode === ModelMode.active;
		const outcome: ModelOutcome = { id: m.id, version: m.version, mode: m.mode, status, score, critical, flagged: false, reused: false };
		// The last model's result and the `triaged` step share one transaction (one commit less per study).
		const finishes = index === lastToRun && study.status === StudyStatus.complete;
		const committed = await commitResult(deps, {
			study,
			manifest,
			m,
			result: { backend, score, label, critical, status, detail, latencyMs },
			actOn,
			at: now(),
			triaged: finishes ? () => triagedCommand([...outcomes, outcome, ...plan.slice(index + 1).map(reusedOutcome)]) : null
		});
		outcome.flagged = committed.flagged;
		if (committed.triaged) triagedOut = committed.triaged;
		outcomes.push(outcome);
		log.info('model result', { studyId, model: key, mode: m.mode, status, score, critical, flagged: outcome.flagged, latencyMs: Math.round(latencyMs) });
	}
	// The pixels are done with: their buffers go to the next job (after a failure, to the collector).
	studyFiles.close();

	if (study.status !== StudyStatus.complete) return { status: 'scored', studyId, models: outcomes };
	// Nothing ran (no eligible model, or every result was already on file): triaged on its own.
	const out = triagedOut ?? (await applyStudyCommand(sql, deps.jobs, triagedCommand(outcomes)));
	if (out.status === 'refused') log.info('triaged not applied', { studyId, reason: out.reason });
	return { status: 'triaged', studyId, models: outcomes };
}

interface ResultToCommit {
	study: StudyRowForTriage;
	manifest: ModelManifest;
	m: RegisteredModel;
	result: { backend: string; score: number | null; label: string | null; critical: boolean; status: ResultStatus; detail: string | null; latencyMs: number };
	/** An active model's critical call: raise the flag, stat priority and the alert event. */
	actOn: boolean;
	at: Date;
	/** The study's `triaged` step, when it commits with this result. */
	triaged: (() => StudyCommand) | null;
}

/**
 * One model's result in one transaction: the `ai_results` row; for an active
 * model's critical call the flag, stat priority and `critical_flagged`; and,
 * for the last model, the `triaged` step. The study waits for every round trip
 * here, so statements that need no earlier answer travel together behind
 * BEGIN: the result and the flag (one statement), the policy read, and, when
 * nothing is to change the study before `triaged`, that command's row lock
 * and key check. The statements run in the order they ran one by one; only
 * the waiting between them is gone.
 */
async function commitResult(deps: TriageDeps, c: ResultToCommit): Promise<{ flagged: boolean; triaged: CommandOutcome | null }> {
	const { study, m, result: r, at } = c;
	const imageToAlertMs = study.lastImageAt ? Math.max(0, at.getTime() - study.lastImageAt.getTime()) : null;
	return pipelinedTransaction(deps.sql, async (tx) => {
		// The flag only beside a result this run inserted: a worker that recorded the result first acted on it.
		const stored = tx<{ flagId: number | null }[]>`
			WITH result AS (
				INSERT INTO ai_results (study_id, model_id, model_version, backend, mode, score, label, critical, status, detail, latency_ms)
				VALUES (${study.id}, ${m.id}, ${m.version}, ${r.backend}, ${m.mode}, ${r.score}, ${r.label}, ${r.critical}, ${r.status}, ${r.detail}, ${r.latencyMs})
				ON CONFLICT (study_id, model_id, model_version) DO NOTHING RETURNING study_id, model_id, model_version, score
			), flag AS (
				INSERT INTO critical_flags (study_id, model_id, model_version, finding, score, status, raised_at, image_to_alert_ms)
				SELECT study_id, model_id, model_version, ${c.manifest.criticalLabel}, score, 'pending', ${at}, ${imageToAlertMs}::int FROM result WHERE ${c.actOn}
				ON CONFLICT (study_id, model_id, model_version) DO NOTHING RETURNING id
			)
			SELECT (SELECT id FROM flag) AS "flagId"`.execute();
		const triaged = () => (c.triaged ? applyStudyCommandTx(tx, deps.jobs, c.triaged()) : null);
		if (!c.actOn) {
			// Nothing is to change the study before `triaged`: its row lock and key check go out with the insert.
			const [, out] = await Promise.all([stored, triaged()]);
			return { flagged: false, triaged: out };
		}
		const [[{ flagId }], { policy }] = await Promise.all([stored, currentPolicy(tx)]);
		if (flagId === null) return { flagged: false, triaged: await triaged() };
		const alert = await raiseCritical(tx, deps, study, c.manifest, m, { id: flagId, score: r.score!, at, imageToAlertMs }, policy);
		// The alert event and the `triaged` command's row lock and key check travel together.
		const [, out] = await Promise.all([insertEvents(tx, [alert]), triaged()]);
		return { flagged: true, triaged: out };
	});
}

/** Stat priority and SLA for a flag just raised (inside its transaction); returns the `critical_flagged` event to append. */
async function raiseCritical(
	tx: SqlLike,
	deps: TriageDeps,
	study: StudyRowForTriage,
	manifest: ModelManifest,
	m: RegisteredModel,
	flag: { id: number; score: number; at: Date; imageToAlertMs: number | null },
	policy: RoutingPolicy
): Promise<NewEvent> {
	const { score, at, imageToAlertMs } = flag;
	const finding = manifest.criticalLabel;
	const ref = `${m.id}@${m.version}`;
	// A stat study gets the stat reading target, counted from when it became readable.
	const readyAt = (study.completeAt ?? at).getTime();
	const statDeadline = computeDeadline(
		{ arrivedAt: readyAt, priority: 'stat', patientClass: (study.patientClass ?? 'O') as never, modality: (study.modality ?? '') as never },
		policy
	);
	const deadline = study.slaDeadline ? Math.min(study.slaDeadline.getTime(), statDeadline) : statDeadline;
	const out = await applyStudyCommandTx(tx, deps.jobs, {
		studyId: study.id,
		event: { kind: StudyEventKind.priorityChanged, at: at.toISOString(), priority: 'stat' },
		actor: 'triage',
		payload: {
			from: study.priority,
			reason: `AI critical finding: ${finding} (model ${ref}) — awaiting radiologist confirmation`,
			modelId: m.id,
			modelVersion: m.version
		},
		idempotencyKey: `ai-critical:${study.id}:${ref}`,
		patch: { criticalFlag: 'pending', slaDeadline: new Date(deadline).toISOString() }
	});
	const dims =
		out.status === 'applied'
			? out.study
			: { siteId: study.siteId, subspecialty: study.subspecialty, modality: study.modality, priority: study.priority, patientClass: study.patientClass };
	if (out.status !== 'applied') deps.log.warn('critical flag raised but priority not changed', { studyId: study.id, model: ref, outcome: out.status });
	return {
		time: at.toISOString(),
		studyId: study.id,
		kind: TriageEventKind.criticalFlagged,
		actor: 'triage',
		siteId: dims.siteId,
		subspecialty: dims.subspecialty,
		modality: dims.modality,
		priority: dims.priority,
		patientClass: dims.patientClass,
		payload: { flagId: flag.id, finding, score, threshold: manifest.thresholds.critical, modelId: m.id, modelVersion: m.version, imageToAlertMs },
		idempotencyKey: `critical_flagged:${study.id}:${ref}`
	};
}

export interface TriageWorkerOptions {
	/** Force a backend (else TRIAGE_BACKEND, else the best available). */
	backend?: BackendName;
	/** Jobs processed at once in this process (1 or 2). */
	concurrency?: number;
	/** Per-job limit; a job past it fails and is retried. Default 90 s (the queue expires jobs at 120 s). */
	jobTimeoutSeconds?: number;
	pollingIntervalSeconds?: number;
	heartbeatMs?: number;
	/** Register the shipped models on start (default true). */
	registerShipped?: boolean;
	root?: string;
}

export interface TriageRole {
	name: 'triage';
	backend: BackendSelection;
	stop(): Promise<void>;
}

/**
 * Start the triage role: choose the backend once, register the shipped
 * models, report both in role_status (role 'triage'), and work the queue.
 */
export async function startTriage(ctx: Pick<AppContext, 'db' | 'jobs' | 'log'> & { status?: Record<string, unknown> }, options: TriageWorkerOptions = {}): Promise<TriageRole> {
	const jobs = ctx.jobs;
	if (!jobs) throw new Error('the triage role needs the job queue');
	const log = ctx.log.child('triage');
	const sql = ctx.db.sql;
	const backend = await selectBackend({ backend: options.backend });
	log.info('triage backend selected', { backend: backend.name, detail: backend.detail, fallbacksTried: backend.fallbacksTried });
	if (options.registerShipped !== false) await registerShippedModels(sql, log, options.root);

	const deps: TriageDeps = { sql, jobs, log, backend, cache: new Map(), root: options.root };
	// Load the weights now, so the first critical study does not wait for them.
	for (const m of await currentModels(sql)) {
		if (m.mode === ModelMode.off || m.manifest.runtime.kind !== 'local') continue;
		await modelFor(deps, m).catch((err) => log.warn('model not preloaded; the first job will retry', { model: `${m.id}@${m.version}`, err }));
	}
	const counters = { done: 0, failed: 0, flagged: 0, lastJobAt: null as string | null };
	const instance = `${os.hostname()}:${process.pid}`;
	const concurrency = Math.max(1, Math.min(2, Math.floor(options.concurrency ?? 1)));
	const timeoutS = options.jobTimeoutSeconds ?? 90;

	const beat = async () => {
		try {
			const models = (await currentModels(sql)).map((m) => ({ id: m.id, version: m.version, mode: m.mode, threshold: m.threshold, runtime: m.manifest.runtime.kind }));
			const data = { backend: backend.name, detail: backend.detail, fallbacksTried: backend.fallbacksTried, models, concurrency, ...counters, pid: process.pid, host: os.hostname() };
			if (ctx.status) ctx.status.triage = data;
			await sql`INSERT INTO role_status (role, instance, updated_at, data) VALUES ('triage', ${instance}, now(), ${JSON.stringify(data)}::text::jsonb)
				ON CONFLICT (role, instance) DO UPDATE SET updated_at = now(), data = EXCLUDED.data`;
		} catch (err) {
			log.warn('triage heartbeat failed', { err });
		}
	};
	await beat();
	const timer = setInterval(() => void beat(), options.heartbeatMs ?? 5_000);
	timer.unref();

	const handle = async (job: { id: string; data: JobData['triage']; retryCount: number; retryLimit: number }) => {
		const studyId = Number(job.data?.studyId);
		if (!Number.isSafeInteger(studyId)) {
			log.warn('triage job without a study id dropped', { jobId: job.id });
			return;
		}
		let timeout: ReturnType<typeof setTimeout> | undefined;
		try {
			const r = await Promise.race([
				triageJob(deps, studyId, { finalAttempt: job.retryCount >= job.retryLimit }),
				new Promise<never>((_, reject) => (timeout = setTimeout(() => reject(new TriageTimeoutError(studyId, timeoutS)), timeoutS * 1000)))
			]);
			counters.done++;
			counters.lastJobAt = new Date().toISOString();
			if (r.status !== 'skipped') counters.flagged += r.models.filter((m) => m.flagged).length;
			else log.info('triage skipped', { studyId, reason: r.reason });
		} catch (err) {
			counters.failed++;
			log.warn('triage job failed; the queue retries it', { studyId, jobId: job.id, attempt: job.retryCount + 1, err });
			throw err;
		} finally {
			clearTimeout(timeout);
		}
	};

	const ids: string[] = [];
	for (let i = 0; i < concurrency; i++) {
		ids.push(
			await jobs.boss.work<JobData['triage']>(
				JobName.triage,
				{ batchSize: 1, includeMetadata: true, pollingIntervalSeconds: options.pollingIntervalSeconds ?? 1 },
				async ([job]) => handle(job)
			)
		);
	}
	// A study that just completed is fetched at once, not at the next poll (which stays as the fallback).
	const unlisten = await wakeWorkersOnSend(sql, jobs, JobName.triage, ids);
	let stopped = false;
	return {
		name: 'triage',
		backend,
		async stop() {
			if (stopped) return;
			stopped = true;
			clearInterval(timer);
			await unlisten();
			for (const id of ids) await jobs.boss.offWork({ id }).catch(() => {});
			await sql`DELETE FROM role_status WHERE role = 'triage' AND instance = ${instance}`.catch(() => {});
			for (const p of deps.cache?.values() ?? []) void p.then((m) => m.dispose(), () => {});
			if (ctx.status) delete ctx.status.triage;
		}
	};
}
