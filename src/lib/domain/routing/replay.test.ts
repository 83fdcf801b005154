import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, type RoutingPolicy } from './policy';
import { Prng } from './prng';
import { replay, ReplayMode, summarizeActual, whatIf, type ReplayStudy } from './replay';
import { HOUR, MIN, reader, T0 } from './testing';
import { CriticalFlag } from './types';

const P = DEFAULT_POLICY;

let n = 0;
function rs(over: Partial<ReplayStudy> = {}): ReplayStudy {
	n++;
	return {
		studyId: `R${n}`,
		site: 'A',
		modality: 'CT',
		subspecialty: 'neuro',
		rvu: 1,
		expectedReadMinutes: 10,
		priority: 'routine',
		patientClass: 'O',
		critical: CriticalFlag.none,
		arrivedAt: T0,
		patientId: `P${n}`,
		...over
	};
}

/** A mixed day: stat ED bursts over a routine outpatient stream, two readers. */
function mixedDay(seed: number): { studies: ReplayStudy[]; roster: ReturnType<typeof reader>[] } {
	const rng = new Prng(seed);
	const studies: ReplayStudy[] = [];
	for (let t = 0; t < 10 * HOUR; t += rng.exponential(6 * MIN)) {
		const stat = rng.next() < 0.3;
		studies.push(
			rs({
				arrivedAt: T0 + Math.round(t),
				priority: stat ? 'stat' : 'routine',
				patientClass: stat ? 'E' : rng.pick(['I', 'O'] as const),
				expectedReadMinutes: rng.int(6, 16),
				critical: rng.next() < 0.03 ? CriticalFlag.pending : CriticalFlag.none
			})
		);
	}
	const roster = [
		reader('a', { shifts: [{ start: T0, end: T0 + 14 * HOUR }], paceFactor: 0.9 }),
		reader('b', { shifts: [{ start: T0, end: T0 + 14 * HOUR }], paceFactor: 1.1, subspecialties: ['general'] })
	];
	return { studies, roster };
}

describe('replay', () => {
	it('is deterministic: the same window, roster and policy give identical results', () => {
		const { studies, roster } = mixedDay(7);
		for (const mode of [ReplayMode.policy, ReplayMode.fifo]) {
			const a = replay(studies, roster, P, { mode, outcomes: true });
			const b = replay(studies.map((s) => ({ ...s })), roster, P, { mode, outcomes: true });
			expect(a).toEqual(b);
			expect(a.read).toBe(studies.length);
		}
	});

	it('reads each study for its expected minutes times the reader pace', () => {
		const s = rs({ expectedReadMinutes: 20 });
		const r = replay([s], [reader('a', { paceFactor: 1.5, shifts: [{ start: T0, end: T0 + HOUR }] })], P, {
			mode: ReplayMode.policy,
			outcomes: true
		});
		expect(r.outcomes![0]).toMatchObject({ startedAt: T0, finishedAt: T0 + 30 * MIN, readerId: 'a' });
		expect(r.tatP50Min).toBe(30);
	});

	it('does not starve a routine study under constant stat load: it is opened within the wait cap', () => {
		const capped: RoutingPolicy = { ...P, waitCapMinutes: 120, agingLeadMinutes: 30 };
		const roster = [reader('solo', { shifts: [{ start: T0, end: T0 + 16 * HOUR }] })];
		// A stat every 9 min, each 10 min to read: from the first minute a stat is always waiting.
		const stats = Array.from({ length: 80 }, (_, k) =>
			rs({ priority: 'stat', patientClass: 'E', arrivedAt: T0 + k * 9 * MIN, expectedReadMinutes: 10 })
		);
		const routine = rs({ arrivedAt: T0 + 1 * MIN, expectedReadMinutes: 5 });
		const studies = [...stats, routine];
		const run = (policy: RoutingPolicy) =>
			replay(studies, roster, policy, { mode: ReplayMode.policy, outcomes: true }).outcomes!.find(
				(o) => o.studyId === routine.studyId
			)!;
		const withCap = run(capped);
		expect(withCap.startedAt).not.toBeNull();
		expect(withCap.startedAt! - routine.arrivedAt).toBeLessThanOrEqual(capped.waitCapMinutes * MIN);
		// The same queue without a meaningful cap leaves it waiting until the stats stop.
		const uncapped = run({ ...capped, waitCapMinutes: 100_000 });
		expect(uncapped.startedAt! - routine.arrivedAt).toBeGreaterThan(11 * HOUR);
	});

	it('reads a critical study next, ahead of a queue of older work', () => {
		const roster = [reader('a', { shifts: [{ start: T0, end: T0 + 10 * HOUR }] })];
		const backlog = Array.from({ length: 5 }, (_, k) => rs({ arrivedAt: T0 + k, priority: 'stat', patientClass: 'E' }));
		const crit = rs({ arrivedAt: T0 + 2 * MIN, critical: CriticalFlag.confirmed });
		const r = replay([...backlog, crit], roster, P, { mode: ReplayMode.policy, outcomes: true });
		const started = r.outcomes!.filter((o) => o.startedAt !== null).sort((x, y) => x.startedAt! - y.startedAt!);
		// The first stat was already open when the critical arrived; the critical is next.
		expect(started[1].studyId).toBe(crit.studyId);
		const fifo = replay([...backlog, crit], roster, P, { mode: ReplayMode.fifo, outcomes: true });
		expect(fifo.outcomes!.find((o) => o.studyId === crit.studyId)!.startedAt).toBe(T0 + 50 * MIN);
	});

	it('hands unopened work back at shift end so the next reader picks it up', () => {
		const roster = [
			reader('early', { shifts: [{ start: T0, end: T0 + 15 * MIN }] }),
			reader('late', { shifts: [{ start: T0 + HOUR, end: T0 + 5 * HOUR }] })
		];
		const studies = Array.from({ length: 3 }, (_, k) => rs({ arrivedAt: T0 + k }));
		const r = replay(studies, roster, P, { mode: ReplayMode.policy, outcomes: true });
		expect(r.read).toBe(3);
		expect(r.outcomes!.map((o) => o.readerId)).toEqual(['early', 'early', 'late']);
		expect(r.outcomes![2].startedAt).toBe(T0 + HOUR);
	});

	it('counts work nobody could read as unfinished and breached', () => {
		const s = rs({ subspecialty: 'breast' });
		const r = replay([s], [reader('a')], P, { mode: ReplayMode.policy, until: T0 + 3 * 24 * HOUR });
		expect(r).toMatchObject({ read: 0, unfinished: 1, breaches: 1, overWaitCap: 1 });
	});

	it('beats FIFO on SLA breaches for a mixed stat/routine day', () => {
		const { studies, roster } = mixedDay(11);
		const w = whatIf(studies, roster, P);
		expect(w.policy.breaches).toBeLessThan(w.fifo.breaches);
		expect(w.policy.perPriority.stat.tatP90Min).toBeLessThan(w.fifo.perPriority.stat.tatP90Min);
		expect(w.actual).toBeNull();
	});

	it('summarizes what actually happened from recorded times', () => {
		const a = rs({ arrivedAt: T0, actualStartedAt: T0 + 10 * MIN, actualReportedAt: T0 + 30 * MIN });
		const b = rs({ arrivedAt: T0, priority: 'stat', patientClass: 'E', actualStartedAt: T0 + 40 * MIN, actualReportedAt: T0 + 50 * MIN });
		const c = rs({ arrivedAt: T0 });
		const actual = summarizeActual([a, b, c], P, T0 + 2 * HOUR);
		expect(actual).toMatchObject({ mode: 'actual', read: 2, unfinished: 1, breaches: 1, maxWaitMin: 40 });
		expect(actual.perPriority.stat.breaches).toBe(1);
		const w = whatIf([a, b, c], [reader('x', { shifts: [{ start: T0, end: T0 + 2 * HOUR }] })], P, { until: T0 + 2 * HOUR });
		expect(w.actual).not.toBeNull();
		expect(w.policy.read).toBe(3);
	});

	it('refuses an invalid policy', () => {
		expect(() => replay([], [], { ...P, waitCapMinutes: 0 }, { mode: ReplayMode.fifo })).toThrow(/invalid routing policy/);
	});
});
