/**
 * Database client: one postgres.js pool per process, wrapped by drizzle.
 * Query functions take `(db, params)` so callers can pass a transaction.
 */
import postgres from 'postgres';
import { drizzle } from 'drizzle-orm/postgres-js';
import * as schema from './schema';

export type Sql = postgres.Sql;
/** A pool or a transaction: anything that runs tagged-template queries. */
export type SqlLike = postgres.Sql | postgres.TransactionSql;

export interface Database {
	sql: Sql;
	orm: ReturnType<typeof drizzle<typeof schema>>;
	url: string;
	close(): Promise<void>;
}

export function connect(url: string, options: { max?: number; application?: string } = {}): Database {
	const sql = postgres(url, {
		max: options.max ?? 10,
		onnotice: () => {},
		connection: { application_name: options.application ?? 'radflow' },
		// int8 ids and counts come back as JS numbers: they stay far below 2^53.
		types: { bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) } },
		transform: { undefined: null }
	});
	return {
		sql,
		orm: drizzle(sql, { schema }),
		url,
		close: () => sql.end({ timeout: 5 })
	};
}
