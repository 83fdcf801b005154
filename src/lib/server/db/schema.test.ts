/**
 * The SQL migrations are the source of truth; the drizzle schema mirrors them.
 * Every drizzle table and column must exist in a migrated database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getTableColumns, getTableName, is } from 'drizzle-orm';
import { PgTable } from 'drizzle-orm/pg-core';
import { createTestDatabase, type TestDatabase } from '../../../../tests/helpers/db';
import * as schema from './schema';

let t: TestDatabase;
beforeAll(async () => {
	t = await createTestDatabase('schema');
});
afterAll(async () => t?.drop());

describe('drizzle schema mirrors the migrations', () => {
	it('every table and column drizzle knows exists in the migrated database, nullability included', async () => {
		const rows = await t.db.sql`SELECT table_name, column_name, is_nullable FROM information_schema.columns WHERE table_schema = 'public'`;
		const actual = new Map(rows.map((r) => [`${r.table_name}.${r.column_name}`, r.is_nullable === 'YES']));
		const tables = (Object.values(schema) as unknown[]).filter((v): v is PgTable => is(v as PgTable, PgTable));
		expect(tables.length).toBeGreaterThan(20);
		const problems: string[] = [];
		for (const table of tables) {
			const name = getTableName(table);
			for (const col of Object.values(getTableColumns(table))) {
				const key = `${name}.${col.name}`;
				if (!actual.has(key)) problems.push(`${key} is missing in the database`);
				else if (col.notNull && actual.get(key)) problems.push(`${key} is NOT NULL in drizzle but nullable in SQL`);
			}
		}
		expect(problems).toEqual([]);
	});
});
