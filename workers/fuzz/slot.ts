/**
 * The input of the case in progress, in shared memory: written by the fuzzing
 * thread before each case, read by the main thread's watchdog after a hang or a
 * thread death. Layout: int32 [state, length, case number, reserved], then bytes.
 */
import { MAX_INPUT_BYTES } from './engine';

const HEADER = 16;

export class CaseSlot {
	private readonly head: Int32Array;
	private readonly bytes: Uint8Array;

	constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(HEADER + MAX_INPUT_BYTES)) {
		this.head = new Int32Array(buffer, 0, 4);
		this.bytes = new Uint8Array(buffer, HEADER);
	}

	write(input: Uint8Array): void {
		const n = Math.min(input.length, this.bytes.length);
		this.bytes.set(input.subarray(0, n));
		Atomics.store(this.head, 1, n);
		Atomics.store(this.head, 0, 1);
		Atomics.add(this.head, 2, 1);
	}

	idle(): void {
		Atomics.store(this.head, 0, 0);
	}

	get running(): boolean {
		return Atomics.load(this.head, 0) === 1;
	}

	/** Increments with every case: the watchdog's sign of progress. */
	get caseNumber(): number {
		return Atomics.load(this.head, 2);
	}

	read(): Buffer {
		return Buffer.from(this.bytes.subarray(0, Atomics.load(this.head, 1)));
	}
}
