/**
 * Who may read a study right now, and why not. Each refusal has a stable code
 * so explanations can count them ("3 off shift, 1 paused").
 */
import type { Subspecialty } from '../study/model';
import { queueCapRvu, type RoutingPolicy } from './policy';
import {
	credentialedFor,
	currentShift,
	indexBySubspecialty,
	paceOf,
	SubspecialtyFit,
	subspecialtyFit,
	type ReaderSlot
} from './roster';
import { CriticalFlag, ReaderStatus, type QueueItem, type Radiologist, type RoutingState } from './types';

const MINUTE = 60_000;

/** Why a reader cannot take a study. Order here is the order checks run in. */
export const IneligibleReason = {
	subspecialty: 'subspecialty',
	site: 'site_not_credentialed',
	off: 'off',
	paused: 'paused',
	notOnShift: 'not_on_shift',
	shiftEnding: 'shift_ending',
	atCap: 'at_cap'
} as const;
export type IneligibleReason = (typeof IneligibleReason)[keyof typeof IneligibleReason];
export const INELIGIBLE_REASONS = Object.values(IneligibleReason);

/** A reader's unopened work. */
export interface ReaderLoad {
	queuedRvu: number;
	/** Expected reading minutes of the queue, before the reader's pace is applied. */
	queuedMinutes: number;
}

export type Eligibility =
	| { eligible: true; fit: typeof SubspecialtyFit.match | typeof SubspecialtyFit.fallback; overCap: boolean }
	| { eligible: false; reason: IneligibleReason };

/**
 * Whether `reader` may take `item` at `now`: reading, on shift with time left to
 * open it, credentialed for the site, holding the subspecialty (or general where
 * the policy allows) and under their RVU cap (a critical study may pass the cap
 * when the policy says so).
 */
export function checkEligibility(
	reader: Radiologist,
	item: Pick<QueueItem, 'subspecialty' | 'site' | 'rvu' | 'critical'>,
	now: number,
	policy: RoutingPolicy,
	load: ReaderLoad,
	fit: SubspecialtyFit = subspecialtyFit(reader, item.subspecialty, policy)
): Eligibility {
	if (fit === SubspecialtyFit.none) return { eligible: false, reason: IneligibleReason.subspecialty };
	if (!credentialedFor(reader, item.site)) return { eligible: false, reason: IneligibleReason.site };
	switch (reader.status) {
		case ReaderStatus.off:
			return { eligible: false, reason: IneligibleReason.off };
		case ReaderStatus.paused:
			return { eligible: false, reason: IneligibleReason.paused };
		case ReaderStatus.reading:
			break;
		default:
			return reader.status satisfies never;
	}
	const shift = currentShift(reader, now);
	if (shift === null) return { eligible: false, reason: IneligibleReason.notOnShift };
	// Work the reader could not even open before going home would just sit there.
	if (load.queuedMinutes * paceOf(reader) * MINUTE >= shift.end - now) {
		return { eligible: false, reason: IneligibleReason.shiftEnding };
	}
	const cap = queueCapRvu(reader, policy);
	const fits = load.queuedRvu <= 1e-9 || load.queuedRvu + item.rvu <= cap + 1e-9;
	if (!fits) {
		if (item.critical !== CriticalFlag.none && policy.criticalBypassesCap) return { eligible: true, fit, overCap: true };
		return { eligible: false, reason: IneligibleReason.atCap };
	}
	return { eligible: true, fit, overCap: false };
}

/** True when an item is on hold at `now`. */
export function isHeld(item: Pick<QueueItem, 'held' | 'heldUntil'>, now: number): boolean {
	if (item.held === true) return item.heldUntil == null || item.heldUntil > now;
	return item.heldUntil != null && item.heldUntil > now;
}

/** True when an item is open in a reader's viewer: never moved. */
export function isOpened(item: Pick<QueueItem, 'openedAt' | 'assignedTo'>): boolean {
	return item.openedAt != null;
}

interface PatientStudy {
	readerIndex: number;
	studyId: string;
	accession: string;
}

/**
 * Indexed view of a routing state: per-reader loads, patients' current readers
 * and readers by subspecialty. Build it once and keep it current with
 * `assign` / `unassign`; each decision is then a walk over plausible readers.
 */
export class RoutingSnapshot {
	readonly readers: readonly Radiologist[];
	readonly readerIndex = new Map<string, number>();
	readonly queuedRvu: Float64Array;
	readonly queuedMinutes: Float64Array;
	private readonly patients = new Map<string, PatientStudy[]>();
	private slotCache: { key: string; slots: Map<Subspecialty, ReaderSlot[]> } | null = null;

	private constructor(readers: readonly Radiologist[]) {
		this.readers = readers;
		readers.forEach((r, i) => this.readerIndex.set(r.id, i));
		this.queuedRvu = new Float64Array(readers.length);
		this.queuedMinutes = new Float64Array(readers.length);
	}

	static from(state: RoutingState): RoutingSnapshot {
		const s = new RoutingSnapshot(state.readers);
		for (const item of state.items) if (item.assignedTo) s.assign(item, item.assignedTo);
		return s;
	}

	load(index: number): ReaderLoad {
		return { queuedRvu: this.queuedRvu[index], queuedMinutes: this.queuedMinutes[index] };
	}

	/** Readers able to read each subspecialty under this policy's fallback rule (cached). */
	slots(policy: RoutingPolicy): Map<Subspecialty, ReaderSlot[]> {
		const key = policy.generalFallback.join(',');
		if (this.slotCache?.key !== key) this.slotCache = { key, slots: indexBySubspecialty(this.readers, policy) };
		return this.slotCache.slots;
	}

	/** Studies of this patient currently with a reader (assigned or opened). */
	patientStudies(patientId: string): readonly PatientStudy[] {
		return this.patients.get(patientId) ?? [];
	}

	/** Record that `item` now sits with `readerId` (opened items count for continuity only). */
	assign(item: QueueItem, readerId: string): void {
		const i = this.readerIndex.get(readerId);
		if (i === undefined) return; // assigned to someone no longer on the roster: no load to track
		if (!isOpened(item)) {
			this.queuedRvu[i] += item.rvu;
			this.queuedMinutes[i] += item.expectedReadMinutes;
		}
		let list = this.patients.get(item.patientId);
		if (!list) this.patients.set(item.patientId, (list = []));
		list.push({ readerIndex: i, studyId: item.studyId, accession: item.accession });
	}

	/** Undo `assign`. */
	unassign(item: QueueItem, readerId: string): void {
		const i = this.readerIndex.get(readerId);
		if (i === undefined) return;
		if (!isOpened(item)) {
			this.queuedRvu[i] = Math.max(0, this.queuedRvu[i] - item.rvu);
			this.queuedMinutes[i] = Math.max(0, this.queuedMinutes[i] - item.expectedReadMinutes);
		}
		const list = this.patients.get(item.patientId);
		if (list) {
			const k = list.findIndex((p) => p.studyId === item.studyId && p.readerIndex === i);
			if (k >= 0) list.splice(k, 1);
			if (list.length === 0) this.patients.delete(item.patientId);
		}
	}
}
