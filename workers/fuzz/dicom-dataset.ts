/**
 * Fuzz target `dicom-dataset`: what Radflow runs on the bytes of a received
 * DICOM object, in-process. The input is a Part 10 file; each case runs
 * - the STOW-RS path: the multipart parser over a body carrying the file,
 *   Part 10 framing (datasetOffset, fileMetaTransferSyntax), then
 * - the attribute parser the SCP and STOW share (parseDatasetPrefix →
 *   extractInstanceAttributes) under the declared transfer syntax and under
 *   each syntax an association could have negotiated instead, and
 * - for objects ingest accepts, triage's readers (readHeader, decodeDicom),
 *   which promise typed results.
 *
 * Allowed failures are the typed ones (DatasetParseError, DicomValueError,
 * MultipartError); anything else thrown is a crash.
 */
import { deflateRawSync } from 'node:zlib';
import type { Prng } from '../../src/lib/domain/routing/prng';
import { chestXr, headCtSlice } from '../../src/lib/domain/triage/phantom';
import { extractInstanceAttributes } from '../../src/lib/domain/dicom/attributes';
import { DicomValueError, isValidUid } from '../../src/lib/domain/dicom/values';
import { MultipartError, parseMultipart, fileMetaTransferSyntax } from '../../src/lib/server/ingest/stow';
import { fixtureUid, makeInstance } from '../dicom/fixtures';
import { datasetOffset, encodeFileMeta } from '../dicom/part10';
import { DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from '../dicom/policy';
import { DatasetParseError, parseDatasetPrefix } from '../dicom/receive';
import { decodeDicom, readHeader, TransferSyntax } from '../triage/dicom';
import { phantomToPart10 } from '../triage/part10';
import { havoc } from './bytes';
import { mutateDataset, walkElements, UNDEFINED_LENGTH } from './dicom-elements';
import { exceptionFinding, invariantFinding, TargetName, type Finding, type FuzzTarget } from './target';

const EXPLICIT = TransferSyntax.explicitLittle;
const SYNTAXES = [IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT, DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN];
/** Declared syntaxes the mutations switch to: accepted ones, a retired one, compressed ones, garbage. */
const DECLARED = [...SYNTAXES, TransferSyntax.explicitBig, TransferSyntax.jpegBaseline, TransferSyntax.rleLossless, '1.2.3', '', '1.2.840.10008.1.2.1\0\0\0'];
const SOP_CT = '1.2.840.10008.5.1.4.1.1.2';
const BOUNDARY = 'radflow-fuzz-boundary';

/** File = meta + dataset. */
function split(file: Buffer): { meta: Buffer; dataset: Buffer; syntax: string | null } {
	const off = datasetOffset(file);
	if (off === null || off > file.length) return { meta: Buffer.alloc(0), dataset: file, syntax: null };
	return { meta: file.subarray(0, off), dataset: file.subarray(off), syntax: fileMetaTransferSyntax(file) };
}

function part10(dataset: Buffer, transferSyntaxUid: string): Buffer {
	return Buffer.concat([encodeFileMeta({ sopClassUid: SOP_CT, sopInstanceUid: fixtureUid('fuzz-sop'), transferSyntaxUid, sourceAe: 'FUZZ' }), dataset]);
}

/** A Procedure Code Sequence (undefined lengths) spliced into an explicit dataset, in tag order. */
function withSequence(ds: Buffer): Buffer {
	const el = (g: number, e: number, vr: string, v: string) => {
		const val = Buffer.from(v.length % 2 ? v + ' ' : v, 'latin1');
		const h = Buffer.alloc(8);
		h.writeUInt16LE(g, 0);
		h.writeUInt16LE(e, 2);
		h.write(vr, 4, 'latin1');
		h.writeUInt16LE(val.length, 6);
		return Buffer.concat([h, val]);
	};
	const long = (g: number, e: number, vr: string | null, len: number) => {
		const h = Buffer.alloc(vr ? 12 : 8);
		h.writeUInt16LE(g, 0);
		h.writeUInt16LE(e, 2);
		if (vr) h.write(vr, 4, 'latin1');
		h.writeUInt32LE(len, vr ? 8 : 4);
		return h;
	};
	const sq = Buffer.concat([
		long(0x0008, 0x1032, 'SQ', UNDEFINED_LENGTH),
		long(0xfffe, 0xe000, null, UNDEFINED_LENGTH),
		el(0x0008, 0x0100, 'SH', 'CTHEADWO'),
		el(0x0008, 0x0102, 'SH', 'L'),
		long(0xfffe, 0xe00d, null, 0),
		long(0xfffe, 0xe0dd, null, 0)
	]);
	const at = walkElements(ds, true).find((h) => h.group > 0x0008 || (h.group === 0x0008 && h.element > 0x1032))?.offset ?? ds.length;
	return Buffer.concat([ds.subarray(0, at), sq, ds.subarray(at)]);
}

export function dicomSeeds(): Buffer[] {
	const spec = (n: number, implicit: boolean) => ({
		studyUid: fixtureUid(`fuzz-study-${n}`),
		seriesUid: fixtureUid(`fuzz-series-${n}`),
		sopUid: fixtureUid(`fuzz-sop-${n}`),
		modality: implicit ? 'MR' : 'CT',
		description: 'CT HEAD WO',
		patientId: `FUZZ-${n}`,
		accession: `ACC-${n}`,
		rows: 8,
		cols: 8,
		implicit
	});
	const explicit = makeInstance(spec(1, false));
	const explicitDs = split(explicit).dataset;
	return [
		explicit,
		makeInstance(spec(2, true)),
		makeInstance({ ...spec(3, false), frames: 2 }),
		part10(withSequence(explicitDs), EXPLICIT),
		part10(deflateRawSync(explicitDs), DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN),
		Buffer.from(phantomToPart10(headCtSlice(1, { size: 16 }))),
		Buffer.from(phantomToPart10(chestXr(2, { size: 16 }), { eightBit: true, transferSyntaxUid: IMPLICIT_VR_LITTLE_ENDIAN }))
	];
}

/** One structure-aware mutation of a Part 10 file. */
export function mutateDicomFile(file: Buffer, rand: Prng, corpus: readonly Buffer[]): Buffer {
	const { meta, dataset, syntax } = split(file);
	const explicit = syntax !== IMPLICIT_VR_LITTLE_ENDIAN;
	const r = rand.next();
	if (r < 0.55) {
		const ds = mutateDataset(dataset, explicit, rand);
		if (ds) return Buffer.concat([meta, ds]);
	}
	if (r < 0.65) {
		// Transfer syntax switch: the declaration changes, the encoding does not (or is deflated for real).
		const ts = rand.pick(DECLARED);
		return part10(ts === DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN && rand.next() < 0.5 ? deflateRawSync(dataset) : dataset, ts);
	}
	if (r < 0.72 && meta.length) return Buffer.concat([havoc(meta, rand), dataset]);
	if (r < 0.75) return dataset;
	return Buffer.concat([meta, havoc(dataset, rand, rand.pick(corpus))]);
}

const typed = (e: unknown) => e instanceof DatasetParseError || e instanceof DicomValueError;

/** The attribute parser under one transfer syntax: a finding, or whether ingest would accept the object. */
function parseAttributes(dataset: Buffer, ts: string): Finding | boolean {
	let dict;
	try {
		dict = parseDatasetPrefix(dataset, ts);
	} catch (e) {
		return typed(e) ? false : exceptionFinding(e, 'parseDatasetPrefix');
	}
	let a;
	try {
		a = extractInstanceAttributes(dict);
	} catch (e) {
		return typed(e) ? false : exceptionFinding(e, 'extractInstanceAttributes');
	}
	for (const [k, v] of Object.entries({ sopClassUid: a.sopClassUid, sopInstanceUid: a.sopInstanceUid, studyInstanceUid: a.studyInstanceUid, seriesInstanceUid: a.seriesInstanceUid })) {
		if (!isValidUid(v)) return invariantFinding('instance-uid', `${k} accepted but not a valid UID: ${JSON.stringify(v)}`);
	}
	return true;
}

/** The STOW-RS multipart parser over a body carrying `file` in chunks whose sizes the input decides. */
async function parseStowBody(file: Buffer): Promise<Finding | null> {
	const body = Buffer.concat([Buffer.from(`--${BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n`), file, Buffer.from(`\r\n--${BOUNDARY}--\r\n`)]);
	const step = 1 + (file.length ? file[file.length >> 1] : 7) * 37;
	async function* chunks() {
		for (let at = 0; at < body.length; at += step) yield body.subarray(at, at + step);
	}
	const received: Buffer[] = [];
	let parts: number;
	try {
		parts = await parseMultipart(chunks(), BOUNDARY, { start: () => {}, data: (c) => void received.push(Buffer.from(c)), end: () => {} });
	} catch (e) {
		return e instanceof MultipartError ? null : exceptionFinding(e, 'parseMultipart');
	}
	if (!file.includes(`\r\n--${BOUNDARY}`) && (parts !== 1 || !Buffer.concat(received).equals(file))) {
		return invariantFinding('multipart-roundtrip', `a one-part body came back as ${parts} part(s) of ${Buffer.concat(received).length} bytes instead of ${file.length}`);
	}
	return null;
}

/** Runs one Part 10 file through every reader of received DICOM bytes. */
export async function runDicomFile(file: Buffer): Promise<Finding | null> {
	let meta;
	try {
		meta = split(file);
	} catch (e) {
		return exceptionFinding(e, 'part10 framing');
	}
	let accepted = false;
	for (const ts of new Set(meta.syntax ? [meta.syntax, ...SYNTAXES] : SYNTAXES)) {
		const r = parseAttributes(meta.dataset, ts);
		if (typeof r !== 'boolean') return r;
		if (ts === meta.syntax) accepted = r;
	}
	const stow = await parseStowBody(file);
	// Triage reads only what ingest accepted and stored.
	if (stow || !accepted) return stow;
	for (const [name, read] of [
		['readHeader', () => readHeader(file)],
		['decodeDicom', () => decodeDicom(file)]
	] as const) {
		try {
			const r = read();
			if (typeof r !== 'object' || r === null || typeof r.ok !== 'boolean') return invariantFinding(`${name}-result`, `${name} returned ${String(r)}`);
		} catch (e) {
			return exceptionFinding(e, name);
		}
	}
	return null;
}

export function createDicomDatasetTarget(): FuzzTarget {
	return {
		name: TargetName.dicomDataset,
		caseTimeoutMs: 5_000,
		seeds: dicomSeeds,
		mutate: mutateDicomFile,
		execute: runDicomFile,
		close: async () => {}
	};
}
