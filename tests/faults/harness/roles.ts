/**
 * Radflow roles as separate child processes (`radflow dicom|hl7|triage|web`),
 * each of which the fault tests can SIGKILL and start again. Output goes to a
 * log file per role (kept for debugging a failed run) and a short tail in memory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../helpers/server';

export type FaultRoleName = 'dicom' | 'hl7' | 'triage' | 'web' | 'route';

/** The line each role logs once it serves. */
const READY: Record<FaultRoleName, RegExp> = {
	dicom: /"channel":"radflow\.dicom","msg":"listening"/,
	hl7: /"event":"hl7\.listening"/,
	web: /dashboard listening/,
	triage: /"msg":"triage backend selected"/,
	route: /"msg":"routing started"/
};

export class RoleProcess {
	private proc: ChildProcess | null = null;
	private tail = '';
	/** SIGKILLs delivered to this role. */
	kills = 0;
	starts = 0;

	constructor(
		readonly role: FaultRoleName,
		private readonly env: Record<string, string>,
		private readonly logDir: string
	) {}

	get running(): boolean {
		return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
	}

	get pid(): number | undefined {
		return this.proc?.pid;
	}

	output(): string {
		return this.tail;
	}

	/** Start and wait for the ready line. */
	async start(timeoutMs = 120_000): Promise<void> {
		if (this.running) throw new Error(`${this.role} is already running`);
		this.starts++;
		const log = fs.createWriteStream(path.join(this.logDir, `${this.role}.log`), { flags: 'a' });
		log.write(`\n--- start #${this.starts} at ${new Date().toISOString()}\n`);
		const proc = spawn(process.execPath, [path.join(ROOT, 'bin/radflow.js'), this.role], {
			cwd: ROOT,
			// FAULTS_ROLE_NODE_OPTIONS: node flags for the roles only (e.g. a --require hook while debugging a crash).
			env: { ...process.env, LOG_LEVEL: 'info', RADFLOW_SKIP_BUILD: '1', ...this.env, ...(process.env.FAULTS_ROLE_NODE_OPTIONS ? { NODE_OPTIONS: process.env.FAULTS_ROLE_NODE_OPTIONS } : {}) },
			stdio: ['ignore', 'pipe', 'pipe']
		});
		this.proc = proc;
		let seen = '';
		const onData = (d: Buffer) => {
			const s = d.toString();
			log.write(s);
			this.tail = (this.tail + s).slice(-20_000);
			if (seen.length < 200_000) seen += s;
		};
		proc.stdout!.on('data', onData);
		proc.stderr!.on('data', onData);
		proc.once('exit', (code, signal) => {
			log.end(`--- exit code=${code} signal=${signal} at ${new Date().toISOString()}\n`);
		});
		await new Promise<void>((resolve, reject) => {
			const timer = setTimeout(() => done(new Error(`radflow ${this.role} not ready in ${timeoutMs} ms:\n${this.tail.slice(-3000)}`)), timeoutMs);
			const check = () => READY[this.role].test(seen) && done();
			const onExit = (code: number | null) => done(new Error(`radflow ${this.role} exited (${code}) while starting:\n${this.tail.slice(-3000)}`));
			const done = (err?: Error) => {
				clearTimeout(timer);
				proc.stdout!.off('data', check);
				proc.stderr!.off('data', check);
				proc.off('exit', onExit);
				if (err) reject(err);
				else resolve();
			};
			proc.stdout!.on('data', check);
			proc.stderr!.on('data', check);
			proc.once('exit', onExit);
		});
	}

	/** SIGKILL: no shutdown hook runs, sockets and transactions are cut mid-flight. */
	async kill9(): Promise<void> {
		const proc = this.proc;
		if (!proc || !this.running) return;
		const exited = new Promise((r) => proc.once('exit', r));
		proc.kill('SIGKILL');
		this.kills++;
		await exited;
	}

	/** Clean stop (SIGTERM), then SIGKILL after 10 s. */
	async stop(): Promise<void> {
		const proc = this.proc;
		if (!proc || !this.running) return;
		const exited = new Promise((r) => proc.once('exit', r));
		proc.kill('SIGTERM');
		const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
		await exited;
		clearTimeout(timer);
	}
}

/** Several roles sharing one database and data folder. */
export class RoleSet {
	readonly roles: Map<FaultRoleName, RoleProcess>;

	constructor(names: FaultRoleName[], env: Record<string, string>, logDir: string) {
		fs.mkdirSync(logDir, { recursive: true });
		this.roles = new Map(names.map((n) => [n, new RoleProcess(n, env, logDir)]));
	}

	get(name: FaultRoleName): RoleProcess {
		const r = this.roles.get(name);
		if (!r) throw new Error(`role ${name} is not part of this set`);
		return r;
	}

	/** Start one after another: the first runs the migrations, the others find them done. */
	async startAll(): Promise<void> {
		const [first, ...rest] = [...this.roles.values()];
		await first.start();
		await Promise.all(rest.map((r) => r.start()));
	}

	async stopAll(): Promise<void> {
		await Promise.all([...this.roles.values()].map((r) => r.stop()));
	}

	/** Roles that exited without being killed by the test (a crash the test did not cause). */
	unexpectedExits(): string[] {
		return [...this.roles.values()].filter((r) => !r.running).map((r) => `${r.role}:\n${r.output().slice(-2000)}`);
	}
}
