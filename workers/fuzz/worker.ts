/**
 * One fuzz target in a worker thread. Before each case the exact input is copied
 * into shared memory, so that when the case hangs or kills the thread the main
 * thread still knows which input did it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BlockCoverage } from './coverage';
import { fuzzLoop, type CrashReport, type LoopProgress } from './engine';
import { createTarget } from './registry';
import type { TargetName } from './target';
import { CaseSlot } from './slot';

export interface WorkerInput {
	target: TargetName;
	/** Epoch ms at which the loop stops. */
	deadline: number;
	seed: number;
	coverage: boolean;
	slot: SharedArrayBuffer;
}

export type WorkerMessage =
	| { type: 'ready' }
	| { type: 'progress'; progress: LoopProgress }
	| { type: 'crash'; crash: CrashReport }
	| { type: 'done'; progress: LoopProgress };

/** dcmjs logs every malformed element it meets; the fuzzer meets little else. */
async function silenceLibraries(): Promise<void> {
	const { default: dcmjs } = await import('dcmjs');
	const log = dcmjs.log as typeof dcmjs.log & { getLogger(name: string): { setLevel(level: string): void } };
	log.setLevel('silent');
	log.getLogger('validation.dcmjs').setLevel('silent');
}

const input = workerData as WorkerInput;
const post = (m: WorkerMessage) => parentPort!.postMessage(m);
const slot = new CaseSlot(input.slot);

const coverage = input.coverage ? new BlockCoverage() : undefined;
await coverage?.start();
await silenceLibraries();
const target = await createTarget(input.target);
post({ type: 'ready' });
try {
	const result = await fuzzLoop(target, {
		seconds: Math.max(0, (input.deadline - Date.now()) / 1000),
		seed: input.seed,
		coverage,
		onCase: (b) => slot.write(b),
		onProgress: (progress) => post({ type: 'progress', progress }),
		onCrash: (crash) => post({ type: 'crash', crash })
	});
	slot.idle();
	const { unique: _unique, ...progress } = result;
	post({ type: 'done', progress });
} finally {
	await target.close();
	await coverage?.stop();
}
