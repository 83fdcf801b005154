/**
 * POST /criticals/<flagId>/confirm or /dismiss with JSON {reason}: a charge
 * radiologist's or admin's decision on an AI critical finding (a dismissal
 * needs a reason). Answers JSON: 200 {flag, studyFlag}, or {message, code}
 * with 400/403/404/409/422.
 */
import { json } from '@sveltejs/kit';
import type { RequestHandler } from './$types';
import { getContext } from '$lib/server/context';
import { authorize } from '$lib/server/auth/guard';
import { CriticalDecision, CriticalsError, decideCritical } from '$lib/server/triage/criticals';

const problem = (status: number, code: string, message: string) => json({ message, code }, { status });

export const POST: RequestHandler = async ({ locals, params, request }) => {
	const user = authorize(locals, 'decide_criticals');
	const flagId = Number(params.id);
	if (!Number.isSafeInteger(flagId) || flagId <= 0) return problem(400, 'bad_request', 'Unknown flag id.');
	const decision = params.decision;
	if (decision !== CriticalDecision.confirm && decision !== CriticalDecision.dismiss) return problem(404, 'not_found', 'Use /confirm or /dismiss.');
	let body: Record<string, unknown> = {};
	try {
		const text = await request.text();
		body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
	} catch {
		return problem(400, 'bad_request', 'The body must be JSON.');
	}
	const reason = typeof body.reason === 'string' ? body.reason.slice(0, 500) : null;
	try {
		const r = await decideCritical(getContext().db.sql, user, { flagId, decision, reason });
		return json({ flag: r.flag, studyFlag: r.studyFlag });
	} catch (err) {
		if (err instanceof CriticalsError) return problem(err.status, err.code, err.message);
		throw err;
	}
};
