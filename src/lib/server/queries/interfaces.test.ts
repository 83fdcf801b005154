import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../../tests/helpers/db';
import type { User } from '../auth/users';
import { lastMessagePerSender, messagesPerMinuteByType, messageTypeTotals, pendingMessages, recentNacks, splitSegments, viewRawMessage } from './interfaces';

let t: TestDatabase;
const NOW = new Date('2025-03-04T10:30:30.000Z');
const ago = (seconds: number) => new Date(NOW.getTime() - seconds * 1000);
const admin: User = { id: 1, username: 'admin', displayName: 'Admin', role: 'admin' };
const ORM = 'MSH|^~\\&|RIS|MAIN|RADFLOW|MAIN|20250304102900||ORM^O01|C1|P|2.5.1\rPID|1||MRN1^^^HOSP||DOE^JANE\rOBR|1|P1|F1|CT-HEAD^CT HEAD <b>|';
let ids: Record<string, number> = {};

beforeAll(async () => {
	t = await createTestDatabase('q_ifaces');
	const rows: [string, string, string, number, string, string | null][] = [
		['RIS^MAIN', 'C1', 'ORM^O01', 10, 'AA', null],
		['RIS^MAIN', 'C2', 'ORM^O01', 20, 'AA', null],
		['RIS^MAIN', 'C3', 'ORM^O01', 75, 'AE', 'OBR-4 missing'],
		['EHR^EAST', 'E1', 'ADT^A01', 40, 'CA', null],
		['EHR^EAST', 'E2', 'ADT^A08', 30, 'AR', 'unsupported event'],
		['LAB^LIS', 'L1', 'ORU^R01', 7200, 'AA', null] // two hours ago: outside the window
	];
	for (const [sender, control, type, s, ack, error] of rows) {
		const [r] = await t.db.sql`INSERT INTO hl7_messages (sender, control_id, message_type, received_at, ack_code, error, raw)
			VALUES (${sender}, ${control}, ${type}, ${ago(s)}, ${ack}, ${error}, ${control === 'C1' ? ORM : 'MSH|^~\\&|X'}) RETURNING id`;
		ids[control] = r.id;
	}
});

afterAll(async () => {
	await t?.drop();
});

describe('interface read models', () => {
	it('counts messages per minute and type within the last hour', async () => {
		const perMinute = await messagesPerMinuteByType(t.db.sql, { now: NOW });
		const asText = perMinute.map((r) => `${r.minute.toISOString().slice(11, 16)} ${r.messageType} ${r.count}`);
		expect(asText).toEqual(['10:29 ADT^A01 1', '10:29 ORM^O01 1', '10:30 ADT^A08 1', '10:30 ORM^O01 2']);
	});

	it('totals per type with their NACKs, busiest first', async () => {
		const totals = await messageTypeTotals(t.db.sql, { now: NOW });
		expect(totals.map((r) => [r.messageType, r.count, r.nacks])).toEqual([
			['ORM^O01', 3, 1],
			['ADT^A01', 1, 0],
			['ADT^A08', 1, 1]
		]);
		expect(totals[0].perMinute).toBeCloseTo(3 / 60);
	});

	it('lists NACKs (AE/AR/CE/CR) with the reason, never accepted messages', async () => {
		const nacks = await recentNacks(t.db.sql);
		expect(nacks.map((n) => [n.controlId, n.ackCode, n.error])).toEqual([
			['E2', 'AR', 'unsupported event'],
			['C3', 'AE', 'OBR-4 missing']
		]);
	});

	it('counts messages answered CA and not applied yet, with the oldest one\'s time', async () => {
		expect(await pendingMessages(t.db.sql)).toEqual({ count: 0, oldestReceivedAt: null });
		await t.db.sql`UPDATE hl7_messages SET pending = true WHERE control_id = 'E1'`;
		try {
			expect(await pendingMessages(t.db.sql)).toEqual({ count: 1, oldestReceivedAt: ago(40) });
		} finally {
			await t.db.sql`UPDATE hl7_messages SET pending = false WHERE control_id = 'E1'`;
		}
	});

	it('gives the newest message of each sender with its total', async () => {
		const last = await lastMessagePerSender(t.db.sql);
		expect(last.map((m) => [m.sender, m.controlId, m.total])).toEqual([
			['RIS^MAIN', 'C1', 3],
			['EHR^EAST', 'E2', 2],
			['LAB^LIS', 'L1', 1]
		]);
	});

	it('audits a raw read in the same transaction, and nothing when the message does not exist', async () => {
		const msg = await t.db.sql.begin((tx) => viewRawMessage(tx, admin, ids.C1));
		expect(msg?.raw).toBe(ORM);
		const audits = await t.db.sql`SELECT action, target, username FROM audit_log WHERE action = 'hl7.view_raw'`;
		expect(audits).toEqual([{ action: 'hl7.view_raw', target: `hl7_message:${ids.C1}`, username: 'admin' }]);
		expect(await t.db.sql.begin((tx) => viewRawMessage(tx, admin, 999_999))).toBeNull();
		// A read whose transaction rolls back leaves no audit row, and vice versa.
		await expect(
			t.db.sql.begin(async (tx) => {
				await viewRawMessage(tx, admin, ids.C2);
				throw new Error('rollback');
			})
		).rejects.toThrow('rollback');
		const [{ n }] = await t.db.sql`SELECT count(*)::int AS n FROM audit_log WHERE action = 'hl7.view_raw'`;
		expect(n).toBe(1);
	});

	it('splits segments on CR, LF or CRLF and drops MLLP framing bytes', () => {
		expect(splitSegments(ORM)).toHaveLength(3);
		expect(splitSegments('\x0bMSH|a\r\nPID|b\nOBR|c\r\r\x1c\r')).toEqual(['MSH|a', 'PID|b', 'OBR|c']);
	});
});
