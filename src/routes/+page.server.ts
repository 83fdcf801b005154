import type { PageServerLoad } from './$types';
import { getContext } from '$lib/server/context';
import { authorize } from '$lib/server/auth/guard';
import { loadOverview } from '$lib/server/queries/overview';
import { currentPolicy } from '$lib/server/routing/policy-store';

export const load: PageServerLoad = async ({ locals }) => {
	authorize(locals, 'view');
	const { sql } = getContext().db;
	const { policy } = await currentPolicy(sql);
	return { overview: await loadOverview(sql, policy) };
};
