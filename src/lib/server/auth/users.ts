/**
 * Users, passwords (argon2id) and server-side sessions.
 * Session cookies carry a random token; the database keeps only its SHA-256.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';
import { isRole, type Role } from '../../domain/auth/roles';
import type { SqlLike } from '../db/client';
import { appendAudit } from './audit';
import { AuthError } from './errors';
import { loginThrottle, throttleMessage } from './throttle';

export interface User {
	id: number;
	username: string;
	displayName: string;
	role: Role;
}

export const SESSION_COOKIE = 'radflow_session';
/** A session unused this long ends (an unattended workstation signs itself out). */
export const SESSION_IDLE_MS = 60 * 60 * 1000;
/** No session outlives this, however busy: one shift. */
export const SESSION_ABSOLUTE_MS = 12 * 60 * 60 * 1000;
export { LOGIN_MAX_FAILURES, LOGIN_MAX_FAILURES_PER_IP, LOGIN_WINDOW_MS } from './throttle';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** The database key of a session: the SHA-256 of the cookie token, never the token itself. */
export const sessionId = (token: string) => sha256(token);

/** Verified against when the username is unknown, so a miss costs as long as a wrong password. */
let decoyHash: Promise<string> | null = null;

export function hashPassword(password: string): Promise<string> {
	return hash(password, { memoryCost: 19456, timeCost: 2, parallelism: 1 });
}

export function validatePassword(password: string): string | null {
	if (password.length < 12) return 'use at least 12 characters';
	return null;
}

export async function createUser(
	sql: SqlLike,
	u: { username: string; displayName?: string; role: Role; password: string },
	actor: { userId: number | null; username: string; role: string | null }
): Promise<User> {
	if (!/^[a-z0-9._-]{2,40}$/.test(u.username)) throw new Error('username: 2-40 characters of a-z, 0-9, dot, dash, underscore');
	if (!isRole(u.role)) throw new Error(`role must be manager, charge or admin`);
	const weak = validatePassword(u.password);
	if (weak) throw new Error(`password: ${weak}`);
	const passwordHash = await hashPassword(u.password);
	const [row] = await sql`INSERT INTO users (username, display_name, role, password_hash)
		VALUES (${u.username}, ${u.displayName ?? u.username}, ${u.role}, ${passwordHash})
		RETURNING id, username, display_name AS "displayName", role`;
	await appendAudit(sql, { ...actor, action: 'user.create', target: `user:${u.username}`, details: { role: u.role } });
	return row as unknown as User;
}

export function newPassword(): string {
	return randomBytes(12).toString('base64url');
}

/**
 * Check credentials with rate limiting (per account and per address, see
 * throttle.ts); on success open a fresh session and drop the one the browser
 * held before (rotation on login). Every outcome is audited.
 */
export async function login(
	sql: SqlLike,
	username: string,
	password: string,
	meta: { ip: string; previousToken?: string },
	now = new Date()
): Promise<{ user: User; token: string; expiresAt: Date }> {
	const target = `user:${username}`;
	const throttle = await loginThrottle(sql, username, meta.ip, now);
	if (throttle) {
		await appendAudit(sql, { userId: null, username, role: null, action: 'auth.login_throttled', target, details: { ip: meta.ip, ...throttle } }, now);
		throw new AuthError('rate_limited', throttleMessage(throttle), 429, throttle.retryAfterSeconds);
	}
	const [row] = await sql`SELECT id, username, display_name AS "displayName", role, password_hash, disabled
		FROM users WHERE username = ${username}`;
	decoyHash ??= hashPassword(randomBytes(16).toString('hex'));
	const matches = await verify(row ? (row.password_hash as string) : await decoyHash, password);
	if (!row || !matches || row.disabled) {
		await appendAudit(sql, { userId: null, username, role: null, action: 'auth.login_failed', target, details: { ip: meta.ip } }, now);
		throw new AuthError('bad_credentials', 'Wrong username or password.', 401);
	}
	if (meta.previousToken) await sql`DELETE FROM sessions WHERE id = ${sha256(meta.previousToken)}`;
	await sql`DELETE FROM sessions WHERE user_id = ${row.id} AND expires_at <= ${now.toISOString()}`;
	const token = randomBytes(32).toString('base64url');
	const expiresAt = new Date(now.getTime() + SESSION_IDLE_MS);
	await sql`INSERT INTO sessions (id, user_id, created_at, expires_at, last_seen_at)
		VALUES (${sha256(token)}, ${row.id}, ${now.toISOString()}, ${expiresAt.toISOString()}, ${now.toISOString()})`;
	const user: User = { id: row.id, username: row.username, displayName: row.displayName, role: row.role };
	await appendAudit(sql, { userId: user.id, username: user.username, role: user.role, action: 'auth.login', target, details: { ip: meta.ip } }, now);
	return { user, token, expiresAt };
}

/** Idle deadline after activity at `now`, never past the absolute lifetime. */
function nextExpiry(createdAt: Date, now: Date): Date {
	return new Date(Math.min(now.getTime() + SESSION_IDLE_MS, createdAt.getTime() + SESSION_ABSOLUTE_MS));
}

/**
 * The user behind a session token, or null if unknown, idle too long, past its
 * absolute lifetime, or the user is disabled. Activity slides the idle deadline
 * (`touch: false` checks without counting as activity).
 */
export async function userForSession(sql: SqlLike, token: string | undefined | null, now = new Date(), options: { touch?: boolean } = {}): Promise<User | null> {
	if (!token || token.length > 200) return null;
	const id = sha256(token);
	const oldest = new Date(now.getTime() - SESSION_ABSOLUTE_MS).toISOString();
	const [row] = await sql`SELECT u.id, u.username, u.display_name AS "displayName", u.role, s.created_at, s.last_seen_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.id = ${id} AND s.expires_at > ${now.toISOString()} AND s.created_at > ${oldest} AND NOT u.disabled`;
	if (!row) return null;
	// Touch at most once a minute: a busy dashboard should not write on every request.
	if (options.touch !== false && now.getTime() - (row.last_seen_at as Date).getTime() > 60_000) {
		await sql`UPDATE sessions SET last_seen_at = ${now.toISOString()},
			expires_at = ${nextExpiry(row.created_at as Date, now).toISOString()} WHERE id = ${id}`;
	}
	return { id: row.id, username: row.username, displayName: row.displayName, role: row.role };
}

/** Of the given session ids, those still valid at `now` (checked without touching them). */
export async function liveSessionIds(sql: SqlLike, ids: readonly string[], now = new Date()): Promise<Set<string>> {
	if (ids.length === 0) return new Set();
	const oldest = new Date(now.getTime() - SESSION_ABSOLUTE_MS).toISOString();
	const rows = await sql`SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.id = ANY(${ids as string[]}) AND s.expires_at > ${now.toISOString()} AND s.created_at > ${oldest} AND NOT u.disabled`;
	return new Set(rows.map((r) => r.id as string));
}

export async function logout(sql: SqlLike, token: string, user: User | null): Promise<void> {
	await sql`DELETE FROM sessions WHERE id = ${sha256(token)}`;
	if (user) await appendAudit(sql, { userId: user.id, username: user.username, role: user.role, action: 'auth.logout' });
}

/**
 * First start: create an `admin` with a random password, printed once, unless
 * an admin exists. RADFLOW_ADMIN_PASSWORD sets it instead (tests, automation).
 */
export async function ensureFirstAdmin(sql: import('../db/client').Sql, env = process.env): Promise<{ username: string; password: string } | null> {
	const [{ n }] = await sql`SELECT count(*)::int AS n FROM users WHERE role = 'admin'`;
	if (n > 0) return null;
	const password = env.RADFLOW_ADMIN_PASSWORD || newPassword();
	await sql.begin((tx) =>
		createUser(tx, { username: 'admin', displayName: 'Administrator', role: 'admin', password }, { userId: null, username: 'system', role: null })
	);
	return { username: 'admin', password };
}
