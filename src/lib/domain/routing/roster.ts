/**
 * Roster queries: who is on shift, when they come on, how fast they read, and
 * which readers can take which subspecialty at all.
 */
import { Subspecialty } from '../study/model';
import type { RoutingPolicy } from './policy';
import { ANY_SITE, type Radiologist, type Shift } from './types';

/** The shift covering `now`, or null. */
export function currentShift(reader: Pick<Radiologist, 'shifts'>, now: number): Shift | null {
	for (const s of reader.shifts) if (s.start <= now && now < s.end) return s;
	return null;
}

/** True when a shift covers `now` (status is a separate question). */
export function isOnShift(reader: Pick<Radiologist, 'shifts'>, now: number): boolean {
	return currentShift(reader, now) !== null;
}

/** Start of the next shift that begins after `now`, or null. */
export function nextShiftStart(reader: Pick<Radiologist, 'shifts'>, now: number): number | null {
	let best: number | null = null;
	for (const s of reader.shifts) if (s.start > now && (best === null || s.start < best)) best = s.start;
	return best;
}

/** Recorded pace (actual / expected reading minutes); 1 when unknown or nonsensical. */
export function paceOf(reader: Pick<Radiologist, 'paceFactor'>): number {
	const p = reader.paceFactor;
	return p !== undefined && Number.isFinite(p) && p > 0 ? p : 1;
}

/** Whether a reader holds privileges for a site. */
export function credentialedFor(reader: Pick<Radiologist, 'siteCredentials'>, site: string): boolean {
	return reader.siteCredentials.includes(site) || reader.siteCredentials.includes(ANY_SITE);
}

/** How a reader relates to a subspecialty: their own, via the general fallback, or not at all. */
export const SubspecialtyFit = {
	match: 'match',
	fallback: 'fallback',
	none: 'none'
} as const;
export type SubspecialtyFit = (typeof SubspecialtyFit)[keyof typeof SubspecialtyFit];

export function subspecialtyFit(
	reader: Pick<Radiologist, 'subspecialties'>,
	subspecialty: Subspecialty,
	policy: Pick<RoutingPolicy, 'generalFallback'>
): SubspecialtyFit {
	if (reader.subspecialties.includes(subspecialty)) return SubspecialtyFit.match;
	if (reader.subspecialties.includes(Subspecialty.general) && policy.generalFallback.includes(subspecialty)) {
		return SubspecialtyFit.fallback;
	}
	return SubspecialtyFit.none;
}

/** One reader able to read a subspecialty, with how well they fit it. */
export interface ReaderSlot {
	index: number;
	reader: Radiologist;
	fit: SubspecialtyFit;
}

/**
 * Readers by subspecialty they can read (own or fallback), so a decision walks
 * only plausible candidates instead of the whole roster.
 */
export function indexBySubspecialty(
	readers: readonly Radiologist[],
	policy: Pick<RoutingPolicy, 'generalFallback'>
): Map<Subspecialty, ReaderSlot[]> {
	const out = new Map<Subspecialty, ReaderSlot[]>();
	for (const s of Object.values(Subspecialty)) out.set(s, []);
	readers.forEach((reader, index) => {
		for (const [s, list] of out) {
			const fit = subspecialtyFit(reader, s, policy);
			if (fit !== SubspecialtyFit.none) list.push({ index, reader, fit });
		}
	});
	return out;
}
