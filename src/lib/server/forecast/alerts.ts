/**
 * Staffing alerts: pools that are likely to be short of readers in the next
 * 72 hours, with the shifts that cover them, raised once as `staffing_alert`
 * events so they stream live to every dashboard.
 */
import type { Database, Sql, SqlLike } from '../db/client';
import { getContext } from '../context';
import { insertEvents } from '../events/store';
import { HOUR_MS } from '../../domain/forecast/calendar';
import { Confidence, bottleneckWindows, type Bottleneck } from '../../domain/forecast/staffing';
import { computeStaffing, getForecastSnapshot, type ForecastServiceOptions } from './service';
import { listShifts } from './shifts';

export const STAFFING_ALERT_KIND = 'staffing_alert';
export const ALERT_HORIZON_HOURS = 72;
/** Hours short with at least this probability alert; 'possible' ones are only listed on the page. */
export const ALERT_MIN_PROBABILITY = 0.5;

export interface ShortShiftAlert {
	site: string;
	subspecialty: string;
	/** First short hour (UTC ms) and end of the last one. */
	from: number;
	to: number;
	hours: number;
	/** Most readers missing in any hour of the window. */
	maxShort: number;
	confidence: Confidence;
	/** Highest probability of missing the SLA among the hours. */
	probability: number;
	/** Shifts of this pool overlapping the window (empty: nobody is scheduled). */
	shifts: { id: number; radiologist: string; startsAt: number; endsAt: number }[];
}

/**
 * Pools and windows in the next 72 hours where the scheduled readers are
 * likely (≥ 50 %) to miss the reading SLA, with the shifts that are short.
 */
export async function shortShiftAlerts(
	now: Date | number,
	opts: { db?: Database; forecast?: ForecastServiceOptions } = {}
): Promise<ShortShiftAlert[]> {
	const db = opts.db ?? getContext().db;
	const snap = await getForecastSnapshot(db, now, opts.forecast);
	const view = await computeStaffing(db.sql, snap, { from: snap.asOf, to: snap.asOf + ALERT_HORIZON_HOURS * HOUR_MS });
	const likely = view.bottlenecks.filter((b) => b.probability >= ALERT_MIN_PROBABILITY);
	if (likely.length === 0) return [];
	const windows = bottleneckWindows(likely);
	const shifts = await listShifts(db.sql, view.from, view.to);
	const peak = new Map<string, number>();
	for (const b of likely as Bottleneck[]) {
		const k = `${b.site}|${b.subspecialty}`;
		peak.set(k, Math.max(peak.get(k) ?? 0, b.probability));
	}
	return windows.map((w) => ({
		site: w.site,
		subspecialty: w.subspecialty,
		from: w.from,
		to: w.to,
		hours: w.hours,
		maxShort: w.maxShort,
		confidence: w.confidence,
		probability: Math.max(...likely.filter((b) => b.site === w.site && b.subspecialty === w.subspecialty && b.hourStart >= w.from && b.hourStart < w.to).map((b) => b.probability)),
		shifts: shifts
			.filter((s) => (s.siteId === null || s.siteId === w.site) && (s.subspecialty === null || s.subspecialty === w.subspecialty))
			.filter((s) => s.startsAt.getTime() < w.to && s.endsAt.getTime() > w.from)
			.map((s) => ({ id: s.id, radiologist: s.radiologist, startsAt: s.startsAt.getTime(), endsAt: s.endsAt.getTime() }))
	}));
}

/** The idempotency key of the alert for a pool's short window starting at `hourStart`. */
export function staffingAlertKey(site: string, subspecialty: string, hourStart: number): string {
	return `staffing:${site}:${subspecialty}:${new Date(hourStart).toISOString().slice(0, 13)}`;
}

/**
 * Insert one `staffing_alert` event per window not alerted before. A window
 * that an earlier alert already covered (the same shortage, seen again an
 * hour later) is not raised again. Returns the events inserted.
 */
export async function raiseStaffingAlerts(sql: Sql, alerts: readonly ShortShiftAlert[], now: Date | number): Promise<number> {
	if (alerts.length === 0) return 0;
	const run = async (tx: SqlLike) => {
		const fresh = [];
		for (const a of alerts) {
			const [covered] = await tx`
				SELECT 1 FROM study_events
				WHERE kind = ${STAFFING_ALERT_KIND} AND site_id = ${a.site} AND subspecialty = ${a.subspecialty}
					AND time > ${new Date(+now - 4 * 24 * HOUR_MS)}
					AND (payload->>'from')::timestamptz <= ${new Date(a.from)} AND (payload->>'to')::timestamptz > ${new Date(a.from)}
				LIMIT 1`;
			if (covered) continue;
			fresh.push({
				time: new Date(now).toISOString(),
				studyId: null,
				kind: STAFFING_ALERT_KIND,
				actor: 'forecast',
				siteId: a.site,
				subspecialty: a.subspecialty,
				idempotencyKey: staffingAlertKey(a.site, a.subspecialty, a.from),
				payload: {
					from: new Date(a.from).toISOString(),
					to: new Date(a.to).toISOString(),
					hours: a.hours,
					readersShort: a.maxShort,
					confidence: a.confidence,
					probability: Math.round(a.probability * 100) / 100,
					shifts: a.shifts.map((s) => s.id),
					note: `${a.site} ${a.subspecialty}: ${a.maxShort} reader(s) short for ${a.hours} h from ${new Date(a.from).toISOString().slice(0, 16)}Z (${a.confidence})`
				}
			});
		}
		const { inserted } = await insertEvents(tx, fresh);
		return inserted.length;
	};
	return sql.begin(run);
}

const lastRaised = new Map<string, number>();

/**
 * Compute the alerts and raise new ones, at most once per `minIntervalMs` per
 * database in this process (pages call it on load). Errors are the caller's to log.
 */
export async function refreshStaffingAlerts(
	db: Database,
	now: Date | number,
	opts: { minIntervalMs?: number; force?: boolean } = {}
): Promise<{ alerts: ShortShiftAlert[]; raised: number }> {
	const alerts = await shortShiftAlerts(now, { db });
	const last = lastRaised.get(db.url) ?? -Infinity;
	if (!opts.force && Date.now() - last < (opts.minIntervalMs ?? 5 * 60_000)) return { alerts, raised: 0 };
	lastRaised.set(db.url, Date.now());
	const raised = await raiseStaffingAlerts(db.sql, alerts, now);
	return { alerts, raised };
}
