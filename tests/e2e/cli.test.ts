/**
 * Invalid configuration fails fast with one line that says what to fix,
 * through the real CLI.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/server';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

function radflow(args: string[], env: Record<string, string>) {
	const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/radflow.js'), ...args], {
		cwd: ROOT,
		env: { ...process.env, DATABASE_URL: '', LOG_LEVEL: 'error', RADFLOW_SKIP_BUILD: '1', ...env },
		encoding: 'utf8',
		timeout: 60_000
	});
	return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

let t: TestDatabase;
beforeAll(async () => {
	t = await createTestDatabase('cli');
});
afterAll(async () => t?.drop());

describe('radflow CLI configuration errors', () => {
	it('a malformed DATABASE_URL', () => {
		const r = radflow(['migrate'], { DATABASE_URL: 'not a url' });
		expect(r.code).toBe(2);
		expect(r.stderr.trim().split('\n')).toHaveLength(1);
		expect(r.stderr).toMatch(/DATABASE_URL is not a valid URL/);
	});

	it('a DATABASE_URL nobody listens on', () => {
		const r = radflow(['migrate'], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
		expect(r.code).toBe(2);
		expect(r.stderr).toMatch(/Cannot connect to DATABASE_URL \(127\.0\.0\.1:1\/none\).*Check that PostgreSQL runs/);
	});

	it('an unwritable data folder (embedded database)', () => {
		const file = path.join(os.tmpdir(), `radflow-not-a-dir-${process.pid}`);
		fs.writeFileSync(file, 'x');
		const r = radflow(['migrate'], { RADFLOW_DATA_DIR: path.join(file, 'data') });
		fs.rmSync(file);
		expect(r.code).toBe(2);
		expect(r.stderr).toMatch(/is not writable: choose a folder/);
	});

	it('a port that is already in use', async () => {
		const blocker = net.createServer();
		await new Promise<void>((r) => blocker.listen(0, '0.0.0.0', () => r()));
		const port = (blocker.address() as net.AddressInfo).port;
		const r = radflow(['web'], { DATABASE_URL: t.url, PORT: String(port), RADFLOW_ADMIN_PASSWORD: 'cli-test-password' });
		blocker.close();
		expect(r.code).toBe(2);
		expect(r.stderr).toMatch(new RegExp(`PORT ${port} is already in use: stop the other program or start with PORT=`));
	});

	it('an unknown command and --help', () => {
		expect(radflow(['frobnicate'], {}).stderr).toMatch(/unknown command 'frobnicate'/);
		const help = radflow(['--help'], {});
		expect(help.code).toBe(0);
		expect(help.stdout).toMatch(/DATABASE_URL/);
		expect(radflow(['bench', '--help'], {}).stdout).toMatch(/radflow bench/);
	});
});
