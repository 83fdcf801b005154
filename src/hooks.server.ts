import type { Handle, HandleServerError } from '@sveltejs/kit';
import { getContext, hasContext } from '$lib/server/context';
import { SESSION_COOKIE, userForSession } from '$lib/server/auth/users';
import { can, Permission } from '$lib/domain/auth/roles';

const PUBLIC = ['/login', '/healthz'];
/** Machine-to-machine APIs authenticated by a bearer token, not a cookie: no CSRF exposure. */
const TOKEN_APIS = ['/dicomweb/'];
const SAFE_METHODS = ['GET', 'HEAD', 'OPTIONS'];
/**
 * Whole sections guarded here as well as in each load and action, so a page
 * added under them without its own check is still refused.
 */
const SECTION_PERMISSIONS: { prefix: string; permission: Permission }[] = [{ prefix: '/admin', permission: Permission.administer }];

/**
 * CSRF: state-changing requests must come from our own origin. SvelteKit checks
 * form posts; this also covers JSON endpoints called with fetch, and every
 * method (POST, PUT, PATCH, DELETE). Browsers always send Origin on these;
 * Sec-Fetch-Site covers the rare case they do not.
 */
function crossSite(request: Request, url: URL): boolean {
	if (SAFE_METHODS.includes(request.method)) return false;
	if (TOKEN_APIS.some((p) => url.pathname.startsWith(p))) return false;
	const origin = request.headers.get('origin');
	if (origin) return origin !== url.origin;
	const site = request.headers.get('sec-fetch-site');
	return site !== null && site !== 'same-origin' && site !== 'none';
}

/**
 * Headers on every response the app produces, refusals included. Pages get
 * their Content-Security-Policy from SvelteKit (kit.csp in svelte.config.js,
 * with nonces for its inline scripts); anything else gets a policy that
 * allows nothing, since it is data, not a document.
 */
function secure(response: Response, url: URL, signedIn: boolean): Response {
	const h = response.headers;
	// Responses from fetch() (and redirects) can have immutable headers.
	try {
		h.set('x-content-type-options', 'nosniff');
	} catch {
		return secure(new Response(response.body, response), url, signedIn);
	}
	h.set('x-frame-options', 'DENY');
	h.set('referrer-policy', 'same-origin');
	h.set('permissions-policy', 'camera=(), microphone=(), geolocation=(), usb=(), payment=()');
	h.set('cross-origin-opener-policy', 'same-origin');
	h.set('cross-origin-resource-policy', 'same-origin');
	if (!h.has('content-security-policy')) h.set('content-security-policy', "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
	// Only over https (directly, or a TLS proxy's X-Forwarded-Proto / ORIGIN): browsers ignore it on http anyway.
	if (url.protocol === 'https:') h.set('strict-transport-security', 'max-age=31536000; includeSubDomains');
	// Signed-in pages carry patient data: never stored by the browser or a shared proxy.
	if (signedIn && !h.has('cache-control')) h.set('cache-control', 'private, no-store');
	return response;
}

function unauthenticated(url: URL): Response {
	if (url.pathname.startsWith('/api/')) {
		return new Response(JSON.stringify({ message: 'Sign in first.', code: 'unauthenticated' }), {
			status: 401,
			headers: { 'content-type': 'application/json' }
		});
	}
	const next = encodeURIComponent(url.pathname + url.search);
	return new Response(null, { status: 303, headers: { location: `/login?next=${next}` } });
}

export const handle: Handle = async ({ event, resolve }) => {
	const { url } = event;
	if (!hasContext()) {
		return secure(new Response('Radflow is starting; run the dashboard with `radflow web` or `radflow start`.', { status: 503 }), url, false);
	}
	const { db } = getContext();
	if (crossSite(event.request, url)) {
		return secure(new Response('Cross-site request refused: send it from the Radflow dashboard itself.', { status: 403 }), url, false);
	}
	const token = event.cookies.get(SESSION_COOKIE) ?? null;
	event.locals.sessionToken = token;
	event.locals.user = token ? await userForSession(db.sql, token) : null;

	const isPublic = PUBLIC.some((p) => url.pathname === p) || TOKEN_APIS.some((p) => url.pathname.startsWith(p));
	const user = event.locals.user;
	if (!user && !isPublic) return secure(unauthenticated(url), url, false);
	const section = SECTION_PERMISSIONS.find((s) => url.pathname === s.prefix || url.pathname.startsWith(`${s.prefix}/`));
	if (user && section && !can(user.role, section.permission)) {
		const message = `Your role (${user.role}) may not ${section.permission.replace(/_/g, ' ')}.`;
		return secure(new Response(message, { status: 403, headers: { 'content-type': 'text/plain; charset=utf-8' } }), url, true);
	}
	return secure(await resolve(event), url, event.locals.user !== null);
};

export const handleError: HandleServerError = ({ error, event, status }) => {
	if (status !== 404 && hasContext()) {
		getContext().log.error('request error', { path: event.url.pathname, status, err: error });
	}
	return { message: status === 404 ? 'Not found.' : 'Something went wrong on the server; it has been logged.' };
};
