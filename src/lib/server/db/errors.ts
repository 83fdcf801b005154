/**
 * What a database failure means for work that must not be dropped: a lost
 * connection or an overloaded server passes (try again later); a statement the
 * server refuses for its content (a constraint, a value out of range) fails the
 * same way every time.
 */

/** Error codes of a lost or refused database connection (node, postgres.js, pg, PostgreSQL SQLSTATE class 08 / 57P / 53300). */
const CONNECTION_ERROR_CODES = new Set([
	'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT',
	'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
	'08000', '08001', '08003', '08004', '08006', '57P01', '57P02', '57P03', '53300'
]);

export function isDatabaseConnectionError(err: unknown): boolean {
	const e = err as { code?: unknown; message?: unknown } | null;
	if (!e || typeof e !== 'object') return false;
	return CONNECTION_ERROR_CODES.has(String(e.code)) || /^Connection terminated/.test(String(e.message));
}

/**
 * True when trying again later can succeed: a lost connection, or SQLSTATE
 * class 40 (serialization failure, deadlock), 53 (disk full, out of memory, too
 * many connections), 57 (operator intervention: shutdown, restart) or 58
 * (I/O error). False for what the server refuses for the statement itself
 * (class 22 data, 23 constraint, 42 syntax...) and for errors that are not the
 * database's.
 */
export function isTransientDatabaseError(err: unknown): boolean {
	if (isDatabaseConnectionError(err)) return true;
	const code = (err as { code?: unknown } | null)?.code;
	return typeof code === 'string' && /^(40|53|57|58)[0-9A-Z]{3}$/.test(code);
}
