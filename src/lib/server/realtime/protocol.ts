/**
 * The socket.io event maps, shared by the server and the browser
 * (browser code imports this file with `import type` only).
 */
import type { StoredEvent } from '../events/store';

export type LiveEvent = StoredEvent;

export interface ServerToClientEvents {
	/** Newly committed events, oldest first. */
	events: (events: LiveEvent[]) => void;
	/** Who is connected (across all web instances). */
	presence: (p: { viewers: number }) => void;
	/** A message for everyone watching, e.g. a command outcome. */
	notice: (n: { level: 'info' | 'warn'; text: string; studyId?: number }) => void;
}

export interface ClientToServerEvents {
	/** Ask for every event after `afterId`; the reply is the events, then `more` if the limit cut it. */
	catchup: (afterId: number, reply: (r: { events: LiveEvent[]; more: boolean } | { error: string }) => void) => void;
	/** Join a site room to receive only that site's events (plus site-less ones). */
	watchSite: (siteId: string | null) => void;
}

export interface SocketData {
	user: { id: number; username: string; role: string };
	siteId: string | null;
	/** The session's database key (a hash, never the cookie token): re-checked on every client event. */
	sessionId: string;
}
