import { fail, redirect } from '@sveltejs/kit';
import type { Actions, PageServerLoad } from './$types';
import { getContext } from '$lib/server/context';
import { login, SESSION_COOKIE, SESSION_TTL_MS } from '$lib/server/auth/users';
import { AuthError } from '$lib/server/auth/errors';

export const load: PageServerLoad = ({ locals }) => {
	if (locals.user) redirect(303, '/');
	return {};
};

function safeNext(next: string | null): string {
	// Only same-site paths: never redirect a fresh session to another origin.
	return next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

export const actions: Actions = {
	default: async ({ request, cookies, getClientAddress, url }) => {
		const form = await request.formData();
		const username = String(form.get('username') ?? '').trim();
		const password = String(form.get('password') ?? '');
		if (!username || !password) return fail(400, { username, message: 'Enter your username and password.' });
		try {
			const { token } = await login(getContext().db.sql, username, password, {
				ip: getClientAddress(),
				previousToken: cookies.get(SESSION_COOKIE)
			});
			cookies.set(SESSION_COOKIE, token, {
				path: '/',
				httpOnly: true,
				sameSite: 'strict',
				secure: url.protocol === 'https:',
				maxAge: Math.floor(SESSION_TTL_MS / 1000)
			});
		} catch (err) {
			if (err instanceof AuthError) return fail(err.status, { username, message: err.message });
			throw err;
		}
		redirect(303, safeNext(url.searchParams.get('next')));
	}
};
