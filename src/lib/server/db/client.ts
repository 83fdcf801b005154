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

/**
 * Seconds before a connection that failed is tried again. postgres.js grows
 * this to 20 s; after a database restart the ingest edges then answered
 * failures for up to 20 s more (fault suite). Capped at 2 s: a reconnect
 * attempt is cheap, and senders are waiting.
 */
export function reconnectDelaySeconds(retries: number): number {
	return Math.min(0.1 * 2 ** retries, 2) * (0.75 + Math.random() / 4);
}

function open(url: string, max: number, application: string): Sql {
	return postgres(url, {
		max,
		backoff: reconnectDelaySeconds,
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
