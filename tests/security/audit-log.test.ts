/**
 * The audit log is append-only in the database (UPDATE, DELETE and TRUNCATE
 * are refused by triggers) and tamper-evident: `radflow audit verify`, the
 * command an operator runs, exits 1 and names the first bad row when someone
 * with enough rights to bypass the triggers edits or removes a row.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { ROOT } from '../helpers/server';
import { appendAudit } from '../../src/lib/server/auth/audit';

let t: TestDatabase;
beforeAll(async () => {
	t = await createTestDatabase('auditlog');
	for (let i = 0; i < 6; i++) {
		await appendAudit(t.db.sql, { userId: 1, username: 'rita', role: 'charge', action: 'study.hold', target: `study:${i}`, reason: 'waiting for priors', details: { i } });
	}
});
afterAll(async () => t?.drop());

function auditVerify(): { code: number | null; result: { ok: boolean; rows: number; brokenAt?: number | string; problem?: string; head?: { id: number } } } {
	const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/radflow.js'), 'audit', 'verify'], {
		cwd: ROOT,
		env: { ...process.env, DATABASE_URL: t.url, LOG_LEVEL: 'error' },
		encoding: 'utf8',
		timeout: 60_000
	});
	const line = r.stdout.trim().split('\n').pop() ?? '';
	return { code: r.status, result: JSON.parse(line) };
}

/** What an attacker with superuser rights can do: switch the guards off around a change. */
async function bypassingGuards(change: (tx: typeof t.db.sql) => Promise<unknown>) {
	await t.db.sql.begin(async (tx) => {
		await tx`ALTER TABLE audit_log DISABLE TRIGGER USER`;
		await change(tx as unknown as typeof t.db.sql);
		await tx`ALTER TABLE audit_log ENABLE TRIGGER USER`;
	});
}

describe('audit log: append-only and tamper-evident', () => {
	it('refuses UPDATE, DELETE and TRUNCATE in the database itself', async () => {
		await expect(t.db.sql`UPDATE audit_log SET reason = 'edited'`).rejects.toThrow(/append-only \(UPDATE refused\)/);
		await expect(t.db.sql`DELETE FROM audit_log WHERE id = (SELECT min(id) FROM audit_log)`).rejects.toThrow(/append-only \(DELETE refused\)/);
		await expect(t.db.sql`TRUNCATE audit_log`).rejects.toThrow(/append-only \(TRUNCATE refused\)/);
		const [{ n }] = await t.db.sql`SELECT count(*)::int AS n FROM audit_log`;
		expect(n).toBe(6);
	});

	it('radflow audit verify passes an intact chain and reports its head', () => {
		const { code, result } = auditVerify();
		expect(code).toBe(0);
		// Six rows here, plus whatever the runtime wrote on start (the first admin's creation).
		expect(result.ok).toBe(true);
		expect(result.rows).toBeGreaterThanOrEqual(6);
		expect(result.head?.id).toBeGreaterThan(0);
	});

	it('radflow audit verify exits 1 on an edited row and names it', async () => {
		const [victim] = await t.db.sql`SELECT id FROM audit_log ORDER BY id OFFSET 2 LIMIT 1`;
		await bypassingGuards((tx) => tx`UPDATE audit_log SET reason = 'nothing to see' WHERE id = ${victim.id}`);
		const { code, result } = auditVerify();
		expect(code).toBe(1);
		expect(result).toMatchObject({ ok: false });
		expect(Number(result.brokenAt)).toBe(Number(victim.id));
		expect(result.problem).toMatch(/edited/);
		await bypassingGuards((tx) => tx`UPDATE audit_log SET reason = 'waiting for priors' WHERE id = ${victim.id}`);
		expect(auditVerify().code).toBe(0);
	});

	it('radflow audit verify exits 1 when a row was removed from the middle', async () => {
		const [victim] = await t.db.sql`SELECT id FROM audit_log ORDER BY id OFFSET 3 LIMIT 1`;
		const [next] = await t.db.sql`SELECT id FROM audit_log WHERE id > ${victim.id} ORDER BY id LIMIT 1`;
		await bypassingGuards((tx) => tx`DELETE FROM audit_log WHERE id = ${victim.id}`);
		const { code, result } = auditVerify();
		expect(code).toBe(1);
		expect(Number(result.brokenAt)).toBe(Number(next.id));
		expect(result.problem).toMatch(/removed/);
	});
});
