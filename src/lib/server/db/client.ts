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

function open(url: string, max: number, application: string): Sql {
	return postgres(url, {
		max,
		onnotice: () => {},
		connection: { application_name: application },
		// int8 ids and counts come back as JS numbers: they stay far below 2^53.
		types: { bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) } },
		transform: { undefined: null }
	});
}

export function connect(url: string, options: { max?: number; application?: string } = {}): Database {
	const app = options.application ?? 'radflow';
	const sql = open(url, options.max ?? 10, app);
	// drizzle switches its client's date parsers to raw strings, so it gets a
	// small pool of its own and the hand-written queries keep real Dates.
	let ormSql: Sql | null = null;
	let orm: Database['orm'] | null = null;
	return {
		sql,
		get orm() {
			ormSql ??= open(url, 4, `${app}-orm`);
			orm ??= drizzle(ormSql, { schema });
			return orm;
		},
		url,
		close: async () => {
			await Promise.all([sql.end({ timeout: 5 }), ormSql?.end({ timeout: 5 })]);
		}
	};
}
