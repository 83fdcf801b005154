import { describe, expect, it } from 'vitest';
import { applyStudyEvent, emptyStudyState, FollowUp, STUDY_EVENT_KINDS, StudyEventKind, type StudyEvent } from './lifecycle';
import { STUDY_STATUSES, StudyStatus, type StudyState } from './model';

const at = '2026-03-02T10:00:00.000Z';
const ev = (kind: StudyEvent['kind']): StudyEvent =>
	(kind === 'priority_changed' ? { kind, at, priority: 'stat' } : { kind, at }) as StudyEvent;

function stateIn(status: StudyState['status']): StudyState {
	const s = emptyStudyState('routine');
	const filled: StudyState = { ...s, status, orderedAt: at, firstImageAt: status === 'ordered' ? null : at };
	if (['complete', 'triaged', 'assigned', 'opened', 'reported'].includes(status)) filled.completeAt = at;
	if (['triaged', 'assigned', 'opened', 'reported'].includes(status)) filled.triagedAt = at;
	if (['assigned', 'opened'].includes(status)) filled.assignedAt = at;
	return filled;
}

/** The expected status after each event from each status; null = refused. */
const TABLE: Record<StudyState['status'], Partial<Record<StudyEvent['kind'], StudyState['status'] | null>>> = {
	ordered: { order_placed: 'ordered', order_updated: 'ordered', image_received: 'arriving', complete: null, triaged: null, assigned: null, unassigned: null, opened: null, reported: 'reported', cancelled: 'cancelled', priority_changed: 'ordered' },
	arriving: { order_placed: 'arriving', order_updated: 'arriving', image_received: 'arriving', complete: 'complete', triaged: null, assigned: 'assigned', unassigned: null, opened: null, reported: 'reported', cancelled: 'cancelled', priority_changed: 'arriving' },
	complete: { order_placed: 'complete', order_updated: 'complete', image_received: 'arriving', complete: null, triaged: 'triaged', assigned: 'assigned', unassigned: null, opened: null, reported: 'reported', cancelled: 'cancelled', priority_changed: 'complete' },
	triaged: { order_placed: 'triaged', order_updated: 'triaged', image_received: 'arriving', complete: null, triaged: null, assigned: 'assigned', unassigned: null, opened: null, reported: 'reported', cancelled: 'cancelled', priority_changed: 'triaged' },
	assigned: { order_placed: 'assigned', order_updated: 'assigned', image_received: 'assigned', complete: null, triaged: null, assigned: 'assigned', unassigned: 'triaged', opened: 'opened', reported: 'reported', cancelled: 'cancelled', priority_changed: 'assigned' },
	opened: { order_placed: 'opened', order_updated: 'opened', image_received: 'opened', complete: null, triaged: null, assigned: null, unassigned: null, opened: null, reported: 'reported', cancelled: 'cancelled', priority_changed: 'opened' },
	reported: { order_placed: null, order_updated: null, image_received: 'reported', complete: null, triaged: null, assigned: null, unassigned: null, opened: null, reported: null, cancelled: null, priority_changed: null },
	cancelled: { order_placed: null, order_updated: null, image_received: 'cancelled', complete: null, triaged: null, assigned: null, unassigned: null, opened: null, reported: null, cancelled: null, priority_changed: null }
};

describe('study lifecycle', () => {
	for (const status of STUDY_STATUSES) {
		for (const kind of STUDY_EVENT_KINDS) {
			const expected = TABLE[status][kind];
			it(`${kind} on ${status} → ${expected ?? 'refused'}`, () => {
				const r = applyStudyEvent(stateIn(status), ev(kind));
				if (expected === null || expected === undefined) {
					expect(r.ok).toBe(false);
					if (!r.ok) expect(r.reason).toContain(status);
				} else {
					expect(r.ok).toBe(true);
					if (r.ok) expect(r.state.status).toBe(expected);
				}
			});
		}
	}

	it('images before the order: the order fills orderedAt without moving the study back', () => {
		let s = emptyStudyState('routine');
		const r1 = applyStudyEvent(s, { kind: 'image_received', at: '2026-03-02T10:00:00Z' });
		expect(r1.ok && r1.state.status).toBe(StudyStatus.arriving);
		s = (r1 as { state: StudyState }).state;
		const r2 = applyStudyEvent(s, { kind: 'order_placed', at: '2026-03-02T10:05:00Z', priority: 'stat' });
		expect(r2.ok).toBe(true);
		if (r2.ok) {
			expect(r2.state.status).toBe('arriving');
			expect(r2.state.orderedAt).toBe('2026-03-02T10:05:00Z');
			expect(r2.state.priority).toBe('stat');
			expect(r2.state.firstImageAt).toBe('2026-03-02T10:00:00Z');
		}
	});

	it('a late image re-opens a complete study and clears completion so it is re-evaluated', () => {
		const r = applyStudyEvent(stateIn('triaged'), ev('image_received'));
		expect(r.ok).toBe(true);
		if (r.ok) {
			expect(r.state.status).toBe('arriving');
			expect(r.state.completeAt).toBeNull();
			expect(r.note).toMatch(/late image/);
		}
	});

	it('a late image on a reported study is recorded with a note and changes nothing', () => {
		const before = stateIn('reported');
		const r = applyStudyEvent(before, ev('image_received'));
		expect(r.ok && r.statusUnchanged).toBe(true);
		if (r.ok) expect(r.note).toBe('late image: study already reported');
	});

	it('completion asks for triage, triage asks for routing', () => {
		const c = applyStudyEvent(stateIn('arriving'), ev('complete'));
		expect(c.ok && c.followUps).toEqual([FollowUp.triage]);
		const t = applyStudyEvent(stateIn('complete'), ev('triaged'));
		expect(t.ok && t.followUps).toEqual([FollowUp.route]);
	});

	it('return to pool goes back to the furthest pre-assignment step', () => {
		const s = { ...stateIn('assigned'), triagedAt: null };
		const r = applyStudyEvent(s, { kind: StudyEventKind.unassigned, at });
		expect(r.ok && r.state.status).toBe('complete');
		expect(r.ok && r.state.assignedAt).toBeNull();
	});

	it('the machine never reads a clock: same input, same output', () => {
		const a = applyStudyEvent(stateIn('arriving'), ev('complete'));
		const b = applyStudyEvent(stateIn('arriving'), ev('complete'));
		expect(a).toEqual(b);
		expect(a.ok && a.state.completeAt).toBe(at);
	});
});
