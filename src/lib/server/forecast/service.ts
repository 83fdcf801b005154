/**
 * The forecast service: every arrival series forecast with intervals, pooled
 * into required readers per site × subspecialty and hour, and compared with
 * the shift plan.
 *
 * Forecasts are the expensive part (about 10 ms per series) and change only
 * with new history, so one snapshot per forecast hour is kept in memory for a
 * few minutes. The shift plan is cheap and read fresh on every call, so an
 * edited shift shows in the gap at once.
 *
 * @see ARCHITECTURE.md "Forecasting"
 */
import type { Database, SqlLike } from '../db/client';
import { HOUR_MS, WEEKLY_PERIOD, floorHour, usImagingHolidaysBetween } from '../../domain/forecast/calendar';
import { ForecastError, forecastSeries, type ForecastPoint } from '../../domain/forecast/forecast';
import type { ModelName } from '../../domain/forecast/models';
import {
	DEFAULT_READ_MINUTES,
	DEFAULT_SLA,
	bottleneckWindows,
	compareWithShiftPlan,
	poolWorkload,
	type Bottleneck,
	type BottleneckWindow,
	type SeriesForecast,
	type SlaTarget,
	type Surplus
} from '../../domain/forecast/staffing';
import type { Subspecialty } from '../../domain/study/model';
import { EXAM_CATALOG } from '../../domain/exams/catalog';
import { listSites, loadHourlyHistory, type SiteRow } from './history';
import { loadShiftPlan } from './shifts';
import { tzOffsetMinutes } from './time';

export interface ForecastServiceOptions {
	/** Hours forecast ahead (default 168: a week). */
	horizon?: number;
	/** Weeks of history fed to the models (default 8). */
	historyWeeks?: number;
	/** Hours of history kept for display (default 336: two weeks). */
	displayHours?: number;
	/** How long a snapshot is reused, ms (default 5 minutes). */
	ttlMs?: number;
}

export interface SeriesResult {
	id: string;
	site: string;
	subspecialty: string;
	modality: string;
	patientClass: string;
	model: ModelName;
	backtest: { model: ModelName; mase: number }[];
	readMinutes: number;
	/** Exams per week over the last four weeks of history. */
	weeklyVolume: number;
	/** The last `displayHours` hours before `asOf`. */
	history: number[];
	points: ForecastPoint[];
}

export interface SkippedSeries {
	id: string;
	reason: string;
}

export interface ForecastSnapshot {
	/** First forecast hour (UTC ms): the current hour. History ends just before it. */
	asOf: number;
	computedAt: number;
	horizon: number;
	displayHours: number;
	series: SeriesResult[];
	skipped: SkippedSeries[];
	sites: SiteRow[];
	durationMs: number;
}

const DEFAULTS = { horizon: 168, historyWeeks: 8, displayHours: 336, ttlMs: 5 * 60_000 };
/** Series quieter than this many exams in the last 4 weeks are not forecast: too few to staff for. */
const MIN_EXAMS_4W = 4;
/** Series with no exam in this many hours are treated as discontinued. */
const STALE_HOURS = 14 * 24;
/** Series need at least a day of history. */
const MIN_HISTORY_HOURS = 24;

const cache = new Map<string, { expires: number; value: Promise<ForecastSnapshot> }>();
/** The newest finished snapshot per database, for callers that must not wait (the overview). */
const lastGood = new Map<string, ForecastSnapshot>();

/** Drop cached snapshots (after an import in this process, and in tests). */
export function clearForecastCache(): void {
	cache.clear();
}

const readMinutesCache = new Map<string, number>();
/** Mean catalog reading minutes of the exams of one modality and subspecialty, else the modality default. */
export function readMinutesFor(modality: string, subspecialty: string): number {
	const key = `${modality}|${subspecialty}`;
	let v = readMinutesCache.get(key);
	if (v === undefined) {
		const exams = EXAM_CATALOG.filter((e) => e.modality === modality && e.subspecialty === subspecialty);
		v = exams.length ? exams.reduce((a, e) => a + e.expectedReadMinutes, 0) / exams.length : (DEFAULT_READ_MINUTES[modality] ?? 10);
		readMinutesCache.set(key, v);
	}
	return v;
}

/**
 * Forecast every series with recent arrivals, from the hour containing `now`.
 * Reuses a snapshot computed for the same hour within `ttlMs`.
 */
export function getForecastSnapshot(db: Database, now: Date | number, opts: ForecastServiceOptions = {}): Promise<ForecastSnapshot> {
	const o = { ...DEFAULTS, ...opts };
	const asOf = floorHour(+now);
	const key = `${db.url}|${asOf}|${o.horizon}|${o.historyWeeks}|${o.displayHours}`;
	const hit = cache.get(key);
	const t = Date.now();
	if (hit && hit.expires > t) return hit.value;
	const value = computeSnapshot(db.sql, asOf, o);
	value.then((snap) => lastGood.set(db.url, snap)).catch(() => {});
	cache.set(key, { expires: t + o.ttlMs, value });
	value.catch(() => cache.delete(key));
	for (const [k, v] of cache) if (v.expires <= t) cache.delete(k);
	return value;
}

/**
 * The newest finished snapshot computed within the last hour, without waiting:
 * starts a refresh when the cached one expired, and returns null only before
 * the first one ever finished.
 */
export function peekForecastSnapshot(db: Database, now: Date | number, opts: ForecastServiceOptions = {}): ForecastSnapshot | null {
	getForecastSnapshot(db, now, opts).catch(() => {});
	const snap = lastGood.get(db.url);
	return snap && +now - snap.asOf < 2 * HOUR_MS ? snap : null;
}

async function computeSnapshot(sql: SqlLike, asOf: number, o: typeof DEFAULTS): Promise<ForecastSnapshot> {
	const started = performance.now();
	const historyHours = o.historyWeeks * WEEKLY_PERIOD;
	const from = asOf - historyHours * HOUR_MS;
	const [sites, history] = await Promise.all([listSites(sql), loadHourlyHistory(sql, from, asOf)]);
	const tz = new Map(sites.map((s) => [s.id, s.timezone]));
	const year = new Date(asOf).getUTCFullYear();
	const holidays = usImagingHolidaysBetween(year - 1, year + 1);
	const series: SeriesResult[] = [];
	const skipped: SkippedSeries[] = [];
	for (const h of history) {
		if (h.last < 0) continue;
		if (historyHours - 1 - h.last > STALE_HOURS) {
			skipped.push({ id: h.id, reason: `no arrivals since ${new Date(from + h.last * HOUR_MS).toISOString().slice(0, 10)}` });
			continue;
		}
		// Start at the first observed hour: zeros before a series existed are not history.
		const start = h.first;
		if (historyHours - start < MIN_HISTORY_HOURS) {
			skipped.push({ id: h.id, reason: `only ${historyHours - start} hours of history` });
			continue;
		}
		const recent = h.counts.subarray(Math.max(start, historyHours - 4 * WEEKLY_PERIOD));
		const recentSum = recent.reduce((a, b) => a + b, 0);
		if (recentSum < MIN_EXAMS_4W) {
			skipped.push({ id: h.id, reason: `${recentSum} exams in the last 4 weeks` });
			continue;
		}
		try {
			const res = forecastSeries(h.counts.subarray(start), {
				startMs: asOf,
				horizon: o.horizon,
				holidays,
				utcOffsetMinutes: tzOffsetMinutes(tz.get(h.site) ?? 'UTC', asOf)
			});
			series.push({
				id: h.id,
				site: h.site,
				subspecialty: h.subspecialty,
				modality: h.modality,
				patientClass: h.patientClass,
				model: res.model,
				backtest: res.backtest,
				readMinutes: readMinutesFor(h.modality, h.subspecialty),
				weeklyVolume: (recentSum * WEEKLY_PERIOD) / recent.length,
				history: Array.from(h.counts.subarray(historyHours - Math.min(o.displayHours, historyHours))),
				points: res.points
			});
		} catch (err) {
			if (!(err instanceof ForecastError)) throw err;
			skipped.push({ id: h.id, reason: err.message });
		}
	}
	series.sort((a, b) => b.weeklyVolume - a.weeklyVolume);
	return {
		asOf,
		computedAt: Date.now(),
		horizon: o.horizon,
		displayHours: Math.min(o.displayHours, historyHours),
		series,
		skipped,
		sites,
		durationMs: Math.round(performance.now() - started)
	};
}

/** Picks series by any of site, subspecialty, modality, patient class (empty = all). */
export interface SeriesFilter {
	site?: string | null;
	subspecialty?: string | null;
	modality?: string | null;
	patientClass?: string | null;
}

export function matches(s: SeriesResult, f: SeriesFilter): boolean {
	return (
		(!f.site || s.site === f.site) &&
		(!f.subspecialty || s.subspecialty === f.subspecialty) &&
		(!f.modality || s.modality === f.modality) &&
		(!f.patientClass || s.patientClass === f.patientClass)
	);
}

export interface AggregatedSeries {
	seriesCount: number;
	/** Hourly history, oldest first, ending just before `asOf`. */
	history: { t: number; v: number }[];
	forecast: ForecastPoint[];
}

/**
 * Sum the selected series: history and means add exactly; interval
 * half-widths add in quadrature (independent errors), lower and upper apart
 * because count intervals are skewed.
 */
export function aggregateSeries(snap: ForecastSnapshot, f: SeriesFilter): AggregatedSeries {
	const chosen = snap.series.filter((s) => matches(s, f));
	const n = snap.displayHours;
	const hist = new Float64Array(n);
	const mean = new Float64Array(snap.horizon);
	const v80lo = new Float64Array(snap.horizon);
	const v80hi = new Float64Array(snap.horizon);
	const v95lo = new Float64Array(snap.horizon);
	const v95hi = new Float64Array(snap.horizon);
	for (const s of chosen) {
		const off = n - s.history.length;
		s.history.forEach((v, i) => (hist[off + i] += v));
		s.points.forEach((p, k) => {
			mean[k] += p.mean;
			v80lo[k] += (p.mean - p.lo80) ** 2;
			v80hi[k] += (p.hi80 - p.mean) ** 2;
			v95lo[k] += (p.mean - p.lo95) ** 2;
			v95hi[k] += (p.hi95 - p.mean) ** 2;
		});
	}
	const start = snap.asOf - n * HOUR_MS;
	return {
		seriesCount: chosen.length,
		history: Array.from(hist, (v, i) => ({ t: start + i * HOUR_MS, v })),
		forecast: Array.from(mean, (m, k) => ({
			t: snap.asOf + k * HOUR_MS,
			mean: m,
			lo80: Math.max(0, m - Math.sqrt(v80lo[k])),
			hi80: m + Math.sqrt(v80hi[k]),
			lo95: Math.max(0, m - Math.sqrt(v95lo[k])),
			hi95: m + Math.sqrt(v95hi[k])
		}))
	};
}

export interface PoolHourRow {
	hourStart: number;
	site: string;
	subspecialty: string;
	exams: number;
	required: number;
	requiredLo80: number;
	requiredHi80: number;
	scheduled: number;
}

export interface SurplusWindow {
	site: string;
	subspecialty: string;
	from: number;
	to: number;
	hours: number;
	maxSurplus: number;
}

export interface StaffingView {
	from: number;
	to: number;
	hours: PoolHourRow[];
	bottlenecks: Bottleneck[];
	windows: BottleneckWindow[];
	surplus: Surplus[];
	surplusWindows: SurplusWindow[];
}

function surplusWindows(surplus: readonly Surplus[]): SurplusWindow[] {
	const sorted = [...surplus].sort((a, b) => a.site.localeCompare(b.site) || a.subspecialty.localeCompare(b.subspecialty) || a.hourStart - b.hourStart);
	const out: SurplusWindow[] = [];
	for (const s of sorted) {
		const last = out[out.length - 1];
		if (last && last.site === s.site && last.subspecialty === s.subspecialty && last.to === s.hourStart) {
			last.to += HOUR_MS;
			last.hours++;
			last.maxSurplus = Math.max(last.maxSurplus, s.surplus);
		} else out.push({ site: s.site, subspecialty: s.subspecialty, from: s.hourStart, to: s.hourStart + HOUR_MS, hours: 1, maxSurplus: s.surplus });
	}
	return out.sort((a, b) => a.from - b.from);
}

/**
 * Required vs scheduled readers per pool and hour in [from, to) (clipped to
 * the forecast horizon), with bottlenecks and surplus. `site` /
 * `subspecialty` narrow it to some pools.
 */
export async function computeStaffing(
	db: SqlLike,
	snap: ForecastSnapshot,
	opts: { from?: number; to?: number; site?: string | null; subspecialty?: string | null; sla?: SlaTarget } = {}
): Promise<StaffingView> {
	const from = Math.max(snap.asOf, floorHour(opts.from ?? snap.asOf));
	const to = Math.min(snap.asOf + snap.horizon * HOUR_MS, opts.to ?? snap.asOf + snap.horizon * HOUR_MS);
	const sla = opts.sla ?? DEFAULT_SLA;
	const forecasts: SeriesForecast[] = snap.series
		.filter((s) => matches(s, { site: opts.site, subspecialty: opts.subspecialty }))
		.map((s) => ({
			site: s.site,
			subspecialty: s.subspecialty as Subspecialty,
			modality: s.modality,
			patientClass: s.patientClass,
			readMinutes: s.readMinutes,
			points: s.points.filter((p) => p.t >= from && p.t < to)
		}));
	const pools = poolWorkload(forecasts, sla);
	const plan = to > from ? await loadShiftPlan(db, from, to) : [];
	const cmp = compareWithShiftPlan(pools, plan, sla);
	const scheduled = new Map<string, number>();
	for (const e of plan) scheduled.set(`${e.site}|${e.subspecialty}|${e.hourStart}`, (scheduled.get(`${e.site}|${e.subspecialty}|${e.hourStart}`) ?? 0) + e.readers);
	const hours: PoolHourRow[] = pools.map((p) => ({
		hourStart: p.hourStart,
		site: p.site,
		subspecialty: p.subspecialty,
		exams: p.exams.mean,
		required: p.required.mean,
		requiredLo80: p.required.lo80,
		requiredHi80: p.required.hi80,
		scheduled: scheduled.get(`${p.site}|${p.subspecialty}|${p.hourStart}`) ?? 0
	}));
	return {
		from,
		to,
		hours,
		bottlenecks: cmp.bottlenecks,
		windows: bottleneckWindows(cmp.bottlenecks),
		surplus: cmp.surplus,
		surplusWindows: surplusWindows(cmp.surplus)
	};
}

export interface PoolGap {
	site: string;
	subspecialty: string;
	from: number;
	to: number;
	/** Hours of the window that the forecast covers (past and far-future hours have no forecast). */
	forecastFrom: number | null;
	forecastTo: number | null;
	hours: { hourStart: number; required: number; requiredHi80: number; scheduled: number; gap: number }[];
	/** Sum over hours of readers missing at the expected volume (reader-hours). */
	shortReaderHours: number;
	/** Hours with fewer readers than needed at the expected volume. */
	shortHours: number;
}

/** The gap (required − scheduled) of one pool over a window, e.g. the window a shift edit touched. */
export async function poolGap(
	db: SqlLike,
	snap: ForecastSnapshot,
	site: string,
	subspecialty: string,
	from: number,
	to: number,
	sla: SlaTarget = DEFAULT_SLA
): Promise<PoolGap> {
	const view = await computeStaffing(db, snap, { from, to, site, subspecialty, sla });
	const hours = view.hours.map((h) => ({
		hourStart: h.hourStart,
		required: h.required,
		requiredHi80: h.requiredHi80,
		scheduled: Math.round(h.scheduled * 100) / 100,
		gap: Math.round((h.required - h.scheduled) * 100) / 100
	}));
	return {
		site,
		subspecialty,
		from,
		to,
		forecastFrom: view.to > view.from ? view.from : null,
		forecastTo: view.to > view.from ? view.to : null,
		hours,
		shortReaderHours: Math.round(hours.reduce((a, h) => a + Math.max(0, h.gap), 0) * 100) / 100,
		shortHours: hours.filter((h) => h.gap > 0).length
	};
}
