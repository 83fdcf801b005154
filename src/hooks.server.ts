import type { Handle, HandleServerError } from '@sveltejs/kit';
import { getContext, hasContext } from '$lib/server/context';
import { SESSION_COOKIE, userForSession } from '$lib/server/auth/users';

const PUBLIC = ['/login', '/healthz'];
const TOKEN_APIS = ['/dicomweb/'];

/**
 * CSRF: state-changing requests must come from our own origin. SvelteKit checks
 * form posts; this also covers JSON endpoints called with fetch.
 */
function crossSite(request: Request, url: URL): boolean {
	if (['GET', 'HEAD', 'OPTIONS'].includes(request.method)) return false;
	if (TOKEN_APIS.some((p) => url.pathname.startsWith(p))) return false;
	const origin = request.headers.get('origin');
	if (origin) return origin !== url.origin;
	const site = request.headers.get('sec-fetch-site');
	return site !== null && site !== 'same-origin' && site !== 'none';
}

export const handle: Handle = async ({ event, resolve }) => {
	if (!hasContext()) {
		return new Response('Radflow is starting; run the dashboard with `radflow web` or `radflow start`.', { status: 503 });
	}
	const { db } = getContext();
	if (crossSite(event.request, event.url)) {
		return new Response('Cross-site request refused.', { status: 403 });
	}
	const token = event.cookies.get(SESSION_COOKIE) ?? null;
	event.locals.sessionToken = token;
	event.locals.user = token ? await userForSession(db.sql, token) : null;

	const isPublic = PUBLIC.some((p) => event.url.pathname === p) || TOKEN_APIS.some((p) => event.url.pathname.startsWith(p));
	if (!event.locals.user && !isPublic) {
		if (event.url.pathname.startsWith('/api/')) {
			return new Response(JSON.stringify({ message: 'Sign in first.', code: 'unauthenticated' }), {
				status: 401,
				headers: { 'content-type': 'application/json' }
			});
		}
		const next = encodeURIComponent(event.url.pathname + event.url.search);
		return new Response(null, { status: 303, headers: { location: `/login?next=${next}` } });
	}

	const response = await resolve(event);
	response.headers.set('x-content-type-options', 'nosniff');
	response.headers.set('x-frame-options', 'DENY');
	response.headers.set('referrer-policy', 'same-origin');
	response.headers.set('permissions-policy', 'camera=(), microphone=(), geolocation=()');
	return response;
};

export const handleError: HandleServerError = ({ error, event, status }) => {
	if (status !== 404 && hasContext()) {
		getContext().log.error('request error', { path: event.url.pathname, status, err: error });
	}
	return { message: status === 404 ? 'Not found.' : 'Something went wrong on the server; it has been logged.' };
};
