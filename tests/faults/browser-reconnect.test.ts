/**
 * The event stream page across a web-server crash: kill -9 the web role while
 * events keep committing (more than one catch-up page of them while it is
 * down), start it again; the open page reconnects by itself, without a reload,
 * and shows every committed event exactly once, newest first, no gap.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { chromiumAvailable, launchBrowser, signIn } from '../helpers/server';
import { freePort } from '../../src/lib/server/db/embedded';
import { insertEvents } from '../../src/lib/server/events/store';
import { CATCHUP_LIMIT } from '../../src/lib/server/realtime/hub';
import { RoleSet } from './harness/roles';
import './harness/figures';

const ADMIN_PASSWORD = 'faults-admin-password';
/** The page keeps the newest 500 rows; the check reads them all. */
const PAGE_ROWS = 500;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let t: TestDatabase;
let dir: string;
let roles: RoleSet;
let browser: Browser;
let port: number;

beforeAll(async () => {
	t = await createTestDatabase('faults_browser');
	dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radflow-faults-web-'));
	port = await freePort();
	roles = new RoleSet(['web'], { DATABASE_URL: t.url, RADFLOW_DATA_DIR: path.join(dir, 'data'), PORT: String(port), RADFLOW_ADMIN_PASSWORD: ADMIN_PASSWORD }, path.join(dir, 'logs'));
	await roles.startAll();
	browser = await launchBrowser();
}, 240_000);

afterAll(async () => {
	await browser?.close();
	await roles?.stopAll();
	await t?.drop();
	if (process.env.FAULTS_KEEP !== '1') fs.rmSync(dir, { recursive: true, force: true });
});

/** Commits events through the one write path, a few at a time, until stopped. */
function eventWriter(label: string) {
	let stopped = false;
	let written = 0;
	const run = (async () => {
		while (!stopped) {
			const n = 1 + (written % 3);
			await t.db.sql.begin((tx) =>
				insertEvents(
					tx,
					Array.from({ length: n }, (_, i) => ({ time: new Date().toISOString(), studyId: null, kind: 'fault_probe', actor: `${label}-${written + i}` }))
				)
			);
			written += n;
			await sleep(80);
		}
	})();
	return {
		written: () => written,
		async stop() {
			stopped = true;
			await run;
		}
	};
}

it('the event stream catches up after the web server is killed and restarted: no gap, no duplicate, in order, no reload', async ({ task, skip }) => {
	if (!chromiumAvailable()) skip('chromium is not installed');
	const sql = t.db.sql;
	const baseUrl = `http://127.0.0.1:${port}`;
	const page = await browser.newPage();
	await signIn(page, baseUrl, 'admin', ADMIN_PASSWORD);
	await page.goto(`${baseUrl}/events`);
	await page.waitForSelector('.live-dot.on');
	await page.evaluate(() => ((window as unknown as { faultMarker: string }).faultMarker = 'same page'));
	const [{ start }] = await sql<{ start: number }[]>`SELECT coalesce(max(id), 0)::int AS start FROM study_events`;

	const writer = eventWriter('live');
	await sleep(1500);
	const web = roles.get('web');
	await web.kill9();
	const downAt = Date.now();
	// While it is down: more than one catch-up page at once, and the writer keeps going.
	await sql.begin((tx) =>
		insertEvents(
			tx,
			Array.from({ length: CATCHUP_LIMIT + 200 }, (_, i) => ({ time: new Date().toISOString(), studyId: null, kind: 'fault_probe_bulk', actor: `down-${i}` }))
		)
	);
	await sleep(1000);
	await web.start();
	const downMs = Date.now() - downAt;
	await page.waitForSelector('.live-dot.on', { timeout: 30_000 });
	await sleep(2000);
	await writer.stop();

	const [{ last }] = await sql<{ last: number }[]>`SELECT max(id)::int AS last FROM study_events`;
	const caughtUp = await page
		.waitForSelector(`tr[data-event-id="${last}"]`, { timeout: 30_000 })
		.then(() => true)
		.catch(() => false);
	const shown = await page.$$eval('tr[data-event-id]', (rows) => rows.map((r) => Number(r.getAttribute('data-event-id'))));
	const expected = (await sql<{ id: number }[]>`SELECT id::int AS id FROM study_events WHERE id > ${start} ORDER BY id DESC LIMIT ${PAGE_ROWS}`).map((r) => r.id);
	const marker = await page.evaluate(() => (window as unknown as { faultMarker?: string }).faultMarker);
	const missing = expected.filter((id) => !shown.includes(id));
	const duplicated = shown.length - new Set(shown).size;
	const outOfOrder = shown.filter((id, i) => i > 0 && id >= shown[i - 1]).length;
	const [{ committed }] = await sql<{ committed: number }[]>`SELECT count(*)::int AS committed FROM study_events WHERE id > ${start}`;

	task.meta.faults = {
		scenario: 'browser_reconnect',
		faults_injected: 1,
		sent: 0,
		acked: 0,
		stored: 0,
		lost: missing.length,
		duplicates: duplicated,
		events_committed: committed,
		events_written_while_down_bulk: CATCHUP_LIMIT + 200,
		web_down_ms: downMs,
		rows_checked: expected.length,
		missing: missing.length,
		out_of_order: outOfOrder,
		caught_up: caughtUp,
		reloaded: marker !== 'same page'
	};
	process.stderr.write(`browser_reconnect: ${JSON.stringify(task.meta.faults)}\nmissing (first 20): ${missing.slice(0, 20).join(', ')}\n`);

	expect(marker, 'the page was reloaded').toBe('same page');
	expect(caughtUp, 'the newest event never appeared').toBe(true);
	expect(missing).toEqual([]);
	expect(duplicated).toBe(0);
	expect(outOfOrder, 'rows not newest first').toBe(0);
	expect(shown).toEqual(expected);
	await page.close();
});
