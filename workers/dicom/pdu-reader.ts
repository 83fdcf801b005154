/**
 * Incremental reader of the DICOM upper-layer byte stream. It follows PDU and
 * PDV boundaries across arbitrary TCP chunking and hands P-DATA values on as
 * slices of the received chunks (no copy, nothing buffered whole), so a large
 * dataset streams straight through. A PDU whose type is unknown, or whose
 * declared length exceeds what we advertised, is refused at its header,
 * before any of its body is buffered.
 *
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part08.html#sect_9.3 PS3.8 9.3 PDU structure
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part08.html#sect_9.3.5.1 PS3.8 9.3.5.1 PDV item
 */
import { PduFormatError, PduType } from './pdu';

export interface PduReaderHandlers {
	/** A whole PDU other than P-DATA-TF (body without the 6-byte header). */
	pdu(type: number, body: Buffer): void;
	/** A piece of a PDV's value; `pdvEnd` is true on the PDV's last piece. */
	pdv(contextId: number, command: boolean, lastFragment: boolean, piece: Buffer, pdvEnd: boolean): void;
}

type State = 'pdu-header' | 'pdu-body' | 'pdv-header' | 'pdv-value';

export class PduReader {
	private state: State = 'pdu-header';
	private readonly head = Buffer.alloc(6);
	private headLen = 0;
	private type = 0;
	private pduRemaining = 0;
	private body: Buffer[] = [];
	private bodyRemaining = 0;
	private pdvRemaining = 0;
	private contextId = 0;
	private flags = 0;

	constructor(
		private readonly h: PduReaderHandlers,
		/** Largest P-DATA-TF body we accept (the max PDU length we advertise). */
		private readonly maxPDataLength: number,
		/** Largest body of any other PDU. */
		private readonly maxOtherLength = 1 << 20
	) {}

	/** Consumes received bytes. @throws PduFormatError when the stream breaks PS3.8 */
	feed(chunk: Buffer): void {
		let off = 0;
		while (off < chunk.length) {
			switch (this.state) {
				case 'pdu-header':
				case 'pdv-header': {
					const need = 6 - this.headLen;
					const n = Math.min(need, chunk.length - off);
					chunk.copy(this.head, this.headLen, off, off + n);
					this.headLen += n;
					off += n;
					if (this.headLen < 6) return;
					this.headLen = 0;
					if (this.state === 'pdu-header') this.pduHeader();
					else this.pdvHeader();
					break;
				}
				case 'pdu-body': {
					const n = Math.min(this.bodyRemaining, chunk.length - off);
					this.body.push(chunk.subarray(off, off + n));
					this.bodyRemaining -= n;
					off += n;
					if (this.bodyRemaining === 0) this.endPdu();
					break;
				}
				case 'pdv-value': {
					const n = Math.min(this.pdvRemaining, chunk.length - off);
					const piece = chunk.subarray(off, off + n);
					this.pdvRemaining -= n;
					this.pduRemaining -= n;
					off += n;
					const end = this.pdvRemaining === 0;
					if (end) this.state = this.pduRemaining === 0 ? 'pdu-header' : 'pdv-header';
					this.h.pdv(this.contextId, (this.flags & 1) === 1, (this.flags & 2) === 2, piece, end);
					break;
				}
				default:
					this.state satisfies never;
			}
		}
	}

	private pduHeader(): void {
		this.type = this.head[0];
		const length = this.head.readUInt32BE(2);
		if (this.type < PduType.associateRq || this.type > PduType.abort) throw new PduFormatError(`unknown PDU type 0x${this.type.toString(16)}`);
		const max = this.type === PduType.pData ? this.maxPDataLength : this.maxOtherLength;
		if (length > max) throw new PduFormatError(`PDU length ${length} exceeds limit ${max}`);
		if (this.type === PduType.pData) {
			if (length < 6) throw new PduFormatError('P-DATA-TF without a PDV');
			this.pduRemaining = length;
			this.state = 'pdv-header';
			return;
		}
		this.bodyRemaining = length;
		this.body = [];
		this.state = 'pdu-body';
		if (length === 0) this.endPdu();
	}

	private pdvHeader(): void {
		const itemLength = this.head.readUInt32BE(0);
		if (itemLength < 2 || itemLength + 4 > this.pduRemaining) throw new PduFormatError(`PDV length ${itemLength} does not fit its P-DATA-TF`);
		this.contextId = this.head[4];
		this.flags = this.head[5];
		this.pduRemaining -= 6;
		this.pdvRemaining = itemLength - 2;
		this.state = 'pdv-value';
		if (this.pdvRemaining === 0) {
			this.state = this.pduRemaining === 0 ? 'pdu-header' : 'pdv-header';
			this.h.pdv(this.contextId, (this.flags & 1) === 1, (this.flags & 2) === 2, Buffer.alloc(0), true);
		}
	}

	private endPdu(): void {
		const body = this.body.length === 1 ? this.body[0] : Buffer.concat(this.body);
		this.body = [];
		this.state = 'pdu-header';
		this.h.pdu(this.type, body);
	}
}
