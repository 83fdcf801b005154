/**
 * Start a real `radflow` process (the CLI, as an operator would) against a
 * test database, and a real Chromium driven by playwright-core.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '../../src/lib/server/db/embedded';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface RunningRadflow {
	port: number;
	baseUrl: string;
	proc: ChildProcess;
	output: () => string;
	stop(): Promise<void>;
}

/** Spawn `radflow <command>` and wait until `ready` appears in its output. */
export async function startRadflow(
	command: string[],
	env: Record<string, string>,
	ready = /dashboard listening/,
	timeoutMs = 240_000
): Promise<RunningRadflow> {
	const port = env.PORT ? Number(env.PORT) : await freePort();
	let out = '';
	const proc = spawn(process.execPath, [path.join(ROOT, 'bin/radflow.js'), ...command], {
		cwd: ROOT,
		// The global setup built the dashboard once; servers must not rebuild it concurrently.
		env: { ...process.env, LOG_LEVEL: 'info', RADFLOW_SKIP_BUILD: '1', ...env, PORT: String(port) },
		stdio: ['ignore', 'pipe', 'pipe']
	});
	proc.stdout!.on('data', (d) => (out += d));
	proc.stderr!.on('data', (d) => (out += d));
	await new Promise<void>((resolve, reject) => {
		const timer = setTimeout(() => reject(new Error(`radflow ${command.join(' ')} not ready in ${timeoutMs} ms:\n${out.slice(-3000)}`)), timeoutMs);
		const check = () => {
			if (ready.test(out)) {
				clearTimeout(timer);
				resolve();
			}
		};
		proc.stdout!.on('data', check);
		proc.stderr!.on('data', check);
		proc.once('exit', (code) => {
			clearTimeout(timer);
			reject(new Error(`radflow ${command.join(' ')} exited with ${code}:\n${out.slice(-3000)}`));
		});
	});
	return {
		port,
		baseUrl: `http://127.0.0.1:${port}`,
		proc,
		output: () => out,
		async stop() {
			if (proc.exitCode !== null) return;
			const exited = new Promise((r) => proc.once('exit', r));
			proc.kill('SIGTERM');
			await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
			if (proc.exitCode === null) proc.kill('SIGKILL');
		}
	};
}

export function chromiumAvailable(): boolean {
	return fs.existsSync(CHROMIUM);
}

export async function launchBrowser() {
	const { chromium } = await import('playwright-core');
	return chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
	});
}

/**
 * Sign in through the login form. Waits for `waitFor` (default: the signed-in
 * shell's role badge); pass null to return right after submitting.
 */
export async function signIn(
	page: import('playwright-core').Page,
	baseUrl: string,
	username: string,
	password: string,
	options: { next?: string; waitFor?: string | null } = {}
): Promise<void> {
	await page.goto(`${baseUrl}/login${options.next ? `?next=${options.next}` : ''}`);
	await page.fill('input[name=username]', username);
	await page.fill('input[name=password]', password);
	await page.click('button[type=submit]');
	const waitFor = options.waitFor === undefined ? '[data-testid=role]' : options.waitFor;
	if (waitFor) await page.waitForSelector(waitFor);
}
