/**
 * `radflow import-volumes`: RIS volume exports → `volume_history`.
 *
 * Each row names an exam (code, name or synonym from the exam catalog) or a
 * DICOM modality. An exam gives its modality and reading subspecialty; a bare
 * modality gets the subspecialty that reads most of that modality. Every
 * row is checked before anything is written, and the whole file is written
 * in one transaction: a file with one bad line imports nothing.
 */
import type { Sql } from '../db/client';
import { floorHour } from '../../domain/forecast/calendar';
import { PatientClass, Subspecialty } from '../../domain/study/model';
import { EXAM_CATALOG } from '../../domain/exams/catalog';
import { MatchMethod, normalizeExam } from '../../domain/exams/normalize';
import { upsertVolumeHistory, type VolumeHistoryRow } from './history';

/** What an import needs from a parsed row (the shape of `parseVolumesCsv` rows). */
export interface ImportRow {
	line: number;
	t: number;
	site: string;
	exam: string;
	modality: string | null;
	count: number;
	patientClass: string | null;
}

export interface LineProblem {
	line: number;
	message: string;
}

export class VolumeImportError extends Error {
	readonly code: 'invalid_rows' | 'empty_file';
	readonly problems: LineProblem[];
	constructor(code: VolumeImportError['code'], problems: LineProblem[], options?: { cause?: unknown }) {
		const shown = problems.slice(0, 20).map((p) => `line ${p.line}: ${p.message}`);
		if (problems.length > 20) shown.push(`… and ${problems.length - 20} more bad lines`);
		super(shown.join('\n') || code, options);
		this.name = 'VolumeImportError';
		this.code = code;
		this.problems = problems;
	}
}

/**
 * Reading subspecialty for an exam known only by its modality: the one that
 * reads most of that modality in a general hospital mix.
 */
export const MODALITY_DEFAULT_SUBSPECIALTY: Readonly<Record<string, Subspecialty>> = {
	CT: Subspecialty.body,
	MR: Subspecialty.neuro,
	CR: Subspecialty.chest,
	DX: Subspecialty.chest,
	US: Subspecialty.body,
	MG: Subspecialty.breast,
	NM: Subspecialty.nuclear,
	PT: Subspecialty.nuclear,
	XA: Subspecialty.body,
	RF: Subspecialty.body
};

const SITE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const examCache = new Map<string, { modality: string; subspecialty: Subspecialty } | null>();

function lookupExam(exam: string): { modality: string; subspecialty: Subspecialty } | null {
	const key = exam.toUpperCase();
	if (!examCache.has(key)) {
		const m = normalizeExam({ modality: null, description: exam, procedureCode: exam }, EXAM_CATALOG);
		examCache.set(key, m.exam && m.method !== MatchMethod.none ? { modality: String(m.exam.modality), subspecialty: m.exam.subspecialty } : null);
	}
	return examCache.get(key)!;
}

/**
 * Map parsed rows to hourly `volume_history` rows (summing rows that fall in
 * the same hour and series). Returns the problems instead of rows when any
 * row cannot be mapped.
 */
export function planVolumeImport(rows: readonly ImportRow[]): { rows: VolumeHistoryRow[]; problems: LineProblem[]; sites: string[] } {
	const problems: LineProblem[] = [];
	const acc = new Map<string, VolumeHistoryRow>();
	const sites = new Set<string>();
	for (const r of rows) {
		if (!SITE_RE.test(r.site)) {
			problems.push({ line: r.line, message: `site "${r.site}" must be a short id of letters, digits, '.', '_' or '-' (e.g. north)` });
			continue;
		}
		let modality = r.modality;
		let subspecialty: Subspecialty | undefined = modality ? MODALITY_DEFAULT_SUBSPECIALTY[modality] : undefined;
		if (!modality || !subspecialty) {
			const hit = lookupExam(r.exam);
			if (!hit) {
				problems.push({
					line: r.line,
					message: `unknown exam "${r.exam}": use a DICOM modality (${Object.keys(MODALITY_DEFAULT_SUBSPECIALTY).join(', ')}) or an exam code or name from the catalog (e.g. CT-HEAD-WO)`
				});
				continue;
			}
			modality = hit.modality;
			subspecialty = hit.subspecialty;
		}
		const patientClass = r.patientClass ?? PatientClass.outpatient;
		sites.add(r.site);
		const hour = floorHour(r.t);
		const key = `${hour}|${r.site}|${subspecialty}|${modality}|${patientClass}`;
		const have = acc.get(key);
		if (have) have.count += r.count;
		else acc.set(key, { hour, site: r.site, subspecialty, modality, patientClass, count: r.count });
	}
	if (problems.length) return { rows: [], problems, sites: [] };
	const out = [...acc.values()].sort((a, b) => a.hour - b.hour);
	return { rows: out, problems, sites: [...sites].sort() };
}

export interface ImportSummary {
	/** Rows read from the file. */
	lines: number;
	/** Hourly series rows written (inserted + updated). */
	hours: number;
	inserted: number;
	updated: number;
	series: number;
	/** Sites that were not yet known and were created. */
	newSites: string[];
	from: string | null;
	to: string | null;
}

/**
 * Validate and write an import in one transaction. Sites that do not exist yet
 * are created (named after their id) so shifts can be planned for them.
 * Throws `VolumeImportError` listing every bad line; nothing is written then.
 */
export async function importVolumeRows(
	sql: Sql,
	parsed: { rows: readonly ImportRow[]; errors: readonly LineProblem[] },
	opts: { onProgress?: (done: number, total: number) => void; source?: string } = {}
): Promise<ImportSummary> {
	const plan = planVolumeImport(parsed.rows);
	const problems = [...parsed.errors, ...plan.problems].sort((a, b) => a.line - b.line);
	if (problems.length) throw new VolumeImportError('invalid_rows', problems);
	if (plan.rows.length === 0) throw new VolumeImportError('empty_file', [{ line: 1, message: 'no data rows (expected timestamp,site,exam_or_modality,count)' }]);
	return sql.begin(async (tx) => {
		const created = await tx<{ id: string }[]>`
			INSERT INTO sites (id, name) SELECT id, id FROM unnest(${plan.sites}::text[]) AS id
			ON CONFLICT (id) DO NOTHING RETURNING id`;
		const { inserted, updated } = await upsertVolumeHistory(tx, plan.rows, { onBatch: opts.onProgress, source: opts.source });
		return {
			lines: parsed.rows.length,
			hours: plan.rows.length,
			inserted,
			updated,
			series: new Set(plan.rows.map((r) => `${r.site}|${r.subspecialty}|${r.modality}|${r.patientClass}`)).size,
			newSites: created.map((r) => r.id).sort(),
			from: new Date(plan.rows[0].hour).toISOString(),
			to: new Date(plan.rows[plan.rows.length - 1].hour).toISOString()
		};
	});
}
