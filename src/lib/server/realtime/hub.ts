/**
 * Live fan-out: committed events reach browsers through LISTEN/NOTIFY and
 * socket.io. Each web instance listens to the database itself and emits to its
 * own sockets; the Postgres adapter relays the few cross-instance broadcasts
 * (presence, notices). Clients catch up by last seen event id: no silent gaps.
 */
import type http from 'node:http';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/postgres-adapter';
import pg from 'pg';
import type { Database } from '../db/client';
import { EVENTS_CHANNEL, eventsAfter, lastEventId, type StoredEvent } from '../events/store';
import { liveSessionIds, SESSION_COOKIE, sessionId, userForSession } from '../auth/users';
import { can, isRole, Permission } from '../../domain/auth/roles';
import type { Logger } from '../log';
import type { ClientToServerEvents, ServerToClientEvents, SocketData } from './protocol';

export const CATCHUP_LIMIT = 1000;

export interface RealtimeHub {
	io: Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
	close(): Promise<void>;
}

function cookieValue(header: string | undefined, name: string): string | undefined {
	if (!header) return undefined;
	for (const part of header.split(';')) {
		const [k, ...v] = part.trim().split('=');
		if (k === name) return decodeURIComponent(v.join('='));
	}
	return undefined;
}

/**
 * Cross-site WebSocket hijacking guard: a browser always sends Origin on the
 * handshake; it must be the dashboard's own (ORIGIN when set, else the Host it
 * was reached at), the same rule as the HTTP CSRF check. Clients that are not
 * browsers send none and still need a session cookie.
 */
export function sameOriginHandshake(req: http.IncomingMessage, publicOrigin = process.env.ORIGIN): boolean {
	const origin = req.headers.origin;
	if (!origin) return true;
	let o: URL;
	try {
		o = new URL(origin);
	} catch {
		return false;
	}
	if (publicOrigin) return o.origin === new URL(publicOrigin).origin;
	return o.host === req.headers.host;
}

export interface RealtimeOptions {
	/** How often sockets whose session ended (logout, expiry, disabled user) are disconnected. Default 30 s. */
	sessionSweepMs?: number;
}

export async function startRealtime(server: http.Server, db: Database, log: Logger, options: RealtimeOptions = {}): Promise<RealtimeHub> {
	const io = new Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>(server, {
		serveClient: false,
		cors: undefined,
		allowRequest: (req, callback) => {
			const ok = sameOriginHandshake(req);
			callback(ok ? null : 'cross-site socket refused', ok);
		}
	});
	const pool = new pg.Pool({ connectionString: db.url, max: 2, application_name: 'radflow-socketio' });
	pool.on('error', (err) => log.warn('socket.io adapter pool error', { err }));
	// The adapter keeps one client checked out for LISTEN and attaches no error
	// handler to it: without this, a database restart would crash the process.
	pool.on('connect', (client) => client.on('error', (err) => log.warn('socket.io adapter connection lost; it reconnects', { err })));
	io.adapter(createAdapter(pool, { tableName: 'socket_io_attachments', errorHandler: (err) => log.warn('socket.io adapter', { err }) }));

	io.use(async (socket, next) => {
		try {
			const token = cookieValue(socket.request.headers.cookie, SESSION_COOKIE);
			const user = await userForSession(db.sql, token);
			if (!user) return next(new Error('unauthenticated'));
			if (!can(user.role, Permission.view)) return next(new Error('forbidden'));
			socket.data = { user: { id: user.id, username: user.username, role: user.role }, siteId: null, sessionId: sessionId(token!) };
			next();
		} catch (err) {
			log.error('socket auth failed', { err });
			next(new Error('server error'));
		}
	});

	const broadcastPresence = async () => {
		try {
			const sockets = await io.fetchSockets();
			io.emit('presence', { viewers: sockets.length });
		} catch (err) {
			log.debug('presence failed', { err });
		}
	};

	/** Every client event re-checks the session: a logged-out or expired socket gets nothing more. */
	const stillSignedIn = async (data: SocketData): Promise<boolean> => {
		const live = await liveSessionIds(db.sql, [data.sessionId]);
		return live.has(data.sessionId) && isRole(data.user.role) && can(data.user.role, Permission.view);
	};

	io.on('connection', (socket) => {
		socket.join('all');
		socket.on('watchSite', (siteId) => {
			// Rooms change at once (a catch-up right after must see the new site); a dead session is then dropped.
			void stillSignedIn(socket.data).then(
				(ok) => ok || socket.disconnect(true),
				(err) => log.warn('session check failed', { err })
			);
			socket.leave('all');
			for (const r of socket.rooms) if (r.startsWith('site:')) socket.leave(r);
			if (siteId && typeof siteId === 'string' && siteId.length <= 64) {
				socket.data.siteId = siteId;
				socket.join([`site:${siteId}`, 'site:*']);
			} else {
				socket.data.siteId = null;
				socket.join('all');
			}
		});
		socket.on('catchup', async (afterId, reply) => {
			if (typeof reply !== 'function') return;
			try {
				if (!(await stillSignedIn(socket.data))) {
					reply({ error: 'unauthenticated' });
					socket.disconnect(true);
					return;
				}
				const from = Number.isSafeInteger(afterId) && afterId >= 0 ? afterId : 0;
				const events = await eventsAfter(db.sql, from, CATCHUP_LIMIT + 1);
				const site = socket.data.siteId;
				const visible = site ? events.filter((e) => !e.siteId || e.siteId === site) : events;
				reply({ events: visible.slice(0, CATCHUP_LIMIT), more: events.length > CATCHUP_LIMIT });
			} catch (err) {
				log.error('catch-up failed', { err });
				reply({ error: 'catch-up failed; retrying' });
			}
		});
		socket.on('disconnect', () => void broadcastPresence());
		void broadcastPresence();
	});

	// Fan-out: on NOTIFY, read everything after the last id this instance sent.
	let lastSent = await lastEventId(db.sql);
	let draining: Promise<void> | null = null;
	let again = false;
	const drain = async () => {
		do {
			again = false;
			for (;;) {
				const batch = await eventsAfter(db.sql, lastSent, 2000);
				if (batch.length === 0) break;
				lastSent = batch[batch.length - 1].id;
				const byRoom = new Map<string, StoredEvent[]>();
				for (const e of batch) {
					const room = e.siteId ? `site:${e.siteId}` : 'site:*';
					byRoom.set(room, [...(byRoom.get(room) ?? []), e]);
				}
				io.local.to('all').emit('events', batch);
				for (const [room, events] of byRoom) io.local.to(room).except('all').emit('events', events);
			}
		} while (again);
	};
	const onNotify = () => {
		if (draining) {
			again = true;
			return;
		}
		draining = drain()
			.catch((err) => log.error('event fan-out failed', { err }))
			.finally(() => {
				draining = null;
			});
	};
	const listener = await db.sql.listen(EVENTS_CHANNEL, onNotify, onNotify);

	// Logout or expiry elsewhere also ends live sockets, without waiting for their next event.
	const sweep = setInterval(async () => {
		try {
			const sockets = [...io.of('/').sockets.values()];
			const live = await liveSessionIds(db.sql, [...new Set(sockets.map((s) => s.data.sessionId))]);
			for (const s of sockets) if (!live.has(s.data.sessionId)) s.disconnect(true);
		} catch (err) {
			log.warn('session sweep failed; retrying at the next interval', { err });
		}
	}, options.sessionSweepMs ?? 30_000);
	sweep.unref();

	return {
		io,
		async close() {
			clearInterval(sweep);
			await listener.unlisten().catch(() => {});
			await new Promise<void>((r) => io.close(() => r()));
			await pool.end().catch(() => {});
		}
	};
}
