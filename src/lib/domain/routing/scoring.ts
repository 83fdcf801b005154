/**
 * The score: item terms (how urgent is this study) plus reader terms (how well
 * does this reader fit it). Item terms order the work; reader terms pick the
 * reader. Every term is reported weighted, so the sum is what the UI shows.
 */
import type { RoutingPolicy } from './policy';
import { CriticalFlag, type QueueItem } from './types';

const MINUTE = 60_000;

/**
 * Past the boost point the aging term keeps growing (so the longest wait goes
 * first among starved studies) up to this many times its weight.
 */
export const AGING_CEILING = 5;

/**
 * Urgency from minutes left: scale/(scale+left) while time remains (½ at `scale`
 * minutes left, 1 at the deadline), then rising to 2 over the next `scale`
 * minutes overdue. Monotone in time, which is what lets queues be heap-ordered.
 */
export function urgencyCurve(minutesLeft: number, scaleMinutes: number): number {
	if (minutesLeft >= 0) return scaleMinutes / (scaleMinutes + minutesLeft);
	return 1 + Math.min(1, -minutesLeft / scaleMinutes);
}

/** Points added once a study is past its wait-cap boost point: more than any non-critical study can otherwise score. */
export function waitCapBoost(policy: RoutingPolicy): number {
	const w = policy.weights;
	return 2 * w.urgency + w.aging + w.subspecialtyMatch + w.loadBalance + w.continuity + 1;
}

/** Raw critical term: a pending AI flag ranks just below a confirmed one. */
export function criticalTerm(flag: CriticalFlag): number {
	switch (flag) {
		case CriticalFlag.confirmed:
			return 1;
		case CriticalFlag.pending:
			return 0.9;
		case CriticalFlag.none:
			return 0;
		default:
			return flag satisfies never;
	}
}

/** Reader-independent part of the score, weighted. */
export interface ItemPriority {
	urgency: number;
	critical: number;
	aging: number;
	/** urgency + critical + aging. */
	total: number;
	minutesToDeadline: number;
	waitedMinutes: number;
	/** Past the wait-cap boost point: outranks all non-critical work. */
	pastWaitCap: boolean;
}

/**
 * `itemPriority(...).total` without allocating: the hot path of replays and
 * re-plans. Kept beside `itemPriority` so the two cannot drift apart.
 */
export function itemScore(
	arrivedAt: number,
	deadline: number,
	criticalRaw: number,
	now: number,
	policy: RoutingPolicy,
	boost: number = waitCapBoost(policy)
): number {
	const w = policy.weights;
	const scale = policy.urgencyScaleMinutes;
	const waited = Math.max(0, (now - arrivedAt) / MINUTE);
	const boostAt = policy.waitCapMinutes - policy.agingLeadMinutes;
	const aging =
		waited >= boostAt
			? w.aging * (1 + Math.min(AGING_CEILING - 1, (waited - boostAt) / policy.waitCapMinutes)) + boost
			: w.aging * (scale / (scale + (boostAt - waited)));
	return w.urgency * urgencyCurve((deadline - now) / MINUTE, scale) + w.critical * criticalRaw + aging;
}

export function itemPriority(
	item: Pick<QueueItem, 'arrivedAt' | 'deadline' | 'critical'>,
	now: number,
	policy: RoutingPolicy
): ItemPriority {
	const w = policy.weights;
	const scale = policy.urgencyScaleMinutes;
	const minutesToDeadline = (item.deadline - now) / MINUTE;
	const waitedMinutes = Math.max(0, (now - item.arrivedAt) / MINUTE);
	const boostAt = policy.waitCapMinutes - policy.agingLeadMinutes;
	const pastWaitCap = waitedMinutes >= boostAt;
	const agingRaw = pastWaitCap
		? 1 + Math.min(AGING_CEILING - 1, (waitedMinutes - boostAt) / policy.waitCapMinutes)
		: scale / (scale + (boostAt - waitedMinutes));
	const urgency = w.urgency * urgencyCurve(minutesToDeadline, scale);
	const critical = w.critical * criticalTerm(item.critical);
	const aging = w.aging * agingRaw + (pastWaitCap ? waitCapBoost(policy) : 0);
	return {
		urgency,
		critical,
		aging,
		total: urgency + critical + aging,
		minutesToDeadline,
		waitedMinutes,
		pastWaitCap
	};
}

/** Reader-dependent part of the score, weighted. */
export interface ReaderFit {
	subspecialtyMatch: number;
	loadBalance: number;
	continuity: number;
	total: number;
}

export function readerFit(
	exactMatch: boolean,
	queuedRvu: number,
	capRvu: number,
	continuity: boolean,
	policy: RoutingPolicy
): ReaderFit {
	const w = policy.weights;
	const subspecialtyMatch = exactMatch ? w.subspecialtyMatch : 0;
	const loadBalance = w.loadBalance * (1 - Math.min(1, Math.max(0, queuedRvu) / capRvu));
	const cont = continuity ? w.continuity : 0;
	return { subspecialtyMatch, loadBalance, continuity: cont, total: subspecialtyMatch + loadBalance + cont };
}

/** The full breakdown a decision stores next to its policy version. */
export interface ScoreBreakdown {
	urgency: number;
	critical: number;
	subspecialtyMatch: number;
	loadBalance: number;
	continuity: number;
	aging: number;
	total: number;
}

export function breakdown(item: ItemPriority, fit: ReaderFit): ScoreBreakdown {
	const round = (x: number) => Math.round(x * 100) / 100;
	return {
		urgency: round(item.urgency),
		critical: round(item.critical),
		subspecialtyMatch: round(fit.subspecialtyMatch),
		loadBalance: round(fit.loadBalance),
		continuity: round(fit.continuity),
		aging: round(item.aging),
		total: round(item.total + fit.total)
	};
}
