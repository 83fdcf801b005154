import { fail } from '@sveltejs/kit';
import type { Actions, PageServerLoad } from './$types';
import { getContext } from '$lib/server/context';
import { authorize } from '$lib/server/auth/guard';
import { HOUR_MS, floorHour } from '$lib/domain/forecast/calendar';
import { SUBSPECIALTIES } from '$lib/domain/study/model';
import { computeStaffing, getForecastSnapshot, poolGap, type PoolGap } from '$lib/server/forecast/service';
import { refreshStaffingAlerts } from '$lib/server/forecast/alerts';
import { listSites } from '$lib/server/forecast/history';
import { ShiftError, createShift, deleteShift, listRadiologists, listShifts, updateShift, type ShiftInput } from '$lib/server/forecast/shifts';
import { localInputToUtc, utcToLocalInput } from '$lib/server/forecast/time';

export const load: PageServerLoad = async ({ locals, url }) => {
	authorize(locals, 'administer');
	const { db } = getContext();
	const now = Date.now();
	const [sites, radiologists, snap] = await Promise.all([listSites(db.sql), listRadiologists(db.sql), getForecastSnapshot(db, now)]);
	const tz = new Map(sites.map((s) => [s.id, s.timezone]));
	const from = floorHour(now) - 24 * HOUR_MS;
	const shifts = (await listShifts(db.sql, from, floorHour(now) + 14 * 24 * HOUR_MS)).map((s) => ({
		...s,
		startsAt: s.startsAt.getTime(),
		endsAt: s.endsAt.getTime(),
		startLocal: utcToLocalInput(s.startsAt.getTime(), tz.get(s.siteId ?? '') ?? 'UTC'),
		endLocal: utcToLocalInput(s.endsAt.getTime(), tz.get(s.siteId ?? '') ?? 'UTC')
	}));

	// Gap of a pool over a window picked in the URL (site time), e.g. before adding cover for it.
	let windowGap: PoolGap | null = null;
	const q = { site: url.searchParams.get('site') ?? '', subspecialty: url.searchParams.get('subspecialty') ?? '', start: url.searchParams.get('from') ?? '', end: url.searchParams.get('to') ?? '' };
	if (q.site && q.subspecialty && q.start && q.end) {
		const a = localInputToUtc(q.start, tz.get(q.site) ?? 'UTC');
		const b = localInputToUtc(q.end, tz.get(q.site) ?? 'UTC');
		if (a !== null && b !== null && b > a) windowGap = await poolGap(db.sql, snap, q.site, q.subspecialty, a, b);
	}

	const staffing = await computeStaffing(db.sql, snap, { from: snap.asOf, to: snap.asOf + 72 * HOUR_MS });
	const pools = new Map<string, { site: string; subspecialty: string; required: number; scheduled: number; shortHours: number; firstShort: number | null }>();
	for (const h of staffing.hours) {
		const k = `${h.site}|${h.subspecialty}`;
		const p = pools.get(k) ?? { site: h.site, subspecialty: h.subspecialty, required: 0, scheduled: 0, shortHours: 0, firstShort: null };
		p.required += h.required;
		p.scheduled += h.scheduled;
		if (h.scheduled < h.required) {
			p.shortHours++;
			p.firstShort ??= h.hourStart;
		}
		pools.set(k, p);
	}
	const edit = Number(url.searchParams.get('edit')) || null;

	return {
		sites,
		radiologists,
		subspecialties: SUBSPECIALTIES,
		shifts,
		query: q,
		windowGap,
		edit: shifts.find((s) => s.id === edit) ?? null,
		pools: [...pools.values()].sort((x, y) => y.required - y.scheduled - (x.required - x.scheduled)),
		asOf: snap.asOf
	};
};

interface FormValues {
	radiologist: string;
	site: string;
	subspecialty: string;
	start: string;
	end: string;
	reason: string;
}

async function readForm(request: Request): Promise<{ values: FormValues; id: number | null }> {
	const f = await request.formData();
	const get = (k: string) => String(f.get(k) ?? '').trim();
	return {
		id: Number(get('id')) || null,
		values: { radiologist: get('radiologist'), site: get('site'), subspecialty: get('subspecialty'), start: get('start'), end: get('end'), reason: get('reason') }
	};
}

async function toInput(v: FormValues): Promise<ShiftInput> {
	const sites = await listSites(getContext().db.sql);
	const tz = sites.find((s) => s.id === v.site)?.timezone ?? 'UTC';
	return {
		radiologistId: Number(v.radiologist),
		siteId: v.site,
		subspecialty: v.subspecialty,
		startsAt: localInputToUtc(v.start, tz) ?? NaN,
		endsAt: localInputToUtc(v.end, tz) ?? NaN
	};
}

/** Re-run staffing for the pools and windows a change touched, and raise any new alert. */
async function gapsAfter(windows: { siteId: string | null; subspecialty: string | null; startsAt: number; endsAt: number }[]): Promise<PoolGap[]> {
	const { db, log } = getContext();
	const now = Date.now();
	const snap = await getForecastSnapshot(db, now);
	const out: PoolGap[] = [];
	const seen = new Set<string>();
	for (const w of windows) {
		if (!w.siteId || !w.subspecialty) continue;
		const k = `${w.siteId}|${w.subspecialty}|${w.startsAt}|${w.endsAt}`;
		if (seen.has(k)) continue;
		seen.add(k);
		out.push(await poolGap(db.sql, snap, w.siteId, w.subspecialty, w.startsAt, w.endsAt));
	}
	await refreshStaffingAlerts(db, now, { force: true }).catch((err) => log.error('staffing alerts failed', { err }));
	return out;
}

function refuse(err: unknown, values: FormValues, id: number | null) {
	if (err instanceof ShiftError) return fail(err.code === 'not_found' ? 404 : 400, { message: err.message, field: err.field, values, id });
	throw err;
}

export const actions: Actions = {
	create: async ({ locals, request }) => {
		const user = authorize(locals, 'administer');
		const { values } = await readForm(request);
		const input = await toInput(values);
		let id: number;
		try {
			id = await createShift(getContext().db.sql, user, input);
		} catch (err) {
			return refuse(err, values, null);
		}
		return { saved: { action: 'added', id }, gaps: await gapsAfter([input]) };
	},
	update: async ({ locals, request }) => {
		const user = authorize(locals, 'administer');
		const { values, id } = await readForm(request);
		if (!id) return fail(400, { message: 'Which shift? (missing id)', field: null, values, id });
		const input = await toInput(values);
		let before: ShiftInput;
		try {
			before = await updateShift(getContext().db.sql, user, id, input, values.reason || null);
		} catch (err) {
			return refuse(err, values, id);
		}
		return { saved: { action: 'changed', id }, gaps: await gapsAfter([before, input]) };
	},
	delete: async ({ locals, request }) => {
		const user = authorize(locals, 'administer');
		const { values, id } = await readForm(request);
		if (!id) return fail(400, { message: 'Which shift? (missing id)', field: null, values, id });
		let before: ShiftInput;
		try {
			before = await deleteShift(getContext().db.sql, user, id, values.reason || null);
		} catch (err) {
			return refuse(err, values, id);
		}
		return { saved: { action: 'deleted', id }, gaps: await gapsAfter([before]) };
	}
};
