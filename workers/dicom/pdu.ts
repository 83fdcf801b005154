/**
 * The DICOM upper-layer PDUs and DIMSE command sets, both directions: what our
 * own clients send (the simulator's C-STORE SCU, the byte-level test client)
 * and what the storage SCP decodes and answers (A-ASSOCIATE-RQ → AC/RJ,
 * C-STORE/C-ECHO requests → responses, release, abort).
 *
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part08.html#sect_9.3 PS3.8 9.3 (PDU structure)
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part07.html#sect_9.1.1 PS3.7 9.1.1 (C-STORE)
 */

export const PduType = { associateRq: 1, associateAc: 2, associateRj: 3, pData: 4, releaseRq: 5, releaseRp: 6, abort: 7 } as const;
export type PduType = (typeof PduType)[keyof typeof PduType];

const APPLICATION_CONTEXT = '1.2.840.10008.3.1.1.1';

/** A PDU: type, reserved byte, 32-bit big-endian length, body. */
export function pdu(type: number, body: Buffer): Buffer {
	const h = Buffer.alloc(6);
	h[0] = type;
	h.writeUInt32BE(body.length, 2);
	return Buffer.concat([h, body]);
}

/** A variable item inside A-ASSOCIATE: type, reserved byte, 16-bit length, body. */
export function item(type: number, body: Buffer): Buffer {
	const h = Buffer.alloc(4);
	h[0] = type;
	h.writeUInt16BE(body.length, 2);
	return Buffer.concat([h, body]);
}

/** An AE title field: 16 bytes, space padded. */
export function aeField(title: string): Buffer {
	return Buffer.from(title.padEnd(16, ' ').slice(0, 16), 'ascii');
}

export interface ProposedContext {
	abstractSyntax: string;
	transferSyntaxes: readonly string[];
}

/** A-ASSOCIATE-RQ; presentation context ids are 1, 3, 5… in the order given. @see PS3.8 9.3.2 */
export function associateRequest(
	calling: string,
	called: string,
	contexts: readonly ProposedContext[],
	maxPdu: number,
	implementation?: { classUid: string; version: string }
): Buffer {
	const fixed = Buffer.alloc(68);
	fixed.writeUInt16BE(1, 0);
	aeField(called).copy(fixed, 4);
	aeField(calling).copy(fixed, 20);
	const pcs = contexts.map((c, i) =>
		item(
			0x20,
			Buffer.concat([
				Buffer.from([2 * i + 1, 0, 0, 0]),
				item(0x30, Buffer.from(c.abstractSyntax, 'ascii')),
				...c.transferSyntaxes.map((ts) => item(0x40, Buffer.from(ts, 'ascii')))
			])
		)
	);
	const maxLen = Buffer.alloc(4);
	maxLen.writeUInt32BE(maxPdu);
	const userItems = [item(0x51, maxLen)];
	if (implementation) {
		userItems.push(item(0x52, Buffer.from(implementation.classUid, 'ascii')), item(0x55, Buffer.from(implementation.version, 'ascii')));
	}
	return pdu(PduType.associateRq, Buffer.concat([fixed, item(0x10, Buffer.from(APPLICATION_CONTEXT, 'ascii')), ...pcs, item(0x50, Buffer.concat(userItems))]));
}

/** One P-DATA-TF with one PDV; flags bit 0 = command, bit 1 = last fragment. */
export function pDataPdu(contextId: number, value: Buffer, command: boolean, last: boolean): Buffer {
	const head = Buffer.alloc(6);
	head.writeUInt32BE(value.length + 2, 0);
	head[4] = contextId;
	head[5] = (command ? 1 : 0) | (last ? 2 : 0);
	return pdu(PduType.pData, Buffer.concat([head, value]));
}

function element(group: number, el: number, value: Buffer): Buffer {
	const h = Buffer.alloc(8);
	h.writeUInt16LE(group, 0);
	h.writeUInt16LE(el, 2);
	h.writeUInt32LE(value.length, 4);
	return Buffer.concat([h, value]);
}
const us = (n: number) => {
	const b = Buffer.alloc(2);
	b.writeUInt16LE(n);
	return b;
};
const uid = (s: string) => Buffer.from(s.length % 2 ? `${s}\0` : s, 'ascii');

/** C-STORE-RQ command set, Implicit VR Little Endian as PS3.7 requires. */
export function storeCommand(sopClassUid: string, sopInstanceUid: string, messageId: number): Buffer {
	const body = Buffer.concat([
		element(0, 0x0002, uid(sopClassUid)),
		element(0, 0x0100, us(0x0001)),
		element(0, 0x0110, us(messageId)),
		element(0, 0x0700, us(0)),
		element(0, 0x0800, us(0x0000)),
		element(0, 0x1000, uid(sopInstanceUid))
	]);
	const len = Buffer.alloc(4);
	len.writeUInt32LE(body.length);
	return Buffer.concat([element(0, 0x0000, len), body]);
}

/** Read (0000,0900) Status from an implicit-VR command set. */
export function commandStatus(command: Buffer): number | null {
	let o = 0;
	while (o + 8 <= command.length) {
		const group = command.readUInt16LE(o);
		const el = command.readUInt16LE(o + 2);
		const len = command.readUInt32LE(o + 4);
		if (group === 0 && el === 0x0900 && len === 2) return command.readUInt16LE(o + 8);
		o += 8 + len;
	}
	return null;
}

/** A PDU or command set that does not follow PS3.8 / PS3.7; the association is aborted. */
export class PduFormatError extends Error {
	readonly code = 'invalid_pdu';
	constructor(message: string) {
		super(message);
		this.name = 'PduFormatError';
	}
}

export interface RequestedContext {
	id: number;
	abstractSyntax: string;
	transferSyntaxes: string[];
}

/** What an A-ASSOCIATE-RQ asks for. @see PS3.8 9.3.2 */
export interface AssociateRequest {
	protocolVersion: number;
	calledAe: string;
	callingAe: string;
	applicationContext: string;
	contexts: RequestedContext[];
	/** Largest PDU the requestor receives; 0 = no limit. */
	maxPduLength: number;
	implementationClassUid: string | null;
	implementationVersion: string | null;
}

const ascii = (b: Buffer, start: number, end: number) => b.toString('latin1', start, end).replace(/[\0 ]+$/, '').replace(/^ +/, '');

/** Walks the variable items of an A-ASSOCIATE PDU (or a sub-item list). */
function* items(b: Buffer, start: number, end: number): Generator<{ type: number; body: Buffer }> {
	let o = start;
	while (o < end) {
		if (o + 4 > end) throw new PduFormatError('truncated item header');
		const type = b[o];
		const len = b.readUInt16BE(o + 2);
		if (o + 4 + len > end) throw new PduFormatError(`item 0x${type.toString(16)} overruns its PDU`);
		yield { type, body: b.subarray(o + 4, o + 4 + len) };
		o += 4 + len;
	}
}

/** Decodes the body of an A-ASSOCIATE-RQ (without the 6-byte PDU header). */
export function decodeAssociateRequest(body: Buffer): AssociateRequest {
	if (body.length < 68) throw new PduFormatError('A-ASSOCIATE-RQ shorter than its fixed fields');
	const rq: AssociateRequest = {
		protocolVersion: body.readUInt16BE(0),
		calledAe: ascii(body, 4, 20),
		callingAe: ascii(body, 20, 36),
		applicationContext: '',
		contexts: [],
		maxPduLength: 0,
		implementationClassUid: null,
		implementationVersion: null
	};
	for (const it of items(body, 68, body.length)) {
		if (it.type === 0x10) rq.applicationContext = ascii(it.body, 0, it.body.length);
		else if (it.type === 0x20) {
			if (it.body.length < 4) throw new PduFormatError('presentation context item too short');
			const pc: RequestedContext = { id: it.body[0], abstractSyntax: '', transferSyntaxes: [] };
			for (const sub of items(it.body, 4, it.body.length)) {
				if (sub.type === 0x30) pc.abstractSyntax = ascii(sub.body, 0, sub.body.length);
				else if (sub.type === 0x40) pc.transferSyntaxes.push(ascii(sub.body, 0, sub.body.length));
			}
			rq.contexts.push(pc);
		} else if (it.type === 0x50) {
			for (const sub of items(it.body, 0, it.body.length)) {
				if (sub.type === 0x51 && sub.body.length >= 4) rq.maxPduLength = sub.body.readUInt32BE(0);
				else if (sub.type === 0x52) rq.implementationClassUid = ascii(sub.body, 0, sub.body.length);
				else if (sub.type === 0x55) rq.implementationVersion = ascii(sub.body, 0, sub.body.length);
			}
		}
	}
	return rq;
}

/** Presentation context results in an A-ASSOCIATE-AC. @see PS3.8 Table 9-18 */
export const ContextResult = { acceptance: 0, userRejection: 1, noReason: 2, abstractSyntaxNotSupported: 3, transferSyntaxesNotSupported: 4 } as const;
export type ContextResult = (typeof ContextResult)[keyof typeof ContextResult];

export interface ContextAnswer {
	id: number;
	result: ContextResult;
	/** The accepted syntax; for a rejected context any value (not tested by the peer). */
	transferSyntax: string;
}

/** A-ASSOCIATE-AC answering `rq`. @see PS3.8 9.3.3 */
export function associateAccept(
	rq: AssociateRequest,
	answers: readonly ContextAnswer[],
	maxPdu: number,
	implementation: { classUid: string; version: string }
): Buffer {
	const fixed = Buffer.alloc(68);
	fixed.writeUInt16BE(1, 0);
	aeField(rq.calledAe).copy(fixed, 4);
	aeField(rq.callingAe).copy(fixed, 20);
	const pcs = answers.map((a) => item(0x21, Buffer.concat([Buffer.from([a.id, 0, a.result, 0]), item(0x40, Buffer.from(a.transferSyntax, 'ascii'))])));
	const maxLen = Buffer.alloc(4);
	maxLen.writeUInt32BE(maxPdu);
	const user = item(0x50, Buffer.concat([item(0x51, maxLen), item(0x52, Buffer.from(implementation.classUid, 'ascii')), item(0x55, Buffer.from(implementation.version, 'ascii'))]));
	return pdu(PduType.associateAc, Buffer.concat([fixed, item(0x10, Buffer.from(rq.applicationContext || APPLICATION_CONTEXT, 'ascii')), ...pcs, user]));
}

/** The DICOM application context name every association must propose. */
export const DICOM_APPLICATION_CONTEXT = APPLICATION_CONTEXT;

/** A-ASSOCIATE-RJ. @see PS3.8 9.3.4 */
export function associateReject(result: number, source: number, reason: number): Buffer {
	return pdu(PduType.associateRj, Buffer.from([0, result, source, reason]));
}

/** A-RELEASE-RQ / A-RELEASE-RP. @see PS3.8 9.3.6, 9.3.7 */
export const releaseRequest = (): Buffer => pdu(PduType.releaseRq, Buffer.alloc(4));
export const releaseResponse = (): Buffer => pdu(PduType.releaseRp, Buffer.alloc(4));

/** A-ABORT reasons when the source is the service provider (2). @see PS3.8 Table 9-26 */
export const AbortReason = { notSpecified: 0, unrecognizedPdu: 1, unexpectedPdu: 2, unrecognizedPduParameter: 4, unexpectedPduParameter: 5, invalidPduParameterValue: 6 } as const;

/** A-ABORT: source 0 = service user, 2 = service provider. @see PS3.8 9.3.8 */
export function abortPdu(source = 2, reason: number = AbortReason.invalidPduParameterValue): Buffer {
	return pdu(PduType.abort, Buffer.from([0, 0, source, reason]));
}

/** DIMSE command fields used here. @see PS3.7 Table E.1-1 */
export const CommandField = { cStoreRq: 0x0001, cStoreRsp: 0x8001, cEchoRq: 0x0030, cEchoRsp: 0x8030 } as const;

/** Command Data Set Type (0000,0800) meaning "no data set". */
export const NO_DATASET = 0x0101;

/** The fields of a request command set the SCP acts on. */
export interface DimseCommand {
	commandField: number;
	messageId: number;
	affectedSopClassUid: string;
	affectedSopInstanceUid: string;
	hasDataset: boolean;
}

/** Decodes an implicit VR little endian command set (group 0000). @see PS3.7 6.3.1 */
export function decodeCommand(b: Buffer): DimseCommand {
	const cmd: DimseCommand = { commandField: -1, messageId: 0, affectedSopClassUid: '', affectedSopInstanceUid: '', hasDataset: false };
	let o = 0;
	let dataSetType = -1;
	while (o + 8 <= b.length) {
		const group = b.readUInt16LE(o);
		const el = b.readUInt16LE(o + 2);
		const len = b.readUInt32LE(o + 4);
		const v = o + 8;
		if (group !== 0 || v + len > b.length) throw new PduFormatError('malformed command set');
		if (el === 0x0002) cmd.affectedSopClassUid = ascii(b, v, v + len);
		else if (el === 0x0100 && len === 2) cmd.commandField = b.readUInt16LE(v);
		else if (el === 0x0110 && len === 2) cmd.messageId = b.readUInt16LE(v);
		else if (el === 0x0800 && len === 2) dataSetType = b.readUInt16LE(v);
		else if (el === 0x1000) cmd.affectedSopInstanceUid = ascii(b, v, v + len);
		o = v + len;
	}
	if (o !== b.length || cmd.commandField < 0 || dataSetType < 0) throw new PduFormatError('command set lacks Command Field or Command Data Set Type');
	cmd.hasDataset = dataSetType !== NO_DATASET;
	return cmd;
}

/** A response command set (C-STORE-RSP, C-ECHO-RSP…), implicit VR LE, ascending tags. @see PS3.7 9.3.1.2 */
export function responseCommand(r: {
	commandField: number;
	messageIdBeingRespondedTo: number;
	affectedSopClassUid: string;
	affectedSopInstanceUid?: string;
	status: number;
	errorComment?: string;
}): Buffer {
	const parts = [
		element(0, 0x0002, uid(r.affectedSopClassUid)),
		element(0, 0x0100, us(r.commandField)),
		element(0, 0x0120, us(r.messageIdBeingRespondedTo)),
		element(0, 0x0800, us(NO_DATASET)),
		element(0, 0x0900, us(r.status))
	];
	if (r.errorComment) {
		const c = r.errorComment.replace(/[^\x20-\x7e]/g, '?').slice(0, 64);
		parts.push(element(0, 0x0902, Buffer.from(c.length % 2 ? `${c} ` : c, 'latin1')));
	}
	if (r.affectedSopInstanceUid) parts.push(element(0, 0x1000, uid(r.affectedSopInstanceUid)));
	const body = Buffer.concat(parts);
	const len = Buffer.alloc(4);
	len.writeUInt32LE(body.length);
	return Buffer.concat([element(0, 0x0000, len), body]);
}

/** P-DATA-TF PDUs carrying `value` as PDVs no larger than the peer's limit (0 = none). */
export function pDataFragments(contextId: number, value: Buffer, command: boolean, peerMaxPdu: number): Buffer[] {
	const room = peerMaxPdu > 0 ? Math.max(1, peerMaxPdu - 6) : value.length || 1;
	const out: Buffer[] = [];
	for (let o = 0; o < value.length || out.length === 0; o += room) {
		const piece = value.subarray(o, o + room);
		out.push(pDataPdu(contextId, piece, command, o + room >= value.length));
	}
	return out;
}
