import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../../tests/helpers/db';
import { pipelinedTransaction, TransactionRolledBack, TransactionTimeoutError } from './pipelined';

describe('pipelinedTransaction', () => {
	let t: TestDatabase;
	beforeAll(async () => {
		t = await createTestDatabase('pipelined');
		await t.db.sql`CREATE TABLE pt (id int PRIMARY KEY, v text)`;
	});
	afterAll(() => t?.drop());

	const rows = async () => (await t.db.sql<{ id: number }[]>`SELECT id FROM pt ORDER BY id`).map((r) => r.id);

	it('commits every statement, pipelined ones included, and returns the callback result', async () => {
		const out = await pipelinedTransaction(t.db.sql, async (tx) => {
			const a = tx`INSERT INTO pt VALUES (1, 'a')`.execute();
			await tx`INSERT INTO pt VALUES (2, 'b')`;
			await a;
			return 'done';
		});
		expect(out).toBe('done');
		expect(await rows()).toEqual([1, 2]);
	});

	it('a statement that failed inside never looks committed, even when the callback swallowed its error', async () => {
		const attempt = pipelinedTransaction(t.db.sql, async (tx) => {
			await tx`INSERT INTO pt VALUES (3, 'c')`;
			await tx`INSERT INTO pt VALUES (1, 'duplicate key')`.catch(() => 'ignored');
			return 'looks fine';
		});
		await expect(attempt).rejects.toBeInstanceOf(TransactionRolledBack);
		expect(await rows()).toEqual([1, 2]);
	});

	it('deferred statements commit with the transaction, COMMIT pipelined behind them', async () => {
		const out = await pipelinedTransaction(t.db.sql, async (tx, ctx) => {
			await tx`INSERT INTO pt VALUES (5, 'e')`;
			ctx.defer(tx`INSERT INTO pt VALUES (6, 'f')`.execute());
			ctx.defer(tx`UPDATE pt SET v = 'f2' WHERE id = 6`.execute());
			return 'sent';
		});
		expect(out).toBe('sent');
		expect(await rows()).toEqual([1, 2, 5, 6]);
		const [r] = await t.db.sql<{ v: string }[]>`SELECT v FROM pt WHERE id = 6`;
		expect(r.v).toBe('f2');
		await t.db.sql`DELETE FROM pt WHERE id IN (5, 6)`;
	});

	it('a deferred statement that fails rolls back the whole transaction and its own error is thrown', async () => {
		const attempt = pipelinedTransaction(t.db.sql, async (tx, ctx) => {
			await tx`INSERT INTO pt VALUES (7, 'g')`;
			ctx.defer(tx`INSERT INTO pt VALUES (1, 'duplicate key')`.execute());
			ctx.defer(tx`INSERT INTO pt VALUES (8, 'h')`.execute());
		});
		await expect(attempt).rejects.toThrow(/duplicate key/);
		expect(await rows()).toEqual([1, 2]);
	});

	it('a deferred failure is reported even when the callback throws afterwards for another reason', async () => {
		const attempt = pipelinedTransaction(t.db.sql, async (tx, ctx) => {
			ctx.defer(tx`INSERT INTO pt VALUES (2, 'duplicate key')`.execute());
			await tx`INSERT INTO pt VALUES (9, 'i')`;
		});
		await expect(attempt).rejects.toThrow(/duplicate key/);
		expect(await rows()).toEqual([1, 2]);
	});

	it('an error thrown by the callback rolls everything back and the connection stays usable', async () => {
		await expect(
			pipelinedTransaction(t.db.sql, async (tx) => {
				await tx`INSERT INTO pt VALUES (4, 'd')`;
				throw new Error('application refused');
			})
		).rejects.toThrow('application refused');
		expect(await rows()).toEqual([1, 2]);
		// Every pooled connection still works (none was left inside an open transaction).
		await Promise.all(Array.from({ length: 12 }, (_, i) => pipelinedTransaction(t.db.sql, (tx) => tx`INSERT INTO pt VALUES (${10 + i}, 'x')`)));
		expect((await rows()).length).toBe(14);
		const [{ open }] = await t.db.sql<{ open: number }[]>`
			SELECT count(*)::int AS open FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'`;
		expect(open).toBe(0);
	});
});

describe('pipelinedTransaction watchdog', () => {
	it('gives up on a transaction that does not finish in time, with an error saying the outcome is unknown, and the pool keeps working', async () => {
		const t2 = await createTestDatabase('pipelined_timeout');
		try {
			await t2.db.sql`CREATE TABLE w (id int PRIMARY KEY)`;
			const blocker = await t2.db.sql.reserve();
			await blocker`BEGIN`;
			await blocker`LOCK TABLE w IN ACCESS EXCLUSIVE MODE`;
			const stuck = pipelinedTransaction(t2.db.sql, (tx) => tx`INSERT INTO w VALUES (1)`, 300);
			await expect(stuck).rejects.toBeInstanceOf(TransactionTimeoutError);
			await blocker`ROLLBACK`;
			blocker.release();
			// The abandoned insert runs once the lock is gone: a retry finds it and is applied once.
			await pipelinedTransaction(t2.db.sql, (tx) => tx`INSERT INTO w VALUES (2)`);
			let ids: number[] = [];
			for (let i = 0; i < 50 && ids.length < 2; i++) {
				ids = (await t2.db.sql<{ id: number }[]>`SELECT id FROM w ORDER BY id`).map((r) => r.id);
				if (ids.length < 2) await new Promise((r) => setTimeout(r, 100));
			}
			expect(ids).toEqual([1, 2]);
		} finally {
			await t2.drop();
		}
	});
});
