import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from './policy';
import { rebalance, type RebalancePlan } from './rebalance';
import { HOUR, MIN, reader, study, T0 } from './testing';
import { ReaderStatus, type QueueItem, type RoutingState } from './types';

const P = DEFAULT_POLICY;

/** Where each study sits once the plan's moves are applied. */
function apply(state: RoutingState, plan: RebalancePlan): Map<string, string | null> {
	const at = new Map(state.items.map((i) => [i.studyId, i.assignedTo ?? null]));
	for (const m of plan.moves) {
		expect(at.get(m.studyId)).toBe(m.from);
		at.set(m.studyId, m.to);
	}
	return at;
}

describe('rebalance', () => {
	it('never moves an opened study, even from a reader who has gone off shift', () => {
		const readers = [reader('gone', { shifts: [{ start: T0 - 9 * HOUR, end: T0 }] }), reader('here')];
		const opened = study({ assignedTo: 'gone', openedAt: T0 - 10 * MIN });
		const waiting = study({ assignedTo: 'gone' });
		const plan = rebalance({ readers, items: [opened, waiting] }, T0, P);
		expect(plan.moves.map((m) => m.studyId)).toEqual([waiting.studyId]);
		expect(plan.moves[0]).toMatchObject({ from: 'gone', to: 'here' });
		expect(plan.moves[0].reason).toMatch(/^Dr gone is off shift; to Dr here: neuro match; /);
	});

	it('does not assign held studies, and leaves a held study where a human put it', () => {
		const readers = [reader('a'), reader('b', { status: ReaderStatus.paused })];
		const held = study({ held: true });
		const heldAssigned = study({ assignedTo: 'b', heldUntil: T0 + HOUR });
		const plan = rebalance({ readers, items: [held, heldAssigned] }, T0, P);
		expect(plan.moves).toEqual([]);
		expect(plan.waiting).toBe(0);
	});

	it('moves unopened work off a paused reader and explains why', () => {
		const readers = [reader('p', { status: ReaderStatus.paused }), reader('q')];
		const s = study({ assignedTo: 'p' });
		const plan = rebalance({ readers, items: [s] }, T0, P);
		expect(plan.moves).toEqual([
			{ studyId: s.studyId, accession: s.accession, from: 'p', to: 'q', reason: expect.stringMatching(/^Dr p paused; to Dr q/) }
		]);
	});

	it('sends work back to the pool when nobody eligible is left', () => {
		const readers = [reader('p', { status: ReaderStatus.paused })];
		const s = study({ assignedTo: 'p' });
		const plan = rebalance({ readers, items: [s] }, T0, P);
		expect(plan.moves[0]).toMatchObject({ from: 'p', to: null });
		expect(plan.moves[0].reason).toContain('no eligible reader now, back to pool');
		expect(plan.waiting).toBe(1);
	});

	it('leaves a study where it is for a marginal gain (hysteresis) but not when a specialist frees up', () => {
		const readers = [reader('a'), reader('b'), reader('g', { subspecialties: ['general'] })];
		const onA = [study({ assignedTo: 'a', rvu: 1 }), study({ assignedTo: 'a', rvu: 1 })];
		const plan = rebalance({ readers, items: onA }, T0, P);
		expect(plan.moves).toEqual([]);
		expect(plan.kept).toBe(2);

		const onGeneral = study({ assignedTo: 'g' });
		const plan2 = rebalance({ readers, items: [onGeneral] }, T0, P);
		expect(plan2.moves).toHaveLength(1);
		expect(plan2.moves[0].reason).toMatch(/^neuro specialist Dr [ab] has room \(was with a general reader\)/);
	});

	it('fills scarce room with the most urgent work first and respects every cap', () => {
		const readers = [reader('a', { maxQueuedRvu: 2 })];
		const routine = study({ rvu: 2, arrivedAt: T0 - 2 * HOUR });
		const stat = study({ rvu: 2, priority: 'stat', patientClass: 'E', arrivedAt: T0 - 5 * MIN });
		const plan = rebalance({ readers, items: [routine, stat] }, T0, P);
		const at = apply({ readers, items: [routine, stat] }, plan);
		expect(at.get(stat.studyId)).toBe('a');
		expect(at.get(routine.studyId)).toBeNull();
		expect(plan).toMatchObject({ assigned: 1, waiting: 1 });
		expect(plan.moves[0].reason).toMatch(/^from pool to Dr a: neuro match; 25 min to deadline$/);
	});

	it('spreads a large pool without exceeding any reader cap or site credential', () => {
		const readers = Array.from({ length: 6 }, (_, k) =>
			reader(`r${k}`, { siteCredentials: k % 2 ? ['A'] : ['B'], subspecialties: k < 3 ? ['neuro'] : ['general'] })
		);
		const items: QueueItem[] = Array.from({ length: 40 }, (_, k) =>
			study({ rvu: 1 + (k % 3) * 0.5, site: k % 2 ? 'A' : 'B', arrivedAt: T0 - k * MIN, subspecialty: k % 5 ? 'neuro' : 'chest' })
		);
		const plan = rebalance({ readers, items }, T0, P);
		const at = apply({ readers, items }, plan);
		const load = new Map<string, number>();
		for (const it of items) {
			const r = at.get(it.studyId);
			if (!r) continue;
			load.set(r, (load.get(r) ?? 0) + it.rvu);
			expect(readers.find((x) => x.id === r)!.siteCredentials).toContain(it.site);
		}
		for (const [, rvu] of load) expect(rvu).toBeLessThanOrEqual(P.maxQueuedRvuDefault);
		expect(plan.assigned + plan.waiting).toBe(items.length);
		expect(plan.assigned).toBe([...at.values()].filter(Boolean).length);
	});
});
