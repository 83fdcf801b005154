/**
 * A transaction whose BEGIN travels with its first statement.
 *
 * `sql.begin()` waits for BEGIN's reply before it runs the callback: one extra
 * round trip per transaction. On the ingest paths that acknowledge a sender
 * only after commit (one HL7 message, one DICOM object), every round trip is
 * latency the sender waits for, so here BEGIN is sent without waiting and the
 * statements that follow are pipelined behind it on the same connection.
 *
 * Safety: if any statement fails, PostgreSQL aborts the transaction and the
 * COMMIT comes back as ROLLBACK; that is checked, so a failed transaction can
 * never look committed. Any error from `fn` rolls back.
 *
 * The last writes can travel with COMMIT too: `fn` hands statements it has sent
 * but need not wait for to {@link PipelineContext.defer}, and COMMIT goes out
 * behind them (one round trip less per transaction).
 */
import type postgres from 'postgres';
import type { Sql, SqlLike } from './client';

/**
 * Longest wait for a reserved connection. postgres.js 3.4.9 can drop a
 * sql.reserve() that waited while the database came back (it never settles;
 * found by the fault suite: an HL7 listener that answered nothing after a
 * PostgreSQL crash). A normal reservation takes milliseconds, a busy pool a
 * few hundred.
 */
export const RESERVE_TIMEOUT_MS = 5_000;

/** No connection within {@link RESERVE_TIMEOUT_MS}: treated like a lost connection (the caller answers a failure, the sender retries). */
export class ReserveTimeoutError extends Error {
	readonly code = 'CONNECT_TIMEOUT';
	constructor(ms: number) {
		super(`no database connection within ${ms} ms; retry later`);
		this.name = 'ReserveTimeoutError';
	}
}

/** `sql.reserve()` that fails after `timeoutMs` instead of waiting forever; a connection that arrives late is handed back. */
export async function reserveConnection(sql: Sql, timeoutMs = RESERVE_TIMEOUT_MS): Promise<postgres.ReservedSql> {
	const pending = sql.reserve();
	let timer: NodeJS.Timeout | undefined;
	const timeout = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new ReserveTimeoutError(timeoutMs)), timeoutMs);
	});
	try {
		return await Promise.race([pending, timeout]);
	} catch (err) {
		if (err instanceof ReserveTimeoutError) pending.then((c) => c.release(), () => {});
		throw err;
	} finally {
		clearTimeout(timer);
	}
}

/** The callback threw after COMMIT turned into ROLLBACK (a statement failed). */
export class TransactionRolledBack extends Error {
	constructor() {
		super('the transaction was rolled back by the server (a statement in it failed); nothing was committed');
		this.name = 'TransactionRolledBack';
	}
}

/**
 * Longest a pipelined transaction may take before its caller gets an error. A
 * backend killed mid-transaction (a PostgreSQL crash) can leave postgres.js
 * 3.4.9 with a reserved connection whose queries never settle; without this
 * limit one such message blocked its patient's queue on the HL7 listener for
 * good (found by the fault suite). The caller answers a failure and the sender
 * resends; if the transaction did commit after all, the resend is a duplicate
 * and is applied once. A connection that settles late is released then.
 */
export const TRANSACTION_TIMEOUT_MS = 10_000;

export class TransactionTimeoutError extends Error {
	readonly code = 'CONNECT_TIMEOUT';
	constructor(ms: number) {
		super(`the database did not finish the transaction within ${ms} ms; its outcome is unknown, retry (a retry is applied once)`);
		this.name = 'TransactionTimeoutError';
	}
}

export interface PipelineContext {
	/**
	 * A statement already sent (a postgres.js query after `.execute()`, or a call
	 * that sends all its statements before it returns) whose reply the callback
	 * does not need: COMMIT is pipelined behind it, and if it fails the
	 * transaction rolls back and its error is the one thrown.
	 */
	defer(sent: PromiseLike<unknown>): void;
}

export async function pipelinedTransaction<T>(
	sql: Sql,
	fn: (tx: SqlLike, ctx: PipelineContext) => Promise<T>,
	timeoutMs = TRANSACTION_TIMEOUT_MS
): Promise<T> {
	const conn = await reserveConnection(sql);
	const work = runPipelined(conn, fn);
	let timer: NodeJS.Timeout | undefined;
	const expired = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new TransactionTimeoutError(timeoutMs)), timeoutMs);
	});
	try {
		return await Promise.race([work, expired]);
	} finally {
		clearTimeout(timer);
		// Released once the transaction settled, never while its statements may still run.
		work.then(
			() => conn.release(),
			() => conn.release()
		);
	}
}

async function runPipelined<T>(conn: postgres.ReservedSql, fn: (tx: SqlLike, ctx: PipelineContext) => Promise<T>): Promise<T> {
	const begin = conn`BEGIN`.execute();
	// Settled from the start (never an unhandled rejection); the first failure is reported.
	const deferred: Promise<unknown>[] = [];
	let deferredError: { err: unknown } | null = null;
	const ctx: PipelineContext = {
		defer: (sent) => {
			deferred.push(Promise.resolve(sent).catch((err: unknown) => (deferredError ??= { err })));
		}
	};
	let result: T;
	try {
		result = await fn(conn, ctx);
		await begin;
	} catch (err) {
		await Promise.all([begin.catch(() => {}), ...deferred]);
		await conn`ROLLBACK`.catch(() => {});
		// A deferred statement that failed first is the cause; later ones only saw an aborted transaction.
		throw (deferredError as { err: unknown } | null)?.err ?? err;
	}
	const commit = conn`COMMIT`.execute();
	await Promise.all(deferred);
	const done = await commit;
	if (deferredError) throw (deferredError as { err: unknown }).err;
	if (done.command !== 'COMMIT') throw new TransactionRolledBack();
	return result;
}
