import { describe, expect, it } from 'vitest';
import { checkEligibility, IneligibleReason, isHeld } from './eligibility';
import { DEFAULT_POLICY } from './policy';
import { HOUR, MIN, reader, study, T0 } from './testing';
import { CriticalFlag, ReaderStatus } from './types';

const empty = { queuedRvu: 0, queuedMinutes: 0 };
const reason = (e: ReturnType<typeof checkEligibility>) => (e.eligible ? 'eligible' : e.reason);

describe('checkEligibility', () => {
	it('accepts an on-shift, reading, credentialed subspecialist with room', () => {
		const e = checkEligibility(reader('a'), study(), T0, DEFAULT_POLICY, empty);
		expect(e).toEqual({ eligible: true, fit: 'match', overCap: false });
	});

	it('refuses a reader without the subspecialty', () => {
		const e = checkEligibility(reader('a', { subspecialties: ['msk'] }), study(), T0, DEFAULT_POLICY, empty);
		expect(reason(e)).toBe(IneligibleReason.subspecialty);
	});

	it('lets a general reader take a fallback subspecialty, but not one the policy excludes', () => {
		const g = reader('g', { subspecialties: ['general'] });
		expect(checkEligibility(g, study({ subspecialty: 'neuro' }), T0, DEFAULT_POLICY, empty)).toMatchObject({
			eligible: true,
			fit: 'fallback'
		});
		expect(reason(checkEligibility(g, study({ subspecialty: 'breast' }), T0, DEFAULT_POLICY, empty))).toBe(
			IneligibleReason.subspecialty
		);
		const strict = { ...DEFAULT_POLICY, generalFallback: [] };
		expect(reason(checkEligibility(g, study({ subspecialty: 'neuro' }), T0, strict, empty))).toBe(IneligibleReason.subspecialty);
	});

	it('requires a site credential unless the reader covers every site', () => {
		const local = reader('a', { siteCredentials: ['B', 'C'] });
		expect(reason(checkEligibility(local, study({ site: 'A' }), T0, DEFAULT_POLICY, empty))).toBe(IneligibleReason.site);
		expect(reason(checkEligibility(local, study({ site: 'C' }), T0, DEFAULT_POLICY, empty))).toBe('eligible');
	});

	it('refuses readers who are off or paused even on shift', () => {
		expect(reason(checkEligibility(reader('a', { status: ReaderStatus.off }), study(), T0, DEFAULT_POLICY, empty))).toBe(
			IneligibleReason.off
		);
		expect(reason(checkEligibility(reader('a', { status: ReaderStatus.paused }), study(), T0, DEFAULT_POLICY, empty))).toBe(
			IneligibleReason.paused
		);
	});

	it('treats shifts as half-open: on at the start instant, off at the end instant', () => {
		const r = reader('a', { shifts: [{ start: T0, end: T0 + HOUR }] });
		expect(reason(checkEligibility(r, study(), T0, DEFAULT_POLICY, empty))).toBe('eligible');
		expect(reason(checkEligibility(r, study(), T0 + HOUR - 1, DEFAULT_POLICY, empty))).toBe('eligible');
		expect(reason(checkEligibility(r, study(), T0 + HOUR, DEFAULT_POLICY, empty))).toBe(IneligibleReason.notOnShift);
		expect(reason(checkEligibility(r, study(), T0 - 1, DEFAULT_POLICY, empty))).toBe(IneligibleReason.notOnShift);
	});

	it('refuses a reader whose queue already runs past the end of their shift (at their pace)', () => {
		const r = reader('a', { shifts: [{ start: T0 - HOUR, end: T0 + 30 * MIN }], paceFactor: 1.5 });
		// 20 expected minutes at pace 1.5 = 30 wall minutes: nothing new could be opened in time.
		expect(reason(checkEligibility(r, study(), T0, DEFAULT_POLICY, { queuedRvu: 1, queuedMinutes: 20 }))).toBe(
			IneligibleReason.shiftEnding
		);
		expect(reason(checkEligibility(r, study(), T0, DEFAULT_POLICY, { queuedRvu: 1, queuedMinutes: 19 }))).toBe('eligible');
	});

	it('enforces the RVU cap, its own or the policy default', () => {
		const cap = DEFAULT_POLICY.maxQueuedRvuDefault;
		const s = study({ rvu: 1 });
		expect(reason(checkEligibility(reader('a'), s, T0, DEFAULT_POLICY, { queuedRvu: cap - 1, queuedMinutes: 0 }))).toBe('eligible');
		expect(reason(checkEligibility(reader('a'), s, T0, DEFAULT_POLICY, { queuedRvu: cap - 0.5, queuedMinutes: 0 }))).toBe(
			IneligibleReason.atCap
		);
		const big = reader('b', { maxQueuedRvu: cap + 10 });
		expect(reason(checkEligibility(big, s, T0, DEFAULT_POLICY, { queuedRvu: cap, queuedMinutes: 0 }))).toBe('eligible');
	});

	it('lets a study bigger than the cap go to a reader with an empty queue', () => {
		const s = study({ rvu: DEFAULT_POLICY.maxQueuedRvuDefault + 3 });
		expect(reason(checkEligibility(reader('a'), s, T0, DEFAULT_POLICY, empty))).toBe('eligible');
	});

	it('lets a critical study pass the cap only when the policy allows it', () => {
		const full = { queuedRvu: DEFAULT_POLICY.maxQueuedRvuDefault, queuedMinutes: 0 };
		const crit = study({ critical: CriticalFlag.pending });
		expect(checkEligibility(reader('a'), crit, T0, DEFAULT_POLICY, full)).toMatchObject({ eligible: true, overCap: true });
		const noBypass = { ...DEFAULT_POLICY, criticalBypassesCap: false };
		expect(reason(checkEligibility(reader('a'), crit, T0, noBypass, full))).toBe(IneligibleReason.atCap);
	});
});

describe('isHeld', () => {
	it('holds indefinitely, until a time, and releases after it', () => {
		expect(isHeld({ held: true }, T0)).toBe(true);
		expect(isHeld({ held: true, heldUntil: T0 + MIN }, T0)).toBe(true);
		expect(isHeld({ heldUntil: T0 + MIN }, T0)).toBe(true);
		expect(isHeld({ heldUntil: T0 + MIN }, T0 + MIN)).toBe(false);
		expect(isHeld({ held: false }, T0)).toBe(false);
	});
});
