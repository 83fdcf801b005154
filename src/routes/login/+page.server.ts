import { fail, redirect } from '@sveltejs/kit';
import type { Actions, PageServerLoad } from './$types';
import { getContext } from '$lib/server/context';
import { login, SESSION_ABSOLUTE_MS, SESSION_COOKIE } from '$lib/server/auth/users';
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
	default: async ({ request, cookies, getClientAddress, url, setHeaders }) => {
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
				// Scripts never read it: an injected script cannot steal the session.
				httpOnly: true,
				// Strict, not Lax: besides every mutation, some reads are audited (raw HL7, study
				// detail), and a cross-site link must not make them in the user's name. The cost, a
				// fresh sign-in after following a link from another site, suits a clinical console.
				sameSite: 'strict',
				// https directly, behind a TLS proxy (X-Forwarded-Proto) or with an https ORIGIN.
				secure: url.protocol === 'https:',
				// The server ends the session sooner when idle; the cookie never outlives the absolute limit.
				maxAge: Math.floor(SESSION_ABSOLUTE_MS / 1000)
			});
		} catch (err) {
			if (err instanceof AuthError) {
				if (err.retryAfterSeconds) setHeaders({ 'retry-after': String(err.retryAfterSeconds) });
				return fail(err.status, { username, message: err.message });
			}
			throw err;
		}
		redirect(303, safeNext(url.searchParams.get('next')));
	}
};
