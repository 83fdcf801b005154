/**
 * Browser tests: a real radflow process, a real database, Debian's Chromium.
 * Login, role refusal, and a live event appearing without reload.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { launchBrowser, startRadflow, type RunningRadflow, signIn as signInAs } from '../helpers/server';
import { createUser } from '../../src/lib/server/auth/users';
import { insertEvents } from '../../src/lib/server/events/store';

const ADMIN_PASSWORD = 'admin-password-for-tests';
let t: TestDatabase;
let app: RunningRadflow;
let browser: Browser;

beforeAll(async () => {
	t = await createTestDatabase('e2e');
	const system = { userId: null, username: 'test', role: null };
	await createUser(t.db.sql, { username: 'manny', role: 'manager', password: 'manager-password-1' }, system);
	await createUser(t.db.sql, { username: 'chad', role: 'charge', password: 'charge-password-1' }, system);
	app = await startRadflow(['web'], { DATABASE_URL: t.url, RADFLOW_ADMIN_PASSWORD: ADMIN_PASSWORD });
	browser = await launchBrowser();
}, 300_000);

afterAll(async () => {
	await browser?.close();
	await app?.stop();
	await t?.drop();
});

const signIn = (page: Page, username: string, password: string) => signInAs(page, app.baseUrl, username, password, { waitFor: null });

describe('dashboard in a real browser', () => {
	it('redirects to login, refuses a wrong password, then signs the admin in', async () => {
		const page = await browser.newPage();
		await page.goto(`${app.baseUrl}/events`);
		expect(new URL(page.url()).pathname).toBe('/login');
		await signIn(page, 'admin', 'wrong-password-123');
		await expect(page.locator('[role=alert]').textContent()).resolves.toContain('Wrong username or password');
		await signIn(page, 'admin', ADMIN_PASSWORD);
		await page.waitForSelector('[data-testid=role]');
		expect(await page.locator('[data-testid=role]').textContent()).toBe('admin');
		await page.close();
	});

	it('a manager cannot open admin pages: the server answers 403 and the nav hides them', async () => {
		const page = await browser.newPage();
		await signIn(page, 'manny', 'manager-password-1');
		await page.waitForSelector('[data-testid=role]');
		expect(await page.locator('nav').textContent()).not.toContain('Admin');
		const res = await page.goto(`${app.baseUrl}/admin/users`);
		expect(res?.status()).toBe(403);
		// The form action is refused server-side too, not just hidden.
		const post = await page.request.post(`${app.baseUrl}/admin/users?/create`, {
			form: { username: 'sneaky', role: 'admin' },
			headers: { origin: app.baseUrl }
		});
		expect(post.status()).toBe(403);
		const [{ n }] = await t.db.sql`SELECT count(*)::int AS n FROM users WHERE username = 'sneaky'`;
		expect(n).toBe(0);
		await page.close();
	});

	it('a committed event appears on the event stream without reload', async () => {
		const page = await browser.newPage();
		await signIn(page, 'chad', 'charge-password-1');
		await page.waitForSelector('[data-testid=role]');
		await page.goto(`${app.baseUrl}/events`);
		await page.waitForSelector('.live-dot.on');
		const marker = `live-${Date.now()}`;
		const [e] = (
			await t.db.sql.begin((tx) =>
				insertEvents(tx, [{ time: new Date().toISOString(), studyId: null, kind: 'test_marker', actor: marker, siteId: 'main' }])
			)
		).inserted;
		await page.waitForSelector(`tr[data-event-id="${e.id}"]`, { timeout: 10_000 });
		expect(await page.locator(`tr[data-event-id="${e.id}"]`).textContent()).toContain(marker);
		await page.close();
	});

	it('a cross-site form post is refused', async () => {
		const res = await fetch(`${app.baseUrl}/login`, {
			method: 'POST',
			headers: { origin: 'http://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
			body: 'username=admin&password=x'
		});
		expect(res.status).toBe(403);
	});
});
