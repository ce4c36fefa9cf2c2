/**
 * A time limit for imports that go through libhdf5 (legacy Keras `.h5`, `.keras` zips).
 *
 * Why: h5wasm runs libhdf5 compiled to WebAssembly, and some corrupt files make libhdf5 loop forever
 * inside one synchronous wasm call (found by test/bad/fuzz-all.test.ts: e.g. a model `.h5` with 42
 * bytes of its object headers zeroed). No check in our reader can interrupt that, and JavaScript
 * timers never fire while it spins. So in Node the import is first run in a worker thread that can
 * be terminated; only if it finishes is the file imported again in-process (parsing is
 * deterministic, so the second run finishes too). Browsers have no such guard: run imports of
 * untrusted HDF5 files in a Web Worker there.
 */
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { RosettaError } from '../ir/errors.js';
import type { FormatName } from '../importers/types.js';
import type { LoadOptions } from './model-io.js';

/** Formats whose import runs libhdf5. */
export const HDF5_FORMATS: ReadonlySet<FormatName> = new Set<FormatName>(['keras-h5', 'keras']);

/** Default limit; `ROSETTA_HDF5_TIMEOUT_MS` overrides it. */
export const DEFAULT_HDF5_TIMEOUT_MS = 60_000;

function workerUrl(): URL {
  const js = new URL('./import-worker.js', import.meta.url);
  // From dist/ the compiled worker sits beside this file; from the TypeScript sources it needs tsx.
  return import.meta.url.endsWith('.js') && existsSync(js) ? js : new URL('./import-worker-boot.mjs', import.meta.url);
}

/**
 * Import `path` in a worker and wait at most `timeoutMs`. Resolves when the worker finished (with a
 * model or with a typed error: the caller's in-process import reproduces either); rejects with
 * E_LIMIT when the time runs out.
 */
export async function preflightImport(path: string, opts: LoadOptions, timeoutMs = Number(process.env.ROSETTA_HDF5_TIMEOUT_MS) || DEFAULT_HDF5_TIMEOUT_MS): Promise<void> {
  const worker = new Worker(workerUrl(), { workerData: { path, opts: { key: opts.key, format: opts.format } } });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new RosettaError('E_LIMIT', `reading the HDF5 data did not finish within ${Math.round(timeoutMs / 1000)} s, so the import was stopped`, {
            where: { file: path },
            hint: 'the file is most likely corrupt (libhdf5 loops on it); re-save it from Keras, or raise ROSETTA_HDF5_TIMEOUT_MS if it is just very large',
          }),
        );
      }, timeoutMs);
      worker.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      worker.once('error', () => {
        // A crash of the worker itself (not a typed import error): let the in-process import report.
        clearTimeout(timer);
        resolve();
      });
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  } finally {
    await worker.terminate();
  }
}
