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
import { pipelinedTransaction } from '../db/pipelined';
import { applyStudyCommandTx, type CommandOutcome, type StudyPatch } from '../events/transition';
import { insertEvents } from '../events/store';
import type { JobQueue } from '../jobs/queue';
import type { Logger } from '../log';
import {
	currentRoutingPolicy,
	examPatch,
	mergePatients,
	normalizeAndReview,
	resolveStudy,
	setOrderStatus,
	slaDeadline,
	studyByAccession,
	upsertOrder,
	upsertPatient,
	upsertPatientVisit,
	type ExamNormalizer
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

/** The database-backed {@link Hl7Handler}; `stats` counts outcomes for the heartbeat. */
export function createHl7DbHandler(options: Hl7DbHandlerOptions): Hl7Handler & { stats: { applied: number; duplicates: number } } {
	const queue = new KeyedSerialQueue();
	const stats = { applied: 0, duplicates: 0 };
	const apply = new CommandApplier(options);
	const handler = async (inbound: Hl7Inbound) => {
		const key = inbound.patientKey ?? inbound.idempotencyKey;
		const fresh = await queue.run(key, () => storeAndApplyOnce(options.sql, inbound, apply));
		if (fresh) stats.applied++;
		else stats.duplicates++;
	};
	return Object.assign(handler, { stats });
}

/** Thrown inside the transaction to roll back the effects of a duplicate message. */
class DuplicateMessage extends Error {}

/** Returns false for a duplicate (already committed) message. */
async function storeAndApply(tx: SqlLike, inbound: Hl7Inbound, apply: CommandApplier): Promise<boolean> {
	const { sender, controlId } = splitIdempotencyKey(inbound.idempotencyKey);
	const type = `${inbound.header.messageType}^${inbound.header.triggerEvent}`;
	// A NACKed earlier attempt may be retried with the same control id: only an AA row is a duplicate.
	// The insert is pipelined with the first command's statements (duplicates are rare): a
	// duplicate's effects are rolled back, whatever they were.
	const stored = tx`
		INSERT INTO hl7_messages (sender, control_id, message_type, received_at, ack_code, raw)
		VALUES (${sender}, ${controlId}, ${type}, ${inbound.receivedAt}, 'AA', ${inbound.message.raw})
		ON CONFLICT (sender, control_id) DO UPDATE SET ack_code = 'AA', error = NULL, raw = EXCLUDED.raw,
			received_at = EXCLUDED.received_at, message_type = EXCLUDED.message_type
		WHERE hl7_messages.ack_code <> 'AA'
		RETURNING id`.execute();
	try {
		for (const cmd of inbound.commands) await apply.run(tx, cmd);
	} catch (err) {
		const first = await stored.catch(() => null);
		if (first && first.length === 0) throw new DuplicateMessage();
		throw err;
	}
	if ((await stored).length === 0) throw new DuplicateMessage();
	return true;
}

/** One transaction per message; false when it was a duplicate (nothing applied). */
async function storeAndApplyOnce(sql: Sql, inbound: Hl7Inbound, apply: CommandApplier): Promise<boolean> {
	try {
		return await pipelinedTransaction(sql, (tx) => storeAndApply(tx, inbound, apply));
	} catch (err) {
		if (err instanceof DuplicateMessage) return false;
		throw err;
	}
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

	async run(tx: SqlLike, cmd: Hl7Command): Promise<void> {
		switch (cmd.type) {
			case Hl7CommandType.orderPlace:
			case Hl7CommandType.orderChange:
			case Hl7CommandType.orderStatus:
				return this.order(tx, cmd);
			case Hl7CommandType.orderCancel:
				return this.cancel(tx, cmd);
			case Hl7CommandType.visitUpdate:
				return this.visit(tx, cmd);
			case Hl7CommandType.visitCancel:
				// A11: nothing in the study model depends on the admission itself; the raw message is kept.
				return;
			case Hl7CommandType.patientMerge:
				return this.merge(tx, cmd);
			case Hl7CommandType.reportResult:
				return this.report(tx, cmd);
			case Hl7CommandType.labResults:
				return this.labs(tx, cmd);
			default:
				cmd satisfies never;
		}
	}

	private actor(cmd: Hl7Command): string {
		return `hl7:${cmd.source.sendingApplication}`;
	}

	private async study(tx: SqlLike, cmd: Hl7Command, studyId: number, event: StudyEvent, patch: StudyPatch = {}, payload: Record<string, unknown> = {}, key = true) {
		const out = await applyStudyCommandTx(tx, this.o.jobs, {
			studyId,
			event,
			actor: this.actor(cmd),
			idempotencyKey: key ? `hl7:${cmd.commandKey}:${event.kind}` : undefined,
			payload: { control_id: cmd.source.messageControlId, ...payload },
			patch
		});
		if (out.status === 'refused') {
			this.o.log.info('hl7 command recorded without a study change', { type: cmd.type, studyId, reason: out.reason, controlId: cmd.source.messageControlId });
		}
		return out;
	}

	private async order(tx: SqlLike, cmd: OrderPlaceCommand | OrderChangeCommand | OrderStatusCommand): Promise<void> {
		if (!cmd.accessionNumber) {
			throw new Hl7ApplicationError(Hl7ErrorCode.requiredFieldMissing, 'accession number missing', {
				location: { segment: 'OBR', sequence: 1, field: 18 }
			});
		}
		const location = locationText(cmd.orderingLocation);
		const patientId = await upsertPatientVisit(tx, { mrn: cmd.patient.id, issuer: cmd.patient.authority }, { patientClass: cmd.patientClass, location });
		// Unknown procedures are accepted: they go to the review list and the study waits for a mapping.
		const exam = await normalizeAndReview(tx, this.o.normalizer, {
			modality: cmd.modality || null,
			description: cmd.requestedProcedure.text || cmd.requestedProcedure.code,
			procedureCode: cmd.requestedProcedure.code || null
		});
		const status =
			cmd.type === Hl7CommandType.orderStatus && cmd.orderStatus ? cmd.orderStatus : cmd.type === Hl7CommandType.orderPlace ? 'placed' : 'updated';
		// The order upsert and the study lookup are pipelined (one round trip); a new
		// study gets its order link from the patch below, in the same transaction.
		const modality = cmd.modality || exam?.modality || null;
		const orderQuery = upsertOrder(tx, {
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
		const studyQuery = resolveStudy(
			tx,
			{ accessionNumber: cmd.accessionNumber, studyInstanceUid: cmd.studyInstanceUid || null },
			{
				create: {
					patientId,
					priority: cmd.priority,
					patientClass: cmd.patientClass,
					description: cmd.requestedProcedure.text || null,
					modality
				},
				siteHints: [cmd.orderingLocation?.facility, cmd.source.sendingFacility]
			}
		);
		const [order, { study, created }] = await Promise.all([orderQuery, studyQuery]);
		const patch: StudyPatch = {
			orderId: order.id,
			patientId,
			...(cmd.patientClass ? { patientClass: cmd.patientClass } : {}),
			...(exam ? { ...examPatch(exam), modality: exam.modality } : order.modality && !study.modality ? { modality: order.modality } : {})
		};
		const payload = { accession: cmd.accessionNumber, order_control: cmd.type, exam_code: exam?.examCode ?? null };
		let last: CommandOutcome;
		if (cmd.type === Hl7CommandType.orderPlace || created || study.orderId == null) {
			last = await this.study(tx, cmd, study.id, { kind: StudyEventKind.orderPlaced, at: cmd.orderedAt, priority: cmd.priority }, patch, payload);
		} else {
			const at = cmd.source.messageAt ?? cmd.source.receivedAt;
			last = await this.study(tx, cmd, study.id, { kind: StudyEventKind.orderUpdated, at }, patch, { ...payload, order_status: cmd.orderStatus });
			if (order.previousPriority && order.previousPriority !== cmd.priority) {
				last = await this.study(tx, cmd, study.id, { kind: StudyEventKind.priorityChanged, at, priority: cmd.priority }, {}, { from: order.previousPriority });
			}
		}
		if (cmd.type === Hl7CommandType.orderStatus && cmd.orderStatus === OrderStatus.cancelled) {
			last = await this.study(tx, cmd, study.id, { kind: StudyEventKind.cancelled, at: cmd.source.messageAt ?? cmd.source.receivedAt });
		}
		// A study that is not complete yet has no deadline to refresh: skip the read.
		if (last.status !== 'applied' || last.study.completeAt) await this.refreshDeadline(tx, study.id);
	}

	private async cancel(tx: SqlLike, cmd: OrderCancelCommand): Promise<void> {
		const known = await setOrderStatus(tx, cmd.accessionNumber, OrderStatus.cancelled);
		const study = await studyByAccession(tx, cmd.accessionNumber);
		if (!known && !study) {
			this.o.log.info('cancel for an unknown accession (kept as raw message only)', { controlId: cmd.source.messageControlId });
			return;
		}
		if (study) await this.study(tx, cmd, study.id, { kind: StudyEventKind.cancelled, at: cmd.cancelledAt }, {}, { order_control: cmd.orderControl });
	}

	private async visit(tx: SqlLike, cmd: VisitUpdateCommand): Promise<void> {
		const patientId = await upsertPatientVisit(tx, { mrn: cmd.patient.id, issuer: cmd.patient.authority }, {
			patientClass: cmd.patientClass,
			location: locationText(cmd.location)
		});
		if (!cmd.patientClass) return;
		const open = await tx<{ id: number }[]>`
			SELECT id FROM studies WHERE patient_id = ${patientId} AND status NOT IN ('reported', 'cancelled')
			AND patient_class IS DISTINCT FROM ${cmd.patientClass} ORDER BY id`;
		for (const s of open) {
			await this.study(tx, cmd, s.id, { kind: StudyEventKind.orderUpdated, at: cmd.occurredAt }, { patientClass: cmd.patientClass }, {
				patient_class: cmd.patientClass,
				visit_event: cmd.event
			});
			await this.refreshDeadline(tx, s.id);
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

	private async report(tx: SqlLike, cmd: ReportResultCommand): Promise<void> {
		const study = await studyByAccession(tx, cmd.accessionNumber);
		if (!study) {
			this.o.log.info('report for an unknown accession (kept as raw message only)', { controlId: cmd.source.messageControlId });
			return;
		}
		const reader = cmd.interpreter.id || [cmd.interpreter.familyName, cmd.interpreter.givenName].filter(Boolean).join(', ') || null;
		const payload = { report_status: cmd.status, interpreter: reader };
		switch (cmd.status) {
			case ReportStatus.final:
			case ReportStatus.corrected: {
				const out = await this.study(tx, cmd, study.id, { kind: StudyEventKind.reported, at: cmd.resultAt }, reader ? { reportedBy: reader } : {}, payload);
				// A correction of a report already final: recorded as its own event, the clock stays closed.
				if (out.status === 'refused' && study.status === StudyStatus.reported) await this.plainEvent(tx, cmd, study.id, 'report_corrected', cmd.resultAt, payload);
				return;
			}
			case ReportStatus.preliminary:
				return this.plainEvent(tx, cmd, study.id, 'report_preliminary', cmd.resultAt, payload);
			case ReportStatus.cancelled:
				return this.plainEvent(tx, cmd, study.id, 'report_cancelled', cmd.resultAt, payload);
			default:
				cmd.status satisfies never;
		}
	}

	private async plainEvent(tx: SqlLike, cmd: Hl7Command, studyId: number, kind: string, at: string, payload: Record<string, unknown>) {
		const [s] = await tx<{ site_id: string | null; subspecialty: string | null; modality: string | null; priority: string; patient_class: string | null }[]>`
			SELECT site_id, subspecialty, modality, priority, patient_class FROM studies WHERE id = ${studyId}`;
		await insertEvents(tx, [
			{
				time: at,
				studyId,
				kind,
				actor: this.actor(cmd),
				siteId: s?.site_id,
				subspecialty: s?.subspecialty,
				modality: s?.modality,
				priority: s?.priority,
				patientClass: s?.patient_class,
				payload: { control_id: cmd.source.messageControlId, ...payload },
				idempotencyKey: `hl7:${cmd.commandKey}:${kind}`
			}
		]);
	}

	private async labs(tx: SqlLike, cmd: LabResultsCommand): Promise<void> {
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
		await tx`INSERT INTO clinical_context (patient_id, code, label, value, units, reference_range, abnormal_flags, observed_at, source_message)
			SELECT * FROM json_to_recordset(${JSON.stringify(rows)}::text::json) AS x(patient_id bigint, code text, label text, value text,
				units text, reference_range text, abnormal_flags text, observed_at timestamptz, source_message text)`;
	}

	/** Priority or patient class changed on a study already complete: its deadline follows. */
	private async refreshDeadline(tx: SqlLike, studyId: number): Promise<void> {
		const [s] = await tx<{ priority: string; patient_class: string | null; modality: string | null; complete_at: Date | null }[]>`
			SELECT priority, patient_class, modality, complete_at FROM studies WHERE id = ${studyId}`;
		if (!s?.complete_at) return;
		const deadline = slaDeadline(
			await currentRoutingPolicy(tx),
			{ priority: s.priority, patientClass: s.patient_class, modality: s.modality },
			s.complete_at.toISOString()
		);
		await tx`UPDATE studies SET sla_deadline = ${deadline} WHERE id = ${studyId}`;
	}
}
