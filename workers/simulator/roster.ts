/**
 * Seed the simulated network's sites, radiologists (with site privileges) and
 * shifts, idempotently, so routing has a roster to work with.
 */
import type { SqlLike, Sql } from '../../src/lib/server/db/client';
import { shiftsBetween, type SimNetwork } from './network';

const ROSTER_LOCK = 4_242_101;

/** Radiologist key (network) → radiologists.id (database). */
export type RosterIds = Map<string, number>;

/**
 * Insert missing sites, radiologists (matched by name), site privileges and the
 * shifts overlapping [fromMs, toMs). Existing rows are left as they are, so an
 * administrator's edits survive a restart of the simulator.
 */
export async function seedRoster(sql: Sql, net: SimNetwork, fromMs: number, toMs: number): Promise<{ ids: RosterIds; shiftsAdded: number }> {
	return sql.begin(async (tx) => {
		await tx`SELECT pg_advisory_xact_lock(${ROSTER_LOCK})`;
		const sites = net.sites.map((s) => ({ id: s.id, name: s.name, timezone: s.timezone }));
		await tx.unsafe(
			`INSERT INTO sites (id, name, timezone)
			 SELECT id, name, timezone FROM json_to_recordset($1::text::json) AS x(id text, name text, timezone text)
			 ON CONFLICT (id) DO NOTHING`,
			[JSON.stringify(sites)]
		);
		const ids: RosterIds = new Map();
		for (const r of net.radiologists) {
			const [found] = await tx`SELECT id FROM radiologists WHERE name = ${r.name} ORDER BY id LIMIT 1`;
			const id = found
				? Number(found.id)
				: Number(
						(await tx`INSERT INTO radiologists (name, subspecialties, pace_factor) VALUES (${r.name}, ${r.subspecialties}, ${r.pace}) RETURNING id`)[0].id
					);
			ids.set(r.key, id);
			for (const site of r.sites) {
				await tx`INSERT INTO radiologist_sites (radiologist_id, site_id) VALUES (${id}, ${site}) ON CONFLICT DO NOTHING`;
			}
		}
		const shiftsAdded = await insertShifts(tx, net, ids, fromMs, toMs);
		return { ids, shiftsAdded };
	}) as Promise<{ ids: RosterIds; shiftsAdded: number }>;
}

async function insertShifts(tx: SqlLike, net: SimNetwork, ids: RosterIds, fromMs: number, toMs: number): Promise<number> {
	const rows = shiftsBetween(net, fromMs, toMs).map((s) => ({
		radiologist_id: ids.get(s.radiologist.key)!,
		site_id: s.site,
		subspecialty: null,
		starts_at: new Date(s.startsAt).toISOString(),
		ends_at: new Date(s.endsAt).toISOString()
	}));
	if (rows.length === 0) return 0;
	const inserted = await tx.unsafe(
		`INSERT INTO shifts (radiologist_id, site_id, subspecialty, starts_at, ends_at)
		 SELECT x.radiologist_id, x.site_id, x.subspecialty, x.starts_at, x.ends_at
		 FROM json_to_recordset($1::text::json) AS x(radiologist_id bigint, site_id text, subspecialty text, starts_at timestamptz, ends_at timestamptz)
		 WHERE NOT EXISTS (SELECT 1 FROM shifts s WHERE s.radiologist_id = x.radiologist_id AND s.starts_at = x.starts_at)
		 RETURNING id`,
		[JSON.stringify(rows)]
	);
	return inserted.length;
}
