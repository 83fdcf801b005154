/**
 * Receiving one C-STORE dataset: the P-DATA values are streamed into a staged
 * blob (behind a Part 10 header), never held whole, and only a bounded prefix
 * is kept to parse the attributes that precede Pixel Data. The temp file opens
 * while the first fragments arrive; an object of up to {@link SMALL_OBJECT_BYTES}
 * (most images) is held whole and written as it takes its name, in one call, a
 * larger one in `flushBytes` steps as it arrives.
 */
import { inflateRawSync, constants as zc } from 'node:zlib';
import type { BlobKey, PlacedBlob, StagedBlob } from './storage';
import { encodeFileMeta } from './part10';
import { DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from './policy';
import type { DicomJsonDataset } from '../../src/lib/domain/dicom/attributes';
import { MAX_SEQUENCE_DEPTH, datasetShape } from '../../src/lib/domain/dicom/shape';
import { DatasetPrefixError, readDatasetPrefix } from '../../src/lib/domain/dicom/prefix';

/** Objects up to this size are held whole until they end and written in one call. */
export const SMALL_OBJECT_BYTES = 1024 * 1024;

export interface IncomingObjectOptions {
	stage: () => Promise<StagedBlob>;
	sopClassUid: string;
	sopInstanceUid: string;
	transferSyntaxUid: string;
	callingAe: string;
	maxObjectBytes: number;
	/** Bytes of the dataset kept for attribute parsing (attributes precede Pixel Data). */
	headerCaptureBytes: number;
	/** Bytes gathered before a write is issued, once the object outgrew {@link SMALL_OBJECT_BYTES} (default 256 KiB). */
	flushBytes?: number;
	/** Unwritten bytes above which `push` asks the caller to pause (default 8 MiB). */
	highWaterBytes?: number;
	/** Called once the unwritten bytes fell back under the high-water mark after a `push` returned false. */
	onDrain?: () => void;
}

/**
 * One dataset being received. Never throws from `push`: failures are recorded
 * in `failure` (or `tooLarge`) and turned into a DIMSE status by the SCP.
 */
export class IncomingObject {
	/** Dataset bytes received (excluding our Part 10 header). */
	received = 0;
	tooLarge = false;
	failure: Error | null = null;
	private readonly opts: IncomingObjectOptions;
	private staged: StagedBlob | null = null;
	private readonly stagedReady: Promise<StagedBlob | null>;
	/** Some bytes went to the temp file already: the object outgrew {@link SMALL_OBJECT_BYTES}. */
	private streaming = false;
	private header: Buffer[] = [];
	private headerBytes = 0;
	private pending: Buffer[];
	private pendingBytes = 0;
	/** Bytes handed to writes that have not finished. */
	private inflightBytes = 0;
	private writing: Promise<void> = Promise.resolve();
	private blocked = false;
	private aborted = false;

	constructor(opts: IncomingObjectOptions) {
		this.opts = opts;
		this.pending = [
			encodeFileMeta({ sopClassUid: opts.sopClassUid, sopInstanceUid: opts.sopInstanceUid, transferSyntaxUid: opts.transferSyntaxUid, sourceAe: opts.callingAe })
		];
		// The temp file opens (off the event loop) while the first fragments arrive.
		this.stagedReady = opts.stage().then(
			(s) => {
				this.staged = s;
				if (this.aborted) void s.abort().catch(() => {});
				return s;
			},
			(e: Error) => {
				this.failure ??= e;
				return null;
			}
		);
	}

	/** Adds received dataset bytes; false asks the caller to pause until `onDrain`. */
	push(piece: Buffer): boolean {
		this.received += piece.length;
		if (this.headerBytes < this.opts.headerCaptureBytes) {
			const take = piece.subarray(0, this.opts.headerCaptureBytes - this.headerBytes);
			this.header.push(Buffer.from(take));
			this.headerBytes += take.length;
		}
		if (!this.tooLarge && this.received > this.opts.maxObjectBytes) {
			// Over the cap: stop writing, free the disk now, keep only counting.
			this.tooLarge = true;
			this.pending = [];
			this.pendingBytes = 0;
			void this.abort();
		}
		if (this.tooLarge || this.failure || this.aborted) return true;
		this.pending.push(piece);
		this.pendingBytes += piece.length;
		if (this.pendingBytes >= (this.streaming ? (this.opts.flushBytes ?? 256 * 1024) : SMALL_OBJECT_BYTES)) this.flush();
		if (this.inflightBytes + this.pendingBytes > (this.opts.highWaterBytes ?? 8 * 1024 * 1024)) this.blocked = true;
		return !this.blocked;
	}

	private flush(): void {
		if (this.pending.length === 0) return;
		const chunks = this.pending;
		const bytes = this.pendingBytes;
		this.pending = [];
		this.pendingBytes = 0;
		this.inflightBytes += bytes;
		this.streaming = true;
		this.writing = this.writing.then(async () => {
			try {
				const staged = await this.stagedReady;
				if (staged && !this.failure && !this.tooLarge && !this.aborted) await staged.writev(chunks);
			} catch (e) {
				this.failure ??= e as Error;
			} finally {
				this.inflightBytes -= bytes;
				if (this.blocked && this.inflightBytes + this.pendingBytes <= (this.opts.highWaterBytes ?? 8 * 1024 * 1024) / 2) {
					this.blocked = false;
					this.opts.onDrain?.();
				}
			}
		});
	}

	/** Resolves once every received byte is in the temp file, or held to be written by `place` (a small object). */
	async end(): Promise<void> {
		if (this.streaming) this.flush();
		await this.writing;
		await this.stagedReady;
	}

	/** After `end`: gives the object its name in the blob store. */
	place(key: BlobKey): Promise<PlacedBlob> {
		if (!this.staged) return Promise.reject(this.failure ?? new Error('no staged blob'));
		return this.staged.place(key, this.pending);
	}

	/** The captured dataset prefix. */
	headerPrefix(): Buffer {
		return this.header.length === 1 ? this.header[0] : Buffer.concat(this.header);
	}

	/** Drops the staged file (after a commit: nothing to drop). Safe to call more than once. */
	async abort(): Promise<void> {
		this.aborted = true;
		this.pending = [];
		await this.staged?.abort().catch(() => {});
	}
}

export class DatasetParseError extends Error {
	readonly code = 'cannot_understand';
	constructor(message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'DatasetParseError';
	}
}

/** Enough inflated bytes for every attribute in front of Pixel Data. */
const INFLATED_PREFIX_BYTES = 4 * 1024 * 1024;

/**
 * Inflates the start of a deflated dataset, growing the compressed input until
 * enough comes out: a 4 MiB prefix of a highly compressible dataset would
 * otherwise inflate to gigabytes. Partial input is fine with a sync flush.
 */
function inflatePrefix(prefix: Buffer): Buffer {
	let out: Buffer | null = null;
	for (let n = 16 * 1024; ; n *= 4) {
		try {
			out = inflateRawSync(prefix.subarray(0, n), { finishFlush: zc.Z_SYNC_FLUSH, maxOutputLength: 4 * INFLATED_PREFIX_BYTES });
		} catch (e) {
			// More output than we need from this much input: the previous step had enough.
			if (out && e instanceof RangeError) return out;
			throw new DatasetParseError('deflated dataset could not be inflated', { cause: e });
		}
		if (out.length >= INFLATED_PREFIX_BYTES || n >= prefix.length) return out;
	}
}

/**
 * Parses the attributes before Pixel Data from a dataset prefix into the DICOM
 * JSON model. The prefix may end mid-element: parsing stops at what is complete.
 * @throws DatasetParseError when not even the first element can be read
 */
export function parseDatasetPrefix(prefix: Buffer, transferSyntaxUid: string): DicomJsonDataset {
	let bytes = prefix;
	if (transferSyntaxUid === DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN) bytes = inflatePrefix(prefix);
	if (bytes.length < 8) throw new DatasetParseError(`dataset too short (${bytes.length} bytes)`);
	const implicit = transferSyntaxUid === IMPLICIT_VR_LITTLE_ENDIAN;
	// The reader never allocates from a declared length and bounds its own nesting; real objects nest a few levels.
	if (datasetShape(bytes, !implicit).tooDeep) throw new DatasetParseError(`sequences nest deeper than ${MAX_SEQUENCE_DEPTH} levels`);
	try {
		return readDatasetPrefix(bytes, implicit);
	} catch (e) {
		if (e instanceof DatasetPrefixError) throw new DatasetParseError(e.message, { cause: e });
		throw new DatasetParseError(`dataset could not be parsed: ${(e as Error).message}`, { cause: e });
	}
}
