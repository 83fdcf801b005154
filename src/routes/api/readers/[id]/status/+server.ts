/** POST {status: 'reading' | 'paused', reason?}: pause or resume a reader. */
import { json } from '@sveltejs/kit';
import type { RequestHandler } from './$types';
import { getContext } from '$lib/server/context';
import { audit, authorize } from '$lib/server/auth/guard';
import { setReaderStatusTx } from '$lib/server/routing/commands';
import { ApiError, handleApi, idParam, readBody, reasonField } from '$lib/server/routing/http';

export const POST: RequestHandler = ({ locals, params, request }) =>
	handleApi(async () => {
		const user = authorize(locals, 'steer_worklist');
		const id = idParam(params.id, 'reader');
		const body = await readBody(request);
		const status = body.status;
		if (status !== 'reading' && status !== 'paused') throw new ApiError(400, 'bad_request', "status must be 'reading' or 'paused'.");
		const reason = reasonField(body, false);
		const out = await getContext().db.sql.begin(async (tx) => {
			const r = await setReaderStatusTx(tx, { readerId: id, status, actor: user.username, reason, at: new Date().toISOString() });
			if (r.status === 'applied') {
				await audit(tx, user, status === 'paused' ? 'reader.pause' : 'reader.resume', `reader:${id}`, reason, { previous: r.previous });
			}
			return r;
		});
		switch (out.status) {
			case 'applied':
				return json({ reader: out.reader });
			case 'refused':
				return json({ code: 'refused', message: `${out.reason}.` }, { status: 422 });
			case 'not_found':
				return json({ code: 'not_found', message: 'No such reader.' }, { status: 404 });
			default:
				return out satisfies never;
		}
	});
