import { describe, expect, it } from 'vitest';
import { HOUR_MS } from '../forecast/calendar';
import {
	DEFAULT_NETWORK,
	defaultSeriesList,
	expectedRate,
	expectedRates,
	sampleHourlyCounts,
	seriesDailyVolume,
	seriesKeyId,
	type SeriesKey
} from './arrivals';

// Sites in the default network are at UTC−5; local midnight is 05:00 UTC.
const localMs = (date: string, hour: number) => Date.parse(`${date}T00:00:00Z`) + (hour + 5) * HOUR_MS;
const MONDAY = '2025-03-10';
const SATURDAY = '2025-03-15';
const SUNDAY = '2025-03-16';

const edCt: SeriesKey = { site: 'north', subspecialty: 'neuro', modality: 'CT', patientClass: 'E' };
const opMr: SeriesKey = { site: 'north', subspecialty: 'msk', modality: 'MR', patientClass: 'O' };
const ipDx: SeriesKey = { site: 'north', subspecialty: 'chest', modality: 'DX', patientClass: 'I' };

function dayTotal(series: SeriesKey, date: string): number {
	let s = 0;
	for (let h = 0; h < 24; h++) s += expectedRate(series, localMs(date, h));
	return s;
}

describe('expectedRate', () => {
	it('keeps emergency imaging going all night, busiest in the afternoon and evening', () => {
		const night = expectedRate(edCt, localMs(MONDAY, 4));
		const evening = expectedRate(edCt, localMs(MONDAY, 18));
		expect(night).toBeGreaterThan(0);
		expect(evening).toBeGreaterThan(3 * night);
		const peakHour = [...Array(24).keys()].reduce((best, h) =>
			expectedRate(edCt, localMs(MONDAY, h)) > expectedRate(edCt, localMs(MONDAY, best)) ? h : best
		);
		expect(peakHour).toBeGreaterThanOrEqual(14);
		expect(peakHour).toBeLessThanOrEqual(21);
	});

	it('puts outpatient volume in weekday office hours, little on Saturday, almost none on Sunday', () => {
		expect(expectedRate(opMr, localMs(MONDAY, 2))).toBe(0);
		expect(expectedRate(opMr, localMs(MONDAY, 10))).toBeGreaterThan(0);
		const weekday = dayTotal(opMr, MONDAY);
		expect(dayTotal(opMr, SATURDAY)).toBeLessThan(0.5 * weekday);
		expect(dayTotal(opMr, SUNDAY)).toBeLessThan(0.1 * weekday);
		expect(expectedRate(opMr, localMs(SATURDAY, 16))).toBe(0);
	});

	it('peaks inpatient imaging in the morning', () => {
		expect(expectedRate(ipDx, localMs(MONDAY, 8))).toBeGreaterThan(2 * expectedRate(ipDx, localMs(MONDAY, 15)));
		expect(dayTotal(ipDx, SUNDAY)).toBeLessThan(dayTotal(ipDx, MONDAY));
	});

	it('sums an ordinary weekday to about the configured daily volume', () => {
		for (const s of [edCt, opMr, ipDx]) {
			const daily = seriesDailyVolume(s);
			// Monday multipliers and growth stay within ~10 %.
			expect(dayTotal(s, '2025-03-12') / daily).toBeGreaterThan(0.9);
			expect(dayTotal(s, '2025-03-12') / daily).toBeLessThan(1.1);
		}
	});

	it('lowers outpatient volume on holidays (Labor Day) but not emergency volume', () => {
		const laborDay = '2025-09-01';
		const mondayBefore = '2025-08-25';
		expect(dayTotal(opMr, laborDay)).toBeLessThan(0.2 * dayTotal(opMr, mondayBefore));
		expect(dayTotal(edCt, laborDay) / dayTotal(edCt, mondayBefore)).toBeCloseTo(1, 2);
	});

	it('keeps daytime-only modalities closed at night', () => {
		const nm: SeriesKey = { site: 'north', subspecialty: 'nuclear', modality: 'NM', patientClass: 'E' };
		expect(expectedRate(nm, localMs(MONDAY, 2))).toBe(0);
		expect(expectedRate(nm, localMs(MONDAY, 11))).toBeGreaterThan(0);
	});

	it('grows slowly year over year and returns 0 for unknown series', () => {
		const a = dayTotal(edCt, '2025-03-12');
		const b = dayTotal(edCt, '2026-03-11');
		expect(b / a).toBeCloseTo(1 + DEFAULT_NETWORK.annualGrowth, 2);
		expect(expectedRate({ ...edCt, site: 'nowhere' }, localMs(MONDAY, 10))).toBe(0);
		expect(expectedRate({ ...edCt, modality: 'MG' }, localMs(MONDAY, 10))).toBe(0);
	});
});

describe('defaultSeriesList', () => {
	it('lists every stream with volume, largest first, without the outpatient-only site in the ED', () => {
		const list = defaultSeriesList();
		expect(list.length).toBeGreaterThan(50);
		expect(new Set(list.map(seriesKeyId)).size).toBe(list.length);
		const vols = list.map((s) => seriesDailyVolume(s));
		expect(vols.every((v) => v > 0)).toBe(true);
		expect([...vols].sort((a, b) => b - a)).toEqual(vols);
		expect(list.some((s) => s.site === 'east' && s.patientClass === 'E')).toBe(false);
		const total = vols.reduce((a, b) => a + b, 0);
		const configured = DEFAULT_NETWORK.sites.reduce((a, s) => a + s.dailyVolume.E + s.dailyVolume.I + s.dailyVolume.O, 0);
		expect(total).toBeCloseTo(configured, 6);
	});
});

describe('sampleHourlyCounts', () => {
	const start = localMs(MONDAY, 0);
	it('is deterministic per seed and independent of the other series in the list', () => {
		const a = sampleHourlyCounts(1, [edCt, opMr], start, 168);
		const b = sampleHourlyCounts(1, [opMr], start, 168);
		const c = sampleHourlyCounts(2, [edCt], start, 168);
		expect(a[1].counts).toEqual(b[0].counts);
		expect(a[0].counts).not.toEqual(c[0].counts);
		expect(Array.from(a[0].rates)).toEqual(Array.from(expectedRates(edCt, start, 168)));
	});

	it('draws counts whose average follows the generating rate', () => {
		const [s] = sampleHourlyCounts('mean', [edCt], start, 168 * 20);
		const rateSum = s.rates.reduce((x, y) => x + y, 0);
		const countSum = s.counts.reduce((x, y) => x + y, 0);
		expect(Math.abs(countSum - rateSum)).toBeLessThan(4 * Math.sqrt(rateSum));
		// Zero-rate hours never produce exams.
		const [op] = sampleHourlyCounts('zero', [opMr], start, 168 * 4);
		op.rates.forEach((r, i) => {
			if (r === 0) expect(op.counts[i]).toBe(0);
		});
	});
});
