/**
 * Job-queue timing for the fault tests. A job whose worker is SIGKILLed stays
 * 'active' until it expires (the queue's expire_seconds, 120 s in Radflow)
 * and pg-boss's maintenance (every 120 s) notices: up to four minutes before
 * it runs again. The tests shorten both (the recovery path is the same, only
 * sooner): a shorter expiry on the queues, and a supervisor that runs the
 * maintenance every two seconds.
 */
import PgBoss from 'pg-boss';
import type { Sql } from '../../../src/lib/server/db/client';

export async function shortenJobExpiry(sql: Sql, seconds: number): Promise<void> {
	await sql`UPDATE pgboss.queue SET expire_seconds = ${seconds} WHERE name IN ('triage', 'completeness', 'route')`;
}

export async function startFastSupervisor(url: string): Promise<{ stop(): Promise<void> }> {
	const boss = new PgBoss({ connectionString: url, schema: 'pgboss', max: 2, supervise: true, schedule: false, migrate: false, maintenanceIntervalSeconds: 2, application_name: 'faults-supervisor' });
	boss.on('error', () => {});
	await boss.start();
	return { stop: () => boss.stop({ graceful: false, timeout: 2000 }) };
}

/** Jobs that ended failed or in a dead-letter queue (each is a study that did not move on). */
export async function failedJobs(sql: Sql): Promise<{ name: string; state: string; n: number }[]> {
	return sql<{ name: string; state: string; n: number }[]>`
		SELECT name, state, count(*)::int AS n FROM pgboss.job
		WHERE state = 'failed' OR name LIKE '%-dead' GROUP BY name, state ORDER BY name, state`;
}
