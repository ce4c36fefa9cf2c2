// Worker bootstrap for scripts/conformance.ts: registers tsx in this worker thread (Node does not
// pass `--import tsx` on to workers) and loads the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./conformance-worker.ts');
