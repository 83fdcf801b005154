// Worker thread entry: TypeScript through tsx, as in bin/radflow.js (workers do not inherit loader hooks).
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
