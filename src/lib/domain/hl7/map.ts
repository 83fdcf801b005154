/**
 * Pure mapping of inbound HL7 v2 messages to Radflow domain commands.
 * No I/O and no clock: the receive time is a parameter.
 *
 * Supported: ORM^O01, OMI^O23, ADT^A01/A02/A03/A04/A08/A11/A40, ORU^R01.
 * Semantic problems throw {@link Hl7ApplicationError} naming the field (ERR-2).
 *
 * @see HL7 v2.5.1 Ch. 3 (ADT), Ch. 4 (ORM/OMI, ORC, OBR, TQ1, IPC), Ch. 7 (ORU, OBX)
 */
import { PatientClass, Priority } from '../study/model';
import {
	Hl7CommandType,
	OrderStatus,
	ReportStatus,
	VisitEvent,
	type CodedValue,
	type Hl7Command,
	type Hl7Location,
	type Hl7Mapping,
	type Hl7Source,
	type LabObservation,
	type OrderFields,
	type PatientRef
} from './commands';
import { parseHl7DateTime } from './datetime';
import { Hl7ApplicationError, Hl7ErrorCode, type Hl7ErrorLocation } from './errors';
import type { Hl7MessageView, Hl7SegmentView } from './view';

export interface MapOptions {
	/** ISO time the edge received the message; the fallback for absent timestamps. */
	receivedAt: string;
	/** Offset east of UTC, in minutes, for sender timestamps that carry none. Default 0. */
	defaultOffsetMinutes?: number;
}

/** Message types and trigger events this mapping understands. */
export const SUPPORTED_MESSAGES: Readonly<Record<string, readonly string[]>> = {
	ORM: ['O01'],
	OMI: ['O23'],
	ADT: ['A01', 'A02', 'A03', 'A04', 'A08', 'A11', 'A40'],
	ORU: ['R01']
};

/** 'supported', or the table 0357 code explaining why not (200 type, 201 event). */
export function classifyMessage(type: string, event: string): 'supported' | typeof Hl7ErrorCode.unsupportedMessageType | typeof Hl7ErrorCode.unsupportedEventCode {
	const events = SUPPORTED_MESSAGES[type];
	if (!events) return Hl7ErrorCode.unsupportedMessageType;
	return events.includes(event) ? 'supported' : Hl7ErrorCode.unsupportedEventCode;
}

/** Read MSH-9 type and event; ADT of v2.1/2.2 may carry the event only in EVN-1. */
export function messageTypeOf(view: Hl7MessageView): { type: string; event: string; structure: string } {
	const msh = view.segments[0];
	const type = msh?.get(9, 1) ?? '';
	let event = msh?.get(9, 2) ?? '';
	if (!event && type === 'ADT') event = view.segments.find((s) => s.name === 'EVN')?.get(1) ?? '';
	return { type, event, structure: msh?.get(9, 3) ?? '' };
}

/**
 * Idempotency key of a message: `MSH-3|MSH-4|MSH-10` (components joined with `^`).
 * Duplicates are decided by the store, never here.
 */
export function idempotencyKeyOf(msh: Hl7SegmentView): string {
	return `${hd(msh, 3)}|${hd(msh, 4)}|${msh.get(10)}`;
}

function hd(seg: Hl7SegmentView, field: number): string {
	const parts = [seg.get(field, 1), seg.get(field, 2), seg.get(field, 3)];
	while (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
	return parts.join('^');
}

/**
 * Map one supported message to commands.
 * @throws Hl7ApplicationError for unsupported types and semantic errors.
 */
export function mapHl7Message(view: Hl7MessageView, options: MapOptions): Hl7Mapping {
	const ctx = new Ctx(view, options);
	const { type, event } = messageTypeOf(view);
	const kind = classifyMessage(type, event);
	if (kind !== 'supported') {
		throw new Hl7ApplicationError(kind, `unsupported message ${type}^${event}`, {
			location: { segment: 'MSH', sequence: 1, field: 9, component: kind === Hl7ErrorCode.unsupportedMessageType ? 1 : 2 }
		});
	}
	let commands: Hl7Command[];
	let patient: PatientRef | null;
	switch (type) {
		case 'ORM':
		case 'OMI':
			patient = ctx.requirePatient();
			commands = mapOrders(ctx, patient);
			break;
		case 'ADT':
			patient = ctx.requirePatient();
			commands = mapAdt(ctx, event, patient);
			break;
		case 'ORU':
			patient = ctx.requirePatient();
			commands = mapOru(ctx, patient);
			break;
		default:
			throw new Hl7ApplicationError(Hl7ErrorCode.unsupportedMessageType, `unsupported message ${type}`);
	}
	return { idempotencyKey: ctx.source.idempotencyKey, patientKey: patient?.key ?? null, commands };
}

// ---------------------------------------------------------------------------

class Ctx {
	readonly source: Hl7Source;
	private index = 0;
	constructor(
		readonly view: Hl7MessageView,
		readonly options: MapOptions
	) {
		const msh = view.segments[0];
		const { type, event } = messageTypeOf(view);
		this.source = {
			idempotencyKey: idempotencyKeyOf(msh),
			sendingApplication: hd(msh, 3),
			sendingFacility: hd(msh, 4),
			messageControlId: msh.get(10),
			messageType: type,
			triggerEvent: event,
			version: msh.get(12),
			processingId: msh.get(11),
			messageAt: this.time(msh, 7) ?? null,
			receivedAt: options.receivedAt
		};
	}

	base(patient: PatientRef) {
		return { commandKey: `${this.source.idempotencyKey}#${this.index++}`, source: this.source, patient };
	}

	first(name: string): Hl7SegmentView | undefined {
		return this.view.segments.find((s) => s.name === name);
	}

	fallbackTime(): string {
		return this.source.messageAt ?? this.options.receivedAt;
	}

	/** A timestamp field as ISO, null when empty; a malformed value is a 102 error. */
	time(seg: Hl7SegmentView | undefined, field: number, component = 1): string | null {
		if (!seg) return null;
		const raw = seg.get(field, component);
		const iso = parseHl7DateTime(raw, this.options.defaultOffsetMinutes ?? 0);
		if (iso === undefined) {
			throw new Hl7ApplicationError(Hl7ErrorCode.dataTypeError, `${seg.name}-${field} is not a valid timestamp`, {
				location: loc(seg, field, component > 1 ? component : undefined)
			});
		}
		return iso;
	}

	patientFrom(seg: Hl7SegmentView, field: number): PatientRef | null {
		const n = seg.repetitions(field);
		let pick = -1;
		for (let r = 0; r < n; r++) {
			// A blank CX-1 (spaces only) identifies nobody: as if the repetition were empty (found by radflow fuzz).
			if (!present(seg.get(field, 1, r))) continue;
			if (pick < 0) pick = r;
			if (seg.get(field, 5, r) === 'MR') {
				pick = r;
				break;
			}
		}
		if (pick < 0) return null;
		const id = identifier(seg, field, seg.get(field, 1, pick));
		const authority = seg.get(field, 4, pick);
		return { id, authority, key: `${authority}^${id}` };
	}

	requirePatient(): PatientRef {
		const pid = this.first('PID');
		if (!pid) {
			throw new Hl7ApplicationError(Hl7ErrorCode.segmentSequenceError, 'PID segment missing', {
				location: { segment: 'PID', sequence: 1 }
			});
		}
		const p = this.patientFrom(pid, 3);
		if (!p) {
			throw new Hl7ApplicationError(Hl7ErrorCode.requiredFieldMissing, 'PID-3 patient identifier missing', {
				location: loc(pid, 3)
			});
		}
		return p;
	}
}

/** C0 controls (a decoded \.br\, binary bytes) have no place in an identifier that is filed and matched. */
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/** An identifier value, refused (102) when it carries control characters. */
function identifier(seg: Hl7SegmentView, field: number, value: string): string {
	if (CONTROL_CHARACTERS.test(value)) {
		throw new Hl7ApplicationError(Hl7ErrorCode.dataTypeError, `${seg.name}-${field} identifier contains control characters`, { location: loc(seg, field) });
	}
	return value;
}

function loc(seg: Hl7SegmentView, field: number, component?: number): Hl7ErrorLocation {
	return component === undefined
		? { segment: seg.name, sequence: seg.sequence, field }
		: { segment: seg.name, sequence: seg.sequence, field, component };
}

function coded(seg: Hl7SegmentView | undefined, field: number): CodedValue {
	return { code: seg?.get(field, 1) ?? '', text: seg?.get(field, 2) ?? '', codingSystem: seg?.get(field, 3) ?? '' };
}

function location(seg: Hl7SegmentView | undefined, field: number): Hl7Location | null {
	if (!seg) return null;
	const l: Hl7Location = {
		pointOfCare: seg.get(field, 1),
		room: seg.get(field, 2),
		bed: seg.get(field, 3),
		facility: seg.get(field, 4),
		building: seg.get(field, 7),
		floor: seg.get(field, 8),
		description: seg.get(field, 9)
	};
	return Object.values(l).some((v) => v !== '') ? l : null;
}

/** PV1-2 (table 0004) → patient class; only E/I/O exist in the study model, others stay null. */
function patientClassOf(code: string): PatientClass | null {
	switch (code.toUpperCase()) {
		case 'E':
			return PatientClass.emergency;
		case 'I':
			return PatientClass.inpatient;
		case 'O':
			return PatientClass.outpatient;
		default:
			return null;
	}
}

/**
 * Priority code (table 0027) → Radflow priority. P (pre-op) and T (timing critical)
 * are urgent without being stat; C (callback) and PRN are routine work.
 */
function priorityOf(code: string): Priority | undefined {
	switch (code.toUpperCase()) {
		case 'S':
			return Priority.stat;
		case 'A':
		case 'P':
		case 'T':
			return Priority.asap;
		case 'R':
		case 'C':
		case 'PRN':
		case '':
			return Priority.routine;
		default:
			return undefined;
	}
}

/** Table 0074 diagnostic service section (and common modality spellings) → DICOM modality. */
function modalityOf(value: string): string {
	const v = value.trim().toUpperCase();
	switch (v) {
		case 'CT':
		case 'CAT':
			return 'CT';
		case 'MR':
		case 'MRI':
		case 'NMR':
			return 'MR';
		case 'US':
		case 'RUS':
		case 'OUS':
		case 'VUS':
		case 'CUS':
			return 'US';
		case 'NM':
		case 'NMS':
			return 'NM';
		case 'PT':
		case 'PET':
			return 'PT';
		case 'MG':
		case 'MAM':
			return 'MG';
		case 'XRC':
		case 'RF':
			return 'RF';
		case 'CR':
		case 'DX':
		case 'XA':
			return v;
		default:
			// RX / RAD are generic: leave them for the exam catalog to resolve.
			return v;
	}
}

/** Table 0074 sections that mean a radiology result rather than laboratory. */
const RADIOLOGY_SECTIONS = new Set([
	'RAD', 'RX', 'CT', 'MR', 'MRI', 'NMR', 'NMS', 'NM', 'US', 'RUS', 'OUS', 'VUS', 'CUS', 'XRC', 'MG', 'PT', 'PET', 'CR', 'DX', 'XA', 'RF'
]);
const TEXT_VALUE_TYPES = new Set(['TX', 'FT', 'ST']);

function orderStatusOf(code: string): OrderStatus | null {
	switch (code.toUpperCase()) {
		case '':
			return null;
		case 'SC':
			return OrderStatus.scheduled;
		case 'IP':
		case 'A':
			return OrderStatus.inProgress;
		case 'CM':
			return OrderStatus.completed;
		case 'CA':
		case 'DC':
			return OrderStatus.cancelled;
		case 'HD':
			return OrderStatus.onHold;
		default:
			return OrderStatus.other;
	}
}

// --- ORM^O01 / OMI^O23 ------------------------------------------------------

interface OrderGroup {
	orc: Hl7SegmentView | undefined;
	obr: Hl7SegmentView | undefined;
	tq1: Hl7SegmentView | undefined;
	ipc: Hl7SegmentView | undefined;
	zds: Hl7SegmentView | undefined;
}

/** Split the message into ORC-led groups; OBR/TQ1/IPC/ZDS attach to the open group. */
function orderGroups(view: Hl7MessageView): OrderGroup[] {
	const groups: OrderGroup[] = [];
	let g: OrderGroup | undefined;
	const open = (): OrderGroup => {
		g = { orc: undefined, obr: undefined, tq1: undefined, ipc: undefined, zds: undefined };
		groups.push(g);
		return g;
	};
	for (const s of view.segments) {
		switch (s.name) {
			case 'ORC':
				open().orc = s;
				break;
			case 'OBR':
				// An OBR after an OBR without ORC in between starts a new order (v2.2 style).
				if (!g || g.obr) open();
				g!.obr = s;
				break;
			case 'TQ1':
				if (g && !g.tq1) g.tq1 = s;
				break;
			case 'IPC':
				if (g && !g.ipc) g.ipc = s;
				break;
			case 'ZDS':
				if (g && !g.zds) g.zds = s;
				break;
		}
	}
	return groups;
}

/** A value that says something: '' for one of spaces only (a blank accession would file every such order as one study). */
function present(v: string | undefined): string {
	return v?.trim() ? v : '';
}

function accessionOf(g: { orc?: Hl7SegmentView; obr?: Hl7SegmentView; ipc?: Hl7SegmentView }): string {
	return present(g.ipc?.get(1)) || present(g.obr?.get(18)) || present(g.orc?.get(3)) || present(g.obr?.get(3));
}

function mapOrders(ctx: Ctx, patient: PatientRef): Hl7Command[] {
	const groups = orderGroups(ctx.view);
	if (groups.length === 0) {
		throw new Hl7ApplicationError(Hl7ErrorCode.segmentSequenceError, 'order message without ORC/OBR', {
			location: { segment: 'ORC', sequence: 1 }
		});
	}
	const pv1 = ctx.first('PV1');
	const commands: Hl7Command[] = [];
	for (const g of groups) {
		const control = (g.orc?.get(1) ?? 'NW').toUpperCase();
		const anchor = g.obr ?? g.orc!;
		const accession = identifier(anchor, g.obr ? 18 : 3, accessionOf(g));
		if (!accession) {
			throw new Hl7ApplicationError(Hl7ErrorCode.requiredFieldMissing, 'accession number missing (IPC-1, OBR-18, ORC-3)', {
				location: g.obr ? loc(g.obr, 18) : loc(anchor, 3)
			});
		}
		const placer = g.orc?.get(2) || g.obr?.get(2) || '';
		const filler = g.orc?.get(3) || g.obr?.get(3) || '';
		switch (control) {
			case 'NW':
			case 'XO':
			case 'SC': {
				const fields = orderFields(ctx, g, pv1, accession, placer, filler, control === 'SC');
				const type =
					control === 'NW' ? Hl7CommandType.orderPlace : control === 'XO' ? Hl7CommandType.orderChange : Hl7CommandType.orderStatus;
				commands.push({ type, ...ctx.base(patient), ...fields } as Hl7Command);
				break;
			}
			case 'CA':
			case 'OC':
			case 'DC':
			case 'OD':
				commands.push({
					type: Hl7CommandType.orderCancel,
					...ctx.base(patient),
					accessionNumber: accession,
					placerOrderNumber: placer,
					fillerOrderNumber: filler,
					orderControl: control,
					cancelledAt: ctx.time(g.orc, 9) ?? ctx.fallbackTime()
				});
				break;
			default:
				throw new Hl7ApplicationError(Hl7ErrorCode.tableValueNotFound, `ORC-1 order control ${control} not supported`, {
					location: loc(g.orc!, 1)
				});
		}
	}
	return commands;
}

function orderFields(
	ctx: Ctx,
	g: OrderGroup,
	pv1: Hl7SegmentView | undefined,
	accession: string,
	placer: string,
	filler: string,
	statusOnly: boolean
): OrderFields {
	const { obr, orc, tq1, ipc, zds } = g;
	const procedure = coded(obr, 4);
	if (!statusOnly && !procedure.code && !procedure.text) {
		throw new Hl7ApplicationError(Hl7ErrorCode.requiredFieldMissing, 'requested procedure (OBR-4) missing', {
			location: obr ? loc(obr, 4) : { segment: 'OBR', sequence: 1, field: 4 }
		});
	}
	// Priority sources, newest standard first.
	const candidates: [Hl7SegmentView | undefined, number, number][] = [
		[tq1, 9, 1],
		[obr, 27, 6],
		[orc, 7, 6],
		[obr, 5, 1]
	];
	let priorityCode = '';
	let priorityLoc: Hl7ErrorLocation | undefined;
	for (const [seg, f, c] of candidates) {
		const v = seg?.get(f, c) ?? '';
		if (v) {
			priorityCode = v;
			priorityLoc = loc(seg!, f, c > 1 ? c : undefined);
			break;
		}
	}
	const priority = priorityOf(priorityCode);
	if (!priority) {
		throw new Hl7ApplicationError(Hl7ErrorCode.tableValueNotFound, `priority ${priorityCode} not in table 0027`, {
			location: priorityLoc
		});
	}
	const section = obr?.get(24) ?? '';
	const modalityRaw = ipc?.get(5) || section;
	const patientClassCode = pv1?.get(2) ?? '';
	const orderStatusCode = orc?.get(5) ?? '';
	return {
		accessionNumber: accession,
		placerOrderNumber: placer,
		fillerOrderNumber: filler,
		requestedProcedure: procedure,
		modality: modalityRaw ? modalityOf(modalityRaw) : '',
		diagnosticServiceSection: section,
		priority,
		priorityCode,
		patientClass: patientClassOf(patientClassCode),
		patientClassCode,
		orderingLocation: location(pv1, 3) ?? location(orc, 13),
		orderedAt: ctx.time(orc, 9) ?? ctx.time(obr, 6) ?? ctx.fallbackTime(),
		scheduledAt: ctx.time(tq1, 7) ?? ctx.time(obr, 27, 4) ?? ctx.time(obr, 36),
		studyInstanceUid: ipc?.get(3) || zds?.get(1) || '',
		orderingProviderId: orc?.get(12) || obr?.get(16) || '',
		reasonForStudy: obr?.get(31, 2) || obr?.get(31, 1) || '',
		orderStatus: orderStatusOf(orderStatusCode),
		orderStatusCode
	};
}

// --- ADT --------------------------------------------------------------------

function mapAdt(ctx: Ctx, event: string, patient: PatientRef): Hl7Command[] {
	const evn = ctx.first('EVN');
	const pv1 = ctx.first('PV1');
	const occurredAt = ctx.time(evn, 6) ?? ctx.time(evn, 2) ?? ctx.fallbackTime();
	const visitNumber = pv1?.get(19) ?? '';
	if (event === 'A40') {
		// A40 may carry several PID/MRG pairs: each MRG merges into the PID before it.
		const commands: Hl7Command[] = [];
		let current: PatientRef | null = null;
		let currentPid: Hl7SegmentView | undefined;
		for (const s of ctx.view.segments) {
			if (s.name === 'PID') {
				currentPid = s;
				current = ctx.patientFrom(s, 3);
				if (!current) {
					throw new Hl7ApplicationError(Hl7ErrorCode.requiredFieldMissing, 'PID-3 patient identifier missing', {
						location: loc(s, 3)
					});
				}
			} else if (s.name === 'MRG') {
				if (!current || !currentPid) {
					throw new Hl7ApplicationError(Hl7ErrorCode.segmentSequenceError, 'MRG without preceding PID', {
						location: { segment: 'MRG', sequence: s.sequence }
					});
				}
				const merged = ctx.patientFrom(s, 1);
				if (!merged) {
					throw new Hl7ApplicationError(Hl7ErrorCode.requiredFieldMissing, 'MRG-1 prior patient identifier missing', {
						location: loc(s, 1)
					});
				}
				commands.push({ type: Hl7CommandType.patientMerge, ...ctx.base(current), mergedPatient: merged, occurredAt });
			}
		}
		if (commands.length === 0) {
			throw new Hl7ApplicationError(Hl7ErrorCode.segmentSequenceError, 'A40 without MRG segment', {
				location: { segment: 'MRG', sequence: 1 }
			});
		}
		return commands;
	}
	if (event === 'A11') {
		return [{ type: Hl7CommandType.visitCancel, ...ctx.base(patient), visitNumber, occurredAt }];
	}
	if (!pv1) {
		throw new Hl7ApplicationError(Hl7ErrorCode.segmentSequenceError, 'PV1 segment missing', {
			location: { segment: 'PV1', sequence: 1 }
		});
	}
	const visitEvent =
		event === 'A01'
			? VisitEvent.admit
			: event === 'A02'
				? VisitEvent.transfer
				: event === 'A03'
					? VisitEvent.discharge
					: event === 'A04'
						? VisitEvent.register
						: VisitEvent.update;
	const patientClassCode = pv1.get(2);
	return [
		{
			type: Hl7CommandType.visitUpdate,
			...ctx.base(patient),
			event: visitEvent,
			patientClass: patientClassOf(patientClassCode),
			patientClassCode,
			location: location(pv1, 3),
			priorLocation: location(pv1, 6),
			visitNumber,
			occurredAt,
			admittedAt: ctx.time(pv1, 44),
			dischargedAt: ctx.time(pv1, 45)
		}
	];
}

// --- ORU^R01 ----------------------------------------------------------------

interface ResultGroup {
	orc: Hl7SegmentView | undefined;
	obr: Hl7SegmentView;
	obx: Hl7SegmentView[];
}

function resultGroups(view: Hl7MessageView): ResultGroup[] {
	const groups: ResultGroup[] = [];
	let orc: Hl7SegmentView | undefined;
	let g: ResultGroup | undefined;
	for (const s of view.segments) {
		if (s.name === 'ORC') orc = s;
		else if (s.name === 'OBR') {
			g = { orc, obr: s, obx: [] };
			orc = undefined;
			groups.push(g);
		} else if (s.name === 'OBX') {
			if (!g) {
				throw new Hl7ApplicationError(Hl7ErrorCode.segmentSequenceError, 'OBX before any OBR', {
					location: { segment: 'OBX', sequence: s.sequence }
				});
			}
			g.obx.push(s);
		}
	}
	return groups;
}

function isRadiology(g: ResultGroup): boolean {
	const section = g.obr.get(24).toUpperCase();
	if (section) return RADIOLOGY_SECTIONS.has(section);
	// No section: a narrative-only result with an accession reads as a report.
	return g.obr.get(18) !== '' && g.obx.length > 0 && g.obx.every((o) => TEXT_VALUE_TYPES.has(o.get(2).toUpperCase()));
}

function reportStatusOf(code: string): ReportStatus | undefined {
	switch (code.toUpperCase()) {
		case 'P':
			return ReportStatus.preliminary;
		case 'F':
			return ReportStatus.final;
		case 'C':
		case 'A':
			return ReportStatus.corrected;
		case 'X':
			return ReportStatus.cancelled;
		default:
			return undefined;
	}
}

function mapOru(ctx: Ctx, patient: PatientRef): Hl7Command[] {
	const groups = resultGroups(ctx.view);
	if (groups.length === 0) {
		throw new Hl7ApplicationError(Hl7ErrorCode.segmentSequenceError, 'ORU without OBR', {
			location: { segment: 'OBR', sequence: 1 }
		});
	}
	const commands: Hl7Command[] = [];
	for (const g of groups) {
		const { obr, orc } = g;
		const placer = orc?.get(2) || obr.get(2);
		const filler = orc?.get(3) || obr.get(3);
		if (isRadiology(g)) {
			const accession = identifier(obr, 18, present(obr.get(18)) || present(filler));
			if (!accession) {
				throw new Hl7ApplicationError(Hl7ErrorCode.requiredFieldMissing, 'accession number missing (OBR-18, OBR-3)', {
					location: loc(obr, 18)
				});
			}
			const statusCode = obr.get(25);
			if (!statusCode) {
				throw new Hl7ApplicationError(Hl7ErrorCode.requiredFieldMissing, 'result status (OBR-25) missing', {
					location: loc(obr, 25)
				});
			}
			const status = reportStatusOf(statusCode);
			if (!status) {
				throw new Hl7ApplicationError(Hl7ErrorCode.tableValueNotFound, `result status ${statusCode} not supported`, {
					location: loc(obr, 25)
				});
			}
			const text: string[] = [];
			for (const o of g.obx) {
				if (!TEXT_VALUE_TYPES.has(o.get(2).toUpperCase())) continue;
				for (let r = 0; r < o.repetitions(5); r++) text.push(o.get(5, 1, r));
			}
			commands.push({
				type: Hl7CommandType.reportResult,
				...ctx.base(patient),
				accessionNumber: accession,
				placerOrderNumber: placer,
				fillerOrderNumber: filler,
				requestedProcedure: coded(obr, 4),
				status,
				statusCode,
				interpreter: { id: obr.get(32, 1, 0, 1), familyName: obr.get(32, 1, 0, 2), givenName: obr.get(32, 1, 0, 3) },
				resultAt: ctx.time(obr, 22) ?? ctx.time(obr, 7) ?? ctx.fallbackTime(),
				reportText: text.join('\n')
			});
		} else {
			const collectedAt = ctx.time(obr, 7);
			const observations: LabObservation[] = g.obx.map((o) => labObservation(ctx, o, collectedAt));
			commands.push({
				type: Hl7CommandType.labResults,
				...ctx.base(patient),
				panel: coded(obr, 4),
				placerOrderNumber: placer,
				fillerOrderNumber: filler,
				collectedAt: collectedAt ?? ctx.fallbackTime(),
				observations
			});
		}
	}
	return commands;
}

const SN_COMPARATORS = new Set(['<', '>', '<=', '>=', '=', '<>']);

function labObservation(ctx: Ctx, o: Hl7SegmentView, collectedAt: string | null): LabObservation {
	const code = coded(o, 3);
	if (!code.code && !code.text) {
		throw new Hl7ApplicationError(Hl7ErrorCode.requiredFieldMissing, 'observation identifier (OBX-3) missing', {
			location: loc(o, 3)
		});
	}
	const valueType = o.get(2).toUpperCase();
	let numeric: number | null = null;
	let comparator = '';
	let value: string;
	if (valueType === 'SN') {
		comparator = o.get(5, 1);
		const n1 = o.get(5, 2);
		const sep = o.get(5, 3);
		const n2 = o.get(5, 4);
		if (comparator && !SN_COMPARATORS.has(comparator)) {
			throw new Hl7ApplicationError(Hl7ErrorCode.dataTypeError, 'OBX-5 SN comparator invalid', { location: loc(o, 5, 1) });
		}
		value = `${comparator}${n1}${sep}${n2}`;
		numeric = n1 !== '' && Number.isFinite(Number(n1)) ? Number(n1) : null;
	} else {
		const reps: string[] = [];
		const coded = valueType === 'CE' || valueType === 'CWE' || valueType === 'CNE';
		for (let r = 0; r < o.repetitions(5); r++) {
			reps.push(coded ? o.get(5, 2, r) || o.get(5, 1, r) : o.get(5, 1, r));
		}
		value = reps.join('; ');
		if (valueType === 'NM') {
			const v = value.trim();
			if (v !== '' && !Number.isFinite(Number(v))) {
				throw new Hl7ApplicationError(Hl7ErrorCode.dataTypeError, 'OBX-5 is not numeric for value type NM', {
					location: loc(o, 5)
				});
			}
			numeric = v === '' ? null : Number(v);
		}
	}
	const flags: string[] = [];
	for (let r = 0; r < o.repetitions(8); r++) {
		const f = o.get(8, 1, r);
		if (f) flags.push(f);
	}
	return {
		valueType,
		code,
		subId: o.get(4),
		value,
		numeric,
		comparator,
		units: o.get(6, 1) || o.get(6, 2),
		referenceRange: o.get(7),
		abnormalFlags: flags,
		resultStatus: o.get(11),
		observedAt: ctx.time(o, 14) ?? collectedAt
	};
}
