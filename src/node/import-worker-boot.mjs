// Worker bootstrap used when Rosetta runs from its TypeScript sources (tests, tsx): Node does not
// pass `--import tsx` on to worker threads, so register it here, then load the worker.
import { register } from 'tsx/esm/api';

register();
await import('./import-worker.ts');
