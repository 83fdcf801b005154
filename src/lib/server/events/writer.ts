/**
 * Group commit for high-volume event appends: callers await their own event,
 * the writer commits whatever accumulated while the previous batch was being
 * written, in one transaction. Throughput grows with load; latency stays one
 * commit or two.
 */
import type { Sql } from '../db/client';
import { pipelinedTransaction } from '../db/pipelined';
import { insertEvents, type NewEvent, type StoredEvent } from './store';

interface Pending {
	event: NewEvent;
	resolve: (e: StoredEvent | null) => void;
	reject: (err: unknown) => void;
}

export interface EventWriterOptions {
	/** Largest batch in one transaction. */
	maxBatch?: number;
	/** Batches written concurrently (each in its own transaction; they commit in parallel). */
	maxInFlight?: number;
	/** Smallest backlog that starts a batch while another is in flight. */
	minOverlapBatch?: number;
}

export class EventWriter {
	private queue: Pending[] = [];
	private inFlight = 0;
	private readonly maxBatch: number;
	private readonly maxInFlight: number;
	private readonly minOverlapBatch: number;
	private idle: (() => void)[] = [];

	constructor(
		private readonly sql: Sql,
		options: EventWriterOptions = {}
	) {
		this.maxBatch = options.maxBatch ?? 5000;
		this.maxInFlight = options.maxInFlight ?? 4;
		this.minOverlapBatch = options.minOverlapBatch ?? 256;
	}

	/** Resolves with the stored event once committed, or null when its key was a duplicate. */
	append(event: NewEvent): Promise<StoredEvent | null> {
		return new Promise((resolve, reject) => {
			this.queue.push({ event, resolve, reject });
			this.pump();
		});
	}

	/** Resolves when everything appended so far is committed. */
	flushed(): Promise<void> {
		if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
		return new Promise((r) => this.idle.push(r));
	}

	private pump(): void {
		// A second (third…) batch starts only with a real backlog behind it: otherwise
		// every early finisher would go out alone, and many one-event transactions
		// cost far more than one transaction of everything that accumulated.
		while (this.inFlight < this.maxInFlight && this.queue.length > 0 && (this.inFlight === 0 || this.queue.length >= this.minOverlapBatch)) {
			const batch = this.queue.splice(0, this.maxBatch);
			this.inFlight++;
			this.write(batch).finally(() => {
				this.inFlight--;
				if (this.queue.length > 0) this.pump();
				else if (this.inFlight === 0) this.idle.splice(0).forEach((r) => r());
			});
		}
	}

	private async write(batch: Pending[]): Promise<void> {
		try {
			const { inserted, storedBefore } = await this.commitBatch(batch.map((p) => p.event));
			// The common case: nothing skipped, so the i-th stored event is the i-th appended.
			if (inserted.length === batch.length) {
				batch.forEach((p, i) => p.resolve(inserted[i]));
				return;
			}
			// insertEvents keeps input order and skips only repeated keys: walk both in step.
			const old = new Set(storedBefore);
			const seen = new Set<string>();
			let i = 0;
			for (const p of batch) {
				const key = p.event.idempotencyKey ?? null;
				if (key !== null) {
					const repeat = seen.has(key) || old.has(key);
					seen.add(key);
					if (repeat) {
						p.resolve(null);
						continue;
					}
				}
				p.resolve(inserted[i++] ?? null);
			}
		} catch (err) {
			for (const p of batch) p.reject(err);
		}
	}

	/**
	 * BEGIN, the insert and COMMIT in one pipeline: one round trip per batch.
	 * insertEvents sends its statements before it first awaits, so the deferred
	 * insert is on the wire ahead of COMMIT (see pipelinedTransaction).
	 */
	private async commitBatch(events: NewEvent[]): ReturnType<typeof insertEvents> {
		const { insert } = await pipelinedTransaction(this.sql, async (tx, ctx) => {
			const insert = insertEvents(tx, events);
			ctx.defer(insert);
			return { insert };
		});
		return insert;
	}
}
