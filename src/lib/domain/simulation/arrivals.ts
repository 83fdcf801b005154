/**
 * Generating-rate model for exam arrivals in a hospital imaging network.
 *
 * The expected number of exams per hour is a product of a site's daily volume
 * per patient class, a modality mix, a subspecialty mix, an hour-of-day /
 * day-of-week profile per patient class, holidays and a slow growth trend:
 *
 * - emergency (E): around the clock, low before dawn, busiest in the
 *   afternoon and evening; slightly busier on Mondays and weekends;
 * - inpatient (I): a morning peak after rounds, quieter weekends;
 * - outpatient (O): office hours Monday–Friday with a lunch dip, a short
 *   Saturday morning, almost nothing on Sundays and holidays.
 *
 * Arrivals within an hour are Poisson with that mean. The simulator and the
 * forecast benchmark share this model, so forecasts can be scored against the
 * known truth.
 */
import {
	HOUR_MS,
	localDateKey,
	localHour,
	localWeekday,
	usImagingHolidaysBetween
} from '../forecast/calendar';
import { PatientClass, Subspecialty, type Modality } from '../study/model';
import { createRng, seedFrom } from './random';

/** One forecastable arrival stream. @see ARCHITECTURE.md "Forecasting" */
export interface SeriesKey {
	site: string;
	subspecialty: Subspecialty;
	modality: Modality;
	patientClass: PatientClass;
}

/** Stable text id of a series, e.g. `north|body|CT|E`. */
export function seriesKeyId(key: SeriesKey): string {
	return `${key.site}|${key.subspecialty}|${key.modality}|${key.patientClass}`;
}

export interface SiteConfig {
	id: string;
	name: string;
	/** Fixed offset of local time from UTC (no daylight saving). */
	utcOffsetMinutes: number;
	/** Expected exams on an ordinary weekday, per patient class. */
	dailyVolume: Record<PatientClass, number>;
}

export interface NetworkConfig {
	sites: readonly SiteConfig[];
	/** Share of each patient class's exams per modality (sums to 1 per class). */
	modalityMix: Record<PatientClass, Partial<Record<string, number>>>;
	/** Share of each modality's exams per reading subspecialty (sums to 1 per modality). */
	subspecialtyMix: Partial<Record<string, Partial<Record<Subspecialty, number>>>>;
	/** Modalities staffed only in daytime (07–19 local; weekends at 20%). */
	daytimeModalities: readonly string[];
	/** Local dates (`YYYY-MM-DD`) on which outpatient imaging closes. */
	holidays: readonly string[];
	/** Multiplier per patient class on holidays. */
	holidayFactor: Record<PatientClass, number>;
	/** Relative volume growth per year (0.03 = 3 %). */
	annualGrowth: number;
	/** Instant at which the growth factor is 1. */
	growthEpochMs: number;
}

/**
 * A three-site network: an academic trauma centre, a community hospital and
 * an outpatient imaging centre, about 2,400 exams a weekday in all.
 */
export const DEFAULT_NETWORK: NetworkConfig = {
	sites: [
		{
			id: 'north',
			name: 'North Academic Medical Center',
			utcOffsetMinutes: -300,
			dailyVolume: { E: 420, I: 330, O: 650 }
		},
		{
			id: 'south',
			name: 'South Community Hospital',
			utcOffsetMinutes: -300,
			dailyVolume: { E: 220, I: 130, O: 300 }
		},
		{
			id: 'east',
			name: 'East Outpatient Imaging',
			utcOffsetMinutes: -300,
			dailyVolume: { E: 0, I: 0, O: 380 }
		}
	],
	modalityMix: {
		E: { CT: 0.36, DX: 0.4, US: 0.14, MR: 0.07, NM: 0.01, XA: 0.02 },
		I: { DX: 0.4, CT: 0.25, US: 0.13, MR: 0.1, NM: 0.04, XA: 0.05, RF: 0.03 },
		O: { DX: 0.28, MR: 0.18, CT: 0.17, US: 0.17, MG: 0.14, NM: 0.03, PT: 0.02, RF: 0.01 }
	},
	subspecialtyMix: {
		CT: { neuro: 0.35, body: 0.4, chest: 0.2, msk: 0.05 },
		MR: { neuro: 0.45, msk: 0.3, body: 0.2, breast: 0.05 },
		DX: { chest: 0.55, msk: 0.4, body: 0.05 },
		CR: { chest: 0.6, msk: 0.4 },
		US: { body: 0.85, msk: 0.05, breast: 0.1 },
		MG: { breast: 1 },
		NM: { nuclear: 1 },
		PT: { nuclear: 1 },
		XA: { body: 0.6, neuro: 0.4 },
		RF: { body: 1 }
	},
	daytimeModalities: ['NM', 'PT', 'MG'],
	holidays: usImagingHolidaysBetween(2020, 2035),
	holidayFactor: { E: 1, I: 0.85, O: 0.1 },
	annualGrowth: 0.03,
	growthEpochMs: Date.UTC(2025, 0, 1)
};

// Hour-of-day shapes (local hours 0–23), normalized below so a weekday sums to 24.
const EMERGENCY_SHAPE = [
	0.55, 0.45, 0.38, 0.33, 0.3, 0.3, 0.35, 0.5, 0.75, 0.95, 1.1, 1.2, 1.25, 1.28, 1.3, 1.32, 1.35,
	1.38, 1.4, 1.38, 1.3, 1.15, 0.95, 0.72
];
const INPATIENT_SHAPE = [
	0.25, 0.2, 0.2, 0.2, 0.35, 0.9, 1.6, 1.9, 2.0, 1.8, 1.6, 1.4, 1.2, 1.1, 1.0, 0.9, 0.8, 0.7, 0.6,
	0.5, 0.45, 0.4, 0.35, 0.3
];
const OUTPATIENT_SHAPE = [
	0, 0, 0, 0, 0, 0, 0.05, 0.6, 1.8, 2.4, 2.5, 2.2, 1.6, 2.0, 2.4, 2.3, 2.0, 1.4, 0.7, 0.35, 0.15,
	0.05, 0, 0
];
const SATURDAY_OUTPATIENT_SHAPE = [
	0, 0, 0, 0, 0, 0, 0, 0.3, 1.2, 1.5, 1.5, 1.3, 0.8, 0.3, 0.1, 0, 0, 0, 0, 0, 0, 0, 0, 0
];

function normalize(shape: readonly number[]): number[] {
	const sum = shape.reduce((a, b) => a + b, 0);
	return shape.map((v) => (v * 24) / sum);
}
const EMERGENCY = normalize(EMERGENCY_SHAPE);
const INPATIENT = normalize(INPATIENT_SHAPE);
const OUTPATIENT = normalize(OUTPATIENT_SHAPE);
// Saturday keeps its own scale: about 30 % of a weekday's outpatient volume.
const SATURDAY_OUTPATIENT = SATURDAY_OUTPATIENT_SHAPE.map(
	(v) => (v * 24 * 0.3) / SATURDAY_OUTPATIENT_SHAPE.reduce((a, b) => a + b, 0)
);

/** Day-of-week multipliers, Monday first. */
const EMERGENCY_DOW = [1.08, 1.0, 0.98, 0.98, 1.0, 1.05, 1.04];
const INPATIENT_DOW = [1.05, 1.02, 1.0, 1.0, 0.97, 0.7, 0.65];
const OUTPATIENT_DOW = [1.05, 1.0, 1.0, 1.0, 0.9, 1, 0.04];

/**
 * Relative arrival intensity of a patient class at a local weekday and hour,
 * scaled so that an ordinary weekday sums to about 24 (i.e. ×daily/24 gives
 * exams per hour). `holiday` applies the network's holiday factor.
 */
export function classProfile(
	patientClass: PatientClass,
	weekday: number,
	hour: number,
	holiday: boolean,
	config: NetworkConfig = DEFAULT_NETWORK
): number {
	let v: number;
	switch (patientClass) {
		case PatientClass.emergency:
			v = EMERGENCY[hour] * EMERGENCY_DOW[weekday];
			break;
		case PatientClass.inpatient:
			v = INPATIENT[hour] * INPATIENT_DOW[weekday];
			break;
		case PatientClass.outpatient:
			v = weekday === 5 ? SATURDAY_OUTPATIENT[hour] : OUTPATIENT[hour] * OUTPATIENT_DOW[weekday];
			break;
		default:
			return patientClass satisfies never;
	}
	return holiday ? v * config.holidayFactor[patientClass] : v;
}

const holidaySets = new WeakMap<readonly string[], Set<string>>();
function holidaySet(config: NetworkConfig): Set<string> {
	let set = holidaySets.get(config.holidays);
	if (!set) {
		set = new Set(config.holidays);
		holidaySets.set(config.holidays, set);
	}
	return set;
}

/** Expected weekday exams of one series (before hour profiles and growth). */
export function seriesDailyVolume(series: SeriesKey, config: NetworkConfig = DEFAULT_NETWORK): number {
	const site = config.sites.find((s) => s.id === series.site);
	if (!site) return 0;
	const classVolume = site.dailyVolume[series.patientClass] ?? 0;
	const modShare = config.modalityMix[series.patientClass][series.modality] ?? 0;
	const subShare = config.subspecialtyMix[series.modality]?.[series.subspecialty] ?? 0;
	return classVolume * modShare * subShare;
}

/**
 * Expected exam arrivals of `series` in the hour starting at `hourStartUtcMs`
 * (the generating rate λ of a Poisson count). Unknown series have rate 0.
 */
export function expectedRate(
	series: SeriesKey,
	hourStartUtcMs: number,
	config: NetworkConfig = DEFAULT_NETWORK
): number {
	const daily = seriesDailyVolume(series, config);
	if (daily === 0) return 0;
	const site = config.sites.find((s) => s.id === series.site)!;
	const offset = site.utcOffsetMinutes;
	// Centre of the hour, so a fractional offset never lands on a boundary.
	const mid = hourStartUtcMs + HOUR_MS / 2;
	const hour = localHour(mid, offset);
	const weekday = localWeekday(mid, offset);
	const holiday = holidaySet(config).has(localDateKey(mid, offset));
	let profile = classProfile(series.patientClass, weekday, hour, holiday, config);
	if (config.daytimeModalities.includes(series.modality)) {
		// Daytime-only services: closed at night; the day's volume moves into the open hours.
		profile = hour >= 7 && hour < 19 ? profile * 1.6 : 0;
		if (weekday >= 5) profile *= 0.2;
	}
	const years = (hourStartUtcMs - config.growthEpochMs) / (365.25 * 24 * HOUR_MS);
	const growth = Math.pow(1 + config.annualGrowth, years);
	return (daily / 24) * profile * growth;
}

/** Expected rates for `hours` consecutive hours starting at `startMs` (an hour boundary). */
export function expectedRates(
	series: SeriesKey,
	startMs: number,
	hours: number,
	config: NetworkConfig = DEFAULT_NETWORK
): Float64Array {
	const out = new Float64Array(hours);
	for (let h = 0; h < hours; h++) out[h] = expectedRate(series, startMs + h * HOUR_MS, config);
	return out;
}

/** Every series of the network with a non-zero rate, largest daily volume first. */
export function defaultSeriesList(config: NetworkConfig = DEFAULT_NETWORK): SeriesKey[] {
	const out: { key: SeriesKey; daily: number }[] = [];
	for (const site of config.sites) {
		for (const patientClass of Object.values(PatientClass)) {
			for (const modality of Object.keys(config.modalityMix[patientClass])) {
				for (const subspecialty of Object.values(Subspecialty)) {
					const key: SeriesKey = { site: site.id, subspecialty, modality, patientClass };
					const daily = seriesDailyVolume(key, config);
					if (daily > 0) out.push({ key, daily });
				}
			}
		}
	}
	return out.sort((a, b) => b.daily - a.daily).map((o) => o.key);
}

export interface SampledSeries {
	series: SeriesKey;
	/** The generating rates λ per hour. */
	rates: Float64Array;
	/** Poisson draws with those rates. */
	counts: number[];
}

/**
 * Simulated hourly counts for each series. Each series draws from its own
 * stream seeded by (seed, series id), so adding or removing a series never
 * changes the others' counts.
 */
export function sampleHourlyCounts(
	seed: number | string,
	seriesList: readonly SeriesKey[],
	startMs: number,
	hours: number,
	config: NetworkConfig = DEFAULT_NETWORK
): SampledSeries[] {
	return seriesList.map((series) => {
		const rng = createRng(seedFrom(`${seed}|${seriesKeyId(series)}`));
		const rates = expectedRates(series, startMs, hours, config);
		const counts = Array.from(rates, (r) => rng.poisson(r));
		return { series, rates, counts };
	});
}
