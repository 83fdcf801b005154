/**
 * Blob storage for received DICOM objects. The SCP acknowledges an object only
 * after its bytes are durable, so every write is atomic and synced:
 * temp file → rename into place → fsync the file and its directory. A
 * directory created on the way is made durable once, through its parent.
 * Directory fsyncs are grouped: entries made in one directory while its fsync
 * runs share the next one, which starts after them. A resend's bytes are
 * flushed before they replace a stored object.
 *
 * On a journaling filesystem (ext4 with its journal, XFS, btrfs) the file's
 * fsync already commits its rename; without a journal (ext4 created without
 * one, like this project's development VM) nothing promises that, so the
 * directory fsync is on by default. Measured with `radflow bench dicom` here:
 * no difference in instances/s outside the run-to-run spread.
 * DICOM_SYNC_DIRECTORIES=0 leaves it out (journaling filesystems only).
 *
 * Layout under the root: <study UID>/<series UID>/<SOP instance UID>.dcm
 */
import { closeSync, createReadStream, fsync, openSync, renameSync, statSync, write, writev, writevSync, type ReadStream } from 'node:fs';
import { mkdir, open as openHandle, rm, stat, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join, dirname } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { isValidUid } from '../../src/lib/domain/dicom/values';

export interface BlobKey {
	studyUid: string;
	seriesUid: string;
	sopUid: string;
}

export interface StoredBlob {
	path: string;
	size: number;
	/** False when an object with this key already existed and was replaced (a retry). */
	created: boolean;
}

/** A blob that has its name; `durable()` resolves once bytes and name survive a crash. */
export interface PlacedBlob extends StoredBlob {
	durable(): Promise<void>;
}

/** A write in progress: bytes go to a temp file until `commit` moves them into place. */
export interface StagedBlob {
	readonly tempPath: string;
	write(chunk: Uint8Array): Promise<void>;
	/** Appends several chunks with one system call where possible. */
	writev(chunks: readonly Uint8Array[]): Promise<void>;
	/** Bytes written so far. */
	readonly size: number;
	/** rename + fsync; after this the blob is durable under `key`. */
	commit(key: BlobKey): Promise<StoredBlob>;
	/**
	 * Commit in two steps, so the caller can overlap the flush with other work:
	 * `place` gives the blob its name (readable, complete, not yet durable);
	 * `durable` flushes it. A replaced blob (a resend) is flushed before it takes
	 * the name, so a crash never leaves a stored object half-replaced.
	 * `tail`: bytes not written yet (an object held whole until it ended), written first in one call.
	 */
	place(key: BlobKey, tail?: readonly Uint8Array[]): Promise<PlacedBlob>;
	/** Drops the temp file; safe to call more than once, and after commit (no-op). */
	abort(): Promise<void>;
}

export interface BlobStore {
	put(key: BlobKey, data: Uint8Array | Readable): Promise<StoredBlob>;
	stage(): Promise<StagedBlob>;
	get(key: BlobKey): Promise<Readable>;
	exists(key: BlobKey): Promise<boolean>;
}

export class BlobStoreError extends Error {
	readonly code: 'invalid_key' | 'not_found' | 'io_error';
	constructor(code: BlobStoreError['code'], message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'BlobStoreError';
		this.code = code;
	}
}

/** Thread-pool calls on a plain descriptor, as promises of the bytes written. */
const writeAt = (fd: number, b: Uint8Array, off: number, len: number) =>
	new Promise<number>((ok, fail) => write(fd, b, off, len, null, (e, n) => (e ? fail(e) : ok(n))));
const writevAt = (fd: number, chunks: readonly Uint8Array[]) =>
	new Promise<number>((ok, fail) => writev(fd, chunks as NodeJS.ArrayBufferView[], null, (e, n) => (e ? fail(e) : ok(n))));
const fsyncFd = promisify(fsync);

/** The chunks after their first `n` bytes (a short writev goes on from there). */
function skipBytes(chunks: Uint8Array[], n: number): Uint8Array[] {
	let i = 0;
	while (i < chunks.length && n >= chunks[i].length) n -= chunks[i++].length;
	return i < chunks.length ? [chunks[i].subarray(n), ...chunks.slice(i + 1)] : [];
}

/**
 * Open read-only handles on recently used directories, so a directory fsync is
 * one system call instead of open + fsync + close. Handles in use are never closed.
 */
class DirHandles {
	private readonly open = new Map<string, { handle: Promise<FileHandle>; users: number }>();
	constructor(private readonly max = 128) {}

	async sync(dir: string): Promise<void> {
		let e = this.open.get(dir);
		if (!e) {
			this.evict();
			e = { handle: openHandle(dir, 'r'), users: 0 };
			this.open.set(dir, e);
			e.handle.catch(() => this.open.delete(dir));
		}
		e.users++;
		try {
			await (await e.handle).sync();
		} finally {
			e.users--;
		}
	}

	private evict(): void {
		if (this.open.size < this.max) return;
		for (const [dir, e] of this.open) {
			if (e.users > 0) continue;
			this.open.delete(dir);
			void e.handle.then((h) => h.close()).catch(() => {});
			if (this.open.size < this.max) return;
		}
	}

	forget(): void {
		for (const [dir, e] of this.open) {
			if (e.users > 0) continue;
			this.open.delete(dir);
			void e.handle.then((h) => h.close()).catch(() => {});
		}
	}
}

/**
 * Group fsync of directories: entries created in one directory while its fsync
 * runs share the next one (which starts after them, so it covers them).
 * Concurrent associations opening the same study pay one fsync, not one each.
 */
class DirSyncer {
	constructor(private readonly fsyncDirOnce: (dir: string) => Promise<void>) {}
	private readonly state = new Map<string, { running: Promise<void>; next: Promise<void> | null }>();

	sync(dir: string): Promise<void> {
		const st = this.state.get(dir);
		if (!st) {
			const running = this.fsyncDirOnce(dir).finally(() => {
				const cur = this.state.get(dir);
				if (cur && cur.running === running && !cur.next) this.state.delete(dir);
			});
			this.state.set(dir, { running, next: null });
			return running;
		}
		st.next ??= st.running
			.catch(() => {})
			.then(() => {
				const next = st.next!;
				st.running = next;
				st.next = null;
				return this.fsyncDirOnce(dir).finally(() => {
					if (this.state.get(dir) === st && st.running === next && !st.next) this.state.delete(dir);
				});
			});
		return st.next;
	}
}

export interface FileBlobStoreOptions {
	/** Also fsync an object's directory after its rename (default true; false only on journaling filesystems). */
	syncDirectories?: boolean;
}

/** FileBlobStore options from the environment: DICOM_SYNC_DIRECTORIES=0 (or false) turns the directory fsync off. */
export function blobStoreOptionsFromEnv(env: Record<string, string | undefined>): FileBlobStoreOptions {
	const v = env.DICOM_SYNC_DIRECTORIES?.trim().toLowerCase();
	return { syncDirectories: !(v === '0' || v === 'false') };
}

/** Filesystem blob store: the default for a single machine. */
export class FileBlobStore implements BlobStore {
	readonly root: string;
	private readonly tmpDir: string;

	private readonly dirHandles = new DirHandles();
	private readonly dirSync = new DirSyncer((dir) => this.fsyncDirectory(dir));
	/** Directories known to exist (created by us): saves a mkdir per object. */
	private readonly knownDirs = new Set<string>();

	constructor(
		root: string,
		private readonly options: FileBlobStoreOptions = {}
	) {
		this.root = root;
		// Temp files live under the root so rename() never crosses a filesystem.
		this.tmpDir = join(root, '.tmp');
	}

	/**
	 * Creates `dir` (and missing parents) once; a directory we created is made
	 * durable by fsyncing its parent, so the entries renamed into it survive a crash.
	 */
	private async ensureDir(dir: string): Promise<void> {
		if (this.knownDirs.has(dir)) return;
		const first = await mkdir(dir, { recursive: true });
		if (first) {
			// mkdir returns the first directory it created: every parent from there up to dir's parent changed.
			for (let d = dir; d.length >= first.length; d = dirname(d)) await this.dirSync.sync(dirname(d));
		}
		if (this.knownDirs.size > 10_000) this.knownDirs.clear();
		this.knownDirs.add(dir);
	}

	/** Path of a key. UIDs are validated first, which also rules out path traversal. */
	pathOf(key: BlobKey): string {
		for (const [name, uid] of Object.entries(key)) {
			if (!isValidUid(uid)) throw new BlobStoreError('invalid_key', `${name} is not a valid UID`);
		}
		return join(this.root, key.studyUid, key.seriesUid, `${key.sopUid}.dcm`);
	}

	/**
	 * Opens a temp file for a new blob. The temp file is a plain descriptor, not
	 * a FileHandle: opening, writing the last bytes of a small object, renaming
	 * and closing are synchronous calls of microseconds, where each trip through
	 * the thread pool wakes a worker and then the event loop again (measured with
	 * `radflow bench dicom`: three such trips per object cost more main-thread CPU
	 * than the calls themselves). Only the fsync, and the writes of an object too
	 * large to hold, leave the event loop.
	 */
	async stage(): Promise<StagedBlob> {
		await this.ensureDir(this.tmpDir);
		const tempPath = join(this.tmpDir, `${randomUUID()}.part`);
		let fd: number;
		try {
			fd = openSync(tempPath, 'wx');
		} catch (e) {
			if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
			// The temp folder was removed behind our back (cleanup, tests): create it again.
			this.knownDirs.clear();
			await this.ensureDir(this.tmpDir);
			fd = openSync(tempPath, 'wx');
		}
		let size = 0;
		let committed = false;
		// A descriptor is closed only once no call on it is in the thread pool: its
		// number could otherwise be reused by another open before that call ran.
		let inPool = 0;
		let closing = false;
		let closed = false;
		const closeNow = () => {
			if (closed) return;
			closed = true;
			try {
				closeSync(fd);
			} catch {
				// Nothing to do: the bytes were flushed (or are being dropped) already.
			}
		};
		const close = () => {
			closing = true;
			if (inPool === 0) closeNow();
		};
		const pooled = async <T>(call: () => Promise<T>): Promise<T> => {
			if (closing) throw new Error('staged blob is closed');
			inPool++;
			try {
				return await call();
			} finally {
				if (--inPool === 0 && closing) closeNow();
			}
		};
		const store = this;
		const blob: StagedBlob = {
			tempPath,
			get size() {
				return size;
			},
			async write(chunk) {
				let off = 0;
				while (off < chunk.length) off += await pooled(() => writeAt(fd, chunk, off, chunk.length - off));
				size += chunk.length;
			},
			async writev(chunks) {
				const total = chunks.reduce((n, c) => n + c.length, 0);
				// A short write (rare) goes on from where it stopped.
				for (let written = 0, rest = chunks as Uint8Array[]; written < total; ) {
					const bytesWritten = await pooled(() => writevAt(fd, rest));
					written += bytesWritten;
					rest = skipBytes(rest, bytesWritten);
				}
				size += total;
			},
			async commit(key) {
				const placed = await blob.place(key);
				await placed.durable();
				return { path: placed.path, size: placed.size, created: placed.created };
			},
			async place(key, tail = []) {
				const path = store.pathOf(key);
				let renamed = false;
				let created = false;
				try {
					// Synchronous calls, each a few microseconds on a local disk, where a trip
					// through the thread pool costs several times that; only flushes leave the thread.
					const tailBytes = tail.reduce((n, c) => n + c.length, 0);
					for (let written = 0, rest = tail as Uint8Array[]; written < tailBytes; ) {
						const n = writevSync(fd, rest as NodeJS.ArrayBufferView[]);
						written += n;
						rest = skipBytes(rest, n);
					}
					size += tailBytes;
					await store.ensureDir(dirname(path));
					created = !statSync(path, { throwIfNoEntry: false })?.isFile();
					// A resend replaces a stored object: its bytes are durable before they take the name.
					if (!created) await pooled(() => fsyncFd(fd));
					await store.renameInto(tempPath, path);
					renamed = true;
				} catch (e) {
					close();
					// A new object that failed is removed; a replaced one keeps the (complete) bytes it got.
					if (!renamed || created) await rm(renamed ? path : tempPath, { force: true }).catch(() => {});
					committed = true; // nothing left to abort
					throw new BlobStoreError('io_error', `could not commit blob: ${(e as Error).message}`, { cause: e });
				}
				committed = true;
				let flushing: Promise<void> | null = null;
				return {
					path,
					size,
					created,
					durable: () =>
						(flushing ??= (async () => {
							try {
								// The file and, unless turned off, the directory it was renamed into (see the file comment).
								await Promise.all([pooled(() => fsyncFd(fd)), store.options.syncDirectories === false ? null : store.dirSync.sync(dirname(path))]);
							} catch (e) {
								close();
								// A new object that failed is removed; a replaced one keeps the (complete) bytes it got.
								if (created) await rm(path, { force: true }).catch(() => {});
								throw new BlobStoreError('io_error', `could not commit blob: ${(e as Error).message}`, { cause: e });
							}
							close();
						})())
				};
			},
			async abort() {
				// After a commit the temp file is the blob: nothing to drop.
				if (committed) return;
				close();
				await rm(tempPath, { force: true });
			}
		};
		return blob;
	}

	/** fsync(2) of a directory (through cached handles); the one place directories are flushed. */
	protected fsyncDirectory(dir: string): Promise<void> {
		return this.dirHandles.sync(dir);
	}

	/** rename(2) into `path`; a directory removed behind our back (cleanup, tests) is created again. */
	private async renameInto(tempPath: string, path: string): Promise<void> {
		try {
			renameSync(tempPath, path);
		} catch (e) {
			if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
			this.knownDirs.clear();
			this.dirHandles.forget();
			await this.ensureDir(this.tmpDir);
			await this.ensureDir(dirname(path));
			renameSync(tempPath, path);
		}
	}

	async put(key: BlobKey, data: Uint8Array | Readable): Promise<StoredBlob> {
		this.pathOf(key);
		const staged = await this.stage();
		try {
			if (data instanceof Uint8Array) await staged.write(data);
			else for await (const chunk of data) await staged.write(chunk as Uint8Array);
			return await staged.commit(key);
		} catch (e) {
			await staged.abort();
			throw e instanceof BlobStoreError ? e : new BlobStoreError('io_error', (e as Error).message, { cause: e });
		}
	}

	async get(key: BlobKey): Promise<ReadStream> {
		const path = this.pathOf(key);
		if (!(await this.existsPath(path))) throw new BlobStoreError('not_found', 'no blob for this key');
		return createReadStream(path);
	}

	async exists(key: BlobKey): Promise<boolean> {
		return this.existsPath(this.pathOf(key));
	}

	private async existsPath(path: string): Promise<boolean> {
		try {
			return (await stat(path)).isFile();
		} catch {
			return false;
		}
	}
}
