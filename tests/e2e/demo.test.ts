/**
 * The one-command demo, end to end: `radflow demo` (every role plus the
 * simulated hospital network over real HL7 and DICOM) against a test database,
 * and the manager's overview in Chromium: simulated data on it within a minute
 * of starting, and the page following live traffic without a reload.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { launchBrowser, startRadflow, type RunningRadflow } from '../helpers/server';
import { freePort } from '../../src/lib/server/db/embedded';
import { StudyEventKind } from '../../src/lib/domain/study/lifecycle';
import { buildNetwork } from '../../workers/simulator/network';

const ADMIN_PASSWORD = 'admin-password-for-demo-test';
/** The first KPIs must show simulated data within this long of `radflow demo` being started. */
const FIRST_DATA_MS = 60_000;

let t: TestDatabase;
let app: RunningRadflow;
let browser: Browser;
let page: Page;
let spawnedAt = 0;

/** What the overview shows from the traffic: the waiting KPI card, reports today, and the hourly arrival bars. */
interface OverviewReading {
	waiting: number;
	withReader: number;
	reportedToday: number;
	arrivalBars: number[];
	queueText: string;
}

function readOverview(p: Page): Promise<OverviewReading> {
	return p.evaluate(() => {
		const num = (s: string | null | undefined) => Number(/-?\d+/.exec(s ?? '')?.[0] ?? NaN);
		const waitingCard = document.querySelector('[data-testid=kpi-waiting]');
		const reported = [...document.querySelectorAll('.kpi')].find((k) => k.querySelector('.label')?.textContent?.includes('Reported today'));
		return {
			waiting: num(waitingCard?.querySelector('.value')?.textContent),
			withReader: num(waitingCard?.querySelector('.muted')?.textContent),
			reportedToday: num(reported?.querySelector('.value')?.textContent),
			arrivalBars: [...document.querySelectorAll('[data-testid=throughput-chart] rect.arrivals')].map((r) => Number(r.getAttribute('height'))),
			queueText: document.querySelector('[data-testid=queue-chart]')?.textContent ?? ''
		};
	});
}

beforeAll(async () => {
	t = await createTestDatabase('demo');
	const [dicomPort, hl7Port] = [await freePort(), await freePort()];
	spawnedAt = Date.now();
	app = await startRadflow(
		['demo', '--backfill', '1d', '--speed', '120', '--no-self-assign'],
		{
			DATABASE_URL: t.url,
			RADFLOW_ADMIN_PASSWORD: ADMIN_PASSWORD,
			DICOM_PORT: String(dicomPort),
			HL7_PORT: String(hl7Port),
			// Live studies complete a few seconds after their last image, so the test sees them within its budget.
			DICOM_STABILITY_SECONDS: '3'
		},
		/live traffic started/,
		120_000
	);
	browser = await launchBrowser();
	page = await browser.newPage();
	await page.goto(`${app.baseUrl}/login`);
	await page.fill('input[name=username]', 'admin');
	await page.fill('input[name=password]', ADMIN_PASSWORD);
	await page.click('button[type=submit]');
	await page.waitForSelector('[data-testid=role]');
}, 200_000);

afterAll(async () => {
	await browser?.close();
	await app?.stop();
	await t?.drop();
});

describe('radflow demo and the overview', () => {
	it('shows the simulated network on the overview within a minute of starting', async () => {
		expect(new URL(page.url()).pathname).toBe('/');
		await page.waitForSelector('.live-dot.on');
		const sites = buildNetwork().sites.map((s) => s.id);
		// No reload: the numbers arrive through the live feed if the page was opened before the data.
		await page.waitForFunction(
			(siteIds) => {
				const card = document.querySelector('[data-testid=kpi-waiting]');
				const n = (s: string | null | undefined) => Number(/\d+/.exec(s ?? '')?.[0] ?? 0);
				const open = n(card?.querySelector('.value')?.textContent) + n(card?.querySelector('.muted')?.textContent);
				const bars = [...document.querySelectorAll('[data-testid=throughput-chart] rect.arrivals')].some((r) => Number(r.getAttribute('height')) > 0);
				const queue = document.querySelector('[data-testid=queue-chart]')?.textContent ?? '';
				return open > 0 && bars && siteIds.some((s) => queue.includes(s));
			},
			sites,
			{ timeout: Math.max(1000, spawnedAt + FIRST_DATA_MS - Date.now()), polling: 250 }
		);
		const r = await readOverview(page);
		expect(r.waiting + r.withReader).toBeGreaterThan(0);
		expect(r.arrivalBars.filter((h) => h > 0).length).toBeGreaterThan(0);
		// The open studies on the page are the simulator's: the database agrees there are open studies at its sites.
		const [{ n }] = await t.db.sql`SELECT count(*)::int AS n FROM studies
			WHERE status IN ('complete', 'triaged', 'assigned', 'opened') AND site_id = ANY(${sites}::text[])`;
		expect(n).toBeGreaterThan(0);
	}, FIRST_DATA_MS + 10_000);

	it('follows new simulated traffic without a reload', async () => {
		// History first, so what changes next comes from live traffic, not the bulk backfill.
		const deadline = Date.now() + 30_000;
		while (!/backfill done/.test(app.output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
		expect(app.output()).toMatch(/backfill done/);

		let navigations = 0;
		page.on('framenavigated', (f) => {
			if (f === page.mainFrame()) navigations++;
		});
		await page.evaluate(() => ((window as unknown as { __sameDocument: string }).__sameDocument = 'kept'));
		const before = await readOverview(page);
		const [{ last }] = await t.db.sql`SELECT coalesce(max(id), 0)::bigint AS last FROM study_events`;

		await page.waitForFunction(
			(b) => {
				const n = (s: string | null | undefined) => Number(/-?\d+/.exec(s ?? '')?.[0] ?? NaN);
				const card = document.querySelector('[data-testid=kpi-waiting]');
				const reported = [...document.querySelectorAll('.kpi')].find((k) => k.querySelector('.label')?.textContent?.includes('Reported today'));
				const bars = [...document.querySelectorAll('[data-testid=throughput-chart] rect.arrivals')].map((r) => Number(r.getAttribute('height')));
				return (
					n(card?.querySelector('.value')?.textContent) !== b.waiting ||
					n(card?.querySelector('.muted')?.textContent) !== b.withReader ||
					n(reported?.querySelector('.value')?.textContent) !== b.reportedToday ||
					bars.join(',') !== b.arrivalBars.join(',')
				);
			},
			before,
			{ timeout: 60_000, polling: 250 }
		);
		const after = await readOverview(page);
		expect(after).not.toEqual(before);
		// Same document: no reload, no navigation.
		expect(await page.evaluate(() => (window as unknown as { __sameDocument?: string }).__sameDocument)).toBe('kept');
		expect(navigations).toBe(0);
		// And the change came with live ingest: the simulator's HL7 and DICOM produced new study events.
		const ingestKinds = [StudyEventKind.orderPlaced, StudyEventKind.imageReceived, StudyEventKind.complete, StudyEventKind.reported];
		const [{ n }] = await t.db.sql`SELECT count(*)::int AS n FROM study_events WHERE id > ${Number(last)} AND kind = ANY(${ingestKinds}::text[])`;
		expect(n).toBeGreaterThan(0);
	}, 100_000);
});
