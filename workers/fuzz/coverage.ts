/**
 * Coverage feedback from V8's own block coverage (`node:inspector`, Profiler
 * precise coverage with block counts): after each case the counters are taken
 * (and reset), and an input that reached a block no earlier input reached is
 * kept in the corpus. Only Radflow's code and the protocol libraries count.
 *
 * @see https://chromedevtools.github.io/devtools-protocol/tot/Profiler/#method-takePreciseCoverage
 */
import { Session } from 'node:inspector/promises';

const COUNTED = /\/(workers|src)\/|\/node_modules\/(dcmjs|dcmjs-dimse|@medplum)\//;

interface Range {
	startOffset: number;
	endOffset: number;
	count: number;
}
interface ScriptCoverage {
	url: string;
	functions: { ranges: Range[] }[];
}

export class BlockCoverage {
	private readonly session = new Session();
	private readonly seen = new Set<string>();
	private started = false;

	/** Start before the code under test is loaded, so every function gets block counters. */
	async start(): Promise<void> {
		this.session.connect();
		await this.session.post('Profiler.enable');
		await this.session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
		this.started = true;
	}

	/** Blocks reached since the last call that were never reached before. */
	async newBlocks(): Promise<number> {
		if (!this.started) return 0;
		const { result } = (await this.session.post('Profiler.takePreciseCoverage')) as unknown as { result: ScriptCoverage[] };
		let fresh = 0;
		for (const script of result) {
			if (!COUNTED.test(script.url)) continue;
			for (const fn of script.functions) {
				for (const r of fn.ranges) {
					if (r.count === 0) continue;
					const key = `${script.url}:${r.startOffset}:${r.endOffset}`;
					if (this.seen.has(key)) continue;
					this.seen.add(key);
					fresh++;
				}
			}
		}
		return fresh;
	}

	get blocks(): number {
		return this.seen.size;
	}

	async stop(): Promise<void> {
		if (!this.started) return;
		this.started = false;
		await this.session.post('Profiler.stopPreciseCoverage').catch(() => {});
		this.session.disconnect();
	}
}
