/**
 * Shared setup for the ingest tests: a fresh database with the job queue, the
 * sink and handler wired as the roles wire them, and dcmtk / mllp_send runners.
 */
import { execFile } from 'node:child_process';
import { createTestDatabase, type TestDatabase } from '../../../../tests/helpers/db';
import { startJobQueue, type JobQueue } from '../jobs/queue';
import { createLogger } from '../log';
import { ExamNormalizer } from './studies';

export interface IngestTestEnv {
	tdb: TestDatabase;
	jobs: JobQueue;
	normalizer: ExamNormalizer;
	log: ReturnType<typeof createLogger>;
	close(): Promise<void>;
}

export async function ingestTestEnv(label: string): Promise<IngestTestEnv> {
	const tdb = await createTestDatabase(label);
	const log = createLogger(`test.${label}`, 'error');
	const jobs = await startJobQueue(tdb.url, log, { supervise: false });
	return {
		tdb,
		jobs,
		normalizer: new ExamNormalizer(tdb.db.sql),
		log,
		async close() {
			await jobs.stop().catch(() => {});
			await tdb.drop();
		}
	};
}

/** Runs a command-line peer (dcmtk, mllp_send) with TCP no-delay; never rejects. */
export function runTool(cmd: string, args: string[], timeout = 30_000): Promise<{ code: number; out: string }> {
	return new Promise((resolve) =>
		execFile(cmd, args, { env: { ...process.env, TCP_NODELAY: '1' }, timeout }, (e, stdout, stderr) =>
			resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` })
		)
	);
}
