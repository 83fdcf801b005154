/**
 * Encoding of the DICOM upper-layer PDUs and DIMSE command sets that our own
 * clients send: the simulator's C-STORE SCU and the byte-level test client.
 * (The SCP side decodes with dcmjs-dimse.)
 *
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part08.html#sect_9.3 PS3.8 9.3 (PDU structure)
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part07.html#sect_9.1.1 PS3.7 9.1.1 (C-STORE)
 */

export const PduType = { associateRq: 1, associateAc: 2, associateRj: 3, pData: 4, releaseRq: 5, releaseRp: 6, abort: 7 } as const;
export type PduType = (typeof PduType)[keyof typeof PduType];

const APPLICATION_CONTEXT = '1.2.840.10008.3.1.1.1';

/** A PDU: type, reserved byte, 32-bit big-endian length, body. */
export function pdu(type: number, body: Buffer): Buffer {
	const h = Buffer.alloc(6);
	h[0] = type;
	h.writeUInt32BE(body.length, 2);
	return Buffer.concat([h, body]);
}

/** A variable item inside A-ASSOCIATE: type, reserved byte, 16-bit length, body. */
export function item(type: number, body: Buffer): Buffer {
	const h = Buffer.alloc(4);
	h[0] = type;
	h.writeUInt16BE(body.length, 2);
	return Buffer.concat([h, body]);
}

/** An AE title field: 16 bytes, space padded. */
export function aeField(title: string): Buffer {
	return Buffer.from(title.padEnd(16, ' ').slice(0, 16), 'ascii');
}

export interface ProposedContext {
	abstractSyntax: string;
	transferSyntaxes: readonly string[];
}

/** A-ASSOCIATE-RQ; presentation context ids are 1, 3, 5… in the order given. @see PS3.8 9.3.2 */
export function associateRequest(
	calling: string,
	called: string,
	contexts: readonly ProposedContext[],
	maxPdu: number,
	implementation?: { classUid: string; version: string }
): Buffer {
	const fixed = Buffer.alloc(68);
	fixed.writeUInt16BE(1, 0);
	aeField(called).copy(fixed, 4);
	aeField(calling).copy(fixed, 20);
	const pcs = contexts.map((c, i) =>
		item(
			0x20,
			Buffer.concat([
				Buffer.from([2 * i + 1, 0, 0, 0]),
				item(0x30, Buffer.from(c.abstractSyntax, 'ascii')),
				...c.transferSyntaxes.map((ts) => item(0x40, Buffer.from(ts, 'ascii')))
			])
		)
	);
	const maxLen = Buffer.alloc(4);
	maxLen.writeUInt32BE(maxPdu);
	const userItems = [item(0x51, maxLen)];
	if (implementation) {
		userItems.push(item(0x52, Buffer.from(implementation.classUid, 'ascii')), item(0x55, Buffer.from(implementation.version, 'ascii')));
	}
	return pdu(PduType.associateRq, Buffer.concat([fixed, item(0x10, Buffer.from(APPLICATION_CONTEXT, 'ascii')), ...pcs, item(0x50, Buffer.concat(userItems))]));
}

/** One P-DATA-TF with one PDV; flags bit 0 = command, bit 1 = last fragment. */
export function pDataPdu(contextId: number, value: Buffer, command: boolean, last: boolean): Buffer {
	const head = Buffer.alloc(6);
	head.writeUInt32BE(value.length + 2, 0);
	head[4] = contextId;
	head[5] = (command ? 1 : 0) | (last ? 2 : 0);
	return pdu(PduType.pData, Buffer.concat([head, value]));
}

function element(group: number, el: number, value: Buffer): Buffer {
	const h = Buffer.alloc(8);
	h.writeUInt16LE(group, 0);
	h.writeUInt16LE(el, 2);
	h.writeUInt32LE(value.length, 4);
	return Buffer.concat([h, value]);
}
const us = (n: number) => {
	const b = Buffer.alloc(2);
	b.writeUInt16LE(n);
	return b;
};
const uid = (s: string) => Buffer.from(s.length % 2 ? `${s}\0` : s, 'ascii');

/** C-STORE-RQ command set, Implicit VR Little Endian as PS3.7 requires. */
export function storeCommand(sopClassUid: string, sopInstanceUid: string, messageId: number): Buffer {
	const body = Buffer.concat([
		element(0, 0x0002, uid(sopClassUid)),
		element(0, 0x0100, us(0x0001)),
		element(0, 0x0110, us(messageId)),
		element(0, 0x0700, us(0)),
		element(0, 0x0800, us(0x0000)),
		element(0, 0x1000, uid(sopInstanceUid))
	]);
	const len = Buffer.alloc(4);
	len.writeUInt32LE(body.length);
	return Buffer.concat([element(0, 0x0000, len), body]);
}

/** Read (0000,0900) Status from an implicit-VR command set. */
export function commandStatus(command: Buffer): number | null {
	let o = 0;
	while (o + 8 <= command.length) {
		const group = command.readUInt16LE(o);
		const el = command.readUInt16LE(o + 2);
		const len = command.readUInt32LE(o + 4);
		if (group === 0 && el === 0x0900 && len === 2) return command.readUInt16LE(o + 8);
		o += 8 + len;
	}
	return null;
}
