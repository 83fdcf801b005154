/**
 * CSV edges of forecasting: parse an hourly series or a RIS volume export,
 * run a forecast, write the forecast back out as CSV. Used by
 * `radflow forecast --csv` and `radflow import-volumes`; no database here.
 *
 * Accepted timestamps: ISO 8601 (`2025-03-04T08:00:00Z`, with an offset, or
 * with a space instead of `T`; without a zone they are read as UTC plus
 * `defaultUtcOffsetMinutes`), or Unix epoch seconds / milliseconds.
 *
 * @see RFC 4180 (CSV: quoting, doubled quotes, CRLF)
 */
import { readFile } from 'node:fs/promises';
import { HOUR_MS, floorHour } from '../../src/lib/domain/forecast/calendar';
import { forecastSeries, type ForecastOptions, type ForecastResult } from '../../src/lib/domain/forecast/forecast';
import { MODALITIES, PatientClass } from '../../src/lib/domain/study/model';

/** One problem in one line of input. Line numbers are 1-based, as an editor shows them. */
export interface CsvLineError {
	line: number;
	message: string;
}

export class CsvError extends Error {
	readonly code: 'csv_invalid' | 'csv_empty' | 'csv_gap';
	readonly errors: CsvLineError[];
	constructor(code: CsvError['code'], errors: CsvLineError[], options?: { cause?: unknown }) {
		const shown = errors.slice(0, 10).map((e) => `line ${e.line}: ${e.message}`);
		if (errors.length > 10) shown.push(`… and ${errors.length - 10} more`);
		super(shown.join('\n') || code, options);
		this.name = 'CsvError';
		this.code = code;
		this.errors = errors;
	}
}

/** Split CSV text into records of fields with the line each record starts on. Blank lines and `#` comments are skipped. */
export function parseCsvRecords(text: string): { line: number; fields: string[] }[] {
	const out: { line: number; fields: string[] }[] = [];
	let line = 1;
	let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
	const n = text.length;
	while (i < n) {
		const startLine = line;
		const fields: string[] = [];
		let field = '';
		let quoted = false;
		let end = false;
		while (i < n && !end) {
			const ch = text[i];
			if (quoted) {
				if (ch === '"') {
					if (text[i + 1] === '"') {
						field += '"';
						i += 2;
					} else {
						quoted = false;
						i++;
					}
				} else {
					if (ch === '\n') line++;
					field += ch;
					i++;
				}
			} else if (ch === '"' && field.trim() === '') {
				quoted = true;
				field = '';
				i++;
			} else if (ch === ',') {
				fields.push(field.trim());
				field = '';
				i++;
			} else if (ch === '\n' || ch === '\r') {
				if (ch === '\r' && text[i + 1] === '\n') i++;
				i++;
				line++;
				end = true;
			} else {
				field += ch;
				i++;
			}
		}
		fields.push(quoted ? field : field.trim());
		const blank = fields.length === 1 && fields[0] === '';
		if (!blank && !fields[0].startsWith('#')) out.push({ line: startLine, fields });
	}
	return out;
}

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/** Parse a timestamp (see module docs) to UTC epoch ms, or null when it is not one. */
export function parseTimestamp(value: string, defaultUtcOffsetMinutes = 0): number | null {
	const v = value.trim();
	if (/^\d{9,13}$/.test(v)) {
		const num = Number(v);
		// Ten digits or fewer are seconds (until the year 2286).
		return v.length <= 10 ? num * 1000 : num;
	}
	const m = ISO_RE.exec(v);
	if (!m) return null;
	const [, y, mo, d, hh = '0', mi = '0', ss = '0', zone] = m;
	const fields = [Number(y), Number(mo), Number(d), Number(hh), Number(mi), Number(ss)];
	if (fields[1] < 1 || fields[1] > 12 || fields[2] < 1 || fields[2] > 31 || fields[3] > 23 || fields[4] > 59 || fields[5] > 60) return null;
	const utc = Date.UTC(fields[0], fields[1] - 1, fields[2], fields[3], fields[4], fields[5]);
	if (new Date(utc).getUTCDate() !== fields[2]) return null; // e.g. 31 February
	let offset = defaultUtcOffsetMinutes;
	if (zone && zone.toUpperCase() !== 'Z') {
		const sign = zone[0] === '-' ? -1 : 1;
		const digits = zone.slice(1).replace(':', '');
		offset = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2)));
	} else if (zone) offset = 0;
	return utc - offset * 60_000;
}

export interface SeriesPoint {
	t: number;
	value: number;
	line: number;
}

export interface ParseOptions {
	/** Offset applied to timestamps without a zone. */
	defaultUtcOffsetMinutes?: number;
}

/**
 * Parse `timestamp,value` rows (header optional). Throws a `CsvError` listing
 * every bad line; rows come back in time order.
 */
export function parseSeriesCsv(text: string, opts: ParseOptions = {}): SeriesPoint[] {
	const records = parseCsvRecords(text);
	const errors: CsvLineError[] = [];
	const points: SeriesPoint[] = [];
	records.forEach((r, idx) => {
		if (r.fields.length < 2) {
			errors.push({ line: r.line, message: `expected 2 columns (timestamp,value), found ${r.fields.length}` });
			return;
		}
		const t = parseTimestamp(r.fields[0], opts.defaultUtcOffsetMinutes);
		const raw = r.fields[1];
		const value = raw === '' ? NaN : Number(raw);
		if (idx === 0 && t === null && Number.isNaN(value)) return; // header
		if (t === null) errors.push({ line: r.line, message: `invalid timestamp "${r.fields[0]}"` });
		else if (!Number.isFinite(value)) errors.push({ line: r.line, message: `invalid value "${raw}" (expected a number)` });
		else if (value < 0) errors.push({ line: r.line, message: `negative value ${value} (counts cannot be negative)` });
		else points.push({ t, value, line: r.line });
	});
	if (errors.length) throw new CsvError('csv_invalid', errors);
	if (points.length === 0) throw new CsvError('csv_empty', [{ line: 1, message: 'no data rows' }]);
	return points.sort((a, b) => a.t - b.t);
}

/**
 * Turn points into a contiguous hourly series. Timestamps are floored to the
 * hour; two points in one hour are an error (this is a series of hourly
 * values, not events). Missing hours are an error unless `fillMissing` is
 * set, in which case they count as 0.
 */
export function toHourlySeries(points: readonly SeriesPoint[], opts: { fillMissing?: boolean } = {}): { startMs: number; values: number[] } {
	if (points.length === 0) throw new CsvError('csv_empty', [{ line: 1, message: 'no data rows' }]);
	const sorted = [...points].sort((a, b) => a.t - b.t);
	const startMs = floorHour(sorted[0].t);
	const values: number[] = [];
	const errors: CsvLineError[] = [];
	let prev: SeriesPoint | null = null;
	for (const p of sorted) {
		const idx = (floorHour(p.t) - startMs) / HOUR_MS;
		if (prev && floorHour(prev.t) === floorHour(p.t)) {
			errors.push({ line: p.line, message: `second value for hour ${new Date(floorHour(p.t)).toISOString()} (first on line ${prev.line})` });
			continue;
		}
		if (idx > values.length) {
			if (!opts.fillMissing) {
				errors.push({
					line: p.line,
					message: `${idx - values.length} missing hour(s) before ${new Date(floorHour(p.t)).toISOString()}`
				});
			}
			while (values.length < idx) values.push(0);
		}
		values.push(p.value);
		prev = p;
	}
	if (errors.length) throw new CsvError('csv_gap', errors);
	return { startMs, values };
}

/** Parse a series CSV and forecast the hours right after it. */
export function forecastCsv(
	text: string,
	opts: Omit<ForecastOptions, 'startMs'> & ParseOptions & { fillMissing?: boolean }
): ForecastResult {
	const { startMs, values } = toHourlySeries(parseSeriesCsv(text, opts), opts);
	return forecastSeries(values, { ...opts, startMs: startMs + values.length * HOUR_MS });
}

/** Read a file and forecast it (`radflow forecast --csv FILE`). */
export async function forecastCsvFile(path: string, opts: Parameters<typeof forecastCsv>[1]): Promise<ForecastResult> {
	return forecastCsv(await readFile(path, 'utf8'), opts);
}

function num(x: number, digits: number): string {
	return String(Math.round(x * 10 ** digits) / 10 ** digits);
}

/**
 * Forecast as CSV: `timestamp,model,mean,lo80,hi80,lo95,hi95` (+ `lo<L>,hi<L>`
 * for a custom level); `withModel: false` leaves out the model column.
 */
export function formatForecastCsv(result: ForecastResult, digits = 3, opts: { withModel?: boolean } = {}): string {
	const withModel = opts.withModel ?? true;
	const extra = result.level !== undefined ? `,lo${result.level},hi${result.level}` : '';
	const lines = [`timestamp,${withModel ? 'model,' : ''}mean,lo80,hi80,lo95,hi95${extra}`];
	for (const p of result.points) {
		const cells = [new Date(p.t).toISOString(), ...(withModel ? [result.model] : []), num(p.mean, digits), num(p.lo80, digits), num(p.hi80, digits), num(p.lo95, digits), num(p.hi95, digits)];
		if (extra) cells.push(num(p.lo ?? NaN, digits), num(p.hi ?? NaN, digits));
		lines.push(cells.join(','));
	}
	return lines.join('\n') + '\n';
}

/** One row of a RIS volume export. */
export interface VolumeRow {
	line: number;
	/** UTC epoch ms as given (not floored). */
	t: number;
	site: string;
	/** Exam code or modality as exported. */
	exam: string;
	/** The DICOM modality when `exam` is a modality code, else null (map exam codes downstream). */
	modality: string | null;
	count: number;
	/** HL7 patient class (E/I/O) from an optional fifth column, else null. */
	patientClass: PatientClass | null;
}

const CLASS_WORDS: Record<string, PatientClass> = {
	E: PatientClass.emergency,
	EMERGENCY: PatientClass.emergency,
	ED: PatientClass.emergency,
	I: PatientClass.inpatient,
	INPATIENT: PatientClass.inpatient,
	IP: PatientClass.inpatient,
	O: PatientClass.outpatient,
	OUTPATIENT: PatientClass.outpatient,
	OP: PatientClass.outpatient
};

const HEADER_WORDS = new Set(['timestamp', 'time', 'datetime', 'date', 'hour']);

/**
 * Parse `timestamp,site,exam_or_modality,count[,patient_class]` rows from a
 * RIS export (header optional; a missing count means 1; patient class is
 * E/I/O or emergency/inpatient/outpatient). Good rows come back with the
 * bad lines listed separately, so an import can report them and carry on.
 */
export function parseVolumesCsv(text: string, opts: ParseOptions = {}): { rows: VolumeRow[]; errors: CsvLineError[] } {
	const rows: VolumeRow[] = [];
	const errors: CsvLineError[] = [];
	const records = parseCsvRecords(text);
	records.forEach((r, idx) => {
		if (idx === 0 && HEADER_WORDS.has(r.fields[0].toLowerCase())) return;
		if (r.fields.length < 3 || r.fields.length > 5) {
			errors.push({
				line: r.line,
				message: `expected 4 columns (timestamp,site,exam_or_modality,count) or 5 (…,patient_class), found ${r.fields.length}`
			});
			return;
		}
		const [ts, site, exam, rawCount = '1', rawClass = ''] = r.fields;
		const problems: string[] = [];
		const t = parseTimestamp(ts, opts.defaultUtcOffsetMinutes);
		if (t === null) problems.push(`invalid timestamp "${ts}"`);
		if (site === '') problems.push('empty site');
		if (exam === '') problems.push('empty exam_or_modality');
		const count = rawCount === '' ? 1 : Number(rawCount);
		if (!Number.isInteger(count) || count < 0) problems.push(`invalid count "${rawCount}" (expected a whole number ≥ 0)`);
		const patientClass = rawClass === '' ? null : (CLASS_WORDS[rawClass.toUpperCase()] ?? null);
		if (rawClass !== '' && patientClass === null) problems.push(`invalid patient class "${rawClass}" (expected E, I or O)`);
		if (problems.length) {
			errors.push({ line: r.line, message: problems.join('; ') });
			return;
		}
		const upper = exam.toUpperCase();
		const modality = (MODALITIES as readonly string[]).includes(upper) ? upper : null;
		rows.push({ line: r.line, t: t!, site, exam, modality, count, patientClass });
	});
	return { rows, errors };
}

/**
 * Sum volume rows into hourly counts per key (default: site | exam), over
 * the whole span of the rows; hours without rows are 0.
 */
export function aggregateHourly(
	rows: readonly VolumeRow[],
	keyOf: (row: VolumeRow) => string = (r) => `${r.site}|${r.modality ?? r.exam}`
): { startMs: number; hours: number; series: Map<string, number[]> } {
	if (rows.length === 0) return { startMs: 0, hours: 0, series: new Map() };
	let min = Infinity;
	let max = -Infinity;
	for (const r of rows) {
		min = Math.min(min, floorHour(r.t));
		max = Math.max(max, floorHour(r.t));
	}
	const hours = (max - min) / HOUR_MS + 1;
	const series = new Map<string, number[]>();
	for (const r of rows) {
		const key = keyOf(r);
		let s = series.get(key);
		if (!s) series.set(key, (s = new Array<number>(hours).fill(0)));
		s[(floorHour(r.t) - min) / HOUR_MS] += r.count;
	}
	return { startMs: min, hours, series };
}
