/**
 * An embedded PostgreSQL the fault test controls (never the machine's shared
 * server): fixed port so Radflow's DATABASE_URL survives restarts, a low
 * max_connections so the test can take every slot.
 */
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { freePort, startEmbeddedDatabase, type EmbeddedDatabase } from '../../../src/lib/server/db/embedded';
import { createLogger } from '../../../src/lib/server/log';

export class ControlledPostgres {
	private db: EmbeddedDatabase | null = null;
	url = '';

	private constructor(
		private readonly dataDir: string,
		readonly port: number,
		private readonly maxConnections: number
	) {}

	static async create(dataDir: string, maxConnections: number): Promise<ControlledPostgres> {
		fs.mkdirSync(dataDir, { recursive: true });
		// The server runs as the postgres user when we are root: it must reach its folder.
		fs.chmodSync(dataDir, 0o755);
		const p = new ControlledPostgres(dataDir, await freePort(), maxConnections);
		await p.start();
		return p;
	}

	async start(): Promise<void> {
		this.db = await startEmbeddedDatabase(this.dataDir, createLogger('faults-pg', 'warn'), { port: this.port, maxConnections: this.maxConnections });
		this.url = this.db.url;
	}

	/** Fast shutdown (SIGINT): sessions are cut, committed data is safe. */
	async stop(): Promise<void> {
		await this.db?.stop();
		this.db = null;
	}

	/** Immediate shutdown (SIGQUIT): no checkpoint, crash recovery on the next start. */
	async crash(): Promise<void> {
		const db = this.db;
		if (!db?.pid) throw new Error('the embedded server runs without a known pid: cannot crash it');
		process.kill(db.pid, 'SIGQUIT');
		await db.stop();
		this.db = null;
	}

	get dir(): string {
		return path.join(this.dataDir, 'pg');
	}
}

/**
 * Take every connection slot the server has left (superuser slots included):
 * returns the held clients. Connections of `terminateApp` are cut first, so
 * that application must reconnect into a full server.
 */
export async function exhaustConnections(url: string, terminateApp: RegExp, rounds = 20): Promise<{ held: pg.Client[]; appConnectionsLeft: number }> {
	const held: pg.Client[] = [];
	/** Connects until the server refuses; returns how many it got. */
	const grab = async () => {
		let got = 0;
		for (;;) {
			const c = new pg.Client({ connectionString: url, application_name: 'faults-hog' });
			c.on('error', () => {});
			try {
				await c.connect();
				held.push(c);
				got++;
			} catch {
				return got;
			}
		}
	};
	await grab();
	if (!held[0]) throw new Error('could not take a single connection');
	const victimsNow = async () => {
		const { rows } = await held[0].query<{ app: string; pid: number }>(
			`SELECT application_name AS app, pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' AND application_name <> 'faults-hog'`
		);
		return rows.filter((r) => terminateApp.test(r.app));
	};
	// The application reconnects as soon as its backends are gone: cut, take the freed
	// slots, until it holds none and no slot is left (a slot freed by the last cut is taken too).
	for (let i = 0; i < rounds; i++) {
		const victims = await victimsNow();
		if (victims.length > 0) await held[0].query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [victims.map((v) => v.pid)]);
		await new Promise((r) => setTimeout(r, 50));
		const got = await grab();
		if (victims.length === 0 && got === 0) break;
	}
	return { held, appConnectionsLeft: (await victimsNow()).length };
}

export async function releaseConnections(held: pg.Client[]): Promise<void> {
	await Promise.all(held.splice(0).map((c) => c.end().catch(() => {})));
}

/** Client backends of an application right now. */
export async function connectionsOf(url: string, app: RegExp): Promise<number> {
	const c = new pg.Client({ connectionString: url });
	await c.connect();
	try {
		const { rows } = await c.query<{ app: string }>(`SELECT application_name AS app FROM pg_stat_activity WHERE backend_type = 'client backend'`);
		return rows.filter((r) => app.test(r.app)).length;
	} finally {
		await c.end();
	}
}
