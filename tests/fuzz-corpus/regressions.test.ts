/**
 * Replays every crashing input `radflow fuzz` saved under tests/fuzz-corpus/<target>/
 * through the same target and checks (see its .json for why it once crashed) that
 * it no longer does: no unexpected exception, no broken invariant, no hang, and the
 * servers still serve valid traffic afterwards.
 */
import { afterAll, describe, expect, it } from 'vitest';
import dcmjs from 'dcmjs';
import path from 'node:path';
import { loadCorpus } from '../../workers/fuzz/corpus';
import { runCase } from '../../workers/fuzz/engine';
import { createTarget } from '../../workers/fuzz/registry';
import { TARGET_NAMES, type FuzzTarget } from '../../workers/fuzz/target';

const log = dcmjs.log as typeof dcmjs.log & { getLogger(name: string): { setLevel(level: string): void } };
log.setLevel('silent');
log.getLogger('validation.dcmjs').setLevel('silent');

const targets = new Map<string, Promise<FuzzTarget>>();
afterAll(async () => {
	for (const t of targets.values()) await (await t).close();
});

for (const name of TARGET_NAMES) {
	const entries = loadCorpus(undefined, name);
	describe.skipIf(entries.length === 0)(`fuzz regressions: ${name}`, () => {
		for (const e of entries) {
			it(`${path.basename(e.file)} (was: ${e.meta.signature})`, async () => {
				if (!targets.has(name)) targets.set(name, createTarget(name));
				const target = await targets.get(name)!;
				const finding = await runCase(target, e.input, true);
				expect(finding, finding ? `${finding.signature}: ${finding.message}` : '').toBeNull();
			});
		}
	});
}
