/**
 * Fuzz target `hl7-parser`: what the MLLP edge runs on one frame's payload,
 * in-process: MSH-18 decoding and parsing (workers/hl7/message.ts), mapping to
 * domain commands (src/lib/domain/hl7/map.ts via mapInbound), and the ACK or NACK
 * built for the result, which must itself parse back as valid HL7.
 *
 * Allowed outcomes are typed errors (Hl7ParseError / Hl7ApplicationError with a
 * table 0357 code) or a mapping whose identifiers and timestamps are sound.
 */
import { Hl7ApplicationError } from '../../src/lib/domain/hl7/errors';
import { Hl7CommandType, type Hl7Command } from '../../src/lib/domain/hl7/commands';
import { AckCode, buildAck } from '../hl7/ack';
import { mutateMessage } from '../hl7/fuzz';
import { mapInbound, type Hl7Inbound } from '../hl7/handlers';
import { Hl7ParseError, parseHl7Message, peekHeader, type MshHeader } from '../hl7/message';
import { SAMPLE } from '../hl7/samples';
import { exceptionFinding, invariantFinding, TargetName, type Finding, type FuzzTarget } from './target';

const RECEIVED_AT = '2024-03-12T13:30:00.000Z';
const TABLE_0357 = /^\d{3}$/;
/** C0 controls have no place in an identifier that is filed, matched and echoed. */
const CONTROL = /[\u0000-\u001f]/;

export function hl7Seeds(): Buffer[] {
	return Object.values(SAMPLE).map((m) => Buffer.from(m, 'utf8'));
}

/** The ACK for `header` must parse with our own parser and echo MSH-10 in MSA-2. */
function checkAck(header: MshHeader | null, code: AckCode, errorText?: string): Finding | null {
	const text = buildAck({
		header,
		code,
		controlId: 'RFFUZZ1',
		now: new Date(RECEIVED_AT),
		error: errorText === undefined ? undefined : { code: '207', text: errorText, location: { segment: 'MSH', sequence: 1, field: 10 } },
		identity: { application: 'RADFLOW', facility: '' }
	});
	let ack;
	try {
		ack = parseHl7Message(text);
	} catch (e) {
		return invariantFinding('ack-unparseable', `the ${code} built for this message does not parse: ${(e as Error).message}`);
	}
	const msa = ack.first('MSA');
	if (!msa || msa.get(1) !== code) return invariantFinding('ack-code', `MSA-1 of the ${code} reads "${msa?.get(1)}"`);
	if (header && msa.raw(2) !== header.rawControlId) return invariantFinding('ack-control-id', 'MSA-2 does not echo MSH-10 as sent');
	return null;
}

function badTime(v: string | null | undefined): boolean {
	if (v == null) return false;
	const t = Date.parse(v);
	return !Number.isFinite(t) || new Date(t).toISOString() !== v;
}

/** Identifiers a command is filed under must be present and printable; its times valid ISO. */
function checkCommands(inbound: Hl7Inbound): Finding | null {
	const keys = new Set<string>();
	for (const c of inbound.commands as Hl7Command[]) {
		if (keys.has(c.commandKey)) return invariantFinding('duplicate-command-key', `two commands share key ${c.commandKey}`);
		keys.add(c.commandKey);
		if (!c.patient.id.trim() || CONTROL.test(c.patient.id)) return invariantFinding('patient-id', `command ${c.type} carries patient id ${JSON.stringify(c.patient.id)}`);
		if ('accessionNumber' in c && (!c.accessionNumber.trim() || CONTROL.test(c.accessionNumber))) {
			return invariantFinding('accession', `command ${c.type} carries accession ${JSON.stringify(c.accessionNumber)}`);
		}
		if (c.type === Hl7CommandType.patientMerge && (!c.mergedPatient.id.trim() || CONTROL.test(c.mergedPatient.id))) {
			return invariantFinding('merged-patient-id', `merge carries prior patient id ${JSON.stringify(c.mergedPatient.id)}`);
		}
		for (const [k, v] of Object.entries(c)) {
			if (/At$/.test(k) && (typeof v === 'string' || v === null) && badTime(v)) return invariantFinding('timestamp', `${c.type}.${k} is not an ISO time: ${v}`);
		}
		if (badTime(c.source.messageAt)) return invariantFinding('timestamp', `source.messageAt is not an ISO time: ${c.source.messageAt}`);
	}
	const controlId = inbound.header.controlId;
	if (inbound.supported && !inbound.idempotencyKey.endsWith(`|${controlId}`)) return invariantFinding('idempotency-key', 'idempotency key does not end with MSH-10');
	return null;
}

/** Runs one payload through parse → map → ACK. */
export function runHl7Payload(input: Buffer): Finding | null {
	try {
		peekHeader(input);
	} catch (e) {
		return exceptionFinding(e, 'peekHeader');
	}
	let message;
	try {
		message = parseHl7Message(input);
	} catch (e) {
		if (e instanceof Hl7ParseError && TABLE_0357.test(e.code)) return checkAck(e.header, e.ack, e.message);
		return exceptionFinding(e, 'parseHl7Message');
	}
	const header = message.header;
	const ackProblem = checkAck(header, AckCode.AA) ?? checkAck(header, AckCode.AE, 'field \\ | ^ ~ & problem\r');
	if (ackProblem) return ackProblem;
	for (const unknownTypes of ['reject', 'ack'] as const) {
		let inbound: Hl7Inbound;
		try {
			inbound = mapInbound(message, { receivedAt: RECEIVED_AT, connectionId: 'fuzz', unknownTypes, defaultOffsetMinutes: 60 });
		} catch (e) {
			if (e instanceof Hl7ApplicationError && TABLE_0357.test(e.code)) continue;
			return exceptionFinding(e, 'mapInbound');
		}
		const problem = checkCommands(inbound);
		if (problem) return problem;
	}
	return null;
}

export function createHl7ParserTarget(): FuzzTarget {
	return {
		name: TargetName.hl7Parser,
		caseTimeoutMs: 5_000,
		seeds: hl7Seeds,
		mutate: (input, rand) => mutateMessage(input, rand),
		execute: async (input) => runHl7Payload(input),
		close: async () => {}
	};
}
