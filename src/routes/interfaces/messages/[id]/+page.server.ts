import { error } from '@sveltejs/kit';
import type { PageServerLoad } from './$types';
import { getContext } from '$lib/server/context';
import { authorize } from '$lib/server/auth/guard';
import { splitSegments, viewRawMessage } from '$lib/server/queries/interfaces';

export const load: PageServerLoad = async ({ locals, params, setHeaders }) => {
	const user = authorize(locals, 'view_raw_messages');
	const id = Number(params.id);
	if (!/^\d+$/.test(params.id) || !Number.isSafeInteger(id)) error(404, { message: 'No such message.' });
	// PHI: never cached by the browser or a proxy.
	setHeaders({ 'cache-control': 'no-store' });
	// The read and its audit row commit together.
	const message = await getContext().db.sql.begin((tx) => viewRawMessage(tx, user, id));
	if (!message) error(404, { message: 'No such message.' });
	const { raw, ...header } = message;
	return { message: header, segments: splitSegments(raw) };
};
