/**
 * The study lifecycle state machine:
 * ordered → arriving → complete → triaged → assigned → opened → reported, or cancelled.
 *
 * Real departments deliver HL7 and DICOM in either order, so the machine accepts
 * images before the order, a report before the study was opened in Radflow, and
 * late images after completion. What it refuses is what would rewrite history:
 * anything after `reported` or `cancelled` except recording late material.
 *
 * Pure: `at` is a parameter, never read from a clock.
 */
import { StudyStatus, type Priority, type StudyState } from './model';

/** Kinds of lifecycle event. Each becomes one `study_events` row. */
export const StudyEventKind = {
	orderPlaced: 'order_placed',
	orderUpdated: 'order_updated',
	imageReceived: 'image_received',
	complete: 'complete',
	triaged: 'triaged',
	assigned: 'assigned',
	unassigned: 'unassigned',
	opened: 'opened',
	reported: 'reported',
	cancelled: 'cancelled',
	priorityChanged: 'priority_changed'
} as const;
export type StudyEventKind = (typeof StudyEventKind)[keyof typeof StudyEventKind];
export const STUDY_EVENT_KINDS = Object.values(StudyEventKind);

/** A lifecycle event as the state machine sees it. */
export type StudyEvent =
	| { kind: typeof StudyEventKind.orderPlaced; at: string; priority?: Priority }
	| { kind: typeof StudyEventKind.orderUpdated; at: string }
	| { kind: typeof StudyEventKind.imageReceived; at: string }
	| { kind: typeof StudyEventKind.complete; at: string }
	| { kind: typeof StudyEventKind.triaged; at: string }
	| { kind: typeof StudyEventKind.assigned; at: string }
	| { kind: typeof StudyEventKind.unassigned; at: string }
	| { kind: typeof StudyEventKind.opened; at: string }
	| { kind: typeof StudyEventKind.reported; at: string }
	| { kind: typeof StudyEventKind.cancelled; at: string }
	| { kind: typeof StudyEventKind.priorityChanged; at: string; priority: Priority };

/** Follow-up work a transition asks for; the store turns these into jobs. */
export const FollowUp = {
	triage: 'triage',
	route: 'route'
} as const;
export type FollowUp = (typeof FollowUp)[keyof typeof FollowUp];

export type TransitionResult =
	| {
			ok: true;
			state: StudyState;
			/** True when the event was recorded but did not change the status. */
			statusUnchanged: boolean;
			/** A note for the event payload, e.g. "late image: study re-opened". */
			note?: string;
			followUps: FollowUp[];
	  }
	| { ok: false; code: 'illegal_transition'; reason: string };

const TERMINAL: ReadonlySet<StudyStatus> = new Set([StudyStatus.reported, StudyStatus.cancelled]);

/** Order of the forward path, used to tell "earlier" from "later" states. */
const FORWARD: readonly StudyStatus[] = [
	StudyStatus.ordered,
	StudyStatus.arriving,
	StudyStatus.complete,
	StudyStatus.triaged,
	StudyStatus.assigned,
	StudyStatus.opened,
	StudyStatus.reported
];

function rank(s: StudyStatus): number {
	return s === StudyStatus.cancelled ? FORWARD.length : FORWARD.indexOf(s);
}

/** State of a study that exists only because something referred to it. */
export function emptyStudyState(priority: Priority): StudyState {
	return {
		status: StudyStatus.ordered,
		priority,
		orderedAt: null,
		firstImageAt: null,
		completeAt: null,
		triagedAt: null,
		assignedAt: null,
		openedAt: null,
		reportedAt: null,
		cancelledAt: null
	};
}

function refuse(state: StudyState, kind: StudyEventKind): TransitionResult {
	return {
		ok: false,
		code: 'illegal_transition',
		reason: `cannot apply ${kind} to a study that is ${state.status}`
	};
}

function moved(
	state: StudyState,
	patch: Partial<StudyState>,
	followUps: FollowUp[] = [],
	note?: string
): TransitionResult {
	const next = { ...state, ...patch };
	return { ok: true, state: next, statusUnchanged: next.status === state.status, followUps, note };
}

/**
 * Apply one event to a study's current state.
 * Returns the next state and the follow-up jobs, or a refusal with a reason.
 */
export function applyStudyEvent(state: StudyState, event: StudyEvent): TransitionResult {
	const s = state.status;
	const terminal = TERMINAL.has(s);
	switch (event.kind) {
		case StudyEventKind.orderPlaced: {
			if (terminal) return refuse(state, event.kind);
			// The order may arrive after images: keep the later status, fill the timestamp.
			return moved(state, {
				orderedAt: state.orderedAt ?? event.at,
				priority: event.priority ?? state.priority
			});
		}
		case StudyEventKind.orderUpdated:
			if (terminal) return refuse(state, event.kind);
			return moved(state, {});
		case StudyEventKind.imageReceived: {
			const first = { firstImageAt: state.firstImageAt ?? event.at };
			if (s === StudyStatus.ordered) return moved(state, { ...first, status: StudyStatus.arriving });
			if (s === StudyStatus.arriving) return moved(state, first);
			if (s === StudyStatus.complete || s === StudyStatus.triaged) {
				// Not yet with a reader: re-open so completeness and triage run again.
				return moved(
					state,
					{ ...first, status: StudyStatus.arriving, completeAt: null, triagedAt: null },
					[],
					'late image: study re-opened'
				);
			}
			// With a reader, reported or cancelled: record it, never drop it, change nothing.
			return moved(state, first, [], `late image: study already ${s}`);
		}
		case StudyEventKind.complete:
			if (s !== StudyStatus.arriving) return refuse(state, event.kind);
			return moved(state, { status: StudyStatus.complete, completeAt: event.at }, [FollowUp.triage]);
		case StudyEventKind.triaged:
			if (s !== StudyStatus.complete) return refuse(state, event.kind);
			return moved(state, { status: StudyStatus.triaged, triagedAt: event.at }, [FollowUp.route]);
		case StudyEventKind.assigned:
			// Assignment is allowed before triage finishes: a stat study must not wait for AI.
			if (terminal || rank(s) < rank(StudyStatus.arriving) || s === StudyStatus.opened) {
				return refuse(state, event.kind);
			}
			return moved(state, { status: StudyStatus.assigned, assignedAt: event.at });
		case StudyEventKind.unassigned:
			if (s !== StudyStatus.assigned) return refuse(state, event.kind);
			return moved(state, {
				status: state.triagedAt ? StudyStatus.triaged : state.completeAt ? StudyStatus.complete : StudyStatus.arriving,
				assignedAt: null
			});
		case StudyEventKind.opened:
			if (s !== StudyStatus.assigned) return refuse(state, event.kind);
			return moved(state, { status: StudyStatus.opened, openedAt: event.at });
		case StudyEventKind.reported:
			// Reports may come from outside Radflow (read directly in PACS), so any
			// non-terminal state can close the turnaround clock.
			if (terminal) return refuse(state, event.kind);
			return moved(state, { status: StudyStatus.reported, reportedAt: event.at });
		case StudyEventKind.cancelled:
			if (terminal) return refuse(state, event.kind);
			return moved(state, { status: StudyStatus.cancelled, cancelledAt: event.at });
		case StudyEventKind.priorityChanged:
			if (terminal) return refuse(state, event.kind);
			return moved(state, { priority: event.priority }, s === StudyStatus.triaged ? [FollowUp.route] : []);
		default:
			return event satisfies never;
	}
}
