import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { ReceivedInstance } from '../../../../workers/dicom/server';
import { fixtureUid } from '../../../../workers/dicom/fixtures';
import { DbInstanceSink } from './dicom-sink';
import { ingestTestEnv, type IngestTestEnv } from './test-kit';

let env: IngestTestEnv;
let sink: DbInstanceSink;

beforeAll(async () => {
	env = await ingestTestEnv('dicom_sink');
	sink = new DbInstanceSink({ sql: env.tdb.db.sql, jobs: env.jobs, normalizer: env.normalizer, log: env.log });
});

afterAll(async () => {
	await env?.close();
});

function instance(n: number): ReceivedInstance {
	const sop = fixtureUid(`sink-sop-${n}`);
	return {
		attributes: {
			sopInstanceUid: sop,
			sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
			studyInstanceUid: fixtureUid('sink-study'),
			seriesInstanceUid: fixtureUid('sink-series'),
			modality: 'CT',
			studyDescription: 'CT HEAD WO',
			accessionNumber: 'SINK-1',
			patientId: 'MRN-SINK'
		} as ReceivedInstance['attributes'],
		blobPath: `/blobs/${sop}.dcm`,
		size: 2048,
		transferSyntaxUid: '1.2.840.10008.1.2.1',
		sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
		replaced: false,
		callingAe: 'MODALITY1',
		calledAe: 'RADFLOW',
		remoteAddress: '127.0.0.1',
		associationId: 1
	};
}

function deferred() {
	let resolve!: () => void;
	let reject!: (e: Error) => void;
	const promise = new Promise<void>((res, rej) => {
		resolve = res;
		reject = rej;
	});
	return { promise, resolve, reject };
}

const rowCount = async (n: number) => {
	const [{ c }] = await env.tdb.db.sql<{ c: number }[]>`SELECT count(*)::int AS c FROM instances WHERE sop_instance_uid = ${fixtureUid(`sink-sop-${n}`)}`;
	return c;
};

describe('DbInstanceSink and the blob flush', () => {
	it('commits an instance only after its blob is durable, its transaction prepared meanwhile', async () => {
		await sink.store(instance(1)); // the study and series exist: the next image takes the batch path
		const flush = deferred();
		let done = false;
		const stored = sink.store(instance(2), flush.promise).then(() => (done = true));
		await new Promise((r) => setTimeout(r, 150));
		expect(done).toBe(false);
		expect(await rowCount(2)).toBe(0);
		flush.resolve();
		await stored;
		expect(await rowCount(2)).toBe(1);
	});

	it('commits nothing for an instance whose flush failed, and its batch neighbours still commit', async () => {
		// Instance 5 holds the writer, so 3 and 4 queue up and share the next transaction.
		const first = deferred();
		const holding = sink.store(instance(5), first.promise);
		const flush = deferred();
		const failing = sink.store(instance(3), flush.promise);
		const neighbour = sink.store(instance(4), Promise.resolve());
		flush.reject(new Error('EIO: flush failed'));
		first.resolve();
		await holding;
		await expect(failing).rejects.toThrow('EIO: flush failed');
		await neighbour;
		expect(await rowCount(3)).toBe(0);
		expect(await rowCount(4)).toBe(1);
		expect(await rowCount(5)).toBe(1);
		// A storage failure is the receiver's to report, not a database failure.
		const [{ c }] = await env.tdb.db.sql<{ c: number }[]>`SELECT count(*)::int AS c FROM ingest_failures WHERE details->>'sopInstanceUid' = ${fixtureUid('sink-sop-3')}`;
		expect(c).toBe(0);
	});
});
