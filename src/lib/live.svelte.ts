/**
 * The browser side of the live feed: one socket.io connection per tab,
 * catch-up by last seen event id on every (re)connect, so a dropped
 * connection or a server restart leaves no silent gap.
 */
import { io, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, LiveEvent, ServerToClientEvents } from '$lib/server/realtime/protocol';

type Listener = (events: LiveEvent[]) => void;

class LiveFeed {
	connected = $state(false);
	viewers = $state(0);
	lastId = $state(0);
	private socket: Socket<ServerToClientEvents, ClientToServerEvents> | null = null;
	private listeners = new Set<Listener>();
	private seen = new Set<number>();
	/** Live events that arrive while a catch-up runs: held, then delivered after it, so pages see ids in order and the cursor never skips a page. */
	private held: LiveEvent[] | null = null;

	/** Start (once) from the newest id the page already rendered. */
	start(fromId: number) {
		if (this.socket) return;
		this.lastId = Math.max(this.lastId, fromId);
		const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io({ transports: ['websocket', 'polling'] });
		this.socket = socket;
		socket.on('connect', () => {
			this.connected = true;
			this.catchUp();
		});
		socket.on('disconnect', () => (this.connected = false));
		socket.on('events', (events) => (this.held ? this.held.push(...events) : this.deliver(events)));
		socket.on('presence', (p) => (this.viewers = p.viewers));
	}

	private catchUp() {
		this.held ??= [];
		this.socket?.emit('catchup', this.lastId, (r) => {
			if ('error' in r) {
				setTimeout(() => this.catchUp(), 2000);
				return;
			}
			this.deliver(r.events);
			if (r.more) return this.catchUp();
			const held = this.held ?? [];
			this.held = null;
			this.deliver(held);
		});
	}

	private deliver(events: LiveEvent[]) {
		const fresh = events.filter((e) => !this.seen.has(e.id));
		if (fresh.length === 0) return;
		for (const e of fresh) {
			this.seen.add(e.id);
			if (e.id > this.lastId) this.lastId = e.id;
		}
		if (this.seen.size > 50_000) this.seen = new Set([...this.seen].slice(-10_000));
		fresh.sort((a, b) => a.id - b.id);
		for (const l of this.listeners) l(fresh);
	}

	subscribe(listener: Listener): () => void {
		this.listeners.add(listener);
		return () => this.listeners.delete(listener);
	}
}

export const live = new LiveFeed();

/**
 * Re-run `refresh` when live events arrive, at most every `ms`, plus a slow
 * fallback interval. Returns the cleanup for onMount.
 */
export function refreshOnLive(refresh: () => unknown, fromId: number, ms = 2000, fallbackMs = 15_000): () => void {
	let timer: ReturnType<typeof setTimeout> | null = null;
	const off = live.subscribe(() => {
		if (timer) return;
		timer = setTimeout(() => {
			timer = null;
			void refresh();
		}, ms);
	});
	live.start(fromId);
	const every = setInterval(() => void refresh(), fallbackMs);
	return () => {
		off();
		clearInterval(every);
		if (timer) clearTimeout(timer);
	};
}
