/**
 * HL7 v2.5 messages as a hospital EHR (ADT), RIS (ORM) and dictation system
 * (ORU) would send them for a simulated study. Pure: times come from the plan
 * or the caller.
 *
 * @see HL7 v2.5 Ch. 2 (MSH, escaping), Ch. 3 (ADT^A01/A04, PV1), Ch. 4 (ORM^O01: ORC, OBR, TQ1), Ch. 7 (ORU^R01, OBX)
 */
import { Priority } from '../../src/lib/domain/study/model';
import type { SimExam, SimRadiologist } from './network';
import type { StudyPlan } from './plan';
import { escapeHl7 } from '../hl7/message';

/** What a report needs to know about its study (a plan, or a row read back from the database). */
export type ReportSubject = Pick<StudyPlan, 'site' | 'accession' | 'placerOrder' | 'mrn' | 'visitNumber' | 'orderedAt' | 'completeAt' | 'critical'> & {
	exam: Pick<SimExam, 'code' | 'description' | 'modality' | 'examName'>;
};

/** Sending applications (MSH-3). */
export const Sender = {
	ehr: 'SIM_EHR',
	ris: 'SIM_RIS',
	dictation: 'SIM_DICTATION'
} as const;
export type Sender = (typeof Sender)[keyof typeof Sender];

/** Message kinds the simulator sends. */
export const Hl7Kind = {
	register: 'ADT^A04',
	admit: 'ADT^A01',
	order: 'ORM^O01',
	report: 'ORU^R01'
} as const;
export type Hl7Kind = (typeof Hl7Kind)[keyof typeof Hl7Kind];

// Values are escaped with the listener's own escaper, so both sides agree. @see HL7 v2.5 §2.7
export { escapeHl7 };

/** HL7 DTM in the site's local time with its offset, e.g. `20250312142233-0500`. */
export function hl7Time(ms: number, offsetMinutes: number): string {
	const d = new Date(ms + offsetMinutes * 60_000);
	const p = (n: number, w = 2) => String(n).padStart(w, '0');
	const sign = offsetMinutes < 0 ? '-' : '+';
	const a = Math.abs(offsetMinutes);
	return (
		`${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}` +
		`${sign}${p(Math.floor(a / 60))}${p(a % 60)}`
	);
}

/** Table 0027 priority code. */
export function priorityCode(p: Priority): 'S' | 'A' | 'R' {
	switch (p) {
		case Priority.stat:
			return 'S';
		case Priority.asap:
			return 'A';
		case Priority.routine:
			return 'R';
		default:
			return p satisfies never;
	}
}

function msh(plan: Pick<StudyPlan, 'site'>, sender: Sender, type: string, structure: string, controlId: string, atMs: number): string {
	const f = plan.site.facility;
	return `MSH|^~\\&|${sender}|${f}|RADFLOW|RADFLOW|${hl7Time(atMs, plan.site.utcOffsetMinutes)}||${type}^${structure}|${controlId}|P|2.5|||AL|NE||UNICODE UTF-8`;
}

function pid(plan: Pick<StudyPlan, 'site' | 'mrn' | 'visitNumber'>): string {
	// Simulated identity only: no names or birth dates that could look like a person's.
	return `PID|1||${plan.mrn}^^^${plan.site.facility}^MR||SIMULATED^PATIENT||||||||||||${plan.visitNumber}`;
}

function pv1(plan: StudyPlan): string {
	const t = hl7Time(plan.registeredAt, plan.site.utcOffsetMinutes);
	// PV1-2 class, PV1-3 location, PV1-19 visit number, PV1-44 admit time.
	const fields = ['PV1', '1', plan.patientClass, plan.location, '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', plan.visitNumber];
	while (fields.length < 44) fields.push('');
	fields.push(t);
	return fields.join('|');
}

/** Message control ids are stable per study and kind, so a resend is a duplicate (MSH-10). */
export function controlId(plan: Pick<StudyPlan, 'accession'>, kind: 'ADT' | 'ORM' | 'ORU'): string {
	return `${plan.accession}${kind}`;
}

/** ADT^A01 (inpatient admit) or ADT^A04 (ED / outpatient registration). */
export function buildAdt(plan: StudyPlan): string {
	const event = plan.patientClass === 'I' ? 'A01' : 'A04';
	const t = hl7Time(plan.registeredAt, plan.site.utcOffsetMinutes);
	return [msh(plan, Sender.ehr, `ADT^${event}`, 'ADT_A01', controlId(plan, 'ADT'), plan.registeredAt), `EVN|${event}|${t}`, pid(plan), pv1(plan)].join('\r');
}

function procedure(plan: ReportSubject): string {
	return `${escapeHl7(plan.exam.code)}^${escapeHl7(plan.exam.description)}^L`;
}

/** ORM^O01 new order: ORC-1 NW, TQ1-9 / OBR-27.6 priority, OBR-4 procedure, OBR-18 accession, OBR-24 modality. */
export function buildOrm(plan: StudyPlan): string {
	const off = plan.site.utcOffsetMinutes;
	const t = hl7Time(plan.orderedAt, off);
	const pr = priorityCode(plan.priority);
	const orc = `ORC|NW|${plan.placerOrder}|${plan.accession}||SC||^^^${t}^^${pr}||${t}|||9${plan.site.letter}001^ORDERING^PROVIDER`;
	const tq1 = `TQ1|1||||||${t}||${pr}`;
	const obr = [
		'OBR', '1', plan.placerOrder, plan.accession, procedure(plan), '', t, '', '', '', '', '', '', '', '', '',
		`9${plan.site.letter}001^ORDERING^PROVIDER`, '', plan.accession, plan.accession, '', '', '', '', plan.exam.modality, '', '',
		`^^^${t}^^${pr}`, '', '', '', `^${escapeHl7(plan.reason)}`
	].join('|');
	return [msh(plan, Sender.ris, 'ORM^O01', 'ORM_O01', controlId(plan, 'ORM'), plan.orderedAt), pid(plan), pv1(plan), orc, tq1, obr].join('\r');
}

/** The impression a reader dictates; the ground truth shows in the words. */
export function reportText(plan: Pick<ReportSubject, 'critical' | 'exam'>): string[] {
	switch (plan.critical) {
		case 'intracranial_hemorrhage':
			return ['FINDINGS: Acute intracranial hemorrhage.', 'IMPRESSION: Acute intracranial hemorrhage. Critical result communicated.'];
		case 'pneumothorax':
			return ['FINDINGS: Pneumothorax.', 'IMPRESSION: Pneumothorax. Critical result communicated.'];
		case null:
			return ['FINDINGS: No acute abnormality.', `IMPRESSION: Normal ${plan.exam.examName.toLowerCase()}.`];
		default:
			return plan.critical satisfies never;
	}
}

/** ORU^R01 final report: OBR-25 F, OBR-22 report time, OBR-32 reader, OBR-18 accession, OBX TX lines. */
export function buildOru(plan: ReportSubject, reader: Pick<SimRadiologist, 'npi' | 'name'>, reportedAtMs: number): string {
	const off = plan.site.utcOffsetMinutes;
	const t = hl7Time(reportedAtMs, off);
	const [given, ...rest] = reader.name.split(' ');
	const family = rest.join(' ');
	const interpreter = `${reader.npi}&${escapeHl7(family)}&${escapeHl7(given)}`;
	const orc = `ORC|RE|${plan.placerOrder}|${plan.accession}||CM`;
	const obr = [
		'OBR', '1', plan.placerOrder, plan.accession, procedure(plan), '', hl7Time(plan.orderedAt, off), hl7Time(plan.completeAt, off),
		'', '', '', '', '', '', '', '', '', '', plan.accession, '', '', '', t, '', plan.exam.modality, 'F', '', '', '', '', '', '', interpreter
	].join('|');
	const obx = reportText(plan).map((line, i) => `OBX|${i + 1}|TX|${escapeHl7(plan.exam.code)}^${escapeHl7(plan.exam.description)}^L||${escapeHl7(line)}||||||F|||${t}`);
	return [msh(plan, Sender.dictation, 'ORU^R01', 'ORU_R01', controlId(plan, 'ORU'), reportedAtMs), pid(plan), orc, obr, ...obx].join('\r');
}
