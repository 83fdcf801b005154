/**
 * HL7 v2 MLLP listener. Each connection is processed sequentially (ACK order =
 * message order); connections are independent, so a bad peer never affects others.
 *
 * @see docs/hl7-interface-spec.md for what a sending system can expect.
 */
import net from 'node:net';
import tls from 'node:tls';
import { ConfigError } from '../../src/lib/server/config';
import type { AckIdentity } from './ack';
import { ackIdGenerator } from './ack';
import { Hl7Connection } from './connection';
import { createStatsEmitter, type Hl7StatsEmitter } from './events';
import { DEFAULT_MAX_FRAME_BYTES } from './framing';
import type { Hl7Handler } from './handlers';
import { jsonLogger, type Hl7Logger } from './log';
import { DEFAULT_ALLOWED_PEERS, resolvePeerAllowList, type PeerAllowList } from './peers';
import { hl7TlsFromEnv, secureServerOptions, type Hl7TlsOptions } from './tls';

export interface Hl7ServerOptions {
	/** 0 picks a free port (see the returned `port`). */
	port: number;
	host?: string;
	/** Largest MLLP payload accepted; larger frames get AR (or a clean close). Default 1 MiB. */
	maxFrameBytes?: number;
	handler: Hl7Handler;
	/** Message types Radflow does not map: 'ack' passes them to the handler (AA once it resolves), 'reject' answers AR 200/201. Default 'reject'. */
	unknownTypes?: 'ack' | 'reject';
	/** Close a connection idle this long; 0 disables. Default 15 minutes. */
	idleTimeoutMs?: number;
	/** Frames queued per connection before reading pauses. Default 64. */
	maxQueuedFrames?: number;
	/** Consecutive unparseable frames before a connection is closed. Default 20. */
	maxConsecutiveErrors?: number;
	/** MSH-12 versions accepted. Default 2.2 – 2.9 (any sub-release). */
	versions?: RegExp;
	/** Our MSH-3/MSH-4 when the sender left MSH-5/MSH-6 empty. */
	identity?: AckIdentity;
	/** Offset east of UTC (minutes) for sender timestamps without one. Default 0. */
	defaultOffsetMinutes?: number;
	/** Time a stopping server waits for in-flight handlers. Default 5 s. */
	drainTimeoutMs?: number;
	/** Peers allowed to connect: addresses, CIDR blocks, host names, comma-separated; '*' = any (the default here; the hl7 role defaults to this machine only). */
	allowedPeers?: string;
	/** MLLP inside TLS; with `requestCert`, only peers with a certificate signed by `ca`. */
	tls?: Hl7TlsOptions;
	/** Open connections across all peers; more are closed at once. Default 256. */
	maxConnections?: number;
	/** Open connections from one address; more are closed at once. Default 32. */
	maxConnectionsPerPeer?: number;
}

/** Connections refused before any HL7 was read, by reason. */
export interface Hl7RefusalCounts {
	notAllowed: number;
	overCapacity: number;
	tlsHandshake: number;
}

export interface Hl7Server {
	readonly port: number;
	readonly stats: Hl7StatsEmitter;
	readonly tls: boolean;
	readonly refused: Readonly<Hl7RefusalCounts>;
	/** Stop listening, let in-flight messages finish and ACK, close every connection. Idempotent. */
	close(): Promise<void>;
}

export const DEFAULT_VERSIONS = /^2\.[2-9](\.\d+)*$/;

/**
 * The listener's security settings from the environment: HL7_ALLOWED_PEERS
 * (default: this machine only), HL7_TLS_* (see tls.ts), HL7_MAX_CONNECTIONS,
 * HL7_MAX_CONNECTIONS_PER_PEER.
 * @throws ConfigError with the variable to fix
 */
export function hl7SecurityFromEnv(env: Record<string, string | undefined>): Pick<Hl7ServerOptions, 'allowedPeers' | 'tls' | 'maxConnections' | 'maxConnectionsPerPeer'> {
	const count = (name: string) => {
		const raw = env[name];
		if (raw === undefined || raw === '') return undefined;
		const n = Number(raw);
		if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`${name}=${raw} must be a positive whole number.`);
		return n;
	};
	let tlsOptions: Hl7TlsOptions | undefined;
	try {
		tlsOptions = hl7TlsFromEnv(env);
	} catch (cause) {
		throw new ConfigError(`HL7 TLS: ${(cause as Error).message}.`, { cause });
	}
	return {
		allowedPeers: env.HL7_ALLOWED_PEERS ?? DEFAULT_ALLOWED_PEERS,
		tls: tlsOptions,
		maxConnections: count('HL7_MAX_CONNECTIONS'),
		maxConnectionsPerPeer: count('HL7_MAX_CONNECTIONS_PER_PEER')
	};
}

/** Start an MLLP listener; resolves once it is listening. */
export async function startHl7Server(options: Hl7ServerOptions, logger: Hl7Logger = jsonLogger()): Promise<Hl7Server> {
	const stats = createStatsEmitter();
	const connections = new Set<Hl7Connection>();
	const nextAckId = ackIdGenerator();
	let seq = 0;
	const connectionOptions = {
		maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
		unknownTypes: options.unknownTypes ?? 'reject',
		idleTimeoutMs: options.idleTimeoutMs ?? 15 * 60_000,
		maxQueuedFrames: options.maxQueuedFrames ?? 64,
		maxConsecutiveErrors: options.maxConsecutiveErrors ?? 20,
		versions: options.versions ?? DEFAULT_VERSIONS,
		identity: options.identity ?? { application: 'RADFLOW', facility: '' },
		defaultOffsetMinutes: options.defaultOffsetMinutes ?? 0
	};
	const deps = { handler: options.handler, stats, logger, nextAckId, now: () => new Date() };

	let allowList: PeerAllowList;
	try {
		allowList = await resolvePeerAllowList(options.allowedPeers ?? '*');
	} catch (cause) {
		throw new ConfigError(`${(cause as Error).message}.`, { cause });
	}
	if (!allowList.any && allowList.entries.length === 0) {
		logger.warn('hl7.no_peers_allowed', { hint: 'HL7_ALLOWED_PEERS is empty: every connection is refused. List your interface engines (addresses or CIDR blocks), or * for any.' });
	}
	const maxConnections = options.maxConnections ?? 256;
	const maxPerPeer = options.maxConnectionsPerPeer ?? 32;
	const refused: Hl7RefusalCounts = { notAllowed: 0, overCapacity: 0, tlsHandshake: 0 };
	const rawSockets = new Set<net.Socket>();
	const perPeer = new Map<string, number>();

	const open = (socket: net.Socket) => {
		try {
			const id = `c${++seq}`;
			const conn = new Hl7Connection(socket, id, connectionOptions, deps);
			connections.add(conn);
			socket.once('close', () => connections.delete(conn));
		} catch (err) {
			logger.error('hl7.accept_failed', { error: String(err) });
			socket.destroy();
		}
	};

	/** Why a new TCP connection is refused before anything is read from it, or null to admit it. */
	const refusal = (socket: net.Socket): keyof Hl7RefusalCounts | null => {
		if (!allowList.allows(socket.remoteAddress)) return 'notAllowed';
		if (rawSockets.size >= maxConnections || (perPeer.get(socket.remoteAddress ?? '') ?? 0) >= maxPerPeer) return 'overCapacity';
		return null;
	};

	// TLS connections are admitted (allow-list, caps) on the raw TCP socket, before the handshake costs anything.
	const tlsServer = options.tls
		? tls.createServer({ ...secureServerOptions(options.tls), allowHalfOpen: true }, (socket) => open(socket))
		: null;
	tlsServer?.on('tlsClientError', (err: NodeJS.ErrnoException, socket) => {
		refused.tlsHandshake++;
		logger.warn('hl7.tls_refused', { remoteAddress: socket.remoteAddress ?? null, code: err.code ?? null, error: err.message });
		socket.destroy();
	});

	const server = net.createServer({ noDelay: true, allowHalfOpen: true, keepAlive: true }, (socket) => {
		const why = refusal(socket);
		if (why) {
			refused[why]++;
			logger.warn('hl7.peer_refused', { remoteAddress: socket.remoteAddress ?? null, reason: why, open: rawSockets.size });
			socket.destroy();
			return;
		}
		const peer = socket.remoteAddress ?? '';
		rawSockets.add(socket);
		perPeer.set(peer, (perPeer.get(peer) ?? 0) + 1);
		socket.once('close', () => {
			rawSockets.delete(socket);
			const left = (perPeer.get(peer) ?? 1) - 1;
			if (left > 0) perPeer.set(peer, left);
			else perPeer.delete(peer);
		});
		if (tlsServer) tlsServer.emit('connection', socket);
		else open(socket);
	});
	server.on('error', (err) => logger.error('hl7.server_error', { error: String(err) }));

	await new Promise<void>((resolve, reject) => {
		server.once('error', reject);
		server.listen(options.port, options.host ?? '0.0.0.0', () => {
			server.off('error', reject);
			resolve();
		});
	});
	const address = server.address();
	const port = typeof address === 'object' && address ? address.port : options.port;
	logger.info('hl7.listening', {
		port,
		host: options.host ?? '0.0.0.0',
		tls: !!options.tls,
		clientCertificates: !!options.tls?.requestCert,
		allowedPeers: allowList.any ? '*' : allowList.entries.join(','),
		maxConnections,
		maxConnectionsPerPeer: maxPerPeer
	});

	let closing: Promise<void> | undefined;
	return {
		port,
		stats,
		tls: !!options.tls,
		refused,
		close() {
			closing ??= (async () => {
				const stopped = new Promise<void>((r) => server.close(() => r()));
				await Promise.all([...connections].map((c) => c.close(options.drainTimeoutMs ?? 5_000)));
				// Connections still in their TLS handshake never became HL7 connections.
				for (const s of rawSockets) s.destroy();
				await stopped;
				logger.info('hl7.stopped', { port });
			})();
			return closing;
		}
	};
}
