/**
 * Human-readable reasons for routing decisions. Every decision stores one, so
 * a charge radiologist can see at a glance why a study went where it went, or
 * why it is still waiting.
 */
import { CriticalFlag, type QueueItem } from './types';
import { IneligibleReason } from './eligibility';
import type { ItemPriority } from './scoring';

/** "<1 min", "12 min", "2 h 05 min", "1 d 3 h"; "unknown" when there is no finite answer. */
export function formatMinutes(minutes: number): string {
	if (!Number.isFinite(minutes)) return 'unknown';
	const m = Math.max(0, minutes);
	if (m < 1) return '<1 min';
	const r = Math.round(m);
	if (r < 60) return `${r} min`;
	if (r < 1440) {
		const h = Math.floor(r / 60);
		const rest = r % 60;
		return rest === 0 ? `${h} h` : `${h} h ${String(rest).padStart(2, '0')} min`;
	}
	const d = Math.floor(r / 1440);
	const h = Math.round((r - d * 1440) / 60);
	if (h === 24) return `${d + 1} d`;
	return h === 0 ? `${d} d` : `${d} d ${h} h`;
}

/** "12 min to deadline" or "overdue by 5 min". */
export function deadlinePhrase(minutesToDeadline: number): string {
	return minutesToDeadline >= 0
		? `${formatMinutes(minutesToDeadline)} to deadline`
		: `overdue by ${formatMinutes(-minutesToDeadline)}`;
}

export function criticalPhrase(flag: CriticalFlag): string | null {
	switch (flag) {
		case CriticalFlag.confirmed:
			return 'AI critical (confirmed)';
		case CriticalFlag.pending:
			return 'AI critical (pending confirmation)';
		case CriticalFlag.none:
			return null;
		default:
			return flag satisfies never;
	}
}

export interface AssignmentFacts {
	item: Pick<QueueItem, 'subspecialty' | 'critical'>;
	priority: ItemPriority;
	exactMatch: boolean;
	/** Whether any eligible reader held the subspecialty itself. */
	specialistEligible: boolean;
	eligibleCount: number;
	lowestLoad: boolean;
	queuedRvu: number;
	capRvu: number;
	overCap: boolean;
	waitCapMinutes: number;
	continuityAccession: string | null;
}

/** e.g. "neuro match; 12 min to deadline; lowest load among 3 eligible". */
export function explainAssignment(f: AssignmentFacts): string {
	const parts: string[] = [];
	const crit = criticalPhrase(f.item.critical);
	if (crit) parts.push(crit);
	const sub = f.item.subspecialty;
	if (f.exactMatch) parts.push(`${sub} match`);
	else parts.push(f.specialistEligible ? `general reader for ${sub}` : `general reader (no ${sub} specialist available)`);
	parts.push(deadlinePhrase(f.priority.minutesToDeadline));
	if (f.priority.pastWaitCap) {
		parts.push(`waited ${formatMinutes(f.priority.waitedMinutes)} of the ${formatMinutes(f.waitCapMinutes)} wait cap`);
	}
	if (f.continuityAccession) parts.push(`same reader as the patient's study ${f.continuityAccession}`);
	if (f.eligibleCount === 1) parts.push('only eligible reader');
	else if (f.lowestLoad) parts.push(`lowest load among ${f.eligibleCount} eligible`);
	else parts.push(`load ${round1(f.queuedRvu)} of ${round1(f.capRvu)} RVU among ${f.eligibleCount} eligible`);
	if (f.overCap) parts.push('over RVU cap (critical bypass)');
	return parts.join('; ');
}

function round1(x: number): string {
	return (Math.round(x * 10) / 10).toString();
}

function reasonPhrase(reason: IneligibleReason, n: number, site: string): string {
	switch (reason) {
		case IneligibleReason.subspecialty:
			return `${n} without the subspecialty`;
		case IneligibleReason.site:
			return `${n} not credentialed for ${site}`;
		case IneligibleReason.off:
			return `${n} off`;
		case IneligibleReason.paused:
			return `${n} paused`;
		case IneligibleReason.notOnShift:
			return `${n} not on shift`;
		case IneligibleReason.shiftEnding:
			return `${n} too close to the end of their shift`;
		case IneligibleReason.atCap:
			return `${n} at RVU cap`;
		default:
			return reason satisfies never;
	}
}

export interface NoReaderFacts {
	subspecialty: string;
	site: string;
	/** Readers able to read the subspecialty at all (own or fallback). */
	candidates: number;
	counts: Partial<Record<IneligibleReason, number>>;
	/** Minutes until the next candidate's shift starts, if known. */
	nextShiftInMinutes: number | null;
}

/** e.g. "no eligible reader: no neuro reader on shift (next starts in 45 min)". */
export function explainNoReader(f: NoReaderFacts): string {
	const sub = f.subspecialty;
	if (f.candidates === 0) return `no eligible reader: no ${sub} reader on the roster`;
	const next = f.nextShiftInMinutes === null ? '' : ` (next starts in ${formatMinutes(f.nextShiftInMinutes)})`;
	const entries = Object.entries(f.counts).filter(([, n]) => (n ?? 0) > 0) as [IneligibleReason, number][];
	const only = entries.length === 1 ? entries[0][0] : null;
	const absent = (f.counts[IneligibleReason.off] ?? 0) + (f.counts[IneligibleReason.notOnShift] ?? 0);
	if (absent === f.candidates) return `no eligible reader: no ${sub} reader on shift${next}`;
	if (only === IneligibleReason.site) return `no eligible reader: no ${sub} reader credentialed for ${f.site}`;
	if (only === IneligibleReason.atCap) return `no eligible reader: all ${f.candidates} ${sub} readers at RVU cap`;
	if (only === IneligibleReason.paused) return `no eligible reader: all ${f.candidates} ${sub} readers paused`;
	// Mixed causes: list them, most common first, stable by reason order for ties.
	const order = Object.values(IneligibleReason) as IneligibleReason[];
	entries.sort((a, b) => b[1] - a[1] || order.indexOf(a[0]) - order.indexOf(b[0]));
	const list = entries.map(([r, n]) => reasonPhrase(r, n, f.site)).join(', ');
	const nextNote = absent > 0 ? next : '';
	return `no eligible reader: ${f.candidates} ${sub} readers — ${list}${nextNote}`;
}

/** Explanation for a study that is on hold. */
export function explainHeld(heldUntil: number | null | undefined, now: number): string {
	if (heldUntil == null) return 'on hold: not routed until released';
	return `on hold: not routed until released (in ${formatMinutes((heldUntil - now) / 60_000)})`;
}
