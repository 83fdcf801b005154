/**
 * GroupCommit's scheduling and fallback, with writers that record what they
 * were given (no database: the HL7 handler's tests cover the real writers).
 */
import { describe, expect, it } from 'vitest';
import { GroupCommit } from './group-commit';

/** Writers that record each transaction's items and settle when the test says so. */
function recordingWriters(options: { failGroupWhen?: (items: number[]) => boolean; failAlone?: (item: number) => boolean } = {}) {
	const transactions: { kind: 'alone' | 'group'; items: number[] }[] = [];
	const gates: (() => void)[] = [];
	const gate = () => new Promise<void>((r) => gates.push(r));
	const gc = new GroupCommit<number, string>({
		maxGroup: 3,
		writeAlone: async (item) => {
			transactions.push({ kind: 'alone', items: [item] });
			await gate();
			if (options.failAlone?.(item)) throw new Error(`item ${item} refused`);
			return `alone:${item}`;
		},
		writeGroup: async (items) => {
			transactions.push({ kind: 'group', items });
			await gate();
			if (options.failGroupWhen?.(items)) throw new Error('group failed');
			return items.map((i) => `group:${i}`);
		}
	});
	/** Lets every transaction that is waiting finish, until none is left. */
	const drain = async () => {
		for (let i = 0; i < 100; i++) {
			await new Promise((r) => setImmediate(r));
			const open = gates.splice(0);
			if (open.length === 0 && i > 2) return;
			for (const g of open) g();
		}
	};
	return { gc, transactions, drain };
}

describe('GroupCommit', () => {
	it('writes an item that finds the writer idle at once, alone; what queues meanwhile goes together, at most maxGroup per transaction', async () => {
		const { gc, transactions, drain } = recordingWriters();
		const outcomes = Promise.all([1, 2, 3, 4, 5, 6].map((i) => gc.submit(i)));
		await drain();
		expect(await outcomes).toEqual(['alone:1', 'group:2', 'group:3', 'group:4', 'group:5', 'group:6']);
		expect(transactions).toEqual([
			{ kind: 'alone', items: [1] },
			{ kind: 'group', items: [2, 3, 4] },
			{ kind: 'group', items: [5, 6] }
		]);
		expect(gc.counters).toMatchObject({ transactions: 3, items: 6, failedGroups: 0 });
	});

	it('a failed group is written again one item per transaction, each item with its own outcome', async () => {
		const { gc, transactions, drain } = recordingWriters({ failGroupWhen: (items) => items.includes(3), failAlone: (i) => i === 3 });
		const outcomes = Promise.allSettled([1, 2, 3, 4].map((i) => gc.submit(i)));
		await drain();
		const settled = await outcomes;
		expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message))).toEqual([
			'alone:1',
			'alone:2',
			'item 3 refused',
			'alone:4'
		]);
		expect(transactions.map((t) => t.kind)).toEqual(['alone', 'group', 'alone', 'alone', 'alone']);
		expect(gc.counters.failedGroups).toBe(1);
	});

	it('keeps serving after a failure', async () => {
		const { gc, drain } = recordingWriters({ failAlone: (i) => i === 1 });
		const first = gc.submit(1).then(
			() => 'written',
			(err: Error) => err.message
		);
		await drain();
		expect(await first).toBe('item 1 refused');
		const next = gc.submit(2);
		await drain();
		expect(await next).toBe('alone:2');
	});

	it('without writeAlone a failed group fails every item in it, and a group of one goes through writeGroup', async () => {
		const written: number[][] = [];
		const gc = new GroupCommit<number, number>({
			maxGroup: 10,
			writeGroup: async (items) => {
				written.push(items);
				await new Promise((r) => setImmediate(r));
				if (items.includes(3)) throw new Error('batch refused');
				return items.map((i) => i * 10);
			}
		});
		const settled = await Promise.allSettled([1, 2, 3].map((i) => gc.submit(i)));
		expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message))).toEqual([10, 'batch refused', 'batch refused']);
		expect(written).toEqual([[1], [2, 3]]);
		expect(gc.counters.failedGroups).toBe(1);
	});

	it('with maxInFlight a further transaction starts beside a running one only once minOverlapGroup items wait; idle() waits for all', async () => {
		const running: number[][] = [];
		let concurrent = 0;
		let most = 0;
		const gates: (() => void)[] = [];
		const gc = new GroupCommit<number, number>({
			maxGroup: 3,
			maxInFlight: 2,
			minOverlapGroup: 2,
			writeGroup: async (items) => {
				running.push(items);
				most = Math.max(most, ++concurrent);
				await new Promise<void>((r) => gates.push(r));
				concurrent--;
				return items;
			}
		});
		const all = [gc.submit(1), gc.submit(2)];
		// 1 went alone; 2 waits, but one item is not enough to start a second transaction.
		expect(running).toEqual([[1]]);
		all.push(gc.submit(3));
		// Two wait now: a second transaction starts beside the first.
		expect(running).toEqual([[1], [2, 3]]);
		let idle = false;
		const idleDone = gc.idle().then(() => (idle = true));
		while (gates.length > 0 || running.flat().length < 3) {
			await new Promise((r) => setImmediate(r));
			gates.splice(0).forEach((g) => g());
		}
		expect(await Promise.all(all)).toEqual([1, 2, 3]);
		await idleDone;
		expect(idle).toBe(true);
		expect(most).toBe(2);
	});

	it('gatherMs: an item that finds the writer idle waits for others; a full group goes at once; a write that ends does not wait again', async () => {
		const written: number[][] = [];
		const gates: (() => void)[] = [];
		const gc = new GroupCommit<number, number>({
			maxGroup: 4,
			gatherMs: 30,
			writeGroup: async (items) => {
				written.push(items);
				await new Promise<void>((r) => gates.push(r));
				return items;
			}
		});
		const first = [gc.submit(1), gc.submit(2)];
		await new Promise((r) => setTimeout(r, 5));
		// Still gathering: nothing written yet.
		expect(written).toEqual([]);
		first.push(gc.submit(3));
		await new Promise((r) => setTimeout(r, 50));
		expect(written).toEqual([[1, 2, 3]]);
		// Arrivals while writing: once the write ends they go at once, without a second wait.
		const second = [gc.submit(4), gc.submit(5)];
		gates.shift()!();
		await Promise.all(first);
		await new Promise((r) => setImmediate(r));
		expect(written).toEqual([[1, 2, 3], [4, 5]]);
		gates.shift()!();
		await Promise.all(second);
		// Four arrivals fill a group: it goes without waiting out the gather time.
		const third = [6, 7, 8, 9].map((i) => gc.submit(i));
		expect(written).toEqual([[1, 2, 3], [4, 5], [6, 7, 8, 9]]);
		gates.shift()!();
		expect(await Promise.all(third)).toEqual([6, 7, 8, 9]);
	});
});
