/**
 * Boot and shutdown shared by every CLI command: configuration, database
 * (embedded or DATABASE_URL), migrations, job queue, first admin, roles.
 */
import { ConfigError, loadConfig, type RadflowConfig } from '../src/lib/server/config';
import { isDatabaseConnectionError } from '../src/lib/server/db/errors';
import { connect, type Database } from '../src/lib/server/db/client';
import { startEmbeddedDatabase, type EmbeddedDatabase } from '../src/lib/server/db/embedded';
import { migrateWithPostgres } from '../src/lib/server/db/migrate';
import { startJobQueue, type JobQueue } from '../src/lib/server/jobs/queue';
import { ensureFirstAdmin } from '../src/lib/server/auth/users';
import { setContext, type AppContext } from '../src/lib/server/context';
import { createLogger, type Logger } from '../src/lib/server/log';

export interface RoleHandle {
	name: string;
	stop(): Promise<void>;
}

export interface Runtime {
	ctx: AppContext;
	/** Stop roles (newest first), the queue, the pool and the embedded server. */
	shutdown(): Promise<void>;
	addRole(handle: RoleHandle): void;
}

async function checkConnection(db: Database, url: string): Promise<void> {
	try {
		await db.sql`SELECT 1`;
	} catch (cause) {
		const u = new URL(url);
		const why = (cause as Error).message;
		throw new ConfigError(
			`Cannot connect to DATABASE_URL (${u.hostname}:${u.port || 5432}/${u.pathname.slice(1)}): ${why}. Check that PostgreSQL runs and the URL, user and password are right, or unset DATABASE_URL to use the embedded database.`,
			{ cause }
		);
	}
}

export async function boot(options: { jobs?: boolean; announceAdmin?: boolean; config?: RadflowConfig } = {}): Promise<Runtime> {
	const config = options.config ?? loadConfig();
	const log = createLogger('radflow', config.logLevel);
	if (process.listenerCount('unhandledRejection') === 0) survivePromiseRejectionsFromLostConnections(log);
	let embedded: EmbeddedDatabase | null = null;
	let url = config.databaseUrl;
	if (!url) {
		embedded = await startEmbeddedDatabase(config.dataDir, log.child('db'));
		url = embedded.url;
	}
	const db = connect(url, { max: 20 });
	const roles: RoleHandle[] = [];
	let jobs: JobQueue | null = null;
	const shutdown = async () => {
		for (const r of roles.splice(0).reverse()) {
			await r.stop().catch((err) => log.error('role did not stop cleanly', { role: r.name, err }));
		}
		await jobs?.stop().catch((err) => log.warn('job queue stop', { err }));
		await db.close().catch(() => {});
		await embedded?.stop().catch((err) => log.warn('embedded database stop', { err }));
		setContext(undefined);
	};
	try {
		await checkConnection(db, url);
		const applied = await migrateWithPostgres(db.sql);
		if (applied.length) log.info('migrations applied', { applied });
		if (options.jobs !== false) jobs = await startJobQueue(url, log.child('jobs'));
		const admin = await ensureFirstAdmin(db.sql);
		if (admin && options.announceAdmin !== false) {
			process.stdout.write(
				`\n  First start: an administrator was created.\n    username: ${admin.username}\n    password: ${admin.password}\n  Sign in at http://localhost:${config.port}/login and create personal accounts under Admin → Users.\n\n`
			);
		}
	} catch (err) {
		await shutdown();
		throw err;
	}
	const ctx: AppContext = { config, db, jobs, log, status: {} };
	setContext(ctx);
	return { ctx, shutdown, addRole: (h) => roles.push(h) };
}

/**
 * pg-boss 10 completes or fails a job without awaiting it (timgit/pg-boss#577):
 * when the database goes away right then, the rejection is unhandled and Node
 * would exit, taking every role of the process down with it. Such a job stays
 * active, expires and runs again (every job handler is idempotent), so a lost
 * database connection is logged and the process carries on. Any other
 * unhandled rejection is a bug: logged, then the process exits as Node would.
 */
export function survivePromiseRejectionsFromLostConnections(log: Logger): void {
	process.on('unhandledRejection', (reason) => {
		if (isDatabaseConnectionError(reason)) {
			log.warn('database connection lost under a background call; the work is retried', { err: reason });
			return;
		}
		log.error('unhandled promise rejection: exiting', { err: reason });
		process.exit(1);
	});
}

/** Run until SIGINT/SIGTERM, then shut down cleanly. A second signal forces exit. */
export function runUntilSignal(rt: Runtime, log: Logger): Promise<void> {
	return new Promise((resolve) => {
		let stopping = false;
		const stop = (signal: string) => {
			if (stopping) {
				log.warn('second signal: exiting now', { signal });
				process.exit(130);
			}
			stopping = true;
			log.info('stopping', { signal });
			rt.shutdown().finally(() => resolve());
		};
		process.once('SIGINT', () => stop('SIGINT'));
		process.once('SIGTERM', () => stop('SIGTERM'));
	});
}

export { createLogger };
