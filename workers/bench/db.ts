/**
 * The "bench database" every benchmark shares: a throw-away database on
 * DATABASE_URL's server, or on an embedded PostgreSQL started for the run,
 * migrated, and dropped (with the embedded server) on close.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { loadConfig } from '../../src/lib/server/config';
import { connect, type Database } from '../../src/lib/server/db/client';
import { startEmbeddedDatabase } from '../../src/lib/server/db/embedded';
import { migrateWithPostgres } from '../../src/lib/server/db/migrate';
import type { Logger } from '../../src/lib/server/log';

export interface BenchDatabase {
	db: Database;
	/** URL of the bench database (for psql, pg-boss). */
	url: string;
	close(): Promise<void>;
}

export async function openBenchDatabase(log: Logger, options: { max?: number } = {}): Promise<BenchDatabase> {
	const config = loadConfig();
	let adminUrl = config.databaseUrl;
	let stopEmbedded: (() => Promise<void>) | null = null;
	if (!adminUrl) {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radflow-bench-'));
		fs.chmodSync(dir, 0o755);
		const e = await startEmbeddedDatabase(dir, log);
		adminUrl = e.url;
		stopEmbedded = async () => {
			await e.stop();
			fs.rmSync(dir, { recursive: true, force: true });
		};
	}
	const dbName = `radflow_bench_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
	const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
	await admin.unsafe(`CREATE DATABASE ${dbName}`);
	const u = new URL(adminUrl);
	u.pathname = `/${dbName}`;
	const db = connect(u.toString(), { max: options.max ?? 8 });
	const close = async () => {
		await db.close().catch(() => {});
		await admin.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
		await admin.end();
		await stopEmbedded?.();
	};
	try {
		await migrateWithPostgres(db.sql);
	} catch (err) {
		await close();
		throw err;
	}
	return { db, url: u.toString(), close };
}
