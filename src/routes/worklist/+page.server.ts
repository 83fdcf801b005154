import type { PageServerLoad } from './$types';
import { getContext } from '$lib/server/context';
import { authorize } from '$lib/server/auth/guard';
import { can } from '$lib/domain/auth/roles';
import { loadBoard } from '$lib/server/routing/board';

export const load: PageServerLoad = async ({ locals, depends }) => {
	const user = authorize(locals, 'view');
	depends('radflow:worklist');
	const board = await loadBoard(getContext().db.sql, Date.now());
	return { board, canSteer: can(user.role, 'steer_worklist') };
};
