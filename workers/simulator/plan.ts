/**
 * Deterministic study plans: which exams arrive in a simulated hour and what
 * happens to each one (order, images, report), with the ground truth.
 *
 * Every study is drawn from its own stream seeded by (seed, series, hour,
 * index), so the backfill and the live path produce the same study for the
 * same hour, and a study never changes when another one does.
 * Pure: no I/O, no clock.
 */
import { sampleHourlyCounts, seriesKeyId, type SeriesKey } from '../../src/lib/domain/simulation/arrivals';
import { createRng, seedFrom, type Rng } from '../../src/lib/domain/simulation/random';
import { PatientClass, Priority } from '../../src/lib/domain/study/model';
import { eligibleReaders, type CriticalKind, type SimExam, type SimNetwork, type SimRadiologist, type SimSite } from './network';

const MIN = 60_000;
export const HOUR = 3_600_000;

/** One series of images the modality will send. */
export interface SeriesPlan {
	number: number;
	description: string;
	instances: number;
	/** Which series carries the finding (the one a triage model reads). */
	primary: boolean;
}

/** Everything the simulator will say about one study, with the ground truth. */
export interface StudyPlan {
	/** Stable id of the study inside the simulation (seed, series, hour, index). */
	key: string;
	seed: string;
	site: SimSite;
	series: SeriesKey;
	exam: SimExam;
	patientClass: PatientClass;
	priority: Priority;
	accession: string;
	placerOrder: string;
	mrn: string;
	visitNumber: string;
	/** Where the patient is (PV1-3 point of care^room^bed^facility). */
	location: string;
	reason: string;
	orderedAt: number;
	/** ADT precedes the order by a few minutes. */
	registeredAt: number;
	firstImageAt: number;
	completeAt: number;
	/** When a reader would finish if nobody else assigns it (self-assign fallback and backfill). */
	reportedAt: number;
	studyUid: string;
	seriesPlan: SeriesPlan[];
	stationName: string;
	callingAe: string;
	critical: CriticalKind | null;
	/** Seed for pixel phantoms. */
	pixelSeed: number;
}

function pick<T extends { weight: number }>(rng: Rng, items: readonly T[]): T {
	return rng.weighted(items, items.map((i) => i.weight));
}

/** Log-normal minutes with the given median and spread (σ of the log). */
function lognormal(rng: Rng, median: number, sigma: number): number {
	return median * Math.exp(rng.normal(0, sigma));
}

/** A UID under the 2.25 (UUID-derived) root from a string: deterministic, ≤ 64 chars. */
export function simUid(value: string): string {
	// Four 32-bit FNV hashes of salted inputs → a 128-bit decimal number.
	let n = 0n;
	for (let i = 0; i < 4; i++) n = (n << 32n) | BigInt(seedFrom(`${i}:${value}`));
	return `2.25.${n}`;
}

const REASONS: Record<string, string[]> = {
	HEAD: ['HEADACHE', 'FALL ON ANTICOAGULANTS', 'ALTERED MENTAL STATUS', 'SYNCOPE', 'STROKE SYMPTOMS'],
	CHEST: ['SHORTNESS OF BREATH', 'CHEST PAIN', 'COUGH', 'LINE PLACEMENT', 'TRAUMA'],
	ABDOMENPELVIS: ['ABDOMINAL PAIN', 'RLQ PAIN', 'FEVER', 'NAUSEA VOMITING'],
	default: ['PAIN', 'FOLLOW UP', 'TRAUMA', 'SCREENING', 'EVALUATE']
};

function seriesPlanFor(rng: Rng, exam: SimExam): SeriesPlan[] {
	switch (exam.modality) {
		case 'CT': {
			const out: SeriesPlan[] = [
				{ number: 1, description: 'SCOUT', instances: 1, primary: false },
				{ number: 2, description: `AXIAL ${exam.bodyPart === 'HEAD' ? '5MM BRAIN' : '3MM SOFT TISSUE'}`, instances: rng.int(4, 6), primary: true }
			];
			if (rng.next() < 0.7) out.push({ number: 3, description: exam.bodyPart === 'HEAD' ? 'AXIAL 1MM BONE' : 'CORONAL MPR', instances: rng.int(2, 4), primary: false });
			return out;
		}
		case 'MR': {
			const names = ['LOC', 'AX T2', 'AX FLAIR', 'SAG T1', 'AX DWI', 'COR T2 FS', 'AX T1 POST'];
			const n = rng.int(3, 5);
			return names.slice(0, n).map((d, i) => ({ number: i + 1, description: d, instances: i === 0 ? 1 : rng.int(2, 4), primary: i === 1 }));
		}
		case 'DX':
		case 'CR': {
			const views = /(\d) VIEW/.exec(exam.description)?.[1];
			const n = views ? Number(views) : 1;
			return Array.from({ length: n }, (_, i) => ({ number: i + 1, description: ['PA', 'LATERAL', 'OBLIQUE'][i] ?? `VIEW ${i + 1}`, instances: 1, primary: i === 0 }));
		}
		case 'MG':
			return ['R CC', 'L CC', 'R MLO', 'L MLO'].map((d, i) => ({ number: i + 1, description: d, instances: 1, primary: i === 0 }));
		case 'US':
			return [{ number: 1, description: 'US IMAGES', instances: rng.int(3, 6), primary: true }];
		default:
			return [
				{ number: 1, description: `${exam.modality} IMAGES`, instances: rng.int(2, 4), primary: true },
				{ number: 2, description: 'SUMMARY', instances: 1, primary: false }
			];
	}
}

/** Acquisition minutes from first to last image. */
function acquisitionMinutes(rng: Rng, modality: string): number {
	switch (modality) {
		case 'CT':
			return rng.uniform(3, 10);
		case 'MR':
			return rng.uniform(20, 45);
		case 'US':
			return rng.uniform(10, 25);
		case 'NM':
		case 'PT':
			return rng.uniform(20, 40);
		case 'XA':
		case 'RF':
			return rng.uniform(15, 60);
		default:
			return rng.uniform(1, 5);
	}
}

/** Order → first image, by class and priority (scheduling, transport, prep). */
function orderToImageMinutes(rng: Rng, cls: PatientClass, priority: Priority): number {
	if (priority === Priority.stat) return lognormal(rng, cls === PatientClass.emergency ? 14 : 25, 0.4);
	if (priority === Priority.asap) return lognormal(rng, 45, 0.5);
	return cls === PatientClass.outpatient ? lognormal(rng, 20, 0.4) : lognormal(rng, 120, 0.6);
}

/** Complete → report when nobody routes: queue wait + reading. */
function reportDelayMinutes(rng: Rng, priority: Priority, readMinutes: number): number {
	const wait = priority === Priority.stat ? lognormal(rng, 12, 0.5) : priority === Priority.asap ? lognormal(rng, 50, 0.6) : lognormal(rng, 240, 0.8);
	return wait + readMinutes * rng.uniform(0.8, 1.4);
}

const CLASS_LOCATIONS: Record<PatientClass, (rng: Rng, site: SimSite) => string> = {
	E: (rng, s) => `ED^BAY${rng.int(1, 30)}^1^${s.facility}`,
	I: (rng, s) => `${rng.int(2, 9)}W^${rng.int(200, 999)}^${rng.choice(['A', 'B'])}^${s.facility}`,
	O: (_rng, s) => `OPIMG^^^${s.facility}`
};

/**
 * Plan the `index`-th study of `series` in the hour starting at `hourStart`.
 * Deterministic in (seed, series, hourStart, index).
 */
export function planStudy(net: SimNetwork, seed: string | number, series: SeriesKey, hourStart: number, index: number): StudyPlan {
	const sid = seriesKeyId(series);
	const key = `${seed}|${sid}|${hourStart}|${index}`;
	const rng = createRng(seedFrom(key));
	const site = net.sites.find((s) => s.id === series.site)!;
	const cls = series.patientClass;
	const exam = pick(rng, net.exams.get(`${series.modality}|${series.subspecialty}`)!);
	const mix = net.priorityMix[cls];
	const priority = rng.weighted([Priority.stat, Priority.asap, Priority.routine], [mix.stat, mix.asap, mix.routine]);
	const critical = exam.critical && rng.next() < net.criticalPrevalence[exam.critical][cls] ? exam.critical : null;
	const orderedAt = hourStart + Math.floor(rng.next() * HOUR);
	const registeredAt = orderedAt - Math.round(rng.uniform(1, 20) * MIN);
	const firstImageAt = orderedAt + Math.round(orderToImageMinutes(rng, cls, priority) * MIN);
	const completeAt = firstImageAt + Math.round(acquisitionMinutes(rng, exam.modality) * MIN);
	const reportedAt = completeAt + Math.round(reportDelayMinutes(rng, critical ? Priority.stat : priority, exam.expectedReadMinutes) * MIN);
	// Accession: site letter + hour index + series index + study index + seed tag (≤ 16 chars, SH).
	const hourIdx = Math.floor(hourStart / HOUR).toString(36).toUpperCase().padStart(5, '0');
	const seriesIdx = net.series.indexOf(series);
	const tag = (seedFrom(String(seed)) % 1296).toString(36).toUpperCase().padStart(2, '0');
	const accession = `${site.letter}${hourIdx}${(seriesIdx < 0 ? 0 : seriesIdx).toString(36).toUpperCase().padStart(2, '0')}${index.toString(36).toUpperCase().padStart(2, '0')}${tag}`;
	const mrn = `${site.letter}${String(rng.int(1, 600_000)).padStart(7, '0')}`;
	const reasons = REASONS[exam.bodyPart] ?? REASONS.default;
	const station = `${site.facility}_${exam.modality}${rng.int(1, 3)}`;
	return {
		key,
		seed: String(seed),
		site,
		series,
		exam,
		patientClass: cls,
		priority,
		accession,
		placerOrder: `P${accession}`,
		mrn,
		visitNumber: `V${accession}`,
		location: CLASS_LOCATIONS[cls](rng, site),
		reason: rng.choice(reasons),
		orderedAt,
		registeredAt,
		firstImageAt,
		completeAt,
		reportedAt,
		studyUid: simUid(`study|${key}`),
		seriesPlan: seriesPlanFor(rng, exam),
		stationName: station.slice(0, 16),
		callingAe: `${exam.modality}_${site.facility}`.slice(0, 16),
		critical,
		pixelSeed: rng.int(1, 2 ** 31 - 1)
	};
}

/** Arrival counts per series for one hour: a Poisson draw seeded by (seed, hour). */
export function arrivalsForHour(net: SimNetwork, seed: string | number, hourStart: number): { series: SeriesKey; count: number }[] {
	return sampleHourlyCounts(`${seed}|h${hourStart}`, net.series, hourStart, 1, net.config).map((s) => ({ series: s.series, count: s.counts[0] }));
}

/** Every study ordered in the hour starting at `hourStart`, in order time. */
export function studiesForHour(net: SimNetwork, seed: string | number, hourStart: number): StudyPlan[] {
	const out: StudyPlan[] = [];
	for (const { series, count } of arrivalsForHour(net, seed, hourStart)) {
		for (let i = 0; i < count; i++) out.push(planStudy(net, seed, series, hourStart, i));
	}
	return out.sort((a, b) => a.orderedAt - b.orderedAt || a.accession.localeCompare(b.accession));
}

/** Which radiologist reads a study in the self-assign fallback and the backfill (on shift when one is). */
export function readerFor(net: SimNetwork, plan: StudyPlan, atMs: number): { radiologist: SimRadiologist; onShift: boolean } {
	const rng = createRng(seedFrom(`reader|${plan.key}`));
	const onShift = eligibleReaders(net, plan.series.subspecialty, plan.site.id, atMs);
	if (onShift.length > 0) return { radiologist: rng.choice(onShift), onShift: true };
	const any = eligibleReaders(net, plan.series.subspecialty, plan.site.id, atMs, true);
	return { radiologist: rng.choice(any.length > 0 ? any : net.radiologists), onShift: false };
}
