/**
 * Domain commands produced from inbound HL7 v2 messages. The MLLP edge maps a
 * message to a list of these; the lead's handler applies them in one transaction.
 *
 * Commands carry raw requested-procedure code/text and modality: exam
 * normalization happens downstream (src/lib/domain/exams).
 */
import type { PatientClass, Priority } from '../study/model';

export const Hl7CommandType = {
	orderPlace: 'order.place',
	orderCancel: 'order.cancel',
	orderStatus: 'order.status',
	orderChange: 'order.change',
	visitUpdate: 'patient.visit',
	visitCancel: 'patient.visit_cancelled',
	patientMerge: 'patient.merge',
	reportResult: 'report.result',
	labResults: 'clinical.lab_results'
} as const;
export type Hl7CommandType = (typeof Hl7CommandType)[keyof typeof Hl7CommandType];

/** Where a command came from; the idempotency key is `sendingApplication|sendingFacility|MSH-10`. */
export interface Hl7Source {
	idempotencyKey: string;
	sendingApplication: string;
	sendingFacility: string;
	messageControlId: string;
	messageType: string;
	triggerEvent: string;
	version: string;
	/** MSH-11.1: P production, T training, D debugging. */
	processingId: string;
	/** MSH-7 as ISO UTC, or null when absent. */
	messageAt: string | null;
	receivedAt: string;
}

/** A patient as the sender identifies it (PID-3, first repetition, preferring type MR). */
export interface PatientRef {
	id: string;
	/** CX-4.1 assigning authority, '' when absent. */
	authority: string;
	/** Stable key for per-patient ordering: `authority^id`. */
	key: string;
}

/** PV1-3 / PL: a point of care. Every part is '' when absent. */
export interface Hl7Location {
	pointOfCare: string;
	room: string;
	bed: string;
	facility: string;
	building: string;
	floor: string;
	description: string;
}

export interface CodedValue {
	code: string;
	text: string;
	codingSystem: string;
}

/** Normalized order status from ORC-5 (table 0038). */
export const OrderStatus = {
	scheduled: 'scheduled',
	inProgress: 'in_progress',
	completed: 'completed',
	cancelled: 'cancelled',
	onHold: 'on_hold',
	other: 'other'
} as const;
export type OrderStatus = (typeof OrderStatus)[keyof typeof OrderStatus];

/** Fields common to every order command (ORM^O01 / OMI^O23, one per ORC/OBR group). */
export interface OrderFields {
	/** Accession: IPC-1 › OBR-18 › ORC-3 / OBR-3 (filler order number). */
	accessionNumber: string;
	placerOrderNumber: string;
	fillerOrderNumber: string;
	/** OBR-4: raw universal service id, normalized downstream. */
	requestedProcedure: CodedValue;
	/** IPC-5 › OBR-24, mapped to a DICOM modality code when unambiguous, else raw; '' when absent. */
	modality: string;
	/** OBR-24 as sent (table 0074). */
	diagnosticServiceSection: string;
	priority: Priority;
	/** The code the priority came from (TQ1-9 › OBR-27.6 › ORC-7.6 › OBR-5), '' when defaulted. */
	priorityCode: string;
	patientClass: PatientClass | null;
	/** PV1-2 as sent. */
	patientClassCode: string;
	/** PV1-3 (assigned location), or ORC-13 (enterer's location) when PV1-3 is empty. */
	orderingLocation: Hl7Location | null;
	/** ORC-9 › OBR-6 › MSH-7 › receivedAt. */
	orderedAt: string;
	/** TQ1-7 › OBR-27.4 › OBR-36 scheduled start, or null. */
	scheduledAt: string | null;
	/** IPC-3 › ZDS-1 (de-facto study instance UID segment), '' when absent. */
	studyInstanceUid: string;
	/** ORC-12 › OBR-16, id component only. */
	orderingProviderId: string;
	/** OBR-31 text. */
	reasonForStudy: string;
	orderStatus: OrderStatus | null;
	/** ORC-5 as sent. */
	orderStatusCode: string;
}

interface CommandBase {
	/** Unique per command: `${idempotencyKey}#${index}`. */
	commandKey: string;
	source: Hl7Source;
	patient: PatientRef;
}

export interface OrderPlaceCommand extends CommandBase, OrderFields {
	type: typeof Hl7CommandType.orderPlace;
}
export interface OrderChangeCommand extends CommandBase, OrderFields {
	type: typeof Hl7CommandType.orderChange;
}
export interface OrderStatusCommand extends CommandBase, OrderFields {
	type: typeof Hl7CommandType.orderStatus;
}
export interface OrderCancelCommand extends CommandBase {
	type: typeof Hl7CommandType.orderCancel;
	accessionNumber: string;
	placerOrderNumber: string;
	fillerOrderNumber: string;
	/** ORC-1 as sent: CA, OC, DC or OD. */
	orderControl: string;
	/** ORC-9 › MSH-7 › receivedAt. */
	cancelledAt: string;
}

export const VisitEvent = {
	admit: 'admit',
	transfer: 'transfer',
	discharge: 'discharge',
	register: 'register',
	update: 'update'
} as const;
export type VisitEvent = (typeof VisitEvent)[keyof typeof VisitEvent];

export interface VisitUpdateCommand extends CommandBase {
	type: typeof Hl7CommandType.visitUpdate;
	event: VisitEvent;
	patientClass: PatientClass | null;
	patientClassCode: string;
	/** PV1-3. */
	location: Hl7Location | null;
	/** PV1-6, sent on A02 transfers. */
	priorLocation: Hl7Location | null;
	/** PV1-19.1. */
	visitNumber: string;
	/** EVN-6 › EVN-2 › MSH-7 › receivedAt. */
	occurredAt: string;
	admittedAt: string | null;
	dischargedAt: string | null;
}

export interface VisitCancelCommand extends CommandBase {
	type: typeof Hl7CommandType.visitCancel;
	visitNumber: string;
	occurredAt: string;
}

export interface PatientMergeCommand extends CommandBase {
	type: typeof Hl7CommandType.patientMerge;
	/** MRG-1: the identifier that disappears into `patient`. */
	mergedPatient: PatientRef;
	occurredAt: string;
}

/** OBR-25 report status, after table 0123. */
export const ReportStatus = {
	preliminary: 'preliminary',
	final: 'final',
	corrected: 'corrected',
	cancelled: 'cancelled'
} as const;
export type ReportStatus = (typeof ReportStatus)[keyof typeof ReportStatus];

export interface ReportResultCommand extends CommandBase {
	type: typeof Hl7CommandType.reportResult;
	accessionNumber: string;
	placerOrderNumber: string;
	fillerOrderNumber: string;
	requestedProcedure: CodedValue;
	status: ReportStatus;
	/** OBR-25 as sent. */
	statusCode: string;
	/** OBR-32.1: principal result interpreter id and name, '' when absent. */
	interpreter: { id: string; familyName: string; givenName: string };
	/** OBR-22 › OBR-7 › MSH-7 › receivedAt. */
	resultAt: string;
	/** OBX-5 of TX/FT/ST observations joined with newlines. */
	reportText: string;
}

export interface LabObservation {
	/** OBX-2 value type (NM, SN, ST, CWE…). */
	valueType: string;
	/** OBX-3. */
	code: CodedValue;
	/** OBX-4. */
	subId: string;
	/** OBX-5, repetitions joined with '~'-free '; '. */
	value: string;
	/** Numeric value for NM and SN, else null. */
	numeric: number | null;
	/** SN comparator (<, >, <=, >=, =, <>) or ''. */
	comparator: string;
	/** OBX-6.1 (UCUM code) › OBX-6.2. */
	units: string;
	/** OBX-7 as sent. */
	referenceRange: string;
	/** OBX-8 repetitions (table 0078: L, H, LL, HH, A, AA, N…). */
	abnormalFlags: string[];
	/** OBX-11 (table 0085). */
	resultStatus: string;
	/** OBX-14 › OBR-7, or null. */
	observedAt: string | null;
}

export interface LabResultsCommand extends CommandBase {
	type: typeof Hl7CommandType.labResults;
	/** OBR-4: the panel. */
	panel: CodedValue;
	placerOrderNumber: string;
	fillerOrderNumber: string;
	/** OBR-7 › MSH-7 › receivedAt. */
	collectedAt: string;
	observations: LabObservation[];
}

export type Hl7Command =
	| OrderPlaceCommand
	| OrderChangeCommand
	| OrderStatusCommand
	| OrderCancelCommand
	| VisitUpdateCommand
	| VisitCancelCommand
	| PatientMergeCommand
	| ReportResultCommand
	| LabResultsCommand;

/** What one message maps to. */
export interface Hl7Mapping {
	idempotencyKey: string;
	/** Key for per-patient serial processing, null when the message names no patient. */
	patientKey: string | null;
	commands: Hl7Command[];
}
