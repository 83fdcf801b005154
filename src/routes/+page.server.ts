import type { PageServerLoad } from './$types';
import { getContext } from '$lib/server/context';
import { authorize } from '$lib/server/auth/guard';

export const load: PageServerLoad = async ({ locals }) => {
	authorize(locals, 'view');
	const { sql } = getContext().db;
	const byStatus = await sql`SELECT status, count(*)::int AS n FROM studies
		WHERE status NOT IN ('reported', 'cancelled') GROUP BY status`;
	const [{ today }] = await sql`SELECT count(*)::int AS today FROM study_events WHERE time > now() - interval '24 hours'`;
	return { byStatus: byStatus as unknown as { status: string; n: number }[], eventsToday: today as number };
};
