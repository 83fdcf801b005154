/**
 * SLA breach risk: when will each unreported study probably be started and
 * finished, given the work queued ahead of it and the pace of the readers who
 * can take it — and how likely is it to miss its deadline.
 *
 * The estimate is deliberately simple and fast enough to run on every queue
 * change: assigned studies wait behind their reader's higher-priority queue;
 * pooled studies wait behind higher-priority pooled work of the same
 * subspecialty and site, served by the eligible on-shift readers, each reader's
 * capacity split across the pools they serve in proportion to those pools'
 * work. Shift ends after `now` are not modelled (the estimate is optimistic
 * late in a shift).
 */
import type { RoutingPolicy } from './policy';
import { credentialedFor, currentShift, nextShiftStart, paceOf, subspecialtyFit, SubspecialtyFit } from './roster';
import { isHeld, isOpened } from './eligibility';
import { formatMinutes } from './explain';
import { itemPriority } from './scoring';
import { ReaderStatus, type QueueItem, type Radiologist, type RoutingState } from './types';

const MINUTE = 60_000;

export const RiskLevel = {
	ok: 'ok',
	watch: 'watch',
	atRisk: 'at_risk',
	breached: 'breached'
} as const;
export type RiskLevel = (typeof RiskLevel)[keyof typeof RiskLevel];
export const RISK_LEVELS = Object.values(RiskLevel);

/** Severity rank of a level, for "did it get worse". */
export function riskRank(level: RiskLevel): number {
	switch (level) {
		case RiskLevel.ok:
			return 0;
		case RiskLevel.watch:
			return 1;
		case RiskLevel.atRisk:
			return 2;
		case RiskLevel.breached:
			return 3;
		default:
			return level satisfies never;
	}
}

export interface SlaRisk {
	studyId: string;
	deadline: number;
	/** Expected time a reader opens it (epoch ms; Infinity when nobody can). */
	expectedStartMs: number;
	expectedFinishMs: number;
	riskLevel: RiskLevel;
	/** 0..1, how likely the report misses the deadline (a calibrated-ish logistic, not a promise). */
	probability: number;
	reason: string;
}

interface ReaderInfo {
	reader: Radiologist;
	pace: number;
	available: boolean;
	/** Expected minutes of work ahead of any new study (opened remainder + queue). */
	backlogExpected: number;
}

function level(now: number, item: QueueItem, finish: number, policy: RoutingPolicy): RiskLevel {
	if (now >= item.deadline) return RiskLevel.breached;
	if (finish > item.deadline) return RiskLevel.atRisk;
	const window = Math.max(MINUTE, item.deadline - item.arrivedAt);
	if (item.deadline - finish < policy.riskWatchFraction * window) return RiskLevel.watch;
	return RiskLevel.ok;
}

function probability(now: number, deadline: number, finish: number): number {
	if (now >= deadline) return 1;
	if (!Number.isFinite(finish)) return 0.99;
	// Uncertainty grows with how far ahead the finish is.
	const spread = Math.max(5 * MINUTE, 0.25 * (finish - now));
	const p = 1 / (1 + Math.exp(-(finish - deadline) / spread));
	return Math.round(p * 1000) / 1000;
}

function finishPhrase(now: number, deadline: number, finish: number): string {
	if (now >= deadline) return `deadline passed ${formatMinutes((now - deadline) / MINUTE)} ago`;
	if (!Number.isFinite(finish)) return 'no expected finish';
	const slack = (deadline - finish) / MINUTE;
	return slack >= 0
		? `expected finish ${formatMinutes(slack)} before deadline`
		: `expected finish ${formatMinutes(-slack)} after deadline`;
}

/**
 * Estimate breach risk for every unreported study in `state` at `now`.
 * @returns a map keyed by study id.
 */
export function estimateSlaRisk(state: RoutingState, now: number, policy: RoutingPolicy): Map<string, SlaRisk> {
	const out = new Map<string, SlaRisk>();
	const infos: ReaderInfo[] = state.readers.map((reader) => ({
		reader,
		pace: paceOf(reader),
		available: reader.status === ReaderStatus.reading && currentShift(reader, now) !== null,
		backlogExpected: 0
	}));
	const byId = new Map(infos.map((r) => [r.reader.id, r]));
	const busyUntil = new Map<ReaderInfo, number>();

	const record = (item: QueueItem, start: number, finish: number, reason: string) => {
		const lvl = level(now, item, finish, policy);
		out.set(item.studyId, {
			studyId: item.studyId,
			deadline: item.deadline,
			expectedStartMs: start,
			expectedFinishMs: finish,
			riskLevel: lvl,
			probability: probability(now, item.deadline, finish),
			reason: `${reason}; ${finishPhrase(now, item.deadline, finish)}`
		});
	};

	// 1. Opened studies: in progress with their reader.
	const queued = new Map<ReaderInfo, QueueItem[]>();
	const pooled: { item: QueueItem; score: number; note: string | null }[] = [];
	const scores = new Map<QueueItem, number>();
	for (const item of state.items) {
		const info = item.assignedTo ? byId.get(item.assignedTo) : undefined;
		if (isOpened(item)) {
			const pace = info?.pace ?? 1;
			const finish = Math.max(now, item.openedAt! + item.expectedReadMinutes * pace * MINUTE);
			if (info) busyUntil.set(info, Math.max(busyUntil.get(info) ?? now, finish));
			record(item, item.openedAt!, finish, `opened by ${info?.reader.name ?? item.assignedTo ?? 'a reader'}`);
			continue;
		}
		if (isHeld(item, now) && item.heldUntil == null) {
			out.set(item.studyId, {
				studyId: item.studyId,
				deadline: item.deadline,
				expectedStartMs: Infinity,
				expectedFinishMs: Infinity,
				riskLevel: now >= item.deadline ? RiskLevel.breached : RiskLevel.watch,
				probability: now >= item.deadline ? 1 : 0.5,
				reason: 'on hold with no release time'
			});
			continue;
		}
		const score = itemPriority(item, now, policy).total;
		scores.set(item, score);
		if (info && info.available && !isHeld(item, now)) {
			let list = queued.get(info);
			if (!list) queued.set(info, (list = []));
			list.push(item);
		} else {
			const note = info
				? `assigned reader ${info.reader.name} is ${info.reader.status === ReaderStatus.reading ? 'off shift' : info.reader.status}`
				: null;
			pooled.push({ item, score, note });
		}
	}

	// 2. Assigned studies: behind higher-priority work in the same reader's queue.
	for (const [info, list] of queued) {
		list.sort((a, b) => scores.get(b)! - scores.get(a)!);
		let t = busyUntil.get(info) ?? now;
		list.forEach((item, k) => {
			const start = t;
			const finish = start + item.expectedReadMinutes * info.pace * MINUTE;
			t = finish;
			record(item, start, finish, `${k === 0 ? 'next' : `${k} ahead`} in ${info.reader.name}'s queue`);
		});
		info.backlogExpected = (t - now) / MINUTE / info.pace;
	}
	for (const info of infos) {
		if (!queued.has(info) && busyUntil.has(info)) info.backlogExpected = (busyUntil.get(info)! - now) / MINUTE / info.pace;
	}

	// 3. Pooled studies: group by subspecialty and site, share reader capacity.
	const pools = new Map<string, { sample: QueueItem; items: typeof pooled; work: number }>();
	for (const p of pooled) {
		const key = `${p.item.subspecialty}\u0000${p.item.site}`;
		let pool = pools.get(key);
		if (!pool) pools.set(key, (pool = { sample: p.item, items: [], work: 0 }));
		pool.items.push(p);
		pool.work += p.item.expectedReadMinutes;
	}
	const served = new Map<ReaderInfo, string[]>();
	const eligible = new Map<string, ReaderInfo[]>();
	for (const [key, pool] of pools) {
		const list = infos.filter(
			(r) =>
				subspecialtyFit(r.reader, pool.sample.subspecialty, policy) !== SubspecialtyFit.none &&
				credentialedFor(r.reader, pool.sample.site)
		);
		eligible.set(key, list);
		for (const r of list) if (r.available) (served.get(r) ?? served.set(r, []).get(r)!).push(key);
	}
	// Each available reader's total pooled demand, so shares are one division each.
	const demandOf = new Map<ReaderInfo, number>();
	for (const [r, keys] of served) {
		let demand = 0;
		for (const k of keys) demand += pools.get(k)!.work;
		demandOf.set(r, demand);
	}
	for (const [key, pool] of pools) {
		const list = eligible.get(key)!;
		let capacity = 0; // expected minutes of work per wall minute
		let backlog = 0;
		let shares = 0;
		for (const r of list) {
			if (!r.available) continue;
			const demand = demandOf.get(r)!;
			const share = demand > 0 ? pool.work / demand : 1;
			capacity += share / r.pace;
			backlog += share * r.backlogExpected;
			shares += share;
		}
		pool.items.sort((a, b) => b.score - a.score);
		const sub = pool.sample.subspecialty;
		let ahead = 0;
		let origin = now;
		let label: string;
		if (capacity > 0) {
			const n = list.filter((r) => r.available).length;
			label = `${n} ${sub} reader${n === 1 ? '' : 's'} on shift`;
		} else {
			let next: ReaderInfo | null = null;
			let at = Infinity;
			for (const r of list) {
				if (r.reader.status === ReaderStatus.off) continue;
				const s = nextShiftStart(r.reader, now);
				if (s !== null && s < at) {
					at = s;
					next = r;
				}
			}
			if (next) {
				capacity = 1 / next.pace;
				shares = 1;
				origin = at;
				label = `no ${sub} reader on shift; next starts in ${formatMinutes((at - now) / MINUTE)}`;
			} else label = `no ${sub} reader for ${pool.sample.site} on the schedule`;
		}
		const avgPace = capacity > 0 ? shares / capacity : 1;
		for (const p of pool.items) {
			const item = p.item;
			let start: number;
			let finish: number;
			if (capacity > 0) {
				start = origin + ((backlog + ahead) / capacity) * MINUTE;
				if (item.heldUntil != null && item.heldUntil > start) start = item.heldUntil;
				finish = start + item.expectedReadMinutes * avgPace * MINUTE;
			} else {
				start = Infinity;
				finish = Infinity;
			}
			const aheadNote = ahead > 0 ? `${formatMinutes(ahead)} of higher-priority ${sub} work ahead, ` : '';
			const prefix = [p.note, isHeld(item, now) ? 'on hold' : null].filter(Boolean).join('; ');
			record(item, start, finish, `${prefix ? prefix + '; ' : ''}waiting: ${aheadNote}${label}`);
			ahead += item.expectedReadMinutes;
		}
	}
	return out;
}

export interface SlaAlert {
	studyId: string;
	level: RiskLevel;
	previousLevel: RiskLevel | null;
	probability: number;
	deadline: number;
	reason: string;
}

/**
 * Alerts for studies whose risk rose between two estimates (new studies count
 * as rising from `ok`). Only `watch` and worse alert; a level that holds or
 * falls stays quiet, so each study alerts once per step up.
 * Most severe first, then earliest deadline.
 */
export function riskAlerts(
	previous: ReadonlyMap<string, SlaRisk>,
	current: ReadonlyMap<string, SlaRisk>
): SlaAlert[] {
	const alerts: SlaAlert[] = [];
	for (const [id, now] of current) {
		const before = previous.get(id);
		const was = before ? riskRank(before.riskLevel) : 0;
		const is = riskRank(now.riskLevel);
		if (is >= 1 && is > was) {
			alerts.push({
				studyId: id,
				level: now.riskLevel,
				previousLevel: before?.riskLevel ?? null,
				probability: now.probability,
				deadline: now.deadline,
				reason: now.reason
			});
		}
	}
	alerts.sort((a, b) => riskRank(b.level) - riskRank(a.level) || a.deadline - b.deadline || (a.studyId < b.studyId ? -1 : 1));
	return alerts;
}
