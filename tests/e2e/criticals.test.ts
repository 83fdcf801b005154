/**
 * The Criticals page in Chromium against a real radflow process and database:
 * a pending AI flag is listed with its model and the demonstration label, a
 * new flag arriving while the page is open raises the alert banner live, a
 * charge radiologist confirms (database + audit), and a manager sees the
 * flags but is refused (403) when confirming through the API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { launchBrowser, startRadflow, type RunningRadflow, signIn as signInAs } from '../helpers/server';
import { createUser } from '../../src/lib/server/auth/users';
import { insertEvents } from '../../src/lib/server/events/store';
import { registerShippedModels } from '../../src/lib/server/triage/registry';

let t: TestDatabase;
let app: RunningRadflow;
let browser: Browser;
const PASSWORDS = { chad: 'charge-password-1', manny: 'manager-password-1', admin: 'admin-password-for-tests' } as const;
const DEMO = 'demonstration model, synthetic data, not for clinical use';

/** A stat head CT with a pending flag from ich-ct-demo@1.0.0 and its critical_flagged event. */
async function flagStudy(accession: string): Promise<{ studyId: number; flagId: number }> {
	const sql = t.db.sql;
	const [s] = await sql`INSERT INTO studies (accession_number, site_id, modality, exam_name, priority, status, critical_flag, last_image_at, complete_at, triaged_at)
		VALUES (${accession}, 'main', 'CT', 'CT head without contrast', 'stat', 'triaged', 'pending', now() - interval '40 seconds', now() - interval '30 seconds', now())
		RETURNING id`;
	await sql`INSERT INTO ai_results (study_id, model_id, model_version, backend, mode, score, label, critical, status, latency_ms)
		VALUES (${s.id}, 'ich-ct-demo', '1.0.0', 'wasm', 'active', 0.91, 'hemorrhage', true, 'ok', 140)`;
	const [f] = await sql`INSERT INTO critical_flags (study_id, model_id, model_version, finding, score, status, raised_at, image_to_alert_ms)
		VALUES (${s.id}, 'ich-ct-demo', '1.0.0', 'hemorrhage', 0.91, 'pending', now(), 40000) RETURNING id`;
	await sql.begin((tx) =>
		insertEvents(tx, [
			{
				time: new Date().toISOString(),
				studyId: s.id,
				kind: 'critical_flagged',
				actor: 'triage',
				siteId: 'main',
				modality: 'CT',
				priority: 'stat',
				payload: { flagId: f.id, finding: 'hemorrhage', score: 0.91, modelId: 'ich-ct-demo', modelVersion: '1.0.0' }
			}
		])
	);
	return { studyId: s.id, flagId: f.id };
}

const ids: Record<string, { studyId: number; flagId: number }> = {};

beforeAll(async () => {
	t = await createTestDatabase('criticals');
	const system = { userId: null, username: 'test', role: null };
	await createUser(t.db.sql, { username: 'chad', role: 'charge', password: PASSWORDS.chad }, system);
	await createUser(t.db.sql, { username: 'manny', role: 'manager', password: PASSWORDS.manny }, system);
	await t.db.sql`INSERT INTO sites (id, name) VALUES ('main', 'Main Hospital')`;
	await registerShippedModels(t.db.sql);
	ids.first = await flagStudy('CRIT-1');
	ids.second = await flagStudy('CRIT-2');
	app = await startRadflow(['web'], { DATABASE_URL: t.url, RADFLOW_ADMIN_PASSWORD: PASSWORDS.admin });
	browser = await launchBrowser();
}, 300_000);

afterAll(async () => {
	await browser?.close();
	await app?.stop();
	await t?.drop();
});

const signIn = (page: Page, username: keyof typeof PASSWORDS) => signInAs(page, app.baseUrl, username, PASSWORDS[username]);

describe('Criticals page', () => {
	it('lists the pending flag; a new flag arriving raises the banner live; a charge radiologist confirms it', async () => {
		const page = await browser.newPage();
		await signIn(page, 'chad');
		await page.goto(`${app.baseUrl}/criticals`);
		const row = page.locator('tr[data-accession="CRIT-1"]');
		await row.waitFor();
		const text = await row.textContent();
		expect(text).toContain('hemorrhage');
		expect(text).toContain('ich-ct-demo@1.0.0');
		expect(text).toContain(DEMO);
		expect(await row.locator('[data-testid=sla]').textContent()).toMatch(/left/);

		// A new critical while the page is open: banner + the row, without a reload.
		await page.waitForSelector('.live-dot.on');
		ids.live = await flagStudy('CRIT-LIVE');
		await page.locator('[data-testid=critical-alert]').waitFor({ timeout: 15_000 });
		expect(await page.locator('[data-testid=critical-alert]').textContent()).toContain('hemorrhage');
		await page.locator('tr[data-accession="CRIT-LIVE"]').waitFor({ timeout: 15_000 });

		await row.getByRole('button', { name: 'Confirm' }).click();
		await page.locator('[data-testid=decision-message]').waitFor();
		expect(await page.locator('[data-testid=decision-message]').textContent()).toContain('Confirmed hemorrhage on CRIT-1');
		await page.locator('tr[data-accession="CRIT-1"]').waitFor({ state: 'detached' });

		const [flag] = await t.db.sql`SELECT status, decided_by FROM critical_flags WHERE id = ${ids.first.flagId}`;
		expect(flag).toMatchObject({ status: 'confirmed', decided_by: 'chad' });
		const [study] = await t.db.sql`SELECT critical_flag FROM studies WHERE id = ${ids.first.studyId}`;
		expect(study.critical_flag).toBe('confirmed');
		const audit = await t.db.sql`SELECT username, action FROM audit_log WHERE target = ${`study:${ids.first.studyId}`}`;
		expect(audit).toEqual([{ username: 'chad', action: 'critical.confirm' }]);
		await page.close();
	});

	it('a manager sees the open flags without decision buttons and gets 403 confirming through the API', async () => {
		const page = await browser.newPage();
		await signIn(page, 'manny');
		const res = await page.goto(`${app.baseUrl}/criticals`);
		expect(res?.status()).toBe(200);
		const row = page.locator('tr[data-accession="CRIT-2"]');
		await row.waitFor();
		expect(await row.textContent()).toContain(DEMO);
		expect(await row.getByRole('button', { name: 'Confirm' }).count()).toBe(0);

		const api = await page.request.post(`${app.baseUrl}/criticals/${ids.second.flagId}/confirm`, {
			headers: { origin: app.baseUrl, 'content-type': 'application/json', accept: 'application/json' },
			data: {}
		});
		expect(api.status()).toBe(403);
		const [flag] = await t.db.sql`SELECT status, decided_by FROM critical_flags WHERE id = ${ids.second.flagId}`;
		expect(flag).toMatchObject({ status: 'pending', decided_by: null });
		expect(await t.db.sql`SELECT 1 FROM audit_log WHERE target = ${`study:${ids.second.studyId}`}`).toHaveLength(0);
		await page.close();
	});

	it('an admin switches a model to active on the registry page (audited) and reads its model card', async () => {
		const page = await browser.newPage();
		await signIn(page, 'admin');
		await page.goto(`${app.baseUrl}/admin/models`);
		const section = page.locator('section[data-model-id="ich-ct-demo"]');
		await section.waitFor();
		expect(await section.locator('[data-testid=current-version]').textContent()).toBe('ich-ct-demo@1.0.0');
		expect(await section.locator('[data-testid=mode]').textContent()).toBe('shadow');
		expect(await section.locator('[data-testid=model-card]').textContent()).toContain('not for clinical use');
		await section.locator('select[name=mode]').selectOption('active');
		await section.locator('input[aria-label="Reason for the mode change of ich-ct-demo"]').fill('validated locally');
		await section.getByRole('button', { name: 'Set mode' }).click();
		await page.locator('[data-testid=model-done]').waitFor();
		expect(await section.locator('[data-testid=mode]').textContent()).toBe('active');
		const [m] = await t.db.sql`SELECT mode FROM ai_models WHERE id = 'ich-ct-demo' AND current`;
		expect(m.mode).toBe('active');
		const [a] = await t.db.sql`SELECT username, reason, details FROM audit_log WHERE action = 'model.mode'`;
		expect(a).toMatchObject({ username: 'admin', reason: 'validated locally', details: { from: 'shadow', to: 'active' } });
		await page.close();
	});
});
