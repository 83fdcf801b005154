import { redirect } from '@sveltejs/kit';
import type { RequestHandler } from './$types';
import { getContext } from '$lib/server/context';
import { logout, SESSION_COOKIE } from '$lib/server/auth/users';

export const POST: RequestHandler = async ({ locals, cookies }) => {
	if (locals.sessionToken) await logout(getContext().db.sql, locals.sessionToken, locals.user);
	cookies.delete(SESSION_COOKIE, { path: '/' });
	redirect(303, '/login');
};
