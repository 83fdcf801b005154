/**
 * Forecast and shift planner in a real browser: the chart renders history
 * and forecast, an admin adds cover and sees the gap shrink, a manager is
 * refused the planner.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { launchBrowser, startRadflow, type RunningRadflow, signIn as signInAs } from '../helpers/server';
import { createUser } from '../../src/lib/server/auth/users';
import { addRadiologist, seedSyntheticHistory } from '../../src/lib/server/forecast/testing';
import { utcToLocalInput } from '../../src/lib/server/forecast/time';

const ADMIN_PASSWORD = 'admin-password-for-tests';
const H = 3_600_000;
let t: TestDatabase;
let app: RunningRadflow;
let browser: Browser;

beforeAll(async () => {
	t = await createTestDatabase('e2efc');
	await createUser(t.db.sql, { username: 'manny', role: 'manager', password: 'manager-password-1' }, { userId: null, username: 'test', role: null });
	await seedSyntheticHistory(t.db.sql, { sites: ['south'], endMs: Date.now(), weeks: 4 });
	await addRadiologist(t.db.sql, 'Dr Body Reader', ['body'], ['south']);
	app = await startRadflow(['web'], { DATABASE_URL: t.url, RADFLOW_ADMIN_PASSWORD: ADMIN_PASSWORD });
	browser = await launchBrowser();
}, 300_000);

afterAll(async () => {
	await browser?.close();
	await app?.stop();
	await t?.drop();
});

const signIn = (page: Page, username: string, password: string) => signInAs(page, app.baseUrl, username, password);

describe('forecast and shift planner', () => {
	it('the forecast page draws history and forecast with intervals', async () => {
		const page = await browser.newPage();
		await signIn(page, 'manny', 'manager-password-1');
		const res = await page.goto(`${app.baseUrl}/forecast?site=south`);
		expect(res?.status()).toBe(200);
		const chart = page.locator('svg[data-testid=forecast-chart]');
		await chart.waitFor();
		for (const cls of ['history', 'forecast', 'band80', 'band95']) {
			const d = await chart.locator(`path.${cls}`).getAttribute('d');
			expect(d?.length ?? 0, `path.${cls}`).toBeGreaterThan(100);
		}
		// With nobody scheduled, the staffing view names bottlenecks.
		expect(await page.locator('[data-testid=bottlenecks] tbody tr').count()).toBeGreaterThan(0);
		expect(await page.locator('[data-testid=staffing-banner]').textContent()).toContain('south');
		await page.close();
	});

	it('a manager is refused the shift planner', async () => {
		const page = await browser.newPage();
		await signIn(page, 'manny', 'manager-password-1');
		const res = await page.goto(`${app.baseUrl}/admin/shifts`);
		expect(res?.status()).toBe(403);
		await page.close();
	});

	it('an admin adds a shift and the gap for that window shrinks at once', async () => {
		const page = await browser.newPage();
		await signIn(page, 'admin', ADMIN_PASSWORD);
		const from = Math.floor(Date.now() / H) * H + 2 * H;
		const to = from + 8 * H;
		const zone = 'Etc/GMT+5';
		const q = new URLSearchParams({ site: 'south', subspecialty: 'body', from: utcToLocalInput(from, zone), to: utcToLocalInput(to, zone) });
		await page.goto(`${app.baseUrl}/admin/shifts?${q}`);
		const gap = page.locator('[data-testid=window-gap]');
		const before = Number(await gap.getAttribute('data-short'));
		expect(before).toBeGreaterThan(0);

		await page.selectOption('select[name=radiologist]', { label: 'Dr Body Reader (body; south)' });
		await page.click('[data-testid=shift-form] button[type=submit]');
		await page.waitForSelector('[data-testid=saved]');
		const after = Number(await page.locator('[data-testid=window-gap]').getAttribute('data-short'));
		expect(after).toBeLessThan(before);
		expect(before - after).toBeCloseTo(8, 5);
		await expect(page.locator('[data-testid=shift-table]').textContent()).resolves.toContain('Dr Body Reader');

		const [a] = await t.db.sql`SELECT username, action, details FROM audit_log WHERE action = 'shift.create'`;
		expect(a.username).toBe('admin');
		expect(Date.parse(a.details.after.startsAt)).toBe(from);
		await page.close();
	});
});
