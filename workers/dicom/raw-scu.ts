/**
 * A deliberately minimal, byte-level DICOM upper-layer client for tests: it
 * sends what real clients never would (garbage datasets, bogus PDUs).
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part08.html#sect_9.3 PS3.8 9.3
 */
import net from 'node:net';
import { associateRequest, commandStatus, pDataPdu, storeCommand } from './pdu';

/** A-ASSOCIATE-RQ with one presentation context (id 1) and a 16 KiB max PDU. */
export function associateRq(calling: string, called: string, abstractSyntax: string, transferSyntax: string): Buffer {
	return associateRequest(calling, called, [{ abstractSyntax, transferSyntaxes: [transferSyntax] }], 0x4000);
}

/** C-STORE-RQ command set (implicit VR LE) announcing a dataset. */
export const cStoreCommand = (sopClass: string, sopInstance: string, messageId = 1): Buffer => storeCommand(sopClass, sopInstance, messageId);

/** P-DATA-TF with one PDV. */
export const pData = pDataPdu;

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

/** Reads (0000,0900) Status from a P-DATA-TF body carrying one command PDV. */
export function statusOf(pDataBody: Buffer): number | null {
	return commandStatus(pDataBody.subarray(6));
}
