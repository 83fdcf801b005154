/**
 * Group commit: work that arrives while a transaction is being written goes
 * into the next one, together.
 *
 * Callers that await their own commit (an ingest edge acknowledging a message
 * or an object, an event append) pay per transaction a BEGIN, a COMMIT with its
 * WAL flush and a few round trips; on this project's reference machine every
 * round trip is a process wakeup that costs CPU on both sides, a large share
 * of the work per item. So whatever queued while a transaction was written is
 * written as one group: latency stays about one or two commits while
 * throughput grows with the number of callers. An item that arrives when
 * nothing is being written goes at once, alone.
 *
 * By default one transaction is written at a time (two concurrent writers
 * measured slower on the HL7 bench: smaller groups). `maxInFlight` allows more,
 * each further one only once `minOverlapGroup` items wait behind those running
 * (the event appender: otherwise every early finisher would go out alone).
 *
 * A group that fails is rolled back by its writer. With `writeAlone`, every item
 * of it is then written alone, concurrently, so the outcome of each item is what
 * it would have been without grouping, only later; without it, every item of
 * the group fails with the group's error.
 */

export interface GroupCommitOptions<I, O> {
	/** Most items in one group. */
	maxGroup: number;
	/** Transactions written at the same time (default 1). */
	maxInFlight?: number;
	/** Items that must be waiting before a further transaction starts beside a running one (default 1). */
	minOverlapGroup?: number;
	/**
	 * Milliseconds an item that finds the writer idle waits for others to join it
	 * (default 0: it goes at once). For work nobody waits on item by item.
	 */
	gatherMs?: number;
	/** Writes a group in one transaction, outcomes in item order; throws (after rolling back) when it fails. Gets groups of two or more when `writeAlone` is given. */
	writeGroup(items: I[]): Promise<O[]>;
	/** Writes one item in a transaction of its own: a group of one, and each item of a failed group. */
	writeAlone?(item: I): Promise<O>;
	/** A group failed (for a debug log), before its items are written alone or fail. */
	onGroupFailed?(err: unknown, size: number): void;
}

interface Queued<I, O> {
	item: I;
	resolve(out: O): void;
	reject(err: unknown): void;
}

export class GroupCommit<I, O> {
	private readonly queue: Queued<I, O>[] = [];
	private inFlight = 0;
	private gathering: NodeJS.Timeout | null = null;
	private idleWaiters: (() => void)[] = [];
	/** Transactions written (groups and items alone) and items in them, for the heartbeat and benchmarks. */
	readonly counters = { transactions: 0, items: 0, failedGroups: 0 };

	constructor(private readonly o: GroupCommitOptions<I, O>) {}

	/** Resolves with the item's outcome once the transaction holding it committed. */
	submit(item: I): Promise<O> {
		return new Promise<O>((resolve, reject) => {
			this.queue.push({ item, resolve, reject });
			this.pump(true);
		});
	}

	/** Resolves when everything submitted so far has settled. */
	idle(): Promise<void> {
		if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
		return new Promise((r) => this.idleWaiters.push(r));
	}

	/** `arrival`: called for a new item (it may start a gathering wait), else after a write ended. */
	private pump(arrival = false): void {
		if (this.gathering) {
			if (this.queue.length < this.o.maxGroup) return;
			clearTimeout(this.gathering);
			this.gathering = null;
		} else if (arrival && this.o.gatherMs && this.inFlight === 0 && this.queue.length === 1) {
			this.gathering = setTimeout(() => {
				this.gathering = null;
				this.startWrites();
			}, this.o.gatherMs);
			return;
		}
		this.startWrites();
	}

	private startWrites(): void {
		const maxInFlight = this.o.maxInFlight ?? 1;
		const minOverlap = this.o.minOverlapGroup ?? 1;
		while (this.queue.length > 0 && this.inFlight < maxInFlight && (this.inFlight === 0 || this.queue.length >= minOverlap)) {
			const group = this.queue.splice(0, Math.max(1, this.o.maxGroup));
			this.inFlight++;
			void this.write(group).finally(() => {
				this.inFlight--;
				this.pump();
				if (this.queue.length === 0 && this.inFlight === 0) this.idleWaiters.splice(0).forEach((r) => r());
			});
		}
	}

	private async write(group: Queued<I, O>[]): Promise<void> {
		this.counters.transactions++;
		this.counters.items += group.length;
		const alone = this.o.writeAlone;
		if (group.length === 1 && alone) {
			const [q] = group;
			await alone(q.item).then(q.resolve, q.reject);
			return;
		}
		let outs: O[];
		try {
			outs = await this.o.writeGroup(group.map((q) => q.item));
		} catch (err) {
			this.counters.failedGroups++;
			this.o.onGroupFailed?.(err, group.length);
			if (!alone) {
				for (const q of group) q.reject(err);
				return;
			}
			this.counters.transactions += group.length;
			await Promise.all(group.map((q) => alone(q.item).then(q.resolve, q.reject)));
			return;
		}
		group.forEach((q, i) => q.resolve(outs[i]));
	}
}
