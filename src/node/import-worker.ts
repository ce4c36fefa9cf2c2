/**
 * Worker-thread side of `importWithTimeLimit` (hdf5-guard.ts): imports one file and reports only
 * whether it finished and, if not, the typed error's code and message. The model itself is not sent
 * back (class instances do not survive structured cloning); the caller imports again in-process.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { importFile } from '../importers/index.js';
import { openFile } from './files.js';
import type { LoadOptions } from './model-io.js';

const { path, opts } = workerData as { path: string; opts: LoadOptions };
try {
  await importFile(await openFile(path), opts);
  parentPort?.postMessage({ ok: true });
} catch (e) {
  const err = e as { code?: string; message?: string };
  parentPort?.postMessage({ ok: false, code: err.code, message: err.message });
}
