/**
 * The job queue: pg-boss on the same PostgreSQL, so a state change and the
 * job it causes commit together. Failed jobs retry with backoff and end in a
 * visible dead-letter queue.
 */
import PgBoss from 'pg-boss';
import type { Sql, SqlLike } from '../db/client';
import type { Logger } from '../log';

export const JobName = {
	triage: 'triage',
	route: 'route',
	completeness: 'completeness'
} as const;
export type JobName = (typeof JobName)[keyof typeof JobName];
export const JOB_NAMES = Object.values(JobName);

export const deadLetterOf = (name: JobName) => `${name}-dead`;

/**
 * NOTIFY channel on which `send` announces a job that is due now (payload:
 * the queue name), at commit when sent inside a transaction. Workers that
 * LISTEN fetch at once instead of at their next poll (see wakeWorkersOnSend).
 */
export const JOBS_CHANNEL = 'radflow_jobs';

export interface JobData {
	triage: { studyId: number; lastImageAt?: string };
	route: { studyId: number };
	completeness: { studyId: number; lastImageAt: string };
}

export interface SendOptions {
	/** Enqueue inside this transaction: the job exists only if the transaction commits. */
	tx?: SqlLike;
	startAfterSeconds?: number;
	singletonKey?: string;
}

export interface JobQueue {
	boss: PgBoss;
	send<N extends JobName>(name: N, data: JobData[N], options?: SendOptions): Promise<string | null>;
	stop(): Promise<void>;
}

/** pg-boss talks to the database through `executeSql`; this lets it run inside our transaction. */
function executorFor(tx: SqlLike) {
	return {
		executeSql: async (text: string, values: unknown[]) => ({
			rows: (await tx.unsafe(text, values as never[])) as unknown as unknown[]
		})
	};
}

export async function startJobQueue(url: string, log: Logger, options: { supervise?: boolean } = {}): Promise<JobQueue> {
	const boss = new PgBoss({
		connectionString: url,
		schema: 'pgboss',
		max: 4,
		supervise: options.supervise ?? true,
		application_name: 'radflow-jobs',
		// A job whose worker died (kill -9) expires and is retried at the next maintenance run.
		maintenanceIntervalSeconds: 30
	});
	boss.on('error', (err) => log.error('job queue error', { err }));
	await boss.start();
	for (const name of JOB_NAMES) {
		const dead = deadLetterOf(name);
		if (!(await boss.getQueue(dead))) await boss.createQueue(dead, { name: dead, retentionDays: 30 });
		if (!(await boss.getQueue(name))) {
			await boss.createQueue(name, {
				name,
				retryLimit: 5,
				retryDelay: 2,
				retryBackoff: true,
				expireInSeconds: 120,
				deadLetter: dead
			});
		}
	}
	return {
		boss,
		send: async (name, data, o = {}) => {
			const sent = boss.send(name, data as object, {
				...(o.tx ? { db: executorFor(o.tx) } : {}),
				...(o.startAfterSeconds ? { startAfter: o.startAfterSeconds } : {}),
				...(o.singletonKey ? { singletonKey: o.singletonKey } : {})
			});
			if (o.startAfterSeconds) return sent;
			// Due now: wake listening workers (delivered at commit; pipelined with the insert inside a transaction).
			const notify = o.tx
				? o.tx`SELECT pg_notify(${JOBS_CHANNEL}, ${name})`
				: sent.then(() => boss.getDb().executeSql('SELECT pg_notify($1, $2)', [JOBS_CHANNEL, name]));
			const [id] = await Promise.all([sent, notify]);
			return id;
		},
		stop: () => boss.stop({ graceful: true, timeout: 5000 })
	};
}

/**
 * Fetch at once when a job for `name` is sent (JOBS_CHANNEL), from any
 * process on the database, instead of waiting for the next poll; polling
 * stays as the fallback. Returns the function that stops listening.
 */
export async function wakeWorkersOnSend(sql: Sql, jobs: JobQueue, name: JobName, workerIds: readonly string[]): Promise<() => Promise<void>> {
	const listener = await sql.listen(JOBS_CHANNEL, (payload) => {
		if (payload === name) for (const id of workerIds) jobs.boss.notifyWorker(id);
	});
	return () => listener.unlisten().catch(() => {});
}
