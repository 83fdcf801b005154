/**
 * Worklist commands and board against a real radflow process, a real database
 * and Chromium: the JSON API's 401/403/409/422/200 answers with their audit
 * rows, and drag-and-drop on the board seen live by a second charge radiologist.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { launchBrowser, startRadflow, type RunningRadflow, signIn as signInAs } from '../helpers/server';
import { createUser } from '../../src/lib/server/auth/users';
import { seedReader, seedSites, seedStudy } from '../../src/lib/server/routing/testing';

let t: TestDatabase;
let app: RunningRadflow;
let browser: Browser;
const ids = { nora: 0, nick: 0, drag: 0, api: 0, other: 0, patient: 0 };
const PASSWORDS = { chad: 'charge-password-1', cora: 'charge-password-2', manny: 'manager-password-1' } as const;

beforeAll(async () => {
	t = await createTestDatabase('worklist');
	const sql = t.db.sql;
	const system = { userId: null, username: 'test', role: null };
	await createUser(sql, { username: 'chad', displayName: 'Chad Charge', role: 'charge', password: PASSWORDS.chad }, system);
	await createUser(sql, { username: 'cora', displayName: 'Cora Charge', role: 'charge', password: PASSWORDS.cora }, system);
	await createUser(sql, { username: 'manny', role: 'manager', password: PASSWORDS.manny }, system);
	const now = Date.now();
	await seedSites(sql);
	ids.nora = await seedReader(sql, now, { name: 'Nora Neuro', subspecialties: ['neuro'], sites: ['main'] });
	ids.nick = await seedReader(sql, now, { name: 'Nick North', subspecialties: ['neuro'], sites: ['north'] });
	const [p] = await sql`INSERT INTO patients (mrn, issuer, patient_class) VALUES ('MRN-77', 'main', 'E') RETURNING id`;
	ids.patient = p.id;
	await sql`INSERT INTO clinical_context (patient_id, code, label, value, units, reference_range, abnormal_flags, observed_at)
		VALUES (${p.id}, '2160-0', 'Creatinine', '2.4', 'mg/dL', '0.6-1.3', 'H', now())`;
	// Breast studies: nobody on shift reads breast, so a router (if the lead wires one in) leaves them in the pool.
	ids.drag = await seedStudy(sql, now, { accession: 'DRAG-1', subspecialty: 'breast', modality: 'MG', examName: 'MG screening bilateral', patientId: p.id });
	ids.api = await seedStudy(sql, now, { accession: 'API-1', subspecialty: 'breast', modality: 'MG', examName: 'MG diagnostic left' });
	ids.other = await seedStudy(sql, now, { accession: 'API-2', subspecialty: 'breast', modality: 'MG', patientId: p.id });
	await sql`INSERT INTO studies (accession_number, site_id, modality, subspecialty, status, patient_id, exam_name, reported_at)
		VALUES ('PRIOR-NM', 'north', 'NM', 'nuclear', 'reported', ${p.id}, 'NM myocardial perfusion', now() - interval '30 days')`;
	app = await startRadflow(['web'], { DATABASE_URL: t.url, RADFLOW_ADMIN_PASSWORD: 'admin-password-for-tests' });
	browser = await launchBrowser();
}, 300_000);

afterAll(async () => {
	await browser?.close();
	await app?.stop();
	await t?.drop();
});

/** Sign in over HTTP as a script would, returning the session cookie. */
async function cookieFor(username: keyof typeof PASSWORDS): Promise<string> {
	const res = await fetch(`${app.baseUrl}/login`, {
		method: 'POST',
		redirect: 'manual',
		headers: { origin: app.baseUrl, 'content-type': 'application/x-www-form-urlencoded' },
		body: new URLSearchParams({ username, password: PASSWORDS[username] }).toString()
	});
	const cookie = res.headers.getSetCookie().find((c) => c.startsWith('radflow_session='));
	if (!cookie) throw new Error(`login as ${username} failed: ${res.status}`);
	return cookie.split(';')[0];
}

async function post(cookie: string | null, path: string, body: unknown) {
	const res = await fetch(`${app.baseUrl}${path}`, {
		method: 'POST',
		headers: { origin: app.baseUrl, 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
		body: JSON.stringify(body)
	});
	return { status: res.status, body: (await res.json().catch(() => null)) as Record<string, any> | null };
}

async function study(id: number) {
	const [r] = await t.db.sql`SELECT status, assigned_to, version, held, priority, sla_deadline FROM studies WHERE id = ${id}`;
	return r;
}
async function audits(action: string, id: number) {
	return t.db.sql`SELECT username, reason, details FROM audit_log WHERE action = ${action} AND target = ${`study:${id}`}`;
}

describe('worklist commands API', () => {
	it('refuses anonymous callers (401) and managers (403), and changes nothing', async () => {
		const before = await study(ids.api);
		expect((await post(null, `/api/studies/${ids.api}/assign`, { readerId: ids.nora, expectedVersion: before.version })).status).toBe(401);
		const manny = await cookieFor('manny');
		const r = await post(manny, `/api/studies/${ids.api}/assign`, { readerId: ids.nora, expectedVersion: before.version });
		expect(r.status).toBe(403);
		expect((await post(manny, `/api/readers/${ids.nora}/status`, { status: 'paused' })).status).toBe(403);
		expect(await study(ids.api)).toEqual(before);
	});

	it('a stale version gets 409 with the refresh message; an assignment elsewhere gets 422; the right one 200 with an audit row', async () => {
		const chad = await cookieFor('chad');
		const cora = await cookieFor('cora');
		const seen = (await study(ids.api)).version;
		// Cora changes the study after Chad's board loaded it.
		expect((await post(cora, `/api/studies/${ids.api}/hold`, { hold: true, reason: 'checking', expectedVersion: seen })).status).toBe(200);
		expect((await post(cora, `/api/studies/${ids.api}/hold`, { hold: false, expectedVersion: seen + 1 })).status).toBe(200);
		const { version } = await study(ids.api);
		const stale = await post(chad, `/api/studies/${ids.api}/assign`, { readerId: ids.nora, expectedVersion: seen });
		expect(stale.status).toBe(409);
		expect(stale.body).toMatchObject({ code: 'conflict', message: expect.stringContaining('changed by someone else') });

		const wrongSite = await post(chad, `/api/studies/${ids.api}/assign`, { readerId: ids.nick, expectedVersion: version });
		expect(wrongSite.status).toBe(422);
		expect(wrongSite.body?.message).toContain('no reading privileges at site main');

		const ok = await post(chad, `/api/studies/${ids.api}/assign`, { readerId: ids.nora, expectedVersion: version, reason: 'no breast reader today' });
		expect(ok.status).toBe(200);
		expect(ok.body?.study).toMatchObject({ id: ids.api, status: 'assigned', assignedTo: ids.nora, version: version + 1 });
		const [a] = await audits('study.assign', ids.api);
		expect(a).toMatchObject({ username: 'chad', reason: 'no breast reader today' });
		const [row] = await t.db.sql`SELECT actor, explanation FROM assignments WHERE study_id = ${ids.api} AND released_at IS NULL`;
		expect(row.actor).toBe('chad');
		expect(row.explanation).toContain('Nora Neuro');

		// Back to the pool; a second "return to pool" is illegal now (422).
		const rel = await post(chad, `/api/studies/${ids.api}/release`, { expectedVersion: version + 1 });
		expect(rel.status).toBe(200);
		expect((await study(ids.api)).status).toBe('triaged');
		const again = await post(chad, `/api/studies/${ids.api}/release`, { expectedVersion: version + 2 });
		expect(again.status).toBe(422);
		expect(again.body?.message).toContain('already in the pool');
	});

	it('priority override needs a reason and moves the SLA deadline; hold and pause are audited', async () => {
		const chad = await cookieFor('chad');
		let s = await study(ids.other);
		const noReason = await post(chad, `/api/studies/${ids.other}/priority`, { priority: 'stat', expectedVersion: s.version });
		expect(noReason.status).toBe(422);
		const pr = await post(chad, `/api/studies/${ids.other}/priority`, { priority: 'stat', reason: 'clinician called', expectedVersion: s.version });
		expect(pr.status).toBe(200);
		const after = await study(ids.other);
		expect(after.priority).toBe('stat');
		expect(new Date(after.sla_deadline).getTime()).toBeLessThan(new Date(s.sla_deadline).getTime());
		expect(await audits('study.priority', ids.other)).toHaveLength(1);

		s = after;
		const hold = await post(chad, `/api/studies/${ids.other}/hold`, { hold: true, reason: 'waiting for outside priors', expectedVersion: s.version });
		expect(hold.status).toBe(200);
		expect((await study(ids.other)).held).toBe(true);
		expect(await audits('study.hold', ids.other)).toHaveLength(1);

		const pause = await post(chad, `/api/readers/${ids.nick}/status`, { status: 'paused', reason: 'lunch' });
		expect(pause.status).toBe(200);
		const [ev] = await t.db.sql`SELECT payload FROM study_events WHERE kind = 'reader_status' ORDER BY id DESC LIMIT 1`;
		expect(ev.payload).toMatchObject({ readerId: ids.nick, status: 'paused', reason: 'lunch' });
		expect((await post(chad, `/api/readers/${ids.nick}/status`, { status: 'reading' })).status).toBe(200);
	});

	it('study detail returns timeline, clinical context and cross-department priors, and audits the read', async () => {
		const manny = await cookieFor('manny');
		const res = await fetch(`${app.baseUrl}/api/studies/${ids.other}`, { headers: { cookie: manny } });
		expect(res.status).toBe(200);
		const d = await res.json();
		expect(d.study.accessionNumber).toBe('API-2');
		expect(d.events.map((e: { kind: string }) => e.kind)).toEqual(expect.arrayContaining(['priority_changed', 'held']));
		expect(d.clinicalContext[0]).toMatchObject({ label: 'Creatinine', abnormalFlags: 'H' });
		expect(d.priors.map((p: { modality: string }) => p.modality)).toEqual(expect.arrayContaining(['NM', 'MG']));
		const [a] = await audits('study.view', ids.other);
		expect(a.username).toBe('manny');
	});
});

const signIn = async (page: Page, username: keyof typeof PASSWORDS) => {
	await signInAs(page, app.baseUrl, username, PASSWORDS[username], { next: '/worklist', waitFor: '[data-testid=pool]' });
	await page.waitForSelector('.live-dot.on');
};

describe('worklist board in Chromium', () => {
	it('a charge radiologist drags a study onto a reader; the DB and audit show it; a second charge sees it move live', async () => {
		const chad = await (await browser.newContext()).newPage();
		const cora = await (await browser.newContext()).newPage();
		await signIn(chad, 'chad');
		await signIn(cora, 'cora');
		const card = `[data-testid=pool] [data-study-id="${ids.drag}"]`;
		await cora.waitForSelector(card);
		await chad.dragAndDrop(card, `[data-reader-id="${ids.nora}"]`);

		let row = await study(ids.drag);
		for (let i = 0; i < 50 && row.status !== 'assigned'; i++) {
			await new Promise((r) => setTimeout(r, 100));
			row = await study(ids.drag);
		}
		expect(row).toMatchObject({ status: 'assigned', assigned_to: ids.nora });
		expect(await audits('study.assign', ids.drag)).toHaveLength(1);
		// Cora never reloads: the live feed moves the card into Nora's column.
		await cora.waitForSelector(`[data-reader-id="${ids.nora}"] [data-study-id="${ids.drag}"]`, { timeout: 10_000 });
		expect(await cora.locator(card).count()).toBe(0);

		// One click from the card: the drawer with the timeline and the patient's context.
		await cora.click(`[data-study-id="${ids.drag}"] .exam`);
		const drawer = cora.locator('[data-testid=study-drawer]');
		await drawer.locator('[data-testid=timeline]').waitFor();
		expect(await drawer.textContent()).toContain('Creatinine');
		expect(await drawer.locator('[data-testid=timeline]').textContent()).toContain('assigned');
		await chad.context().close();
		await cora.context().close();
	});

	it('a manager sees the board read-only and the API answers 403 to an assignment', async () => {
		const page = await (await browser.newContext()).newPage();
		await signIn(page, 'manny');
		expect(await page.locator(`[data-study-id]`).count()).toBeGreaterThan(0);
		expect(await page.locator(`[data-study-id="${ids.drag}"]`).getAttribute('draggable')).toBe('false');
		const { version } = await study(ids.drag);
		const res = await page.request.post(`${app.baseUrl}/api/studies/${ids.drag}/release`, {
			data: { expectedVersion: version },
			headers: { origin: app.baseUrl }
		});
		expect(res.status()).toBe(403);
		const assign = await page.request.post(`${app.baseUrl}/api/studies/${ids.drag}/assign`, {
			data: { readerId: ids.nick, expectedVersion: version },
			headers: { origin: app.baseUrl }
		});
		expect(assign.status()).toBe(403);
		expect((await study(ids.drag)).assigned_to).toBe(ids.nora);
		await page.context().close();
	});
});
