/**
 * One push-routing decision: which reader gets this study now, with the score
 * breakdown and a sentence saying why — or why nobody can take it.
 */
import { queueCapRvu, type RoutingPolicy } from './policy';
import { nextShiftStart, SubspecialtyFit } from './roster';
import { checkEligibility, IneligibleReason, isHeld, isOpened, RoutingSnapshot } from './eligibility';
import { explainAssignment, explainHeld, explainNoReader } from './explain';
import { breakdown, itemPriority, readerFit, type ReaderFit, type ScoreBreakdown } from './scoring';
import { ReaderStatus, type QueueItem, type RoutingState } from './types';

export interface Decision {
	studyId: string;
	/** Chosen reader, or null when nobody is eligible (the study waits in the pool). */
	readerId: string | null;
	score: ScoreBreakdown | null;
	explanation: string;
	policyVersion: string;
	eligibleCount: number;
	/** Next best readers, for the charge radiologist's "why not X?". */
	alternatives: { readerId: string; total: number }[];
	/** How many subspecialty-capable readers were refused, by reason. */
	ineligible: Partial<Record<IneligibleReason, number>>;
	decidedAt: number;
}

interface Candidate {
	index: number;
	fit: ReaderFit;
	queuedRvu: number;
	exact: boolean;
	overCap: boolean;
	continuityAccession: string | null;
}

function better(a: Candidate, b: Candidate, ids: (i: number) => string): boolean {
	if (a.fit.total !== b.fit.total) return a.fit.total > b.fit.total;
	if (a.queuedRvu !== b.queuedRvu) return a.queuedRvu < b.queuedRvu;
	return ids(a.index) < ids(b.index);
}

/**
 * Decide who should read `item` at `now`.
 *
 * Pass a `RoutingSnapshot` (kept current with `assign`/`unassign`) for speed; a
 * plain `RoutingState` is indexed on each call. An item already assigned is
 * re-decided as if its own RVU were not on its reader's queue. Opened studies
 * keep their reader; held studies get no reader.
 */
export function decide(
	state: RoutingState | RoutingSnapshot,
	item: QueueItem,
	now: number,
	policy: RoutingPolicy
): Decision {
	const snap = state instanceof RoutingSnapshot ? state : RoutingSnapshot.from(state);
	const base = { studyId: item.studyId, policyVersion: policy.version, decidedAt: now };
	if (isOpened(item)) {
		const who = item.assignedTo ?? null;
		const name = who === null ? 'a reader' : (snap.readers[snap.readerIndex.get(who) ?? -1]?.name ?? who);
		return {
			...base,
			readerId: who,
			score: null,
			explanation: `already opened by ${name}; not re-routed`,
			eligibleCount: 0,
			alternatives: [],
			ineligible: {}
		};
	}
	if (isHeld(item, now)) {
		return {
			...base,
			readerId: null,
			score: null,
			explanation: explainHeld(item.heldUntil, now),
			eligibleCount: 0,
			alternatives: [],
			ineligible: {}
		};
	}

	const priority = itemPriority(item, now, policy);
	const slots = snap.slots(policy).get(item.subspecialty) ?? [];
	const counts: Partial<Record<IneligibleReason, number>> = {};
	const candidates: Candidate[] = [];
	let anyUnderCap = false;
	const patientStudies = snap.patientStudies(item.patientId);
	for (const slot of slots) {
		const i = slot.index;
		const reader = slot.reader;
		let queuedRvu = snap.queuedRvu[i];
		let queuedMinutes = snap.queuedMinutes[i];
		if (item.assignedTo === reader.id) {
			queuedRvu = Math.max(0, queuedRvu - item.rvu);
			queuedMinutes = Math.max(0, queuedMinutes - item.expectedReadMinutes);
		}
		const e = checkEligibility(reader, item, now, policy, { queuedRvu, queuedMinutes }, slot.fit);
		if (!e.eligible) {
			counts[e.reason] = (counts[e.reason] ?? 0) + 1;
			continue;
		}
		let continuityAccession: string | null = null;
		for (const p of patientStudies) {
			if (p.readerIndex === i && p.studyId !== item.studyId) {
				continuityAccession = p.accession;
				break;
			}
		}
		const exact = e.fit === SubspecialtyFit.match;
		if (!e.overCap) anyUnderCap = true;
		candidates.push({
			index: i,
			fit: readerFit(exact, queuedRvu, queueCapRvu(reader, policy), continuityAccession !== null, policy),
			queuedRvu,
			exact,
			overCap: e.overCap,
			continuityAccession
		});
	}
	// A critical study goes past a cap only when nobody has room for it.
	const pool = anyUnderCap ? candidates.filter((c) => !c.overCap) : candidates;

	if (pool.length === 0) {
		let next: number | null = null;
		for (const slot of slots) {
			if (slot.reader.status === ReaderStatus.off) continue;
			const s = nextShiftStart(slot.reader, now);
			if (s !== null && (next === null || s < next)) next = s;
		}
		return {
			...base,
			readerId: null,
			score: null,
			explanation: explainNoReader({
				subspecialty: item.subspecialty,
				site: item.site,
				candidates: slots.length,
				counts,
				nextShiftInMinutes: next === null ? null : (next - now) / 60_000
			}),
			eligibleCount: 0,
			alternatives: [],
			ineligible: counts
		};
	}

	const ids = (i: number) => snap.readers[i].id;
	pool.sort((a, b) => (better(a, b, ids) ? -1 : better(b, a, ids) ? 1 : 0));
	const best = pool[0];
	let minLoad = Infinity;
	for (const c of pool) minLoad = Math.min(minLoad, c.queuedRvu);
	const reader = snap.readers[best.index];
	return {
		...base,
		readerId: reader.id,
		score: breakdown(priority, best.fit),
		explanation: explainAssignment({
			item,
			priority,
			exactMatch: best.exact,
			specialistEligible: pool.some((c) => c.exact),
			eligibleCount: pool.length,
			lowestLoad: best.queuedRvu <= minLoad + 1e-9,
			queuedRvu: best.queuedRvu,
			capRvu: queueCapRvu(reader, policy),
			overCap: best.overCap,
			waitCapMinutes: policy.waitCapMinutes,
			continuityAccession: best.continuityAccession
		}),
		eligibleCount: pool.length,
		alternatives: pool.slice(1, 4).map((c) => ({
			readerId: snap.readers[c.index].id,
			total: Math.round((priority.total + c.fit.total) * 100) / 100
		})),
		ineligible: counts
	};
}
