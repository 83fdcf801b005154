import type { PageServerLoad } from './$types';
import { getContext } from '$lib/server/context';
import { authorize } from '$lib/server/auth/guard';
import { loadOverview, withForecast } from '$lib/server/queries/overview';
import { aggregateSeries, peekForecastSnapshot } from '$lib/server/forecast/service';
import { currentPolicy } from '$lib/server/routing/policy-store';

export const load: PageServerLoad = async ({ locals }) => {
	authorize(locals, 'view');
	const { db } = getContext();
	const { policy } = await currentPolicy(db.sql);
	const overview = await loadOverview(db.sql, policy);
	// The forecast never delays the overview: the newest finished snapshot, if any.
	const snap = peekForecastSnapshot(db, Date.now());
	overview.throughput = withForecast(overview.throughput, snap ? aggregateSeries(snap, {}).forecast : null);
	return { overview };
};
