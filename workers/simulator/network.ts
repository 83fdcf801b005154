/**
 * The simulated hospital network: sites, devices, radiologists and their shifts,
 * and the exam mix each modality produces. Derived from the arrival model's
 * DEFAULT_NETWORK so the simulator and the forecast share one generating truth.
 *
 * Pure data and pure functions: no I/O, no clock.
 */
import { DEFAULT_NETWORK, defaultSeriesList, type NetworkConfig, type SeriesKey } from '../../src/lib/domain/simulation/arrivals';
import { EXAM_CATALOG } from '../../src/lib/domain/exams/catalog';
import { PatientClass, Priority, Subspecialty, type Modality } from '../../src/lib/domain/study/model';

/** A simulated site: what the arrival model knows plus what devices and HL7 senders call it. */
export interface SimSite {
	id: string;
	name: string;
	utcOffsetMinutes: number;
	/** IANA zone with the same fixed offset (sites table `timezone`). */
	timezone: string;
	/** One letter used in accession numbers and MRNs. */
	letter: string;
	/** HL7 MSH-4 / PID-3 assigning authority. */
	facility: string;
}

/** What a radiologist may read: subspecialties and site privileges. */
export interface SimRadiologist {
	/** Stable key; `name` is the idempotency key in the radiologists table. */
	key: string;
	name: string;
	/** HL7 OBR-32 interpreter id. */
	npi: string;
	subspecialties: Subspecialty[];
	sites: string[];
	/** Reading pace relative to expected minutes (1.0 = as expected). */
	pace: number;
	/** Shift pattern: local start hour and length; weekend coverage or not. */
	shift: { startHour: number; hours: number; weekends: boolean };
}

/** One orderable exam as the RIS names it. */
export interface SimExam {
	/** Radflow exam code (catalog code where one exists). */
	code: string;
	/** RIS / device description, e.g. "CT HEAD WO CONTRAST". */
	description: string;
	examName: string;
	modality: Modality;
	subspecialty: Subspecialty;
	/** DICOM BodyPartExamined defined term. @see PS3.16 CID 4031 */
	bodyPart: string;
	/** Catalog body region (studies.body_region). */
	bodyRegion: string;
	rvu: number;
	expectedReadMinutes: number;
	/** Relative frequency within its modality × subspecialty. */
	weight: number;
	/** Critical finding this exam can carry in the simulation, if any. */
	critical: CriticalKind | null;
}

/** Critical findings with simulated ground truth. */
export const CriticalKind = {
	hemorrhage: 'intracranial_hemorrhage',
	pneumothorax: 'pneumothorax'
} as const;
export type CriticalKind = (typeof CriticalKind)[keyof typeof CriticalKind];

export interface SimNetwork {
	config: NetworkConfig;
	sites: SimSite[];
	radiologists: SimRadiologist[];
	series: SeriesKey[];
	/** Exams per `modality|subspecialty`. */
	exams: Map<string, SimExam[]>;
	/** Priority mix per patient class. */
	priorityMix: Record<PatientClass, Record<Priority, number>>;
	/** Prevalence of each critical finding per patient class. */
	criticalPrevalence: Record<CriticalKind, Record<PatientClass, number>>;
}

export interface NetworkOptions {
	/** Site ids to keep (default all). */
	sites?: readonly string[];
	/** Multiplies every site's daily volume (default 1). */
	rateMultiplier?: number;
	base?: NetworkConfig;
}

export class SimulatorConfigError extends Error {
	readonly code = 'simulator_config_invalid';
	constructor(message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'SimulatorConfigError';
	}
}

const S = Subspecialty;
const catalog = new Map(EXAM_CATALOG.map((e) => [e.examCode, e]));

// [code, RIS description, body part, weight, critical?]; codes outside the catalog carry [rvu, minutes, name, modality, subspecialty].
type ExamRow = [string, string, string, number, CriticalKind | null, ([number, number, string, Modality, Subspecialty] | undefined)?];

const EXAM_ROWS: ExamRow[] = [
	['CT-HEAD-WO', 'CT HEAD WO CONTRAST', 'HEAD', 55, CriticalKind.hemorrhage],
	['CTA-HEAD-NECK', 'CTA HEAD AND NECK W CONTRAST', 'HEADNECK', 12, null],
	['CT-CSPINE-WO', 'CT CERVICAL SPINE WO CONTRAST', 'CSPINE', 14, null],
	['CT-FACE-WO', 'CT MAXILLOFACIAL WO CONTRAST', 'HEAD', 5, null],
	['CT-NECK-W', 'CT SOFT TISSUE NECK W CONTRAST', 'NECK', 6, null],
	['CT-LSPINE-WO', 'CT LUMBAR SPINE WO CONTRAST', 'LSPINE', 8, null],
	['CT-ABDPEL-W', 'CT ABDOMEN PELVIS W CONTRAST', 'ABDOMENPELVIS', 60, null],
	['CT-ABDPEL-WO', 'CT ABDOMEN PELVIS WO CONTRAST', 'ABDOMENPELVIS', 20, null],
	['CTA-ABDPEL', 'CTA ABDOMEN PELVIS W WO CONTRAST', 'ABDOMENPELVIS', 5, null],
	['CT-UROGRAM', 'CT UROGRAM', 'ABDOMENPELVIS', 4, null],
	['CTA-CHEST-PE', 'CTA CHEST PE PROTOCOL', 'CHEST', 40, null],
	['CT-CHEST-W', 'CT CHEST W CONTRAST', 'CHEST', 25, null],
	['CT-CHEST-WO', 'CT CHEST WO CONTRAST', 'CHEST', 20, null],
	['CT-CHEST-LDCT', 'CT CHEST LOW DOSE LUNG SCREENING', 'CHEST', 8, null],
	['CT-EXT-LOWER-WO', 'CT ANKLE WO CONTRAST', 'ANKLE', 5, null],
	['CT-EXT-UPPER-WO', 'CT WRIST WO CONTRAST', 'WRIST', 4, null],
	['CT-PELVIS-BONE-WO', 'CT PELVIS WO CONTRAST', 'PELVIS', 3, null],
	['MR-BRAIN-WO', 'MRI BRAIN WO CONTRAST', 'BRAIN', 40, null],
	['MR-BRAIN-WWO', 'MRI BRAIN W WO CONTRAST', 'BRAIN', 30, null],
	['MR-LSPINE-WO', 'MRI LUMBAR SPINE WO CONTRAST', 'LSPINE', 20, null],
	['MR-CSPINE-WO', 'MRI CERVICAL SPINE WO CONTRAST', 'CSPINE', 12, null],
	['MRA-HEAD', 'MRA HEAD WO CONTRAST', 'HEAD', 6, null],
	['MR-KNEE-WO', 'MRI KNEE WO CONTRAST', 'KNEE', 40, null],
	['MR-SHOULDER-WO', 'MRI SHOULDER WO CONTRAST', 'SHOULDER', 30, null],
	['MR-HIP-WO', 'MRI HIP WO CONTRAST', 'HIP', 10, null],
	['MR-ANKLE-WO', 'MRI ANKLE WO CONTRAST', 'ANKLE', 10, null],
	['MR-ABD-WWO', 'MRI ABDOMEN W WO CONTRAST', 'ABDOMEN', 35, null],
	['MRCP', 'MRCP WO CONTRAST', 'ABDOMEN', 25, null],
	['MR-PROSTATE-WWO', 'MRI PROSTATE W WO CONTRAST', 'PROSTATE', 20, null],
	['MR-PELVIS-WWO', 'MRI PELVIS W WO CONTRAST', 'PELVIS', 15, null],
	['MR-BREAST-BI-WWO', 'MRI BREAST BILATERAL W WO CONTRAST', 'BREAST', 1, null],
	['XR-CHEST-2V', 'CHEST 2 VIEWS', 'CHEST', 55, CriticalKind.pneumothorax],
	['XR-CHEST-1V', 'CHEST 1 VIEW PORTABLE', 'CHEST', 40, CriticalKind.pneumothorax],
	['XR-RIBS', 'RIBS UNILATERAL 3 VIEWS', 'RIB', 5, null],
	['XR-KNEE', 'KNEE 3 VIEWS', 'KNEE', 20, null],
	['XR-ANKLE', 'ANKLE 3 VIEWS', 'ANKLE', 18, null],
	['XR-WRIST', 'WRIST 3 VIEWS', 'WRIST', 15, null],
	['XR-HAND', 'HAND 3 VIEWS', 'HAND', 10, null],
	['XR-SHOULDER', 'SHOULDER 2 VIEWS', 'SHOULDER', 12, null],
	['XR-HIP', 'HIP 2 VIEWS', 'HIP', 12, null],
	['XR-LSPINE', 'LUMBAR SPINE 2 3 VIEWS', 'LSPINE', 10, null],
	['XR-CSPINE', 'CERVICAL SPINE 3 VIEWS', 'CSPINE', 6, null],
	['XR-FOOT', 'FOOT 3 VIEWS', 'FOOT', 10, null],
	['XR-ABD-1V', 'ABDOMEN 1 VIEW KUB', 'ABDOMEN', 60, null],
	['XR-ABD-SERIES', 'ABDOMEN ACUTE SERIES', 'ABDOMEN', 40, null],
	['US-ABD-COMPLETE', 'US ABDOMEN COMPLETE', 'ABDOMEN', 25, null],
	['US-ABD-LTD', 'US ABDOMEN LIMITED RUQ', 'ABDOMEN', 25, null],
	['US-RENAL', 'US RENAL COMPLETE', 'KIDNEY', 15, null],
	['US-PELVIS-TV', 'US PELVIS TRANSVAGINAL', 'PELVIS', 12, null],
	['US-OB-1ST', 'US OB LESS THAN 14 WEEKS', 'PELVIS', 8, null],
	['US-VENOUS-LE-UNI', 'US VENOUS DUPLEX LOWER EXTREMITY UNILATERAL', 'LEG', 18, null],
	['US-THYROID', 'US THYROID', 'NECK', 8, null],
	['US-CAROTID-DUP', 'US CAROTID DUPLEX BILATERAL', 'NECK', 6, null],
	['US-SCROTUM', 'US SCROTUM', 'SCROTUM', 3, null],
	['US-BREAST', 'US BREAST UNILATERAL', 'BREAST', 1, null],
	['US-MSK-SHOULDER', 'US SHOULDER', 'SHOULDER', 1, null, [0.6, 8, 'US Shoulder', 'US', S.msk]],
	['MG-SCREEN-TOMO', 'MAMMO SCREENING BILATERAL W TOMO', 'BREAST', 60, null],
	['MG-SCREEN-BI', 'MAMMO SCREENING BILATERAL', 'BREAST', 15, null],
	['MG-DIAG-BI', 'MAMMO DIAGNOSTIC BILATERAL', 'BREAST', 15, null],
	['MG-DIAG-UNI', 'MAMMO DIAGNOSTIC UNILATERAL', 'BREAST', 10, null],
	['NM-BONE-WB', 'NM BONE SCAN WHOLE BODY', 'WHOLEBODY', 30, null],
	['NM-MPI-SPECT', 'NM MYOCARDIAL PERFUSION SPECT', 'HEART', 40, null],
	['NM-HIDA', 'NM HEPATOBILIARY SCAN', 'ABDOMEN', 15, null],
	['NM-VQ', 'NM LUNG VENTILATION PERFUSION', 'CHEST', 15, null],
	['PT-ONC-SKULL-THIGH', 'PET CT SKULL BASE TO MID THIGH', 'WHOLEBODY', 80, null],
	['PT-BRAIN', 'PET BRAIN FDG', 'BRAIN', 5, null],
	['XA-IR-DRAIN', 'IR DRAINAGE CATHETER PLACEMENT', 'ABDOMEN', 60, null, [3.0, 20, 'IR Drainage catheter placement', 'XA', S.body]],
	['XA-IR-PICC', 'IR PICC LINE PLACEMENT', 'ARM', 40, null, [1.0, 6, 'IR PICC placement', 'XA', S.body]],
	['XA-ANGIO-CEREBRAL', 'ANGIO CEREBRAL 4 VESSEL', 'HEAD', 100, null, [4.0, 30, 'Cerebral angiography', 'XA', S.neuro]],
	['RF-ESOPHAGRAM', 'FL ESOPHAGRAM', 'ESOPHAGUS', 50, null],
	['RF-UGI', 'FL UPPER GI SERIES', 'ABDOMEN', 50, null]
];

function buildExams(): Map<string, SimExam[]> {
	const out = new Map<string, SimExam[]>();
	for (const [code, description, bodyPart, weight, critical, local] of EXAM_ROWS) {
		const c = catalog.get(code);
		if (!c && !local) throw new SimulatorConfigError(`exam ${code} is neither in the catalog nor defined locally`);
		const exam: SimExam = c
			? { code, description, bodyRegion: c.bodyRegion, examName: c.examName, modality: c.modality, subspecialty: c.subspecialty, bodyPart, rvu: c.rvu, expectedReadMinutes: c.expectedReadMinutes, weight, critical }
			: { code, description, bodyPart, bodyRegion: bodyPart.toLowerCase(), weight, critical, rvu: local![0], expectedReadMinutes: local![1], examName: local![2], modality: local![3], subspecialty: local![4] };
		const key = `${exam.modality}|${exam.subspecialty}`;
		const list = out.get(key) ?? [];
		list.push(exam);
		out.set(key, list);
	}
	return out;
}

const RADIOLOGIST_ROWS: [string, Subspecialty[], string[] | 'all', number, number, number, boolean][] = [
	// name, subspecialties, sites, pace, shift start (local), hours, weekends
	['Avery Lindqvist', [S.neuro], 'all', 0.9, 7, 9, false],
	['Jonah Okafor', [S.neuro, S.general], 'all', 1.1, 15, 9, true],
	['Mira Castellanos', [S.neuro], ['north'], 1.0, 8, 9, false],
	['Theo Nakamura', [S.body], 'all', 0.95, 7, 9, false],
	['Priya Raman', [S.body, S.general], ['north', 'south'], 1.05, 8, 9, true],
	['Lena Fischer', [S.body], 'all', 1.2, 15, 9, false],
	['Samuel Adeyemi', [S.body, S.chest, S.general], 'all', 1.0, 23, 9, true],
	['Ines Moreau', [S.chest], 'all', 0.9, 7, 9, false],
	['Karl Johansson', [S.chest, S.general], ['north', 'south'], 1.15, 15, 9, true],
	['Rosa Bianchi', [S.msk], 'all', 0.85, 8, 9, false],
	['Diego Alvarez', [S.msk, S.general], 'all', 1.1, 12, 9, true],
	['Hannah Weiss', [S.breast], ['north', 'east'], 1.0, 7, 9, false],
	['Nadia Haddad', [S.breast, S.body], 'all', 1.0, 8, 9, false],
	['Owen Gallagher', [S.nuclear], 'all', 1.0, 8, 9, false],
	['Yara Petrov', [S.nuclear, S.chest], 'all', 1.1, 12, 9, true],
	['Ezra Kowalski', [S.neuro, S.body, S.chest, S.msk, S.general], 'all', 1.2, 23, 9, true],
	['Chloe Dubois', [S.neuro, S.chest, S.msk, S.general], 'all', 1.0, 22, 10, true],
	['Marcus Lee', [S.body, S.msk, S.general], 'all', 1.05, 7, 10, true]
];

/** Fixed-offset IANA zone for a whole-hour offset (Etc/GMT signs are inverted). */
function zoneFor(offsetMinutes: number): string {
	if (offsetMinutes % 60 !== 0) return 'UTC';
	const h = -offsetMinutes / 60;
	return h === 0 ? 'UTC' : `Etc/GMT${h > 0 ? '+' : '-'}${Math.abs(h)}`;
}

/**
 * Build the simulated network from the arrival model.
 * @throws SimulatorConfigError when `sites` names an unknown site or the multiplier is not positive.
 */
export function buildNetwork(options: NetworkOptions = {}): SimNetwork {
	const base = options.base ?? DEFAULT_NETWORK;
	const mult = options.rateMultiplier ?? 1;
	if (!(mult > 0) || !Number.isFinite(mult)) throw new SimulatorConfigError(`--rate-multiplier must be a positive number (got ${mult})`);
	const known = new Set(base.sites.map((s) => s.id));
	for (const id of options.sites ?? []) {
		if (!known.has(id)) throw new SimulatorConfigError(`unknown site "${id}": choose from ${[...known].join(', ')}`);
	}
	const keep = options.sites && options.sites.length > 0 ? new Set(options.sites) : known;
	const config: NetworkConfig = {
		...base,
		sites: base.sites
			.filter((s) => keep.has(s.id))
			.map((s) => ({
				...s,
				dailyVolume: { E: s.dailyVolume.E * mult, I: s.dailyVolume.I * mult, O: s.dailyVolume.O * mult }
			}))
	};
	const used = new Set<string>();
	const sites: SimSite[] = config.sites.map((s) => {
		let letter = s.id[0].toUpperCase();
		for (let i = 0; used.has(letter) && i < 26; i++) letter = String.fromCharCode(65 + i);
		used.add(letter);
		return { id: s.id, name: s.name, utcOffsetMinutes: s.utcOffsetMinutes, timezone: zoneFor(s.utcOffsetMinutes), letter, facility: s.id.toUpperCase() };
	});
	const siteIds = sites.map((s) => s.id);
	const radiologists: SimRadiologist[] = RADIOLOGIST_ROWS.map(([name, subs, rsites, pace, startHour, hours, weekends], i) => ({
		key: `r${i + 1}`,
		name,
		npi: String(1_000_000_000 + (i + 1) * 7919),
		subspecialties: subs,
		sites: rsites === 'all' ? siteIds : rsites.filter((s) => siteIds.includes(s)),
		pace,
		shift: { startHour, hours, weekends }
	})).filter((r) => r.sites.length > 0);
	const exams = buildExams();
	const series = defaultSeriesList(config).filter((k) => {
		if (exams.has(`${k.modality}|${k.subspecialty}`)) return true;
		throw new SimulatorConfigError(`no simulated exam for ${k.modality} read by ${k.subspecialty}`);
	});
	return {
		config,
		sites,
		radiologists,
		series,
		exams,
		priorityMix: {
			E: { stat: 0.6, asap: 0.3, routine: 0.1 },
			I: { stat: 0.12, asap: 0.38, routine: 0.5 },
			O: { stat: 0, asap: 0.04, routine: 0.96 }
		},
		criticalPrevalence: {
			[CriticalKind.hemorrhage]: { E: 0.035, I: 0.02, O: 0.004 },
			[CriticalKind.pneumothorax]: { E: 0.02, I: 0.015, O: 0.002 }
		}
	};
}

/** A shift in absolute time for one radiologist. */
export interface SimShift {
	radiologist: SimRadiologist;
	site: string | null;
	startsAt: number;
	endsAt: number;
}

/**
 * Shifts of every radiologist overlapping [fromMs, toMs), from their weekly pattern
 * in the first site's local time. Site is null: a shift covers all privileged sites.
 */
export function shiftsBetween(net: SimNetwork, fromMs: number, toMs: number): SimShift[] {
	const offset = (net.sites[0]?.utcOffsetMinutes ?? 0) * 60_000;
	const DAY = 86_400_000;
	const out: SimShift[] = [];
	const firstDay = Math.floor((fromMs + offset) / DAY) - 1;
	const lastDay = Math.floor((toMs + offset) / DAY);
	for (const r of net.radiologists) {
		for (let d = firstDay; d <= lastDay; d++) {
			const weekday = (new Date(d * DAY).getUTCDay() + 6) % 7; // Monday = 0
			if (weekday >= 5 && !r.shift.weekends) continue;
			const startsAt = d * DAY - offset + r.shift.startHour * 3_600_000;
			const endsAt = startsAt + r.shift.hours * 3_600_000;
			if (endsAt <= fromMs || startsAt >= toMs) continue;
			out.push({ radiologist: r, site: null, startsAt, endsAt });
		}
	}
	return out.sort((a, b) => a.startsAt - b.startsAt || a.radiologist.key.localeCompare(b.radiologist.key));
}

const onShiftCache = new WeakMap<SimNetwork, Map<number, Set<string>>>();

/** Keys of radiologists on shift at `atMs`; constant within a clock hour (shifts start on the hour). */
function onShiftAt(net: SimNetwork, atMs: number): Set<string> {
	const hour = Math.floor(atMs / 3_600_000);
	let cache = onShiftCache.get(net);
	if (!cache) onShiftCache.set(net, (cache = new Map()));
	let set = cache.get(hour);
	if (!set) {
		if (cache.size > 4096) cache.clear();
		set = new Set(shiftsBetween(net, hour * 3_600_000, hour * 3_600_000 + 1).map((s) => s.radiologist.key));
		cache.set(hour, set);
	}
	return set;
}

/** Radiologists on shift at `atMs` who may read this subspecialty at this site. */
export function eligibleReaders(net: SimNetwork, subspecialty: string, site: string, atMs: number, anyTime = false): SimRadiologist[] {
	const onShift = anyTime ? null : onShiftAt(net, atMs);
	const fits = (r: SimRadiologist) => r.sites.includes(site) && (!onShift || onShift.has(r.key));
	const exact = net.radiologists.filter((r) => fits(r) && r.subspecialties.includes(subspecialty as Subspecialty));
	if (exact.length > 0) return exact;
	return net.radiologists.filter((r) => fits(r) && r.subspecialties.includes(S.general));
}

/** Every calling AE title the simulated modalities use (MODALITY_FACILITY), for the SCP's allow-list. */
export function callingAeTitles(net: SimNetwork): string[] {
	const titles = new Set<string>();
	for (const list of net.exams.values()) {
		for (const exam of list) for (const site of net.sites) titles.add(`${exam.modality}_${site.facility}`.slice(0, 16));
	}
	return [...titles].sort();
}
