/**
 * Live fan-out end to end without a browser: socket.io clients with a real
 * session cookie receive committed events, and a client that was away catches
 * up by last seen id with no gap.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io as connectClient, type Socket } from 'socket.io-client';
import { createTestDatabase, type TestDatabase } from '../../../../tests/helpers/db';
import { startRealtime, type RealtimeHub } from './hub';
import { createUser, login, SESSION_COOKIE } from '../auth/users';
import { insertEvents, type NewEvent } from '../events/store';
import { createLogger } from '../log';
import type { ClientToServerEvents, LiveEvent, ServerToClientEvents } from './protocol';

let t: TestDatabase;
let server: http.Server;
let hub: RealtimeHub;
let url: string;
let cookie: string;

beforeAll(async () => {
	t = await createTestDatabase('realtime');
	await createUser(t.db.sql, { username: 'watcher', role: 'manager', password: 'watcher-password' }, { userId: null, username: 't', role: null });
	const { token } = await login(t.db.sql, 'watcher', 'watcher-password', { ip: '127.0.0.1' });
	cookie = `${SESSION_COOKIE}=${token}`;
	server = http.createServer();
	await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
	hub = await startRealtime(server, t.db, createLogger('test', 'error'));
	url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
	await hub?.close();
	server?.close();
	await t?.drop();
});

function client(withCookie = true): Socket<ServerToClientEvents, ClientToServerEvents> {
	return connectClient(url, { transports: ['websocket'], extraHeaders: withCookie ? { cookie } : {}, reconnection: false, forceNew: true });
}

const ev = (actor: string, siteId = 'north'): NewEvent => ({ time: new Date().toISOString(), studyId: null, kind: 'test', actor, siteId });
const write = (events: NewEvent[]) => t.db.sql.begin((tx) => insertEvents(tx, events));

describe('realtime hub', () => {
	it('refuses a socket without a valid session', async () => {
		const c = client(false);
		const err = await new Promise<Error>((r) => c.on('connect_error', r));
		expect(err.message).toBe('unauthenticated');
		c.close();
	});

	it('delivers committed events to connected clients, in id order', async () => {
		const c = client();
		await new Promise((r) => c.on('connect', () => r(null)));
		const got: LiveEvent[] = [];
		c.on('events', (e) => got.push(...e));
		await write([ev('a1'), ev('a2')]);
		await write([ev('a3')]);
		await expect.poll(() => got.map((e) => e.actor), { timeout: 5000 }).toEqual(['a1', 'a2', 'a3']);
		c.close();
	});

	it('a client that was offline catches up from its last id with no gap', async () => {
		const c = client();
		await new Promise((r) => c.on('connect', () => r(null)));
		const seen: LiveEvent[] = [];
		c.on('events', (e) => seen.push(...e));
		await write([ev('b1')]);
		await expect.poll(() => seen.length, { timeout: 5000 }).toBe(1);
		const lastId = seen[0].id;
		c.close();
		// While it is away, 1,200 events commit (more than one catch-up page).
		await write(Array.from({ length: 1200 }, (_, i) => ev(`gap${i}`)));
		const back = client();
		await new Promise((r) => back.on('connect', () => r(null)));
		const caught: LiveEvent[] = [];
		let after = lastId;
		for (;;) {
			const r = await back.emitWithAck('catchup', after);
			if ('error' in r) throw new Error(r.error);
			caught.push(...r.events);
			after = r.events.at(-1)?.id ?? after;
			if (!r.more) break;
		}
		expect(caught.map((e) => e.actor)).toEqual(Array.from({ length: 1200 }, (_, i) => `gap${i}`));
		back.close();
	});

	it('a client watching one site gets only that site', async () => {
		const c = client();
		await new Promise((r) => c.on('connect', () => r(null)));
		c.emit('watchSite', 'south');
		await new Promise((r) => setTimeout(r, 100));
		const got: LiveEvent[] = [];
		c.on('events', (e) => got.push(...e));
		await write([ev('n1', 'north'), ev('s1', 'south')]);
		await expect.poll(() => got.map((e) => e.actor), { timeout: 5000 }).toEqual(['s1']);
		c.close();
	});
});
