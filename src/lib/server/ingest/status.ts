/**
 * Role heartbeat: each running role upserts its live figures into role_status
 * (role, instance = hostname:pid) every few seconds, so the dashboard sees every
 * process, not only its own. The row is removed on a clean stop.
 */
import os from 'node:os';
import type { Sql } from '../db/client';
import type { Logger } from '../log';
import type { DicomServer } from '../../../../workers/dicom/server';
import type { Hl7StatsEmitter } from '../../../../workers/hl7/events';
import { splitIdempotencyKey } from './hl7-handler';

export const instanceName = (): string => `${os.hostname()}:${process.pid}`;

export interface Heartbeat {
	/** Writes the row now (also done every interval). */
	beat(): Promise<void>;
	/** Stops beating and deletes the row. Idempotent. */
	stop(): Promise<void>;
}

/** Starts upserting role_status(role, instance) with `collect()` every `intervalMs`. */
export function startHeartbeat(
	sql: Sql,
	role: string,
	collect: () => Record<string, unknown>,
	options: { intervalMs?: number; log?: Logger; instance?: string } = {}
): Heartbeat {
	const instance = options.instance ?? instanceName();
	let stopped = false;
	let inFlight: Promise<void> = Promise.resolve();
	const beat = () => {
		if (stopped) return inFlight;
		inFlight = (async () => {
			try {
				const data = JSON.stringify({ ...collect(), pid: process.pid, host: os.hostname() });
				await sql`INSERT INTO role_status (role, instance, updated_at, data) VALUES (${role}, ${instance}, now(), ${data}::text::jsonb)
					ON CONFLICT (role, instance) DO UPDATE SET updated_at = now(), data = EXCLUDED.data`;
			} catch (err) {
				options.log?.warn('heartbeat failed', { err, role });
			}
		})();
		return inFlight;
	};
	const timer = setInterval(() => void beat(), options.intervalMs ?? 5_000);
	timer.unref();
	void beat();
	return {
		beat,
		async stop() {
			if (stopped) return;
			stopped = true;
			clearInterval(timer);
			await inFlight;
			await sql`DELETE FROM role_status WHERE role = ${role} AND instance = ${instance}`.catch((err) =>
				options.log?.warn('heartbeat row not removed', { err, role })
			);
		}
	};
}

const RING = 50;
function push<T>(list: T[], item: T): void {
	list.push(item);
	if (list.length > RING) list.splice(0, list.length - RING);
}

/** Live DICOM figures from the server's events, for the Ingest page. */
export function collectDicomStatus(server: DicomServer, extra: () => Record<string, unknown> = () => ({})): () => Record<string, unknown> {
	const open = new Map<number, { callingAe: string; remoteAddress: string; since: string; tls: boolean }>();
	const rejectedAssociations: { at: string; callingAe: string; calledAe: string; remoteAddress: string; reason: string }[] = [];
	const failures: { at: string; reason: string; status: number; callingAe: string; sopInstanceUid: string | null; message: string }[] = [];
	server.on('associationOpened', (a) => open.set(a.id, { callingAe: a.callingAe, remoteAddress: a.remoteAddress, since: new Date().toISOString(), tls: a.tls }));
	server.on('associationClosed', (a) => open.delete(a.id));
	server.on('associationRejected', (r) => push(rejectedAssociations, { at: new Date().toISOString(), ...r }));
	server.on('rejected', (r) =>
		push(failures, { at: new Date().toISOString(), reason: r.reason, status: r.status, callingAe: r.callingAe, sopInstanceUid: r.sopInstanceUid, message: r.message })
	);
	server.on('contextRejected', (r) =>
		push(failures, {
			at: new Date().toISOString(),
			reason: r.reason,
			status: 0,
			callingAe: r.callingAe,
			sopInstanceUid: null,
			message: `presentation context ${r.abstractSyntax} refused: none of ${r.transferSyntaxes.join(', ')} is accepted`
		})
	);
	server.on('connectionError', (r) =>
		push(failures, { at: new Date().toISOString(), reason: 'connection_error', status: 0, callingAe: r.callingAe ?? '', sopInstanceUid: null, message: r.message })
	);
	return () => {
		const s = server.stats();
		return {
			port: server.port,
			aeTitle: server.options.aeTitle,
			openAssociations: [...open.values()],
			associationsTotal: s.associationsTotal,
			instancesReceived: s.instancesStored,
			bytesReceived: s.bytesStored,
			associationsRejected: s.associationsRejected,
			rejectedAssociations,
			failedObjects: s.failedObjects,
			recentFailures: failures,
			connectionErrors: s.connectionErrors,
			...extra()
		};
	};
}

/** Live HL7 figures from the MLLP server's stats emitter. */
export function collectHl7Status(stats: Hl7StatsEmitter, port: number, extra: () => Record<string, unknown> = () => ({})): () => Record<string, unknown> {
	const connections = new Map<string, { remoteAddress: string; since: string }>();
	const byType: Record<string, number> = {};
	const lastBySender: Record<string, { at: string; type: string; controlId: string; ack: string | null }> = {};
	const nacks: { at: string; ack: string | null; code: string; reason: string; type: string; controlId: string }[] = [];
	let messages = 0;
	let nackCount = 0;
	stats.on('connection', (c) => {
		if (c.state === 'open') connections.set(c.connectionId, { remoteAddress: c.remoteAddress, since: new Date().toISOString() });
		else connections.delete(c.connectionId);
	});
	stats.on('message', (m) => {
		messages++;
		const type = `${m.messageType}^${m.triggerEvent}`;
		byType[type] = (byType[type] ?? 0) + 1;
		lastBySender[splitIdempotencyKey(m.idempotencyKey).sender] = { at: new Date().toISOString(), type, controlId: m.controlId, ack: m.ack };
	});
	stats.on('nack', (n) => {
		nackCount++;
		push(nacks, { at: new Date().toISOString(), ack: n.ack, code: n.code, reason: n.reason, type: n.messageType, controlId: n.controlId });
		if (n.idempotencyKey) {
			lastBySender[splitIdempotencyKey(n.idempotencyKey).sender] = { at: new Date().toISOString(), type: n.messageType, controlId: n.controlId, ack: n.ack };
		}
	});
	return () => ({
		port,
		connections: [...connections.values()],
		messages,
		messagesByType: byType,
		nacks: nackCount,
		recentNacks: nacks,
		lastMessageBySender: lastBySender,
		...extra()
	});
}
