/**
 * Keyed serial queue: tasks that share a key run one after another, in call
 * order; tasks with no key in common run concurrently. The HL7 handler keys
 * each message by its patient (two connections delivering messages for one
 * patient apply them in arrival order) and by the accessions and study UIDs it
 * names (two messages about one study are never in flight together, so a
 * group transaction never holds both). Memory is released once a key drains.
 */
export class KeyedSerialQueue {
	private readonly tails = new Map<string, Promise<void>>();

	/** Number of keys with queued or running work. */
	get size(): number {
		return this.tails.size;
	}

	/** Run `task` after every earlier task sharing one of `keys` settled. */
	run<T>(keys: string | readonly string[], task: () => Promise<T>): Promise<T> {
		const list = typeof keys === 'string' ? [keys] : [...new Set(keys)];
		const earlier = list.flatMap((k) => this.tails.get(k) ?? []);
		// Tails never reject, so `task` runs once every earlier task settled, whatever its outcome.
		const result = earlier.length === 0 ? task() : earlier.length === 1 ? earlier[0].then(task) : Promise.all(earlier).then(task);
		const tail = result.then(
			() => undefined,
			() => undefined
		);
		for (const k of list) this.tails.set(k, tail);
		void tail.then(() => {
			for (const k of list) if (this.tails.get(k) === tail) this.tails.delete(k);
		});
		return result;
	}
}
