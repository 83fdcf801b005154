/**
 * Blob storage for received DICOM objects. The SCP acknowledges an object only
 * after its bytes are durable, so every write is atomic and synced:
 * temp file → fsync → rename into place → fsync the directory (grouped:
 * concurrent renames into one directory share an fsync that starts after them).
 *
 * Layout under the root: <study UID>/<series UID>/<SOP instance UID>.dcm
 */
import { createReadStream, type ReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
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

/** A write in progress: bytes go to a temp file until `commit` moves them into place. */
export interface StagedBlob {
	readonly tempPath: string;
	write(chunk: Uint8Array): Promise<void>;
	/** Bytes written so far. */
	readonly size: number;
	/** fsync + rename + fsync dir; after this the blob is durable under `key`. */
	commit(key: BlobKey): Promise<StoredBlob>;
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

async function fsyncDirOnce(dir: string): Promise<void> {
	const h = await open(dir, 'r');
	try {
		await h.sync();
	} finally {
		await h.close();
	}
}

/**
 * Group fsync of directories: renames into one directory that arrive while its
 * fsync runs share the next one (which starts after theirs, so it covers
 * them). Concurrent associations filing the same series pay one fsync, not one each.
 */
class DirSyncer {
	private readonly state = new Map<string, { running: Promise<void>; next: Promise<void> | null }>();

	sync(dir: string): Promise<void> {
		const st = this.state.get(dir);
		if (!st) {
			const running = fsyncDirOnce(dir).finally(() => {
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
				return fsyncDirOnce(dir).finally(() => {
					if (this.state.get(dir) === st && st.running === next && !st.next) this.state.delete(dir);
				});
			});
		return st.next;
	}
}

/** Filesystem blob store: the default for a single machine. */
export class FileBlobStore implements BlobStore {
	readonly root: string;
	private readonly tmpDir: string;

	private readonly dirSync = new DirSyncer();
	/** Directories known to exist (created by us): saves a mkdir per object. */
	private readonly knownDirs = new Set<string>();

	constructor(root: string) {
		this.root = root;
		// Temp files live under the root so rename() never crosses a filesystem.
		this.tmpDir = join(root, '.tmp');
	}

	private async ensureDir(dir: string): Promise<void> {
		if (this.knownDirs.has(dir)) return;
		await mkdir(dir, { recursive: true });
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

	async stage(): Promise<StagedBlob> {
		await this.ensureDir(this.tmpDir);
		const tempPath = join(this.tmpDir, `${randomUUID()}.part`);
		const handle: FileHandle = await open(tempPath, 'wx').catch(async (e: NodeJS.ErrnoException) => {
			if (e.code !== 'ENOENT') throw e;
			this.knownDirs.clear();
			await this.ensureDir(this.tmpDir);
			return open(tempPath, 'wx');
		});
		let size = 0;
		let done = false;
		let committed = false;
		const store = this;
		return {
			tempPath,
			get size() {
				return size;
			},
			async write(chunk) {
				let off = 0;
				while (off < chunk.length) {
					const { bytesWritten } = await handle.write(chunk, off, chunk.length - off);
					off += bytesWritten;
				}
				size += chunk.length;
			},
			async commit(key) {
				const path = store.pathOf(key);
				try {
					await handle.sync();
					await handle.close();
					done = true;
					await store.ensureDir(dirname(path));
					const created = !(await store.existsPath(path));
					await rename(tempPath, path).catch(async (e: NodeJS.ErrnoException) => {
						// Removed behind our back (cleanup, tests): forget it and create it again.
						if (e.code !== 'ENOENT') throw e;
						store.knownDirs.clear();
						await store.ensureDir(store.tmpDir);
						await store.ensureDir(dirname(path));
						await rename(tempPath, path);
					});
					committed = true;
					await store.dirSync.sync(dirname(path));
					return { path, size, created };
				} catch (e) {
					if (committed) throw new BlobStoreError('io_error', `could not sync blob directory: ${(e as Error).message}`, { cause: e });
					await rm(tempPath, { force: true });
					throw new BlobStoreError('io_error', `could not commit blob: ${(e as Error).message}`, { cause: e });
				}
			},
			async abort() {
				// After a commit the temp file is the blob: nothing to drop.
				if (committed) return;
				if (!done) {
					done = true;
					await handle.close().catch(() => {});
				}
				await rm(tempPath, { force: true });
			}
		};
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
