/**
 * The process-wide context: configuration, database, job queue, logger.
 * Kept on globalThis because the SvelteKit server bundle and the workers are
 * separate module graphs in one process; both must share one pool.
 */
import type { RadflowConfig } from './config';
import type { Database } from './db/client';
import type { JobQueue } from './jobs/queue';
import type { Logger } from './log';

export interface AppContext {
	config: RadflowConfig;
	db: Database;
	jobs: JobQueue | null;
	log: Logger;
	/** What the triage role reports about its backend, for the dashboard. */
	status: Record<string, unknown>;
}

const KEY = Symbol.for('radflow.context');
type Holder = { [KEY]?: AppContext };

export function setContext(ctx: AppContext | undefined): void {
	(globalThis as Holder)[KEY] = ctx;
}

export function getContext(): AppContext {
	const ctx = (globalThis as Holder)[KEY];
	if (!ctx) throw new Error('Radflow context not initialised: start the dashboard with `radflow web` or `radflow start`.');
	return ctx;
}

export function hasContext(): boolean {
	return (globalThis as Holder)[KEY] !== undefined;
}
