/**
 * Login throttling, per account and per client address. The counts come from
 * the audit log's `auth.login_failed` rows, so every web instance sharing the
 * database sees the same numbers and a restart forgets nothing.
 */
import type postgres from 'postgres';
import type { SqlLike } from '../db/client';

/** Failed sign-ins per username within the window before further attempts are refused. */
export const LOGIN_MAX_FAILURES = 5;
/** Failed sign-ins from one client address (any usernames) within the window. */
export const LOGIN_MAX_FAILURES_PER_IP = 20;
export const LOGIN_WINDOW_MS = 15 * 60 * 1000;

export const ThrottleScope = { account: 'account', address: 'address' } as const;
export type ThrottleScope = (typeof ThrottleScope)[keyof typeof ThrottleScope];

export interface LoginThrottle {
	scope: ThrottleScope;
	/** Seconds until one more attempt is allowed (at least 1). */
	retryAfterSeconds: number;
}

/**
 * The block lifts when the oldest failure that keeps the count at the limit
 * leaves the window: that is the `limit`-th most recent failure.
 */
async function blockedUntil(sql: SqlLike, limit: number, since: string, filter: postgres.Fragment): Promise<Date | null> {
	const [row] = await sql`SELECT at FROM audit_log
		WHERE action = 'auth.login_failed' AND at > ${since} AND ${filter}
		ORDER BY at DESC OFFSET ${limit - 1} LIMIT 1`;
	return row ? (row.at as Date) : null;
}

/** Whether a sign-in for `username` from `ip` must be refused now, and for how long. */
export async function loginThrottle(sql: SqlLike, username: string, ip: string, now = new Date()): Promise<LoginThrottle | null> {
	const since = new Date(now.getTime() - LOGIN_WINDOW_MS).toISOString();
	const checks: [ThrottleScope, Promise<Date | null>][] = [
		[ThrottleScope.account, blockedUntil(sql, LOGIN_MAX_FAILURES, since, sql`target = ${`user:${username}`}`)],
		[ThrottleScope.address, blockedUntil(sql, LOGIN_MAX_FAILURES_PER_IP, since, sql`details->>'ip' = ${ip}`)]
	];
	let worst: LoginThrottle | null = null;
	for (const [scope, pending] of checks) {
		const oldest = await pending;
		if (!oldest) continue;
		const retryAfterSeconds = Math.max(1, Math.ceil((oldest.getTime() + LOGIN_WINDOW_MS - now.getTime()) / 1000));
		if (!worst || retryAfterSeconds > worst.retryAfterSeconds) worst = { scope, retryAfterSeconds };
	}
	return worst;
}

export function throttleMessage(t: LoginThrottle): string {
	const who = t.scope === ThrottleScope.account ? 'this account' : 'your address';
	return `Too many failed sign-ins for ${who}: try again in ${t.retryAfterSeconds} s, or ask an admin to check the audit log.`;
}
