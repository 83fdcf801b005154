/**
 * The database side of DICOM ingest (DIMSE C-STORE and STOW-RS): files the
 * series and instance rows, records `image_received` (one event per instance,
 * idempotent on the SOP Instance UID), bumps the study's counters and
 * schedules the completeness check. The edge acknowledges only after this
 * committed; a failure is answered with a DICOM failure status and recorded in
 * `ingest_failures`.
 *
 * Group commit: instances that arrive while a transaction is being written
 * (from any association) share the next one, with multi-row statements and
 * one lifecycle update per study. A batch that fails as a whole is retried
 * one instance per transaction, so one bad instance never fails its neighbours.
 *
 * @see docs/dicom-conformance.md 2.4 (status codes)
 */
import type { InstanceSink, ReceivedInstance } from '../../../../workers/dicom/server';
import { InstanceRejectedError } from '../../../../workers/dicom/server';
import type { Sql, SqlLike } from '../db/client';
import { GroupCommit } from '../db/group-commit';
import { reserveConnection } from '../db/pipelined';
import { applyStudyCommandTx, foldStudyCommands, sendFollowUps, STUDY_ROW_SELECT, toStudyRow, type FoldedCommand } from '../events/transition';
import type { FollowUp } from '../../domain/study/lifecycle';
import { insertEvents, type NewEvent } from '../events/store';
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
	/** Largest number of instances in one transaction (default 256; 1 disables group commit). */
	maxBatch?: number;
}

/** Outcome of one store, for callers that want to know (STOW, tests). */
export type StoreOutcome = { status: 'stored'; studyId: number } | { status: 'duplicate'; studyId: number | null };

interface Pending {
	obj: ReceivedInstance;
	at: string;
	/** The blob's flush; the instance's row is committed only after it resolved. */
	durable: Promise<void> | undefined;
}

/** A batch could not be written as one transaction; its instances are retried alone. */
class BatchFallback extends Error {}

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
	/** Counters for the status heartbeat; `batches` counts group transactions (instances filed per batch = stored / batches, about). */
	readonly counters = { stored: 0, duplicates: 0, failed: 0, batches: 0 };

	/**
	 * One batch at a time: whatever arrived while the previous one was being
	 * committed goes into the next (latency stays one or two commits, throughput
	 * grows with load). One writer also keeps batches from taking study locks
	 * against each other.
	 */
	private readonly group: GroupCommit<Pending, StoreOutcome>;
	/** Study UID → id and series UID → id seen recently: saves lookups for the next images of a series. */
	private readonly studyIds = new Map<string, { id: number; accession: string | null }>();
	private readonly seriesIds = new Map<string, number>();
	/** Study id → time before which a completeness check committed by this sink surely still waits. */
	private readonly completenessUntil = new Map<number, number>();
	private afterCommit: (() => void) | null = null;

	constructor(options: DbInstanceSinkOptions) {
		this.o = {
			source: IngestSource.dicom,
			stability: DEFAULT_STABILITY_SECONDS,
			settleSeconds: 3,
			now: () => new Date(),
			maxBatch: 256,
			...options
		};
		this.group = new GroupCommit<Pending, StoreOutcome>({
			maxGroup: this.o.maxBatch,
			writeAlone: (p) => this.writeOne(p),
			writeGroup: (batch) => this.writeGroup(batch),
			onGroupFailed: (err, size) => {
				if (!(err instanceof BatchFallback)) this.o.log.debug('batch write failed, retrying one by one', { err, size });
				this.forget();
			}
		});
	}

	async store(obj: ReceivedInstance, blobDurable?: Promise<void>): Promise<void> {
		await this.storeInstance(obj, blobDurable);
	}

	/**
	 * Like `store`, returning what happened. Resolves once the instance's transaction committed;
	 * with `blobDurable`, that commit waits for it (the reads and writes before it do not).
	 */
	storeInstance(obj: ReceivedInstance, blobDurable?: Promise<void>): Promise<StoreOutcome> {
		// Awaited at COMMIT (or by the fallback), maybe after it settled: a failure is the caller's to report.
		blobDurable?.catch(() => {});
		if (this.o.maxBatch <= 1) return this.storeAlone(obj, this.o.now().toISOString(), blobDurable);
		return this.group.submit({ obj, at: this.o.now().toISOString(), durable: blobDurable });
	}

	/** One instance: the batch writer is the fast path (fewer round trips); it falls back on anything unusual. */
	private async writeOne(p: Pending): Promise<StoreOutcome> {
		try {
			const [out] = await this.writeGroup([p]);
			return out;
		} catch (err) {
			if (!(err instanceof BatchFallback)) this.o.log.debug('batch write failed, retrying alone', { err });
			this.forget();
		}
		return this.storeAlone(p.obj, p.at, p.durable);
	}

	private async writeGroup(batch: Pending[]): Promise<StoreOutcome[]> {
		const outs = await this.writeBatchTx(batch);
		this.counters.batches++;
		for (const out of outs) this.count(out);
		return outs;
	}

	private count(out: StoreOutcome): void {
		if (out.status === 'stored') this.counters.stored++;
		else this.counters.duplicates++;
	}

	private forget(): void {
		this.studyIds.clear();
		this.seriesIds.clear();
	}

	private remember<K, V>(m: Map<K, V>, k: K, v: V): void {
		if (m.size >= 4096) m.delete(m.keys().next().value as K);
		m.set(k, v);
	}

	/** One instance in its own transaction (the fallback path), after its blob's flush (a failed flush is the caller's to report). */
	private async storeAlone(obj: ReceivedInstance, at: string, durable: Promise<void> | undefined): Promise<StoreOutcome> {
		const { sql, log } = this.o;
		await durable;
		try {
			const out = (await sql.begin((tx) => this.write(tx, obj, at))) as StoreOutcome;
			this.count(out);
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

	private async write(tx: SqlLike, obj: ReceivedInstance, at: string): Promise<StoreOutcome> {
		const a = obj.attributes;
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

	/**
	 * Files a batch in ONE transaction. Round trips in the common case (studies
	 * and series already known): lock + duplicate check, the multi-row writes,
	 * the lifecycle fold per study, then the events (one insert for the batch).
	 * Throws BatchFallback for anything the single-instance path handles better.
	 */
	private async writeBatchTx(batch: Pending[]): Promise<StoreOutcome[]> {
		this.afterCommit = null;
		// BEGIN travels with the first reads and COMMIT with the last writes (one
		// pipeline each): two round trips for a batch in the common case, not four.
		const conn = await reserveConnection(this.o.sql);
		let committed = false;
		try {
			// Settled (never unhandled) even when the batch fails before it is awaited.
			const begin = Promise.resolve(conn.unsafe('BEGIN')).then(() => null, (e: unknown) => ({ e }));
			const outs = await this.writeBatch(conn, batch, async () => {
				// Rows point at durable blobs only: everything before COMMIT ran during the flushes.
				await Promise.all(batch.map((p) => p.durable));
				committed = true;
				return conn.unsafe('COMMIT');
			});
			const beginFailed = await begin;
			if (beginFailed) throw beginFailed.e;
			if (!committed) {
				committed = true;
				await conn.unsafe('COMMIT');
			}
			const after = this.afterCommit as (() => void) | null;
			this.afterCommit = null;
			after?.();
			return outs;
		} catch (err) {
			// After a failed statement PostgreSQL turns a pipelined COMMIT into a rollback; otherwise roll back here.
			if (!committed) await conn.unsafe('ROLLBACK').catch(() => {});
			throw err;
		} finally {
			conn.release();
		}
	}

	private async writeBatch(tx: SqlLike, batch: Pending[], commit: () => PromiseLike<unknown>): Promise<StoreOutcome[]> {
		const outs: (StoreOutcome | null)[] = batch.map(() => null);
		// Same SOP twice in one batch: the later one is a resend of the earlier.
		const firstBySop = new Map<string, number>();
		const fresh: number[] = [];
		batch.forEach((p, i) => {
			const sop = p.obj.attributes.sopInstanceUid;
			if (firstBySop.has(sop)) return;
			firstBySop.set(sop, i);
			fresh.push(i);
		});

		// 1. Studies: cached ids, else one lookup; new studies, or images that bring an accession, take the slow path.
		const studyUids = [...new Set(fresh.map((i) => batch[i].obj.attributes.studyInstanceUid))].sort();
		const refs = new Map<string, { id: number; accession: string | null }>();
		const unknown: string[] = [];
		for (const uid of studyUids) {
			const c = this.studyIds.get(uid);
			if (c) refs.set(uid, c);
			else unknown.push(uid);
		}
		if (unknown.length > 0) {
			const rows = await tx<{ id: number; uid: string; acc: string | null }[]>`
				SELECT id, study_instance_uid AS uid, accession_number AS acc FROM studies WHERE study_instance_uid = ANY(${unknown}::text[])`;
			for (const r of rows) refs.set(r.uid, { id: r.id, accession: r.acc });
		}
		for (const uid of studyUids) {
			const ref = refs.get(uid);
			const members = fresh.filter((i) => batch[i].obj.attributes.studyInstanceUid === uid);
			const withAcc = members.find((i) => !!batch[i].obj.attributes.accessionNumber);
			if (!ref || (withAcc !== undefined && !ref.accession)) {
				const r = await this.resolveForImage(tx, batch[withAcc ?? members[0]].obj);
				refs.set(uid, { id: r.id, accession: r.accessionNumber });
			}
		}

		// 2. One round trip: lock the study rows (id order), then, under the locks, the
		// instances and event keys stored before (one statement: it takes its snapshot
		// after the lock statement returned, so it sees what the lock holder committed).
		const ids = [...new Set([...refs.values()].map((r) => r.id))].sort((x, y) => x - y);
		const sops = [...firstBySop.keys()];
		const [locked, storedBefore] = await Promise.all([
			tx.unsafe<(Record<string, unknown> & { id: number; uid: string | null; series_count: number; expected_series: number | null; description: string | null })[]>(
				`SELECT st.*, o.expected_series FROM (
					SELECT ${STUDY_ROW_SELECT}, study_instance_uid AS uid, order_id, series_count, description
					FROM studies WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE
				) st LEFT JOIN orders o ON o.id = st.order_id`,
				[ids] as never[],
				{ prepare: true }
			),
			// A row per instance stored before (with its study) and per event key recorded before (study null).
			tx<{ sop: string | null; studyId: number | null; key: string | null }[]>`
				SELECT sop_instance_uid AS sop, study_id AS "studyId", NULL::text AS key FROM instances WHERE sop_instance_uid = ANY(${sops}::text[])
				UNION ALL
				SELECT NULL, NULL, key FROM event_keys WHERE key = ANY(${sops.map((u) => `sop:${u}`)}::text[])`
		]);
		const studyById = new Map(locked.map((r) => [r.id, r]));
		for (const uid of studyUids) {
			const st = studyById.get(refs.get(uid)!.id);
			// Merged away or re-keyed since the lookup: the single path resolves again under the key locks.
			if (!st || st.uid !== uid) throw new BatchFallback('study moved');
		}
		const seenKeys = new Set<string>();
		const stored = new Map<string, number>();
		for (const r of storedBefore) {
			if (r.key !== null) seenKeys.add(r.key);
			else stored.set(r.sop!, r.studyId!);
		}
		const toFile: number[] = [];
		for (const i of fresh) {
			const sop = batch[i].obj.attributes.sopInstanceUid;
			if (stored.has(sop)) outs[i] = { status: 'duplicate', studyId: stored.get(sop)! };
			else toFile.push(i);
		}

		// 3. Series: cached ids, else one multi-row upsert.
		const seriesInput = new Map<string, { study_id: number; uid: string; modality: string | null; description: string | null; body_part: string | null; series_number: number | null }>();
		for (const i of toFile) {
			const a = batch[i].obj.attributes;
			if (this.seriesIds.has(a.seriesInstanceUid) || seriesInput.has(a.seriesInstanceUid)) continue;
			seriesInput.set(a.seriesInstanceUid, {
				study_id: refs.get(a.studyInstanceUid)!.id,
				uid: a.seriesInstanceUid,
				modality: a.modality ?? null,
				description: a.seriesDescription ?? null,
				body_part: a.bodyPartExamined ?? null,
				series_number: a.seriesNumber ?? null
			});
		}
		const seriesId = new Map<string, number>();
		const newSeries = new Set<string>();
		for (const i of toFile) {
			const u = batch[i].obj.attributes.seriesInstanceUid;
			const c = this.seriesIds.get(u);
			if (c !== undefined) seriesId.set(u, c);
		}
		if (seriesInput.size > 0) {
			const rows = await tx.unsafe<{ id: number; uid: string; inserted: boolean }[]>(
				`WITH input AS (
					SELECT * FROM json_to_recordset($1::text::json) AS x(study_id bigint, uid text, modality text, description text, body_part text, series_number integer)
				), ins AS (
					INSERT INTO series (study_id, series_instance_uid, modality, description, body_part, series_number)
					SELECT study_id, uid, modality, description, body_part, series_number FROM input
					ON CONFLICT (series_instance_uid) DO NOTHING RETURNING id, series_instance_uid AS uid
				)
				SELECT id, uid, true AS inserted FROM ins
				UNION ALL SELECT s.id, s.series_instance_uid, false FROM series s JOIN input i ON i.uid = s.series_instance_uid`,
				[JSON.stringify([...seriesInput.values()])],
				{ prepare: true }
			);
			for (const r of rows) {
				if (r.inserted) newSeries.add(r.uid);
				seriesId.set(r.uid, r.id);
			}
		}

		// 4. Everything computable in memory: rows, counters, the lifecycle fold per study.
		const instRows = toFile.map((i) => {
			const { obj, at } = batch[i];
			const a = obj.attributes;
			return {
				sop: a.sopInstanceUid,
				series_id: seriesId.get(a.seriesInstanceUid)!,
				study_id: refs.get(a.studyInstanceUid)!.id,
				sop_class: obj.sopClassUid,
				ts: obj.transferSyntaxUid,
				path: obj.blobPath,
				size: obj.size,
				ae: obj.callingAe || null,
				at
			};
		});
		if (instRows.some((r) => r.series_id === undefined)) throw new BatchFallback('series id missing');
		const perSeries = new Map<number, number>();
		for (const r of instRows) perSeries.set(r.series_id, (perSeries.get(r.series_id) ?? 0) + 1);
		const studyCounts = new Map<number, { n: number; newSeries: number; last: string; modality: string | null; description: string | null; members: number[] }>();
		const countedSeries = new Set<string>();
		for (const i of toFile) {
			const { at, obj } = batch[i];
			const a = obj.attributes;
			const id = refs.get(a.studyInstanceUid)!.id;
			const c = studyCounts.get(id) ?? { n: 0, newSeries: 0, last: at, modality: null, description: null, members: [] };
			c.n++;
			c.members.push(i);
			if (at > c.last) c.last = at;
			c.modality ??= a.modality ?? null;
			c.description ??= a.studyDescription ?? null;
			if (newSeries.has(a.seriesInstanceUid) && !countedSeries.has(a.seriesInstanceUid)) {
				countedSeries.add(a.seriesInstanceUid);
				c.newSeries++;
			}
			studyCounts.set(id, c);
		}
		const events: NewEvent[] = [];
		const updates: { text: string; values: unknown[] }[] = [];
		const completeness: { studyId: number; last: string; wait: number }[] = [];
		const followUps: { studyId: number; f: FollowUp[] }[] = [];
		const nowMs = Date.now();
		for (const [studyId, c] of studyCounts) {
			const before = studyById.get(studyId)!;
			const current = toStudyRow(before);
			const commands: FoldedCommand[] = c.members.map((i) => {
				const { obj, at } = batch[i];
				const a = obj.attributes;
				return {
					event: { kind: StudyEventKind.imageReceived, at },
					actor: `${this.o.source}:${obj.callingAe || obj.remoteAddress}`,
					idempotencyKey: `sop:${a.sopInstanceUid}`,
					payload: { sop: a.sopInstanceUid, series: a.seriesInstanceUid, bytes: obj.size, ...(newSeries.has(a.seriesInstanceUid) ? { new_series: true } : {}) }
				};
			});
			// The counters update below fills a missing modality: the events carry it like the row will.
			const fold = foldStudyCommands(current, seenKeys, commands, { modality: current.modality ?? c.modality });
			for (const o of fold.outcomes) {
				if (o.status === 'refused') throw new Error(`image_received was refused: ${o.reason}`);
				if (o.status === 'applied') events.push(o.event);
			}
			if (fold.update) updates.push(fold.update);
			if (fold.followUps.length > 0) followUps.push({ studyId, f: fold.followUps });
			if (this.o.jobs && fold.next.status === StudyStatus.arriving) {
				const seriesCount = before.series_count + c.newSeries;
				const expectedReached = before.expected_series != null && seriesCount >= before.expected_series;
				const wait = expectedReached ? this.o.settleSeconds : stabilityFor(this.o.stability, current.modality ?? c.modality);
				// A check scheduled by an earlier commit cannot have started before its start time: no need to look.
				if ((this.completenessUntil.get(studyId) ?? 0) <= nowMs) completeness.push({ studyId, last: c.last, wait });
			}
			for (const i of c.members) outs[i] = { status: 'stored', studyId };
		}

		// 5. Jobs (rare: first image of a study, or its check already ran), before the event-id lock.
		for (const { studyId, last, wait } of completeness) await scheduleCompleteness(tx, this.o.jobs!, studyId, last, wait);
		for (const { studyId, f } of followUps) await sendFollowUps(tx, this.o.jobs, studyId, f);

		// 6. One pipeline: rows, counters, the lifecycle updates, then the events (which take the id-order lock last).
		if (instRows.length > 0) {
			const writes = [
				// Rows and counters in one statement (three tables, each row touched once).
				tx.unsafe(
					`WITH inst AS (
						INSERT INTO instances (sop_instance_uid, series_id, study_id, sop_class_uid, transfer_syntax_uid, blob_path, size_bytes, calling_ae, received_at)
						SELECT sop, series_id, study_id, sop_class, ts, path, size, ae, at FROM json_to_recordset($1::text::json)
							AS x(sop text, series_id bigint, study_id bigint, sop_class text, ts text, path text, size bigint, ae text, at timestamptz)
						RETURNING 1
					), ser AS (
						UPDATE series s SET instance_count = s.instance_count + x.n
						FROM json_to_recordset($2::text::json) AS x(id bigint, n integer) WHERE s.id = x.id
						RETURNING 1
					), stu AS (
						UPDATE studies s SET instance_count = s.instance_count + x.n, series_count = s.series_count + x.new_series,
							last_image_at = GREATEST(s.last_image_at, x.last), modality = COALESCE(s.modality, x.modality),
							description = COALESCE(s.description, x.description)
						FROM json_to_recordset($3::text::json) AS x(id bigint, n integer, new_series integer, last timestamptz, modality text, description text)
						WHERE s.id = x.id
						RETURNING 1
					)
					SELECT (SELECT count(*) FROM inst) AS instances, (SELECT count(*) FROM ser) AS series, (SELECT count(*) FROM stu) AS studies`,
					[
						JSON.stringify(instRows),
						JSON.stringify([...perSeries].map(([id, n]) => ({ id, n }))),
						JSON.stringify([...studyCounts].map(([id, c]) => ({ id, n: c.n, new_series: c.newSeries, last: c.last, modality: c.modality, description: c.description })))
					],
					{ prepare: true }
				),
				...updates.map((u) => tx.unsafe(u.text, u.values as never[], { prepare: true }))
			];
			// execute() sends now, so the writes precede the event lock on the wire, and COMMIT follows them.
			for (const w of writes) w.execute();
			const sent = [...writes, events.length > 0 ? insertEvents(tx, events) : null, commit()];
			// Every reply is in before the connection is handed back; the first failure is the one reported.
			const settled = await Promise.allSettled(sent);
			const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
			if (failed) throw failed.reason;
		}
		const until = Date.now();
		this.afterCommit = () => {
			for (const { studyId, wait } of completeness) this.remember(this.completenessUntil, studyId, until + (wait - 1) * 1000);
		};

		// Resends within the batch point at their first copy.
		batch.forEach((p, i) => {
			if (outs[i]) return;
			const first = outs[firstBySop.get(p.obj.attributes.sopInstanceUid)!];
			outs[i] = { status: 'duplicate', studyId: first?.studyId ?? null };
		});
		for (const [uid, r] of refs) this.remember(this.studyIds, uid, r);
		for (const [uid, id] of seriesId) this.remember(this.seriesIds, uid, id);
		return outs as StoreOutcome[];
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
