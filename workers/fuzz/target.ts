/**
 * What every fuzz target provides: seeds, a structure-aware mutator, one
 * execution with its invariants, and a liveness check for the servers.
 */
import type { Prng } from '../../src/lib/domain/routing/prng';

export const TargetName = {
	dicomDataset: 'dicom-dataset',
	dicomPdu: 'dicom-pdu',
	hl7Parser: 'hl7-parser',
	hl7Listener: 'hl7-listener'
} as const;
export type TargetName = (typeof TargetName)[keyof typeof TargetName];
export const TARGET_NAMES = Object.values(TargetName);

/** Why an input counts as a crash. */
export const FindingKind = {
	/** An exception other than the target's typed errors, or an unhandled rejection. */
	exception: 'exception',
	/** The code returned, but broke a promise (e.g. AA for a message never stored). */
	invariant: 'invariant',
	/** The case did not finish within the per-case timeout. */
	hang: 'hang',
	/** The server stopped serving valid traffic after the case. */
	unavailable: 'unavailable',
	/** The whole fuzzing process died (out of memory, native crash). */
	process: 'process'
} as const;
export type FindingKind = (typeof FindingKind)[keyof typeof FindingKind];

export interface Finding {
	kind: FindingKind;
	/** Stable identity of the bug: inputs with the same signature are one crash. */
	signature: string;
	message: string;
	stack?: string;
}

export interface FuzzTarget {
	readonly name: TargetName;
	/** Per-case timeout; beyond it the case is a hang. */
	readonly caseTimeoutMs: number;
	/** Valid inputs the mutations start from. */
	seeds(): Buffer[];
	/** One structure-aware mutation of `input` (other corpus entries may be spliced in). */
	mutate(input: Buffer, rand: Prng, corpus: readonly Buffer[]): Buffer;
	/** Runs one input; resolves with a finding when it crashes, null otherwise. */
	execute(input: Buffer): Promise<Finding | null>;
	/** After a case: null while the target still serves valid traffic. */
	healthy?(): Promise<Finding | null>;
	close(): Promise<void>;
}

/** The signature of an unexpected exception: its type, its message shape and where it was thrown. */
export function exceptionFinding(err: unknown, where: string): Finding {
	const e = err instanceof Error ? err : new Error(String(err));
	const frame = (e.stack ?? '')
		.split('\n')
		.slice(1)
		.map((l) => l.trim())
		.find((l) => /\/(workers|src|node_modules)\//.test(l));
	const location = frame ? frame.replace(/^at\s+/, '').replace(/^.*?\/((?:workers|src|node_modules)\/.*?):(\d+):\d+\)?$/, '$1:$2') : 'unknown';
	const shape = e.message.replace(/\d+/g, 'N').replace(/"[^"]*"/g, '"…"').slice(0, 80);
	return { kind: FindingKind.exception, signature: `${where}: ${e.name}: ${shape} @ ${location}`, message: `${e.name}: ${e.message}`.slice(0, 500), stack: e.stack };
}

export function invariantFinding(name: string, message: string): Finding {
	return { kind: FindingKind.invariant, signature: `invariant: ${name}`, message };
}

/** Races a case against its timeout. */
export async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T | Finding> {
	let timer: NodeJS.Timeout | undefined;
	const timeout = new Promise<Finding>((resolve) => {
		timer = setTimeout(() => resolve({ kind: FindingKind.hang, signature: `hang: ${what}`, message: `${what} did not finish within ${ms} ms` }), ms);
	});
	try {
		return await Promise.race([work, timeout]);
	} finally {
		clearTimeout(timer);
	}
}

export function isFinding(x: unknown): x is Finding {
	return typeof x === 'object' && x !== null && 'kind' in x && 'signature' in x;
}
