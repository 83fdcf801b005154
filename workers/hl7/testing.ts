/**
 * A small MLLP client for tests and benchmarks: sends frames, collects ACK frames
 * through the same decoder the server uses.
 */
import net from 'node:net';
import { encodeMllp, MllpDecoder } from './framing';

export class MllpTestClient {
	private readonly decoder = new MllpDecoder({ maxFrameBytes: 16 * 1024 * 1024 });
	private readonly frames: string[] = [];
	private waiters: { n: number; resolve: (f: string[]) => void }[] = [];
	closed = false;
	private closeWaiters: (() => void)[] = [];

	private constructor(readonly socket: net.Socket) {
		socket.setNoDelay(true);
		socket.on('data', (chunk: Buffer) => {
			for (const ev of this.decoder.push(chunk)) if (ev.type === 'frame') this.frames.push(ev.payload.toString('utf8'));
			this.flush();
		});
		socket.on('error', () => {});
		socket.on('close', () => {
			this.closed = true;
			for (const w of this.closeWaiters.splice(0)) w();
			for (const w of this.waiters.splice(0)) w.resolve(this.frames.splice(0));
		});
	}

	static connect(port: number, host = '127.0.0.1'): Promise<MllpTestClient> {
		return new Promise((resolve, reject) => {
			const s = net.connect({ port, host, noDelay: true }, () => resolve(new MllpTestClient(s)));
			s.once('error', reject);
		});
	}

	private flush(): void {
		while (this.waiters.length && this.frames.length >= this.waiters[0].n) {
			const w = this.waiters.shift()!;
			w.resolve(this.frames.splice(0, w.n));
		}
	}

	/** Write raw bytes (no framing added). */
	write(bytes: Buffer | string): void {
		this.socket.write(bytes);
	}

	/** Frame and write one message. */
	send(message: string | Buffer): void {
		this.socket.write(encodeMllp(typeof message === 'string' ? Buffer.from(message, 'utf8') : message));
	}

	/** Wait for `n` more response frames (fewer if the socket closes first). */
	receive(n = 1): Promise<string[]> {
		return new Promise((resolve) => {
			this.waiters.push({ n, resolve });
			this.flush();
			if (this.closed) for (const w of this.waiters.splice(0)) w.resolve(this.frames.splice(0));
		});
	}

	async request(message: string | Buffer): Promise<string> {
		this.send(message);
		const [ack] = await this.receive(1);
		return ack;
	}

	waitClosed(): Promise<void> {
		return this.closed ? Promise.resolve() : new Promise((r) => this.closeWaiters.push(r));
	}

	close(): void {
		this.socket.destroy();
	}
}

/** Field n of segment `name` in an HL7 text (default delimiters; MSH numbering honoured). */
export function field(message: string, name: string, n: number): string {
	const segLine = message.split('\r').find((l) => l.startsWith(name + '|'));
	if (!segLine) return '';
	const parts = segLine.split('|');
	return (name === 'MSH' ? parts[n - 1] : parts[n]) ?? '';
}
