/**
 * A byte-level watchdog in front of the DIMSE library: it follows PDU
 * boundaries on the raw socket and flags a PDU whose declared length exceeds
 * what we advertised, before the library starts buffering it.
 *
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part08.html#sect_9.3 PS3.8 9.3 PDU structure
 */

export const PduType = {
	associateRq: 0x01,
	associateAc: 0x02,
	associateRj: 0x03,
	pData: 0x04,
	releaseRq: 0x05,
	releaseRp: 0x06,
	abort: 0x07
} as const;

export class PduGuard {
	private header = Buffer.alloc(0);
	private remaining = 0;
	constructor(
		private readonly maxPDataLength: number,
		private readonly maxOtherLength = 1 << 20
	) {}

	/** Feeds received bytes; returns a reason string when the stream must be aborted. */
	feed(chunk: Buffer): string | null {
		let off = 0;
		while (off < chunk.length) {
			if (this.remaining > 0) {
				const n = Math.min(this.remaining, chunk.length - off);
				this.remaining -= n;
				off += n;
				continue;
			}
			const need = 6 - this.header.length;
			this.header = Buffer.concat([this.header, chunk.subarray(off, off + need)]);
			off += Math.min(need, chunk.length - off);
			if (this.header.length < 6) return null;
			const type = this.header[0];
			const length = this.header.readUInt32BE(2);
			this.header = Buffer.alloc(0);
			if (type < PduType.associateRq || type > PduType.abort) return `unknown PDU type 0x${type.toString(16)}`;
			const max = type === PduType.pData ? this.maxPDataLength : this.maxOtherLength;
			if (length > max) return `PDU length ${length} exceeds limit ${max}`;
			this.remaining = length;
		}
		return null;
	}
}

/** A-ABORT PDU (PS3.8 9.3.8): source 2 = service provider, reason 6 = invalid PDU parameter value. */
export function abortPdu(source = 2, reason = 6): Buffer {
	return Buffer.from([PduType.abort, 0, 0, 0, 0, 4, 0, 0, source, reason]);
}
