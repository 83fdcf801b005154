import type { PageServerLoad } from './$types';
import { getContext } from '$lib/server/context';
import { authorize } from '$lib/server/auth/guard';
import { can } from '$lib/domain/auth/roles';
import { CRITICAL_CONFIRM_SLA_MINUTES, governanceStats, openFlags, recentDecisions } from '$lib/server/triage/criticals';

export const load: PageServerLoad = async ({ locals }) => {
	const user = authorize(locals, 'view');
	const { sql } = getContext().db;
	const now = new Date();
	const [open, recent, governance, [last]] = await Promise.all([
		openFlags(sql, { now }),
		recentDecisions(sql, { now, hours: 24, limit: 30 }),
		governanceStats(sql, { now, days: 14 }),
		sql`SELECT coalesce(max(id), 0)::bigint AS id FROM study_events`
	]);
	return {
		open,
		recent,
		governance,
		now: now.toISOString(),
		lastEventId: Number(last.id),
		slaMinutes: CRITICAL_CONFIRM_SLA_MINUTES,
		canDecide: can(user.role, 'decide_criticals')
	};
};
