/** POST {hold, reason, expectedVersion}: hold a study out of routing, or release the hold. */
import type { RequestHandler } from './$types';
import { getContext } from '$lib/server/context';
import { audit, authorize } from '$lib/server/auth/guard';
import { setHoldTx } from '$lib/server/routing/commands';
import { ApiError, handleApi, idParam, intField, outcomeResponse, readBody, reasonField } from '$lib/server/routing/http';

export const POST: RequestHandler = ({ locals, params, request }) =>
	handleApi(async () => {
		const user = authorize(locals, 'steer_worklist');
		const id = idParam(params.id);
		const body = await readBody(request);
		if (typeof body.hold !== 'boolean') throw new ApiError(400, 'bad_request', 'hold must be true or false.');
		const hold = body.hold;
		const expectedVersion = intField(body, 'expectedVersion');
		const reason = reasonField(body, hold);
		const out = await getContext().db.sql.begin(async (tx) => {
			const r = await setHoldTx(tx, { studyId: id, hold, actor: user.username, reason, expectedVersion, at: new Date().toISOString() });
			if (r.status === 'applied') await audit(tx, user, hold ? 'study.hold' : 'study.unhold', `study:${id}`, reason, { expectedVersion });
			return r;
		});
		return outcomeResponse(out);
	});
