import { describe, it, expect } from 'vitest';
import dcmjs from 'dcmjs';
import { deflateRawSync } from 'node:zlib';
import { extractInstanceAttributes } from '../../src/lib/domain/dicom/attributes';
import { makeInstance, fixtureUid } from './fixtures';
import { datasetOffset } from './part10';
import { DatasetParseError, parseDatasetPrefix } from './receive';
import { DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from './policy';

const EXPLICIT = '1.2.840.10008.1.2.1';
const spec = (implicit: boolean) => ({
	studyUid: fixtureUid('rx-study'),
	seriesUid: fixtureUid('rx-series'),
	sopUid: fixtureUid('rx-sop'),
	modality: 'MR',
	description: 'MR BRAIN W/O',
	patientId: 'MRN-77',
	accession: 'ACC-77',
	patientName: 'Šimić^Ana=山田^太郎',
	bodyPart: 'HEAD',
	rows: 16,
	cols: 16,
	frames: 3,
	implicit
});

/** Attributes from a full dcmjs parse of the whole file: the reference. */
function reference(file: Buffer) {
	const { dict } = dcmjs.data.DicomMessage.readFile(file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer);
	return extractInstanceAttributes(dict as never);
}

describe('parseDatasetPrefix (the bounded header reader the SCP and STOW share)', () => {
	for (const implicit of [false, true]) {
		it(`reads what a full dcmjs parse reads (${implicit ? 'implicit' : 'explicit'} VR LE)`, () => {
			const file = makeInstance(spec(implicit));
			const ds = file.subarray(datasetOffset(file)!);
			const ours = extractInstanceAttributes(parseDatasetPrefix(ds, implicit ? IMPLICIT_VR_LITTLE_ENDIAN : EXPLICIT));
			expect(ours).toEqual(reference(file));
			expect(ours).toMatchObject({ modality: 'MR', accessionNumber: 'ACC-77', bodyPartExamined: 'HEAD', numberOfFrames: 3, rows: 16 });
			expect(JSON.stringify(ours.patientName)).toContain('Šimić');
		});
	}

	it('stops at a prefix cut mid-element and still reads what precedes it', () => {
		const file = makeInstance(spec(false));
		const ds = file.subarray(datasetOffset(file)!);
		const cut = ds.indexOf(Buffer.from('MR BRAIN')) + 3;
		const got = parseDatasetPrefix(ds.subarray(0, cut), EXPLICIT);
		expect(got['00080050']?.Value).toEqual(['ACC-77']);
		expect(got['00081030']).toBeUndefined();
	});

	it('reads a deflated dataset from its compressed prefix', () => {
		const file = makeInstance(spec(false));
		const deflated = deflateRawSync(file.subarray(datasetOffset(file)!));
		const got = extractInstanceAttributes(parseDatasetPrefix(deflated.subarray(0, deflated.length - 8), DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN));
		expect(got.sopInstanceUid).toBe(fixtureUid('rx-sop'));
	});

	it('refuses bytes that hold no element (typed error, never a crash)', () => {
		expect(() => parseDatasetPrefix(Buffer.from('not a dataset, just text'), EXPLICIT)).toThrow(DatasetParseError);
		expect(() => parseDatasetPrefix(Buffer.from([8, 0, 0x16]), EXPLICIT)).toThrow(DatasetParseError);
	});
});

describe('deflated prefixes', () => {
	it('reads the attributes of a deflated dataset whose compressible tail inflates to far more than they need', () => {
		const file = makeInstance(spec(false));
		const ds = file.subarray(datasetOffset(file)!);
		const pixelAt = ds.indexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00]));
		// 64 MiB of zero pixels deflate to ~64 KiB; the reader inflates growing slices and stops early.
		const head = Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x57, 0, 0, 0, 0, 0x00, 0x40]);
		const zeros = Buffer.alloc(64 * 1024 * 1024);
		const deflated = deflateRawSync(Buffer.concat([ds.subarray(0, pixelAt), head, zeros]), { level: 9 });
		const got = extractInstanceAttributes(parseDatasetPrefix(deflated, DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN));
		expect(got.sopInstanceUid).toBe(fixtureUid('rx-sop'));
	});
});
