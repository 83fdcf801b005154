/**
 * Vitest global setup: find a PostgreSQL for the database tests.
 * With DATABASE_URL (CI: the machine's PostgreSQL 15) tests create throw-away
 * databases on that server; without it an embedded server starts here, once.
 */
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import type { TestProject } from 'vitest/node';
import { startEmbeddedDatabase } from '../../src/lib/server/db/embedded';
import { createLogger } from '../../src/lib/server/log';
import { ensureBuild } from '../../workers/web/server';

declare module 'vitest' {
	export interface ProvidedContext {
		adminDatabaseUrl: string;
	}
}

export default async function setup(project: TestProject) {
	let url = process.env.DATABASE_URL;
	let stop: (() => Promise<void>) | undefined;
	if (!url) {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radflow-test-'));
		fs.chmodSync(dir, 0o755);
		const db = await startEmbeddedDatabase(dir, createLogger('test-db', 'warn'));
		url = db.url;
		stop = async () => {
			await db.stop();
			fs.rmSync(dir, { recursive: true, force: true });
		};
	}
	project.provide('adminDatabaseUrl', url);
	// Build the dashboard once, before test files start servers in parallel.
	ensureBuild(createLogger('test-build', 'info'));
	return async () => {
		await stop?.();
	};
}
