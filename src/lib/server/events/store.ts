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

interface Row {
	time: string;
	study_id: number | null;
	kind: string;
	actor: string;
	site_id: string | null;
	subspecialty: string | null;
	modality: string | null;
	priority: string | null;
	patient_class: string | null;
	payload: Record<string, unknown>;
	key: string | null;
}

export const EVENT_COLUMNS = `id, time, study_id AS "studyId", kind, actor, site_id AS "siteId",
	subspecialty, modality, priority, patient_class AS "patientClass", payload`;

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
	const rows: Row[] = [];
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
		rows.push({
			time: e.time,
			study_id: e.studyId,
			kind: e.kind,
			actor: e.actor,
			site_id: e.siteId ?? null,
			subspecialty: e.subspecialty ?? null,
			modality: e.modality ?? null,
			priority: e.priority ?? null,
			patient_class: e.patientClass ?? null,
			payload: e.payload ?? {},
			key
		});
	}
	// The shared id-order lock (see the file comment) and the insert with its
	// NOTIFY are pipelined: one round trip, the lock taken right before ids are
	// drawn. Measured by `radflow bench events`: an exclusive lock here made
	// every batch wait for the previous one's commit.
	const lock = tx`SELECT pg_advisory_xact_lock_shared(${ID_ORDER_LOCK})`;
	// Ids are drawn in input order (the function scan keeps array order), so the
	// returned ids line up with the input rows that were not duplicates.
	const insert = tx.unsafe<{ id: number; key: string | null }[]>(
		`WITH with_ids AS (
			SELECT x.*, nextval('study_events_id_seq') AS id
			FROM json_to_recordset($1::text::json) AS x(time timestamptz, study_id bigint, kind text,
				actor text, site_id text, subspecialty text, modality text, priority text, patient_class text,
				payload jsonb, key text)
		), new_keys AS (
			INSERT INTO event_keys (key, event_id, time)
			SELECT key, id, time FROM with_ids WHERE key IS NOT NULL
			ON CONFLICT (key) DO NOTHING
			RETURNING key
		), ins AS (
			INSERT INTO study_events (id, time, study_id, kind, actor, site_id, subspecialty, modality, priority,
				patient_class, payload, idempotency_key)
			SELECT id, time, study_id, kind, actor, site_id, subspecialty, modality, priority, patient_class, payload, key
			FROM with_ids
			WHERE key IS NULL OR key IN (SELECT key FROM new_keys)
			RETURNING id, idempotency_key AS key
		)
		SELECT id, key, (SELECT pg_notify($2, max(id)::text) FROM ins HAVING count(*) > 0) IS NULL AS notified FROM ins`,
		[JSON.stringify(rows), EVENTS_CHANNEL],
		{ prepare: true }
	);
	const [, returned] = await Promise.all([lock, insert]);
	returned.sort((a, b) => a.id - b.id);
	const insertedKeys = new Set<string>();
	for (const r of returned) if (r.key) insertedKeys.add(r.key);
	const inserted: StoredEvent[] = [];
	let j = 0;
	for (const r of rows as Row[]) {
		if (r.key !== null && !insertedKeys.has(r.key)) continue;
		inserted.push({
			id: returned[j++].id,
			time: new Date(r.time).toISOString(),
			studyId: r.study_id,
			kind: r.kind,
			actor: r.actor,
			siteId: r.site_id,
			subspecialty: r.subspecialty,
			modality: r.modality,
			priority: r.priority,
			patientClass: r.patient_class,
			payload: r.payload
		});
	}
	const storedBefore = [...seen].filter((k) => !insertedKeys.has(k));
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
