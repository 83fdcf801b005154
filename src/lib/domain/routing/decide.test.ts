import { describe, expect, it } from 'vitest';
import { decide } from './decide';
import { RoutingSnapshot } from './eligibility';
import { DEFAULT_POLICY } from './policy';
import { HOUR, MIN, reader, study, T0 } from './testing';
import { CriticalFlag, ReaderStatus, type QueueItem } from './types';

const P = DEFAULT_POLICY;

function queued(readerId: string, rvu: number, over: Partial<QueueItem> = {}): QueueItem {
	return study({ assignedTo: readerId, rvu, ...over });
}

describe('decide', () => {
	it('explains a plain choice: match, time to deadline, lowest load', () => {
		const readers = [reader('a'), reader('b'), reader('c')];
		const items = [queued('a', 2), queued('b', 1), queued('c', 3)];
		const item = study({ deadline: T0 + 12 * MIN });
		const d = decide({ readers, items }, item, T0, P);
		expect(d.readerId).toBe('b');
		expect(d.explanation).toBe('neuro match; 12 min to deadline; lowest load among 3 eligible');
		expect(d.policyVersion).toBe(P.version);
		expect(d.eligibleCount).toBe(3);
		expect(d.alternatives.map((a) => a.readerId)).toEqual(['a', 'c']);
		expect(d.score!.total).toBeCloseTo(
			d.score!.urgency + d.score!.critical + d.score!.aging + d.score!.subspecialtyMatch + d.score!.loadBalance + d.score!.continuity,
			1
		);
	});

	it('prefers the subspecialist over a less loaded general reader', () => {
		const readers = [reader('gen', { subspecialties: ['general'] }), reader('neuro')];
		const d = decide({ readers, items: [queued('neuro', 3)] }, study(), T0, P);
		expect(d.readerId).toBe('neuro');
		expect(d.explanation).toContain('neuro match');
		expect(d.explanation).toContain('load 3 of 6 RVU among 2 eligible');
	});

	it('falls back to a general reader when no subspecialist is available, and says so', () => {
		const readers = [reader('gen', { subspecialties: ['general'] }), reader('neuro', { status: ReaderStatus.paused })];
		const d = decide({ readers, items: [] }, study(), T0, P);
		expect(d.readerId).toBe('gen');
		expect(d.explanation).toMatch(/^general reader \(no neuro specialist available\); /);
		expect(d.ineligible).toEqual({ paused: 1 });
	});

	it('keeps a patient with the reader who already holds their related study', () => {
		const readers = [reader('a'), reader('b')];
		const prior = queued('b', 2, { patientId: 'P-77', accession: 'ACC-PRIOR' });
		const d = decide({ readers, items: [prior] }, study({ patientId: 'P-77' }), T0, P);
		expect(d.readerId).toBe('b');
		expect(d.explanation).toContain("same reader as the patient's study ACC-PRIOR");
	});

	it('names why nobody can read it: nobody on shift, with the next start', () => {
		const readers = [reader('a', { shifts: [{ start: T0 + 45 * MIN, end: T0 + 9 * HOUR }] }), reader('m', { subspecialties: ['msk'] })];
		const d = decide({ readers, items: [] }, study(), T0, P);
		expect(d.readerId).toBeNull();
		expect(d.explanation).toBe('no eligible reader: no neuro reader on shift (next starts in 45 min)');
	});

	it('names why nobody can read it: everyone at cap, no one credentialed, nobody on the roster, mixed causes', () => {
		const full = [reader('a'), reader('b')];
		const items = [queued('a', 6), queued('b', 5.5)];
		expect(decide({ readers: full, items }, study(), T0, P).explanation).toBe('no eligible reader: all 2 neuro readers at RVU cap');

		const local = [reader('a', { siteCredentials: ['B'] })];
		expect(decide({ readers: local, items: [] }, study({ site: 'A' }), T0, P).explanation).toBe(
			'no eligible reader: no neuro reader credentialed for A'
		);

		expect(decide({ readers: full, items: [] }, study({ subspecialty: 'breast' }), T0, P).explanation).toBe(
			'no eligible reader: no breast reader on the roster'
		);

		const mixed = [reader('a', { status: ReaderStatus.paused }), reader('b'), reader('c', { shifts: [] })];
		const d = decide({ readers: mixed, items: [queued('b', 6)] }, study(), T0, P);
		expect(d.explanation).toBe('no eligible reader: 3 neuro readers — 1 paused, 1 not on shift, 1 at RVU cap');
		expect(d.ineligible).toEqual({ paused: 1, not_on_shift: 1, at_cap: 1 });
	});

	it('puts a critical study past the cap rather than leave it waiting, and only a critical one', () => {
		const readers = [reader('a'), reader('b')];
		const items = [queued('a', 6), queued('b', 6)];
		const crit = decide({ readers, items }, study({ critical: CriticalFlag.confirmed }), T0, P);
		expect(crit.readerId).not.toBeNull();
		expect(crit.explanation).toMatch(/^AI critical \(confirmed\); neuro match; .*over RVU cap \(critical bypass\)$/);
		expect(decide({ readers, items }, study(), T0, P).readerId).toBeNull();
	});

	it('does not route a held study', () => {
		const d = decide({ readers: [reader('a')], items: [] }, study({ held: true, heldUntil: T0 + 30 * MIN }), T0, P);
		expect(d.readerId).toBeNull();
		expect(d.explanation).toBe('on hold: not routed until released (in 30 min)');
		const released = decide({ readers: [reader('a')], items: [] }, study({ heldUntil: T0 - MIN }), T0, P);
		expect(released.readerId).toBe('a');
	});

	it('leaves an opened study with the reader who opened it', () => {
		const s = study({ assignedTo: 'a', openedAt: T0 - MIN });
		const d = decide({ readers: [reader('a', { status: ReaderStatus.off }), reader('b')], items: [s] }, s, T0, P);
		expect(d.readerId).toBe('a');
		expect(d.explanation).toBe('already opened by Dr a; not re-routed');
	});

	it('does not count an assigned study against its own reader when re-deciding it', () => {
		const readers = [reader('a'), reader('b')];
		const mine = queued('a', 5);
		const other = queued('b', 1);
		// Without its own 5 RVU, a is empty and the better-balanced choice.
		expect(decide({ readers, items: [mine, other] }, mine, T0, P).readerId).toBe('a');
	});

	it('gives the same answer from a maintained snapshot as from the plain state', () => {
		const readers = [reader('a'), reader('b'), reader('g', { subspecialties: ['general'] })];
		const items: QueueItem[] = [];
		const snap = RoutingSnapshot.from({ readers, items });
		for (let k = 0; k < 12; k++) {
			const s = study({ rvu: 0.5 + (k % 3), arrivedAt: T0 - k * MIN });
			const fromSnap = decide(snap, s, T0, P);
			const fromState = decide({ readers, items }, s, T0, P);
			expect(fromSnap).toEqual(fromState);
			if (fromSnap.readerId) {
				const placed = { ...s, assignedTo: fromSnap.readerId };
				items.push(placed);
				snap.assign(placed, fromSnap.readerId);
			}
		}
		expect(items.length).toBeGreaterThan(3);
	});
});
