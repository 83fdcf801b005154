import type { PageServerLoad } from './$types';
import { getContext } from '$lib/server/context';
import { authorize } from '$lib/server/auth/guard';
import { latestEvents } from '$lib/server/events/store';

export const load: PageServerLoad = async ({ locals }) => {
	authorize(locals, 'view');
	const events = await latestEvents(getContext().db.sql, 200);
	return { events: events.map((e) => ({ ...e, time: new Date(e.time).toISOString() })) };
};
