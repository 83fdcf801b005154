/**
 * Sessions, login throttling, CSRF and security headers against a real
 * `radflow web`, plus the Content-Security-Policy in a real Chromium: the
 * dashboard still renders, goes live and raises no CSP violation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { launchBrowser, signIn, startRadflow, type RunningRadflow } from '../helpers/server';
import { createUser, login, LOGIN_MAX_FAILURES, LOGIN_MAX_FAILURES_PER_IP, SESSION_ABSOLUTE_MS, SESSION_COOKIE, sessionId, userForSession } from '../../src/lib/server/auth/users';
import { AuthError } from '../../src/lib/server/auth/errors';
import { discoverEndpoints } from './routes';

let t: TestDatabase;
let app: RunningRadflow;
const system = { userId: null, username: 'test', role: null };
const PASSWORD = 'session-password-1';

beforeAll(async () => {
	t = await createTestDatabase('session');
	for (const [username, role] of [['sam', 'admin'], ['tess', 'charge'], ['locked', 'manager'], ['cspadmin', 'admin']] as const) {
		await createUser(t.db.sql, { username, role, password: PASSWORD }, system);
	}
	app = await startRadflow(['web'], { DATABASE_URL: t.url, RADFLOW_ADMIN_PASSWORD: 'session-admin-password' });
}, 300_000);
afterAll(async () => {
	await app?.stop();
	await t?.drop();
});

/** Submit the login form as a browser without JavaScript would. */
function postLogin(username: string, password: string, headers: Record<string, string> = {}) {
	return fetch(`${app.baseUrl}/login`, {
		method: 'POST',
		redirect: 'manual',
		headers: { origin: app.baseUrl, accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded', ...headers },
		body: new URLSearchParams({ username, password })
	});
}
const tokenOf = (res: Response) => /radflow_session=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1] ?? null;
const get = (path: string, token: string | null, headers: Record<string, string> = {}) =>
	fetch(`${app.baseUrl}${path}`, { redirect: 'manual', headers: { ...(token ? { cookie: `${SESSION_COOKIE}=${token}` } : {}), ...headers } });

describe('session cookie', () => {
	it('is HttpOnly, SameSite=Strict, scoped to /, capped at the absolute lifetime, and not Secure over plain http', async () => {
		const res = await postLogin('sam', PASSWORD);
		expect(res.status).toBe(303);
		const cookie = res.headers.get('set-cookie')!;
		expect(cookie).toMatch(/HttpOnly/i);
		expect(cookie).toMatch(/SameSite=Strict/i);
		expect(cookie).toMatch(/Path=\//);
		expect(cookie).toMatch(new RegExp(`Max-Age=${SESSION_ABSOLUTE_MS / 1000}`));
		expect(cookie).not.toMatch(/Secure/i);
	});

	it('is Secure, and HSTS is sent, when a TLS proxy says the request came over https', async () => {
		const res = await postLogin('sam', PASSWORD, { 'x-forwarded-proto': 'https', origin: app.baseUrl.replace('http:', 'https:') });
		expect(res.status).toBe(303);
		expect(res.headers.get('set-cookie')).toMatch(/; Secure/i);
		expect(res.headers.get('strict-transport-security')).toMatch(/max-age=31536000/);
		expect((await get('/login', null)).headers.get('strict-transport-security')).toBeNull();
	});

	it('rotates on login: the token the browser held before stops working', async () => {
		const first = tokenOf(await postLogin('tess', PASSWORD))!;
		expect((await get('/', first)).status).toBe(200);
		const second = await fetch(`${app.baseUrl}/login`, {
			method: 'POST',
			redirect: 'manual',
			headers: { origin: app.baseUrl, accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded', cookie: `${SESSION_COOKIE}=${first}` },
			body: new URLSearchParams({ username: 'tess', password: PASSWORD })
		});
		const fresh = tokenOf(second)!;
		expect(fresh).not.toBe(first);
		expect((await get('/', first)).status).toBe(303);
		expect((await get('/', fresh)).status).toBe(200);
	});

	it('logout ends the session on the server: replaying the old cookie gets the login page', async () => {
		const token = tokenOf(await postLogin('tess', PASSWORD))!;
		const out = await fetch(`${app.baseUrl}/logout`, { method: 'POST', redirect: 'manual', headers: { origin: app.baseUrl, cookie: `${SESSION_COOKIE}=${token}` } });
		expect(out.status).toBe(303);
		expect(out.headers.get('set-cookie')).toMatch(/radflow_session=;.*Max-Age=0/i);
		const [{ n }] = await t.db.sql`SELECT count(*)::int AS n FROM sessions WHERE id = ${sessionId(token)}`;
		expect(n).toBe(0);
		const replay = await get('/worklist', token);
		expect(replay.status).toBe(303);
		expect(replay.headers.get('location')).toBe('/login?next=%2Fworklist');
	});

	it('ends after the idle limit and after the absolute limit, whichever comes first', async () => {
		const idle = tokenOf(await postLogin('tess', PASSWORD))!;
		await t.db.sql`UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = ${sessionId(idle)}`;
		expect((await get('/', idle)).status).toBe(303);
		expect((await get('/api/studies/1', idle)).status).toBe(401);

		// Busy all shift: activity never carries a session past its absolute lifetime.
		const busy = tokenOf(await postLogin('tess', PASSWORD))!;
		await t.db.sql`UPDATE sessions SET created_at = now() - interval '12 hours 1 minute', expires_at = now() + interval '30 minutes' WHERE id = ${sessionId(busy)}`;
		expect((await get('/', busy)).status).toBe(303);
	});

	it('slides the idle deadline on activity, never past the absolute limit', async () => {
		const start = new Date('2030-01-01T08:00:00Z');
		const { token } = await login(t.db.sql, 'tess', PASSWORD, { ip: '10.0.0.1' }, start);
		const at = (h: number) => new Date(start.getTime() + h * 3_600_000);
		// Used every 50 minutes for 11.5 hours: still signed in.
		for (let m = 50; m <= 690; m += 50) expect(await userForSession(t.db.sql, token, new Date(start.getTime() + m * 60_000)), `minute ${m}`).not.toBeNull();
		expect(await userForSession(t.db.sql, token, at(12.01))).toBeNull();
		const [row] = await t.db.sql`SELECT expires_at FROM sessions WHERE id = ${sessionId(token)}`;
		expect((row.expires_at as Date).getTime()).toBeLessThanOrEqual(start.getTime() + SESSION_ABSOLUTE_MS);
	});
});

describe('login throttling', () => {
	it('refuses an account after repeated failures with a "try again in N s" message, Retry-After, and an audit row', async () => {
		for (let i = 0; i < LOGIN_MAX_FAILURES; i++) expect((await postLogin('locked', 'wrong-password-xx')).status).toBe(401);
		const res = await postLogin('locked', PASSWORD);
		expect(res.status).toBe(429);
		const retry = Number(res.headers.get('retry-after'));
		expect(retry).toBeGreaterThan(0);
		expect(retry).toBeLessThanOrEqual(15 * 60);
		expect(await res.text()).toMatch(/Too many failed sign-ins for this account: try again in \d+ s/);
		const [audit] = await t.db.sql`SELECT details FROM audit_log WHERE action = 'auth.login_throttled' AND target = 'user:locked'`;
		expect(audit.details).toMatchObject({ scope: 'account' });
	});

	it('the count lives in the database: another web instance (here: this process) refuses the same account', async () => {
		const err = await login(t.db.sql, 'locked', PASSWORD, { ip: '10.7.7.7' }).catch((e) => e);
		expect(err).toBeInstanceOf(AuthError);
		expect(err.status).toBe(429);
	});

	it('refuses an address after failures across many usernames, with its own message', async () => {
		const ip = '192.0.2.44';
		for (let i = 0; i < LOGIN_MAX_FAILURES_PER_IP; i++) {
			await expect(login(t.db.sql, `nobody-${i}`, 'whatever-password', { ip })).rejects.toMatchObject({ code: 'bad_credentials' });
		}
		const err = await login(t.db.sql, 'sam', PASSWORD, { ip }).catch((e) => e);
		expect(err).toMatchObject({ code: 'rate_limited', status: 429 });
		expect(err.message).toMatch(/for your address: try again in \d+ s/);
		// The same account from another address is not affected.
		await expect(login(t.db.sql, 'sam', PASSWORD, { ip: '192.0.2.45' })).resolves.toHaveProperty('token');
	});
});

describe('CSRF', () => {
	it('refuses every mutating endpoint, and PUT/PATCH/DELETE anywhere, from another origin even with a valid admin session; nothing is audited', async () => {
		const token = tokenOf(await postLogin('sam', PASSWORD))!;
		const before = (await t.db.sql`SELECT count(*)::int AS n FROM audit_log`)[0].n;
		const mutating = (await discoverEndpoints()).filter((k) => !k.startsWith('GET '));
		const pages = (await discoverEndpoints()).filter((k) => k.startsWith('GET ')).map((k) => k.slice(4));
		const targets = [
			...mutating.map((k) => ({ method: k.split(' ')[0], path: k.split(' ')[1] })),
			...['PUT', 'PATCH', 'DELETE'].flatMap((method) => [...pages, '/api/studies/1', '/api/readers/1/status'].map((path) => ({ method, path })))
		];
		expect(mutating.length).toBeGreaterThan(10);
		for (const { method, path } of targets) {
			const concrete = path.replace(/\[id\]/g, '1').replace('[decision]', 'confirm');
			const forgeries: Record<string, string>[] = [{ origin: 'https://evil.example' }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }];
			for (const forged of forgeries) {
				const res = await fetch(`${app.baseUrl}${concrete}`, {
					method,
					redirect: 'manual',
					headers: { cookie: `${SESSION_COOKIE}=${token}`, 'content-type': 'application/x-www-form-urlencoded', ...forged },
					body: 'username=csrf-victim&role=admin'
				});
				expect(res.status, `${method} ${concrete} with ${JSON.stringify(forged)}`).toBe(403);
			}
		}
		const after = (await t.db.sql`SELECT count(*)::int AS n FROM audit_log`)[0].n;
		expect(after).toBe(before);
		const [{ n }] = await t.db.sql`SELECT count(*)::int AS n FROM users WHERE username = 'csrf-victim'`;
		expect(n).toBe(0);
	});
});

describe('security headers', () => {
	it('pages carry a nonce-based CSP without unsafe-inline scripts, and the framing, sniffing and caching guards', async () => {
		const token = tokenOf(await postLogin('sam', PASSWORD))!;
		const res = await get('/worklist', token);
		expect(res.status).toBe(200);
		const csp = res.headers.get('content-security-policy')!;
		expect(csp).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=]+'/);
		expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
		expect(csp).toMatch(/frame-ancestors 'none'/);
		expect(csp).toMatch(/object-src 'none'/);
		expect(csp).toMatch(/connect-src 'self'/);
		const html = await res.text();
		const nonce = /'nonce-([^']+)'/.exec(csp)![1];
		// Every inline script SvelteKit wrote carries this response's nonce.
		for (const tag of html.match(/<script(?![^>]*\bsrc=)[^>]*>/g) ?? []) expect(tag).toContain(`nonce="${nonce}"`);
		expect(res.headers.get('x-frame-options')).toBe('DENY');
		expect(res.headers.get('x-content-type-options')).toBe('nosniff');
		expect(res.headers.get('referrer-policy')).toBe('same-origin');
		expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
		expect(res.headers.get('cache-control')).toMatch(/no-store/);
	});

	it('refusals and JSON carry the headers too, with a policy that allows nothing', async () => {
		for (const res of [await get('/api/studies/1', null), await get('/worklist', null), await fetch(`${app.baseUrl}/healthz`)]) {
			expect(res.headers.get('x-content-type-options')).toBe('nosniff');
			expect(res.headers.get('x-frame-options')).toBe('DENY');
			expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
		}
	});
});

describe('Content-Security-Policy in a real browser', () => {
	it('the dashboard renders, goes live over socket.io and reports no CSP violation', async () => {
		const browser = await launchBrowser();
		try {
			const page = await browser.newPage();
			const violations: string[] = [];
			page.on('console', (m) => {
				if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
			});
			page.on('pageerror', (e) => violations.push(String(e)));
			await signIn(page, app.baseUrl, 'cspadmin', PASSWORD);
			for (const path of ['/', '/worklist', '/events', '/sla', '/criticals', '/interfaces', '/admin/policy']) {
				await page.goto(`${app.baseUrl}${path}`);
				await page.waitForSelector('[data-testid=role]');
			}
			await page.goto(`${app.baseUrl}/events`);
			await page.waitForSelector('.live-dot.on');
			expect(violations).toEqual([]);
		} finally {
			await browser.close();
		}
	});
});
