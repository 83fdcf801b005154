/**
 * The database side of DICOM ingest (DIMSE C-STORE and STOW-RS): one
 * transaction per instance files the series and instance rows, records
 * `image_received` (idempotent on the SOP Instance UID), bumps the study's
 * counters and schedules the completeness check. The edge acknowledges only
 * after this resolved; a failure is answered with a DICOM failure status and
 * recorded in `ingest_failures`.
 *
 * @see docs/dicom-conformance.md 2.4 (status codes)
 */
import type { InstanceSink, ReceivedInstance } from '../../../../workers/dicom/server';
import { InstanceRejectedError } from '../../../../workers/dicom/server';
import type { Sql, SqlLike } from '../db/client';
import { applyStudyCommandTx } from '../events/transition';
import { JobName, type JobQueue } from '../jobs/queue';
import type { Logger } from '../log';
import { StudyEventKind } from '../../domain/study/lifecycle';
import { StudyStatus } from '../../domain/study/model';
import {
	examPatch,
	findOrder,
	normalizeAndReview,
	resolveStudy,
	studyByUid,
	upsertPatient,
	type ExamNormalizer,
	type StudyRef
} from './studies';

/** Where an ingest failure came from (ingest_failures.source). */
export const IngestSource = {
	dicom: 'dicom',
	dicomweb: 'dicomweb',
	hl7: 'hl7'
} as const;
export type IngestSource = (typeof IngestSource)[keyof typeof IngestSource];

/** Seconds without a new image after which a study counts as complete, per modality. */
export type StabilityMap = Readonly<Record<string, number>>;

export const DEFAULT_STABILITY_SECONDS: StabilityMap = {
	CT: 30,
	MR: 45,
	CR: 10,
	DX: 10,
	MG: 20,
	US: 30,
	XA: 30,
	RF: 30,
	NM: 60,
	PT: 60,
	default: 30
};

/**
 * DICOM_STABILITY_SECONDS: one number for every modality ("20"), or per-modality
 * overrides ("CT=30,MR=45,default=20"). Invalid entries are ignored.
 */
export function parseStabilitySeconds(spec: string | undefined, base: StabilityMap = DEFAULT_STABILITY_SECONDS): StabilityMap {
	const out: Record<string, number> = { ...base };
	const s = (spec ?? '').trim();
	if (!s) return out;
	if (/^\d+(\.\d+)?$/.test(s)) {
		for (const k of Object.keys(out)) out[k] = Number(s);
		return out;
	}
	for (const part of s.split(/[,\s]+/)) {
		const [k, v] = part.split('=');
		const n = Number(v);
		if (k && Number.isFinite(n) && n >= 0) out[k.trim().toUpperCase() === 'DEFAULT' ? 'default' : k.trim().toUpperCase()] = n;
	}
	return out;
}

export function stabilityFor(map: StabilityMap, modality: string | null | undefined): number {
	return map[(modality ?? '').toUpperCase()] ?? map.default ?? 30;
}

/** A visible dead-letter row: what failed, from whom, why. Never throws. */
export async function recordIngestFailure(
	sql: SqlLike,
	log: Logger,
	f: { source: IngestSource; peer: string | null; reason: string; details?: Record<string, unknown> }
): Promise<void> {
	try {
		await sql`INSERT INTO ingest_failures (source, peer, reason, details)
			VALUES (${f.source}, ${f.peer}, ${f.reason.slice(0, 500)}, ${JSON.stringify(f.details ?? {})}::text::jsonb)`;
	} catch (err) {
		log.error('could not record ingest failure', { err, source: f.source, peer: f.peer, reason: f.reason });
	}
}

export const completenessKey = (studyId: number) => `study:${studyId}`;

/** Enqueues a completeness check unless one is already waiting for this study (debounce). */
export async function scheduleCompleteness(
	tx: SqlLike,
	jobs: JobQueue,
	studyId: number,
	lastImageAt: string,
	startAfterSeconds: number
): Promise<boolean> {
	const key = completenessKey(studyId);
	const [pending] = await tx`SELECT 1 FROM pgboss.job WHERE name = ${JobName.completeness} AND singleton_key = ${key} AND state = 'created' LIMIT 1`;
	if (pending) return false;
	await jobs.send(JobName.completeness, { studyId, lastImageAt }, { tx, startAfterSeconds: Math.max(1, Math.ceil(startAfterSeconds)), singletonKey: key });
	return true;
}

export interface DbInstanceSinkOptions {
	sql: Sql;
	jobs: JobQueue | null;
	normalizer: ExamNormalizer;
	log: Logger;
	source?: IngestSource;
	stability?: StabilityMap;
	/** Quiet time before completing once the order's expected series are all there. */
	settleSeconds?: number;
	now?: () => Date;
}

/** Outcome of one store, for callers that want to know (STOW, tests). */
export type StoreOutcome = { status: 'stored'; studyId: number } | { status: 'duplicate'; studyId: number | null };

interface LockedStudy {
	id: number;
	status: string;
	modality: string | null;
	description: string | null;
	expected_series: number | null;
	series_count: number;
}

/** {@link InstanceSink} backed by PostgreSQL. */
export class DbInstanceSink implements InstanceSink {
	private readonly o: Required<Omit<DbInstanceSinkOptions, 'jobs'>> & { jobs: JobQueue | null };
	/** Counters for the status heartbeat. */
	readonly counters = { stored: 0, duplicates: 0, failed: 0 };

	constructor(options: DbInstanceSinkOptions) {
		this.o = {
			source: IngestSource.dicom,
			stability: DEFAULT_STABILITY_SECONDS,
			settleSeconds: 3,
			now: () => new Date(),
			...options
		};
	}

	async store(obj: ReceivedInstance): Promise<void> {
		await this.storeInstance(obj);
	}

	/** Like `store`, returning what happened. */
	async storeInstance(obj: ReceivedInstance): Promise<StoreOutcome> {
		const { sql, log } = this.o;
		try {
			const out = (await sql.begin((tx) => this.write(tx, obj))) as StoreOutcome;
			if (out.status === 'stored') this.counters.stored++;
			else this.counters.duplicates++;
			return out;
		} catch (err) {
			this.counters.failed++;
			const message = err instanceof Error ? err.message : String(err);
			log.warn('instance not filed', { err, sopInstanceUid: obj.attributes.sopInstanceUid, callingAe: obj.callingAe });
			await recordIngestFailure(sql, log, {
				source: this.o.source,
				peer: obj.callingAe || obj.remoteAddress || null,
				reason: `database write failed: ${message}`,
				details: {
					code: (err as { code?: unknown })?.code ?? null,
					sopInstanceUid: obj.attributes.sopInstanceUid,
					studyInstanceUid: obj.attributes.studyInstanceUid,
					blobPath: obj.blobPath,
					remoteAddress: obj.remoteAddress,
					associationId: obj.associationId
				}
			});
			throw new InstanceRejectedError('out_of_resources', 'the database did not accept the instance; retry later', { cause: err });
		}
	}

	private async write(tx: SqlLike, obj: ReceivedInstance): Promise<StoreOutcome> {
		const a = obj.attributes;
		const at = this.o.now().toISOString();
		let ref: StudyRef | null = await studyByUid(tx, a.studyInstanceUid);
		// Slow path (first image, or images that now reveal the accession): locks, merge, normalization.
		if (!ref || (a.accessionNumber && !ref.accessionNumber)) ref = await this.resolveForImage(tx, obj);
		let [study] = await tx<LockedStudy[]>`
			SELECT s.id, s.status, s.modality, s.description, s.series_count, o.expected_series
			FROM studies s LEFT JOIN orders o ON o.id = s.order_id WHERE s.id = ${ref.id} FOR UPDATE OF s`;
		if (!study) {
			// Merged away between the lookup and the lock: resolve again under the key locks.
			ref = await this.resolveForImage(tx, obj);
			[study] = await tx<LockedStudy[]>`
				SELECT s.id, s.status, s.modality, s.description, s.series_count, o.expected_series
				FROM studies s LEFT JOIN orders o ON o.id = s.order_id WHERE s.id = ${ref.id} FOR UPDATE OF s`;
		}
		const [dup] = await tx<{ studyId: number }[]>`SELECT study_id AS "studyId" FROM instances WHERE sop_instance_uid = ${a.sopInstanceUid}`;
		// A resend: the blob was replaced atomically, the rows and events stay as they are.
		if (dup) return { status: 'duplicate', studyId: dup.studyId };

		const [series] = await tx<{ id: number; inserted: boolean }[]>`
			WITH ins AS (
				INSERT INTO series (study_id, series_instance_uid, modality, description, body_part, series_number)
				VALUES (${study.id}, ${a.seriesInstanceUid}, ${a.modality}, ${a.seriesDescription}, ${a.bodyPartExamined}, ${a.seriesNumber})
				ON CONFLICT (series_instance_uid) DO NOTHING RETURNING id
			)
			SELECT id, true AS inserted FROM ins
			UNION ALL SELECT id, false FROM series WHERE series_instance_uid = ${a.seriesInstanceUid}
			LIMIT 1`;
		await tx`INSERT INTO instances (sop_instance_uid, series_id, study_id, sop_class_uid, transfer_syntax_uid, blob_path, size_bytes, calling_ae, received_at)
			VALUES (${a.sopInstanceUid}, ${series.id}, ${study.id}, ${obj.sopClassUid}, ${obj.transferSyntaxUid}, ${obj.blobPath}, ${obj.size}, ${obj.callingAe || null}, ${at})`;
		await tx`UPDATE series SET instance_count = instance_count + 1 WHERE id = ${series.id}`;
		const seriesCount = study.series_count + (series.inserted ? 1 : 0);
		await tx`UPDATE studies SET instance_count = instance_count + 1, series_count = ${seriesCount}, last_image_at = ${at},
			modality = COALESCE(modality, ${a.modality}), description = COALESCE(description, ${a.studyDescription})
			WHERE id = ${study.id}`;

		const outcome = await applyStudyCommandTx(tx, this.o.jobs, {
			studyId: study.id,
			event: { kind: StudyEventKind.imageReceived, at },
			actor: `${this.o.source}:${obj.callingAe || obj.remoteAddress}`,
			idempotencyKey: `sop:${a.sopInstanceUid}`,
			payload: { sop: a.sopInstanceUid, series: a.seriesInstanceUid, bytes: obj.size, ...(series.inserted ? { new_series: true } : {}) }
		});
		if (outcome.status === 'refused' || outcome.status === 'not_found') {
			throw new Error(`image_received was ${outcome.status}${outcome.status === 'refused' ? `: ${outcome.reason}` : ''}`);
		}
		const status = outcome.status === 'applied' ? outcome.study.status : study.status;
		if (this.o.jobs && status === StudyStatus.arriving) {
			const expectedReached = study.expected_series != null && seriesCount >= study.expected_series;
			const wait = expectedReached ? this.o.settleSeconds : stabilityFor(this.o.stability, study.modality ?? a.modality);
			await scheduleCompleteness(tx, this.o.jobs, study.id, at, wait);
		}
		return { status: 'stored', studyId: study.id };
	}

	/** First image of a study (or one that brings its accession): link to the order, normalize. */
	private async resolveForImage(tx: SqlLike, obj: ReceivedInstance): Promise<StudyRef> {
		const a = obj.attributes;
		const acc = a.accessionNumber;
		const order = acc ? await findOrder(tx, acc) : null;
		const patientId =
			order?.patientId ?? (a.patientId ? await upsertPatient(tx, { mrn: a.patientId, issuer: a.issuerOfPatientId ?? '' }) : null);
		const { study, created, mergedFrom } = await resolveStudy(
			tx,
			{ studyInstanceUid: a.studyInstanceUid, accessionNumber: acc },
			{
				create: {
					patientId,
					orderId: order?.id ?? null,
					priority: order?.priority,
					patientClass: order?.patientClass ?? null,
					description: a.studyDescription ?? a.requestedProcedureDescription,
					modality: a.modality ?? order?.modality ?? null
				},
				siteHints: [a.institutionName]
			}
		);
		if (created || (!study.examCode && !mergedFrom)) {
			const exam =
				this.o.normalizer.byCode(order?.examCode) ??
				(await normalizeAndReview(tx, this.o.normalizer, {
					modality: a.modality,
					description: a.studyDescription ?? a.requestedProcedureDescription,
					bodyPart: a.bodyPartExamined,
					procedureCode: a.procedureCode?.value ?? null
				}));
			if (exam) {
				const p = examPatch(exam);
				await tx`UPDATE studies SET exam_code = ${p.examCode!}, exam_name = ${p.examName!}, body_region = ${p.bodyRegion!},
					subspecialty = ${p.subspecialty!}, rvu = ${p.rvu!}, expected_read_minutes = ${p.expectedReadMinutes!},
					modality = COALESCE(modality, ${exam.modality}) WHERE id = ${study.id}`;
				study.examCode = exam.examCode;
			}
		}
		if (mergedFrom) this.o.log.info('study merged', { studyId: study.id, mergedFrom, accession: acc });
		return study;
	}
}
