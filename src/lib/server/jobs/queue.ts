/**
 * The job queue: pg-boss on the same PostgreSQL, so a state change and the
 * job it causes commit together. Failed jobs retry with backoff and end in a
 * visible dead-letter queue.
 */
import PgBoss from 'pg-boss';
import type { SqlLike } from '../db/client';
import type { Logger } from '../log';

export const JobName = {
	triage: 'triage',
	route: 'route',
	completeness: 'completeness'
} as const;
export type JobName = (typeof JobName)[keyof typeof JobName];
export const JOB_NAMES = Object.values(JobName);

export const deadLetterOf = (name: JobName) => `${name}-dead`;

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
		application_name: 'radflow-jobs'
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
		send: (name, data, o = {}) =>
			boss.send(name, data as object, {
				...(o.tx ? { db: executorFor(o.tx) } : {}),
				...(o.startAfterSeconds ? { startAfter: o.startAfterSeconds } : {}),
				...(o.singletonKey ? { singletonKey: o.singletonKey } : {})
			}),
		stop: () => boss.stop({ graceful: true, timeout: 5000 })
	};
}
