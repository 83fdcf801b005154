/** POST {expectedVersion, reason?}: return a study to the pool. */
import type { RequestHandler } from './$types';
import { getContext } from '$lib/server/context';
import { audit, authorize } from '$lib/server/auth/guard';
import { releaseStudyTx } from '$lib/server/routing/commands';
import { handleApi, idParam, intField, outcomeResponse, readBody, reasonField } from '$lib/server/routing/http';

export const POST: RequestHandler = ({ locals, params, request }) =>
	handleApi(async () => {
		const user = authorize(locals, 'steer_worklist');
		const id = idParam(params.id);
		const body = await readBody(request);
		const expectedVersion = intField(body, 'expectedVersion');
		const reason = reasonField(body, false);
		const { db, jobs } = getContext();
		const out = await db.sql.begin(async (tx) => {
			const r = await releaseStudyTx(tx, jobs, { studyId: id, actor: user.username, reason, expectedVersion, at: new Date().toISOString() });
			if (r.status === 'applied') await audit(tx, user, 'study.release', `study:${id}`, reason, { expectedVersion });
			return r;
		});
		return outcomeResponse(out);
	});
