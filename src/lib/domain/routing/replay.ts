/**
 * What-if replay: a deterministic discrete-event simulation of a reading room.
 *
 * Readers work their recorded shifts at their recorded pace (reading time =
 * expected minutes × pace factor). Studies arrive when they became complete.
 *
 * - `policy` mode is the engine as deployed: push routing on arrival (best
 *   eligible reader with room, by score), per-reader queues capped in RVU,
 *   readers open their highest-scoring queued study next, refill their queue
 *   from the pool as they free up, and hand unopened work back when their shift
 *   ends.
 * - `fifo` mode is the baseline it replaces: one shared list, a free reader
 *   opens the oldest study they are eligible for.
 *
 * Both modes judge breaches against the same deadlines (the study's own, or
 * the policy's SLA targets), so they can be compared. Same inputs, same output:
 * ties break on input order, never on chance.
 */
import { PATIENT_CLASSES, PRIORITIES, type PatientClass, type Priority, type Subspecialty } from '../study/model';
import { assertValidPolicy, computeDeadline, queueCapRvu, type RoutingPolicy } from './policy';
import { indexBySubspecialty, paceOf, SubspecialtyFit } from './roster';
import { Heap } from './heap';
import { criticalTerm, itemScore, readerFit, waitCapBoost } from './scoring';
import { ANY_SITE, CriticalFlag, type Radiologist, type StudyWork } from './types';

const MINUTE = 60_000;

export const ReplayMode = {
	policy: 'policy',
	fifo: 'fifo'
} as const;
export type ReplayMode = (typeof ReplayMode)[keyof typeof ReplayMode];

/** One study in a replay window, with what actually happened when known. */
export interface ReplayStudy extends StudyWork {
	accession?: string;
	/** Deadline, epoch ms; computed from the policy when absent. */
	deadline?: number;
	actualStartedAt?: number | null;
	actualReportedAt?: number | null;
}

export interface ReplayOptions {
	mode: ReplayMode;
	/** Stop the clock here; studies not finished by then count as unfinished. Default: run until no event is left. */
	until?: number;
	/** Include per-study outcomes in the result. */
	outcomes?: boolean;
}

export interface ReplayStats {
	count: number;
	read: number;
	unfinished: number;
	tatP50Min: number;
	tatP90Min: number;
	maxTatMin: number;
	waitP50Min: number;
	waitP90Min: number;
	maxWaitMin: number;
	breaches: number;
	breachRate: number;
	/** Studies that waited (or are still waiting) longer than the wait cap. */
	overWaitCap: number;
}

export interface ReplayOutcome {
	studyId: string;
	startedAt: number | null;
	finishedAt: number | null;
	readerId: string | null;
	deadline: number;
}

export interface ReplayResult extends ReplayStats {
	mode: ReplayMode | 'actual';
	policyVersion: string;
	endedAt: number;
	perPriority: Record<Priority, ReplayStats>;
	perPatientClass: Record<PatientClass, ReplayStats>;
	critical: ReplayStats;
	outcomes?: ReplayOutcome[];
}

interface SimItem {
	s: ReplayStudy;
	seq: number;
	deadline: number;
	crit: number;
	start: number;
	finish: number;
	reader: number;
}

interface SimReader {
	r: Radiologist;
	i: number;
	pace: number;
	cap: number;
	allSites: boolean;
	sites: Set<string>;
	readable: { sub: Subspecialty; exact: boolean }[];
	onShift: boolean;
	shiftEnd: number;
	busy: boolean;
	busyUntil: number;
	idleSince: number;
	queue: SimItem[];
	queuedRvu: number;
	queuedMinutes: number;
}

interface Bucket {
	heap: Heap<SimItem>;
}

// At equal times: finishes first (frees the reader), then shift ends, starts, arrivals.
const EV_SHIFT_END = 1;
const EV_SHIFT_START = 2;

interface ShiftEvent {
	t: number;
	kind: typeof EV_SHIFT_END | typeof EV_SHIFT_START;
	reader: number;
	end: number;
}

/**
 * Simulate `studies` over `roster` under `policy` in the given mode.
 * @throws PolicyError when the policy is invalid
 */
export function replay(
	studies: readonly ReplayStudy[],
	roster: readonly Radiologist[],
	policy: RoutingPolicy,
	options: ReplayOptions
): ReplayResult {
	assertValidPolicy(policy);
	const until = options.until ?? Infinity;
	const items: SimItem[] = studies.map((s, seq) => ({
		s,
		seq,
		deadline: s.deadline ?? computeDeadline(s, policy),
		crit: criticalTerm(s.critical),
		start: -1,
		finish: -1,
		reader: -1
	}));
	const arrivals = items.slice().sort((a, b) => a.s.arrivedAt - b.s.arrivedAt || a.seq - b.seq);

	const slots = indexBySubspecialty(roster, policy);
	const readers: SimReader[] = roster.map((r, i) => ({
		r,
		i,
		pace: paceOf(r),
		cap: queueCapRvu(r, policy),
		allSites: r.siteCredentials.includes(ANY_SITE),
		sites: new Set(r.siteCredentials),
		readable: [],
		onShift: false,
		shiftEnd: 0,
		busy: false,
		busyUntil: 0,
		idleSince: 0,
		queue: [],
		queuedRvu: 0,
		queuedMinutes: 0
	}));
	for (const [sub, list] of slots) {
		for (const slot of list) readers[slot.index].readable.push({ sub, exact: slot.fit === SubspecialtyFit.match });
	}
	// Replays follow the recorded shifts; the live status flag does not apply to the past.
	const shiftEvents: ShiftEvent[] = [];
	roster.forEach((r, i) => {
		for (const sh of r.shifts) {
			if (sh.end <= sh.start) continue;
			shiftEvents.push({ t: sh.start, kind: EV_SHIFT_START, reader: i, end: sh.end });
			shiftEvents.push({ t: sh.end, kind: EV_SHIFT_END, reader: i, end: sh.end });
		}
	});
	shiftEvents.sort((a, b) => a.t - b.t || a.kind - b.kind || a.reader - b.reader);

	const finishes = new Heap<{ t: number; reader: number; seq: number }>((a, b) => a.t < b.t || (a.t === b.t && a.seq < b.seq));
	let finishSeq = 0;
	const boost = waitCapBoost(policy);
	const fifo = options.mode === ReplayMode.fifo;

	// Pool, indexed subspecialty → site → buckets. In policy mode a bucket holds
	// studies with the same criticality and SLA window, so its deadline order is
	// also its score order and only its head can be the best pick.
	const pool = new Map<Subspecialty, Map<string, Bucket[]>>();
	const bucketByKey = new Map<string, Bucket>();
	const byDeadline = (a: SimItem, b: SimItem) =>
		a.deadline < b.deadline || (a.deadline === b.deadline && (a.s.arrivedAt < b.s.arrivedAt || (a.s.arrivedAt === b.s.arrivedAt && a.seq < b.seq)));
	const byArrival = (a: SimItem, b: SimItem) => a.s.arrivedAt < b.s.arrivedAt || (a.s.arrivedAt === b.s.arrivedAt && a.seq < b.seq);
	const poolPush = (it: SimItem) => {
		const key = fifo
			? `${it.s.subspecialty}\u0000${it.s.site}`
			: `${it.s.subspecialty}\u0000${it.s.site}\u0000${it.crit}\u0000${it.deadline - it.s.arrivedAt}`;
		let b = bucketByKey.get(key);
		if (!b) {
			b = { heap: new Heap(fifo ? byArrival : byDeadline) };
			bucketByKey.set(key, b);
			let bySite = pool.get(it.s.subspecialty);
			if (!bySite) pool.set(it.s.subspecialty, (bySite = new Map()));
			let list = bySite.get(it.s.site);
			if (!list) bySite.set(it.s.site, (list = []));
			list.push(b);
		}
		b.heap.push(it);
	};

	const patientLast = new Map<string, number>();
	let now = -Infinity;

	const startReading = (rd: SimReader, it: SimItem) => {
		rd.busy = true;
		it.start = now;
		it.reader = rd.i;
		rd.busyUntil = now + it.s.expectedReadMinutes * rd.pace * MINUTE;
		it.finish = rd.busyUntil;
		finishes.push({ t: rd.busyUntil, reader: rd.i, seq: finishSeq++ });
	};

	const canQueue = (rd: SimReader, it: SimItem): 'yes' | 'over' | 'no' => {
		if (!rd.onShift) return 'no';
		if (!rd.allSites && !rd.sites.has(it.s.site)) return 'no';
		const busyLeft = rd.busy ? Math.max(0, rd.busyUntil - now) : 0;
		if (busyLeft + rd.queuedMinutes * rd.pace * MINUTE >= rd.shiftEnd - now) return 'no';
		if (rd.queuedRvu <= 1e-9 || rd.queuedRvu + it.s.rvu <= rd.cap + 1e-9) return 'yes';
		return it.crit > 0 && policy.criticalBypassesCap ? 'over' : 'no';
	};

	const enqueue = (rd: SimReader, it: SimItem) => {
		rd.queue.push(it);
		rd.queuedRvu += it.s.rvu;
		rd.queuedMinutes += it.s.expectedReadMinutes;
		patientLast.set(it.s.patientId, rd.i);
	};

	const startNext = (rd: SimReader) => {
		if (rd.busy || rd.queue.length === 0) return;
		let bi = 0;
		let bs = -Infinity;
		for (let k = 0; k < rd.queue.length; k++) {
			const q = rd.queue[k];
			const sc = itemScore(q.s.arrivedAt, q.deadline, q.crit, now, policy, boost);
			if (sc > bs || (sc === bs && q.seq < rd.queue[bi].seq)) {
				bs = sc;
				bi = k;
			}
		}
		const it = rd.queue[bi];
		rd.queue[bi] = rd.queue[rd.queue.length - 1];
		rd.queue.pop();
		rd.queuedRvu = Math.max(0, rd.queuedRvu - it.s.rvu);
		rd.queuedMinutes = Math.max(0, rd.queuedMinutes - it.s.expectedReadMinutes);
		startReading(rd, it);
	};

	/** Policy mode: push one study to the best reader with room, else to the pool. */
	const route = (it: SimItem) => {
		const list = slots.get(it.s.subspecialty) ?? [];
		let best: SimReader | null = null;
		let bestFit = -Infinity;
		let over: SimReader | null = null;
		let overFit = -Infinity;
		const last = patientLast.get(it.s.patientId);
		for (const slot of list) {
			const rd = readers[slot.index];
			const ok = canQueue(rd, it);
			if (ok === 'no') continue;
			const fit = readerFit(slot.fit === SubspecialtyFit.match, rd.queuedRvu, rd.cap, last === rd.i, policy).total;
			if (ok === 'yes') {
				if (fit > bestFit || (fit === bestFit && best !== null && rd.queuedRvu < best.queuedRvu)) {
					best = rd;
					bestFit = fit;
				}
			} else if (fit > overFit) {
				over = rd;
				overFit = fit;
			}
		}
		const target = best ?? over;
		if (!target) {
			poolPush(it);
			return;
		}
		enqueue(target, it);
		if (!target.busy) startNext(target);
	};

	/** Policy mode: refill a reader's queue with the best pooled studies they may take. */
	const topUp = (rd: SimReader) => {
		for (;;) {
			let bestBucket: Bucket | null = null;
			let bestScore = -Infinity;
			let bestItem: SimItem | null = null;
			for (const { sub, exact } of rd.readable) {
				const bySite = pool.get(sub);
				if (!bySite) continue;
				for (const [site, buckets] of bySite) {
					if (!rd.allSites && !rd.sites.has(site)) continue;
					for (const b of buckets) {
						const h = b.heap.peek();
						if (!h) continue;
						const sc =
							itemScore(h.s.arrivedAt, h.deadline, h.crit, now, policy, boost) +
							readerFit(exact, rd.queuedRvu, rd.cap, patientLast.get(h.s.patientId) === rd.i, policy).total;
						if (sc > bestScore || (sc === bestScore && bestItem !== null && h.seq < bestItem.seq)) {
							bestScore = sc;
							bestBucket = b;
							bestItem = h;
						}
					}
				}
			}
			if (!bestBucket || !bestItem) return;
			if (canQueue(rd, bestItem) !== 'yes') return;
			bestBucket.heap.pop();
			enqueue(rd, bestItem);
		}
	};

	/** FIFO mode: the oldest pooled study this reader may read. */
	const takeOldest = (rd: SimReader): SimItem | null => {
		let bestBucket: Bucket | null = null;
		let bestItem: SimItem | null = null;
		for (const { sub } of rd.readable) {
			const bySite = pool.get(sub);
			if (!bySite) continue;
			for (const [site, buckets] of bySite) {
				if (!rd.allSites && !rd.sites.has(site)) continue;
				for (const b of buckets) {
					const h = b.heap.peek();
					if (h && (bestItem === null || byArrival(h, bestItem))) {
						bestItem = h;
						bestBucket = b;
					}
				}
			}
		}
		if (bestBucket) bestBucket.heap.pop();
		return bestItem;
	};

	const readerFree = (rd: SimReader) => {
		if (!rd.onShift || rd.busy) return;
		if (fifo) {
			const it = takeOldest(rd);
			if (it) startReading(rd, it);
			else rd.idleSince = now;
			return;
		}
		topUp(rd);
		startNext(rd);
		topUp(rd);
		if (!rd.busy) rd.idleSince = now;
	};

	const arrive = (it: SimItem) => {
		if (!fifo) {
			route(it);
			return;
		}
		// FIFO: an idle eligible reader (idle longest) takes it at once, else it joins the list.
		let pick: SimReader | null = null;
		for (const slot of slots.get(it.s.subspecialty) ?? []) {
			const rd = readers[slot.index];
			if (!rd.onShift || rd.busy || (!rd.allSites && !rd.sites.has(it.s.site))) continue;
			if (pick === null || rd.idleSince < pick.idleSince) pick = rd;
		}
		if (pick) startReading(pick, it);
		else poolPush(it);
	};

	let ai = 0;
	let si = 0;
	for (;;) {
		const ta = ai < arrivals.length ? arrivals[ai].s.arrivedAt : Infinity;
		const ts = si < shiftEvents.length ? shiftEvents[si].t : Infinity;
		const tf = finishes.size > 0 ? finishes.peek()!.t : Infinity;
		const t = Math.min(ta, ts, tf);
		if (t === Infinity || t > until) break;
		now = t;
		if (tf === t) {
			const f = finishes.pop()!;
			const rd = readers[f.reader];
			rd.busy = false;
			readerFree(rd);
		} else if (ts === t) {
			const ev = shiftEvents[si++];
			const rd = readers[ev.reader];
			if (ev.kind === EV_SHIFT_START) {
				rd.shiftEnd = rd.onShift ? Math.max(rd.shiftEnd, ev.end) : ev.end;
				rd.onShift = true;
				readerFree(rd);
			} else if (rd.onShift && rd.shiftEnd === ev.end) {
				rd.onShift = false;
				// Unopened work goes back for someone else; the study in hand is finished.
				const back = rd.queue.splice(0);
				rd.queuedRvu = 0;
				rd.queuedMinutes = 0;
				back.sort((a, b) => a.seq - b.seq);
				for (const it of back) route(it);
			}
		} else {
			arrive(arrivals[ai++]);
		}
	}

	const endedAt = Number.isFinite(until) ? until : now;
	const result = summarize(items, policy, options.mode, endedAt, (it) =>
		it.start >= 0 && it.finish <= endedAt ? { start: it.start, finish: it.finish } : it.start >= 0 ? { start: it.start, finish: null } : null
	);
	if (options.outcomes) {
		result.outcomes = items.map((it) => ({
			studyId: it.s.studyId,
			startedAt: it.start >= 0 ? it.start : null,
			finishedAt: it.start >= 0 && it.finish <= endedAt ? it.finish : null,
			readerId: it.reader >= 0 ? roster[it.reader].id : null,
			deadline: it.deadline
		}));
	}
	return result;
}

/** Nearest-rank percentile of an ascending array; NaN for none. */
function percentile(sorted: Float64Array, p: number): number {
	if (sorted.length === 0) return NaN;
	const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
	return sorted[k];
}

const r1 = (x: number) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : x);

function stats(
	list: readonly SimItem[],
	timing: (it: SimItem) => { start: number | null; finish: number | null } | null,
	endedAt: number,
	waitCapMs: number
): ReplayStats {
	const tats: number[] = [];
	const waits: number[] = [];
	let breaches = 0;
	let over = 0;
	for (const it of list) {
		const t = timing(it);
		const arrived = it.s.arrivedAt;
		if (t && t.finish !== null) {
			tats.push(t.finish - arrived);
			if (t.finish > it.deadline) breaches++;
		} else if (endedAt > it.deadline) breaches++;
		const startedOrNow = t && t.start !== null ? t.start : endedAt;
		if (t && t.start !== null) waits.push(t.start - arrived);
		if (startedOrNow - arrived > waitCapMs) over++;
	}
	const tat = Float64Array.from(tats).sort();
	const wait = Float64Array.from(waits).sort();
	return {
		count: list.length,
		read: tats.length,
		unfinished: list.length - tats.length,
		tatP50Min: r1(percentile(tat, 0.5) / MINUTE),
		tatP90Min: r1(percentile(tat, 0.9) / MINUTE),
		maxTatMin: r1(tat.length ? tat[tat.length - 1] / MINUTE : NaN),
		waitP50Min: r1(percentile(wait, 0.5) / MINUTE),
		waitP90Min: r1(percentile(wait, 0.9) / MINUTE),
		maxWaitMin: r1(wait.length ? wait[wait.length - 1] / MINUTE : NaN),
		breaches,
		breachRate: list.length ? Math.round((breaches / list.length) * 10000) / 10000 : 0,
		overWaitCap: over
	};
}

function summarize(
	items: readonly SimItem[],
	policy: RoutingPolicy,
	mode: ReplayResult['mode'],
	endedAt: number,
	timing: (it: SimItem) => { start: number | null; finish: number | null } | null
): ReplayResult {
	const cap = policy.waitCapMinutes * MINUTE;
	const perPriority = {} as Record<Priority, ReplayStats>;
	for (const p of PRIORITIES) perPriority[p] = stats(items.filter((it) => it.s.priority === p), timing, endedAt, cap);
	const perPatientClass = {} as Record<PatientClass, ReplayStats>;
	for (const c of PATIENT_CLASSES) perPatientClass[c] = stats(items.filter((it) => it.s.patientClass === c), timing, endedAt, cap);
	return {
		mode,
		policyVersion: policy.version,
		endedAt,
		...stats(items, timing, endedAt, cap),
		perPriority,
		perPatientClass,
		critical: stats(items.filter((it) => it.crit > 0), timing, endedAt, cap)
	};
}

/**
 * The same figures for what actually happened, from recorded start and report
 * times (studies without a report time count as unfinished).
 */
export function summarizeActual(studies: readonly ReplayStudy[], policy: RoutingPolicy, endedAt?: number): ReplayResult {
	const items: SimItem[] = studies.map((s, seq) => ({
		s,
		seq,
		deadline: s.deadline ?? computeDeadline(s, policy),
		crit: criticalTerm(s.critical),
		start: -1,
		finish: -1,
		reader: -1
	}));
	let end = endedAt ?? -Infinity;
	if (endedAt === undefined) for (const s of studies) end = Math.max(end, s.actualReportedAt ?? s.arrivedAt);
	return summarize(items, policy, 'actual', end, (it) =>
		it.s.actualReportedAt != null || it.s.actualStartedAt != null
			? { start: it.s.actualStartedAt ?? null, finish: it.s.actualReportedAt ?? null }
			: null
	);
}

export interface WhatIf {
	policy: ReplayResult;
	fifo: ReplayResult;
	/** Present when the studies carry actual report times. */
	actual: ReplayResult | null;
}

/** Replay a candidate policy and the FIFO baseline over the same window, next to what actually happened. */
export function whatIf(
	studies: readonly ReplayStudy[],
	roster: readonly Radiologist[],
	policy: RoutingPolicy,
	options: Omit<ReplayOptions, 'mode'> = {}
): WhatIf {
	const hasActual = studies.some((s) => s.actualReportedAt != null);
	return {
		policy: replay(studies, roster, policy, { ...options, mode: ReplayMode.policy }),
		fifo: replay(studies, roster, policy, { ...options, mode: ReplayMode.fifo }),
		actual: hasActual ? summarizeActual(studies, policy, options.until) : null
	};
}
