/**
 * A small C-STORE SCU: one association per study, one C-STORE at a time,
 * TCP no-delay, Explicit VR Little Endian datasets. Written here (rather than
 * dcmjs-dimse's Client) because that client gives no access to its socket, so
 * no-delay cannot be set, and because the simulator wants per-status counts.
 *
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part08.html#sect_9.3 PS3.8 9.3 (PDU structure)
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part07.html#sect_9.1.1 PS3.7 9.1.1 (C-STORE)
 */
import net from 'node:net';
import { EXPLICIT_VR_LITTLE_ENDIAN, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION } from './dicom';
import { associateRequest, commandStatus, pDataPdu, pdu, PduType, storeCommand } from '../dicom/pdu';


export class DicomSendError extends Error {
	readonly code: 'dicom_connect' | 'dicom_rejected' | 'dicom_aborted' | 'dicom_timeout' | 'dicom_no_context' | 'dicom_protocol';
	constructor(code: DicomSendError['code'], message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'DicomSendError';
		this.code = code;
	}
}

export interface StoreItem {
	sopClassUid: string;
	sopInstanceUid: string;
	/** Explicit VR Little Endian dataset (no file meta). */
	dataset: Buffer;
}

export interface StoreScuOptions {
	host: string;
	port: number;
	calledAe: string;
	/** Per PDU exchange. Default 15 s. */
	timeoutMs?: number;
	/** Largest PDU we accept (advertised in the A-ASSOCIATE-RQ). */
	maxPduLength?: number;
}

/** Status per instance; 0x0000 success, 0xB000/0xB006/0xB007 warnings. */
export interface StoreResult {
	sopInstanceUid: string;
	status: number;
}

export function isStoreSuccess(status: number): boolean {
	return status === 0 || status === 0xb000 || status === 0xb006 || status === 0xb007;
}

/** P-DATA-TF PDUs carrying `value` in fragments no longer than the peer accepts. */
function pDataPdus(contextId: number, value: Buffer, command: boolean, maxPdu: number): Buffer[] {
	const maxFragment = maxPdu > 0 ? Math.max(1, maxPdu - 6) : value.length;
	const out: Buffer[] = [];
	for (let o = 0; o < value.length || (o === 0 && value.length === 0); o += maxFragment) {
		out.push(pDataPdu(contextId, value.subarray(o, o + maxFragment), command, o + maxFragment >= value.length));
		if (value.length === 0) break;
	}
	return out;
}

interface ParsedPdu {
	type: number;
	body: Buffer;
}

/** One association over one socket. */
class Association {
	private buf: Buffer = Buffer.alloc(0);
	private queue: ParsedPdu[] = [];
	private waiter: { resolve: (p: ParsedPdu) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | null = null;
	private closedError: Error | null = null;
	contexts = new Map<string, number>();
	peerMaxPdu = 0;

	constructor(
		private readonly socket: net.Socket,
		private readonly timeoutMs: number
	) {
		socket.on('data', (chunk: Buffer) => {
			this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
			while (this.buf.length >= 6) {
				const len = this.buf.readUInt32BE(2);
				if (this.buf.length < 6 + len) break;
				this.queue.push({ type: this.buf[0], body: this.buf.subarray(6, 6 + len) });
				this.buf = this.buf.subarray(6 + len);
			}
			this.flush();
		});
		socket.on('error', (err) => this.fail(new DicomSendError('dicom_aborted', `connection error: ${err.message}`, { cause: err })));
		socket.on('close', () => this.fail(new DicomSendError('dicom_aborted', 'connection closed by peer')));
	}

	private fail(err: Error): void {
		this.closedError ??= err;
		this.flush();
	}

	private flush(): void {
		if (!this.waiter) return;
		const w = this.waiter;
		const next = this.queue.shift();
		if (next) {
			this.waiter = null;
			clearTimeout(w.timer);
			w.resolve(next);
		} else if (this.closedError) {
			this.waiter = null;
			clearTimeout(w.timer);
			w.reject(this.closedError);
		}
	}

	next(): Promise<ParsedPdu> {
		return new Promise((resolve, reject) => {
			const timer = setTimeout(() => {
				this.waiter = null;
				reject(new DicomSendError('dicom_timeout', `no PDU within ${this.timeoutMs} ms`));
			}, this.timeoutMs);
			this.waiter = { resolve, reject, timer };
			this.flush();
		});
	}

	write(bytes: Buffer): void {
		this.socket.write(bytes);
	}

	destroy(): void {
		this.socket.destroy();
	}

	/** Parse A-ASSOCIATE-AC: accepted contexts (result 0) and the peer's max PDU length. */
	accept(body: Buffer, proposed: readonly string[]): void {
		let o = 68;
		while (o + 4 <= body.length) {
			const type = body[o];
			const len = body.readUInt16BE(o + 2);
			const v = body.subarray(o + 4, o + 4 + len);
			if (type === 0x21 && v[2] === 0) {
				const id = v[0];
				const sop = proposed[(id - 1) / 2];
				if (sop) this.contexts.set(sop, id);
			} else if (type === 0x50) {
				let u = 0;
				while (u + 4 <= v.length) {
					const st = v[u];
					const sl = v.readUInt16BE(u + 2);
					if (st === 0x51 && sl === 4) this.peerMaxPdu = v.readUInt32BE(u + 4);
					u += 4 + sl;
				}
			}
			o += 4 + len;
		}
	}
}

/**
 * Send instances over one association: associate, C-STORE each in turn, release.
 * Returns the status of each instance (in input order). Throws DicomSendError
 * when the association cannot be made or breaks.
 */
export async function storeInstances(options: StoreScuOptions, callingAe: string, items: readonly StoreItem[]): Promise<StoreResult[]> {
	const timeoutMs = options.timeoutMs ?? 15_000;
	const sopClasses = [...new Set(items.map((i) => i.sopClassUid))];
	const socket = await new Promise<net.Socket>((resolve, reject) => {
		const s = net.connect({ host: options.host, port: options.port, noDelay: true });
		s.setNoDelay(true);
		const timer = setTimeout(() => {
			s.destroy();
			reject(new DicomSendError('dicom_connect', `connect to ${options.host}:${options.port} timed out`));
		}, timeoutMs);
		s.once('error', (err) => {
			clearTimeout(timer);
			reject(new DicomSendError('dicom_connect', `cannot connect to ${options.host}:${options.port}: ${err.message}`, { cause: err }));
		});
		s.once('connect', () => {
			clearTimeout(timer);
			resolve(s);
		});
	});
	const assoc = new Association(socket, timeoutMs);
	try {
		const contexts = sopClasses.map((abstractSyntax) => ({ abstractSyntax, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }));
		const implementation = { classUid: IMPLEMENTATION_CLASS_UID, version: IMPLEMENTATION_VERSION };
		assoc.write(associateRequest(callingAe, options.calledAe, contexts, options.maxPduLength ?? 65_536, implementation));
		const reply = await assoc.next();
		if (reply.type === PduType.associateRj) {
			throw new DicomSendError('dicom_rejected', `association rejected (result ${reply.body[1]}, source ${reply.body[2]}, reason ${reply.body[3]})`);
		}
		if (reply.type !== PduType.associateAc) throw new DicomSendError('dicom_protocol', `expected A-ASSOCIATE-AC, got PDU type ${reply.type}`);
		assoc.accept(reply.body, sopClasses);
		const results: StoreResult[] = [];
		let messageId = 0;
		for (const it of items) {
			const ctx = assoc.contexts.get(it.sopClassUid);
			if (ctx === undefined) {
				// Status A900-like local outcome: the SCP refused this SOP class.
				results.push({ sopInstanceUid: it.sopInstanceUid, status: 0x0122 });
				continue;
			}
			messageId = (messageId + 1) & 0xffff;
			for (const p of pDataPdus(ctx, storeCommand(it.sopClassUid, it.sopInstanceUid, messageId), true, assoc.peerMaxPdu)) assoc.write(p);
			for (const p of pDataPdus(ctx, it.dataset, false, assoc.peerMaxPdu)) assoc.write(p);
			results.push({ sopInstanceUid: it.sopInstanceUid, status: await readResponseStatus(assoc) });
		}
		assoc.write(pdu(PduType.releaseRq, Buffer.alloc(4)));
		const rp = await assoc.next().catch(() => null);
		if (rp && rp.type !== PduType.releaseRp && rp.type !== PduType.abort) throw new DicomSendError('dicom_protocol', `expected A-RELEASE-RP, got PDU type ${rp.type}`);
		return results;
	} finally {
		assoc.destroy();
	}
}

async function readResponseStatus(assoc: Association): Promise<number> {
	let command = Buffer.alloc(0);
	for (;;) {
		const p = await assoc.next();
		if (p.type === PduType.abort) throw new DicomSendError('dicom_aborted', 'association aborted by peer');
		if (p.type !== PduType.pData) throw new DicomSendError('dicom_protocol', `unexpected PDU type ${p.type} while waiting for C-STORE-RSP`);
		let o = 0;
		while (o + 6 <= p.body.length) {
			const len = p.body.readUInt32BE(o);
			const header = p.body[o + 5];
			command = Buffer.concat([command, p.body.subarray(o + 6, o + 4 + len)]);
			o += 4 + len;
			if (header & 1 && header & 2) {
				const status = commandStatus(command);
				if (status === null) throw new DicomSendError('dicom_protocol', 'C-STORE-RSP without status');
				return status;
			}
		}
	}
}
