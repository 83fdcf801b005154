import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../../tests/helpers/db';
import { appendAudit, verifyAuditChain } from './audit';
import { createUser, login, LOGIN_MAX_FAILURES, logout, userForSession } from './users';
import { AuthError } from './errors';
import { can } from '../../domain/auth/roles';

let t: TestDatabase;
const system = { userId: null, username: 'test', role: null };
beforeAll(async () => {
	t = await createTestDatabase('auth');
	await createUser(t.db.sql, { username: 'rita', role: 'charge', password: 'a-long-password-1' }, system);
});
afterAll(async () => t?.drop());

describe('roles', () => {
	it('managers read, charge radiologists steer, admins administer', () => {
		expect(can('manager', 'view')).toBe(true);
		expect(can('manager', 'steer_worklist')).toBe(false);
		expect(can('charge', 'steer_worklist')).toBe(true);
		expect(can('charge', 'administer')).toBe(false);
		expect(can('admin', 'administer')).toBe(true);
		expect(can('nobody' as never, 'view')).toBe(false);
	});
});

describe('passwords and sessions', () => {
	it('refuses weak passwords and stores only an argon2id hash', async () => {
		await expect(createUser(t.db.sql, { username: 'weak', role: 'manager', password: 'short' }, system)).rejects.toThrow(/12 characters/);
		const [u] = await t.db.sql`SELECT password_hash FROM users WHERE username = 'rita'`;
		expect(u.password_hash).toMatch(/^\$argon2id\$/);
	});

	it('login opens a session; the token is stored hashed; logout ends it', async () => {
		const { token, user } = await login(t.db.sql, 'rita', 'a-long-password-1', { ip: '127.0.0.1' });
		expect(user.role).toBe('charge');
		const [{ n }] = await t.db.sql`SELECT count(*)::int AS n FROM sessions WHERE id = ${token}`;
		expect(n).toBe(0);
		expect((await userForSession(t.db.sql, token))?.username).toBe('rita');
		await logout(t.db.sql, token, user);
		expect(await userForSession(t.db.sql, token)).toBeNull();
	});

	it('a new login rotates the session: the previous token stops working', async () => {
		const a = await login(t.db.sql, 'rita', 'a-long-password-1', { ip: '127.0.0.1' });
		const b = await login(t.db.sql, 'rita', 'a-long-password-1', { ip: '127.0.0.1', previousToken: a.token });
		expect(await userForSession(t.db.sql, a.token)).toBeNull();
		expect((await userForSession(t.db.sql, b.token))?.username).toBe('rita');
	});

	it('an expired session is refused', async () => {
		const { token } = await login(t.db.sql, 'rita', 'a-long-password-1', { ip: '127.0.0.1' });
		const later = new Date(Date.now() + 13 * 3600 * 1000);
		expect(await userForSession(t.db.sql, token, later)).toBeNull();
	});

	it('rate-limits repeated failures for a user, even with the right password afterwards', async () => {
		await createUser(t.db.sql, { username: 'target', role: 'manager', password: 'target-password-1' }, system);
		for (let i = 0; i < LOGIN_MAX_FAILURES; i++) {
			await expect(login(t.db.sql, 'target', 'wrong-wrong-wrong', { ip: '10.9.9.9' })).rejects.toMatchObject({ code: 'bad_credentials' });
		}
		const err = await login(t.db.sql, 'target', 'target-password-1', { ip: '10.9.9.9' }).catch((e) => e);
		expect(err).toBeInstanceOf(AuthError);
		expect(err.status).toBe(429);
	});
});

describe('audit log', () => {
	it('is append-only: UPDATE and DELETE are refused by the database', async () => {
		await appendAudit(t.db.sql, { userId: null, username: 'x', role: null, action: 'test.one' });
		await expect(t.db.sql`UPDATE audit_log SET reason = 'edited'`).rejects.toThrow(/append-only/);
		await expect(t.db.sql`DELETE FROM audit_log`).rejects.toThrow(/append-only/);
	});

	it('verifies an intact chain and pinpoints an edited row', async () => {
		for (let i = 0; i < 5; i++) await appendAudit(t.db.sql, { userId: 1, username: 'rita', role: 'charge', action: 'study.hold', target: `study:${i}`, reason: 'waiting for priors', details: { i } });
		const ok = await verifyAuditChain(t.db.sql);
		expect(ok.ok).toBe(true);
		// An attacker with superuser rights disables the trigger and edits a row.
		const [victim] = await t.db.sql`SELECT id FROM audit_log WHERE action = 'study.hold' ORDER BY id LIMIT 1 OFFSET 2`;
		await t.db.sql.begin(async (tx) => {
			await tx`ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change`;
			await tx`UPDATE audit_log SET reason = 'nothing to see' WHERE id = ${victim.id}`;
			await tx`ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change`;
		});
		const broken = await verifyAuditChain(t.db.sql);
		expect(broken).toMatchObject({ ok: false, brokenAt: victim.id });
		expect(broken.problem).toMatch(/edited/);
	});
});
