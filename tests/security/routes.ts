/**
 * Every HTTP endpoint the dashboard serves, read from the filesystem the way
 * SvelteKit reads it: a page (GET) per +page.svelte, one endpoint per method
 * a +server.ts exports, one POST per form action in a +page.server.ts.
 * Tests compare this list with their expectations, so a new route without an
 * entry fails them.
 */
import fs from 'node:fs';
import path from 'node:path';

export const ROUTES_DIR = path.resolve(import.meta.dirname, '../../src/routes');

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'fallback'] as const;

/** `GET /admin/users`, `POST /api/studies/[id]/hold`, `POST /admin/users?/create`, `POST /login?/default`. */
export type EndpointKey = string;

function walk(dir: string): string[] {
	return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/** `/admin/users` from `.../src/routes/admin/users/+page.svelte`; route groups `(x)` vanish as in SvelteKit. */
function routeId(file: string): string {
	const rel = path.relative(ROUTES_DIR, path.dirname(file)).split(path.sep).filter((p) => p && !/^\(.+\)$/.test(p));
	return `/${rel.join('/')}`;
}

/** The form actions a +page.server.ts declares (its exported `actions` object's keys). */
async function actionNames(file: string): Promise<string[]> {
	const mod = (await import(file)) as { actions?: Record<string, unknown> };
	return Object.keys(mod.actions ?? {});
}

/** The methods a +server.ts exports. */
async function serverMethods(file: string): Promise<string[]> {
	const mod = (await import(file)) as Record<string, unknown>;
	return METHODS.filter((m) => typeof mod[m] === 'function');
}

export async function discoverEndpoints(): Promise<EndpointKey[]> {
	const keys: EndpointKey[] = [];
	for (const file of walk(ROUTES_DIR)) {
		const name = path.basename(file);
		const id = routeId(file);
		if (name === '+page.svelte') keys.push(`GET ${id}`);
		else if (name === '+server.ts' || name === '+server.js') keys.push(...(await serverMethods(file)).map((m) => `${m} ${id}`));
		else if (name === '+page.server.ts' || name === '+page.server.js') keys.push(...(await actionNames(file)).map((a) => `POST ${id}?/${a}`));
	}
	return keys.sort();
}
