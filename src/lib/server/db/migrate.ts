/**
 * Applies migrations/NNNN_verb_object.sql in order, each in its own
 * transaction, recording what ran in `schema_migrations`. Safe to run from
 * several processes at once (advisory lock) and on every start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../migrations');

/** The few operations the runner needs: postgres.js and PGlite both provide them. */
export interface MigrationTarget {
	/** Run one or more statements without parameters. */
	exec(text: string): Promise<void>;
	/** Run one query and return its rows. */
	rows<T = Record<string, unknown>>(text: string): Promise<T[]>;
}

export interface Migration {
	name: string;
	sql: string;
}

export class MigrationError extends Error {
	readonly code = 'migration_failed';
	constructor(
		readonly migration: string,
		options: { cause: unknown }
	) {
		super(`migration ${migration} failed: ${(options.cause as Error)?.message ?? options.cause}`, options);
		this.name = 'MigrationError';
	}
}

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
	const names = fs
		.readdirSync(dir)
		.filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
		.sort();
	const seen = new Set<string>();
	for (const n of names) {
		const num = n.slice(0, 4);
		if (seen.has(num)) throw new Error(`two migrations share number ${num}: renumber one of them`);
		seen.add(num);
	}
	return names.map((name) => ({ name, sql: fs.readFileSync(path.join(dir, name), 'utf8') }));
}

const LOCK_ID = 4_242_001;

/** Apply pending migrations; returns the names applied. */
export async function migrate(target: MigrationTarget, migrations = readMigrations()): Promise<string[]> {
	await target.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
		name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
	await target.exec(`SELECT pg_advisory_lock(${LOCK_ID})`);
	const applied: string[] = [];
	try {
		const done = new Set((await target.rows<{ name: string }>('SELECT name FROM schema_migrations')).map((r) => r.name));
		for (const m of migrations) {
			if (done.has(m.name)) continue;
			try {
				await target.exec(`BEGIN;\n${m.sql}\n;INSERT INTO schema_migrations (name) VALUES ('${m.name}');\nCOMMIT;`);
			} catch (cause) {
				await target.exec('ROLLBACK').catch(() => {});
				throw new MigrationError(m.name, { cause });
			}
			applied.push(m.name);
		}
	} finally {
		await target.exec(`SELECT pg_advisory_unlock(${LOCK_ID})`);
	}
	return applied;
}

/** Adapter for a postgres.js pool: reserves one connection so the lock and the work share it. */
export async function migrateWithPostgres(sql: import('postgres').Sql): Promise<string[]> {
	const conn = await sql.reserve();
	try {
		return await migrate({
			exec: async (text) => {
				await conn.unsafe(text);
			},
			rows: async <T>(text: string) => (await conn.unsafe(text)) as unknown as T[]
		});
	} finally {
		conn.release();
	}
}
