/**
 * Read models for the Ingest page: DICOM throughput from `instances`, live
 * role status from `role_status`, and the dead-letter list `ingest_failures`.
 *
 * Query functions take `(sql, params)` so a caller may pass a transaction;
 * `now` is a parameter so the windows are reproducible in tests.
 */
import type { SqlLike } from '../db/client';

/** A role_status row counts as live when it was refreshed this recently. */
export const LIVE_STATUS_SECONDS = 15;
/** Throughput windows shown on the Ingest page, in minutes. */
export const RATE_WINDOWS = [1, 5, 15] as const;

/** Columns: role, instance, updatedAt, data. */
export interface RoleStatusRow {
	role: string;
	instance: string;
	updatedAt: Date;
	data: Record<string, unknown>;
}

/**
 * Role status rows refreshed within `freshSeconds` of `now` (default 15 s),
 * optionally for one role. Stale rows belong to stopped processes.
 */
export async function liveRoleStatus(
	sql: SqlLike,
	params: { role?: string; now?: Date; freshSeconds?: number } = {}
): Promise<RoleStatusRow[]> {
	const now = params.now ?? new Date();
	const since = new Date(now.getTime() - (params.freshSeconds ?? LIVE_STATUS_SECONDS) * 1000);
	const rows = await sql<RoleStatusRow[]>`
		SELECT role, instance, updated_at AS "updatedAt", data
		FROM role_status
		WHERE updated_at >= ${since} AND (${params.role ?? null}::text IS NULL OR role = ${params.role ?? null})
		ORDER BY role, instance`;
	return rows.map((r) => ({ ...r, data: isRecord(r.data) ? r.data : {} }));
}

/** Columns: minutes, instances, bytes, instancesPerSecond, bytesPerSecond. */
export interface IngestRate {
	minutes: number;
	instances: number;
	bytes: number;
	instancesPerSecond: number;
	bytesPerSecond: number;
}

/** Instances and bytes received in each trailing window ending at `now`. */
export async function ingestRates(
	sql: SqlLike,
	params: { now?: Date; windows?: readonly number[] } = {}
): Promise<IngestRate[]> {
	const now = params.now ?? new Date();
	const windows = params.windows ?? RATE_WINDOWS;
	const longest = Math.max(...windows);
	const since = new Date(now.getTime() - longest * 60_000);
	// One scan of the longest window; each shorter window is a filter over it.
	const rows = await sql<{ minutes: number; instances: number; bytes: number }[]>`
		WITH recent AS (
			SELECT received_at, size_bytes FROM instances
			WHERE received_at > ${since} AND received_at <= ${now}
		)
		SELECT w.minutes::int AS minutes,
			count(r.received_at)::int AS instances,
			coalesce(sum(r.size_bytes), 0)::float8 AS bytes
		FROM unnest(${windows as number[]}::int[]) AS w(minutes)
		LEFT JOIN recent r ON r.received_at > ${now}::timestamptz - make_interval(mins => w.minutes)
		GROUP BY w.minutes
		ORDER BY w.minutes`;
	return rows.map((r) => ({
		minutes: r.minutes,
		instances: r.instances,
		bytes: r.bytes,
		instancesPerSecond: r.instances / (r.minutes * 60),
		bytesPerSecond: r.bytes / (r.minutes * 60)
	}));
}

/** Columns: minute (bucket start), instances, bytes. */
export interface MinuteBucket {
	minute: Date;
	instances: number;
	bytes: number;
}

/**
 * Instances and bytes per minute for the last `minutes` minutes (default 60),
 * oldest first, zero-filled so a sparkline shows quiet minutes as zero.
 */
export async function instancesPerMinute(
	sql: SqlLike,
	params: { now?: Date; minutes?: number } = {}
): Promise<MinuteBucket[]> {
	const now = params.now ?? new Date();
	const minutes = params.minutes ?? 60;
	return sql<MinuteBucket[]>`
		WITH buckets AS (
			SELECT generate_series(
				date_trunc('minute', ${now}::timestamptz) - make_interval(mins => ${minutes - 1}),
				date_trunc('minute', ${now}::timestamptz),
				interval '1 minute'
			) AS minute
		), counts AS (
			SELECT date_trunc('minute', received_at) AS minute, count(*)::int AS instances, sum(size_bytes)::float8 AS bytes
			FROM instances
			WHERE received_at >= date_trunc('minute', ${now}::timestamptz) - make_interval(mins => ${minutes - 1})
				AND received_at <= ${now}
			GROUP BY 1
		)
		SELECT b.minute, coalesce(c.instances, 0)::int AS instances, coalesce(c.bytes, 0)::float8 AS bytes
		FROM buckets b LEFT JOIN counts c USING (minute)
		ORDER BY b.minute`;
}

/** Columns: callingAe, count, bytes, lastAt — who sent what in the window. */
export interface SenderVolume {
	callingAe: string | null;
	instances: number;
	bytes: number;
	lastAt: Date;
}

/** Volume per calling AE title over the last `minutes` minutes (default 60). */
export async function volumeBySender(
	sql: SqlLike,
	params: { now?: Date; minutes?: number; limit?: number } = {}
): Promise<SenderVolume[]> {
	const now = params.now ?? new Date();
	const since = new Date(now.getTime() - (params.minutes ?? 60) * 60_000);
	return sql<SenderVolume[]>`
		SELECT calling_ae AS "callingAe", count(*)::int AS instances, sum(size_bytes)::float8 AS bytes, max(received_at) AS "lastAt"
		FROM instances
		WHERE received_at > ${since} AND received_at <= ${now}
		GROUP BY calling_ae
		ORDER BY instances DESC
		LIMIT ${params.limit ?? 20}`;
}

/** Columns: id, at, source, peer, reason, details. */
export interface IngestFailure {
	id: number;
	at: Date;
	source: string;
	peer: string | null;
	reason: string;
	details: Record<string, unknown>;
}

/** The newest ingest failures (dead letters), optionally for one source ('dicom', 'hl7', …). */
export async function recentIngestFailures(
	sql: SqlLike,
	params: { source?: string; limit?: number } = {}
): Promise<IngestFailure[]> {
	const source = params.source ?? null;
	return sql<IngestFailure[]>`
		SELECT id, at, source, peer, reason, details
		FROM ingest_failures
		WHERE ${source}::text IS NULL OR source = ${source}
		ORDER BY at DESC, id DESC
		LIMIT ${params.limit ?? 50}`;
}

/** Columns: source, reason, count, lastAt — failures grouped, newest group first. */
export interface FailureGroup {
	source: string;
	reason: string;
	count: number;
	lastAt: Date;
}

/** Failures in the last `hours` hours (default 24) grouped by source and reason. */
export async function failureReasons(
	sql: SqlLike,
	params: { now?: Date; hours?: number } = {}
): Promise<FailureGroup[]> {
	const now = params.now ?? new Date();
	const since = new Date(now.getTime() - (params.hours ?? 24) * 3_600_000);
	return sql<FailureGroup[]>`
		SELECT source, reason, count(*)::int AS count, max(at) AS "lastAt"
		FROM ingest_failures
		WHERE at > ${since} AND at <= ${now}
		GROUP BY source, reason
		ORDER BY "lastAt" DESC
		LIMIT 50`;
}

// ---------------------------------------------------------------------------
// role_status payloads. The roles write these shapes, but a dashboard must not
// break on an older or newer process: read what is present, skip the rest.

/** One open DICOM association as the dicom role reports it. */
export interface LiveAssociation {
	role: string;
	instance: string;
	callingAe: string | null;
	peer: string | null;
	since: string | null;
}

/** A refused association or a failed object from role_status. */
export interface StatusIncident {
	instance: string;
	at: string | null;
	callingAe: string | null;
	peer: string | null;
	reason: string;
}

export interface DicomRoleSummary {
	instances: number;
	associations: LiveAssociation[];
	/** Sum of the counters each live dicom process reports since it started. */
	receivedInstances: number;
	receivedBytes: number;
	rejectedAssociations: StatusIncident[];
	failedObjects: StatusIncident[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
	return typeof v === 'object' && v !== null && !Array.isArray(v);
}
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : null);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const list = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.filter(isRecord) : []);
/** ISO string from an ISO string, epoch millis or Date-like value; null when unreadable. */
function time(v: unknown): string | null {
	if (typeof v !== 'string' && typeof v !== 'number') return null;
	const d = new Date(v);
	return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function incident(instance: string, x: Record<string, unknown>): StatusIncident {
	return {
		instance,
		at: time(x.at ?? x.time),
		callingAe: str(x.callingAe),
		peer: str(x.peer),
		reason: str(x.reason) ?? str(x.error) ?? str(x.status) ?? 'unknown'
	};
}

/**
 * Folds the live dicom role rows into one summary: open associations from
 * every process, and their recent refusals and failed objects, newest first.
 */
export function summarizeDicomStatus(rows: RoleStatusRow[]): DicomRoleSummary {
	const out: DicomRoleSummary = {
		instances: 0,
		associations: [],
		receivedInstances: 0,
		receivedBytes: 0,
		rejectedAssociations: [],
		failedObjects: []
	};
	for (const row of rows) {
		out.instances++;
		const d = row.data;
		for (const a of list(d.associations)) {
			out.associations.push({ role: row.role, instance: row.instance, callingAe: str(a.callingAe), peer: str(a.peer), since: time(a.since) });
		}
		out.receivedInstances += num(d.instances);
		out.receivedBytes += num(d.bytes);
		out.rejectedAssociations.push(...list(d.rejectedAssociations).map((x) => incident(row.instance, x)));
		out.failedObjects.push(...list(d.failedObjects).map((x) => incident(row.instance, x)));
	}
	const newest = (a: StatusIncident, b: StatusIncident) => (b.at ?? '').localeCompare(a.at ?? '');
	out.rejectedAssociations.sort(newest);
	out.failedObjects.sort(newest);
	out.associations.sort((a, b) => (a.since ?? '').localeCompare(b.since ?? ''));
	return out;
}

export interface Hl7RoleSummary {
	instances: number;
	connections: number;
	nacks: number;
	byType: Record<string, number>;
	lastBySender: Record<string, { at: string | null; type: string | null; controlId: string | null }>;
}

/** Folds the live hl7 role rows: connections, per-type counters, NACKs and last message per sender. */
export function summarizeHl7Status(rows: RoleStatusRow[]): Hl7RoleSummary {
	const out: Hl7RoleSummary = { instances: 0, connections: 0, nacks: 0, byType: {}, lastBySender: {} };
	for (const row of rows) {
		out.instances++;
		const d = row.data;
		out.connections += Array.isArray(d.connections) ? d.connections.length : num(d.connections);
		out.nacks += num(d.nacks);
		if (isRecord(d.byType)) {
			for (const [type, n] of Object.entries(d.byType)) out.byType[type] = (out.byType[type] ?? 0) + num(n);
		}
		if (isRecord(d.lastBySender)) {
			for (const [sender, v] of Object.entries(d.lastBySender)) {
				const at = isRecord(v) ? time(v.at ?? v.time ?? v.receivedAt) : time(v);
				const prev = out.lastBySender[sender];
				if (prev && (prev.at ?? '') >= (at ?? '')) continue;
				out.lastBySender[sender] = {
					at,
					type: isRecord(v) ? str(v.type ?? v.messageType) : null,
					controlId: isRecord(v) ? str(v.controlId) : null
				};
			}
		}
	}
	return out;
}

/** Newest study event id: where a page's live feed starts, so it does not replay history. */
export async function latestEventId(sql: SqlLike): Promise<number> {
	const [r] = await sql<{ id: number }[]>`SELECT coalesce(max(id), 0)::int8 AS id FROM study_events`;
	return r.id;
}
