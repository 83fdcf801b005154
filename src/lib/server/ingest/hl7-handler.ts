/**
 * The database side of HL7 ingest: stores the raw message (duplicate = same
 * sender + MSH-10, acknowledged again, applied once) and applies its commands in
 * one transaction, per patient in arrival order.
 *
 * Enhanced mode with a commit accept asked for (MSH-15 not NE) is two-phase: the
 * raw message is made durable first, marked pending (one insert, grouped across
 * connections), the edge answers CA, and the commands are applied afterwards,
 * in the same order and transactions as above. A pending message is never
 * dropped: a database failure while applying it is retried, and a restarted
 * role applies whatever is still pending ({@link Hl7DbHandler.recoverPending}).
 *
 * Errors: a semantic problem throws Hl7ApplicationError (→ AE with ERR); anything
 * else (database down) is untyped (→ AR 207, the sender resends). NACKs are
 * recorded in hl7_messages by {@link recordNacks}.
 *
 * @see docs/hl7-interface-spec.md
 */
import { mapInbound, type Hl7Handler, type Hl7HandlerContext, type Hl7Inbound, type MapInboundOptions } from '../../../../workers/hl7/handlers';
import { parseHl7Message } from '../../../../workers/hl7/message';
import type { Hl7NackStat, Hl7StatsEmitter } from '../../../../workers/hl7/events';
import { KeyedSerialQueue } from '../../../../workers/hl7/queue';
import {
	Hl7CommandType,
	OrderStatus,
	ReportStatus,
	type Hl7Command,
	type Hl7Location,
	type LabResultsCommand,
	type OrderCancelCommand,
	type OrderChangeCommand,
	type OrderPlaceCommand,
	type OrderStatusCommand,
	type PatientMergeCommand,
	type ReportResultCommand,
	type VisitUpdateCommand
} from '../../domain/hl7/commands';
import { Hl7ApplicationError, Hl7ErrorCode } from '../../domain/hl7/errors';
import { StudyEventKind, type StudyEvent } from '../../domain/study/lifecycle';
import { StudyStatus } from '../../domain/study/model';
import type { Sql, SqlLike } from '../db/client';
import { GroupCommit, type GroupCommitOptions } from '../db/group-commit';
import { pipelinedTransaction, type PipelineContext } from '../db/pipelined';
import { foldStudyCommands, lockStudyRow, seenEventKeys, sendFollowUps, type FoldedCommand, type LockedStudy, type StudyPatch, type StudyRow } from '../events/transition';
import { insertEvents, pgArray, type NewEvent } from '../events/store';
import { isTransientDatabaseError } from '../db/errors';
import type { JobQueue } from '../jobs/queue';
import { safeErrorText, type Logger } from '../log';
import {
	currentRoutingPolicy,
	examPatch,
	fillStudyKeys,
	insertStudyRow,
	lockOpenStudiesWithOtherClass,
	lookupStudyKeys,
	mergePatients,
	normalizeAndReview,
	resolveStudy,
	setOrderStatus,
	slaDeadline,
	upsertOrder,
	upsertPatient,
	upsertPatientVisit,
	type ExamNormalizer,
	type ResolveOptions
} from './studies';

export interface Hl7DbHandlerOptions {
	sql: Sql;
	jobs: JobQueue | null;
	normalizer: ExamNormalizer;
	log: Logger;
	/** Most messages answered CA and not yet applied; a further one waits for its CA (default {@link HL7_MAX_PENDING}). */
	maxPending?: number;
}

/** `MSH-3|MSH-4` and MSH-10 from the idempotency key `MSH-3|MSH-4|MSH-10`. */
export function splitIdempotencyKey(key: string): { sender: string; controlId: string } {
	const i = key.lastIndexOf('|');
	return i < 0 ? { sender: '', controlId: key } : { sender: key.slice(0, i), controlId: key.slice(i + 1) };
}

function locationText(l: Hl7Location | null): string | null {
	if (!l) return null;
	const parts = [l.pointOfCare, l.room, l.bed].filter(Boolean).join('/');
	const where = [l.facility, parts].filter(Boolean).join(' ');
	return where || l.description || null;
}

/** Most messages in one group transaction. */
export const HL7_MAX_GROUP = 64;

/** Most messages answered CA and not yet applied, per process (about a second of work). */
export const HL7_MAX_PENDING = 2_000;

/**
 * How long an accepted message waits for others before its group is applied
 * (enhanced mode): fewer, larger transactions leave more of the two cores to
 * the CA path. Measured by changing this value and running `radflow bench hl7`
 * (enhanced phase, one connection) on the 2-core development VM: 0 ms gave
 * 676–759 CA/s in 3 runs, 2 ms gave 803–942 in 14 runs.
 */
const PENDING_GATHER_MS = 2;

/** Retry delays (ms) for applying a message already answered CA while the database fails; the last repeats. */
const PENDING_RETRY_MS = [100, 500, 2_000, 5_000];
const RETRY_LOG_EVERY_MS = 5_000;

/**
 * Keys that order a message against the others in flight: its patient, its
 * control id, and every patient, accession and study UID its commands name.
 * Messages sharing a key apply one after another, in arrival order; so no two
 * messages of one group transaction are about the same patient or study.
 */
export function orderingKeys(inbound: Hl7Inbound): string[] {
	const keys = [`m:${inbound.idempotencyKey}`];
	if (inbound.patientKey) keys.push(`p:${inbound.patientKey}`);
	for (const cmd of inbound.commands) {
		if ('accessionNumber' in cmd && cmd.accessionNumber) keys.push(`a:${cmd.accessionNumber}`);
		if ('studyInstanceUid' in cmd && cmd.studyInstanceUid) keys.push(`u:${cmd.studyInstanceUid}`);
		if (cmd.type === Hl7CommandType.patientMerge) keys.push(`p:${cmd.mergedPatient.key}`);
	}
	return keys;
}

export interface Hl7DbHandlerStats {
	applied: number;
	duplicates: number;
	/** Answered CA, not applied yet (this process). */
	readonly pending: number;
	readonly transactions: number;
	readonly failedGroups: number;
}

export interface RecoverPendingOptions {
	/** How stored messages map to commands: as the HL7 edge maps them. */
	mapping: Pick<MapInboundOptions, 'unknownTypes' | 'defaultOffsetMinutes'>;
	/** Only messages received longer ago than this (a sweep beside live traffic); default 0: all. */
	olderThanMs?: number;
	/** Most messages taken in one pass (default 5,000). */
	limit?: number;
}

export interface Hl7DbHandler extends Hl7Handler {
	stats: Hl7DbHandlerStats;
	/**
	 * Applies messages answered CA whose application did not finish (the process
	 * stopped, or another one did), oldest first. Every message is in the
	 * ordering queue when this resolves, ahead of whatever arrives next; `applied`
	 * settles when they are applied. Messages this process is applying are skipped.
	 */
	recoverPending(options: RecoverPendingOptions): Promise<{ found: number; applied: Promise<void> }>;
	/** Stop retrying: what is still pending stays pending, for the next start. */
	stop(): void;
	/** Resolves when every message received so far is applied (or refused). */
	idle(): Promise<void>;
}

/**
 * How a transaction files the raw messages of its batch: stores them (original
 * mode) or takes them from pending (enhanced mode, stored before the CA);
 * resolves to how many were new, fewer when one was a duplicate.
 */
type RawStep = (tx: SqlLike, batch: Hl7Inbound[]) => Promise<number>;

/**
 * The database-backed {@link Hl7Handler}; `stats` counts outcomes for the
 * heartbeat (`transactions` < `applied + duplicates` when messages shared
 * group transactions).
 */
export function createHl7DbHandler(options: Hl7DbHandlerOptions & { maxGroup?: number }): Hl7DbHandler {
	const queue = new KeyedSerialQueue();
	const apply = new CommandApplier(options);
	const writer = (raw: RawStep, scheduling: Pick<GroupCommitOptions<Hl7Inbound, boolean>, 'gatherMs' | 'maxInFlight' | 'minOverlapGroup'> = {}) =>
		new GroupCommit<Hl7Inbound, boolean>({
			maxGroup: options.maxGroup ?? HL7_MAX_GROUP,
			...scheduling,
			writeAlone: (inbound) => storeAndApplyOnce(options.sql, [inbound], raw, apply),
			writeGroup: (batch) => storeAndApplyGroup(options.sql, batch, raw, apply),
			onGroupFailed: (err, size) => options.log.debug('hl7 group transaction failed; its messages are applied one by one', { err, size })
		});
	const group = writer(storeRawMessages);
	// Enhanced mode: messages already answered CA; no sender waits on each, so they gather into larger
	// groups, and a backlog gets a second writer (Node prepares one group while PostgreSQL runs the other).
	const pendingGroup = writer(claimPendingMessages, { gatherMs: PENDING_GATHER_MS, maxInFlight: 2, minOverlapGroup: 16 });
	// Enhanced mode: raw messages stored pending, one autocommit insert per group.
	const inbox = new GroupCommit<Hl7Inbound, boolean>({ maxGroup: HL7_MAX_GROUP * 4, writeGroup: (batch) => storePending(options.sql, batch) });
	const maxPending = options.maxPending ?? HL7_MAX_PENDING;
	/** Idempotency keys this process accepted and is applying (a recovery pass leaves them alone; at maxPending a new CA waits). */
	const inFlight = new Set<string>();
	const placeWaiters: (() => void)[] = [];
	let stopped = false;
	let retrying = 0;
	let lastRetryLog = 0;
	const stats = {
		applied: 0,
		duplicates: 0,
		get pending() {
			return inFlight.size;
		},
		get transactions() {
			return group.counters.transactions + pendingGroup.counters.transactions;
		},
		get failedGroups() {
			return group.counters.failedGroups + pendingGroup.counters.failedGroups;
		}
	};
	const count = (fresh: boolean) => {
		if (fresh) stats.applied++;
		else stats.duplicates++;
	};
	/** Every message handed over and not settled yet, for idle(). */
	const unsettled = new Set<Promise<void>>();
	const track = <T>(p: Promise<T>): Promise<T> => {
		const forget = () => void unsettled.delete(settled);
		const settled: Promise<void> = p.then(forget, forget);
		unsettled.add(settled);
		return p;
	};

	/** Applies a stored pending message; a database failure is retried until it applies, is refused, or the handler stops. */
	const applyPending = async (inbound: Hl7Inbound): Promise<boolean> => {
		for (let attempt = 0; ; attempt++) {
			try {
				return await pendingGroup.submit(inbound);
			} catch (err) {
				// Refused for what it says (AE), or by the database for its content (AR 207): retrying would fail the same way.
				if (err instanceof Hl7ApplicationError || !isTransientDatabaseError(err)) {
					await refusePending(options.sql, inbound, err).catch((e) =>
						options.log.warn('could not record the refusal of a pending HL7 message; the next recovery applies it again', { err: e, key: inbound.idempotencyKey })
					);
					throw err;
				}
				if (stopped) throw err;
				const ms = PENDING_RETRY_MS[Math.min(attempt, PENDING_RETRY_MS.length - 1)];
				retrying++;
				// One line per few seconds for all of them: an outage would otherwise log every accepted message.
				if (Date.now() - lastRetryLog > RETRY_LOG_EVERY_MS) {
					lastRetryLog = Date.now();
					options.log.warn('applying accepted HL7 messages failed; retrying (they stay stored as pending). Check the database.', { err, retrying });
				}
				await new Promise((r) => setTimeout(r, ms)).finally(() => retrying--);
			}
		}
	};

	/** Queued behind every earlier message sharing a key; `stored` settles first (false or failed: nothing to apply). */
	const enqueuePending = (inbound: Hl7Inbound, stored: Promise<boolean>): Promise<boolean> => {
		inFlight.add(inbound.idempotencyKey);
		return queue
			.run(orderingKeys(inbound), async () => ((await stored.catch(() => false)) ? applyPending(inbound) : false))
			.finally(() => {
				inFlight.delete(inbound.idempotencyKey);
				placeWaiters.shift()?.();
			});
	};

	const twoPhase = async (inbound: Hl7Inbound, context: Hl7HandlerContext) => {
		while (inFlight.size >= maxPending) await new Promise<void>((r) => placeWaiters.push(r));
		const stored = inbox.submit(inbound);
		// Queued now, in arrival order, though the insert has not committed yet.
		const applied = enqueuePending(inbound, stored);
		applied.catch(() => {});
		if (!(await stored)) {
			// Stored before: acknowledged again (CA, and AA when asked), applied once by whoever stored it.
			count(false);
			return;
		}
		context.accepted();
		count(await applied);
	};

	const handler = (inbound: Hl7Inbound, context: Hl7HandlerContext) =>
		track(context.commitAccept ? twoPhase(inbound, context) : queue.run(orderingKeys(inbound), () => group.submit(inbound)).then(count));

	const recoverPending = async (o: RecoverPendingOptions) => {
		const rows = await options.sql<{ id: number; raw: string; receivedAt: Date; sender: string; controlId: string }[]>`
			SELECT id, raw, received_at AS "receivedAt", sender, control_id AS "controlId" FROM hl7_messages
			WHERE pending AND received_at < now() - make_interval(secs => ${(o.olderThanMs ?? 0) / 1000})
			ORDER BY id LIMIT ${o.limit ?? 5_000}`;
		const applied: Promise<unknown>[] = [];
		for (const row of rows) {
			if (inFlight.has(`${row.sender}|${row.controlId}`)) continue;
			let inbound: Hl7Inbound;
			try {
				inbound = mapInbound(parseHl7Message(row.raw), { ...o.mapping, receivedAt: row.receivedAt.toISOString(), connectionId: 'recovery' });
			} catch (err) {
				const refusal = err instanceof Hl7ApplicationError ? err : new Hl7ApplicationError(Hl7ErrorCode.applicationInternalError, 'stored message no longer parses');
				await refusePending(options.sql, { idempotencyKey: `${row.sender}|${row.controlId}` }, refusal);
				options.log.warn('a pending HL7 message could not be mapped again; recorded as refused', { id: row.id, reason: refusal.message });
				continue;
			}
			applied.push(
				track(enqueuePending(inbound, Promise.resolve(true))).catch((err) =>
					options.log.warn('a recovered HL7 message was not applied', { id: row.id, reason: safeErrorText(err) })
				)
			);
		}
		if (rows.length) options.log.info('applying HL7 messages accepted (CA) before and not applied yet', { found: rows.length });
		return { found: rows.length, applied: Promise.all(applied).then(() => undefined) };
	};

	return Object.assign(handler, {
		stats,
		recoverPending,
		stop: () => {
			stopped = true;
		},
		idle: async () => {
			while (unsettled.size > 0) await Promise.all(unsettled);
		}
	});
}

/**
 * Enhanced mode's durable step: the raw messages of `batch` stored with
 * ack_code CA, pending, in one autocommit statement; per message, false when it
 * was stored before (a resend, applied once by whoever stored it). A row with a
 * negative ack may be stored again. Two copies in one batch: the second is the resend.
 */
async function storePending(sql: Sql, batch: Hl7Inbound[]): Promise<boolean[]> {
	const first = new Map<string, number>();
	batch.forEach((m, i) => first.has(m.idempotencyKey) || first.set(m.idempotencyKey, i));
	const upsert = rawMessageUpsert('CA', [...first.values()].map((i) => batch[i]));
	const rows = await sql.unsafe<{ sender: string; control_id: string }[]>(upsert.text, upsert.values, { prepare: true });
	const fresh = new Set(rows.map((r) => `${r.sender}|${r.control_id}`));
	return batch.map((m, i) => first.get(m.idempotencyKey) === i && fresh.has(m.idempotencyKey));
}

/**
 * The raw messages of `batch` (distinct control ids) in one upsert, answered
 * `ack` (CA: pending, its commands still to apply); returns the rows stored.
 * A row with a negative ack may be stored again (the sender fixed and resent
 * it); an AA or CA row is a duplicate and is left as it is.
 */
function rawMessageUpsert(ack: 'AA' | 'CA', batch: Hl7Inbound[]): { text: string; values: string[] } {
	const keys = batch.map((m) => splitIdempotencyKey(m.idempotencyKey));
	const column = (f: (m: Hl7Inbound, i: number) => string) => pgArray(batch.map(f));
	return {
		text: `INSERT INTO hl7_messages (sender, control_id, message_type, received_at, ack_code, raw, pending)
			SELECT sender, control_id, message_type, received_at, '${ack}', raw, ${ack === 'CA'}
			FROM unnest($1::text::text[], $2::text::text[], $3::text::text[], $4::text::timestamptz[], $5::text::text[])
				AS x(sender, control_id, message_type, received_at, raw)
			ON CONFLICT (sender, control_id) DO UPDATE SET ack_code = EXCLUDED.ack_code, pending = EXCLUDED.pending, error = NULL,
				raw = EXCLUDED.raw, received_at = EXCLUDED.received_at, message_type = EXCLUDED.message_type
			WHERE hl7_messages.ack_code NOT IN ('AA', 'CA')
			RETURNING sender, control_id`,
		values: [
			column((_, i) => keys[i].sender),
			column((_, i) => keys[i].controlId),
			column((m) => `${m.header.messageType}^${m.header.triggerEvent}`),
			column((m) => m.receivedAt),
			column((m) => m.message.raw)
		]
	};
}

/**
 * A pending message refused after its CA, no longer pending: AE with the reason
 * when the application refused it, AR 207 with the database's error (no values)
 * when the database refused one of its statements.
 */
async function refusePending(sql: Sql, inbound: Pick<Hl7Inbound, 'idempotencyKey'>, err: unknown): Promise<void> {
	const { sender, controlId } = splitIdempotencyKey(inbound.idempotencyKey);
	const [ack, error] =
		err instanceof Hl7ApplicationError ? [err.ack, `${err.code} ${err.message}`] : ['AR', `${Hl7ErrorCode.applicationInternalError} ${safeErrorText(err)}`];
	await sql`UPDATE hl7_messages SET pending = false, ack_code = ${ack}, error = ${error.slice(0, 1000)}
		WHERE sender = ${sender} AND control_id = ${controlId} AND pending`;
}

/** Thrown inside the transaction to roll back the effects of a duplicate message. */
class DuplicateMessage extends Error {}

/** Two messages of one group transaction reached the same study, or one needs a transaction of its own. */
class GroupConflict extends Error {}

/**
 * What one message's commands may do inside a transaction: defer statements to
 * COMMIT, add study events (one insert for the whole transaction, with COMMIT),
 * and claim the studies they change.
 */
interface ApplyContext extends PipelineContext {
	addEvents(events: NewEvent[]): void;
	/** This message changes study `id`; in a group, a second message claiming it sends the group back to one transaction per message. */
	claimStudy(id: number): void;
	/** This message takes a path that must not share its transaction (patient merges, merging two study rows). */
	requireAlone(reason: string): void;
}

/** One context per message of `batch`; the claims (study id → message) are shared. */
function applyContexts(ctx: PipelineContext, batch: Hl7Inbound[], events: NewEvent[]): ApplyContext[] {
	const alone = batch.length === 1;
	const owners = new Map<number, string>();
	return batch.map((inbound) => ({
		defer: (sent) => ctx.defer(sent),
		addEvents: (list) => events.push(...list),
		claimStudy: (id) => {
			if (alone) return;
			const owner = owners.get(id);
			if (owner !== undefined && owner !== inbound.idempotencyKey) throw new GroupConflict(`study ${id} changed by two messages of one group`);
			owners.set(id, inbound.idempotencyKey);
		},
		requireAlone: (reason) => {
			if (!alone) throw new GroupConflict(reason);
		}
	}));
}

/**
 * The raw messages, one statement for the batch (control ids are distinct in a
 * batch: see orderingKeys); resolves to how many were new. A NACKed earlier
 * attempt may be retried with the same control id: only an AA or CA row is a duplicate.
 */
function storeRawMessages(tx: SqlLike, batch: Hl7Inbound[]): Promise<number> {
	const upsert = rawMessageUpsert('AA', batch);
	return tx
		.unsafe<{ n: number }[]>(`WITH ins AS (${upsert.text}) SELECT count(*)::int AS n FROM ins`, upsert.values, { prepare: true })
		.execute()
		.then(([r]) => r.n);
}

/**
 * Messages stored pending (enhanced mode) taken for applying, one statement;
 * resolves to how many were still pending (one that is not was applied by
 * another pass: a duplicate here). The row lock holds a second pass until this
 * transaction ends.
 */
function claimPendingMessages(tx: SqlLike, batch: Hl7Inbound[]): Promise<number> {
	const keys = batch.map((m) => splitIdempotencyKey(m.idempotencyKey));
	return tx
		.unsafe<{ n: number }[]>(
			`WITH upd AS (
				UPDATE hl7_messages h SET pending = false
				FROM unnest($1::text::text[], $2::text::text[]) AS x(sender, control_id)
				WHERE h.sender = x.sender AND h.control_id = x.control_id AND h.pending
				RETURNING 1
			) SELECT count(*)::int AS n FROM upd`,
			[pgArray(keys.map((k) => k.sender)), pgArray(keys.map((k) => k.controlId))],
			{ prepare: true }
		)
		.execute()
		.then(([r]) => r.n);
}

/**
 * Stores the raw messages of `batch` and applies their commands in `tx`, the
 * study events of all of them in one insert that travels with COMMIT. The raw
 * insert is pipelined with the first statements of the commands (duplicates
 * are rare): a duplicate's effects are rolled back, whatever they were, by
 * DuplicateMessage (alone) or GroupConflict (in a group: each message is then
 * applied alone). Every message settles before the outcome is decided: none may
 * still be sending when the transaction rolls back.
 */
async function storeAndApply(tx: SqlLike, ctx: PipelineContext, batch: Hl7Inbound[], raw: RawStep, apply: CommandApplier): Promise<void> {
	const stored = raw(tx, batch);
	const events: NewEvent[] = [];
	const contexts = applyContexts(ctx, batch, events);
	const settled = await Promise.allSettled(
		batch.map(async (inbound, i) => {
			for (const cmd of inbound.commands) await apply.run(tx, cmd, contexts[i]);
		})
	);
	const taken = await stored.catch(() => null);
	if (taken !== null && taken < batch.length) throw batch.length === 1 ? new DuplicateMessage() : new GroupConflict('a resent message in the group');
	// The raw insert failing is the cause; the commands' errors then only say the transaction was aborted.
	if (taken === null) await stored;
	for (const s of settled) if (s.status === 'rejected') throw s.reason;
	if (events.length) ctx.defer(insertEvents(tx, events));
}

/** One transaction per message; false when it was a duplicate (nothing applied). */
async function storeAndApplyOnce(sql: Sql, one: [Hl7Inbound], raw: RawStep, apply: CommandApplier): Promise<boolean> {
	try {
		await pipelinedTransaction(sql, (tx, ctx) => storeAndApply(tx, ctx, one, raw, apply));
		return true;
	} catch (err) {
		if (err instanceof DuplicateMessage) return false;
		throw err;
	}
}

/**
 * Several messages (no patient, accession or study UID in common: see
 * orderingKeys) in one transaction, their statements interleaved on one
 * pipeline. Anything unusual (a duplicate, an error, two messages reaching one
 * study) rolls the group back; GroupCommit then applies each message alone.
 */
async function storeAndApplyGroup(sql: Sql, batch: Hl7Inbound[], raw: RawStep, apply: CommandApplier): Promise<boolean[]> {
	await pipelinedTransaction(sql, (tx, ctx) => storeAndApply(tx, ctx, batch, raw, apply));
	return batch.map(() => true);
}

/**
 * Records every negative acknowledgment the edge sent in hl7_messages (raw text,
 * AE/AR, error), so rejected messages stay visible. A row already acknowledged AA
 * or CA is never overwritten; a refusal after a CA is the handler's to record.
 */
export function recordNacks(stats: Hl7StatsEmitter, sql: Sql, log: Logger): () => void {
	const onNack = (n: Hl7NackStat) => {
		// Refused after its CA: the handler recorded the refusal on the message's row, with the database's reason.
		if (n.afterAccept) return;
		const { sender, controlId } = n.idempotencyKey
			? splitIdempotencyKey(n.idempotencyKey)
			: { sender: '', controlId: n.controlId || `unparsed-${Date.now()}-${Math.random().toString(36).slice(2, 8)}` };
		const error = `${n.code} ${n.reason}`.slice(0, 1000);
		sql`INSERT INTO hl7_messages (sender, control_id, message_type, received_at, ack_code, error, raw)
			VALUES (${sender}, ${controlId || '(none)'}, ${n.messageType || '?'}, now(), ${n.ack ?? n.failure}, ${error}, ${n.raw ?? ''})
			ON CONFLICT (sender, control_id) DO UPDATE SET ack_code = EXCLUDED.ack_code, error = EXCLUDED.error,
				raw = CASE WHEN EXCLUDED.raw <> '' THEN EXCLUDED.raw ELSE hl7_messages.raw END, received_at = EXCLUDED.received_at
			WHERE hl7_messages.ack_code NOT IN ('AA', 'CA') AND NOT hl7_messages.pending`.catch((err) => log.error('could not record HL7 nack', { err, controlId: n.controlId }));
	};
	stats.on('nack', onNack);
	return () => stats.off('nack', onNack);
}

/** Applies one command inside the message's transaction. */
class CommandApplier {
	constructor(private readonly o: Hl7DbHandlerOptions) {}

	async run(tx: SqlLike, cmd: Hl7Command, ctx: ApplyContext): Promise<void> {
		switch (cmd.type) {
			case Hl7CommandType.orderPlace:
			case Hl7CommandType.orderChange:
			case Hl7CommandType.orderStatus:
				return this.order(tx, cmd, ctx);
			case Hl7CommandType.orderCancel:
				return this.cancel(tx, cmd, ctx);
			case Hl7CommandType.visitUpdate:
				return this.visit(tx, cmd, ctx);
			case Hl7CommandType.visitCancel:
				// A11: nothing in the study model depends on the admission itself; the raw message is kept.
				return;
			case Hl7CommandType.patientMerge:
				ctx.requireAlone('patient merge');
				return this.merge(tx, cmd);
			case Hl7CommandType.reportResult:
				return this.report(tx, cmd, ctx);
			case Hl7CommandType.labResults:
				return this.labs(tx, cmd, ctx);
			default:
				cmd satisfies never;
		}
	}

	private actor(cmd: Hl7Command): string {
		return `hl7:${cmd.source.sendingApplication}`;
	}

	private key(cmd: Hl7Command, kind: string): string {
		return `hl7:${cmd.commandKey}:${kind}`;
	}

	private command(cmd: Hl7Command, event: StudyEvent, patch: StudyPatch = {}, payload: Record<string, unknown> = {}, key = this.key(cmd, event.kind)): FoldedCommand {
		return { event, actor: this.actor(cmd), idempotencyKey: key, payload: { control_id: cmd.source.messageControlId, ...payload }, patch };
	}

	/**
	 * Folds `commands` onto a locked study (the lifecycle decides, see
	 * foldStudyCommands). The row update and the events are deferred: they travel
	 * with COMMIT. A complete study whose row changed gets its deadline again, in
	 * the same row update.
	 */
	private async fold(tx: SqlLike, ctx: ApplyContext, cmd: Hl7Command, study: LockedStudy, commands: FoldedCommand[]): Promise<ReturnType<typeof foldStudyCommands>> {
		ctx.claimStudy(study.row.id);
		let fold = foldStudyCommands(study.row, study.seenKeys, commands);
		if (fold.update && fold.next.completeAt) {
			// Priority or patient class changed on a study already complete: its deadline follows. The fold is
			// pure, so folding again with the deadline in every command's patch gives the same row and outcomes.
			const deadline = slaDeadline(await currentRoutingPolicy(tx), fold.next, fold.next.completeAt);
			fold = foldStudyCommands(study.row, study.seenKeys, commands.map((c) => ({ ...c, patch: { ...c.patch, slaDeadline: deadline } })));
		}
		for (const o of fold.outcomes) {
			if (o.status === 'refused') {
				this.o.log.info('hl7 command recorded without a study change', { type: cmd.type, studyId: study.row.id, reason: o.reason, controlId: cmd.source.messageControlId });
			}
		}
		if (fold.update) {
			ctx.defer(tx.unsafe(fold.update.text, fold.update.values as never[], { prepare: true }).execute());
			ctx.addEvents(fold.outcomes.flatMap((o) => (o.status === 'applied' ? [o.event] : [])));
		}
		await sendFollowUps(tx, this.o.jobs, study.row.id, fold.followUps);
		return fold;
	}

	/** An event beside the lifecycle (report drafts, corrections), with the study's dimensions; deferred like a fold's. */
	private plainEvent(ctx: ApplyContext, cmd: Hl7Command, study: StudyRow, kind: string, at: string, payload: Record<string, unknown>): void {
		ctx.claimStudy(study.id);
		ctx.addEvents([
			{
				time: at,
				studyId: study.id,
				kind,
				actor: this.actor(cmd),
				siteId: study.siteId,
				subspecialty: study.subspecialty,
				modality: study.modality,
				priority: study.priority,
				patientClass: study.patientClass,
				payload: { control_id: cmd.source.messageControlId, ...payload },
				idempotencyKey: this.key(cmd, kind)
			}
		]);
	}

	/**
	 * Orders in three round trips in the usual case: (1, with BEGIN and the raw
	 * message) the patient, the study key locks and lookups; (2) the order upsert
	 * and the study row, locked or inserted; (3) the row update and the events,
	 * with COMMIT. Two rows to merge take resolveStudy's general path.
	 */
	private async order(tx: SqlLike, cmd: OrderPlaceCommand | OrderChangeCommand | OrderStatusCommand, ctx: ApplyContext): Promise<void> {
		if (!cmd.accessionNumber) {
			throw new Hl7ApplicationError(Hl7ErrorCode.requiredFieldMissing, 'accession number missing', {
				location: { segment: 'OBR', sequence: 1, field: 18 }
			});
		}
		const location = locationText(cmd.orderingLocation);
		// Unknown procedures are accepted: they go to the review list and the study waits for a mapping.
		const exam = await normalizeAndReview(tx, this.o.normalizer, {
			modality: cmd.modality || null,
			description: cmd.requestedProcedure.text || cmd.requestedProcedure.code,
			procedureCode: cmd.requestedProcedure.code || null
		});
		const keys = { accessionNumber: cmd.accessionNumber, studyInstanceUid: cmd.studyInstanceUid || null };
		const [patientId, { byUid, byAcc }] = await Promise.all([
			upsertPatientVisit(tx, { mrn: cmd.patient.id, issuer: cmd.patient.authority }, { patientClass: cmd.patientClass, location }),
			lookupStudyKeys(tx, keys)
		]);

		const status =
			cmd.type === Hl7CommandType.orderStatus && cmd.orderStatus ? cmd.orderStatus : cmd.type === Hl7CommandType.orderPlace ? 'placed' : 'updated';
		const modality = cmd.modality || exam?.modality || null;
		const order = upsertOrder(tx, {
			accessionNumber: cmd.accessionNumber,
			patientId,
			placerOrderNumber: cmd.placerOrderNumber,
			fillerOrderNumber: cmd.fillerOrderNumber,
			procedureCode: cmd.requestedProcedure.code,
			procedureText: cmd.requestedProcedure.text,
			examCode: exam?.examCode ?? null,
			modality,
			priority: cmd.priority,
			patientClass: cmd.patientClass,
			orderingLocation: location,
			status,
			orderedAt: cmd.orderedAt
		});
		const options: ResolveOptions = {
			create: { patientId, priority: cmd.priority, patientClass: cmd.patientClass, description: cmd.requestedProcedure.text || null, modality },
			siteHints: [cmd.orderingLocation?.facility, cmd.source.sendingFacility]
		};
		const eventKeys = [StudyEventKind.orderPlaced, StudyEventKind.orderUpdated, StudyEventKind.priorityChanged, StudyEventKind.cancelled].map((k) => this.key(cmd, k));
		const general = () => {
			ctx.requireAlone('study rows to merge');
			return resolveStudy(tx, keys, options).then((r) => lockStudyRow(tx, { id: r.study.id }, eventKeys));
		};
		const found = byUid ?? byAcc;
		let created = false;
		let locked: Promise<LockedStudy | null>;
		if (!found) {
			created = true;
			locked = insertStudyRow(tx, keys, options, eventKeys);
		} else if (byUid && byAcc && byUid.id !== byAcc.id) {
			locked = general();
		} else {
			// Sent before the lock, so the locked row has the keys and site; a failure there is the one reported.
			locked = Promise.all([fillStudyKeys(tx, found, keys, options.siteHints), lockStudyRow(tx, { id: found.id }, eventKeys)]).then(([, l]) => l);
		}
		let [o, study] = await Promise.all([order, locked]);
		if (!study) {
			// A key was taken after all (the insert conflicted): the general path.
			created = false;
			study = await general();
		}
		if (!study) throw new Error(`study for accession ${cmd.accessionNumber} vanished inside its transaction`);

		const patch: StudyPatch = {
			orderId: o.id,
			patientId,
			...(cmd.patientClass ? { patientClass: cmd.patientClass } : {}),
			...(exam ? { ...examPatch(exam), modality: exam.modality } : o.modality && !study.row.modality ? { modality: o.modality } : {})
		};
		const payload = { accession: cmd.accessionNumber, order_control: cmd.type, exam_code: exam?.examCode ?? null };
		const at = cmd.source.messageAt ?? cmd.source.receivedAt;
		const commands: FoldedCommand[] = [];
		if (cmd.type === Hl7CommandType.orderPlace || created || study.orderId == null) {
			commands.push(this.command(cmd, { kind: StudyEventKind.orderPlaced, at: cmd.orderedAt, priority: cmd.priority }, patch, payload));
		} else {
			commands.push(this.command(cmd, { kind: StudyEventKind.orderUpdated, at }, patch, { ...payload, order_status: cmd.orderStatus }));
			if (o.previousPriority && o.previousPriority !== cmd.priority) {
				commands.push(this.command(cmd, { kind: StudyEventKind.priorityChanged, at, priority: cmd.priority }, {}, { from: o.previousPriority }));
			}
		}
		if (cmd.type === Hl7CommandType.orderStatus && cmd.orderStatus === OrderStatus.cancelled) {
			commands.push(this.command(cmd, { kind: StudyEventKind.cancelled, at }));
		}
		await this.fold(tx, ctx, cmd, study, commands);
	}

	private async cancel(tx: SqlLike, cmd: OrderCancelCommand, ctx: ApplyContext): Promise<void> {
		const [known, study] = await Promise.all([
			setOrderStatus(tx, cmd.accessionNumber, OrderStatus.cancelled),
			lockStudyRow(tx, { accession: cmd.accessionNumber }, [this.key(cmd, StudyEventKind.cancelled)])
		]);
		if (!known && !study) {
			this.o.log.info('cancel for an unknown accession (kept as raw message only)', { controlId: cmd.source.messageControlId });
			return;
		}
		if (study) await this.fold(tx, ctx, cmd, study, [this.command(cmd, { kind: StudyEventKind.cancelled, at: cmd.cancelledAt }, {}, { order_control: cmd.orderControl })]);
	}

	/** ADT: the patient's class and location; open studies of another class follow (each its own event). */
	private async visit(tx: SqlLike, cmd: VisitUpdateCommand, ctx: ApplyContext): Promise<void> {
		const patient = { mrn: cmd.patient.id, issuer: cmd.patient.authority };
		const upsert = upsertPatientVisit(tx, patient, { patientClass: cmd.patientClass, location: locationText(cmd.location) });
		if (!cmd.patientClass) {
			await upsert;
			return;
		}
		const patientClass = cmd.patientClass;
		const [patientId, first] = await Promise.all([upsert, lockOpenStudiesWithOtherClass(tx, patient, patientClass)]);
		// The statement follows one merge level; a longer chain gets the survivor's studies by id.
		const open = first.patientId !== null && first.patientId !== patientId ? await lockOpenStudiesWithOtherClass(tx, { patientId }, patientClass) : first;
		if (open.studies.length === 0) return;
		// One event per study: the key names the study, or the second study's event would count as a repeat of the first.
		const keyFor = (id: number) => `${this.key(cmd, StudyEventKind.orderUpdated)}:${id}`;
		const seenKeys = new Set((await seenEventKeys(tx, open.studies.map((s) => keyFor(s.row.id)))).map((r) => r.key));
		for (const study of open.studies) {
			await this.fold(tx, ctx, cmd, { ...study, seenKeys }, [
				this.command(cmd, { kind: StudyEventKind.orderUpdated, at: cmd.occurredAt }, { patientClass }, { patient_class: patientClass, visit_event: cmd.event }, keyFor(study.row.id))
			]);
		}
	}

	private async merge(tx: SqlLike, cmd: PatientMergeCommand): Promise<void> {
		const r = await mergePatients(
			tx,
			{ mrn: cmd.patient.id, issuer: cmd.patient.authority },
			{ mrn: cmd.mergedPatient.id, issuer: cmd.mergedPatient.authority }
		);
		this.o.log.info('patients merged', { survivorId: r.survivorId, mergedId: r.mergedId, studies: r.studies, orders: r.orders });
	}

	/** One round trip and COMMIT: the study locked by accession, then the fold or a plain event. */
	private async report(tx: SqlLike, cmd: ReportResultCommand, ctx: ApplyContext): Promise<void> {
		const kinds = [StudyEventKind.reported, 'report_corrected', 'report_preliminary', 'report_cancelled'];
		const study = await lockStudyRow(tx, { accession: cmd.accessionNumber }, kinds.map((k) => this.key(cmd, k)));
		if (!study) {
			this.o.log.info('report for an unknown accession (kept as raw message only)', { controlId: cmd.source.messageControlId });
			return;
		}
		const reader = cmd.interpreter.id || [cmd.interpreter.familyName, cmd.interpreter.givenName].filter(Boolean).join(', ') || null;
		const payload = { report_status: cmd.status, interpreter: reader };
		switch (cmd.status) {
			case ReportStatus.final:
			case ReportStatus.corrected: {
				const fold = await this.fold(tx, ctx, cmd, study, [this.command(cmd, { kind: StudyEventKind.reported, at: cmd.resultAt }, reader ? { reportedBy: reader } : {}, payload)]);
				// A correction of a report already final: recorded as its own event, the clock stays closed.
				if (fold.outcomes[0].status === 'refused' && study.row.status === StudyStatus.reported) {
					this.plainEvent(ctx, cmd, study.row, 'report_corrected', cmd.resultAt, payload);
				}
				return;
			}
			case ReportStatus.preliminary:
				return this.plainEvent(ctx, cmd, study.row, 'report_preliminary', cmd.resultAt, payload);
			case ReportStatus.cancelled:
				return this.plainEvent(ctx, cmd, study.row, 'report_cancelled', cmd.resultAt, payload);
			default:
				cmd.status satisfies never;
		}
	}

	private async labs(tx: SqlLike, cmd: LabResultsCommand, ctx: ApplyContext): Promise<void> {
		const patientId = await upsertPatient(tx, { mrn: cmd.patient.id, issuer: cmd.patient.authority });
		if (cmd.observations.length === 0) return;
		const rows = cmd.observations.map((o) => ({
			patient_id: patientId,
			code: o.code.code || o.code.text,
			label: o.code.text || null,
			value: o.comparator ? `${o.comparator}${o.numeric ?? o.value}` : o.value,
			units: o.units || null,
			reference_range: o.referenceRange || null,
			abnormal_flags: o.abnormalFlags.length ? o.abnormalFlags.join(',') : null,
			observed_at: o.observedAt ?? cmd.collectedAt,
			source_message: cmd.source.idempotencyKey
		}));
		ctx.defer(
			tx`INSERT INTO clinical_context (patient_id, code, label, value, units, reference_range, abnormal_flags, observed_at, source_message)
			SELECT * FROM json_to_recordset(${JSON.stringify(rows)}::text::json) AS x(patient_id bigint, code text, label text, value text,
				units text, reference_range text, abnormal_flags text, observed_at timestamptz, source_message text)`.execute()
		);
	}
}
