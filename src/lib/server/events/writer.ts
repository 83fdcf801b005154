/**
 * Group commit for high-volume event appends (GroupCommit): callers await their
 * own event, the writer commits whatever accumulated while the previous batch
 * was being written, in one transaction, up to four at once once a backlog
 * builds. Throughput grows with load; latency stays one commit or two.
 */
import type { Sql } from '../db/client';
import { GroupCommit } from '../db/group-commit';
import { pipelinedTransaction } from '../db/pipelined';
import { insertEvents, type NewEvent, type StoredEvent } from './store';

export interface EventWriterOptions {
	/** Largest batch in one transaction. */
	maxBatch?: number;
	/** Batches written concurrently (each in its own transaction; they commit in parallel). */
	maxInFlight?: number;
	/** Smallest backlog that starts a batch while another is in flight. */
	minOverlapBatch?: number;
}

export class EventWriter {
	private readonly group: GroupCommit<NewEvent, StoredEvent | null>;

	constructor(
		private readonly sql: Sql,
		options: EventWriterOptions = {}
	) {
		this.group = new GroupCommit({
			maxGroup: options.maxBatch ?? 5000,
			maxInFlight: options.maxInFlight ?? 4,
			// A second (third…) batch starts only with a real backlog behind it: many
			// one-event transactions cost far more than one of everything that accumulated.
			minOverlapGroup: options.minOverlapBatch ?? 256,
			// No retry alone: a batch fails whole (its appends all reject), like one statement.
			writeGroup: (events) => this.write(events)
		});
	}

	/** Resolves with the stored event once committed, or null when its key was a duplicate. */
	append(event: NewEvent): Promise<StoredEvent | null> {
		return this.group.submit(event);
	}

	/** Resolves when everything appended so far is committed. */
	flushed(): Promise<void> {
		return this.group.idle();
	}

	/** One batch: the stored event for each append, null for a repeated key. */
	private async write(events: NewEvent[]): Promise<(StoredEvent | null)[]> {
		const { inserted, storedBefore } = await this.commitBatch(events);
		// The common case: nothing skipped, so the i-th stored event is the i-th appended.
		if (inserted.length === events.length) return inserted;
		// insertEvents keeps input order and skips only repeated keys: walk both in step.
		const old = new Set(storedBefore);
		const seen = new Set<string>();
		let i = 0;
		return events.map((e) => {
			const key = e.idempotencyKey ?? null;
			if (key !== null) {
				const repeat = seen.has(key) || old.has(key);
				seen.add(key);
				if (repeat) return null;
			}
			return inserted[i++] ?? null;
		});
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
