/**
 * Each database test file gets its own database, migrated, dropped afterwards
 * (the pg-boss hooks pattern): tests never see each other's rows.
 */
import { inject } from 'vitest';
import postgres from 'postgres';
import { connect, type Database } from '../../src/lib/server/db/client';
import { migrateWithPostgres } from '../../src/lib/server/db/migrate';

export interface TestDatabase {
	db: Database;
	url: string;
	drop(): Promise<void>;
}

export function adminUrl(): string {
	return inject('adminDatabaseUrl');
}

export async function createTestDatabase(label = 't'): Promise<TestDatabase> {
	const admin = adminUrl();
	const name = `radflow_${label}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
	const root = postgres(admin, { max: 1, onnotice: () => {} });
	await root.unsafe(`CREATE DATABASE ${name}`);
	await root.end();
	const u = new URL(admin);
	u.pathname = `/${name}`;
	const url = u.toString();
	const db = connect(url, { max: 12 });
	await migrateWithPostgres(db.sql);
	return {
		db,
		url,
		async drop() {
			await db.close();
			const r = postgres(admin, { max: 1, onnotice: () => {} });
			await r.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
			await r.end();
		}
	};
}
