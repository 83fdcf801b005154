#!/usr/bin/env node
// Entry point for `npx radflow …`: loads the TypeScript CLI through tsx so the
// workers and the pure domain code run from source, with no build step.
import { register } from 'tsx/esm/api';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

register();
const here = path.dirname(fileURLToPath(import.meta.url));
await import(path.join(here, '..', 'workers', 'cli.ts'));
