/**
 * Shared shapes of the routing engine: the roster, the queue and the state a
 * decision is made against.
 *
 * Pure data definitions. All times are epoch milliseconds passed in by the
 * caller; nothing here reads a clock.
 */
import type { Modality, PatientClass, Priority, Subspecialty } from '../study/model';

/** Whether a radiologist is taking work right now (a live flag, set by the reader or charge). */
export const ReaderStatus = {
	reading: 'reading',
	paused: 'paused',
	off: 'off'
} as const;
export type ReaderStatus = (typeof ReaderStatus)[keyof typeof ReaderStatus];
export const READER_STATUSES = Object.values(ReaderStatus);

/** One working block, half-open: `start <= t < end`, epoch ms. */
export interface Shift {
	start: number;
	end: number;
}

/** A site credential that covers every site (teleradiology readers with full privileges). */
export const ANY_SITE = '*';

/** A radiologist on the roster. */
export interface Radiologist {
	id: string;
	name: string;
	subspecialties: readonly Subspecialty[];
	/** Sites this reader holds privileges for; `ANY_SITE` covers all. */
	siteCredentials: readonly string[];
	shifts: readonly Shift[];
	status: ReaderStatus;
	/** Queue depth cap in RVU; the policy default applies when absent. */
	maxQueuedRvu?: number;
	/**
	 * Recorded reading pace: actual minutes per expected minute (0.8 = 20 % faster
	 * than the exam's expected reading time). 1 when unknown.
	 */
	paceFactor?: number;
}

/** AI critical-finding flag as routing sees it: a pending flag already jumps the queue. */
export const CriticalFlag = {
	none: 'none',
	pending: 'pending',
	confirmed: 'confirmed'
} as const;
export type CriticalFlag = (typeof CriticalFlag)[keyof typeof CriticalFlag];

/** The reading work a study represents: what routing and replay both score. */
export interface StudyWork {
	studyId: string;
	site: string;
	modality: Modality;
	subspecialty: Subspecialty;
	rvu: number;
	expectedReadMinutes: number;
	priority: Priority;
	patientClass: PatientClass;
	critical: CriticalFlag;
	/** When the study became complete and readable, epoch ms. */
	arrivedAt: number;
	patientId: string;
}

/** A study waiting to be read (or being read), as the router sees it. */
export interface QueueItem extends StudyWork {
	accession: string;
	/** SLA deadline for the report, epoch ms (see `computeDeadline`). */
	deadline: number;
	/** Reader whose worklist holds it, if any. */
	assignedTo?: string | null;
	/** When that reader opened it; opened studies are never moved. */
	openedAt?: number | null;
	/** Held by a human (e.g. waiting for priors): not routed while held. */
	held?: boolean;
	/** Held until this time, epoch ms; routable again afterwards. */
	heldUntil?: number | null;
}

/** What a routing decision is made against. */
export interface RoutingState {
	readers: readonly Radiologist[];
	/** Unreported studies: waiting, assigned and opened. */
	items: readonly QueueItem[];
}
