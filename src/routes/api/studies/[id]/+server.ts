/** GET one study with its timeline, AI results, assignments, clinical context and priors. The read is audited. */
import { json } from '@sveltejs/kit';
import type { RequestHandler } from './$types';
import { getContext } from '$lib/server/context';
import { audit, authorize } from '$lib/server/auth/guard';
import { loadStudyDetail } from '$lib/server/routing/queries';
import { handleApi, idParam } from '$lib/server/routing/http';

export const GET: RequestHandler = ({ locals, params }) =>
	handleApi(async () => {
		const user = authorize(locals, 'view');
		const id = idParam(params.id);
		const detail = await getContext().db.sql.begin(async (tx) => {
			const d = await loadStudyDetail(tx, id);
			// Patient details were read: record who looked, in the same transaction as the read.
			if (d) await audit(tx, user, 'study.view', `study:${id}`, null, { patientId: d.study.patientId ?? null });
			return d;
		});
		if (!detail) return json({ code: 'not_found', message: 'No such study.' }, { status: 404 });
		return json(detail);
	});
