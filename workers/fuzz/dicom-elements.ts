/**
 * Structure-aware mutation of DICOM datasets: a forgiving walker that finds the
 * element headers of a little-endian dataset (explicit or implicit VR, stepping
 * into sequences and items), and mutations of tags, VRs, value lengths, element
 * order, sequence nesting and truncation at element boundaries.
 *
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part05.html#sect_7.1 PS3.5 7.1 Data Elements
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part05.html#sect_7.5 PS3.5 7.5 Nesting of Data Sets
 */
import type { Prng } from '../../src/lib/domain/routing/prng';
import { INTERESTING_U32 } from './bytes';

/** VRs with a 2-byte reserved field and a 32-bit length in explicit VR. PS3.5 Table 7.1-1. */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT', 'SV', 'UV']);
const ITEM_GROUP = 0xfffe;
export const UNDEFINED_LENGTH = 0xffffffff;

export interface ElementHeader {
	offset: number;
	group: number;
	element: number;
	/** Offset of the VR, null for implicit VR and item delimiters. */
	vrAt: number | null;
	lengthAt: number;
	lengthBytes: 2 | 4;
	length: number;
	headerBytes: number;
	/** The walker steps into this element's value (sequence, item) instead of over it. */
	container: boolean;
}

/** Every element header the walker can reach before the bytes stop making sense. */
export function walkElements(ds: Buffer, explicit: boolean, limit = 4096): ElementHeader[] {
	const out: ElementHeader[] = [];
	let p = 0;
	while (p + 8 <= ds.length && out.length < limit) {
		const group = ds.readUInt16LE(p);
		const element = ds.readUInt16LE(p + 2);
		let h: ElementHeader;
		if (group === ITEM_GROUP) {
			h = { offset: p, group, element, vrAt: null, lengthAt: p + 4, lengthBytes: 4, length: ds.readUInt32LE(p + 4), headerBytes: 8, container: element === 0xe000 };
		} else if (explicit) {
			const vr = ds.toString('latin1', p + 4, p + 6);
			if (!/^[A-Z]{2}$/.test(vr)) break;
			const long = LONG_VRS.has(vr);
			if (long && p + 12 > ds.length) break;
			const length = long ? ds.readUInt32LE(p + 8) : ds.readUInt16LE(p + 6);
			h = { offset: p, group, element, vrAt: p + 4, lengthAt: long ? p + 8 : p + 6, lengthBytes: long ? 4 : 2, length, headerBytes: long ? 12 : 8, container: vr === 'SQ' };
		} else {
			const length = ds.readUInt32LE(p + 4);
			h = { offset: p, group, element, vrAt: null, lengthAt: p + 4, lengthBytes: 4, length, headerBytes: 8, container: length === UNDEFINED_LENGTH };
		}
		out.push(h);
		if (h.container || h.length === UNDEFINED_LENGTH || group === ITEM_GROUP) p += h.headerBytes;
		else p += h.headerBytes + h.length;
	}
	return out;
}

/** Tags worth landing on: the identifying UIDs, Pixel Data, items and delimiters, group 0002 and 0000, private. */
const INTERESTING_TAGS: [number, number][] = [
	[0x0008, 0x0016],
	[0x0008, 0x0018],
	[0x0020, 0x000d],
	[0x0020, 0x000e],
	[0x0008, 0x0005],
	[0x0008, 0x1032],
	[0x0028, 0x0010],
	[0x0028, 0x0011],
	[0x0028, 0x0100],
	[0x0028, 0x0008],
	[0x7fe0, 0x0010],
	[0xfffe, 0xe000],
	[0xfffe, 0xe00d],
	[0xfffe, 0xe0dd],
	[0x0002, 0x0010],
	[0x0000, 0x0000],
	[0x0009, 0x0010],
	[0xffff, 0xffff]
];
const VRS = ['AE', 'AS', 'AT', 'CS', 'DA', 'DS', 'DT', 'FL', 'FD', 'IS', 'LO', 'LT', 'OB', 'OW', 'OF', 'PN', 'SH', 'SL', 'SQ', 'SS', 'ST', 'TM', 'UI', 'UL', 'UN', 'US', 'UT', 'UC', 'UR', 'OV', 'SV', 'UV', 'XX', 'ob', '\0\0', '  '];

function header(group: number, element: number, vr: string | null, length: number): Buffer {
	if (vr === null || group === ITEM_GROUP) {
		const b = Buffer.alloc(8);
		b.writeUInt16LE(group, 0);
		b.writeUInt16LE(element, 2);
		b.writeUInt32LE(length >>> 0, 4);
		return b;
	}
	const b = Buffer.alloc(12);
	b.writeUInt16LE(group, 0);
	b.writeUInt16LE(element, 2);
	b.write(vr, 4, 'latin1');
	b.writeUInt32LE(length >>> 0, 8);
	return b;
}

/** A run of elements wrapped into `depth` nested undefined-length sequences and items. */
function nest(body: Buffer, depth: number, explicit: boolean, delimited: boolean): Buffer {
	let inner = body;
	for (let i = 0; i < depth; i++) {
		const parts = [header(0x0008, 0x1032, explicit ? 'SQ' : null, UNDEFINED_LENGTH), header(ITEM_GROUP, 0xe000, null, UNDEFINED_LENGTH), inner];
		if (delimited) parts.push(header(ITEM_GROUP, 0xe00d, null, 0), header(ITEM_GROUP, 0xe0dd, null, 0));
		inner = Buffer.concat(parts);
	}
	return inner;
}

export const DatasetMutation = {
	length: 'length',
	vr: 'vr',
	tag: 'tag',
	truncateAtElement: 'truncate_at_element',
	deleteElement: 'delete_element',
	duplicateElement: 'duplicate_element',
	swapElements: 'swap_elements',
	nestSequences: 'nest_sequences',
	oddValue: 'odd_value'
} as const;
export type DatasetMutation = (typeof DatasetMutation)[keyof typeof DatasetMutation];
const DATASET_MUTATIONS = Object.values(DatasetMutation);

/** One structure-aware mutation of a little-endian dataset; null when the walker found no element. */
export function mutateDataset(ds: Buffer, explicit: boolean, rand: Prng): Buffer | null {
	const els = walkElements(ds, explicit);
	if (els.length === 0) return null;
	const e = rand.pick(els);
	const end = (h: ElementHeader) => Math.min(ds.length, h.container || h.length === UNDEFINED_LENGTH ? h.offset + h.headerBytes : h.offset + h.headerBytes + h.length);
	const kind = rand.pick(DATASET_MUTATIONS);
	const out = Buffer.from(ds);
	switch (kind) {
		case DatasetMutation.length: {
			if (e.lengthBytes === 2) out.writeUInt16LE(rand.pick([0, 1, e.length + 1, Math.max(0, e.length - 1), 0xffff, 0xfffe, rand.int(0, 0xffff)]), e.lengthAt);
			else out.writeUInt32LE(rand.pick([...INTERESTING_U32, e.length + 1, Math.max(0, e.length - 1), ds.length - e.offset, rand.int(0, 0xffffffff)]) >>> 0, e.lengthAt);
			return out;
		}
		case DatasetMutation.vr:
			if (e.vrAt === null) return null;
			out.write(rand.pick(VRS).padEnd(2, ' ').slice(0, 2), e.vrAt, 'latin1');
			return out;
		case DatasetMutation.tag: {
			const [g, el] = rand.next() < 0.7 ? rand.pick(INTERESTING_TAGS) : [rand.int(0, 0xffff), rand.int(0, 0xffff)];
			out.writeUInt16LE(g, e.offset);
			out.writeUInt16LE(el, e.offset + 2);
			return out;
		}
		case DatasetMutation.truncateAtElement:
			return ds.subarray(0, Math.max(0, e.offset + rand.int(-2, e.headerBytes + 2)));
		case DatasetMutation.deleteElement:
			return Buffer.concat([ds.subarray(0, e.offset), ds.subarray(end(e))]);
		case DatasetMutation.duplicateElement: {
			const copy = ds.subarray(e.offset, end(e));
			return Buffer.concat([ds.subarray(0, end(e)), ...Array.from({ length: rand.int(1, 3) }, () => copy), ds.subarray(end(e))]);
		}
		case DatasetMutation.swapElements: {
			const f = rand.pick(els);
			const [a, b] = e.offset < f.offset ? [e, f] : [f, e];
			if (end(a) > b.offset) return null;
			return Buffer.concat([ds.subarray(0, a.offset), ds.subarray(b.offset, end(b)), ds.subarray(end(a), b.offset), ds.subarray(a.offset, end(a)), ds.subarray(end(b))]);
		}
		case DatasetMutation.nestSequences: {
			const f = rand.pick(els);
			const [a, b] = e.offset <= f.offset ? [e, f] : [f, e];
			const depth = rand.next() < 0.05 ? rand.int(500, 5000) : rand.int(1, 8);
			const wrapped = nest(ds.subarray(a.offset, end(b)), depth, explicit, rand.next() < 0.7);
			return Buffer.concat([ds.subarray(0, a.offset), wrapped, ds.subarray(end(b))]);
		}
		case DatasetMutation.oddValue: {
			// One more byte in the value than an even length allows, declared honestly.
			const valueEnd = end(e);
			if (e.container || e.length === UNDEFINED_LENGTH) return null;
			const grown = Buffer.concat([ds.subarray(0, valueEnd), Buffer.from([rand.pick([0x00, 0x20, 0x5c, 0xff])]), ds.subarray(valueEnd)]);
			if (e.lengthBytes === 2) grown.writeUInt16LE(Math.min(0xffff, e.length + 1), e.lengthAt);
			else grown.writeUInt32LE((e.length + 1) >>> 0, e.lengthAt);
			return grown;
		}
		default:
			return kind satisfies never;
	}
}
