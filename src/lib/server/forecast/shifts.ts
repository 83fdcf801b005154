/**
 * The shift plan: who reads for which site and subspecialty when. Queries,
 * validation, audited changes, and the expansion of shifts into scheduled
 * readers per pool and hour for the staffing comparison.
 */
import type { Sql, SqlLike } from '../db/client';
import type { User } from '../auth/users';
import { audit } from '../auth/guard';
import { HOUR_MS, floorHour } from '../../domain/forecast/calendar';
import type { ShiftPlanEntry } from '../../domain/forecast/staffing';
import { SUBSPECIALTIES, Subspecialty } from '../../domain/study/model';

export interface ShiftRow {
	id: number;
	radiologistId: number;
	radiologist: string;
	siteId: string | null;
	subspecialty: string | null;
	startsAt: Date;
	endsAt: Date;
}

export interface RadiologistRow {
	id: number;
	name: string;
	subspecialties: string[];
	sites: string[];
	status: string;
}

export class ShiftError extends Error {
	readonly code: 'invalid_shift' | 'not_found' | 'overlap';
	/** Field the problem is about, for the form. */
	readonly field: string | null;
	constructor(code: ShiftError['code'], message: string, field: string | null = null, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'ShiftError';
		this.code = code;
		this.field = field;
	}
}

/** Longest shift accepted: a 24-hour call. */
export const MAX_SHIFT_HOURS = 24;

export async function listRadiologists(db: SqlLike): Promise<RadiologistRow[]> {
	return db<RadiologistRow[]>`
		SELECT r.id, r.name, r.subspecialties, r.status,
			coalesce(array_agg(rs.site_id ORDER BY rs.site_id) FILTER (WHERE rs.site_id IS NOT NULL), '{}') AS sites
		FROM radiologists r LEFT JOIN radiologist_sites rs ON rs.radiologist_id = r.id
		GROUP BY r.id ORDER BY r.name`;
}

/** Shifts that overlap [fromMs, toMs), earliest first. */
export async function listShifts(db: SqlLike, fromMs: number, toMs: number): Promise<ShiftRow[]> {
	return db<ShiftRow[]>`
		SELECT s.id, s.radiologist_id AS "radiologistId", r.name AS radiologist, s.site_id AS "siteId",
			s.subspecialty, s.starts_at AS "startsAt", s.ends_at AS "endsAt"
		FROM shifts s JOIN radiologists r ON r.id = s.radiologist_id
		WHERE s.starts_at < ${new Date(toMs)} AND s.ends_at > ${new Date(fromMs)}
		ORDER BY s.starts_at, r.name, s.id`;
}

/**
 * Scheduled readers per pool (site × subspecialty) and hour in [fromMs, toMs).
 *
 * A reader counts in an hour when the shift covers at least half of it. A
 * shift that names no site or no subspecialty covers the radiologist's
 * privileged sites / credentialed subspecialties (general when none); the
 * reader is then split evenly over those pools, so one person never counts
 * as several.
 */
export async function loadShiftPlan(db: SqlLike, fromMs: number, toMs: number): Promise<ShiftPlanEntry[]> {
	const rows = await db<{ siteId: string | null; subspecialty: string | null; startsAt: Date; endsAt: Date; sites: string[]; subs: string[] }[]>`
		SELECT s.site_id AS "siteId", s.subspecialty, s.starts_at AS "startsAt", s.ends_at AS "endsAt",
			coalesce((SELECT array_agg(site_id ORDER BY site_id) FROM radiologist_sites WHERE radiologist_id = s.radiologist_id), '{}') AS sites,
			r.subspecialties AS subs
		FROM shifts s JOIN radiologists r ON r.id = s.radiologist_id
		WHERE s.starts_at < ${new Date(toMs)} AND s.ends_at > ${new Date(fromMs)} AND r.status <> 'off'`;
	const acc = new Map<string, ShiftPlanEntry>();
	for (const r of rows) {
		const sites = r.siteId ? [r.siteId] : r.sites;
		const subs = r.subspecialty ? [r.subspecialty] : r.subs.length ? r.subs : [Subspecialty.general];
		if (sites.length === 0) continue;
		const share = 1 / (sites.length * subs.length);
		const start = Math.max(r.startsAt.getTime(), fromMs);
		const end = Math.min(r.endsAt.getTime(), toMs);
		for (let h = floorHour(start); h < end; h += HOUR_MS) {
			const covered = Math.min(end, h + HOUR_MS) - Math.max(start, h);
			if (covered * 2 < HOUR_MS) continue;
			for (const site of sites) {
				for (const sub of subs) {
					const key = `${site}|${sub}|${h}`;
					const e = acc.get(key);
					if (e) e.readers += share;
					else acc.set(key, { hourStart: h, site, subspecialty: sub as Subspecialty, readers: share });
				}
			}
		}
	}
	return [...acc.values()];
}

export interface ShiftInput {
	radiologistId: number;
	siteId: string;
	subspecialty: string;
	startsAt: number;
	endsAt: number;
}

/** Check a shift against the plan and the radiologist's privileges. Throws `ShiftError`. */
export async function validateShift(db: SqlLike, s: ShiftInput, exceptId: number | null = null): Promise<void> {
	if (!Number.isFinite(s.startsAt)) throw new ShiftError('invalid_shift', 'Enter a start date and time.', 'start');
	if (!Number.isFinite(s.endsAt)) throw new ShiftError('invalid_shift', 'Enter an end date and time.', 'end');
	if (s.endsAt <= s.startsAt) throw new ShiftError('invalid_shift', 'The shift must end after it starts.', 'end');
	if (s.endsAt - s.startsAt > MAX_SHIFT_HOURS * HOUR_MS) {
		throw new ShiftError('invalid_shift', `A shift can be at most ${MAX_SHIFT_HOURS} hours; split longer cover into several shifts.`, 'end');
	}
	if (!(SUBSPECIALTIES as readonly string[]).includes(s.subspecialty)) {
		throw new ShiftError('invalid_shift', `Choose a subspecialty (${SUBSPECIALTIES.join(', ')}).`, 'subspecialty');
	}
	const [site] = await db`SELECT id FROM sites WHERE id = ${s.siteId}`;
	if (!site) throw new ShiftError('invalid_shift', `Unknown site "${s.siteId}".`, 'site');
	const [rad] = await db<{ name: string; subspecialties: string[]; sites: string[] }[]>`
		SELECT r.name, r.subspecialties,
			coalesce((SELECT array_agg(site_id) FROM radiologist_sites WHERE radiologist_id = r.id), '{}') AS sites
		FROM radiologists r WHERE r.id = ${s.radiologistId}`;
	if (!rad) throw new ShiftError('invalid_shift', 'Choose a radiologist.', 'radiologist');
	if (rad.sites.length > 0 && !rad.sites.includes(s.siteId)) {
		throw new ShiftError('invalid_shift', `${rad.name} has no privileges at ${s.siteId} (has: ${rad.sites.join(', ')}).`, 'site');
	}
	if (rad.subspecialties.length > 0 && s.subspecialty !== Subspecialty.general && !rad.subspecialties.includes(s.subspecialty)) {
		throw new ShiftError('invalid_shift', `${rad.name} does not read ${s.subspecialty} (reads: ${rad.subspecialties.join(', ')}).`, 'subspecialty');
	}
	const [clash] = await db<{ id: number; startsAt: Date; endsAt: Date }[]>`
		SELECT id, starts_at AS "startsAt", ends_at AS "endsAt" FROM shifts
		WHERE radiologist_id = ${s.radiologistId} AND starts_at < ${new Date(s.endsAt)} AND ends_at > ${new Date(s.startsAt)}
			AND id IS DISTINCT FROM ${exceptId}
		LIMIT 1`;
	if (clash) {
		throw new ShiftError(
			'overlap',
			`${rad.name} already has shift #${clash.id} (${clash.startsAt.toISOString().slice(0, 16)}Z – ${clash.endsAt.toISOString().slice(0, 16)}Z) overlapping this one.`,
			'start'
		);
	}
}

function shiftDetails(s: { radiologistId: number; siteId: string | null; subspecialty: string | null; startsAt: number | Date; endsAt: number | Date }) {
	return {
		radiologistId: s.radiologistId,
		siteId: s.siteId,
		subspecialty: s.subspecialty,
		startsAt: new Date(s.startsAt).toISOString(),
		endsAt: new Date(s.endsAt).toISOString()
	};
}

// Serializes plan changes so two admins cannot both pass the overlap check.
const SHIFT_LOCK = 4_242_010;

/** Add a shift; validated and audited in one transaction. Returns its id. */
export async function createShift(sql: Sql, user: User, s: ShiftInput): Promise<number> {
	return sql.begin(async (tx) => {
		await tx`SELECT pg_advisory_xact_lock(${SHIFT_LOCK})`;
		await validateShift(tx, s);
		const [row] = await tx<{ id: number }[]>`
			INSERT INTO shifts (radiologist_id, site_id, subspecialty, starts_at, ends_at)
			VALUES (${s.radiologistId}, ${s.siteId}, ${s.subspecialty}, ${new Date(s.startsAt)}, ${new Date(s.endsAt)})
			RETURNING id`;
		await audit(tx, user, 'shift.create', `shift:${row.id}`, null, { after: shiftDetails(s) });
		return row.id;
	});
}

async function lockedShift(tx: SqlLike, id: number): Promise<ShiftInput & { siteId: string | null; subspecialty: string | null }> {
	const [old] = await tx<{ radiologistId: number; siteId: string | null; subspecialty: string | null; startsAt: Date; endsAt: Date }[]>`
		SELECT radiologist_id AS "radiologistId", site_id AS "siteId", subspecialty, starts_at AS "startsAt", ends_at AS "endsAt"
		FROM shifts WHERE id = ${id} FOR UPDATE`;
	if (!old) throw new ShiftError('not_found', `Shift #${id} does not exist (deleted meanwhile?).`);
	return { ...old, siteId: old.siteId as string, subspecialty: old.subspecialty as string, startsAt: old.startsAt.getTime(), endsAt: old.endsAt.getTime() };
}

/** Change a shift; returns the previous version (for the gap of the old window). */
export async function updateShift(sql: Sql, user: User, id: number, s: ShiftInput, reason: string | null = null): Promise<ShiftInput> {
	return sql.begin(async (tx) => {
		await tx`SELECT pg_advisory_xact_lock(${SHIFT_LOCK})`;
		const before = await lockedShift(tx, id);
		await validateShift(tx, s, id);
		await tx`UPDATE shifts SET radiologist_id = ${s.radiologistId}, site_id = ${s.siteId}, subspecialty = ${s.subspecialty},
			starts_at = ${new Date(s.startsAt)}, ends_at = ${new Date(s.endsAt)} WHERE id = ${id}`;
		await audit(tx, user, 'shift.update', `shift:${id}`, reason, { before: shiftDetails(before), after: shiftDetails(s) });
		return before;
	});
}

/** Remove a shift; returns what was removed. */
export async function deleteShift(sql: Sql, user: User, id: number, reason: string | null = null): Promise<ShiftInput> {
	return sql.begin(async (tx) => {
		await tx`SELECT pg_advisory_xact_lock(${SHIFT_LOCK})`;
		const before = await lockedShift(tx, id);
		await tx`DELETE FROM shifts WHERE id = ${id}`;
		await audit(tx, user, 'shift.delete', `shift:${id}`, reason, { before: shiftDetails(before) });
		return before;
	});
}
