/**
 * Builders for routing tests: a reader and a study with sensible defaults,
 * overridden field by field. Times are relative to a fixed Monday 08:00 UTC.
 */
import { PatientClass, Priority, Subspecialty } from '../study/model';
import { computeDeadline, DEFAULT_POLICY, type RoutingPolicy } from './policy';
import { CriticalFlag, ReaderStatus, type QueueItem, type Radiologist } from './types';

export const MIN = 60_000;
export const HOUR = 60 * MIN;
export const T0 = Date.UTC(2025, 0, 6, 8, 0);

export function reader(id: string, over: Partial<Radiologist> = {}): Radiologist {
	return {
		id,
		name: `Dr ${id}`,
		subspecialties: [Subspecialty.neuro],
		siteCredentials: ['*'],
		shifts: [{ start: T0 - HOUR, end: T0 + 8 * HOUR }],
		status: ReaderStatus.reading,
		...over
	};
}

let counter = 0;

/** A study; `deadline` follows the policy's SLA targets unless given. */
export function study(over: Partial<QueueItem> = {}, policy: RoutingPolicy = DEFAULT_POLICY): QueueItem {
	const n = ++counter;
	const base = {
		studyId: `S${n}`,
		accession: `ACC${n}`,
		site: 'A',
		modality: 'CT',
		subspecialty: Subspecialty.neuro,
		rvu: 1,
		expectedReadMinutes: 10,
		priority: Priority.routine,
		patientClass: PatientClass.outpatient,
		critical: CriticalFlag.none,
		arrivedAt: T0,
		patientId: `P${n}`,
		assignedTo: null,
		openedAt: null,
		...over
	} as Omit<QueueItem, 'deadline'> & { deadline?: number };
	return { ...base, deadline: over.deadline ?? computeDeadline(base, policy) };
}
