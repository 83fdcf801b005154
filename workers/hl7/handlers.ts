/**
 * The contract between the MLLP edge and the application: what a handler receives,
 * how it signals commit, and how an inbound message becomes domain commands.
 *
 * The lead's handler commits the commands (and the raw message) to the database;
 * the edge acknowledges only after it resolved. A semantic problem is thrown as
 * {@link Hl7ApplicationError} (→ AE with ERR); anything else is an internal
 * failure (→ AR with ERR-3 207, which tells the sender to resend later).
 */
import type { Hl7Command, Hl7Mapping } from '../../src/lib/domain/hl7/commands';
import { Hl7ApplicationError, Hl7ErrorCode } from '../../src/lib/domain/hl7/errors';
import { classifyMessage, idempotencyKeyOf, mapHl7Message, messageTypeOf } from '../../src/lib/domain/hl7/map';
import { echoesExactly, type MshHeader, type ParsedHl7Message } from './message';

export { Hl7ApplicationError, Hl7ErrorCode };
export type { Hl7Command, Hl7Mapping };

/** One inbound message, mapped, as the handler sees it. */
export interface Hl7Inbound {
	message: ParsedHl7Message;
	header: MshHeader;
	/** `MSH-3|MSH-4|MSH-10`: the store decides what a duplicate is. */
	idempotencyKey: string;
	/** Key for per-patient ordering across connections (see KeyedSerialQueue), null if none. */
	patientKey: string | null;
	commands: Hl7Command[];
	/**
	 * False for a message type Radflow does not map, passed on because the server
	 * runs with `unknownTypes: 'ack'`: store it (or not) and resolve to acknowledge it.
	 */
	supported: boolean;
	receivedAt: string;
	connectionId: string;
}

export interface Hl7HandlerContext {
	/**
	 * Optional two-phase commit for enhanced mode: call after the message is durably
	 * stored and before slower application processing; the edge sends CA at that point
	 * (MSH-15 permitting) and goes on with the connection's next message while the
	 * handler applies this one. If never called, resolving the handler counts as the commit.
	 */
	accepted(): void;
	/**
	 * True when the sender asked for a commit accept (enhanced mode, MSH-15 not NE):
	 * a handler gains by storing the message durably, calling accepted(), and
	 * applying it afterwards. False in original mode: the ACK waits for the handler.
	 */
	readonly commitAccept: boolean;
}

export type Hl7Handler = (inbound: Hl7Inbound, context: Hl7HandlerContext) => Promise<void>;

export interface MapInboundOptions {
	receivedAt: string;
	connectionId: string;
	unknownTypes: 'ack' | 'reject';
	defaultOffsetMinutes?: number;
}

/**
 * Turn a parsed message into the handler's input.
 * @throws Hl7ApplicationError for unsupported types (when rejecting) and mapping errors.
 */
export function mapInbound(message: ParsedHl7Message, options: MapInboundOptions): Hl7Inbound {
	const msh = message.segments[0];
	const { header } = message;
	// MSH-10 is one ST value: with components the idempotency key (first component) would
	// file "A^B" and "A^C" as one message and acknowledge the second without storing it.
	const d = header.delimiters;
	if ([d.component, d.repetition, d.subcomponent].some((c) => c && header.rawControlId.includes(c))) {
		throw new Hl7ApplicationError(Hl7ErrorCode.dataTypeError, 'MSH-10 message control id must be a single value (no components or repetitions)', {
			location: { segment: 'MSH', sequence: 1, field: 10 }
		});
	}
	// MSA-2 must give MSH-10 back as sent, or the sender cannot tell which message the ACK is for.
	if (!echoesExactly(header.rawControlId, header)) {
		throw new Hl7ApplicationError(
			Hl7ErrorCode.dataTypeError,
			'MSH-10 message control id has bytes that are not valid in the character set the message declares (MSH-18), so it cannot be echoed in MSA-2',
			{ location: { segment: 'MSH', sequence: 1, field: 10 } }
		);
	}
	const { type, event } = messageTypeOf(message);
	const kind = classifyMessage(type, event);
	if (kind !== 'supported') {
		if (options.unknownTypes === 'reject') {
			throw new Hl7ApplicationError(kind, `message type ${type}^${event} not supported`, {
				location: { segment: 'MSH', sequence: 1, field: 9, component: kind === Hl7ErrorCode.unsupportedMessageType ? 1 : 2 }
			});
		}
		return {
			message,
			header,
			idempotencyKey: idempotencyKeyOf(msh),
			patientKey: null,
			commands: [],
			supported: false,
			receivedAt: options.receivedAt,
			connectionId: options.connectionId
		};
	}
	const mapping: Hl7Mapping = mapHl7Message(message, {
		receivedAt: options.receivedAt,
		defaultOffsetMinutes: options.defaultOffsetMinutes
	});
	return {
		message,
		header,
		idempotencyKey: mapping.idempotencyKey,
		patientKey: mapping.patientKey,
		commands: mapping.commands,
		supported: true,
		receivedAt: options.receivedAt,
		connectionId: options.connectionId
	};
}
