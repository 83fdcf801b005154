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
import { EVENTS_CHANNEL, eventsAfter, type StoredEvent } from '../events/store';
import { SESSION_COOKIE, userForSession } from '../auth/users';
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

export async function startRealtime(server: http.Server, db: Database, log: Logger): Promise<RealtimeHub> {
	const io = new Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>(server, {
		serveClient: false,
		cors: undefined
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
			socket.data = { user: { id: user.id, username: user.username, role: user.role }, siteId: null };
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

	io.on('connection', (socket) => {
		socket.join('all');
		socket.on('watchSite', (siteId) => {
			socket.leave('all');
			for (const r of socket.rooms) if (r.startsWith('site:')) socket.leave(r);
			if (siteId && typeof siteId === 'string') {
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
	let lastSent = Number((await db.sql`SELECT coalesce(max(id), 0)::bigint AS m FROM study_events`)[0].m);
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

	return {
		io,
		async close() {
			await listener.unlisten().catch(() => {});
			await new Promise<void>((r) => io.close(() => r()));
			await pool.end().catch(() => {});
		}
	};
}
