import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from './policy';
import { estimateSlaRisk, riskAlerts, RiskLevel, type SlaRisk } from './sla';
import { HOUR, MIN, reader, study, T0 } from './testing';
import type { QueueItem } from './types';

const P = DEFAULT_POLICY;

describe('estimateSlaRisk', () => {
	it('queues assigned studies behind higher-priority work on the same reader, at that reader\'s pace', () => {
		const readers = [reader('a', { paceFactor: 2 })];
		const opened = study({ assignedTo: 'a', openedAt: T0 - 5 * MIN, expectedReadMinutes: 10 });
		const stat = study({ assignedTo: 'a', priority: 'stat', patientClass: 'E', expectedReadMinutes: 5 });
		const routine = study({ assignedTo: 'a', expectedReadMinutes: 10 });
		const risk = estimateSlaRisk({ readers, items: [routine, opened, stat] }, T0, P);
		// Opened 5 min ago, 10 min × pace 2 = 20 min: 15 min left.
		expect(risk.get(opened.studyId)!.expectedFinishMs).toBe(T0 + 15 * MIN);
		expect(risk.get(stat.studyId)!.expectedStartMs).toBe(T0 + 15 * MIN);
		expect(risk.get(stat.studyId)!.expectedFinishMs).toBe(T0 + 25 * MIN);
		expect(risk.get(routine.studyId)!.expectedStartMs).toBe(T0 + 25 * MIN);
		expect(risk.get(routine.studyId)!.reason).toMatch(/^1 ahead in Dr a's queue; expected finish/);
	});

	it('grades ok, watch, at risk and breached', () => {
		const readers = [reader('a')];
		const ok = study({ assignedTo: 'a', expectedReadMinutes: 10, deadline: T0 + 4 * HOUR, arrivedAt: T0 });
		const watch = study({ assignedTo: 'b', expectedReadMinutes: 10, deadline: T0 + 50 * MIN, arrivedAt: T0 - 3 * HOUR });
		const late = study({ priority: 'stat', patientClass: 'E', arrivedAt: T0 - 20 * MIN });
		const gone = study({ deadline: T0 - MIN, arrivedAt: T0 - HOUR });
		const r = estimateSlaRisk({ readers, items: [ok, watch, late, gone] }, T0, P);
		expect(r.get(ok.studyId)!.riskLevel).toBe(RiskLevel.ok);
		expect(r.get(watch.studyId)!.riskLevel).toBe(RiskLevel.watch);
		expect(r.get(gone.studyId)).toMatchObject({ riskLevel: RiskLevel.breached, probability: 1 });
		expect(r.get(gone.studyId)!.reason).toContain('deadline passed 1 min ago');
		expect(r.get(ok.studyId)!.probability).toBeLessThan(r.get(watch.studyId)!.probability);
		// The stat has 10 min left and waits behind a's 10-minute routine plus the pooled overdue study.
		expect(r.get(late.studyId)!.riskLevel).toBe(RiskLevel.atRisk);
		expect(r.get(late.studyId)!.probability).toBeGreaterThan(0.5);
	});

	it('counts higher-priority pooled work ahead and shares readers across pools', () => {
		const readers = [reader('a'), reader('b')];
		const items = Array.from({ length: 6 }, (_, k) => study({ expectedReadMinutes: 10, arrivedAt: T0 - (10 - k) * MIN }));
		const r = estimateSlaRisk({ readers, items }, T0, P);
		const starts = items.map((i) => (r.get(i.studyId)!.expectedStartMs - T0) / MIN);
		// Two readers, 10 min each: oldest first, 5 min of pool work per minute of two readers.
		expect(starts).toEqual([0, 5, 10, 15, 20, 25]);
		expect(r.get(items[2].studyId)!.reason).toContain('20 min of higher-priority neuro work ahead, 2 neuro readers on shift');
	});

	it('says when nobody is on shift and when nobody can read it at all', () => {
		const readers = [reader('a', { shifts: [{ start: T0 + 2 * HOUR, end: T0 + 10 * HOUR }] })];
		const neuro = study({ priority: 'stat', patientClass: 'E' });
		const breast = study({ subspecialty: 'breast' });
		const r = estimateSlaRisk({ readers, items: [neuro, breast] }, T0, P);
		expect(r.get(neuro.studyId)).toMatchObject({ expectedStartMs: T0 + 2 * HOUR, riskLevel: RiskLevel.atRisk });
		expect(r.get(neuro.studyId)!.reason).toContain('no neuro reader on shift; next starts in 2 h');
		expect(r.get(breast.studyId)).toMatchObject({ expectedStartMs: Infinity, riskLevel: RiskLevel.atRisk });
		expect(r.get(breast.studyId)!.reason).toBe('waiting: no breast reader for A on the schedule; no expected finish');
	});

	it('treats work assigned to a reader who went off shift as waiting', () => {
		const readers = [reader('gone', { shifts: [] }), reader('b')];
		const s = study({ assignedTo: 'gone' });
		const r = estimateSlaRisk({ readers, items: [s] }, T0, P);
		expect(r.get(s.studyId)!.reason).toMatch(/^assigned reader Dr gone is off shift; waiting: 1 neuro reader on shift/);
	});
});

describe('riskAlerts', () => {
	const risk = (studyId: string, riskLevel: SlaRisk['riskLevel'], deadline = T0): SlaRisk => ({
		studyId,
		deadline,
		expectedStartMs: T0,
		expectedFinishMs: T0,
		riskLevel,
		probability: 0.5,
		reason: 'r'
	});

	it('alerts on each step up, new studies included, and stays quiet otherwise', () => {
		const prev = new Map([
			['a', risk('a', 'ok')],
			['b', risk('b', 'watch')],
			['c', risk('c', 'at_risk')],
			['d', risk('d', 'watch')]
		]);
		const cur = new Map([
			['a', risk('a', 'watch', T0 + 2)],
			['b', risk('b', 'at_risk', T0 + 1)],
			['c', risk('c', 'watch')],
			['d', risk('d', 'watch')],
			['e', risk('e', 'ok')],
			['f', risk('f', 'breached')]
		]);
		const alerts = riskAlerts(prev, cur);
		expect(alerts.map((a) => [a.studyId, a.previousLevel, a.level])).toEqual([
			['f', null, 'breached'],
			['b', 'watch', 'at_risk'],
			['a', 'ok', 'watch']
		]);
	});

	it('raises an at-risk alert before the deadline for a study the queue will not reach in time', () => {
		const readers = [reader('a')];
		const backlog: QueueItem[] = Array.from({ length: 6 }, (_, k) =>
			study({ priority: 'stat', patientClass: 'E', expectedReadMinutes: 10, arrivedAt: T0 + k * MIN, assignedTo: 'a' })
		);
		const victim = study({ priority: 'asap', patientClass: 'E', expectedReadMinutes: 10, arrivedAt: T0 });
		let prev = new Map<string, SlaRisk>();
		const fired: { at: number; level: string }[] = [];
		for (let t = T0; t <= victim.deadline + 10 * MIN; t += 5 * MIN) {
			// The reader works through the backlog one study per 10 min; the victim never gets a turn.
			const done = Math.floor((t - T0) / (10 * MIN));
			const items = [...backlog.slice(done), victim].map((s, k) =>
				k === 0 && s !== victim ? { ...s, openedAt: T0 + done * 10 * MIN } : s
			);
			const cur = estimateSlaRisk({ readers, items }, t, P);
			for (const a of riskAlerts(prev, cur)) if (a.studyId === victim.studyId) fired.push({ at: t, level: a.level });
			prev = cur;
		}
		const atRisk = fired.find((f) => f.level === RiskLevel.atRisk);
		expect(atRisk).toBeDefined();
		expect(atRisk!.at).toBeLessThan(victim.deadline);
		expect(fired.at(-1)!.level).toBe(RiskLevel.breached);
	});
});
