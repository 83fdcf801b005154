/**
 * A deliberately minimal, byte-level DICOM upper-layer client for tests: it
 * sends what real clients never would (garbage datasets, bogus PDUs).
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part08.html#sect_9.3 PS3.8 9.3
 */
import net from 'node:net';

function uidItem(type: number, uid: string): Buffer {
	const v = Buffer.from(uid, 'latin1');
	const h = Buffer.alloc(4);
	h[0] = type;
	h.writeUInt16BE(v.length, 2);
	return Buffer.concat([h, v]);
}

function pdu(type: number, body: Buffer): Buffer {
	const h = Buffer.alloc(6);
	h[0] = type;
	h.writeUInt32BE(body.length, 2);
	return Buffer.concat([h, body]);
}

function ae(title: string): Buffer {
	return Buffer.from(title.padEnd(16, ' ').slice(0, 16), 'latin1');
}

export function associateRq(calling: string, called: string, abstractSyntax: string, transferSyntax: string): Buffer {
	const fixed = Buffer.alloc(68);
	fixed.writeUInt16BE(1, 0);
	ae(called).copy(fixed, 4);
	ae(calling).copy(fixed, 20);
	const pcBody = Buffer.concat([Buffer.from([1, 0, 0, 0]), uidItem(0x30, abstractSyntax), uidItem(0x40, transferSyntax)]);
	const pc = Buffer.concat([Buffer.from([0x20, 0]), Buffer.from([pcBody.length >> 8, pcBody.length & 0xff]), pcBody]);
	const maxLen = Buffer.from([0x51, 0, 0, 4, 0, 0, 0x40, 0]);
	const ui = Buffer.concat([Buffer.from([0x50, 0, 0, maxLen.length]), maxLen]);
	return pdu(1, Buffer.concat([fixed, uidItem(0x10, '1.2.840.10008.3.1.1.1'), pc, ui]));
}

function el(group: number, element: number, value: Buffer): Buffer {
	const h = Buffer.alloc(8);
	h.writeUInt16LE(group, 0);
	h.writeUInt16LE(element, 2);
	h.writeUInt32LE(value.length, 4);
	return Buffer.concat([h, value]);
}
const us = (n: number) => Buffer.from([n & 0xff, n >> 8]);
const ui = (s: string) => Buffer.from(s.length % 2 ? s + '\0' : s, 'latin1');

/** C-STORE-RQ command set (implicit VR LE) announcing a dataset. */
export function cStoreCommand(sopClass: string, sopInstance: string, messageId = 1): Buffer {
	const body = Buffer.concat([
		el(0, 0x0002, ui(sopClass)),
		el(0, 0x0100, us(0x0001)),
		el(0, 0x0110, us(messageId)),
		el(0, 0x0700, us(0)),
		el(0, 0x0800, us(0x0000)),
		el(0, 0x1000, ui(sopInstance))
	]);
	const len = Buffer.alloc(4);
	len.writeUInt32LE(body.length);
	return Buffer.concat([el(0, 0x0000, len), body]);
}

/** P-DATA-TF with one PDV; flags bit0 = command, bit1 = last fragment. */
export function pData(contextId: number, value: Buffer, command: boolean, last: boolean): Buffer {
	const item = Buffer.alloc(6);
	item.writeUInt32BE(value.length + 2, 0);
	item[4] = contextId;
	item[5] = (command ? 1 : 0) | (last ? 2 : 0);
	return pdu(4, Buffer.concat([item, value]));
}

/** A connected raw client that collects PDUs. */
export class RawScu {
	private buf = Buffer.alloc(0);
	private waiters: Array<() => void> = [];
	closed = false;
	readonly socket: net.Socket;

	private constructor(socket: net.Socket) {
		this.socket = socket;
		socket.setNoDelay(true);
		socket.on('data', (d) => {
			this.buf = Buffer.concat([this.buf, d]);
			this.wake();
		});
		socket.on('close', () => {
			this.closed = true;
			this.wake();
		});
		socket.on('error', () => {});
	}

	static connect(port: number): Promise<RawScu> {
		return new Promise((resolve, reject) => {
			const s = net.connect(port, '127.0.0.1', () => resolve(new RawScu(s)));
			s.once('error', reject);
		});
	}

	private wake() {
		const w = this.waiters;
		this.waiters = [];
		w.forEach((f) => f());
	}

	send(b: Buffer) {
		this.socket.write(b);
	}

	/** Next PDU, or null when the peer closed first. */
	async nextPdu(timeoutMs = 5000): Promise<{ type: number; body: Buffer } | null> {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			if (this.buf.length >= 6) {
				const len = this.buf.readUInt32BE(2);
				if (this.buf.length >= 6 + len) {
					const p = { type: this.buf[0], body: this.buf.subarray(6, 6 + len) };
					this.buf = this.buf.subarray(6 + len);
					return p;
				}
			}
			if (this.closed) return null;
			if (Date.now() > deadline) throw new Error('timeout waiting for PDU');
			await new Promise<void>((r) => {
				this.waiters.push(r);
				setTimeout(r, 100);
			});
		}
	}

	close() {
		this.socket.destroy();
	}
}

/** Reads (0000,0900) Status from a P-DATA-TF carrying a command PDV. */
export function statusOf(pDataBody: Buffer): number | null {
	const value = pDataBody.subarray(6);
	for (let off = 0; off + 8 <= value.length; ) {
		const g = value.readUInt16LE(off);
		const e = value.readUInt16LE(off + 2);
		const len = value.readUInt32LE(off + 4);
		if (g === 0 && e === 0x0900) return value.readUInt16LE(off + 8);
		off += 8 + len;
	}
	return null;
}
