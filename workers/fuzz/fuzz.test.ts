import { describe, expect, it } from 'vitest';
import { DEFAULT_CORPUS_DIR } from './corpus';
import { fuzz } from './run';
import { TARGET_NAMES } from './target';

describe('radflow fuzz', () => {
	it('runs every target for a few seconds with a fixed seed and finds no new crash', async () => {
		const lines: string[] = [];
		const result = await fuzz({ seconds: 3 * TARGET_NAMES.length, targets: [...TARGET_NAMES], seed: 20240312, coverage: true, corpusDir: DEFAULT_CORPUS_DIR, save: false, log: (l) => lines.push(l) });
		for (const name of TARGET_NAMES) expect(result.targets[name]?.executions, `${name} ran no case`).toBeGreaterThan(0);
		expect(result.new_crashes, lines.filter((l) => /NEW/.test(l)).join('\n')).toBe(0);
		expect(result.executions).toBe(Object.values(result.targets).reduce((n, t) => n + t!.executions, 0));
		expect(lines.some((l) => /execs/.test(l))).toBe(true);
	}, 120_000);
});
