/**
 * Read models for the Interfaces page: HL7 v2 traffic from `hl7_messages`
 * (volume per type, negative acknowledgments, last message per sender) and
 * the audited raw-message read.
 *
 * @see https://www.hl7.org/implement/standards/product_brief.cfm?product_id=185 HL7 v2.5.1, chapter 2 (control: MSH, MSA, ERR)
 */
import type { SqlLike } from '../db/client';
import { audit } from '../auth/guard';
import type { User } from '../auth/users';

/** Acknowledgment codes that mean "accepted" (original and enhanced mode, HL7 table 0008). */
export const ACCEPT_CODES = ['AA', 'CA'] as const;

/** Columns: minute (bucket start), messageType, count. */
export interface TypeMinute {
	minute: Date;
	messageType: string;
	count: number;
}

/**
 * Messages per minute and type over the last `minutes` minutes (default 60),
 * oldest first. Only minutes with traffic are returned; the page zero-fills.
 */
export async function messagesPerMinuteByType(
	sql: SqlLike,
	params: { now?: Date; minutes?: number } = {}
): Promise<TypeMinute[]> {
	const now = params.now ?? new Date();
	const minutes = params.minutes ?? 60;
	return sql<TypeMinute[]>`
		SELECT date_trunc('minute', received_at) AS minute, message_type AS "messageType", count(*)::int AS count
		FROM hl7_messages
		WHERE received_at >= date_trunc('minute', ${now}::timestamptz) - make_interval(mins => ${minutes - 1})
			AND received_at <= ${now}
		GROUP BY 1, 2
		ORDER BY 1, 2`;
}

/** Columns: messageType, count, nacks, perMinute — totals per type over the window. */
export interface TypeTotal {
	messageType: string;
	count: number;
	nacks: number;
	perMinute: number;
}

/** Totals per message type over the last `minutes` minutes (default 60), busiest first. */
export async function messageTypeTotals(
	sql: SqlLike,
	params: { now?: Date; minutes?: number } = {}
): Promise<TypeTotal[]> {
	const now = params.now ?? new Date();
	const minutes = params.minutes ?? 60;
	const since = new Date(now.getTime() - minutes * 60_000);
	const rows = await sql<Omit<TypeTotal, 'perMinute'>[]>`
		SELECT message_type AS "messageType", count(*)::int AS count,
			(count(*) FILTER (WHERE ack_code <> ALL(${ACCEPT_CODES as unknown as string[]}::text[])))::int AS nacks
		FROM hl7_messages
		WHERE received_at > ${since} AND received_at <= ${now}
		GROUP BY message_type
		ORDER BY count DESC, message_type`;
	return rows.map((r) => ({ ...r, perMinute: r.count / minutes }));
}

/** Columns: id, sender, controlId, messageType, receivedAt, ackCode, error. */
export interface MessageSummary {
	id: number;
	sender: string;
	controlId: string;
	messageType: string;
	receivedAt: Date;
	ackCode: string;
	error: string | null;
}

/** Messages answered with anything but AA/CA (AE, AR, CE, CR), newest first, with the reason sent back. */
export async function recentNacks(sql: SqlLike, params: { limit?: number } = {}): Promise<MessageSummary[]> {
	return sql<MessageSummary[]>`
		SELECT id, sender, control_id AS "controlId", message_type AS "messageType", received_at AS "receivedAt",
			ack_code AS "ackCode", error
		FROM hl7_messages
		WHERE ack_code <> ALL(${ACCEPT_CODES as unknown as string[]}::text[])
		ORDER BY received_at DESC, id DESC
		LIMIT ${params.limit ?? 50}`;
}

/** Enhanced-mode messages answered CA and not applied yet: how many, and since when the oldest waits. */
export interface PendingSummary {
	count: number;
	oldestReceivedAt: Date | null;
}

export async function pendingMessages(sql: SqlLike): Promise<PendingSummary> {
	const [r] = await sql<PendingSummary[]>`
		SELECT count(*)::int AS count, min(received_at) AS "oldestReceivedAt" FROM hl7_messages WHERE pending`;
	return r;
}

/** Columns: as MessageSummary, plus total (messages from this sender, all time). */
export interface SenderLast extends MessageSummary {
	total: number;
}

/** The newest message of each sender (sending application^facility), most recent sender first. */
export async function lastMessagePerSender(sql: SqlLike, params: { limit?: number } = {}): Promise<SenderLast[]> {
	return sql<SenderLast[]>`
		SELECT * FROM (
			SELECT DISTINCT ON (sender) id, sender, control_id AS "controlId", message_type AS "messageType",
				received_at AS "receivedAt", ack_code AS "ackCode", error,
				(count(*) OVER (PARTITION BY sender))::int AS total
			FROM hl7_messages
			ORDER BY sender, received_at DESC, id DESC
		) s
		ORDER BY "receivedAt" DESC
		LIMIT ${params.limit ?? 100}`;
}

/** Columns: as MessageSummary, plus raw. */
export interface RawMessage extends MessageSummary {
	raw: string;
}

/**
 * Reads one raw message and records the read in the audit log, in the
 * caller's transaction: the read and its audit row commit together. Raw
 * messages carry PHI, so the audit happens even when nothing else changes.
 * Returns null (and audits nothing) when there is no such message.
 */
export async function viewRawMessage(tx: SqlLike, user: User, id: number): Promise<RawMessage | null> {
	if (!Number.isSafeInteger(id) || id <= 0) return null;
	const [row] = await tx<RawMessage[]>`
		SELECT id, sender, control_id AS "controlId", message_type AS "messageType", received_at AS "receivedAt",
			ack_code AS "ackCode", error, raw
		FROM hl7_messages WHERE id = ${id}`;
	if (!row) return null;
	await audit(tx, user, 'hl7.view_raw', `hl7_message:${id}`, null, {});
	return row;
}

/**
 * Splits a raw HL7 v2 message into segments. The standard separator is CR;
 * files and some senders use LF or CRLF, so all three are accepted. MLLP
 * framing bytes (VT, FS) are dropped if they were stored.
 *
 * @see HL7 v2.5.1 §2.5 (message construction rules: segment terminator CR)
 */
export function splitSegments(raw: string): string[] {
	return raw
		.replace(/[\x0b\x1c]/g, '')
		.split(/\r\n|\r|\n/)
		.filter((s) => s.length > 0);
}
