/** POST {priority, reason, expectedVersion}: override a study's priority (the SLA deadline follows). */
import type { RequestHandler } from './$types';
import { getContext } from '$lib/server/context';
import { audit, authorize } from '$lib/server/auth/guard';
import { changePriorityTx, isPriority } from '$lib/server/routing/commands';
import { ApiError, handleApi, idParam, intField, outcomeResponse, readBody, reasonField } from '$lib/server/routing/http';

export const POST: RequestHandler = ({ locals, params, request }) =>
	handleApi(async () => {
		const user = authorize(locals, 'steer_worklist');
		const id = idParam(params.id);
		const body = await readBody(request);
		const priority = body.priority;
		if (!isPriority(priority)) throw new ApiError(400, 'bad_request', 'priority must be stat, asap or routine.');
		const expectedVersion = intField(body, 'expectedVersion');
		const reason = reasonField(body, true)!;
		const { db, jobs } = getContext();
		const out = await db.sql.begin(async (tx) => {
			const r = await changePriorityTx(tx, jobs, { studyId: id, priority, actor: user.username, reason, expectedVersion, at: new Date().toISOString() });
			if (r.status === 'applied') await audit(tx, user, 'study.priority', `study:${id}`, reason, { priority, expectedVersion });
			return r;
		});
		return outcomeResponse(out);
	});
