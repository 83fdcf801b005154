/**
 * Receiving one C-STORE dataset: the P-DATA fragments are streamed straight
 * into a staged blob (behind a Part 10 header), never buffered whole, and only
 * a bounded prefix is kept to parse the attributes that precede Pixel Data.
 */
import { Writable } from 'node:stream';
import { inflateRawSync, constants as zc } from 'node:zlib';
import dcmjs from 'dcmjs';
import type { StagedBlob } from './storage';
import { encodeFileMeta } from './part10';
import { DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from './policy';
import type { DicomJsonDataset } from '../../src/lib/domain/dicom/attributes';

const { DicomMessage, ReadBufferStream } = dcmjs.data;

export interface IncomingObjectOptions {
	stage: () => Promise<StagedBlob>;
	sopClassUid: string;
	sopInstanceUid: string;
	transferSyntaxUid: string;
	callingAe: string;
	maxObjectBytes: number;
	/** Bytes of the dataset kept for attribute parsing (attributes precede Pixel Data). */
	headerCaptureBytes: number;
	/** Called when the disk falls behind, to pause / resume the socket. */
	onBackpressure?: (paused: boolean) => void;
}

/**
 * Writable handed to dcmjs-dimse for one C-STORE dataset. It never emits
 * 'error' (the library does not listen for it): failures are recorded in
 * `failure` and turned into a DIMSE status by the SCP.
 */
export class IncomingObject extends Writable {
	staged: StagedBlob | null = null;
	/** Dataset bytes received (excluding our Part 10 header). */
	received = 0;
	tooLarge = false;
	failure: Error | null = null;
	private header: Buffer[] = [];
	private headerBytes = 0;
	private readonly opts: IncomingObjectOptions;
	private paused = false;

	constructor(opts: IncomingObjectOptions) {
		super({ highWaterMark: 1 << 20 });
		this.opts = opts;
	}

	override _construct(callback: (error?: Error | null) => void): void {
		this.opts
			.stage()
			.then(async (staged) => {
				this.staged = staged;
				await staged.write(
					encodeFileMeta({
						sopClassUid: this.opts.sopClassUid,
						sopInstanceUid: this.opts.sopInstanceUid,
						transferSyntaxUid: this.opts.transferSyntaxUid,
						sourceAe: this.opts.callingAe
					})
				);
			})
			.catch((e: Error) => (this.failure = e))
			.finally(() => callback());
	}

	override write(chunk: unknown, ...rest: unknown[]): boolean {
		const ok = super.write(chunk, ...(rest as [BufferEncoding]));
		if (!ok && !this.paused && this.opts.onBackpressure) {
			this.paused = true;
			this.opts.onBackpressure(true);
			this.once('drain', () => {
				this.paused = false;
				this.opts.onBackpressure?.(false);
			});
		}
		return ok;
	}

	override _write(chunk: Buffer, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
		this.received += chunk.length;
		if (this.headerBytes < this.opts.headerCaptureBytes) {
			const take = chunk.subarray(0, this.opts.headerCaptureBytes - this.headerBytes);
			this.header.push(Buffer.from(take));
			this.headerBytes += take.length;
		}
		if (this.received > this.opts.maxObjectBytes) this.tooLarge = true;
		// Over the cap or already failed: keep reading the association, stop writing.
		if (this.tooLarge || this.failure || !this.staged) return callback();
		this.staged.write(chunk).then(
			() => callback(),
			(e: Error) => {
				this.failure = e;
				callback();
			}
		);
	}

	/** The captured dataset prefix. */
	headerPrefix(): Buffer {
		return Buffer.concat(this.header);
	}

	/** Resolves once every written chunk reached the staged blob (after end()). */
	finished(): Promise<void> {
		if (this.writableFinished) return Promise.resolve();
		return new Promise((resolve) => {
			this.once('finish', resolve);
			this.once('close', resolve);
		});
	}
}

export class DatasetParseError extends Error {
	readonly code = 'cannot_understand';
	constructor(message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'DatasetParseError';
	}
}

/**
 * Parses the attributes before Pixel Data from a dataset prefix into the DICOM
 * JSON model. The prefix may end mid-element: parsing stops at what is complete.
 * @throws DatasetParseError when not even the first element can be read
 */
export function parseDatasetPrefix(prefix: Buffer, transferSyntaxUid: string): DicomJsonDataset {
	let bytes = prefix;
	if (transferSyntaxUid === DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN) {
		try {
			// Partial input is fine with a sync flush: we only need the start.
			bytes = inflateRawSync(prefix, { finishFlush: zc.Z_SYNC_FLUSH });
		} catch (e) {
			throw new DatasetParseError('deflated dataset could not be inflated', { cause: e });
		}
	}
	if (bytes.length < 8) throw new DatasetParseError(`dataset too short (${bytes.length} bytes)`);
	const syntax = transferSyntaxUid === IMPLICIT_VR_LITTLE_ENDIAN ? IMPLICIT_VR_LITTLE_ENDIAN : '1.2.840.10008.1.2.1';
	const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
	const stream = new ReadBufferStream(ab, true, { noCopy: true });
	let dict: Record<string, unknown>;
	try {
		dict = DicomMessage._read(stream, syntax, { ignoreErrors: true, untilTag: '7FE00010', includeUntilTagValue: false });
	} catch (e) {
		throw new DatasetParseError(`dataset could not be parsed: ${(e as Error).message}`, { cause: e });
	}
	if (!dict || Object.keys(dict).length === 0) throw new DatasetParseError('no readable element in dataset');
	return dict as DicomJsonDataset;
}
