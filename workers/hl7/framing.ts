/**
 * MLLP framing: <VT> payload <FS><CR>.
 *
 * The decoder is a byte-level state machine that survives what real links do:
 * frames split across TCP chunks, several frames in one chunk, junk between frames
 * (discarded and counted), a new <VT> before the previous frame ended (the partial
 * frame is discarded as junk), a missing <CR> after <FS> (tolerated), and frames
 * larger than the cap (discarded while streaming; the first bytes are kept so the
 * caller can address a NACK).
 *
 * @see HL7 v2.5.1 Appendix C (MLLP), MLLP Release 2 (HL7 Transport Specification)
 */

export const MLLP = {
	startBlock: 0x0b,
	endBlock: 0x1c,
	carriageReturn: 0x0d
} as const;

export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

export const JunkReason = {
	betweenFrames: 'between_frames',
	truncatedFrame: 'truncated_frame'
} as const;
export type JunkReason = (typeof JunkReason)[keyof typeof JunkReason];

export type MllpEvent =
	| { type: 'frame'; payload: Buffer }
	| { type: 'junk'; bytes: number; reason: JunkReason }
	| { type: 'oversized'; bytes: number; head: Buffer };

export interface MllpDecoderOptions {
	/** Largest payload accepted, in bytes. Default 1 MiB. */
	maxFrameBytes?: number;
	/** Bytes of an oversized frame kept for header extraction. Default 4 KiB. */
	headBytes?: number;
}

const State = {
	idle: 'idle',
	frame: 'frame',
	discard: 'discard'
} as const;
type State = (typeof State)[keyof typeof State];

/** Incremental MLLP decoder. Feed chunks with {@link push}; it returns what completed. */
export class MllpDecoder {
	private readonly max: number;
	private readonly headBytes: number;
	private state: State = State.idle;
	private parts: Buffer[] = [];
	private size = 0;
	private head: Buffer = Buffer.alloc(0);
	/** An <FS> ended the previous chunk; the next byte decides whether <CR> follows. */
	private pendingEnd = false;
	private junk = 0;

	constructor(options: MllpDecoderOptions = {}) {
		this.max = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
		this.headBytes = options.headBytes ?? 4096;
	}

	/** Bytes held for an incomplete frame. */
	get buffered(): number {
		return this.state === State.frame ? this.size : 0;
	}

	push(chunk: Buffer): MllpEvent[] {
		const out: MllpEvent[] = [];
		const len = chunk.length;
		let i = 0;
		while (i < len) {
			if (this.pendingEnd) {
				this.pendingEnd = false;
				if (chunk[i] === MLLP.carriageReturn) i++;
				this.endFrame(out);
				continue;
			}
			if (this.state === State.idle) {
				const vt = chunk.indexOf(MLLP.startBlock, i);
				if (vt < 0) {
					this.junk += len - i;
					i = len;
					break;
				}
				this.junk += vt - i;
				this.flushJunk(out);
				this.begin();
				i = vt + 1;
				continue;
			}
			const fs = chunk.indexOf(MLLP.endBlock, i);
			const end = fs < 0 ? len : fs;
			const vt = chunk.subarray(i, end).indexOf(MLLP.startBlock);
			if (vt >= 0) {
				// A new frame started before this one ended: the sender gave up on it.
				const lost = this.size + vt;
				this.reset();
				out.push({ type: 'junk', bytes: lost, reason: JunkReason.truncatedFrame });
				this.begin();
				i = i + vt + 1;
				continue;
			}
			this.append(chunk.subarray(i, end));
			if (fs < 0) {
				i = len;
				break;
			}
			i = fs + 1;
			if (i === len) {
				this.pendingEnd = true;
				break;
			}
			if (chunk[i] === MLLP.carriageReturn) i++;
			this.endFrame(out);
		}
		if (this.state === State.idle && !this.pendingEnd) this.flushJunk(out);
		return out;
	}

	/** The peer closed: whatever is held is a truncated frame. */
	end(): MllpEvent[] {
		const out: MllpEvent[] = [];
		if (this.pendingEnd) {
			this.pendingEnd = false;
			this.endFrame(out);
		} else if (this.state !== State.idle) {
			out.push({ type: 'junk', bytes: this.size, reason: JunkReason.truncatedFrame });
			this.reset();
		}
		this.flushJunk(out);
		return out;
	}

	private begin(): void {
		this.state = State.frame;
		this.parts = [];
		this.size = 0;
	}

	private reset(): void {
		this.state = State.idle;
		this.parts = [];
		this.size = 0;
		this.head = Buffer.alloc(0);
	}

	private append(bytes: Buffer): void {
		if (bytes.length === 0) return;
		if (this.state === State.frame && this.size + bytes.length > this.max) {
			const all = Buffer.concat([...this.parts, bytes]);
			this.head = Buffer.from(all.subarray(0, this.headBytes));
			this.parts = [];
			this.state = State.discard;
		} else if (this.state === State.frame) {
			this.parts.push(bytes);
		}
		this.size += bytes.length;
	}

	private endFrame(out: MllpEvent[]): void {
		if (this.state === State.frame) {
			out.push({ type: 'frame', payload: this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.size) });
		} else if (this.state === State.discard) {
			out.push({ type: 'oversized', bytes: this.size, head: this.head });
		}
		this.reset();
	}

	private flushJunk(out: MllpEvent[]): void {
		if (this.junk > 0) {
			out.push({ type: 'junk', bytes: this.junk, reason: JunkReason.betweenFrames });
			this.junk = 0;
		}
	}
}

/** Wrap a payload in an MLLP block. */
export function encodeMllp(payload: Uint8Array): Buffer {
	const out = Buffer.allocUnsafe(payload.length + 3);
	out[0] = MLLP.startBlock;
	out.set(payload, 1);
	out[payload.length + 1] = MLLP.endBlock;
	out[payload.length + 2] = MLLP.carriageReturn;
	return out;
}
