/**
 * Browser tests for the ingest operations pages: Ingest figures, mapping an
 * unknown exam (applied to the waiting study, audited), the audited raw HL7
 * viewer, and what a manager may and may not open.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { launchBrowser, startRadflow, type RunningRadflow, signIn as signInAs } from '../helpers/server';
import { createUser } from '../../src/lib/server/auth/users';
import { normalizeDescriptionKey } from '../../src/lib/domain/exams/normalize';
import { EXAM_CATALOG } from '../../src/lib/domain/exams/catalog';

const ADMIN_PASSWORD = 'admin-password-for-tests';
const DESCRIPTION = 'CT HEAD TRAUMA PROTOCOL WO';
const KEY = normalizeDescriptionKey(DESCRIPTION);
const TARGET = EXAM_CATALOG.find((e) => e.examCode === 'CT-HEAD-WO')!;
// A raw ORM whose OBR carries markup-looking text: it must render as text.
const ORM = [
	'MSH|^~\\&|RIS|MAIN|RADFLOW|MAIN|20250304102900||ORM^O01|CTRL-777|P|2.5.1',
	'PID|1||MRN123^^^HOSP||DOE^JANE',
	'ORC|NW|P77|F77',
	'OBR|1|P77|F77|X^<b>bold</b> & <script>alert(1)</script>'
].join('\r');

let t: TestDatabase;
let app: RunningRadflow;
let browser: Browser;
let studyId: number;
let seriesId: number;
let messageId: number;

beforeAll(async () => {
	t = await createTestDatabase('e2e_ingest');
	const sql = t.db.sql;
	const system = { userId: null, username: 'test', role: null };
	await createUser(sql, { username: 'manny', role: 'manager', password: 'manager-password-1' }, system);
	[{ id: studyId }] = await sql`INSERT INTO studies (study_instance_uid, accession_number, modality, description, status)
		VALUES ('1.2.826.0.1.1', 'ACC-1', 'CT', ${DESCRIPTION}, 'arriving') RETURNING id`;
	[{ id: seriesId }] = await sql`INSERT INTO series (study_id, series_instance_uid, modality) VALUES (${studyId}, '1.2.826.0.1.1.1', 'CT') RETURNING id`;
	await sql`INSERT INTO exam_review (modality, description_key, example_description, occurrences) VALUES ('CT', ${KEY}, ${DESCRIPTION}, 3)`;
	[{ id: messageId }] = await sql`INSERT INTO hl7_messages (sender, control_id, message_type, received_at, ack_code, error, raw)
		VALUES ('RIS^MAIN', 'CTRL-777', 'ORM^O01', now() - interval '2 minutes', 'AA', null, ${ORM}) RETURNING id`;
	await sql`INSERT INTO hl7_messages (sender, control_id, message_type, received_at, ack_code, error, raw)
		VALUES ('EHR^EAST', 'E-1', 'ADT^A08', now() - interval '1 minute', 'AE', 'PID-3 missing', 'MSH|^~\\&|EHR|EAST')`;
	await sql`INSERT INTO ingest_failures (source, peer, reason, details)
		VALUES ('dicom', '10.1.2.3:4100', 'object without SOP Instance UID', '{}')`;
	app = await startRadflow(['web'], { DATABASE_URL: t.url, RADFLOW_ADMIN_PASSWORD: ADMIN_PASSWORD });
	browser = await launchBrowser();
}, 300_000);

afterAll(async () => {
	await browser?.close();
	await app?.stop();
	await t?.drop();
});

const signIn = (page: Page, username: string, password: string) => signInAs(page, app.baseUrl, username, password);

const text = async (page: Page, selector: string) => ((await page.locator(selector).textContent()) ?? '').trim();

describe('ingest operations pages in a real browser', () => {
	it('the admin sees live associations, windowed throughput, the sparkline and failures on Ingest', async () => {
		// Time-relative rows are written just before the page is read.
		const sql = t.db.sql;
		const received: [number, number][] = [
			[5, 1000],
			[15, 2000],
			[25, 3000],
			[240, 4000] // four minutes ago: in the 5 and 15 minute windows only
		];
		for (const [i, [s, size]] of received.entries()) {
			await sql`INSERT INTO instances (sop_instance_uid, series_id, study_id, sop_class_uid, transfer_syntax_uid, blob_path, size_bytes, calling_ae, received_at)
				VALUES (${`1.2.826.0.1.1.1.${i}`}, ${seriesId}, ${studyId}, '1.2.840.10008.5.1.4.1.1.2', '1.2.840.10008.1.2.1', 'blob', ${size}, 'CT_SCANNER', now() - make_interval(secs => ${s}))`;
		}
		await sql`INSERT INTO role_status (role, instance, updated_at, data) VALUES ('dicom', 'host-1:104', now(), ${JSON.stringify({
			associations: [{ callingAe: 'CT_SCANNER', peer: '10.1.2.3:4100', since: new Date(Date.now() - 30_000).toISOString() }],
			instances: 4,
			bytes: 10000,
			rejectedAssociations: [{ at: new Date().toISOString(), callingAe: 'ROGUE_AE', peer: '10.6.6.6:1', reason: 'calling AE not on the allow-list' }],
			failedObjects: []
		})}::text::jsonb)`;

		const page = await browser.newPage();
		await signIn(page, 'admin', ADMIN_PASSWORD);
		const res = await page.goto(`${app.baseUrl}/ingest`);
		expect(res?.status()).toBe(200);
		expect(await text(page, '[data-testid=rate-instances-1]')).toBe('3');
		expect(await text(page, '[data-testid=rate-instances-5]')).toBe('4');
		expect(await text(page, '[data-testid=rate-bytes-1]')).toBe('5.9 KB');
		expect(await text(page, '[data-testid=kpi-instances-rate]')).toBe('0.050');
		expect(await text(page, '[data-testid=kpi-associations]')).toBe('1');
		expect(await text(page, '[data-testid=associations]')).toContain('CT_SCANNER');
		expect(await text(page, '[data-testid=rejected]')).toContain('calling AE not on the allow-list');
		expect(await text(page, '[data-testid=failures]')).toContain('object without SOP Instance UID');
		const spark = page.locator('[data-testid=spark-instances]');
		expect(await spark.getAttribute('data-points')).toBe('60');
		expect(Number(await spark.getAttribute('data-peak'))).toBeGreaterThanOrEqual(1);
		expect(await page.locator('[data-testid=exam-review-link]').getAttribute('href')).toBe('/admin/exams');

		// New arrivals show up without a reload (5 s fallback refresh at the latest).
		await sql`INSERT INTO instances (sop_instance_uid, series_id, study_id, sop_class_uid, transfer_syntax_uid, blob_path, size_bytes, calling_ae, received_at)
			VALUES ('1.2.826.0.1.1.1.99', ${seriesId}, ${studyId}, '1.2.840.10008.5.1.4.1.1.2', '1.2.840.10008.1.2.1', 'blob', 500, 'CT_SCANNER', now())`;
		// (The 15 min window: robust against the seeded rows ageing out of the 1 min window meanwhile.)
		expect(await text(page, '[data-testid=rate-instances-15]')).toBe('4');
		await page.waitForFunction(() => document.querySelector('[data-testid=rate-instances-15]')?.textContent?.trim() === '5', null, { timeout: 15_000 });
		await page.close();
	});

	it('the admin maps the unknown exam: the waiting study is rewritten and the mapping is audited', async () => {
		const page = await browser.newPage();
		await signIn(page, 'admin', ADMIN_PASSWORD);
		await page.goto(`${app.baseUrl}/admin/exams`);
		const row = page.locator(`tr[data-review-key="CT|${KEY}"]`);
		expect(await row.textContent()).toContain(DESCRIPTION);
		await row.locator('select[name=examCode]').selectOption(TARGET.examCode);
		await row.locator('button[type=submit]').click();
		await page.waitForSelector('[data-testid=mapped]');
		expect(await text(page, '[data-testid=mapped]')).toContain('1 open study updated');
		expect(await page.locator(`tr[data-review-key="CT|${KEY}"]`).count()).toBe(0);
		expect(await text(page, '[data-testid=mappings]')).toContain(TARGET.examName);

		const [s] = await t.db.sql`SELECT exam_code, subspecialty, expected_read_minutes::float8 AS minutes FROM studies WHERE id = ${studyId}`;
		expect(s).toEqual({ exam_code: TARGET.examCode, subspecialty: TARGET.subspecialty, minutes: TARGET.expectedReadMinutes });
		const audits = await t.db.sql`SELECT username, target, details FROM audit_log WHERE action = 'exam.map'`;
		expect(audits).toEqual([{ username: 'admin', target: `exam_mapping:CT:${KEY}`, details: { examCode: TARGET.examCode, studiesUpdated: 1 } }]);
		await page.close();
	});

	it('the admin opens a raw message: one segment per line, markup shown as text, the read audited', async () => {
		const page = await browser.newPage();
		await signIn(page, 'admin', ADMIN_PASSWORD);
		await page.goto(`${app.baseUrl}/interfaces`);
		await page.click(`a[href="/interfaces/messages/${messageId}"]`);
		await page.waitForSelector('[data-testid=segments]');
		const lines = await page.locator('[data-testid=segments] li').allTextContents();
		expect(lines).toEqual(ORM.split('\r'));
		expect(await page.locator('[data-testid=segments] b, [data-testid=segments] script').count()).toBe(0);
		const audits = await t.db.sql`SELECT username, target FROM audit_log WHERE action = 'hl7.view_raw'`;
		expect(audits).toEqual([{ username: 'admin', target: `hl7_message:${messageId}` }]);
		await page.close();
	});

	it('a manager may open Interfaces but gets 403 on raw messages and on Ingest', async () => {
		const page = await browser.newPage();
		await signIn(page, 'manny', 'manager-password-1');
		expect((await page.goto(`${app.baseUrl}/interfaces/messages/${messageId}`))?.status()).toBe(403);
		expect((await page.goto(`${app.baseUrl}/ingest`))?.status()).toBe(403);
		const res = await page.goto(`${app.baseUrl}/interfaces`);
		expect(res?.status()).toBe(200);
		expect(await text(page, '[data-testid=senders]')).toContain('RIS^MAIN');
		expect(await text(page, '[data-testid=nacks]')).toContain('PID-3 missing');
		expect(await page.locator('a[href^="/interfaces/messages/"]').count()).toBe(0);
		const [{ n }] = await t.db.sql`SELECT count(*)::int AS n FROM audit_log WHERE action = 'hl7.view_raw'`;
		expect(n).toBe(1);
		await page.close();
	});
});
