/**
 * From forecast volumes to readers needed, and from readers needed to named
 * bottlenecks in a shift plan.
 *
 * Assumptions (the model is deliberately simple; each one is a knob):
 * - Each reading pool (site × subspecialty by default) is an M/M/c queue
 *   within each hour: Poisson arrivals at the forecast rate, exponential
 *   reading times with the pool's mean reading minutes, first come first
 *   served, and steady state reached within the hour (the "stationary
 *   independent period" approximation). Backlog carried between hours is not
 *   modelled, so a short hour right after another short hour is worse than
 *   it looks.
 * - A reader spends `productivity` of each scheduled hour reading (the rest
 *   goes to calls, consults, protocols); reading minutes are divided by it.
 * - The SLA is "at least `serviceLevel` of exams wait at most
 *   `targetWaitMinutes` before a reader opens them" (the call-centre service
 *   level), optionally with an occupancy cap.
 * - Forecast errors of the series in a pool are independent and roughly
 *   normal: a series' 80 % interval gives its standard deviation, and pool
 *   variances add. This yields the pool's workload at its 10th, 50th and 90th
 *   percentile and the probability that the scheduled readers fall short.
 *
 * @see A.K. Erlang (1917); G. Koole, Call Center Optimization (2013), ch. 5 — Erlang C and service level.
 * @see L.V. Green, P.J. Kolesar, J. Soares, "Improving the SIPP approach for staffing service systems that have cyclic demands", Operations Research 49 (2001).
 */
import { normalCdf, normalQuantile } from './intervals';
import type { ForecastPoint } from './forecast';
import type { Subspecialty } from '../study/model';

/**
 * Planning defaults for mean reading minutes per exam by modality, used when
 * the normalized exam model gives none. Rough figures for a typical mix of
 * exams; sites should override them with their own.
 */
export const DEFAULT_READ_MINUTES: Readonly<Record<string, number>> = {
	CT: 12,
	MR: 18,
	CR: 3,
	DX: 3,
	US: 8,
	NM: 15,
	PT: 20,
	MG: 7,
	XA: 20,
	RF: 10
};
const FALLBACK_READ_MINUTES = 10;

export interface SlaTarget {
	/** Longest acceptable wait before an exam is opened, in minutes. */
	targetWaitMinutes: number;
	/** Required share of exams opened within the target (0–1). */
	serviceLevel: number;
	/** Optional cap on reader occupancy (0–1), e.g. 0.85 to leave slack. */
	maxOccupancy?: number;
	/** Fraction of a scheduled hour spent reading (default 1). */
	productivity?: number;
}

export const DEFAULT_SLA: SlaTarget = { targetWaitMinutes: 30, serviceLevel: 0.8, productivity: 0.85 };

/**
 * Erlang C: probability that an arriving job waits in an M/M/c queue with
 * `servers` servers and offered load `load` = λ·S Erlangs. 1 when the queue is
 * unstable (load ≥ servers). Computed via the Erlang B recursion, which is
 * numerically stable for thousands of servers.
 */
export function erlangC(servers: number, load: number): number {
	if (!(load > 0)) return 0;
	if (servers <= load) return 1;
	let b = 1;
	for (let k = 1; k <= servers; k++) b = (load * b) / (k + load * b);
	return (servers * b) / (servers - load * (1 - b));
}

/**
 * Share of jobs that wait at most `targetWait` in an M/M/c queue:
 * SL = 1 − C(c, A)·exp(−(c − A)·t / S). Times in the same unit as `meanService`.
 */
export function serviceLevel(servers: number, load: number, meanService: number, targetWait: number): number {
	if (!(load > 0)) return 1;
	if (servers <= load) return 0;
	return 1 - erlangC(servers, load) * Math.exp((-(servers - load) * targetWait) / meanService);
}

/** Mean wait in queue, W_q = C(c, A)·S / (c − A). Infinity when unstable. */
export function meanWait(servers: number, load: number, meanService: number): number {
	if (!(load > 0)) return 0;
	if (servers <= load) return Infinity;
	return (erlangC(servers, load) * meanService) / (servers - load);
}

function meetsSla(servers: number, arrivalsPerHour: number, readMinutes: number, sla: SlaTarget): boolean {
	const service = readMinutes / (sla.productivity ?? 1);
	const load = (arrivalsPerHour * service) / 60;
	if (sla.maxOccupancy !== undefined && load > servers * sla.maxOccupancy) return false;
	return serviceLevel(servers, load, service, sla.targetWaitMinutes) >= sla.serviceLevel;
}

/**
 * Smallest number of readers meeting the SLA for `arrivalsPerHour` exams with
 * mean `readMinutes` each. 0 when nothing arrives.
 */
export function requiredReaders(arrivalsPerHour: number, readMinutes: number, sla: SlaTarget = DEFAULT_SLA): number {
	if (!(arrivalsPerHour > 0) || !(readMinutes > 0)) return 0;
	const load = (arrivalsPerHour * readMinutes) / (sla.productivity ?? 1) / 60;
	let c = Math.max(1, Math.floor(load) + 1);
	while (!meetsSla(c, arrivalsPerHour, readMinutes, sla)) c++;
	return c;
}

/** Largest arrival rate per hour that `servers` readers handle within the SLA. */
export function capacityPerHour(servers: number, readMinutes: number, sla: SlaTarget = DEFAULT_SLA): number {
	if (servers <= 0 || !(readMinutes > 0)) return 0;
	let lo = 0;
	let hi = (servers * 60 * (sla.productivity ?? 1)) / readMinutes;
	for (let i = 0; i < 50; i++) {
		const mid = (lo + hi) / 2;
		if (meetsSla(servers, mid, readMinutes, sla)) lo = mid;
		else hi = mid;
	}
	return lo;
}

/** One series' forecast, labelled with the pool it feeds. */
export interface SeriesForecast {
	site: string;
	subspecialty: Subspecialty;
	modality?: string;
	patientClass?: string;
	/** Mean reading minutes per exam; defaults from `DEFAULT_READ_MINUTES` by modality. */
	readMinutes?: number;
	points: readonly ForecastPoint[];
}

/** Expected load of one pool in one hour, with the readers it needs. */
export interface PoolHour {
	hourStart: number;
	site: string;
	subspecialty: Subspecialty;
	exams: { mean: number; lo80: number; hi80: number; sd: number };
	/** Reading minutes arriving in the hour. */
	workloadMinutes: { mean: number; lo80: number; hi80: number; sd: number };
	/** Mean reading minutes per exam in this pool and hour. */
	readMinutes: number;
	/** Readers needed if volume lands at the 10th percentile, the mean, the 90th percentile. */
	required: { lo80: number; mean: number; hi80: number };
}

const Z80 = normalQuantile(0.9);

/**
 * Sum series forecasts into pools (site × subspecialty) per hour, and size
 * each pool with Erlang C at the low, mean and high forecast.
 */
export function poolWorkload(forecasts: readonly SeriesForecast[], sla: SlaTarget = DEFAULT_SLA): PoolHour[] {
	const acc = new Map<string, { site: string; sub: Subspecialty; t: number; n: number; nv: number; w: number; wv: number; minutesSum: number; weights: number }>();
	for (const f of forecasts) {
		const minutes = f.readMinutes ?? (f.modality ? DEFAULT_READ_MINUTES[f.modality] : undefined) ?? FALLBACK_READ_MINUTES;
		for (const p of f.points) {
			const key = `${f.site}\u0000${f.subspecialty}\u0000${p.t}`;
			let a = acc.get(key);
			if (!a) {
				a = { site: f.site, sub: f.subspecialty, t: p.t, n: 0, nv: 0, w: 0, wv: 0, minutesSum: 0, weights: 0 };
				acc.set(key, a);
			}
			const sd = Math.max(0, p.hi80 - p.lo80) / (2 * Z80);
			a.n += p.mean;
			a.nv += sd * sd;
			a.w += p.mean * minutes;
			a.wv += (sd * minutes) ** 2;
			// Hours forecast at zero still tell us the pool's exam mix.
			a.minutesSum += minutes * (p.mean + 1e-6);
			a.weights += p.mean + 1e-6;
		}
	}
	const out: PoolHour[] = [];
	for (const a of acc.values()) {
		const readMinutes = a.n > 0 ? a.w / a.n : a.minutesSum / a.weights;
		const nsd = Math.sqrt(a.nv);
		const wsd = Math.sqrt(a.wv);
		const wLo = Math.max(0, a.w - Z80 * wsd);
		const wHi = a.w + Z80 * wsd;
		out.push({
			hourStart: a.t,
			site: a.site,
			subspecialty: a.sub,
			exams: { mean: a.n, lo80: Math.max(0, a.n - Z80 * nsd), hi80: a.n + Z80 * nsd, sd: nsd },
			workloadMinutes: { mean: a.w, lo80: wLo, hi80: wHi, sd: wsd },
			readMinutes,
			required: {
				lo80: requiredReaders(wLo / readMinutes, readMinutes, sla),
				mean: requiredReaders(a.w / readMinutes, readMinutes, sla),
				hi80: requiredReaders(wHi / readMinutes, readMinutes, sla)
			}
		});
	}
	return out.sort((x, y) => x.hourStart - y.hourStart || x.site.localeCompare(y.site) || x.subspecialty.localeCompare(y.subspecialty));
}

/** Scheduled readers for one pool and hour. Hours missing from a plan have 0 readers. */
export interface ShiftPlanEntry {
	hourStart: number;
	site: string;
	subspecialty: Subspecialty;
	readers: number;
}

export const Confidence = {
	/** ≥ 90 %: short even if volume lands at its 10th percentile. */
	high: 'high',
	/** 50–90 %: short at the expected volume. */
	likely: 'likely',
	/** 10–50 %: short only if volume runs high. */
	possible: 'possible'
} as const;
export type Confidence = (typeof Confidence)[keyof typeof Confidence];

export interface Bottleneck {
	hourStart: number;
	site: string;
	subspecialty: Subspecialty;
	/** Readers needed at the expected volume. */
	required: number;
	requiredLo80: number;
	requiredHi80: number;
	scheduled: number;
	/** Readers missing: at the expected volume, or at the 90th percentile when only that is short. */
	short: number;
	/** Estimated probability that the scheduled readers miss the SLA this hour. */
	probability: number;
	confidence: Confidence;
}

export interface Surplus {
	hourStart: number;
	site: string;
	subspecialty: Subspecialty;
	requiredHi80: number;
	scheduled: number;
	/** Readers beyond what even the 90th-percentile volume needs. */
	surplus: number;
}

export interface StaffingComparison {
	bottlenecks: Bottleneck[];
	surplus: Surplus[];
	pools: PoolHour[];
}

function confidenceOf(p: number): Confidence | null {
	if (p >= 0.9) return Confidence.high;
	if (p >= 0.5) return Confidence.likely;
	if (p >= 0.1) return Confidence.possible;
	return null;
}

/**
 * Compare pool requirements with a shift plan. An hour is a bottleneck when
 * the probability of missing the SLA with the scheduled readers is at least
 * 10 %; that probability is P(workload > what the scheduled readers can
 * carry), from the pool's normal workload approximation. Surplus hours are
 * those with more readers than the 90th-percentile volume needs.
 */
export function compareWithShiftPlan(
	pools: readonly PoolHour[],
	plan: readonly ShiftPlanEntry[],
	sla: SlaTarget = DEFAULT_SLA
): StaffingComparison {
	const scheduledBy = new Map<string, number>();
	for (const e of plan) {
		const key = `${e.site}\u0000${e.subspecialty}\u0000${e.hourStart}`;
		scheduledBy.set(key, (scheduledBy.get(key) ?? 0) + e.readers);
	}
	const bottlenecks: Bottleneck[] = [];
	const surplus: Surplus[] = [];
	for (const p of pools) {
		const scheduled = scheduledBy.get(`${p.site}\u0000${p.subspecialty}\u0000${p.hourStart}`) ?? 0;
		const capacityMinutes = capacityPerHour(scheduled, p.readMinutes, sla) * p.readMinutes;
		const w = p.workloadMinutes;
		let probability: number;
		if (w.sd > 0) probability = 1 - normalCdf((capacityMinutes - w.mean) / w.sd);
		else probability = w.mean > capacityMinutes ? 1 : 0;
		if (!(w.mean > 0) && w.sd === 0) probability = 0;
		const confidence = confidenceOf(probability);
		if (confidence && scheduled < p.required.hi80) {
			const short = p.required.mean > scheduled ? p.required.mean - scheduled : p.required.hi80 - scheduled;
			bottlenecks.push({
				hourStart: p.hourStart,
				site: p.site,
				subspecialty: p.subspecialty,
				required: p.required.mean,
				requiredLo80: p.required.lo80,
				requiredHi80: p.required.hi80,
				scheduled,
				short,
				probability,
				confidence
			});
		} else if (scheduled > p.required.hi80) {
			surplus.push({
				hourStart: p.hourStart,
				site: p.site,
				subspecialty: p.subspecialty,
				requiredHi80: p.required.hi80,
				scheduled,
				surplus: scheduled - p.required.hi80
			});
		}
	}
	return { bottlenecks, surplus, pools: [...pools] };
}

/** Consecutive bottleneck hours of one pool, for display. */
export interface BottleneckWindow {
	site: string;
	subspecialty: Subspecialty;
	from: number;
	/** End (exclusive) of the last hour. */
	to: number;
	maxShort: number;
	/** Highest confidence among the hours. */
	confidence: Confidence;
	hours: number;
}

const CONFIDENCE_RANK: Record<Confidence, number> = { high: 2, likely: 1, possible: 0 };

/** Merge bottleneck hours that follow each other in the same pool into windows. */
export function bottleneckWindows(bottlenecks: readonly Bottleneck[], hourMs = 3_600_000): BottleneckWindow[] {
	const sorted = [...bottlenecks].sort(
		(a, b) => a.site.localeCompare(b.site) || a.subspecialty.localeCompare(b.subspecialty) || a.hourStart - b.hourStart
	);
	const out: BottleneckWindow[] = [];
	for (const b of sorted) {
		const last = out[out.length - 1];
		if (last && last.site === b.site && last.subspecialty === b.subspecialty && last.to === b.hourStart) {
			last.to += hourMs;
			last.hours++;
			last.maxShort = Math.max(last.maxShort, b.short);
			if (CONFIDENCE_RANK[b.confidence] > CONFIDENCE_RANK[last.confidence]) last.confidence = b.confidence;
		} else {
			out.push({ site: b.site, subspecialty: b.subspecialty, from: b.hourStart, to: b.hourStart + hourMs, maxShort: b.short, confidence: b.confidence, hours: 1 });
		}
	}
	return out.sort((a, b) => a.from - b.from || CONFIDENCE_RANK[b.confidence] - CONFIDENCE_RANK[a.confidence]);
}
