/**
 * The database side of HL7 ingest: stores the raw message (duplicate = same
 * sender + MSH-10, acknowledged again, applied once) and applies its commands in
 * one transaction, per patient in arrival order.
 *
 * Errors: a semantic problem throws Hl7ApplicationError (→ AE with ERR); anything
 * else (database down) is untyped (→ AR 207, the sender resends). NACKs are
 * recorded in hl7_messages by {@link recordNacks}.
 *
 * @see docs/hl7-interface-spec.md
 */
import type { Hl7Handler, Hl7Inbound } from '../../../../workers/hl7/handlers';
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
import { GroupCommit } from '../db/group-commit';
import { pipelinedTransaction, type PipelineContext } from '../db/pipelined';
import { foldStudyCommands, lockStudyRow, seenEventKeys, sendFollowUps, type FoldedCommand, type LockedStudy, type StudyPatch, type StudyRow } from '../events/transition';
import { insertEvents, pgArray, type NewEvent } from '../events/store';
import type { JobQueue } from '../jobs/queue';
import type { Logger } from '../log';
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

/**
 * The database-backed {@link Hl7Handler}; `stats` counts outcomes for the
 * heartbeat (`transactions` < `applied + duplicates` when messages shared
 * group transactions).
 */
export function createHl7DbHandler(
	options: Hl7DbHandlerOptions & { maxGroup?: number }
): Hl7Handler & { stats: { applied: number; duplicates: number; readonly transactions: number; readonly failedGroups: number } } {
	const queue = new KeyedSerialQueue();
	const apply = new CommandApplier(options);
	const group = new GroupCommit<Hl7Inbound, boolean>({
		maxGroup: options.maxGroup ?? HL7_MAX_GROUP,
		writeAlone: (inbound) => storeAndApplyOnce(options.sql, inbound, apply),
		writeGroup: (batch) => storeAndApplyGroup(options.sql, batch, apply),
		onGroupFailed: (err, size) => options.log.debug('hl7 group transaction failed; its messages are applied one by one', { err, size })
	});
	const stats = {
		applied: 0,
		duplicates: 0,
		get transactions() {
			return group.counters.transactions;
		},
		get failedGroups() {
			return group.counters.failedGroups;
		}
	};
	const handler = async (inbound: Hl7Inbound) => {
		const fresh = await queue.run(orderingKeys(inbound), () => group.submit(inbound));
		if (fresh) stats.applied++;
		else stats.duplicates++;
	};
	return Object.assign(handler, { stats });
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
 * attempt may be retried with the same control id: only an AA row is a duplicate.
 */
function storeRawMessages(tx: SqlLike, batch: Hl7Inbound[]): Promise<number> {
	const keys = batch.map((m) => splitIdempotencyKey(m.idempotencyKey));
	const column = (f: (m: Hl7Inbound, i: number) => string) => pgArray(batch.map(f));
	return tx
		.unsafe<{ n: number }[]>(
			`WITH ins AS (
				INSERT INTO hl7_messages (sender, control_id, message_type, received_at, ack_code, raw)
				SELECT sender, control_id, message_type, received_at, 'AA', raw
				FROM unnest($1::text::text[], $2::text::text[], $3::text::text[], $4::text::timestamptz[], $5::text::text[])
					AS x(sender, control_id, message_type, received_at, raw)
				ON CONFLICT (sender, control_id) DO UPDATE SET ack_code = 'AA', error = NULL, raw = EXCLUDED.raw,
					received_at = EXCLUDED.received_at, message_type = EXCLUDED.message_type
				WHERE hl7_messages.ack_code <> 'AA'
				RETURNING 1
			) SELECT count(*)::int AS n FROM ins`,
			[
				column((_, i) => keys[i].sender),
				column((_, i) => keys[i].controlId),
				column((m) => `${m.header.messageType}^${m.header.triggerEvent}`),
				column((m) => m.receivedAt),
				column((m) => m.message.raw)
			],
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
async function storeAndApply(tx: SqlLike, ctx: PipelineContext, batch: Hl7Inbound[], apply: CommandApplier): Promise<void> {
	const stored = storeRawMessages(tx, batch);
	const events: NewEvent[] = [];
	const contexts = applyContexts(ctx, batch, events);
	const settled = await Promise.allSettled(
		batch.map(async (inbound, i) => {
			for (const cmd of inbound.commands) await apply.run(tx, cmd, contexts[i]);
		})
	);
	const fresh = await stored.catch(() => null);
	if (fresh !== null && fresh < batch.length) throw batch.length === 1 ? new DuplicateMessage() : new GroupConflict('a resent message in the group');
	// The raw insert failing is the cause; the commands' errors then only say the transaction was aborted.
	if (fresh === null) await stored;
	for (const s of settled) if (s.status === 'rejected') throw s.reason;
	if (events.length) ctx.defer(insertEvents(tx, events));
}

/** One transaction per message; false when it was a duplicate (nothing applied). */
async function storeAndApplyOnce(sql: Sql, inbound: Hl7Inbound, apply: CommandApplier): Promise<boolean> {
	try {
		await pipelinedTransaction(sql, (tx, ctx) => storeAndApply(tx, ctx, [inbound], apply));
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
async function storeAndApplyGroup(sql: Sql, batch: Hl7Inbound[], apply: CommandApplier): Promise<boolean[]> {
	await pipelinedTransaction(sql, (tx, ctx) => storeAndApply(tx, ctx, batch, apply));
	return batch.map(() => true);
}

/**
 * Records every negative acknowledgment the edge sent in hl7_messages (raw text,
 * AE/AR, error), so rejected messages stay visible. A row already acknowledged AA
 * is never overwritten.
 */
export function recordNacks(stats: Hl7StatsEmitter, sql: Sql, log: Logger): () => void {
	const onNack = (n: Hl7NackStat) => {
		const { sender, controlId } = n.idempotencyKey
			? splitIdempotencyKey(n.idempotencyKey)
			: { sender: '', controlId: n.controlId || `unparsed-${Date.now()}-${Math.random().toString(36).slice(2, 8)}` };
		const error = `${n.code} ${n.reason}`.slice(0, 1000);
		sql`INSERT INTO hl7_messages (sender, control_id, message_type, received_at, ack_code, error, raw)
			VALUES (${sender}, ${controlId || '(none)'}, ${n.messageType || '?'}, now(), ${n.ack ?? 'AR'}, ${error}, ${n.raw ?? ''})
			ON CONFLICT (sender, control_id) DO UPDATE SET ack_code = EXCLUDED.ack_code, error = EXCLUDED.error,
				raw = CASE WHEN EXCLUDED.raw <> '' THEN EXCLUDED.raw ELSE hl7_messages.raw END, received_at = EXCLUDED.received_at
			WHERE hl7_messages.ack_code <> 'AA'`.catch((err) => log.error('could not record HL7 nack', { err, controlId: n.controlId }));
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
	 * with COMMIT. A complete study whose row changed gets its deadline again.
	 */
	private async fold(tx: SqlLike, ctx: ApplyContext, cmd: Hl7Command, study: LockedStudy, commands: FoldedCommand[]): Promise<ReturnType<typeof foldStudyCommands>> {
		ctx.claimStudy(study.row.id);
		const fold = foldStudyCommands(study.row, study.seenKeys, commands);
		for (const o of fold.outcomes) {
			if (o.status === 'refused') {
				this.o.log.info('hl7 command recorded without a study change', { type: cmd.type, studyId: study.row.id, reason: o.reason, controlId: cmd.source.messageControlId });
			}
		}
		if (fold.update) {
			ctx.defer(tx.unsafe(fold.update.text, fold.update.values as never[], { prepare: true }).execute());
			ctx.addEvents(fold.outcomes.flatMap((o) => (o.status === 'applied' ? [o.event] : [])));
			const { next } = fold;
			// Priority or patient class changed on a study already complete: its deadline follows.
			if (next.completeAt) {
				const deadline = slaDeadline(await currentRoutingPolicy(tx), next, next.completeAt);
				ctx.defer(tx`UPDATE studies SET sla_deadline = ${deadline} WHERE id = ${next.id}`.execute());
			}
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
