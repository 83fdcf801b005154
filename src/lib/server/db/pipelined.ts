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
 */
import type { Sql, SqlLike } from './client';

/** The callback threw after COMMIT turned into ROLLBACK (a statement failed). */
export class TransactionRolledBack extends Error {
	constructor() {
		super('the transaction was rolled back by the server (a statement in it failed); nothing was committed');
		this.name = 'TransactionRolledBack';
	}
}

export async function pipelinedTransaction<T>(sql: Sql, fn: (tx: SqlLike) => Promise<T>): Promise<T> {
	const conn = await sql.reserve();
	try {
		const begin = conn`BEGIN`.execute();
		let result: T;
		try {
			result = await fn(conn);
			await begin;
		} catch (err) {
			await begin.catch(() => {});
			await conn`ROLLBACK`.catch(() => {});
			throw err;
		}
		const commit = await conn`COMMIT`;
		if (commit.command !== 'COMMIT') throw new TransactionRolledBack();
		return result;
	} finally {
		conn.release();
	}
}
