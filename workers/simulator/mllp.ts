/**
 * MLLP sender: one message at a time per connection, waits for the ACK,
 * retries AE/AR and timeouts with exponential backoff, counts everything.
 *
 * @see HL7 v2.5 Appendix C (MLLP: <VT> payload <FS><CR>), Ch. 2.9 (original acknowledgment mode: MSA-1 AA/AE/AR)
 */
import net from 'node:net';
import { encodeMllp, MllpDecoder } from '../hl7/framing';

export class MllpError extends Error {
	readonly code: 'mllp_timeout' | 'mllp_closed' | 'mllp_nack' | 'mllp_connect' | 'mllp_stopped';
	constructor(code: MllpError['code'], message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'MllpError';
		this.code = code;
	}
}

/** Counters of one sender (all connections together). */
export interface MllpStats {
	/** Messages handed to `send`. */
	messages: number;
	/** Frames written, retries included. */
	sent: number;
	/** Messages positively acknowledged (AA/CA). */
	acked: number;
	/** AE/AR/CE/CR acknowledgments received (each attempt). */
	nacked: number;
	timeouts: number;
	retries: number;
	/** Messages given up after the last attempt. */
	failed: number;
	/** ACKs whose MSA-2 did not echo our MSH-10. */
	mismatched: number;
}

export interface MllpClientOptions {
	host: string;
	port: number;
	/** Parallel connections (each strictly one message at a time). Default 2. */
	connections?: number;
	ackTimeoutMs?: number;
	maxAttempts?: number;
	backoffMs?: number;
	maxBackoffMs?: number;
}

export interface AckResult {
	code: string;
	attempts: number;
	ack: string;
}

/** MSA-1 and MSA-2 of an ACK, with the field separator taken from its MSH. */
export function parseAck(ack: string): { code: string; controlId: string; text: string } {
	const sep = ack.startsWith('MSH') ? ack[3] : '|';
	const msa = ack.split(/\r\n?|\n/).find((l) => l.startsWith(`MSA${sep}`));
	if (!msa) return { code: '', controlId: '', text: '' };
	const f = msa.split(sep);
	return { code: (f[1] ?? '').toUpperCase(), controlId: f[2] ?? '', text: f[3] ?? '' };
}

/** Frame a payload for MLLP. */
export function frame(message: string): Buffer {
	return encodeMllp(Buffer.from(message, 'utf8'));
}

/** Incremental de-framer over the listener's decoder: bytes in, complete payloads out; junk is skipped. */
export class MllpReader {
	private readonly decoder = new MllpDecoder();
	push(chunk: Buffer): string[] {
		const out: string[] = [];
		for (const e of this.decoder.push(chunk)) if (e.type === 'frame') out.push(e.payload.toString('utf8'));
		return out;
	}
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One TCP connection; exactly one message outstanding. */
class Lane {
	private socket: net.Socket | null = null;
	private reader = new MllpReader();
	private pending: { resolve: (ack: string) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | null = null;
	busy = false;

	constructor(private readonly opts: Required<MllpClientOptions>) {}

	private connect(): Promise<net.Socket> {
		if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
		return new Promise((resolve, reject) => {
			const s = net.connect({ host: this.opts.host, port: this.opts.port, noDelay: true });
			s.setNoDelay(true);
			const onError = (err: Error) => reject(new MllpError('mllp_connect', `cannot connect to ${this.opts.host}:${this.opts.port}: ${err.message}`, { cause: err }));
			s.once('error', onError);
			s.once('connect', () => {
				s.off('error', onError);
				this.reader = new MllpReader();
				s.on('data', (chunk: Buffer) => {
					for (const payload of this.reader.push(chunk)) this.settle(null, payload);
				});
				s.on('error', () => {});
				s.on('close', () => {
					if (this.socket === s) this.socket = null;
					this.settle(new MllpError('mllp_closed', 'connection closed before the ACK'));
				});
				this.socket = s;
				resolve(s);
			});
		});
	}

	private settle(err: Error | null, ack?: string): void {
		const p = this.pending;
		if (!p) return;
		this.pending = null;
		clearTimeout(p.timer);
		if (err) p.reject(err);
		else p.resolve(ack!);
	}

	/** Write one frame and wait for one ACK frame. */
	async exchange(message: string): Promise<string> {
		const s = await this.connect();
		return new Promise<string>((resolve, reject) => {
			const timer = setTimeout(() => {
				// A late ACK would be mistaken for the next message's: drop the connection.
				this.settle(new MllpError('mllp_timeout', `no ACK within ${this.opts.ackTimeoutMs} ms`));
				this.drop();
			}, this.opts.ackTimeoutMs);
			this.pending = { resolve, reject, timer };
			s.write(frame(message));
		});
	}

	drop(): void {
		this.socket?.destroy();
		this.socket = null;
	}

	close(): Promise<void> {
		const s = this.socket;
		this.socket = null;
		if (!s || s.destroyed) return Promise.resolve();
		return new Promise((resolve) => {
			s.once('close', () => resolve());
			s.end();
			setTimeout(() => {
				s.destroy();
				resolve();
			}, 1000).unref();
		});
	}
}

/**
 * A pool of MLLP connections. `send` resolves with the positive ACK, or throws
 * MllpError after `maxAttempts` (the message counts as failed).
 */
export class MllpClient {
	readonly stats: MllpStats = { messages: 0, sent: 0, acked: 0, nacked: 0, timeouts: 0, retries: 0, failed: 0, mismatched: 0 };
	private readonly lanes: Lane[];
	private readonly waiters: (() => void)[] = [];
	private readonly opts: Required<MllpClientOptions>;
	private stopped = false;

	constructor(options: MllpClientOptions) {
		this.opts = { connections: 2, ackTimeoutMs: 10_000, maxAttempts: 5, backoffMs: 250, maxBackoffMs: 10_000, ...options };
		this.lanes = Array.from({ length: Math.max(1, this.opts.connections) }, () => new Lane(this.opts));
	}

	private async acquire(): Promise<Lane> {
		for (;;) {
			if (this.stopped) throw new MllpError('mllp_stopped', 'sender stopped');
			const free = this.lanes.find((l) => !l.busy);
			if (free) {
				free.busy = true;
				return free;
			}
			await new Promise<void>((r) => this.waiters.push(r));
		}
	}

	private release(lane: Lane): void {
		lane.busy = false;
		this.waiters.shift()?.();
	}

	/** Send one message and wait for AA/CA (retrying AE/AR, timeouts and broken connections). */
	async send(message: string): Promise<AckResult> {
		this.stats.messages++;
		const controlId = message.split('\r', 1)[0].split('|')[9] ?? '';
		let lastError: Error | null = null;
		for (let attempt = 1; attempt <= this.opts.maxAttempts; attempt++) {
			if (attempt > 1) {
				this.stats.retries++;
				await sleep(Math.min(this.opts.maxBackoffMs, this.opts.backoffMs * 2 ** (attempt - 2)));
			}
			if (this.stopped && attempt > 1) break;
			const lane = await this.acquire();
			try {
				this.stats.sent++;
				const ack = await lane.exchange(message);
				const msa = parseAck(ack);
				if (msa.controlId !== controlId) this.stats.mismatched++;
				if (msa.code === 'AA' || msa.code === 'CA') {
					this.stats.acked++;
					return { code: msa.code, attempts: attempt, ack };
				}
				this.stats.nacked++;
				lastError = new MllpError('mllp_nack', `${msa.code || 'no MSA'} for ${controlId}: ${msa.text}`);
			} catch (err) {
				if (err instanceof MllpError && err.code === 'mllp_timeout') this.stats.timeouts++;
				lastError = err as Error;
			} finally {
				this.release(lane);
			}
		}
		this.stats.failed++;
		throw lastError ?? new MllpError('mllp_stopped', 'sender stopped');
	}

	/** Close every connection; sends in flight finish their current attempt first. */
	async close(): Promise<void> {
		this.stopped = true;
		for (const w of this.waiters.splice(0)) w();
		await Promise.all(this.lanes.map((l) => l.close()));
	}
}
