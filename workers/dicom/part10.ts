/**
 * DICOM Part 10 file framing: the 128-byte preamble, "DICM" and the File Meta
 * Information group written in front of a dataset received over the network,
 * so the stored file holds the dataset exactly as the sender encoded it.
 *
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part10.html#sect_7.1 PS3.10 7.1
 */

/** Radflow's Implementation Class UID (UUID-derived root, PS3.5 B.2). */
export const IMPLEMENTATION_CLASS_UID = '2.25.276032069915094827463434095632447412149';
export const IMPLEMENTATION_VERSION = 'RADFLOW_0_1';

export interface FileMetaFields {
	sopClassUid: string;
	sopInstanceUid: string;
	transferSyntaxUid: string;
	/** Source Application Entity Title (0002,0016): the calling AE. */
	sourceAe?: string;
}

function pad(value: string, padByte: number): Buffer {
	const b = Buffer.from(value, 'latin1');
	return b.length % 2 ? Buffer.concat([b, Buffer.from([padByte])]) : b;
}

function element(element: number, vr: string, value: Buffer): Buffer {
	const long = vr === 'OB' || vr === 'UN';
	const head = Buffer.alloc(long ? 12 : 8);
	head.writeUInt16LE(0x0002, 0);
	head.writeUInt16LE(element, 2);
	head.write(vr, 4, 'latin1');
	if (long) head.writeUInt32LE(value.length, 8);
	else head.writeUInt16LE(value.length, 6);
	return Buffer.concat([head, value]);
}

/** Preamble + "DICM" + group 0002 (explicit VR little endian), ready to prepend to a dataset. */
export function encodeFileMeta(f: FileMetaFields): Buffer {
	const body = Buffer.concat([
		element(0x0001, 'OB', Buffer.from([0x00, 0x01])),
		element(0x0002, 'UI', pad(f.sopClassUid, 0)),
		element(0x0003, 'UI', pad(f.sopInstanceUid, 0)),
		element(0x0010, 'UI', pad(f.transferSyntaxUid, 0)),
		element(0x0012, 'UI', pad(IMPLEMENTATION_CLASS_UID, 0)),
		element(0x0013, 'SH', pad(IMPLEMENTATION_VERSION, 0x20)),
		...(f.sourceAe ? [element(0x0016, 'AE', pad(f.sourceAe.trim(), 0x20))] : [])
	]);
	const groupLength = Buffer.alloc(4);
	groupLength.writeUInt32LE(body.length, 0);
	return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1'), element(0x0000, 'UL', groupLength), body]);
}

/**
 * Offset of the dataset in a Part 10 buffer (just after the File Meta group),
 * or null when the buffer does not start like a Part 10 file with a group length.
 */
export function datasetOffset(file: Uint8Array): number | null {
	const b = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
	if (b.length < 144 || b.toString('latin1', 128, 132) !== 'DICM') return null;
	if (b.readUInt16LE(132) !== 0x0002 || b.readUInt16LE(134) !== 0x0000 || b.toString('latin1', 136, 138) !== 'UL') return null;
	return 144 + b.readUInt32LE(140);
}
