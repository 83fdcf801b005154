/**
 * HL7 v2 MLLP listener. Each connection is processed sequentially (ACK order =
 * message order); connections are independent, so a bad peer never affects others.
 *
 * @see docs/hl7-interface-spec.md for what a sending system can expect.
 */
import net from 'node:net';
import type { AckIdentity } from './ack';
import { ackIdGenerator } from './ack';
import { Hl7Connection } from './connection';
import { createStatsEmitter, type Hl7StatsEmitter } from './events';
import { DEFAULT_MAX_FRAME_BYTES } from './framing';
import type { Hl7Handler } from './handlers';
import { jsonLogger, type Hl7Logger } from './log';

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
}

export interface Hl7Server {
	readonly port: number;
	readonly stats: Hl7StatsEmitter;
	/** Stop listening, let in-flight messages finish and ACK, close every connection. Idempotent. */
	close(): Promise<void>;
}

export const DEFAULT_VERSIONS = /^2\.[2-9](\.\d+)*$/;

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

	const server = net.createServer({ noDelay: true, allowHalfOpen: true, keepAlive: true }, (socket) => {
		try {
			const id = `c${++seq}`;
			const conn = new Hl7Connection(socket, id, connectionOptions, deps);
			connections.add(conn);
			socket.once('close', () => connections.delete(conn));
		} catch (err) {
			logger.error('hl7.accept_failed', { error: String(err) });
			socket.destroy();
		}
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
	logger.info('hl7.listening', { port, host: options.host ?? '0.0.0.0' });

	let closing: Promise<void> | undefined;
	return {
		port,
		stats,
		close() {
			closing ??= (async () => {
				const stopped = new Promise<void>((r) => server.close(() => r()));
				await Promise.all([...connections].map((c) => c.close(options.drainTimeoutMs ?? 5_000)));
				await stopped;
				logger.info('hl7.stopped', { port });
			})();
			return closing;
		}
	};
}
