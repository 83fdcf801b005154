/**
 * Browser tests for the routing policy editor and the SLA risk view: a real
 * radflow process, a real database with recorded history, Debian's Chromium.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { launchBrowser, startRadflow, type RunningRadflow, signIn as signInAs } from '../helpers/server';
import { createUser } from '../../src/lib/server/auth/users';
import { currentPolicy } from '../../src/lib/server/routing/policy-store';
import { canonicalPolicy } from '../../src/lib/server/routing/replay-data';
import { seedReplayHistory } from '../../src/lib/server/routing/replay-data.fixtures';
import { DEFAULT_POLICY } from '../../src/lib/domain/routing/policy';

const ADMIN_PASSWORD = 'admin-password-for-tests';
const HOUR = 3_600_000;
let t: TestDatabase;
let app: RunningRadflow;
let browser: Browser;
let breachedStudy: number;

beforeAll(async () => {
	t = await createTestDatabase('e2epolicy');
	const system = { userId: null, username: 'test', role: null };
	await createUser(t.db.sql, { username: 'manny', role: 'manager', password: 'manager-password-1' }, system);
	// Two recorded days ending an hour ago: the "last 3 days" replay covers them.
	await seedReplayHistory(t.db.sql, { from: Date.now() - 49 * HOUR, days: 2, seed: 5, perHour: 5 });
	const [s] = await t.db.sql`INSERT INTO studies (accession_number, site_id, modality, subspecialty, rvu, expected_read_minutes,
			priority, patient_class, status, complete_at)
		VALUES ('E2E-STAT-1', 'north', 'CT', 'neuro', 1.5, 12, 'stat', 'E', 'complete', now() - interval '2 hours') RETURNING id`;
	breachedStudy = Number(s.id);
	app = await startRadflow(['web'], { DATABASE_URL: t.url, RADFLOW_ADMIN_PASSWORD: ADMIN_PASSWORD });
	browser = await launchBrowser();
}, 300_000);

afterAll(async () => {
	await browser?.close();
	await app?.stop();
	await t?.drop();
});

const signIn = (page: Page, username: string, password: string) => signInAs(page, app.baseUrl, username, password);

describe('routing policy editor and SLA view in a real browser', () => {
	it('a manager gets 403 on the policy editor but can open the SLA risk view', async () => {
		const page = await browser.newPage();
		await signIn(page, 'manny', 'manager-password-1');
		const res = await page.goto(`${app.baseUrl}/admin/policy`);
		expect(res?.status()).toBe(403);
		const post = await page.request.post(`${app.baseUrl}/admin/policy?/publish`, {
			form: { candidate: JSON.stringify(DEFAULT_POLICY), replayHash: '' },
			headers: { origin: app.baseUrl }
		});
		expect(post.status()).toBe(403);

		const sla = await page.goto(`${app.baseUrl}/sla`);
		expect(sla?.status()).toBe(200);
		const row = page.locator(`[data-testid=sla-studies] tr[data-study-id="${breachedStudy}"]`);
		await row.waitFor();
		expect(await row.textContent()).toContain('Breached');
		expect(await row.textContent()).toMatch(/over/);
		expect(await row.locator('a').getAttribute('href')).toBe(`/worklist?study=${breachedStudy}`);
		expect(Number(await page.locator('[data-testid=kpi-breached] .value').textContent())).toBeGreaterThanOrEqual(1);
		expect(await page.locator('[data-testid=sla-groups] tr[data-group="north/neuro"]').count()).toBe(1);
		// Drill down: picking a group narrows the study list to it.
		await page.click('[data-testid=sla-groups] tr[data-group="north/neuro"]');
		const sites = await page.locator('[data-testid=sla-studies] tbody tr[data-study-id] td:nth-child(5)').allTextContents();
		expect(sites.length).toBeGreaterThan(0);
		for (const s of sites) expect(s).toBe('north · neuro');
		await page.close();
	});

	it('shows a validation error next to the field and will not replay an invalid candidate', async () => {
		const page = await browser.newPage();
		await signIn(page, 'admin', ADMIN_PASSWORD);
		await page.goto(`${app.baseUrl}/admin/policy`);
		await page.fill('[data-testid=w-urgency]', '-5');
		const label = page.locator('label', { has: page.locator('[data-testid=w-urgency]') });
		await expect.poll(() => label.locator('.field-error').textContent()).toContain('weights.urgency must be a number ≥ 0');
		expect(await page.locator('[data-testid=replay]').isDisabled()).toBe(true);
		await page.fill('[data-testid=sla-stat-E]', '300');
		const cell = page.locator('td', { has: page.locator('[data-testid=sla-stat-E]') });
		await expect.poll(() => cell.locator('.field-error').textContent()).toContain('longer than for asap/E');
		await page.close();
	});

	it('an admin changes a weight, replays, sees the comparison, publishes, and the new version is in force', async () => {
		const page = await browser.newPage();
		await signIn(page, 'admin', ADMIN_PASSWORD);
		await page.goto(`${app.baseUrl}/admin/policy`);
		expect(await page.locator('[data-testid=current-version]').textContent()).toBe('v0');
		await page.fill('[data-testid=w-urgency]', '77');
		await page.fill('[data-testid=days]', '3');
		expect(await page.locator('[data-testid=publish]').isDisabled()).toBe(true);
		await page.click('[data-testid=replay]');
		await page.waitForSelector('[data-testid=comparison-table]', { timeout: 60_000 });
		const head = await page.locator('[data-testid=comparison-table] thead').textContent();
		for (const col of ['Candidate', 'In force', 'FIFO', 'Actual']) expect(head).toContain(col);
		const p50 = await page.locator('[data-testid=comparison-table] tr[data-metric=tatP50Min] td').allTextContents();
		expect(p50).toHaveLength(4);
		for (const v of p50) expect(v).toMatch(/^\d+(\.\d)? min$/);
		expect(await page.locator('[data-testid=comparison-chart]').count()).toBe(1);

		// Editing after the replay locks publishing until the new candidate is replayed.
		await page.fill('[data-testid=w-urgency]', '78');
		await expect.poll(() => page.locator('[data-testid=publish]').isDisabled()).toBe(true);
		await page.fill('[data-testid=w-urgency]', '77');
		await expect.poll(() => page.locator('[data-testid=publish]').isDisabled()).toBe(false);

		await page.fill('[data-testid=note]', 'more urgency');
		await page.click('[data-testid=publish]');
		await page.waitForSelector('[data-testid=published]');
		expect(await page.locator('[data-testid=current-version]').textContent()).toBe('v1');
		const stored = await currentPolicy(t.db.sql);
		expect(stored.version).toBe(1);
		expect(stored.policy.weights.urgency).toBe(77);
		const [a] = await t.db.sql`SELECT username, reason FROM audit_log WHERE action = 'policy.publish' AND target = 'policy:v1'`;
		expect(a).toMatchObject({ username: 'admin', reason: 'more urgency' });
		await page.close();
	});

	it('the server refuses a publish that was not replayed, even with a correct-looking hash', async () => {
		const page = await browser.newPage();
		await signIn(page, 'admin', ADMIN_PASSWORD);
		const candidate = { ...DEFAULT_POLICY, version: 'candidate', weights: { ...DEFAULT_POLICY.weights, urgency: 55 } };
		const before = (await currentPolicy(t.db.sql)).version;
		for (const replayHash of ['', createHash('sha256').update(canonicalPolicy(candidate)).digest('hex')]) {
			const res = await page.request.post(`${app.baseUrl}/admin/policy?/publish`, {
				form: { candidate: JSON.stringify(candidate), replayHash, note: 'sneaky' },
				// As a browser posts a plain form (a JSON accept gets SvelteKit's 200 + {type: 'failure'} envelope).
				headers: { origin: app.baseUrl, accept: 'text/html' }
			});
			expect(res.status()).toBe(409);
			expect(await res.text()).toContain('before publishing');
		}
		expect((await currentPolicy(t.db.sql)).version).toBe(before);
		await page.close();
	});
});
