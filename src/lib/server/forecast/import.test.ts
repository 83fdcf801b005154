import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../../tests/helpers/db';
import { parseVolumesCsv } from '../../../../workers/forecast/csv';
import { DEFAULT_NETWORK, defaultSeriesList, sampleHourlyCounts } from '../../domain/simulation/arrivals';
import { importVolumeRows, VolumeImportError } from './import';
import { loadHourlyHistory } from './history';

let t: TestDatabase;
beforeAll(async () => {
	t = await createTestDatabase('fcimport');
});
afterAll(async () => {
	await t?.drop();
});

const H = 3_600_000;
const START = Date.UTC(2025, 8, 1, 5);

/** A RIS-like export: one row per series and hour with exams, from the simulated network. */
function exportCsv(hours: number): { text: string; total: number } {
	const list = defaultSeriesList(DEFAULT_NETWORK).filter((k) => k.site === 'east');
	const lines = ['timestamp,site,exam_or_modality,count,patient_class'];
	let total = 0;
	for (const s of sampleHourlyCounts('import-test', list, START, hours)) {
		s.counts.forEach((n, i) => {
			if (n > 0) {
				lines.push(`${new Date(START + i * H).toISOString()},east,${s.series.modality},${n},${s.series.patientClass}`);
				total += n;
			}
		});
	}
	return { text: lines.join('\n') + '\n', total };
}

describe('importing RIS volume exports', () => {
	it('writes hourly counts per series, maps exams to subspecialties, and a re-import replaces instead of doubling', async () => {
		const { text, total } = exportCsv(7 * 24);
		const withExams = text + `${new Date(START).toISOString()},east,CT-HEAD-WO,2\n${new Date(START).toISOString()},east,"CT Chest without contrast",1\n`;
		const summary = await importVolumeRows(t.db.sql, parseVolumesCsv(withExams));
		expect(summary.newSites).toEqual(['east']);
		const [{ n }] = await t.db.sql`SELECT sum(count)::int AS n FROM volume_history`;
		expect(n).toBe(total + 3);
		const [head] = await t.db.sql`SELECT subspecialty, modality, patient_class AS pc, count FROM volume_history WHERE subspecialty = 'neuro' AND modality = 'CT'`;
		expect(head).toMatchObject({ subspecialty: 'neuro', modality: 'CT', pc: 'O', count: 2 });
		const [mg] = await t.db.sql`SELECT DISTINCT subspecialty FROM volume_history WHERE modality = 'MG'`;
		expect(mg.subspecialty).toBe('breast');

		const again = await importVolumeRows(t.db.sql, parseVolumesCsv(withExams));
		expect(again.inserted).toBe(0);
		expect(again.updated).toBe(summary.hours);
		const [{ n: n2 }] = await t.db.sql`SELECT sum(count)::int AS n FROM volume_history`;
		expect(n2).toBe(total + 3);

		// The forecast history query sees the imported counts hour by hour.
		const hist = await loadHourlyHistory(t.db.sql, START, START + 7 * 24 * H);
		expect(hist.reduce((a, s) => a + s.counts.reduce((x, y) => x + y, 0), 0)).toBe(total + 3);
	});

	it('a file with bad lines names each line and what to fix, and imports nothing', async () => {
		const [{ before }] = await t.db.sql`SELECT count(*)::int AS before FROM volume_history`;
		const text = [
			'timestamp,site,exam_or_modality,count',
			'2025-10-01T08:00:00Z,west,CT,3',
			'2025-10-01T09:00:00Z,west,TOASTER SCAN,1',
			'2025-10-01T10:00:00Z,west,MR,many',
			'not-a-time,west,US,1',
			'2025-10-01T11:00:00Z,west,US,2,X'
		].join('\n');
		const err = await importVolumeRows(t.db.sql, parseVolumesCsv(text)).catch((e) => e);
		expect(err).toBeInstanceOf(VolumeImportError);
		expect(err.problems.map((p: { line: number }) => p.line)).toEqual([3, 4, 5, 6]);
		expect(err.message).toMatch(/line 3: unknown exam "TOASTER SCAN"/);
		expect(err.message).toMatch(/line 4: invalid count "many"/);
		expect(err.message).toMatch(/line 5: invalid timestamp/);
		expect(err.message).toMatch(/line 6: invalid patient class "X"/);
		const [{ after }] = await t.db.sql`SELECT count(*)::int AS after FROM volume_history`;
		expect(after).toBe(before);
		const sites = await t.db.sql`SELECT id FROM sites WHERE id = 'west'`;
		expect(sites).toHaveLength(0);
	});
});
