/**
 * The fuzzing loop for one target, bounded in time: pick an input from the
 * corpus, mutate it, run it under a per-case timeout, check the target still
 * serves valid traffic, keep inputs that reach new code blocks, and minimise
 * each new crash. Process-level errors raised while a case runs (uncaught
 * exceptions, unhandled rejections) are findings of that case.
 */
import { Prng } from '../../src/lib/domain/routing/prng';
import type { BlockCoverage } from './coverage';
import { FindingKind, exceptionFinding, isFinding, withTimeout, type Finding, type FuzzTarget } from './target';

export const MAX_INPUT_BYTES = 2 * 1024 * 1024;

export interface LoopOptions {
	seconds: number;
	seed: number;
	/** Check the server's liveness after every `healthEvery` cases (1 = after each). */
	healthEvery?: number;
	/** Time budget for minimising one crash. */
	minimiseMs?: number;
	coverage?: BlockCoverage;
	/** Called before each case with the exact input (the watchdog's copy). */
	onCase?(input: Buffer): void;
	onProgress?(p: LoopProgress): void;
	onCrash?(c: CrashReport): void;
}

export interface LoopProgress {
	executions: number;
	crashes: number;
	corpus: number;
	blocks: number;
}

export interface CrashReport {
	finding: Finding;
	input: Buffer;
	originalSize: number;
}

export interface LoopResult extends LoopProgress {
	/** First input of each distinct signature. */
	unique: CrashReport[];
}

/** Errors the process raised outside any awaited call while a case was running. */
class StrayErrors {
	private pending: Finding | null = null;
	private readonly onError = (err: unknown) => {
		this.pending ??= exceptionFinding(err, 'process');
	};
	install(): void {
		process.on('uncaughtException', this.onError);
		process.on('unhandledRejection', this.onError);
	}
	uninstall(): void {
		process.off('uncaughtException', this.onError);
		process.off('unhandledRejection', this.onError);
	}
	take(): Finding | null {
		const f = this.pending;
		this.pending = null;
		return f;
	}
}

/** One case: the execution under its timeout, then stray errors, then liveness. */
export async function runCase(target: FuzzTarget, input: Buffer, checkHealth: boolean, stray?: StrayErrors): Promise<Finding | null> {
	let finding: Finding | null;
	try {
		const r = await withTimeout(target.execute(input), target.caseTimeoutMs, `${target.name} case`);
		finding = isFinding(r) ? r : null;
	} catch (e) {
		finding = exceptionFinding(e, `${target.name} harness`);
	}
	// Let errors from socket callbacks of this case surface before judging it.
	await new Promise((r) => setImmediate(r));
	finding ??= stray?.take() ?? null;
	if (!finding && checkHealth && target.healthy) {
		const h = await withTimeout(target.healthy(), target.caseTimeoutMs, `${target.name} liveness check`);
		if (h) finding = { ...h, kind: h.kind === FindingKind.hang ? FindingKind.unavailable : h.kind };
	}
	return finding;
}

/**
 * Delta debugging light: drop ever smaller blocks while the same signature
 * reproduces, within a time budget.
 */
export async function minimise(target: FuzzTarget, input: Buffer, signature: string, budgetMs: number): Promise<Buffer> {
	const deadline = Date.now() + budgetMs;
	let best = input;
	const stray = new StrayErrors();
	stray.install();
	try {
		for (let block = Math.max(1, best.length >> 1); block >= 1 && Date.now() < deadline; block >>= 1) {
			let progressed = true;
			while (progressed && Date.now() < deadline) {
				progressed = false;
				for (let at = 0; at < best.length && Date.now() < deadline; at += block) {
					const candidate = Buffer.concat([best.subarray(0, at), best.subarray(at + block)]);
					const f = await runCase(target, candidate, true, stray);
					if (f?.signature === signature) {
						best = candidate;
						progressed = true;
						at -= block;
					}
				}
			}
		}
	} finally {
		stray.uninstall();
	}
	return best;
}

export async function fuzzLoop(target: FuzzTarget, o: LoopOptions): Promise<LoopResult> {
	const rand = new Prng(o.seed);
	const corpus = target.seeds();
	const seedCount = corpus.length;
	const healthEvery = o.healthEvery ?? 1;
	const deadline = Date.now() + o.seconds * 1000;
	const unique = new Map<string, CrashReport>();
	const stray = new StrayErrors();
	const progress = (): LoopProgress => ({ executions, crashes, corpus: corpus.length, blocks: o.coverage?.blocks ?? 0 });
	let executions = 0;
	let crashes = 0;
	let lastProgress = Date.now();
	stray.install();
	try {
		// Seeds run as they are first, whatever the time left: a crashing seed is a finding too.
		for (let i = 0; i < seedCount || Date.now() < deadline; i++) {
			const input = i < seedCount ? corpus[i] : capped(target.mutate(rand.pick(corpus), rand, corpus));
			o.onCase?.(input);
			const finding = await runCase(target, input, executions % healthEvery === 0, stray);
			executions++;
			const fresh = o.coverage ? await o.coverage.newBlocks() : 0;
			if (finding) {
				crashes++;
				if (!unique.has(finding.signature)) {
					stray.uninstall();
					const small = await minimise(target, input, finding.signature, o.minimiseMs ?? 3000);
					stray.install();
					const report = { finding, input: small, originalSize: input.length };
					unique.set(finding.signature, report);
					o.onCrash?.(report);
				}
			} else if (fresh > 0 && i >= seedCount) {
				corpus.push(input);
			}
			if (Date.now() - lastProgress >= 1000) {
				lastProgress = Date.now();
				o.onProgress?.(progress());
			}
		}
	} finally {
		stray.uninstall();
	}
	return { ...progress(), unique: [...unique.values()] };
}

function capped(b: Buffer): Buffer {
	return b.length > MAX_INPUT_BYTES ? b.subarray(0, MAX_INPUT_BYTES) : b;
}
