/**
 * Authorization matrix: every HTTP endpoint (read from src/routes, see
 * routes.ts) and every socket.io event, for every kind of caller: no session,
 * an expired session, manager, charge radiologist, admin. Each cell asserts
 * the status, and that an allowed mutation (or an audited read) wrote its
 * audit row under the caller's name.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { ROOT, startRadflow, type RunningRadflow } from '../helpers/server';
import { createUser, login, SESSION_COOKIE, sessionId } from '../../src/lib/server/auth/users';
import { can, Permission, type Role } from '../../src/lib/domain/auth/roles';
import { seedReader, seedSites, seedStudy, type StudySeed } from '../../src/lib/server/routing/testing';
import { EXAM_CATALOG } from '../../src/lib/domain/exams/catalog';
import { applyExamMapping } from '../../src/lib/server/queries/exams';
import { candidateHash } from '../../src/lib/server/routing/replay-data';
import { currentPolicy } from '../../src/lib/server/routing/policy-store';
import type { ClientToServerEvents, ServerToClientEvents } from '../../src/lib/server/realtime/protocol';
import { discoverEndpoints } from './routes';

const Caller = { anonymous: 'anonymous', expired: 'expired', manager: 'manager', charge: 'charge', admin: 'admin' } as const;
type Caller = (typeof Caller)[keyof typeof Caller];
const CALLERS = Object.values(Caller);
const USERS: Record<Role, { username: string; password: string }> = {
	manager: { username: 'matrix-manager', password: 'manager-password-1' },
	charge: { username: 'matrix-charge', password: 'charge-password-1' },
	admin: { username: 'matrix-admin', password: 'admin-password-12' }
};
const ADMIN_PASSWORD = 'first-admin-password';
const DICOMWEB_TOKEN = 'matrix-dicomweb-token';
/** A username the wrong-password probes target (five of them stay under the per-account limit). */
const LOGIN_PROBE = 'matrix-login-probe';

let t: TestDatabase;
let app: RunningRadflow;
const cookies = {} as Record<Caller, string | null>;
const NOW = Date.now();
let readerId: number;
let seq = 0;
const unique = (p: string) => `${p}-${++seq}-${NOW.toString(36)}`;

interface Req {
	path: string;
	method?: string;
	json?: unknown;
	form?: Record<string, string>;
	headers?: Record<string, string>;
	/** Send this cookie instead of the caller's (a throwaway session for logout). */
	cookie?: string | null;
}

/**
 * Who may call an endpoint: a permission, any signed-in user, or anyone
 * (`public`, where the endpoint itself decides, e.g. login and health).
 */
type Access = Permission | 'signed_in' | 'public';

interface Spec {
	access: Access;
	/** Audit action an allowed caller's success must write. */
	audit?: string;
	/** Whose name the audit row carries, when not the caller's. */
	auditUser?: string;
	/** Statuses an allowed caller gets (default 200). */
	ok?: number[];
	request(caller: Caller): Promise<Req> | Req;
	/** Exceptions to the generic expectation, per caller. */
	expect?: Partial<Record<Caller, number>>;
}

const page = (access: Access = Permission.view): Spec => ({ access, request: () => ({ path: '' }) });
const actionPath = (key: string) => key.slice('POST '.length);

async function newStudy(extra: Partial<StudySeed> = {}) {
	const id = await seedStudy(t.db.sql, NOW, { accession: unique('MX'), subspecialty: 'neuro', site: 'main', status: 'triaged', ...extra });
	const [{ version }] = await t.db.sql`SELECT version FROM studies WHERE id = ${id}`;
	return { id, version: Number(version) };
}

async function newCriticalFlag(): Promise<number> {
	const sql = t.db.sql;
	const { id } = await newStudy({ priority: 'stat', critical: 'pending' });
	const raised = new Date(NOW - 60_000);
	await sql`INSERT INTO ai_results (study_id, model_id, model_version, backend, mode, score, label, critical, status, latency_ms, created_at)
		VALUES (${id}, 'ich-ct-demo', '1.0.0', 'wasm', 'active', 0.93, 'hemorrhage', true, 'ok', 120, ${raised})`;
	const [f] = await sql`INSERT INTO critical_flags (study_id, model_id, model_version, finding, score, status, raised_at, image_to_alert_ms)
		VALUES (${id}, 'ich-ct-demo', '1.0.0', 'hemorrhage', 0.93, 'pending', ${raised}, 40000) RETURNING id`;
	return f.id as number;
}

const shippedManifest = () => JSON.parse(fs.readFileSync(path.join(ROOT, 'models/ich-ct-demo/1.0.0/manifest.json'), 'utf8'));
const PROBE_MODEL = 'authz-probe';
async function probeModelVersion(): Promise<string> {
	const version = `1.0.${++seq}`;
	const manifest = { ...shippedManifest(), id: PROBE_MODEL, version, runtime: { kind: 'remote', url: 'http://127.0.0.1:9/', protocol: 'kserve-v2', modelName: 'probe' } };
	const res = await send(Caller.admin, { path: '/admin/models?/add', form: { manifest: JSON.stringify(manifest), makeCurrent: 'on' } });
	expect(res.status).toBe(200);
	return version;
}

async function candidatePolicy(): Promise<string> {
	const { policy } = await currentPolicy(t.db.sql);
	return JSON.stringify(policy);
}

const localInput = (ms: number) => new Date(ms).toISOString().slice(0, 16);
async function shiftForm(): Promise<Record<string, string>> {
	const start = NOW + 3 * 86_400_000 + seq++ * 6 * 3_600_000;
	return { radiologist: String(readerId), site: 'main', subspecialty: 'neuro', start: localInput(start), end: localInput(start + 4 * 3_600_000), reason: 'matrix' };
}
async function newShift(): Promise<number> {
	const f = await shiftForm();
	const [row] = await t.db.sql`INSERT INTO shifts (radiologist_id, site_id, subspecialty, starts_at, ends_at)
		VALUES (${readerId}, 'main', 'neuro', ${new Date(f.start + 'Z')}, ${new Date(f.end + 'Z')}) RETURNING id`;
	return row.id as number;
}

async function newHl7Message(): Promise<number> {
	const [row] = await t.db.sql`INSERT INTO hl7_messages (sender, control_id, message_type, received_at, ack_code, raw)
		VALUES ('RIS|MERCY', ${unique('CTRL')}, 'ORM^O01', now(), 'AA', 'MSH|^~\\&|RIS|MERCY|||20250101||ORM^O01|X|P|2.3\rPID|1||MRN1||DOE^JANE') RETURNING id`;
	return row.id as number;
}

/** A fresh session for the caller's user, so logging it out leaves the matrix sessions alone. */
async function throwawaySession(caller: Caller): Promise<string | null> {
	if (caller === Caller.anonymous) return null;
	if (caller === Caller.expired) return cookies.expired;
	const u = USERS[caller];
	const { token } = await login(t.db.sql, u.username, u.password, { ip: '127.0.0.9' });
	return `${SESSION_COOKIE}=${token}`;
}

/** Every endpoint, keyed as routes.ts names them. The test fails when the filesystem and this table disagree. */
const SPECS: Record<string, Spec> = {
	'GET /': page(),
	'GET /admin': page(Permission.administer),
	'GET /admin/audit': page(Permission.administer),
	'GET /admin/exams': page(Permission.administer),
	'GET /admin/models': page(Permission.administer),
	'GET /admin/policy': page(Permission.administer),
	'GET /admin/shifts': page(Permission.administer),
	'GET /admin/users': page(Permission.administer),
	'GET /criticals': page(),
	'GET /events': page(),
	'GET /forecast': page(),
	'GET /ingest': page(Permission.administer),
	'GET /interfaces': page(),
	'GET /sla': page(),
	'GET /worklist': page(),
	'GET /interfaces/messages/[id]': {
		access: Permission.viewRawMessages,
		audit: 'hl7.view_raw',
		request: async () => ({ path: `/interfaces/messages/${await newHl7Message()}` })
	},
	'GET /login': { access: 'public', request: () => ({ path: '/login' }), expect: { manager: 303, charge: 303, admin: 303 } },
	'POST /login?/default': {
		// A wrong password for another account: refused and audited whoever asks, and the caller's own session survives.
		access: 'public',
		ok: [401],
		audit: 'auth.login_failed',
		auditUser: LOGIN_PROBE,
		// Signed-in callers are then sent home by the login page's load (a failed attempt never touches their session).
		expect: { manager: 303, charge: 303, admin: 303 },
		request: () => ({ path: '/login', form: { username: LOGIN_PROBE, password: 'not-the-password' } })
	},
	'POST /logout': {
		access: 'signed_in',
		ok: [303],
		audit: 'auth.logout',
		request: async (caller) => ({ path: '/logout', cookie: await throwawaySession(caller) })
	},
	'GET /healthz': { access: 'public', request: () => ({ path: '/healthz' }) },
	'GET /api/studies/[id]': {
		access: Permission.view,
		audit: 'study.view',
		request: async () => ({ path: `/api/studies/${(await newStudy()).id}` })
	},
	'POST /api/readers/[id]/status': {
		access: Permission.steerWorklist,
		audit: 'reader.pause',
		request: async () => {
			await t.db.sql`UPDATE radiologists SET status = 'reading' WHERE id = ${readerId}`;
			return { path: `/api/readers/${readerId}/status`, json: { status: 'paused', reason: 'matrix' } };
		}
	},
	'POST /api/studies/[id]/hold': {
		access: Permission.steerWorklist,
		audit: 'study.hold',
		request: async () => {
			const s = await newStudy();
			return { path: `/api/studies/${s.id}/hold`, json: { hold: true, reason: 'waiting for priors', expectedVersion: s.version } };
		}
	},
	'POST /api/studies/[id]/priority': {
		access: Permission.steerWorklist,
		audit: 'study.priority',
		request: async () => {
			const s = await newStudy();
			return { path: `/api/studies/${s.id}/priority`, json: { priority: 'stat', reason: 'clinical call', expectedVersion: s.version } };
		}
	},
	'POST /api/studies/[id]/assign': {
		access: Permission.steerWorklist,
		audit: 'study.assign',
		request: async () => {
			const s = await newStudy();
			return { path: `/api/studies/${s.id}/assign`, json: { readerId, expectedVersion: s.version } };
		}
	},
	'POST /api/studies/[id]/release': {
		access: Permission.steerWorklist,
		audit: 'study.release',
		request: async () => {
			const s = await newStudy();
			const r = await send(Caller.admin, { path: `/api/studies/${s.id}/assign`, json: { readerId, expectedVersion: s.version } });
			expect(r.status).toBe(200);
			const [{ version }] = await t.db.sql`SELECT version FROM studies WHERE id = ${s.id}`;
			return { path: `/api/studies/${s.id}/release`, json: { expectedVersion: Number(version) } };
		}
	},
	'POST /criticals/[id]/[decision]': {
		access: Permission.decideCriticals,
		audit: 'critical.confirm',
		request: async () => ({ path: `/criticals/${await newCriticalFlag()}/confirm`, json: {} })
	},
	'POST /admin/exams?/map': {
		access: Permission.administer,
		audit: 'exam.map',
		request: () => ({ path: '/admin/exams?/map', form: { modality: 'CT', descriptionKey: unique('ct probe'), examCode: EXAM_CATALOG[0].examCode } })
	},
	'POST /admin/exams?/unmap': {
		access: Permission.administer,
		audit: 'exam.unmap',
		request: async () => {
			const descriptionKey = unique('ct unmap');
			const system = { id: 0, username: 'fixture', displayName: 'fixture', role: 'admin' as const };
			await t.db.sql.begin((tx) => applyExamMapping(tx, system, { modality: 'CT', descriptionKey, examCode: EXAM_CATALOG[0].examCode }));
			return { path: '/admin/exams?/unmap', form: { modality: 'CT', descriptionKey } };
		}
	},
	'POST /admin/models?/add': {
		access: Permission.administer,
		audit: 'model.add_version',
		request: () => {
			const manifest = { ...shippedManifest(), id: PROBE_MODEL, version: `2.0.${++seq}`, runtime: { kind: 'remote', url: 'http://127.0.0.1:9/', protocol: 'kserve-v2', modelName: 'probe' } };
			return { path: '/admin/models?/add', form: { manifest: JSON.stringify(manifest), reason: 'matrix' } };
		}
	},
	'POST /admin/models?/mode': {
		access: Permission.administer,
		audit: 'model.mode',
		request: async () => {
			await probeModelVersion();
			return { path: '/admin/models?/mode', form: { id: PROBE_MODEL, mode: 'active', reason: 'matrix' } };
		}
	},
	'POST /admin/models?/threshold': {
		access: Permission.administer,
		audit: 'model.threshold',
		request: async () => {
			await probeModelVersion();
			return { path: '/admin/models?/threshold', form: { id: PROBE_MODEL, threshold: '0.7', reason: 'matrix' } };
		}
	},
	'POST /admin/models?/rollback': {
		access: Permission.administer,
		audit: 'model.rollback',
		request: async () => {
			const previous = await probeModelVersion();
			await probeModelVersion();
			return { path: '/admin/models?/rollback', form: { id: PROBE_MODEL, version: previous, reason: 'matrix' } };
		}
	},
	'POST /admin/policy?/replay': {
		access: Permission.administer,
		audit: 'policy.replay',
		request: async () => ({ path: '/admin/policy?/replay', form: { candidate: await candidatePolicy(), days: '1' } })
	},
	'POST /admin/policy?/publish': {
		access: Permission.administer,
		audit: 'policy.publish',
		request: async (caller) => {
			const candidate = await candidatePolicy();
			// Publishing needs the publisher's own replay of the same candidate; the others are refused before that matters.
			if (caller === Caller.admin) expect((await send(caller, { path: '/admin/policy?/replay', form: { candidate, days: '1' } })).status).toBe(200);
			return { path: '/admin/policy?/publish', form: { candidate, replayHash: candidateHash(JSON.parse(candidate)), note: 'matrix' } };
		}
	},
	'POST /admin/policy?/rollback': {
		access: Permission.administer,
		audit: 'policy.rollback',
		request: async () => {
			const [{ v }] = await t.db.sql`SELECT coalesce(min(version), 0)::int AS v FROM routing_policies`;
			return { path: '/admin/policy?/rollback', form: { version: String(v), note: 'matrix' } };
		}
	},
	'POST /admin/shifts?/create': {
		access: Permission.administer,
		audit: 'shift.create',
		request: async () => ({ path: '/admin/shifts?/create', form: await shiftForm() })
	},
	'POST /admin/shifts?/update': {
		access: Permission.administer,
		audit: 'shift.update',
		request: async () => ({ path: '/admin/shifts?/update', form: { ...(await shiftForm()), id: String(await newShift()) } })
	},
	'POST /admin/shifts?/delete': {
		access: Permission.administer,
		audit: 'shift.delete',
		request: async () => ({ path: '/admin/shifts?/delete', form: { ...(await shiftForm()), id: String(await newShift()) } })
	},
	'POST /admin/users?/create': {
		access: Permission.administer,
		audit: 'user.create',
		request: () => ({ path: '/admin/users?/create', form: { username: unique('probe'), role: 'manager' } })
	}
};

/** Endpoints served outside src/routes (request hooks in workers/web): cookies never open them. */
const HOOK_SPECS: Record<string, Spec> = {
	'POST /dicomweb/studies': {
		access: 'public',
		ok: [401],
		request: () => ({ path: '/dicomweb/studies', headers: { 'content-type': 'multipart/related; type="application/dicom"; boundary=x' } })
	}
};

async function send(caller: Caller, req: Req): Promise<Response> {
	const headers: Record<string, string> = { origin: app.baseUrl, ...req.headers };
	const cookie = req.cookie !== undefined ? req.cookie : cookies[caller];
	if (cookie) headers.cookie = cookie;
	let body: string | undefined;
	if (req.json !== undefined) {
		headers['content-type'] = 'application/json';
		body = JSON.stringify(req.json);
	} else if (req.form) {
		// As a browser without JavaScript posts a form: real HTTP statuses, not an ActionResult in a 200.
		headers['content-type'] = 'application/x-www-form-urlencoded';
		headers.accept ??= 'text/html';
		body = new URLSearchParams(req.form).toString();
	}
	const method = req.method ?? (body !== undefined || req.path.includes('?/') ? 'POST' : 'GET');
	return fetch(`${app.baseUrl}${req.path}`, { method, headers, body: body ?? (method === 'POST' ? '' : undefined), redirect: 'manual' });
}

function allowed(access: Access, caller: Caller): boolean {
	if (access === 'public') return true;
	if (caller === Caller.anonymous || caller === Caller.expired) return false;
	return access === 'signed_in' || can(caller, access);
}

/** The status a caller must get: the spec's own answer when allowed, else the refusal for who they are. */
function expectedStatus(key: string, spec: Spec, caller: Caller): number[] {
	if (spec.expect?.[caller] !== undefined) return [spec.expect[caller]!];
	if (allowed(spec.access, caller)) return spec.ok ?? [200];
	if (caller === Caller.anonymous || caller === Caller.expired) return key.split(' ')[1].startsWith('/api/') ? [401] : [303];
	return [403];
}

async function auditRows(username: string, action: string): Promise<number> {
	const [{ n }] = await t.db.sql`SELECT count(*)::int AS n FROM audit_log WHERE username = ${username} AND action = ${action}`;
	return n;
}
const usernameOf = (caller: Caller, spec: Spec) => spec.auditUser ?? (caller in USERS ? USERS[caller as Role].username : null);

beforeAll(async () => {
	t = await createTestDatabase('authz');
	const sql = t.db.sql;
	const system = { userId: null, username: 'test', role: null };
	for (const [role, u] of Object.entries(USERS)) await createUser(sql, { username: u.username, role: role as Role, password: u.password }, system);
	await createUser(sql, { username: 'matrix-expired', role: 'admin', password: 'expired-password-1' }, system);
	await seedSites(sql, ['main']);
	readerId = await seedReader(sql, NOW, { name: 'Dr Matrix', subspecialties: ['neuro'], sites: ['main'] });
	app = await startRadflow(['web'], { DATABASE_URL: t.url, RADFLOW_ADMIN_PASSWORD: ADMIN_PASSWORD, DICOMWEB_TOKEN });
	cookies.anonymous = null;
	for (const role of Object.keys(USERS) as Role[]) {
		const { token } = await login(sql, USERS[role].username, USERS[role].password, { ip: '127.0.0.9' });
		cookies[role] = `${SESSION_COOKIE}=${token}`;
	}
	// An admin's session whose idle deadline has passed: the database says so, nothing else.
	const { token } = await login(sql, 'matrix-expired', 'expired-password-1', { ip: '127.0.0.9' });
	await sql`UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = ${sessionId(token)}`;
	cookies.expired = `${SESSION_COOKIE}=${token}`;
}, 300_000);

afterAll(async () => {
	await app?.stop();
	await t?.drop();
});

describe('authorization matrix: HTTP', () => {
	it('has an expectation for every endpoint in src/routes, and none for endpoints that are gone', async () => {
		const discovered = await discoverEndpoints();
		expect(Object.keys(SPECS).sort()).toEqual(discovered);
	});

	const keys = [...Object.keys(SPECS), ...Object.keys(HOOK_SPECS)];
	for (const key of keys) {
		const spec = SPECS[key] ?? HOOK_SPECS[key];
		it(`${key}: ${CALLERS.map((c) => `${c} ${expectedStatus(key, spec, c).join('/')}`).join(', ')}`, async () => {
			for (const caller of CALLERS) {
				const req = await spec.request(caller);
				if (!req.path) req.path = key.split(' ')[1];
				req.method ??= key.split(' ')[0];
				const username = usernameOf(caller, spec);
				const before = spec.audit && username ? await auditRows(username, spec.audit) : 0;
				const res = await send(caller, req);
				const want = expectedStatus(key, spec, caller);
				const body = await res.text();
				expect(want, `${key} as ${caller}: got ${res.status} ${body.slice(0, 300)}`).toContain(res.status);
				if (res.status === 303 && !allowed(spec.access, caller)) {
					expect(res.headers.get('location'), `${key} as ${caller}`).toMatch(/^\/login\?next=/);
				}
				if (spec.audit && username) {
					const after = await auditRows(username, spec.audit);
					expect(after - before, `${key} as ${caller}: audit rows '${spec.audit}'`).toBe(allowed(spec.access, caller) ? 1 : 0);
				}
			}
		});
	}

	it('a refused caller changed nothing: no audit row under a refused name for any mutation', async () => {
		const rows = await t.db.sql`SELECT username, action FROM audit_log WHERE username = ${USERS.manager.username}
			AND action NOT IN ('auth.login', 'auth.logout', 'auth.login_failed', 'study.view')`;
		expect(rows).toEqual([]);
	});
});

type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
function socketFor(cookie: string | null, origin?: string): ClientSocket {
	const extraHeaders: Record<string, string> = {};
	if (cookie) extraHeaders.cookie = cookie;
	if (origin) extraHeaders.origin = origin;
	return connectSocket(app.baseUrl, { transports: ['websocket'], extraHeaders, reconnection: false, forceNew: true });
}
const connected = (s: ClientSocket) =>
	new Promise<string | null>((resolve) => {
		s.once('connect', () => resolve(null));
		s.once('connect_error', (e) => resolve(e.message));
	});

describe('authorization matrix: socket.io', () => {
	for (const caller of CALLERS) {
		const may = caller !== Caller.anonymous && caller !== Caller.expired;
		it(`${caller}: handshake ${may ? 'accepted; catchup and watchSite answered' : 'refused'}`, async () => {
			const s = socketFor(cookies[caller]);
			const err = await connected(s);
			if (!may) {
				expect(err).toBe('unauthenticated');
				s.close();
				return;
			}
			expect(err).toBeNull();
			s.emit('watchSite', 'main');
			const reply = await s.emitWithAck('catchup', 0);
			expect(reply).toHaveProperty('events');
			s.close();
		});
	}

	it('refuses a handshake from another origin even with a valid session (cross-site WebSocket hijacking)', async () => {
		const s = socketFor(cookies.admin, 'https://evil.example');
		expect(await connected(s)).not.toBeNull();
		s.close();
		const same = socketFor(cookies.admin, app.baseUrl);
		expect(await connected(same)).toBeNull();
		same.close();
	});

	it('a connected socket whose session ends (logout) gets no more answers and is disconnected', async () => {
		const cookie = await throwawaySession(Caller.charge);
		const s = socketFor(cookie);
		expect(await connected(s)).toBeNull();
		const disconnected = new Promise((r) => s.once('disconnect', r));
		expect((await send(Caller.charge, { path: '/logout', method: 'POST', cookie })).status).toBe(303);
		const reply = await s.emitWithAck('catchup', 0);
		expect(reply).toEqual({ error: 'unauthenticated' });
		await disconnected;
		s.close();
	});
});
