/** A binary min-heap ordered by `less`; used for event queues and pool buckets. */
export class Heap<T> {
	private readonly data: T[] = [];
	constructor(private readonly less: (a: T, b: T) => boolean) {}

	get size(): number {
		return this.data.length;
	}

	peek(): T | undefined {
		return this.data[0];
	}

	push(x: T): void {
		const d = this.data;
		d.push(x);
		let i = d.length - 1;
		while (i > 0) {
			const parent = (i - 1) >> 1;
			if (!this.less(d[i], d[parent])) break;
			[d[i], d[parent]] = [d[parent], d[i]];
			i = parent;
		}
	}

	pop(): T | undefined {
		const d = this.data;
		if (d.length === 0) return undefined;
		const top = d[0];
		const last = d.pop()!;
		if (d.length > 0) {
			d[0] = last;
			let i = 0;
			for (;;) {
				const l = 2 * i + 1;
				const r = l + 1;
				let m = i;
				if (l < d.length && this.less(d[l], d[m])) m = l;
				if (r < d.length && this.less(d[r], d[m])) m = r;
				if (m === i) break;
				[d[i], d[m]] = [d[m], d[i]];
				i = m;
			}
		}
		return top;
	}
}
