/**
 * The web role: the built SvelteKit app (adapter-node handler) behind our own
 * HTTP server, with socket.io attached for live updates.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConfigError } from '../../src/lib/server/config';
import type { AppContext } from '../../src/lib/server/context';
import { startRealtime } from '../../src/lib/server/realtime/hub';
import type { RoleHandle } from '../runtime';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BUILD = path.join(ROOT, 'build');

function newestMtime(dir: string): number {
	let newest = 0;
	for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
		const p = path.join(dir, entry.name);
		newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs);
	}
	return newest;
}

/** Build the dashboard when there is no build or the sources are newer. */
export function ensureBuild(log: AppContext['log']): void {
	const marker = path.join(BUILD, 'handler.js');
	const stale = !fs.existsSync(marker) || newestMtime(path.join(ROOT, 'src')) > fs.statSync(marker).mtimeMs;
	if (!stale || process.env.RADFLOW_SKIP_BUILD === '1') return;
	log.info('building the dashboard (first start or changed sources; about a minute)…');
	const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], {
		cwd: ROOT,
		stdio: ['ignore', 'inherit', 'inherit']
	});
	if (r.status !== 0) throw new Error('Building the dashboard failed (see above): run `npm run build` to see the error.');
}

export type RequestHook = (req: http.IncomingMessage, res: http.ServerResponse) => boolean | Promise<boolean>;

export async function startWeb(ctx: AppContext, options: { hooks?: RequestHook[] } = {}): Promise<RoleHandle & { port: number; server: http.Server }> {
	const log = ctx.log.child('web');
	// Large DICOMweb uploads are streamed by their own handler with their own cap.
	process.env.BODY_SIZE_LIMIT ??= '10M';
	// adapter-node assumes https unless told: take the scheme from a TLS proxy's
	// x-forwarded-proto, or plain http when we are reached directly.
	if (ctx.config.origin) process.env.ORIGIN = ctx.config.origin;
	else process.env.PROTOCOL_HEADER ??= 'x-forwarded-proto';
	// The port is claimed first, so a clash is reported at once, not after a build.
	let handler: ((req: http.IncomingMessage, res: http.ServerResponse) => void) | null = null;
	const hooks = options.hooks ?? [];
	const server = http.createServer(async (req, res) => {
		try {
			if (!ctx.config.origin && !req.headers['x-forwarded-proto']) req.headers['x-forwarded-proto'] = 'http';
			for (const hook of hooks) if (await hook(req, res)) return;
			if (!handler) {
				res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '5' });
				res.end('Radflow is starting; try again in a few seconds.');
				return;
			}
			handler(req, res);
		} catch (err) {
			log.error('request failed', { err, path: req.url?.split('?')[0] });
			if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
			res.end('internal error');
		}
	});
	server.keepAliveTimeout = 65_000;
	await new Promise<void>((resolve, reject) => {
		server.once('error', (err: NodeJS.ErrnoException) => {
			reject(
				err.code === 'EADDRINUSE'
					? new ConfigError(`PORT ${ctx.config.port} is already in use: stop the other program or start with PORT=<free port>.`)
					: err.code === 'EACCES'
						? new ConfigError(`PORT ${ctx.config.port} needs privileges: use a port above 1023.`)
						: err
			);
		});
		server.listen(ctx.config.port, ctx.config.host, () => resolve());
	});
	try {
		ensureBuild(log);
		const mod = (await import(pathToFileURL(path.join(BUILD, 'handler.js')).href)) as { handler: typeof handler };
		handler = mod.handler;
	} catch (err) {
		server.close();
		throw err;
	}
	const realtime = await startRealtime(server, ctx.db, log.child('realtime'));
	const port = (server.address() as { port: number }).port;
	log.info('dashboard listening', { url: `http://localhost:${port}` });
	return {
		name: 'web',
		port,
		server,
		async stop() {
			await realtime.close();
			server.closeAllConnections();
			await new Promise<void>((r) => server.close(() => r()));
		}
	};
}
