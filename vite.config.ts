import { sveltekit } from '@sveltejs/kit/vite';
import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
	plugins: [sveltekit()],
	test: {
		include: ['src/**/*.test.ts', 'workers/**/*.test.ts', 'tests/**/*.test.ts'],
		// The fault suite kills processes and restarts databases: its own command (npm run test:faults).
		exclude: [...configDefaults.exclude, 'tests/faults/**'],
		globalSetup: ['tests/setup/global.ts'],
		testTimeout: 60_000,
		hookTimeout: 180_000,
		// Two cores: protocol and DB tests are I/O heavy, run a few files at once.
		maxWorkers: 3,
		reporters: ['default']
	}
});
