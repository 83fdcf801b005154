/**
 * The canonical study model every ingest path normalizes into.
 *
 * Pure data definitions: no I/O, no clock. Names follow radiology usage
 * (accession number, study instance UID, patient class, RVU).
 */

/** Lifecycle states of a study. @see ARCHITECTURE.md "Study lifecycle" */
export const StudyStatus = {
	ordered: 'ordered',
	arriving: 'arriving',
	complete: 'complete',
	triaged: 'triaged',
	assigned: 'assigned',
	opened: 'opened',
	reported: 'reported',
	cancelled: 'cancelled'
} as const;
export type StudyStatus = (typeof StudyStatus)[keyof typeof StudyStatus];
export const STUDY_STATUSES = Object.values(StudyStatus);

/** Order priority, after HL7 v2 table 0027 (S = stat, A = ASAP, R = routine). */
export const Priority = {
	stat: 'stat',
	asap: 'asap',
	routine: 'routine'
} as const;
export type Priority = (typeof Priority)[keyof typeof Priority];
export const PRIORITIES = Object.values(Priority);

/** Rank for sorting: lower is more urgent. */
export function priorityRank(p: Priority): number {
	switch (p) {
		case Priority.stat:
			return 0;
		case Priority.asap:
			return 1;
		case Priority.routine:
			return 2;
		default:
			return p satisfies never;
	}
}

/** Patient class, after HL7 v2 table 0004 (PV1-2): E emergency, I inpatient, O outpatient. */
export const PatientClass = {
	emergency: 'E',
	inpatient: 'I',
	outpatient: 'O'
} as const;
export type PatientClass = (typeof PatientClass)[keyof typeof PatientClass];
export const PATIENT_CLASSES = Object.values(PatientClass);

/** Reading subspecialties used for eligibility and routing. */
export const Subspecialty = {
	neuro: 'neuro',
	body: 'body',
	chest: 'chest',
	msk: 'msk',
	breast: 'breast',
	nuclear: 'nuclear',
	pediatric: 'pediatric',
	general: 'general'
} as const;
export type Subspecialty = (typeof Subspecialty)[keyof typeof Subspecialty];
export const SUBSPECIALTIES = Object.values(Subspecialty);

/** DICOM modality codes Radflow plans for (PS3.3 C.7.3.1.1.1). Others pass through as text. */
export const MODALITIES = ['CT', 'MR', 'CR', 'DX', 'US', 'NM', 'PT', 'MG', 'XA', 'RF'] as const;
export type Modality = (typeof MODALITIES)[number] | (string & {});

/** The normalized exam a study or order maps to. */
export interface NormalizedExam {
	examCode: string;
	examName: string;
	modality: Modality;
	bodyRegion: string;
	subspecialty: Subspecialty;
	rvu: number;
	expectedReadMinutes: number;
}

/** Current state of one study, as stored in the `studies` row. */
export interface StudyState {
	status: StudyStatus;
	priority: Priority;
	/** Timestamps per lifecycle step, ISO strings or null. */
	orderedAt: string | null;
	firstImageAt: string | null;
	completeAt: string | null;
	triagedAt: string | null;
	assignedAt: string | null;
	openedAt: string | null;
	reportedAt: string | null;
	cancelledAt: string | null;
}
