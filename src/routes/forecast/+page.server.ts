import type { PageServerLoad } from './$types';
import { getContext } from '$lib/server/context';
import { authorize } from '$lib/server/auth/guard';
import { aggregateSeries, computeStaffing, getForecastSnapshot, matches } from '$lib/server/forecast/service';
import { refreshStaffingAlerts } from '$lib/server/forecast/alerts';
import { HOUR_MS } from '$lib/domain/forecast/calendar';
import { DEFAULT_SLA } from '$lib/domain/forecast/staffing';

const pick = (url: URL, name: string) => url.searchParams.get(name)?.trim() || '';

export const load: PageServerLoad = async ({ locals, url }) => {
	authorize(locals, 'view');
	const { db, log } = getContext();
	const now = Date.now();
	const snap = await getForecastSnapshot(db, now);
	const filter = { site: pick(url, 'site'), subspecialty: pick(url, 'subspecialty'), modality: pick(url, 'modality'), patientClass: pick(url, 'class') };
	const range = pick(url, 'range') === '168' ? 168 : 72;

	const staffing = await computeStaffing(db.sql, snap, { from: snap.asOf, to: snap.asOf + range * HOUR_MS });
	// Required vs scheduled for the picked site / subspecialty (summed over pools when "all").
	const perHour = new Map<number, { hourStart: number; required: number; requiredHi80: number; scheduled: number }>();
	for (const h of staffing.hours) {
		if ((filter.site && h.site !== filter.site) || (filter.subspecialty && h.subspecialty !== filter.subspecialty)) continue;
		const e = perHour.get(h.hourStart) ?? { hourStart: h.hourStart, required: 0, requiredHi80: 0, scheduled: 0 };
		e.required += h.required;
		e.requiredHi80 += h.requiredHi80;
		e.scheduled += h.scheduled;
		perHour.set(h.hourStart, e);
	}
	const pools = new Map<string, { site: string; subspecialty: string; required: number; scheduled: number; shortHours: number }>();
	for (const h of staffing.hours) {
		const k = `${h.site}|${h.subspecialty}`;
		const p = pools.get(k) ?? { site: h.site, subspecialty: h.subspecialty, required: 0, scheduled: 0, shortHours: 0 };
		p.required += h.required;
		p.scheduled += h.scheduled;
		if (h.scheduled < h.required) p.shortHours++;
		pools.set(k, p);
	}

	let alerts: Awaited<ReturnType<typeof refreshStaffingAlerts>>['alerts'] = [];
	try {
		alerts = (await refreshStaffingAlerts(db, now)).alerts;
	} catch (err) {
		log.error('staffing alerts failed', { err });
	}

	const values = (f: (s: (typeof snap.series)[number]) => string) => [...new Set(snap.series.map(f))].sort();
	const chosen = aggregateSeries(snap, filter);
	const backtest = snap.series
		.filter((s) => matches(s, filter))
		.slice(0, 60)
		.map((s) => ({ id: s.id, model: s.model, weeklyVolume: Math.round(s.weeklyVolume), backtest: s.backtest }));

	const [{ last }] = await db.sql<{ last: number }[]>`SELECT coalesce(max(id), 0)::bigint AS last FROM study_events`;

	return {
		lastEventId: last,
		asOf: snap.asOf,
		computedAt: snap.computedAt,
		durationMs: snap.durationMs,
		seriesTotal: snap.series.length,
		skipped: snap.skipped,
		sites: snap.sites,
		options: {
			site: values((s) => s.site),
			subspecialty: values((s) => s.subspecialty),
			modality: values((s) => s.modality),
			patientClass: values((s) => s.patientClass)
		},
		filter,
		range,
		chart: chosen,
		staffingHours: [...perHour.values()].sort((a, b) => a.hourStart - b.hourStart),
		pools: [...pools.values()].sort((a, b) => b.required - b.scheduled - (a.required - a.scheduled)),
		windows: staffing.windows,
		surplus: staffing.surplusWindows,
		backtest,
		alerts,
		sla: DEFAULT_SLA
	};
};
