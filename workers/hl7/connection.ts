/**
 * One MLLP connection: frames in, one message processed at a time, ACKs out in
 * message order. In enhanced mode a handler may accept a message (CA) before
 * applying it: the next message then goes on, and the application ack follows
 * when that one is applied. Nothing thrown here escapes into a socket callback: every failure
 * becomes a NACK, a log line, or a clean close of this connection only.
 *
 * @see HL7 v2.5.1 Ch. 2.9 (original and enhanced acknowledgment), Appendix C (MLLP)
 */
import { safeErrorText } from '../../src/lib/server/log';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Hl7ApplicationError, Hl7ErrorCode } from '../../src/lib/domain/hl7/errors';
import { idempotencyKeyOf } from '../../src/lib/domain/hl7/map';
import { AckCode, buildAck, wantsAck, type AckError, type AckIdentity } from './ack';
import type { Hl7StatsEmitter, Hl7StatsEventMap } from './events';
import { encodeMllp, MllpDecoder, type MllpEvent } from './framing';
import { mapInbound, type Hl7Handler, type Hl7Inbound } from './handlers';
import type { Hl7Logger } from './log';
import { encodeText, Hl7ParseError, parseHl7Message, peekHeader, type MshHeader, type ParsedHl7Message } from './message';

export interface ConnectionOptions {
	maxFrameBytes: number;
	unknownTypes: 'ack' | 'reject';
	idleTimeoutMs: number;
	/** Frames queued before the socket is paused (back-pressure on pipelining senders). */
	maxQueuedFrames: number;
	/** Close after this many consecutive unparseable frames (a peer that is not speaking HL7). */
	maxConsecutiveErrors: number;
	/** MSH-12 values accepted. */
	versions: RegExp;
	identity: AckIdentity;
	defaultOffsetMinutes: number;
}

export interface ConnectionDeps {
	handler: Hl7Handler;
	stats: Hl7StatsEmitter;
	logger: Hl7Logger;
	nextAckId: () => string;
	now: () => Date;
}

type Work = Extract<MllpEvent, { type: 'frame' | 'oversized' }> & { at: number };

interface Failure extends AckError {
	ack: 'AE' | 'AR';
}

function failureOf(err: unknown): Failure {
	if (err instanceof Hl7ApplicationError) {
		return { ack: err.ack, code: err.code, location: err.location, text: err.message };
	}
	return { ack: 'AR', code: Hl7ErrorCode.applicationInternalError, text: 'internal error, resend later' };
}

export class Hl7Connection {
	readonly id: string;
	private readonly decoder: MllpDecoder;
	private readonly queue: Work[] = [];
	private busy = false;
	private closed = false;
	private stopping = false;
	private peerEnded = false;
	private paused = false;
	private consecutiveErrors = 0;
	private messages = 0;
	private idleWaiters: (() => void)[] = [];
	/** Messages past their CA (two-phase) whose application ack is still to come. */
	private readonly background = new Set<Promise<void>>();
	private readonly remoteAddress: string;
	private readonly remotePort: number;

	constructor(
		private readonly socket: Socket,
		id: string,
		private readonly options: ConnectionOptions,
		private readonly deps: ConnectionDeps
	) {
		this.id = id;
		this.remoteAddress = socket.remoteAddress ?? '';
		this.remotePort = socket.remotePort ?? 0;
		this.decoder = new MllpDecoder({ maxFrameBytes: options.maxFrameBytes });
		socket.setNoDelay(true);
		socket.setKeepAlive(true, 60_000);
		if (options.idleTimeoutMs > 0) socket.setTimeout(options.idleTimeoutMs);
		socket.on('data', (chunk: Buffer) => this.guard('data', () => this.onData(chunk)));
		socket.on('end', () => this.guard('end', () => this.onEnd()));
		socket.on('timeout', () => this.guard('timeout', () => this.onTimeout()));
		socket.on('error', (err: NodeJS.ErrnoException) => {
			this.deps.logger.warn('hl7.socket_error', { connectionId: this.id, code: err.code ?? err.name });
		});
		socket.on('close', () => this.guard('close', () => this.onClose()));
		this.emit('connection', { connectionId: id, state: 'open', remoteAddress: this.remoteAddress, remotePort: this.remotePort });
		this.deps.logger.info('hl7.connection_open', { connectionId: id, remoteAddress: this.remoteAddress, remotePort: this.remotePort });
	}

	/** Stop reading, let the message in progress finish and ACK, then close. */
	async close(drainTimeoutMs = 5_000): Promise<void> {
		if (this.closed) return;
		this.stopping = true;
		this.queue.length = 0;
		this.socket.pause();
		const idle = this.idle ? Promise.resolve() : new Promise<void>((r) => this.idleWaiters.push(r));
		let timer: NodeJS.Timeout | undefined;
		await Promise.race([idle, new Promise<void>((r) => (timer = setTimeout(r, drainTimeoutMs)))]);
		clearTimeout(timer);
		await this.end();
	}

	private end(): Promise<void> {
		if (this.closed) return Promise.resolve();
		return new Promise<void>((resolve) => {
			this.socket.once('close', () => resolve());
			this.socket.end();
			// A peer that never reads would keep the socket half-open forever.
			setTimeout(() => this.socket.destroy(), 2_000).unref();
		});
	}

	private guard(where: string, fn: () => void): void {
		try {
			fn();
		} catch (err) {
			this.deps.logger.error('hl7.connection_bug', { connectionId: this.id, where, error: safeErrorText(err) });
			this.socket.destroy();
		}
	}

	private emit<K extends keyof Hl7StatsEventMap>(event: K, ...args: Hl7StatsEventMap[K]): void {
		try {
			(this.deps.stats.emit as (e: K, ...a: Hl7StatsEventMap[K]) => boolean)(event, ...args);
		} catch (err) {
			this.deps.logger.warn('hl7.stats_listener_failed', { event, error: String(err) });
		}
	}

	private onData(chunk: Buffer): void {
		if (this.stopping) return;
		this.accept(this.decoder.push(chunk));
	}

	private onEnd(): void {
		// allowHalfOpen: the peer is done sending, but still gets the ACKs for what it sent.
		this.peerEnded = true;
		this.accept(this.decoder.end());
		if (this.idle && this.queue.length === 0) void this.end();
	}

	private onTimeout(): void {
		if (!this.idle || this.queue.length > 0) return;
		this.deps.logger.info('hl7.idle_timeout', { connectionId: this.id, idleTimeoutMs: this.options.idleTimeoutMs });
		void this.end();
	}

	private onClose(): void {
		this.closed = true;
		const dropped = this.queue.length;
		this.queue.length = 0;
		this.emit('connection', {
			connectionId: this.id,
			state: 'closed',
			remoteAddress: this.remoteAddress,
			remotePort: this.remotePort,
			reason: this.stopping ? 'server_close' : 'peer_close',
			messages: this.messages
		});
		this.deps.logger.info('hl7.connection_closed', { connectionId: this.id, messages: this.messages, unprocessedFrames: dropped });
		for (const w of this.idleWaiters.splice(0)) w();
	}

	private accept(events: MllpEvent[]): void {
		for (const ev of events) {
			if (ev.type === 'junk') {
				this.deps.logger.warn('hl7.junk', { connectionId: this.id, bytes: ev.bytes, reason: ev.reason });
				this.emit('junk', { connectionId: this.id, bytes: ev.bytes, reason: ev.reason });
				continue;
			}
			this.queue.push({ ...ev, at: performance.now() });
		}
		if (this.queue.length >= this.options.maxQueuedFrames && !this.paused) {
			this.paused = true;
			this.socket.pause();
		}
		void this.pump();
	}

	private async pump(): Promise<void> {
		if (this.busy) return;
		this.busy = true;
		try {
			while (this.queue.length > 0 && !this.closed) {
				const work = this.queue.shift()!;
				if (this.paused && this.queue.length < this.options.maxQueuedFrames / 2 && !this.stopping) {
					this.paused = false;
					this.socket.resume();
				}
				await this.process(work);
				if (this.socket.writableNeedDrain) await this.drained();
			}
		} finally {
			this.busy = false;
			if (this.background.size === 0) this.settledAll();
		}
	}

	/** No message in progress, none waiting for its application ack. */
	private get idle(): boolean {
		return !this.busy && this.background.size === 0;
	}

	/** Everything received so far is answered: wake close(), and end a connection whose peer is done. */
	private settledAll(): void {
		for (const w of this.idleWaiters.splice(0)) w();
		if (this.peerEnded && this.queue.length === 0) void this.end();
	}

	private drained(): Promise<void> {
		return new Promise((resolve) => {
			const done = () => {
				this.socket.off('drain', done);
				this.socket.off('close', done);
				resolve();
			};
			this.socket.on('drain', done);
			this.socket.on('close', done);
		});
	}

	private send(header: MshHeader | null, code: AckCode, error?: AckError, noFurtherAck = false): void {
		if (this.closed || !this.socket.writable) return;
		const text = buildAck({
			header,
			code,
			controlId: this.deps.nextAckId(),
			now: this.deps.now(),
			error,
			identity: this.options.identity,
			noFurtherAck
		});
		this.socket.write(encodeMllp(encodeText(text, header)));
	}

	private async process(work: Work): Promise<void> {
		try {
			if (work.type === 'oversized') return this.oversized(work.bytes, work.head);
			let message: ParsedHl7Message;
			try {
				message = parseHl7Message(work.payload);
			} catch (err) {
				const header = err instanceof Hl7ParseError ? err.header : peekHeader(work.payload);
				this.consecutiveErrors++;
				this.nack(header, failureOf(err), null, null, false);
				if (this.consecutiveErrors >= this.options.maxConsecutiveErrors) {
					this.deps.logger.warn('hl7.too_many_errors', { connectionId: this.id, count: this.consecutiveErrors });
					this.stopping = true;
					this.queue.length = 0;
					void this.end();
				}
				return;
			}
			this.consecutiveErrors = 0;
			await this.handle(message, work.at);
		} catch (err) {
			this.deps.logger.error('hl7.process_failed', { connectionId: this.id, error: safeErrorText(err) });
		}
	}

	private oversized(bytes: number, head: Buffer): void {
		const header = peekHeader(head);
		const text = `message of ${bytes} bytes exceeds the ${this.options.maxFrameBytes} byte limit`;
		this.deps.logger.warn('hl7.oversized', { connectionId: this.id, bytes, controlId: header?.controlId ?? null });
		if (!header) {
			// Not even a header to address a NACK to: close this connection cleanly.
			this.emitNack(null, null, { ack: 'AR', code: Hl7ErrorCode.applicationInternalError, text }, null, null);
			this.stopping = true;
			this.queue.length = 0;
			void this.end();
			return;
		}
		this.nack(header, { ack: 'AR', code: Hl7ErrorCode.applicationInternalError, text }, null, null, false);
	}

	private async handle(message: ParsedHl7Message, at: number): Promise<void> {
		const h = message.header;
		if (h.messageType === 'ACK') {
			// An ACK to our enhanced-mode application ack: never acknowledge an acknowledgment.
			this.deps.logger.debug('hl7.ack_received', { connectionId: this.id, controlId: h.controlId });
			return;
		}
		const enhanced = h.acceptAckType !== '' || h.applicationAckType !== '';
		if (message.charsetWarning) {
			this.deps.logger.warn('hl7.charset', { connectionId: this.id, controlId: h.controlId, warning: message.charsetWarning });
		}
		let inbound: Hl7Inbound;
		try {
			if (!h.controlId) {
				throw new Hl7ApplicationError(Hl7ErrorCode.requiredFieldMissing, 'MSH-10 message control id missing', {
					location: { segment: 'MSH', sequence: 1, field: 10 }
				});
			}
			if (!h.messageType) {
				throw new Hl7ApplicationError(Hl7ErrorCode.requiredFieldMissing, 'MSH-9 message type missing', {
					location: { segment: 'MSH', sequence: 1, field: 9 }
				});
			}
			if (!this.options.versions.test(h.version)) {
				throw new Hl7ApplicationError(Hl7ErrorCode.unsupportedVersionId, `version ${h.version || '(none)'} not supported`, {
					location: { segment: 'MSH', sequence: 1, field: 12 }
				});
			}
			inbound = mapInbound(message, {
				receivedAt: this.deps.now().toISOString(),
				connectionId: this.id,
				unknownTypes: this.options.unknownTypes,
				defaultOffsetMinutes: this.options.defaultOffsetMinutes
			});
		} catch (err) {
			this.nack(h, failureOf(err), message, null, false, enhanced);
			return;
		}
		let committed = false;
		let signalAccepted!: () => void;
		const acceptedNow = new Promise<void>((r) => (signalAccepted = r));
		const commitAccept = enhanced && wantsAck(h.acceptAckType, true);
		const sendCommit = () => {
			if (committed) return;
			committed = true;
			if (commitAccept) this.send(h, AckCode.CA);
			signalAccepted();
		};
		let run: Promise<void>;
		try {
			run = this.deps.handler(inbound, { accepted: sendCommit, commitAccept });
		} catch (err) {
			// A handler that throws instead of rejecting still gets its message NACKed.
			run = Promise.reject(err);
		}
		const settled = run.then(
			() => {
				// Not accepted earlier: the CA (if asked) goes out now, just before the application ack.
				const caNow = commitAccept && !committed;
				sendCommit();
				this.applied(h, inbound, caNow, enhanced, at);
			},
			(err: unknown) => {
				if (!(err instanceof Hl7ApplicationError)) {
					this.deps.logger.error('hl7.handler_failed', {
						connectionId: this.id,
						controlId: h.controlId,
						error: safeErrorText(err)
					});
				}
				this.nack(h, failureOf(err), message, inbound.idempotencyKey, committed, enhanced);
			}
		);
		if (!commitAccept) return settled;
		// Two-phase: once the CA is out, the next message goes on; the application ack follows when this one is applied.
		await Promise.race([settled, acceptedNow]);
		if (!committed) return;
		const tracked: Promise<void> = settled
			.catch((err: unknown) => this.deps.logger.error('hl7.process_failed', { connectionId: this.id, error: safeErrorText(err) }))
			.finally(() => {
				this.background.delete(tracked);
				if (this.idle) this.settledAll();
			});
		this.background.add(tracked);
	}

	/** The handler resolved (and a CA, if asked, is out; `caNow`: it just went): the application ack per mode, and the stats event. */
	private applied(h: MshHeader, inbound: Hl7Inbound, caNow: boolean, enhanced: boolean, at: number): void {
		let final: AckCode | null = null;
		if (enhanced) {
			if (caNow) final = AckCode.CA;
			if (wantsAck(h.applicationAckType, true)) {
				this.send(h, AckCode.AA, undefined, true);
				final = AckCode.AA;
			}
		} else {
			this.send(h, AckCode.AA);
			final = AckCode.AA;
		}
		this.messages++;
		this.emit('message', {
			connectionId: this.id,
			messageType: h.messageType,
			triggerEvent: h.triggerEvent,
			controlId: h.controlId,
			idempotencyKey: inbound.idempotencyKey,
			ack: final,
			commands: inbound.commands.length,
			supported: inbound.supported,
			ms: performance.now() - at
		});
	}

	/**
	 * Send the negative acknowledgment a failure calls for.
	 * Original mode: AE/AR. Enhanced mode before commit: CE (or CR for 200–203) per
	 * MSH-15; after commit: AE/AR as the application ack per MSH-16.
	 */
	private nack(
		header: MshHeader | null,
		f: Failure,
		message: ParsedHl7Message | null,
		idempotencyKey: string | null,
		committed: boolean,
		enhanced = false
	): void {
		let code: AckCode | null = f.ack;
		if (enhanced && header) {
			if (!committed) {
				const commitCode = f.ack === 'AR' && f.code !== Hl7ErrorCode.applicationInternalError ? AckCode.CR : AckCode.CE;
				if (wantsAck(header.acceptAckType, false)) code = commitCode;
				else if (wantsAck(header.applicationAckType, false)) code = f.ack;
				else code = null;
				if (code) this.send(header, code, f, code === f.ack);
			} else {
				code = wantsAck(header.applicationAckType, false) ? f.ack : null;
				if (code) this.send(header, code, f, true);
			}
		} else {
			this.send(header, f.ack, f);
		}
		this.emitNack(header, code, f, message, idempotencyKey, committed);
	}

	private emitNack(
		header: MshHeader | null,
		ack: AckCode | null,
		f: Failure,
		message: ParsedHl7Message | null,
		idempotencyKey: string | null,
		afterAccept = false
	): void {
		this.deps.logger.warn('hl7.nack', {
			connectionId: this.id,
			ack,
			code: f.code,
			location: f.location,
			reason: f.text,
			controlId: header?.controlId ?? null
		});
		this.emit('nack', {
			connectionId: this.id,
			ack,
			failure: f.ack,
			code: f.code,
			location: f.location,
			reason: f.text,
			messageType: header ? `${header.messageType}^${header.triggerEvent}` : '',
			controlId: header?.controlId ?? '',
			idempotencyKey: idempotencyKey ?? (message ? idempotencyKeyOf(message.segments[0]) : null),
			afterAccept,
			raw: message?.raw ?? null
		});
	}
}
