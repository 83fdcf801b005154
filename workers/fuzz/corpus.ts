/**
 * The saved crashing inputs: tests/fuzz-corpus/<target>/<hash>.bin with a
 * <hash>.json beside it saying why it crashed. Every saved input is replayed by
 * tests/fuzz-corpus/regressions.test.ts on every `npm test`.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CrashReport } from './engine';
import { TARGET_NAMES, type FindingKind, type TargetName } from './target';

export const DEFAULT_CORPUS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../tests/fuzz-corpus');

export interface SavedCrash {
	target: TargetName;
	kind: FindingKind;
	signature: string;
	message: string;
	size: number;
	originalSize: number;
	seed: number;
	foundAt: string;
	/** Where it was thrown, when it was an exception (kept for triage: a thread that died may not die again on replay). */
	stack?: string;
}

export interface CorpusEntry {
	file: string;
	input: Buffer;
	meta: SavedCrash;
}

export function inputHash(input: Uint8Array): string {
	return createHash('sha256').update(input).digest('hex').slice(0, 16);
}

/** Every saved input of one target (or all targets). */
export function loadCorpus(dir = DEFAULT_CORPUS_DIR, only?: TargetName): CorpusEntry[] {
	const out: CorpusEntry[] = [];
	for (const target of only ? [only] : TARGET_NAMES) {
		const d = path.join(dir, target);
		if (!fs.existsSync(d)) continue;
		for (const f of fs.readdirSync(d).filter((n) => n.endsWith('.bin')).sort()) {
			const file = path.join(d, f);
			const metaFile = file.replace(/\.bin$/, '.json');
			const meta = fs.existsSync(metaFile) ? (JSON.parse(fs.readFileSync(metaFile, 'utf8')) as SavedCrash) : ({ target, signature: '' } as SavedCrash);
			out.push({ file, input: fs.readFileSync(file), meta });
		}
	}
	return out;
}

/** Saves a crash; returns the path of the .bin. */
export function saveCrash(dir: string, target: TargetName, crash: CrashReport, seed: number): string {
	const d = path.join(dir, target);
	fs.mkdirSync(d, { recursive: true });
	const hash = inputHash(crash.input);
	const meta: SavedCrash = {
		target,
		kind: crash.finding.kind,
		signature: crash.finding.signature,
		message: crash.finding.message,
		size: crash.input.length,
		originalSize: crash.originalSize,
		seed,
		foundAt: new Date().toISOString(),
		...(crash.finding.stack ? { stack: crash.finding.stack.split('\n').slice(0, 12).join('\n') } : {})
	};
	fs.writeFileSync(path.join(d, `${hash}.bin`), crash.input);
	fs.writeFileSync(path.join(d, `${hash}.json`), JSON.stringify(meta, null, '\t') + '\n');
	return path.join(d, `${hash}.bin`);
}
