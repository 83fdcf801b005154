/**
 * Synthetic history for tests and demos: hourly counts drawn from the arrival
 * model of the simulated network, written to `volume_history` as an import
 * would write them, plus the network's sites.
 */
import type { Sql } from '../db/client';
import { HOUR_MS, floorHour } from '../../domain/forecast/calendar';
import { DEFAULT_NETWORK, defaultSeriesList, sampleHourlyCounts } from '../../domain/simulation/arrivals';
import { upsertVolumeHistory, type VolumeHistoryRow } from './history';

/** IANA zone with the network's fixed UTC−5 (POSIX signs are inverted). */
const NETWORK_ZONE = 'Etc/GMT+5';

export async function seedSyntheticHistory(
	sql: Sql,
	opts: { sites: string[]; endMs: number; weeks: number; seed?: string }
): Promise<{ series: number; rows: number }> {
	const end = floorHour(opts.endMs);
	const hours = opts.weeks * 168;
	const start = end - hours * HOUR_MS;
	const list = defaultSeriesList(DEFAULT_NETWORK).filter((k) => opts.sites.includes(k.site));
	const sampled = sampleHourlyCounts(opts.seed ?? 'radflow-forecast-tests', list, start, hours, DEFAULT_NETWORK);
	const rows: VolumeHistoryRow[] = [];
	for (const s of sampled) {
		s.counts.forEach((n, i) => {
			if (n > 0) rows.push({ hour: start + i * HOUR_MS, site: s.series.site, subspecialty: s.series.subspecialty, modality: s.series.modality, patientClass: s.series.patientClass, count: n });
		});
	}
	await sql.begin(async (tx) => {
		for (const id of opts.sites) {
			const site = DEFAULT_NETWORK.sites.find((x) => x.id === id);
			await tx`INSERT INTO sites (id, name, timezone) VALUES (${id}, ${site?.name ?? id}, ${NETWORK_ZONE}) ON CONFLICT (id) DO NOTHING`;
		}
		await upsertVolumeHistory(tx, rows, { source: 'synthetic' });
	});
	return { series: sampled.length, rows: rows.length };
}

/** Add a radiologist with site privileges; returns the id. */
export async function addRadiologist(sql: Sql, name: string, subspecialties: string[], sites: string[]): Promise<number> {
	return sql.begin(async (tx) => {
		const [r] = await tx<{ id: number }[]>`INSERT INTO radiologists (name, subspecialties) VALUES (${name}, ${subspecialties}) RETURNING id`;
		for (const s of sites) await tx`INSERT INTO radiologist_sites (radiologist_id, site_id) VALUES (${r.id}, ${s})`;
		return r.id;
	});
}
