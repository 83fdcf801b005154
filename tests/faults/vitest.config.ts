/**
 * The fault suite (`npm run test:faults`): real roles as processes, real
 * sockets, real PostgreSQL, faults injected on purpose. One file at a time
 * (each starts several processes); the last line on stdout is the JSON summary.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
	test: {
		root: new URL('../..', import.meta.url).pathname,
		include: ['tests/faults/**/*.test.ts'],
		globalSetup: ['tests/setup/global.ts'],
		fileParallelism: false,
		testTimeout: 300_000,
		hookTimeout: 180_000,
		reporters: ['default', './tests/faults/reporter.ts']
	}
});
