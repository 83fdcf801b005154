/**
 * Group commit: work that arrives while one transaction is being written goes
 * into the next one, together.
 *
 * An ingest edge acknowledges each message or object only after its commit.
 * One transaction per item costs a BEGIN, a COMMIT with its WAL flush and a few
 * round trips each; on this project's reference machine every round trip is a
 * process wakeup that costs CPU on both sides, a large share of the work per
 * item. Here one writer runs at a time
 * (two concurrent writers measured slower on the HL7 bench: smaller groups):
 * whatever queued meanwhile is written as one group, so latency stays about
 * one or two commits while throughput grows with the number of senders. An
 * item that arrives when nothing is being written goes at once, alone.
 *
 * A group that fails for any reason (a bad item, a conflict between two items,
 * a lost connection) is rolled back by its writer, and then every item of it is
 * written alone, concurrently: the outcome of each item is exactly what it
 * would have been without grouping, only later.
 */

export interface GroupCommitOptions<I, O> {
	/** Most items in one group. */
	maxGroup: number;
	/** Writes one item in a transaction of its own (a group of one, and each item of a failed group). */
	writeAlone(item: I): Promise<O>;
	/** Writes two or more items in one transaction, outcomes in item order; throws (after rolling back) to send them back alone. */
	writeGroup(items: I[]): Promise<O[]>;
	/** A group failed and its items are being written alone (for a debug log). */
	onGroupFailed?(err: unknown, size: number): void;
}

interface Queued<I, O> {
	item: I;
	resolve(out: O): void;
	reject(err: unknown): void;
}

export class GroupCommit<I, O> {
	private readonly queue: Queued<I, O>[] = [];
	private writing = false;
	/** Transactions written (groups and items alone) and items in them, for the heartbeat and benchmarks. */
	readonly counters = { transactions: 0, items: 0, failedGroups: 0 };

	constructor(private readonly o: GroupCommitOptions<I, O>) {}

	/** Resolves with the item's outcome once the transaction holding it committed. */
	submit(item: I): Promise<O> {
		return new Promise<O>((resolve, reject) => {
			this.queue.push({ item, resolve, reject });
			this.pump();
		});
	}

	private pump(): void {
		if (this.writing || this.queue.length === 0) return;
		this.writing = true;
		const group = this.queue.splice(0, Math.max(1, this.o.maxGroup));
		void this.write(group).finally(() => {
			this.writing = false;
			this.pump();
		});
	}

	private async write(group: Queued<I, O>[]): Promise<void> {
		this.counters.transactions++;
		this.counters.items += group.length;
		if (group.length === 1) {
			const [q] = group;
			await this.o.writeAlone(q.item).then(q.resolve, q.reject);
			return;
		}
		let outs: O[];
		try {
			outs = await this.o.writeGroup(group.map((q) => q.item));
		} catch (err) {
			this.counters.failedGroups++;
			this.o.onGroupFailed?.(err, group.length);
			this.counters.transactions += group.length;
			await Promise.all(group.map((q) => this.o.writeAlone(q.item).then(q.resolve, q.reject)));
			return;
		}
		group.forEach((q, i) => q.resolve(outs[i]));
	}
}
