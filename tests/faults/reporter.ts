/**
 * Adds up what each fault test recorded in `task.meta.faults` and prints one
 * JSON line last: faults_injected, acked, stored, lost, duplicates, and the
 * per-scenario figures.
 */
import type { Reporter, TestCase, TestModule } from 'vitest/node';
import type { FaultFigures } from './harness/figures';

export default class FaultSummaryReporter implements Reporter {
	private readonly scenarios: FaultFigures[] = [];
	private failed = 0;

	onTestCaseResult(testCase: TestCase): void {
		const figures = testCase.meta().faults;
		if (figures) this.scenarios.push(figures);
		if (testCase.result().state === 'failed') this.failed++;
	}

	onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
		// A file whose setup failed ran no test: count it too.
		const brokenFiles = modules.filter((m) => m.state() === 'failed' && [...m.children.allTests()].every((t) => t.result().state !== 'failed')).length;
		const total = (k: 'faults_injected' | 'sent' | 'acked' | 'stored' | 'lost' | 'duplicates') => this.scenarios.reduce((a, s) => a + (s[k] ?? 0), 0);
		const summary = {
			faults_injected: total('faults_injected'),
			sent: total('sent'),
			acked: total('acked'),
			stored: total('stored'),
			lost: total('lost'),
			duplicates: total('duplicates'),
			failed_tests: this.failed + brokenFiles,
			scenarios: this.scenarios
		};
		process.stdout.write(`${JSON.stringify(summary)}\n`);
	}
}
