/**
 * Keyed serial queue: tasks with the same key run one after another, in call
 * order; different keys run concurrently. The handler uses it with the patient key
 * so that two connections delivering messages for one patient apply them in
 * arrival order. Memory is released once a key's queue drains.
 */
export class KeyedSerialQueue {
	private readonly tails = new Map<string, Promise<unknown>>();

	/** Number of keys with queued or running work. */
	get size(): number {
		return this.tails.size;
	}

	/** Run `task` after every earlier task with the same key settled. */
	run<T>(key: string, task: () => Promise<T>): Promise<T> {
		const prev = this.tails.get(key) ?? Promise.resolve();
		const result = prev.then(task, task);
		const tail = result.then(
			() => undefined,
			() => undefined
		);
		this.tails.set(key, tail);
		void tail.then(() => {
			if (this.tails.get(key) === tail) this.tails.delete(key);
		});
		return result;
	}
}
