/**
 * Corrupt HDF5 files on which libhdf5 (h5wasm) loops forever: the Node entry points bound the
 * import with a worker-thread time limit and report E_LIMIT instead of hanging. The corrupt bytes
 * are the cases test/bad/fuzz-all.test.ts found (its KNOWN_HANGS), rebuilt here from the corpus.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRosettaError } from '../../src/ir/errors.js';
import { loadFile } from '../../src/node/model-io.js';
import { HAS_CORPUS, readCorpus } from '../helpers/corpus.js';

describe.skipIf(!HAS_CORPUS)('HDF5 imports that would never finish are stopped (skipped without ../shared/corpus)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rosetta-h5hang-'));
  const saved = process.env.ROSETTA_HDF5_TIMEOUT_MS;
  beforeAll(() => {
    process.env.ROSETTA_HDF5_TIMEOUT_MS = '4000';
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.ROSETTA_HDF5_TIMEOUT_MS;
    else process.env.ROSETTA_HDF5_TIMEOUT_MS = saved;
  });

  it('a model .h5 with bytes 2116–2157 zeroed gives E_LIMIT naming the file', async () => {
    const bytes = readCorpus('keras', 'act_ELU_0_model.h5').slice();
    bytes.fill(0, 2116, 2158);
    const p = join(dir, 'zeroed.h5');
    writeFileSync(p, bytes);
    const err = await loadFile(p).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isRosettaError(err)).toBe(true);
    expect((err as { code: string }).code).toBe('E_LIMIT');
    expect((err as Error).message).toContain(p);
  }, 30_000);

  it('an intact model .h5 still loads through the guarded path', async () => {
    const p = join(dir, 'ok.h5');
    writeFileSync(p, readCorpus('keras', 'act_ELU_0_model.h5'));
    const r = await loadFile(p);
    expect(r.kind).toBe('model');
  }, 30_000);
});
