/**
 * Reading a study's image files for triage: each file's first bytes for its
 * header, the whole file only when a model chooses the image, into buffers
 * reused from job to job.
 *
 * The reads are synchronous on purpose. The files were just received and sit
 * in the page cache, where a read takes microseconds; through the libuv pool,
 * the ~150 open / read / close calls of a 32-slice head CT cost milliseconds
 * of thread hand-offs, many more on a busy machine (`radflow bench triage`).
 * Inference holds the event loop far longer than these reads do.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { LazyInstance } from '../../../../workers/triage/infer';

/** Bytes read first from each image file: the header of all but unusual files. */
export const HEAD_BYTES = 16 * 1024;

/**
 * Buffers for image files, handed from one job to the next. A head CT's
 * chosen slices are ~6 MB; allocated afresh for every job, they made V8 run
 * a full collection every few studies, milliseconds in the middle of a job.
 * Buffers beyond `keepBytes` are left to the collector.
 */
export class FileBuffers {
	private readonly free: Uint8Array[] = [];
	private freeBytes = 0;

	constructor(private readonly keepBytes = 32 * 1024 ** 2) {}

	/** The smallest free buffer of at least `size` bytes, or a new one. */
	take(size: number): Uint8Array {
		let best = -1;
		for (let i = 0; i < this.free.length; i++) {
			if (this.free[i].length >= size && (best < 0 || this.free[i].length < this.free[best].length)) best = i;
		}
		if (best < 0) return new Uint8Array(size);
		const [b] = this.free.splice(best, 1);
		this.freeBytes -= b.length;
		return b;
	}

	give(buffers: Iterable<Uint8Array>): void {
		for (const b of buffers) {
			if (this.freeBytes + b.length > this.keepBytes) continue;
			this.free.push(b);
			this.freeBytes += b.length;
		}
	}
}

/**
 * The files one job reads. Every buffer it hands out (heads, whole files, and
 * the frames decoded from them, which are views) stays valid until `close()`,
 * which gives the buffers back: call it once the job is done with the pixels.
 */
export class StudyFiles {
	private readonly taken: Uint8Array[] = [];
	private readonly opened = new Map<string, LazyInstance | null>();

	constructor(private readonly buffers: FileBuffers) {}

	/** An image file, opened once per job however many models read it; null when it is missing. */
	open(path: string): LazyInstance | null {
		if (!this.opened.has(path)) this.opened.set(path, this.openFile(path));
		return this.opened.get(path)!;
	}

	close(): void {
		this.opened.clear();
		this.buffers.give(this.taken.splice(0));
	}

	private take(size: number): Uint8Array {
		const b = this.buffers.take(size);
		this.taken.push(b);
		return b;
	}

	private openFile(path: string): LazyInstance | null {
		let head: Uint8Array;
		try {
			const fd = openSync(path, 'r');
			try {
				const buf = this.take(HEAD_BYTES);
				head = buf.subarray(0, readSync(fd, buf, 0, HEAD_BYTES, 0));
			} finally {
				closeSync(fd);
			}
		} catch {
			return null;
		}
		// A file shorter than the head is already whole.
		if (head.length < HEAD_BYTES) return { head, read: async () => head };
		let whole: Uint8Array | null = null;
		return { head, read: async () => (whole ??= this.readWhole(path)) };
	}

	private readWhole(path: string): Uint8Array {
		const fd = openSync(path, 'r');
		try {
			const size = fstatSync(fd).size;
			const buf = this.take(size);
			let n = 0;
			while (n < size) {
				const r = readSync(fd, buf, n, size - n, n);
				if (r === 0) break; // shorter than fstat said: what is there is what the decoder judges
				n += r;
			}
			return buf.subarray(0, n);
		} finally {
			closeSync(fd);
		}
	}
}
