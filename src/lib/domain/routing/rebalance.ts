/**
 * Full re-plan of unopened assignments: walk the waiting and assigned work in
 * priority order and give each study the best reader with room, keeping it
 * where it is unless someone fits clearly better. Opened and held studies are
 * never touched.
 *
 * Cost is O(n log n + n·k) for n studies and k on-shift readers able to read
 * each study's subspecialty; readers off shift or paused are dropped once, up
 * front, and site credentials are set lookups.
 */
import type { Subspecialty } from '../study/model';
import { queueCapRvu, type RoutingPolicy } from './policy';
import { currentShift, indexBySubspecialty, paceOf, SubspecialtyFit } from './roster';
import { checkEligibility, IneligibleReason, isHeld, isOpened } from './eligibility';
import { deadlinePhrase } from './explain';
import { criticalTerm, itemPriority, itemScore, waitCapBoost } from './scoring';
import { ANY_SITE, CriticalFlag, ReaderStatus, type QueueItem, type RoutingState } from './types';

const MINUTE = 60_000;

export interface Move {
	studyId: string;
	accession: string;
	/** Reader it was with, or null when it was waiting in the pool. */
	from: string | null;
	/** Reader it goes to, or null when it goes back to the pool. */
	to: string | null;
	reason: string;
}

export interface RebalancePlan {
	policyVersion: string;
	decidedAt: number;
	moves: Move[];
	/** Unopened studies with a reader after the plan. */
	assigned: number;
	/** Routable studies left in the pool (everyone with the skills is full or away). */
	waiting: number;
	/** Studies that stayed with their reader. */
	kept: number;
}

/**
 * Re-plan every unopened, unheld study at `now` under `policy`.
 * Returns only the changes, each with a reason a charge radiologist can read.
 */
export function rebalance(state: RoutingState, now: number, policy: RoutingPolicy): RebalancePlan {
	const readers = state.readers;
	const n = readers.length;
	const indexOf = new Map<string, number>();
	readers.forEach((r, i) => indexOf.set(r.id, i));
	const queuedRvu = new Float64Array(n);
	const queuedMinutes = new Float64Array(n);
	// Per-reader facts in flat arrays: the inner loop touches nothing else.
	const shiftLeftMs = new Float64Array(n);
	const paceMs = new Float64Array(n);
	const cap = new Float64Array(n);
	const allSites = new Uint8Array(n);
	const sites: Set<string>[] = [];
	const available = new Uint8Array(n);
	readers.forEach((r, i) => {
		sites.push(new Set(r.siteCredentials));
		if (r.status !== ReaderStatus.reading) return;
		const shift = currentShift(r, now);
		if (shift === null) return;
		available[i] = 1;
		shiftLeftMs[i] = shift.end - now;
		paceMs[i] = paceOf(r) * MINUTE;
		cap[i] = queueCapRvu(r, policy);
		allSites[i] = r.siteCredentials.includes(ANY_SITE) ? 1 : 0;
	});
	const w = policy.weights;

	// Continuity: patient → readers holding one of their studies (fixed work first).
	const patientReaders = new Map<string, { index: number; accession: string }[]>();
	const notePatient = (item: QueueItem, index: number) => {
		let list = patientReaders.get(item.patientId);
		if (!list) patientReaders.set(item.patientId, (list = []));
		list.push({ index, accession: item.accession });
	};

	const movable: { item: QueueItem; score: number }[] = [];
	const boost = waitCapBoost(policy);
	let minRvu = Infinity;
	for (const item of state.items) {
		const cur = item.assignedTo ? indexOf.get(item.assignedTo) : undefined;
		if (isOpened(item)) {
			if (cur !== undefined) notePatient(item, cur);
			continue;
		}
		if (isHeld(item, now)) {
			// Held work stays where a human put it and still fills that reader's queue.
			if (cur !== undefined) {
				queuedRvu[cur] += item.rvu;
				queuedMinutes[cur] += item.expectedReadMinutes;
				notePatient(item, cur);
			}
			continue;
		}
		movable.push({ item, score: itemScore(item.arrivedAt, item.deadline, criticalTerm(item.critical), now, policy, boost) });
		if (item.rvu < minRvu) minRvu = item.rvu;
	}
	movable.sort(
		(a, b) =>
			b.score - a.score ||
			a.item.arrivedAt - b.item.arrivedAt ||
			(a.item.studyId < b.item.studyId ? -1 : a.item.studyId > b.item.studyId ? 1 : 0)
	);

	// Candidate lists per subspecialty: `open` for ordinary work (readers drop out
	// for good once no remaining study could fit), `all` for criticals that may
	// pass the cap (readers drop out only when their shift is spoken for).
	const open = new Map<Subspecialty, { index: number; exact: boolean }[]>();
	const all = new Map<Subspecialty, { index: number; exact: boolean }[]>();
	for (const [sub, slots] of indexBySubspecialty(readers, policy)) {
		const list = slots.filter((s) => available[s.index] === 1).map((s) => ({ index: s.index, exact: s.fit === SubspecialtyFit.match }));
		open.set(sub, list);
		all.set(sub, list.slice());
	}
	const shiftFull = (i: number) => queuedMinutes[i] * paceMs[i] >= shiftLeftMs[i];
	const capFull = (i: number) => queuedRvu[i] > 1e-9 && queuedRvu[i] + minRvu > cap[i] + 1e-9;

	const moves: Move[] = [];
	let assigned = 0;
	let waiting = 0;
	let kept = 0;
	const hysteresis = policy.rebalanceHysteresis;

	for (const { item } of movable) {
		const critical = item.critical !== CriticalFlag.none && policy.criticalBypassesCap;
		const slots = (critical ? all : open).get(item.subspecialty) ?? [];
		const cur = item.assignedTo ? indexOf.get(item.assignedTo) : undefined;
		const continuity = patientReaders.get(item.patientId);
		const site = item.site;
		const rvu = item.rvu;
		let best = -1;
		let bestFit = -Infinity;
		let bestOver = -1;
		let bestOverFit = -Infinity;
		let curFit = -Infinity;
		let curEligible = false;
		for (let k = 0; k < slots.length; ) {
			const i = slots[k].index;
			if (shiftFull(i) || (!critical && capFull(i))) {
				// Loads only grow during a plan: this reader is done for this list.
				slots[k] = slots[slots.length - 1];
				slots.pop();
				continue;
			}
			const exact = slots[k].exact;
			k++;
			if (allSites[i] === 0 && !sites[i].has(site)) continue;
			const q = queuedRvu[i];
			const under = q <= 1e-9 || q + rvu <= cap[i] + 1e-9;
			if (!under && !critical) continue;
			let fit = (exact ? w.subspecialtyMatch : 0) + w.loadBalance * (1 - Math.min(1, q / cap[i]));
			if (continuity !== undefined) {
				for (const p of continuity) {
					if (p.index === i) {
						fit += w.continuity;
						break;
					}
				}
			}
			if (i === cur) {
				curEligible = true;
				curFit = fit;
			}
			if (under) {
				if (fit > bestFit || (fit === bestFit && tieBreak(i, best, queuedRvu, readers))) {
					best = i;
					bestFit = fit;
				}
			} else if (fit > bestOverFit || (fit === bestOverFit && tieBreak(i, bestOver, queuedRvu, readers))) {
				bestOver = i;
				bestOverFit = fit;
			}
		}
		let target = best >= 0 ? best : bestOver;
		const targetFit = best >= 0 ? bestFit : bestOverFit;
		if (curEligible && cur !== undefined && (target < 0 || targetFit - curFit <= hysteresis)) target = cur;

		if (target >= 0) {
			queuedRvu[target] += item.rvu;
			queuedMinutes[target] += item.expectedReadMinutes;
			notePatient(item, target);
			assigned++;
		} else waiting++;

		const from = cur ?? -1;
		if (target === from) {
			if (target >= 0) kept++;
			continue;
		}
		if (item.assignedTo && cur === undefined && target < 0) continue; // unknown reader, nothing better: leave it
		moves.push({
			studyId: item.studyId,
			accession: item.accession,
			from: item.assignedTo ?? null,
			to: target >= 0 ? readers[target].id : null,
			reason: moveReason(state, item, now, policy, cur, target, curEligible, queuedRvu, queuedMinutes, patientReaders)
		});
	}
	return { policyVersion: policy.version, decidedAt: now, moves, assigned, waiting, kept };
}

function tieBreak(i: number, best: number, load: Float64Array, readers: RoutingState['readers']): boolean {
	if (best < 0) return true;
	if (load[i] !== load[best]) return load[i] < load[best];
	return readers[i].id < readers[best].id;
}

function moveReason(
	state: RoutingState,
	item: QueueItem,
	now: number,
	policy: RoutingPolicy,
	cur: number | undefined,
	target: number,
	curEligible: boolean,
	load: Float64Array,
	loadMinutes: Float64Array,
	patientReaders: Map<string, { index: number; accession: string }[]>
): string {
	const readers = state.readers;
	const p = itemPriority(item, now, policy);
	const deadline = deadlinePhrase(p.minutesToDeadline);
	const to = target >= 0 ? readers[target] : null;
	const toExact = to ? to.subspecialties.includes(item.subspecialty) : false;
	const fitPhrase = to ? (toExact ? `${item.subspecialty} match` : `general reader for ${item.subspecialty}`) : '';
	if (item.assignedTo == null || cur === undefined) {
		return to ? `from pool to ${to.name}: ${fitPhrase}; ${deadline}` : `back to pool: ${deadline}`;
	}
	const from = readers[cur];
	let why: string;
	if (!curEligible) {
		// Ask the plain eligibility rule why the current reader no longer qualifies.
		const e = checkEligibility(from, item, now, policy, { queuedRvu: load[cur], queuedMinutes: loadMinutes[cur] });
		const reason = e.eligible ? IneligibleReason.atCap : e.reason;
		why = ineligibleWhy(from.name, reason, item.site);
	} else {
		const fromExact = from.subspecialties.includes(item.subspecialty);
		const cont = patientReaders.get(item.patientId)?.find((x) => x.index === target && x.accession !== item.accession);
		if (toExact && !fromExact) why = `${item.subspecialty} specialist ${to!.name} has room (was with a general reader)`;
		else if (cont) why = `same reader as the patient's study ${cont.accession}`;
		else why = `better load balance: ${from.name} had more queued than ${to!.name}`;
	}
	if (!to) return `${why}; no eligible reader now, back to pool; ${deadline}`;
	return `${why}; to ${to.name}: ${fitPhrase}; ${deadline}`;
}

function ineligibleWhy(name: string, reason: IneligibleReason, site: string): string {
	switch (reason) {
		case IneligibleReason.off:
			return `${name} is off`;
		case IneligibleReason.paused:
			return `${name} paused`;
		case IneligibleReason.notOnShift:
			return `${name} is off shift`;
		case IneligibleReason.shiftEnding:
			return `${name}'s shift ends before they could open it`;
		case IneligibleReason.site:
			return `${name} is not credentialed for ${site}`;
		case IneligibleReason.subspecialty:
			return `${name} does not read this subspecialty`;
		case IneligibleReason.atCap:
			return `${name}'s queue is full of more urgent work`;
		default:
			return reason satisfies never;
	}
}
