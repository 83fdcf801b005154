/**
 * The department manager's overview: everything on it is one query here, so
 * each number on the page has a list behind it.
 */
import type { SqlLike } from '../db/client';
import type { RoutingPolicy } from '../../domain/routing/policy';

export interface QueueCell {
	siteId: string;
	subspecialty: string;
	waiting: number;
	withReader: number;
}

export interface TatRow {
	priority: string;
	reported: number;
	p50Min: number | null;
	p90Min: number | null;
	withinSla: number;
	targetMin: number;
}

export interface CriticalRow {
	flagId: number;
	studyId: number;
	finding: string;
	modelId: string;
	modelVersion: string;
	score: number;
	raisedAt: string;
	ageMin: number;
	siteId: string | null;
	examName: string | null;
}

export interface HourPoint {
	hour: string;
	/** Null for hours still to come. */
	arrivals: number | null;
	reported: number | null;
	/** Forecast arrivals (mean), where a forecast covers the hour. */
	expected?: number | null;
}

/**
 * Add the forecast to the throughput chart: the expected arrivals for the
 * current hour beside what arrived so far, and `aheadHours` more hours ahead.
 * `forecast` is the all-series sum, first point at the current hour.
 */
export function withForecast(points: HourPoint[], forecast: { t: number; mean: number }[] | null, aheadHours = 6): HourPoint[] {
	if (!forecast || forecast.length === 0) return points;
	const byHour = new Map(forecast.map((f) => [f.t, f.mean]));
	const round = (v: number | undefined) => (v === undefined ? null : Math.round(v * 10) / 10);
	const current = points.map((p) => ({ ...p, expected: round(byHour.get(Date.parse(p.hour))) }));
	const last = Date.parse(points[points.length - 1].hour);
	const ahead = Array.from({ length: aheadHours }, (_, i) => {
		const t = last + (i + 1) * 3600_000;
		return { hour: new Date(t).toISOString(), arrivals: null, reported: null, expected: round(byHour.get(t)) };
	});
	return [...current, ...ahead];
}

export interface ReaderOnShift {
	id: number;
	name: string;
	status: string;
	subspecialties: string[];
	siteId: string | null;
	until: string;
	assigned: number;
}

export interface Overview {
	now: string;
	queue: QueueCell[];
	tat: TatRow[];
	slaBreached: number;
	slaAtRisk: number;
	criticals: CriticalRow[];
	throughput: HourPoint[];
	readers: ReaderOnShift[];
	lastEventId: number;
}

const OPEN = `status IN ('arriving', 'complete', 'triaged', 'assigned', 'opened')`;

/** Work waiting for a reader and work with a reader, by site × subspecialty. */
export async function queueDepth(sql: SqlLike): Promise<QueueCell[]> {
	return sql.unsafe<QueueCell[]>(`SELECT coalesce(site_id, '—') AS "siteId", coalesce(subspecialty, 'unmapped') AS subspecialty,
		count(*) FILTER (WHERE status IN ('complete', 'triaged'))::int AS waiting,
		count(*) FILTER (WHERE status IN ('assigned', 'opened'))::int AS "withReader"
		FROM studies WHERE ${OPEN} GROUP BY 1, 2 ORDER BY 1, 2`);
}

/** Turnaround (complete → report) since `since`, per priority, against the policy's target. */
export async function turnaroundSince(sql: SqlLike, since: Date, policy: RoutingPolicy): Promise<TatRow[]> {
	const rows = await sql`SELECT priority, count(*)::int AS reported,
		percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM reported_at - complete_at) / 60) AS p50,
		percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM reported_at - complete_at) / 60) AS p90,
		count(*) FILTER (WHERE sla_deadline IS NULL OR reported_at <= sla_deadline)::int AS within
		FROM studies WHERE status = 'reported' AND reported_at >= ${since.toISOString()} AND complete_at IS NOT NULL
		GROUP BY priority`;
	const by = new Map(rows.map((r) => [r.priority as string, r]));
	return (['stat', 'asap', 'routine'] as const).map((p) => {
		const r = by.get(p);
		const targets = policy.slaTargetsMinutes[p];
		return {
			priority: p,
			reported: r?.reported ?? 0,
			p50Min: r?.p50 == null ? null : Math.round(r.p50),
			p90Min: r?.p90 == null ? null : Math.round(r.p90),
			withinSla: r?.within ?? 0,
			targetMin: targets.E
		};
	});
}

/** Open studies past their deadline, and those with less than `riskMinutes` left. */
export async function slaCounts(sql: SqlLike, now: Date, riskMinutes = 15): Promise<{ breached: number; atRisk: number }> {
	const [r] = await sql.unsafe(
		`SELECT count(*) FILTER (WHERE sla_deadline < $1)::int AS breached,
			count(*) FILTER (WHERE sla_deadline >= $1 AND sla_deadline < $1::timestamptz + make_interval(mins => $2))::int AS "atRisk"
		 FROM studies WHERE ${OPEN} AND sla_deadline IS NOT NULL`,
		[now.toISOString(), riskMinutes]
	);
	return { breached: r.breached, atRisk: r.atRisk };
}

export async function openCriticals(sql: SqlLike, now: Date): Promise<CriticalRow[]> {
	const rows = await sql`SELECT f.id AS "flagId", f.study_id AS "studyId", f.finding, f.model_id AS "modelId",
		f.model_version AS "modelVersion", f.score, f.raised_at AS "raisedAt", s.site_id AS "siteId", s.exam_name AS "examName"
		FROM critical_flags f JOIN studies s ON s.id = f.study_id
		WHERE f.status = 'pending' ORDER BY f.raised_at LIMIT 50`;
	return rows.map((r) => ({
		...(r as unknown as CriticalRow),
		raisedAt: new Date(r.raisedAt).toISOString(),
		ageMin: Math.round((now.getTime() - new Date(r.raisedAt).getTime()) / 60000)
	}));
}

/** Arrivals (studies complete) and reports per hour over the last `hours`. */
export async function throughput(sql: SqlLike, now: Date, hours = 24): Promise<HourPoint[]> {
	const from = new Date(Math.floor(now.getTime() / 3600_000) * 3600_000 - (hours - 1) * 3600_000);
	const rows = await sql`SELECT bucket, sum(arrivals)::int AS arrivals, sum(reported)::int AS reported
		FROM study_hourly WHERE bucket >= ${from.toISOString()} GROUP BY bucket`;
	const by = new Map(rows.map((r) => [new Date(r.bucket).getTime(), r]));
	return Array.from({ length: hours }, (_, i) => {
		const t = from.getTime() + i * 3600_000;
		const r = by.get(t);
		return { hour: new Date(t).toISOString(), arrivals: r?.arrivals ?? 0, reported: r?.reported ?? 0 };
	});
}

export async function readersOnShift(sql: SqlLike, now: Date): Promise<ReaderOnShift[]> {
	const rows = await sql`SELECT r.id, r.name, r.status, r.subspecialties, sh.site_id AS "siteId", max(sh.ends_at) AS until,
		(SELECT count(*)::int FROM studies s WHERE s.assigned_to = r.id AND s.status IN ('assigned', 'opened')) AS assigned
		FROM shifts sh JOIN radiologists r ON r.id = sh.radiologist_id
		WHERE sh.starts_at <= ${now.toISOString()} AND sh.ends_at > ${now.toISOString()}
		GROUP BY r.id, sh.site_id ORDER BY r.name`;
	return rows.map((r) => ({ ...(r as unknown as ReaderOnShift), until: new Date(r.until).toISOString() }));
}

export async function loadOverview(sql: SqlLike, policy: RoutingPolicy, now = new Date()): Promise<Overview> {
	const midnight = new Date(now);
	midnight.setUTCHours(0, 0, 0, 0);
	const [queue, tat, sla, criticals, tp, readers, [{ last }]] = await Promise.all([
		queueDepth(sql),
		turnaroundSince(sql, midnight, policy),
		slaCounts(sql, now),
		openCriticals(sql, now),
		throughput(sql, now),
		readersOnShift(sql, now),
		sql`SELECT coalesce(max(id), 0)::bigint AS last FROM study_events`
	]);
	return {
		now: now.toISOString(),
		queue,
		tat,
		slaBreached: sla.breached,
		slaAtRisk: sla.atRisk,
		criticals,
		throughput: tp,
		readers,
		lastEventId: Number(last)
	};
}
