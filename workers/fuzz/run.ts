/**
 * `radflow fuzz`: runs the fuzz targets one after another, each in a worker
 * thread watched from here, for a bounded time. Crashing inputs are minimised,
 * saved under tests/fuzz-corpus/<target>/ and replayed by the regression test.
 * Progress goes to stderr; the result is one JSON object.
 */
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { ConfigError } from '../../src/lib/server/config';
import { DEFAULT_CORPUS_DIR, inputHash, loadCorpus, saveCrash } from './corpus';
import type { CrashReport, LoopProgress } from './engine';
import { CaseSlot } from './slot';
import { FindingKind, TARGET_NAMES, type Finding, type TargetName } from './target';
import type { WorkerInput, WorkerMessage } from './worker';

export const USAGE = `radflow fuzz [--seconds N] [--target ${[...TARGET_NAMES, 'all'].join('|')}] [--seed S] [--no-coverage]

Fuzzes the DICOM receive path (dataset parser, PDU handling over a real socket)
and the HL7 parser and MLLP listener (over a real socket) for N seconds in all
(default 60, split evenly between targets). Coverage-guided: V8 block coverage
keeps inputs that reach new code; mutations are structure-aware and seeded.

A crash is an uncaught exception or unhandled rejection, a case that hangs, a
server that stops serving valid traffic, or a broken invariant. Each new crash
(an input not saved yet, even with a signature seen before: every saved input
passes the tests, so it is a live bug) is minimised and saved as
tests/fuzz-corpus/<target>/<hash>.bin (+ .json with the reason); \`npm test\`
replays every saved input. Progress goes to stderr; the last
stdout line is a JSON object (executions, crashes, new_crashes, per target).
Exits 1 when a crash not already in the corpus was found.

Options:
  --seconds N     total time budget [60]
  --target T      one target, or all [all]
  --seed S        PRNG seed, for a reproducible run [time-based]
  --no-coverage   generative only, without V8 block coverage feedback
  --corpus DIR    where crashes are read from and saved [tests/fuzz-corpus]
  --no-save       do not write crashing inputs`;

/** A thread that shows no new case for this long is hung (the targets' own per-case timeouts are shorter). */
const WATCHDOG_MS = 20_000;
const MAX_RESTARTS = 20;
const WORKER_ENTRY = new URL('./worker-entry.mjs', import.meta.url);

export interface FuzzOptions {
	seconds: number;
	targets: TargetName[];
	seed: number;
	coverage: boolean;
	corpusDir: string;
	save: boolean;
	log?: (line: string) => void;
}

export interface TargetSummary {
	executions: number;
	execs_per_s: number;
	crashes: number;
	unique_crashes: number;
	new_crashes: number;
	corpus: number;
	blocks: number;
	restarts: number;
	signatures: string[];
}

export interface FuzzResult {
	fuzz: TargetName | 'all';
	seconds: number;
	seed: number;
	guidance: 'v8-block-coverage' | 'generative';
	executions: number;
	crashes: number;
	unique_crashes: number;
	new_crashes: number;
	saved: string[];
	targets: Partial<Record<TargetName, TargetSummary>>;
}

export function parseFuzzArgs(args: string[]): FuzzOptions {
	const { values } = parseArgs({
		args,
		options: {
			seconds: { type: 'string' },
			target: { type: 'string' },
			seed: { type: 'string' },
			'no-coverage': { type: 'boolean' },
			corpus: { type: 'string' },
			'no-save': { type: 'boolean' }
		}
	});
	const seconds = Number(values.seconds ?? 60);
	if (!Number.isFinite(seconds) || seconds <= 0) throw new ConfigError('--seconds must be a positive number of seconds');
	const target = values.target ?? 'all';
	if (target !== 'all' && !(TARGET_NAMES as string[]).includes(target)) {
		throw new ConfigError(`unknown fuzz target '${target}': choose one of ${[...TARGET_NAMES, 'all'].join(', ')}`);
	}
	const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
	if (!Number.isInteger(seed)) throw new ConfigError('--seed must be an integer');
	return {
		seconds,
		targets: target === 'all' ? [...TARGET_NAMES] : [target as TargetName],
		seed,
		coverage: !values['no-coverage'],
		corpusDir: values.corpus ?? DEFAULT_CORPUS_DIR,
		save: !values['no-save']
	};
}

/** CLI entry. */
export async function run(args: string[]): Promise<FuzzResult> {
	return fuzz(parseFuzzArgs(args));
}

export async function fuzz(o: FuzzOptions): Promise<FuzzResult> {
	const log = o.log ?? ((line: string) => process.stderr.write(line + '\n'));
	const started = Date.now();
	const per = o.seconds / o.targets.length;
	const result: FuzzResult = {
		fuzz: o.targets.length === 1 ? o.targets[0] : 'all',
		seconds: o.seconds,
		seed: o.seed,
		guidance: o.coverage ? 'v8-block-coverage' : 'generative',
		executions: 0,
		crashes: 0,
		unique_crashes: 0,
		new_crashes: 0,
		saved: [],
		targets: {}
	};
	for (const [i, target] of o.targets.entries()) {
		const deadline = started + Math.round(per * (i + 1) * 1000);
		const s = await fuzzTarget(target, deadline, o, result.saved, log);
		result.targets[target] = s;
		result.executions += s.executions;
		result.crashes += s.crashes;
		result.unique_crashes += s.unique_crashes;
		result.new_crashes += s.new_crashes;
	}
	log(`fuzz: done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${result.executions} executions, ${result.crashes} crashes (${result.unique_crashes} distinct, ${result.new_crashes} new)`);
	return result;
}

/** One target until its deadline, restarting its thread after a hang or a thread death. */
async function fuzzTarget(target: TargetName, deadline: number, o: FuzzOptions, saved: string[], log: (l: string) => void): Promise<TargetSummary> {
	// Every saved input passes the regression test, so a crash from any other input is a live bug, even
	// with a signature seen before (a fix that missed a variant): only an input already saved is not new.
	const known = new Set(loadCorpus(o.corpusDir, target).map((e) => inputHash(e.input)));
	const signatures = new Set<string>();
	const summary: TargetSummary = { executions: 0, execs_per_s: 0, crashes: 0, unique_crashes: 0, new_crashes: 0, corpus: 0, blocks: 0, restarts: 0, signatures: [] };
	const started = Date.now();
	let seed = o.seed;
	const record = (crash: CrashReport) => {
		if (signatures.has(crash.finding.signature)) return;
		signatures.add(crash.finding.signature);
		summary.unique_crashes++;
		const isNew = !known.has(inputHash(crash.input));
		if (isNew) summary.new_crashes++;
		log(`fuzz ${target}: ${isNew ? 'NEW ' : ''}${crash.finding.kind}: ${crash.finding.signature} (${crash.originalSize} → ${crash.input.length} bytes)\n  ${crash.finding.message.split('\n')[0]}`);
		if (isNew && o.save) saved.push(saveCrash(o.corpusDir, target, crash, seed));
	};
	// At least one run, so every target's seeds are checked even when an earlier target overran.
	for (let first = true; first || (deadline - Date.now() > 500 && summary.restarts <= MAX_RESTARTS); first = false) {
		const run = await runWorker(target, deadline, seed, o.coverage, record, (p) => {
			const secs = (Date.now() - started) / 1000;
			const execs = summary.executions + p.executions;
			log(
				`fuzz ${target}: ${secs.toFixed(0)} s, ${execs} execs (${(execs / Math.max(secs, 0.001)).toFixed(0)}/s), ${summary.crashes + p.crashes} crashes (${summary.unique_crashes} distinct, ${summary.new_crashes} new), corpus ${p.corpus}${o.coverage ? `, ${p.blocks} blocks` : ''}`
			);
		});
		summary.executions += run.progress.executions;
		summary.crashes += run.progress.crashes;
		summary.corpus = Math.max(summary.corpus, run.progress.corpus);
		summary.blocks = Math.max(summary.blocks, run.progress.blocks);
		if (run.fatal) {
			summary.crashes++;
			summary.executions++;
			record(run.fatal);
			summary.restarts++;
			seed = (seed + 0x9e3779b9) % 2 ** 31;
			continue;
		}
		break;
	}
	summary.execs_per_s = Math.round(summary.executions / Math.max((Date.now() - started) / 1000, 0.001));
	summary.signatures = [...signatures];
	// Always one line per target, even when it finished before its first progress tick.
	log(`fuzz ${target}: done, ${summary.executions} execs (${summary.execs_per_s}/s), ${summary.crashes} crashes (${summary.unique_crashes} distinct, ${summary.new_crashes} new)`);
	return summary;
}

interface WorkerRun {
	progress: LoopProgress;
	/** The case that hung or killed the thread. */
	fatal: CrashReport | null;
}

function runWorker(
	target: TargetName,
	deadline: number,
	seed: number,
	coverage: boolean,
	onCrash: (c: CrashReport) => void,
	onProgress: (p: LoopProgress) => void
): Promise<WorkerRun> {
	// A thread that dies before it is ready is a harness failure, not a finding.
	const slot = new CaseSlot();
	const input: WorkerInput = { target, deadline, seed, coverage, slot: slot.buffer };
	const worker = new Worker(WORKER_ENTRY, { workerData: input, stdout: true, resourceLimits: { maxOldGenerationSizeMb: 2048 } });
	worker.stdout.resume();
	let progress: LoopProgress = { executions: 0, crashes: 0, corpus: 0, blocks: 0 };
	let lastCase = -1;
	let lastChange = Date.now();
	return new Promise((resolve, reject) => {
		let settled = false;
		let ready = false;
		const finish = (fatal: Finding | null) => {
			if (settled) return;
			settled = true;
			clearInterval(watchdog);
			const crash = fatal && { finding: fatal, input: slot.read(), originalSize: slot.read().length };
			void worker.terminate().then(() => resolve({ progress, fatal: crash }));
		};
		const watchdog = setInterval(() => {
			const n = slot.caseNumber;
			if (n !== lastCase) {
				lastCase = n;
				lastChange = Date.now();
			} else if (slot.running && Date.now() - lastChange > WATCHDOG_MS) {
				finish({ kind: FindingKind.hang, signature: `hang: ${target} thread blocked`, message: `one case kept the ${target} thread busy for over ${WATCHDOG_MS / 1000} s` });
			}
		}, 250);
		worker.on('message', (m: WorkerMessage) => {
			switch (m.type) {
				case 'ready':
					ready = true;
					lastChange = Date.now();
					break;
				case 'progress':
					progress = m.progress;
					onProgress(progress);
					break;
				case 'crash':
					onCrash({ ...m.crash, input: Buffer.from(m.crash.input) });
					break;
				case 'done':
					progress = m.progress;
					finish(null);
					break;
				default:
					m satisfies never;
			}
		});
		worker.on('error', (err: Error & { code?: string }) => {
			if (!ready && !settled) {
				settled = true;
				clearInterval(watchdog);
				return reject(new Error(`the ${target} fuzz thread failed to start: ${err.message}`, { cause: err }));
			}
			const oom = err.code === 'ERR_WORKER_OUT_OF_MEMORY';
			finish({
				kind: FindingKind.process,
				signature: oom ? `process: ${target} out of memory` : `process: ${target} thread died: ${err.name}: ${err.message.replace(/\d+/g, 'N').slice(0, 80)}`,
				message: `${err.name}: ${err.message}`,
				stack: err.stack
			});
		});
		worker.on('exit', (code) => finish(settled ? null : { kind: FindingKind.process, signature: `process: ${target} thread exited`, message: `the fuzzing thread exited with code ${code}` }));
	});
}
