import type { PageServerLoad } from './$types';
import { getContext } from '$lib/server/context';
import { authorize } from '$lib/server/auth/guard';
import { loadSlaView } from '$lib/server/routing/sla-view';

export const load: PageServerLoad = async ({ locals, depends }) => {
	authorize(locals, 'view');
	depends('radflow:sla');
	const { sql } = getContext().db;
	const [view, [{ last }]] = await Promise.all([
		loadSlaView(sql, Date.now()),
		sql`SELECT coalesce(max(id), 0)::bigint AS last FROM study_events`
	]);
	return { view, lastEventId: Number(last) };
};
