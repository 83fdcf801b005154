/**
 * Typed event map of the HL7 server's stats emitter. Listeners run synchronously on
 * the connection's turn: keep them cheap. A listener that throws is logged and ignored.
 */
import { EventEmitter } from 'node:events';
import type { Hl7ErrorCode, Hl7ErrorLocation } from '../../src/lib/domain/hl7/errors';
import type { AckCode } from './ack';
import type { JunkReason } from './framing';

export interface Hl7MessageStat {
	connectionId: string;
	messageType: string;
	triggerEvent: string;
	controlId: string;
	idempotencyKey: string;
	/** The final acknowledgment sent (AA, or CA when MSH-16 asked for no application ack). */
	ack: AckCode | null;
	commands: number;
	supported: boolean;
	/** Frame complete → ACK written, milliseconds. */
	ms: number;
}

export interface Hl7NackStat {
	connectionId: string;
	/** The code sent back; null when MSH-15/16 asked for none. */
	ack: AckCode | null;
	/** What kind of failure it was, whatever was sent: AE (the message is wrong) or AR (rejected, resend later). */
	failure: 'AE' | 'AR';
	code: Hl7ErrorCode;
	location?: Hl7ErrorLocation;
	/** Diagnostic text (no PHI). */
	reason: string;
	messageType: string;
	controlId: string;
	idempotencyKey: string | null;
	/** The message was accepted (CA) before it failed: the handler that accepted it records the outcome. */
	afterAccept: boolean;
	/** Decoded message text when it could be decoded, for a dead-letter store. Contains PHI: never log it. */
	raw: string | null;
}

export interface Hl7ConnectionStat {
	connectionId: string;
	state: 'open' | 'closed';
	remoteAddress: string;
	remotePort: number;
	/** Present on close. */
	reason?: string;
	messages?: number;
}

export interface Hl7JunkStat {
	connectionId: string;
	bytes: number;
	reason: JunkReason;
}

export interface Hl7StatsEventMap {
	message: [Hl7MessageStat];
	nack: [Hl7NackStat];
	connection: [Hl7ConnectionStat];
	junk: [Hl7JunkStat];
}

export type Hl7StatsEmitter = EventEmitter<Hl7StatsEventMap>;

export function createStatsEmitter(): Hl7StatsEmitter {
	return new EventEmitter<Hl7StatsEventMap>();
}
