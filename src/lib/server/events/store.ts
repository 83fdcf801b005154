/**
 * The event store: the one write path for `study_events`.
 *
 * Ids come from a sequence, so a transaction could draw id 10 and commit after
 * another one's id 11; a reader that already moved past 11 would skip 10
 * forever. The id-order advisory lock prevents that without serializing the
 * writers: every writer holds it SHARED from drawing ids to commit (writers run
 * in parallel), and readers that advance an id cursor ({@link eventsAfter},
 * {@link lastEventId}) take it EXCLUSIVE for their read, which waits until every
 * in-flight writer has committed or rolled back. So whatever id a reader sees,
 * no lower id can become visible later.
 */
import type { Sql, SqlLike } from '../db/client';
import { pipelinedTransaction } from '../db/pipelined';

export const EVENTS_CHANNEL = 'radflow_events';
const ID_ORDER_LOCK = 4_242_002;

/** Dimensions copied onto each event row for joinless rollups. */
export interface EventDimensions {
	siteId?: string | null;
	subspecialty?: string | null;
	modality?: string | null;
	priority?: string | null;
	patientClass?: string | null;
}

export interface NewEvent extends EventDimensions {
	time: string;
	studyId: number | null;
	kind: string;
	actor: string;
	payload?: Record<string, unknown>;
	/** SOP Instance UID, sender + MSH-10, command id…: a retry with the same key is a no-op. */
	idempotencyKey?: string | null;
}

export interface StoredEvent {
	id: number;
	time: string;
	studyId: number | null;
	kind: string;
	actor: string;
	siteId: string | null;
	subspecialty: string | null;
	modality: string | null;
	priority: string | null;
	patientClass: string | null;
	payload: Record<string, unknown>;
}

export const EVENT_COLUMNS = `id, time, study_id AS "studyId", kind, actor, site_id AS "siteId",
	subspecialty, modality, priority, patient_class AS "patientClass", payload`;

/** How toISOString() writes a time: such a time is returned as given (it was valid: it was stored). */
const ISO_TIME = /^\d{4}-\d\d-\d\dT([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/;

/**
 * A PostgreSQL array literal. JSON of strings, numbers and nulls already is
 * one, braces for brackets, unless it holds an escape that PostgreSQL reads
 * differently (\n, \t, \uXXXX; \" and \\ read the same): then every
 * element is quoted by hand.
 */
export function pgArray(values: (string | number | null)[]): string {
	const json = JSON.stringify(values);
	if (!/\\[^"\\]/.test(json)) return `{${json.slice(1, -1)}}`;
	return `{${values.map((v) => (v === null ? 'NULL' : `"${String(v).replace(/["\\]/g, '\\$&')}"`)).join(',')}}`;
}

/**
 * Insert events inside the caller's transaction. Events whose idempotency key
 * was already recorded (`storedBefore`) or repeat within the batch are skipped.
 * Returns the stored events in input order and the skipped keys. Notifies
 * listeners on commit.
 */
export async function insertEvents(
	tx: SqlLike,
	events: NewEvent[]
): Promise<{ inserted: StoredEvent[]; duplicateKeys: string[]; storedBefore: string[] }> {
	if (events.length === 0) return { inserted: [], duplicateKeys: [], storedBefore: [] };
	// Same key twice in one batch: keep the first, like a retry would.
	const seen = new Set<string>();
	const rows: NewEvent[] = [];
	const batchDuplicates: string[] = [];
	for (const e of events) {
		const key = e.idempotencyKey ?? null;
		if (key !== null) {
			if (seen.has(key)) {
				batchDuplicates.push(key);
				continue;
			}
			seen.add(key);
		}
		rows.push(e);
	}
	const column = (f: (e: NewEvent) => string | number | null) => pgArray(rows.map(f));
	// The shared id-order lock (see the file comment) and the insert with its
	// NOTIFY are pipelined: one round trip, the lock taken right before ids are
	// drawn. Measured by `radflow bench events`: an exclusive lock here made
	// every batch wait for the previous one's commit.
	const lock = tx`SELECT pg_advisory_xact_lock_shared(${ID_ORDER_LOCK})`;
	// One array per column: PostgreSQL reads them for ~40% less CPU than
	// json_to_recordset (which builds a hash table per object), they are half
	// the bytes, and encoding them costs what JSON.stringify of the rows did.
	// Ids are drawn in input order (the function scan keeps array order), so
	// the sorted ids line up with the rows that were inserted; `skipped`
	// numbers the rows whose key was stored before (1-based).
	const insert = tx.unsafe<{ ids: string | null; skipped: number[] }[]>(
		`WITH input AS (
			SELECT x.*, nextval('study_events_id_seq') AS id
			FROM unnest($1::text::timestamptz[], $2::text::int8[], $3::text::text[], $4::text::text[], $5::text::text[],
				$6::text::text[], $7::text::text[], $8::text::text[], $9::text::text[], $10::text::jsonb[], $11::text::text[])
				WITH ORDINALITY AS x(time, study_id, kind, actor, site_id, subspecialty, modality, priority, patient_class, payload, key, n)
		), new_keys AS (
			INSERT INTO event_keys (key, event_id, time)
			SELECT key, id, time FROM input WHERE key IS NOT NULL
			ON CONFLICT (key) DO NOTHING
			RETURNING key
		), ins AS (
			INSERT INTO study_events (id, time, study_id, kind, actor, site_id, subspecialty, modality, priority,
				patient_class, payload, idempotency_key)
			SELECT id, time, study_id, kind, actor, site_id, subspecialty, modality, priority, patient_class, payload, key
			FROM input
			WHERE key IS NULL OR key IN (SELECT key FROM new_keys)
			RETURNING id
		)
		SELECT (SELECT string_agg(id::text, ',' ORDER BY id) FROM ins) AS ids,
			ARRAY(SELECT n::int4 FROM input WHERE key IS NOT NULL AND key NOT IN (SELECT key FROM new_keys)) AS skipped,
			(SELECT pg_notify($12, max(id)::text) FROM ins HAVING count(*) > 0) IS NULL AS notified`,
		[
			column((e) => e.time),
			column((e) => e.studyId),
			column((e) => e.kind),
			column((e) => e.actor),
			column((e) => e.siteId ?? null),
			column((e) => e.subspecialty ?? null),
			column((e) => e.modality ?? null),
			column((e) => e.priority ?? null),
			column((e) => e.patientClass ?? null),
			column((e) => JSON.stringify(e.payload ?? {})),
			column((e) => e.idempotencyKey ?? null),
			EVENTS_CHANNEL
		],
		{ prepare: true }
	);
	// then() puts a postgres.js query on the wire at once: both are sent, in this
	// order, before this function first awaits, so a caller can pipeline its
	// COMMIT right behind them (EventWriter).
	const [, [result]] = await Promise.all([lock.then(), insert.then()]);
	const ids = result.ids ? result.ids.split(',') : [];
	const skipped = new Set(result.skipped);
	if (ids.length + skipped.size !== rows.length) throw new Error(`insertEvents: ${rows.length} rows, ${ids.length} inserted, ${skipped.size} skipped`);
	const inserted: StoredEvent[] = [];
	const storedBefore: string[] = [];
	rows.forEach((e, i) => {
		if (skipped.has(i + 1)) {
			storedBefore.push(e.idempotencyKey!);
			return;
		}
		inserted.push({
			id: Number(ids[inserted.length]),
			time: ISO_TIME.test(e.time) ? e.time : new Date(e.time).toISOString(),
			studyId: e.studyId,
			kind: e.kind,
			actor: e.actor,
			siteId: e.siteId ?? null,
			subspecialty: e.subspecialty ?? null,
			modality: e.modality ?? null,
			priority: e.priority ?? null,
			patientClass: e.patientClass ?? null,
			payload: e.payload ?? {}
		});
	});
	return { inserted, duplicateKeys: [...batchDuplicates, ...storedBefore], storedBefore };
}

/**
 * Events after `afterId`, oldest first, for catch-up and live fan-out. Reads
 * under the exclusive id-order lock: the result never has a gap that a
 * transaction still in flight could fill later.
 */
export async function eventsAfter(sql: Sql, afterId: number, limit = 500): Promise<StoredEvent[]> {
	return underIdOrderLock(sql, (tx) =>
		tx.unsafe<StoredEvent[]>(`SELECT ${EVENT_COLUMNS} FROM study_events WHERE id > $1 ORDER BY id LIMIT $2`, [afterId, limit], { prepare: true })
	);
}

/** The highest committed event id (0 for none), safe as a starting cursor for {@link eventsAfter}. */
export async function lastEventId(sql: Sql): Promise<number> {
	const [r] = await underIdOrderLock(sql, (tx) => tx<{ m: number }[]>`SELECT coalesce(max(id), 0)::int8 AS m FROM study_events`);
	return Number(r.m);
}

/** A short read-only transaction holding the id-order lock exclusively (pipelined with the read). */
function underIdOrderLock<T>(sql: Sql, read: (tx: SqlLike) => Promise<T>): Promise<T> {
	return pipelinedTransaction(sql, async (tx) => {
		const lock = tx`SELECT pg_advisory_xact_lock(${ID_ORDER_LOCK})`.execute();
		const [, out] = await Promise.all([lock, read(tx)]);
		return out;
	});
}

/** The newest events, newest last. */
export async function latestEvents(sql: SqlLike, limit = 100): Promise<StoredEvent[]> {
	const rows = await sql.unsafe<StoredEvent[]>(
		`SELECT ${EVENT_COLUMNS} FROM study_events ORDER BY id DESC LIMIT $1`,
		[limit],
		{ prepare: true }
	);
	return rows.reverse();
}
