import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../../tests/helpers/db';
import { ROOT } from '../../tests/helpers/server';
import { defaultSeriesList, sampleHourlyCounts } from '../../src/lib/domain/simulation/arrivals';

const H = 3_600_000;
const START = Date.UTC(2025, 8, 1, 5);
let t: TestDatabase;
let dir: string;

function radflow(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
	return new Promise((resolve) => {
		execFile(process.execPath, [path.join(ROOT, 'bin/radflow.js'), ...args], { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'warn', ...env } }, (err, stdout, stderr) =>
			resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr })
		);
	});
}

beforeAll(async () => {
	t = await createTestDatabase('fccli');
	dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radflow-fc-cli-'));
});
afterAll(async () => {
	await t?.drop();
	fs.rmSync(dir, { recursive: true, force: true });
});

describe('radflow forecast --csv', () => {
	it('prints a CSV forecast with 80/95 % intervals for the hours after the file', async () => {
		const key = defaultSeriesList().find((k) => k.site === 'north' && k.modality === 'CT' && k.patientClass === 'E')!;
		const [s] = sampleHourlyCounts('cli', [key], START, 4 * 168);
		const file = path.join(dir, 'series.csv');
		fs.writeFileSync(file, ['timestamp,value', ...s.counts.map((c, i) => `${new Date(START + i * H).toISOString()},${c}`)].join('\n'));
		const r = await radflow(['forecast', '--csv', file, '--periods', '24,168', '--horizon', '48']);
		expect(r.code).toBe(0);
		const lines = r.stdout.trim().split('\n');
		expect(lines[0]).toBe('timestamp,mean,lo80,hi80,lo95,hi95');
		expect(lines).toHaveLength(49);
		const first = lines[1].split(',');
		expect(Date.parse(first[0])).toBe(START + 4 * 168 * H);
		const [, mean, lo80, hi80, lo95, hi95] = first.map(Number);
		expect(lo95).toBeLessThanOrEqual(lo80);
		expect(hi80).toBeLessThanOrEqual(hi95);
		expect(mean).toBeGreaterThan(0);
		expect(r.stderr).toMatch(/model: \w+/);
	});

	it('names the bad lines of a broken file', async () => {
		const file = path.join(dir, 'broken.csv');
		fs.writeFileSync(file, 'timestamp,value\n2025-01-01T00:00Z,1\nsoon,2\n2025-01-01T02:00Z,-3\n');
		const r = await radflow(['forecast', '--csv', file]);
		expect(r.code).toBe(1);
		expect(r.stderr).toMatch(/line 3: invalid timestamp "soon"/);
		expect(r.stderr).toMatch(/line 4: negative value/);
	});
});

describe('radflow import-volumes', () => {
	it('refuses a file with bad lines without importing anything, then imports the fixed file', async () => {
		const list = defaultSeriesList().filter((k) => k.site === 'east');
		const rows = ['timestamp,site,exam_or_modality,count,patient_class'];
		let total = 0;
		for (const s of sampleHourlyCounts('cli-import', list, START, 3 * 24)) {
			s.counts.forEach((n, i) => {
				if (n > 0) rows.push(`${new Date(START + i * H).toISOString()},east,${s.series.modality},${n},${s.series.patientClass}`);
				total += n;
			});
		}
		const bad = path.join(dir, 'bad.csv');
		fs.writeFileSync(bad, [...rows.slice(0, 5), '2025-09-01T07:00:00Z,east,WARP SCAN,1', ...rows.slice(5)].join('\n'));
		const refused = await radflow(['import-volumes', bad], { DATABASE_URL: t.url });
		expect(refused.code).toBe(1);
		expect(refused.stderr).toMatch(/line 6: unknown exam "WARP SCAN"/);
		expect(refused.stderr).toMatch(/nothing was imported/);
		const [{ n: none }] = await t.db.sql`SELECT count(*)::int AS n FROM volume_history`;
		expect(none).toBe(0);

		const good = path.join(dir, 'good.csv');
		fs.writeFileSync(good, rows.join('\n'));
		const ok = await radflow(['import-volumes', good], { DATABASE_URL: t.url });
		expect(ok.code).toBe(0);
		expect(ok.stdout).toMatch(/imported \d+ hourly counts/);
		expect(ok.stderr).toMatch(/written \d+\/\d+ \(100%\)/);
		const [{ n }] = await t.db.sql`SELECT sum(count)::int AS n FROM volume_history WHERE site_id = 'east'`;
		expect(n).toBe(total);
	});
});
