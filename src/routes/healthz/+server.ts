import { json } from '@sveltejs/kit';
import type { RequestHandler } from './$types';
import { getContext } from '$lib/server/context';

/** Liveness and database reachability, for load balancers. */
export const GET: RequestHandler = async () => {
	try {
		await getContext().db.sql`SELECT 1`;
		return json({ ok: true });
	} catch {
		return json({ ok: false, reason: 'database unreachable' }, { status: 503 });
	}
};
