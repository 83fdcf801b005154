/** POST {readerId, expectedVersion, reason?}: put a study on a reader's worklist by hand. */
import type { RequestHandler } from './$types';
import { getContext } from '$lib/server/context';
import { audit, authorize } from '$lib/server/auth/guard';
import { assignStudyTx, manualAssignRefusal, type WorklistOutcome } from '$lib/server/routing/commands';
import { currentPolicy } from '$lib/server/routing/policy-store';
import { handleApi, idParam, intField, outcomeResponse, readBody, reasonField } from '$lib/server/routing/http';

export const POST: RequestHandler = ({ locals, params, request }) =>
	handleApi(async () => {
		const user = authorize(locals, 'steer_worklist');
		const id = idParam(params.id);
		const body = await readBody(request);
		const readerId = intField(body, 'readerId');
		const expectedVersion = intField(body, 'expectedVersion');
		const reason = reasonField(body, false);
		const { db, jobs } = getContext();
		const out = await db.sql.begin(async (tx): Promise<WorklistOutcome> => {
			const refusal = await manualAssignRefusal(tx, id, readerId);
			if (refusal) return { status: 'refused', reason: refusal };
			const [{ name }] = await tx`SELECT name FROM radiologists WHERE id = ${readerId}`;
			const stored = await currentPolicy(tx);
			const explanation = `assigned to ${name} by ${user.displayName} (${user.role})${reason ? `: ${reason}` : ''}`;
			const r = await assignStudyTx(tx, jobs, {
				studyId: id,
				readerId,
				actor: user.username,
				explanation,
				policyVersion: stored.version,
				expectedVersion,
				at: new Date().toISOString(),
				payload: { manual: true, reason }
			});
			if (r.status === 'applied') await audit(tx, user, 'study.assign', `study:${id}`, reason, { readerId, readerName: name, expectedVersion });
			return r;
		});
		return outcomeResponse(out);
	});
