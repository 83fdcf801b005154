import { describe, expect, it } from 'vitest';
import {
	CsvError,
	aggregateHourly,
	forecastCsv,
	formatForecastCsv,
	parseCsvRecords,
	parseSeriesCsv,
	parseTimestamp,
	parseVolumesCsv,
	toHourlySeries
} from './csv';

const H = 3_600_000;
const T0 = Date.parse('2025-01-06T00:00:00Z');

function catchCsv(f: () => unknown): CsvError {
	try {
		f();
	} catch (e) {
		if (e instanceof CsvError) return e;
		throw e;
	}
	throw new Error('expected a CsvError');
}

describe('parseTimestamp', () => {
	it('reads ISO 8601 with and without zones, and epoch seconds or milliseconds', () => {
		expect(parseTimestamp('2025-01-06T00:00:00Z')).toBe(T0);
		expect(parseTimestamp('2025-01-06 00:00')).toBe(T0);
		expect(parseTimestamp('2025-01-05T19:00:00-05:00')).toBe(T0);
		expect(parseTimestamp('2025-01-06T01:00:00+0100')).toBe(T0);
		expect(parseTimestamp('2025-01-05 19:00', -300)).toBe(T0);
		expect(parseTimestamp(String(T0 / 1000))).toBe(T0);
		expect(parseTimestamp(String(T0))).toBe(T0);
	});
	it('rejects what is not a time', () => {
		for (const bad of ['yesterday', '2025-02-30T00:00:00Z', '2025-13-01', '2025-01-06T25:00', '12']) {
			expect(parseTimestamp(bad)).toBeNull();
		}
	});
});

describe('parseCsvRecords', () => {
	it('handles quotes, doubled quotes, CRLF, BOM, blank lines and comments, keeping line numbers', () => {
		const text = '\ufeffa,"b, with comma"\r\n\r\n# note\r\n"say ""hi""",2\n"multi\nline",3\n';
		expect(parseCsvRecords(text)).toEqual([
			{ line: 1, fields: ['a', 'b, with comma'] },
			{ line: 4, fields: ['say "hi"', '2'] },
			{ line: 5, fields: ['multi\nline', '3'] }
		]);
	});
});

describe('parseSeriesCsv', () => {
	it('accepts an optional header and sorts rows by time', () => {
		const withHeader = parseSeriesCsv('timestamp,value\n2025-01-06T01:00:00Z,4\n2025-01-06T00:00:00Z,3\n');
		expect(withHeader.map((p) => [p.t, p.value])).toEqual([[T0, 3], [T0 + H, 4]]);
		expect(parseSeriesCsv('2025-01-06T00:00:00Z,3').map((p) => p.value)).toEqual([3]);
	});

	it('lists every bad row with its line number', () => {
		const err = catchCsv(() => parseSeriesCsv('timestamp,value\n2025-01-06T00:00:00Z,3\nnot-a-date,4\n2025-01-06T02:00:00Z,abc\n2025-01-06T03:00:00Z,-2\n2025-01-06T04:00:00Z\n'));
		expect(err.code).toBe('csv_invalid');
		expect(err.errors.map((e) => e.line)).toEqual([3, 4, 5, 6]);
		expect(err.errors[0].message).toMatch(/invalid timestamp "not-a-date"/);
		expect(err.errors[1].message).toMatch(/invalid value "abc"/);
		expect(err.errors[2].message).toMatch(/negative/);
		expect(err.errors[3].message).toMatch(/expected 2 columns/);
		expect(err.message).toMatch(/^line 3: /);
	});

	it('refuses an input with no data rows', () => {
		expect(catchCsv(() => parseSeriesCsv('timestamp,value\n')).code).toBe('csv_empty');
	});
});

describe('toHourlySeries', () => {
	const pts = (hours: number[]) => hours.map((h, i) => ({ t: T0 + h * H, value: h, line: i + 2 }));
	it('reports gaps and duplicate hours by line, or fills gaps with zeros on request', () => {
		const gap = catchCsv(() => toHourlySeries(pts([0, 1, 4])));
		expect(gap.code).toBe('csv_gap');
		expect(gap.errors).toEqual([{ line: 4, message: '2 missing hour(s) before 2025-01-06T04:00:00.000Z' }]);
		expect(toHourlySeries(pts([0, 1, 4]), { fillMissing: true }).values).toEqual([0, 1, 0, 0, 4]);
		const dup = catchCsv(() => toHourlySeries([...pts([0, 1]), { t: T0 + H + 60_000, value: 9, line: 9 }]));
		expect(dup.errors[0].message).toMatch(/second value for hour .* \(first on line 3\)/);
	});
});

describe('forecastCsv and formatForecastCsv', () => {
	it('forecasts the hours after the file and writes a CSV that parses back', () => {
		const rows = Array.from({ length: 168 * 4 }, (_, i) => `${new Date(T0 + i * H).toISOString()},${(i % 24) >= 8 && (i % 24) < 18 ? 10 : 1}`);
		const result = forecastCsv(['timestamp,value', ...rows].join('\n'), { horizon: 24, level: 90 });
		expect(result.points[0].t).toBe(T0 + 168 * 4 * H);
		const csv = formatForecastCsv(result);
		const lines = csv.trim().split('\n');
		expect(lines[0]).toBe('timestamp,model,mean,lo80,hi80,lo95,hi95,lo90,hi90');
		expect(lines).toHaveLength(25);
		const noon = lines[13].split(',');
		expect(noon[0]).toBe(new Date(T0 + (168 * 4 + 12) * H).toISOString());
		expect(noon[1]).toBe(result.model);
		expect(Number(noon[2])).toBeCloseTo(10, 0);
		// The forecast round-trips as a series file.
		const back = parseSeriesCsv(lines.map((l) => l.split(',').filter((_, i) => i === 0 || i === 2).join(',')).join('\n'));
		expect(back).toHaveLength(24);
	});
});

describe('parseVolumesCsv', () => {
	it('returns good rows and per-line errors, recognising modality codes', () => {
		const text = [
			'timestamp,site,exam_or_modality,count',
			'2025-01-06T08:15:00Z,north,CT,3',
			'2025-01-06T08:40:00Z,north,"CT HEAD W/O",1',
			'2025-01-06 09:05,south,mr',
			'bad,north,CT,1',
			'2025-01-06T09:00:00Z,,CT,1',
			'2025-01-06T09:00:00Z,north,CT,2.5',
			'2025-01-06T09:00:00Z,north',
			'2025-01-06T09:00:00Z,north,US,-1'
		].join('\n');
		const { rows, errors } = parseVolumesCsv(text);
		expect(rows.map((r) => [r.line, r.site, r.exam, r.modality, r.count])).toEqual([
			[2, 'north', 'CT', 'CT', 3],
			[3, 'north', 'CT HEAD W/O', null, 1],
			[4, 'south', 'mr', 'MR', 1]
		]);
		expect(errors.map((e) => e.line)).toEqual([5, 6, 7, 8, 9]);
		expect(errors[0].message).toMatch(/invalid timestamp "bad"/);
		expect(errors[1].message).toMatch(/empty site/);
		expect(errors[2].message).toMatch(/invalid count "2.5"/);
		expect(errors[3].message).toMatch(/expected 4 columns/);
		expect(errors[4].message).toMatch(/invalid count "-1"/);
	});

	it('aggregates rows into hourly counts per site and modality', () => {
		const { rows } = parseVolumesCsv('2025-01-06T08:15:00Z,north,CT,3\n2025-01-06T08:59:00Z,north,ct,1\n2025-01-06T10:01:00Z,north,CT,2\n2025-01-06T10:30:00Z,south,US,1\n');
		const agg = aggregateHourly(rows);
		expect(agg.startMs).toBe(T0 + 8 * H);
		expect(agg.hours).toBe(3);
		expect(agg.series.get('north|CT')).toEqual([4, 0, 2]);
		expect(agg.series.get('south|US')).toEqual([0, 0, 1]);
		expect(aggregateHourly([]).hours).toBe(0);
	});
});
