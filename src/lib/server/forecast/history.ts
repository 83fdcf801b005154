/**
 * Arrival history for forecasting: hourly exam counts per site ×
 * subspecialty × modality × patient class, from Radflow's own event stream
 * (`study_hourly.arrivals`, i.e. studies that became complete) and from
 * imported RIS exports (`volume_history`).
 *
 * Where both sources have the same series and hour, Radflow's own count wins:
 * an import covers the time before Radflow ran, and must not double what it
 * has seen itself.
 */
import type { SqlLike } from '../db/client';
import { HOUR_MS } from '../../domain/forecast/calendar';

/** Stable text id of a series: `site|subspecialty|modality|patientClass`. */
export function seriesId(k: { site: string; subspecialty: string; modality: string; patientClass: string }): string {
	return `${k.site}|${k.subspecialty}|${k.modality}|${k.patientClass}`;
}

export interface SiteRow {
	id: string;
	name: string;
	timezone: string;
}

export async function listSites(db: SqlLike): Promise<SiteRow[]> {
	return db<SiteRow[]>`SELECT id, name, timezone FROM sites ORDER BY id`;
}

export interface HourlySeries {
	id: string;
	site: string;
	subspecialty: string;
	modality: string;
	patientClass: string;
	/** Counts for the hours [fromMs, toMs), index 0 = fromMs. */
	counts: Float64Array;
	/** Index of the first and last hour with a non-zero count. */
	first: number;
	last: number;
}

/**
 * Hourly counts of every series with at least one exam in [fromMs, toMs).
 * Both bounds must be hour starts. Hours without rows are 0.
 */
export async function loadHourlyHistory(db: SqlLike, fromMs: number, toMs: number): Promise<HourlySeries[]> {
	const from = new Date(fromMs);
	const to = new Date(toMs);
	const rows = await db<{ hour: Date; site: string; sub: string; modality: string; pc: string; n: number }[]>`
		WITH live AS (
			SELECT bucket AS hour, site_id AS site, coalesce(subspecialty, 'general') AS sub,
				coalesce(modality, 'OT') AS modality, coalesce(patient_class, 'O') AS pc, sum(arrivals)::int AS n
			FROM study_hourly
			WHERE bucket >= ${from} AND bucket < ${to} AND site_id IS NOT NULL AND arrivals > 0
			GROUP BY 1, 2, 3, 4, 5
		), imported AS (
			SELECT hour, site_id AS site, subspecialty AS sub, modality, patient_class AS pc, count AS n
			FROM volume_history
			WHERE hour >= ${from} AND hour < ${to} AND count > 0
		)
		SELECT hour, site, sub, modality, pc, coalesce(live.n, imported.n) AS n
		FROM live FULL JOIN imported USING (hour, site, sub, modality, pc)`;
	const hours = Math.round((toMs - fromMs) / HOUR_MS);
	const byId = new Map<string, HourlySeries>();
	for (const r of rows) {
		const key = { site: r.site, subspecialty: r.sub, modality: r.modality, patientClass: r.pc };
		const id = seriesId(key);
		let s = byId.get(id);
		if (!s) byId.set(id, (s = { id, ...key, counts: new Float64Array(hours), first: hours, last: -1 }));
		const i = Math.floor((r.hour.getTime() - fromMs) / HOUR_MS);
		if (i < 0 || i >= hours) continue;
		s.counts[i] += r.n;
		if (r.n > 0) {
			s.first = Math.min(s.first, i);
			s.last = Math.max(s.last, i);
		}
	}
	return [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
}

/** One hour of imported volume for one series. */
export interface VolumeHistoryRow {
	hour: number;
	site: string;
	subspecialty: string;
	modality: string;
	patientClass: string;
	count: number;
}

/**
 * Insert or replace imported hourly counts. Replacing (not adding) makes a
 * re-import of the same file a no-op. Rows go in batches of `batchSize`
 * within the caller's transaction; `onBatch` reports progress.
 */
export async function upsertVolumeHistory(
	tx: SqlLike,
	rows: readonly VolumeHistoryRow[],
	opts: { source?: string; batchSize?: number; onBatch?: (done: number, total: number) => void } = {}
): Promise<{ inserted: number; updated: number }> {
	const size = opts.batchSize ?? 5000;
	const source = opts.source ?? 'import';
	let inserted = 0;
	let updated = 0;
	for (let i = 0; i < rows.length; i += size) {
		const batch = rows.slice(i, i + size);
		const res = await tx<{ inserted: boolean }[]>`
			INSERT INTO volume_history (hour, site_id, subspecialty, modality, patient_class, count, source)
			SELECT * FROM unnest(
				${batch.map((r) => new Date(r.hour).toISOString())}::timestamptz[],
				${batch.map((r) => r.site)}::text[],
				${batch.map((r) => r.subspecialty)}::text[],
				${batch.map((r) => r.modality)}::text[],
				${batch.map((r) => r.patientClass)}::text[],
				${batch.map((r) => r.count)}::int[],
				array_fill(${source}::text, ARRAY[${batch.length}::int])
			)
			ON CONFLICT (hour, site_id, subspecialty, modality, patient_class)
			DO UPDATE SET count = EXCLUDED.count, source = EXCLUDED.source
			RETURNING (xmax = 0) AS inserted`;
		for (const r of res) r.inserted ? inserted++ : updated++;
		opts.onBatch?.(Math.min(i + size, rows.length), rows.length);
	}
	return { inserted, updated };
}
