/**
 * Hostile HDF5 input: every failure is a RosettaError with a stable code naming the file/entry,
 * never a crash, a raw exception or an unbounded allocation. Valid files are written here with
 * our own writer (so no corpus is needed) and then truncated or corrupted with a seeded RNG;
 * `fixtures/keras/{huge,big}_declared.h5` (h5py 3.7, fixtures/keras/make_bad_h5.py) declare 64 GiB
 * and 256 MiB datasets in 9 KB files.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { h5group, isHdf5, withHdf5, writeHdf5 } from '../../src/formats/hdf5.js';
import { readKerasH5 } from '../../src/importers/keras/index.js';
import { isRosettaError } from '../../src/ir/errors.js';
import { Tensor } from '../../src/ir/tensor.js';
import { seededRandom } from '../../src/runtime/session.js';
import { PROJECT_ROOT } from '../helpers/corpus.js';

const dense = (kernelShape: number[], withKernel = true): Promise<Uint8Array> => {
  const config = { class_name: 'Sequential', config: { name: 's', layers: [{ class_name: 'Dense', config: { name: 'dense', units: 3, batch_input_shape: [null, 4], activation: 'relu' } }] } };
  const n = kernelShape.reduce((a, d) => a * d, 1);
  const inner = h5group([], withKernel ? [['kernel:0', new Tensor('float32', kernelShape, new Float32Array(n).fill(0.5))], ['bias:0', new Tensor('float32', [3], new Float32Array(3))]] : [['bias:0', new Tensor('float32', [3], new Float32Array(3))]]);
  return writeHdf5(
    h5group(
      [
        ['keras_version', '2.3.1'],
        ['backend', 'tensorflow'],
        ['model_config', JSON.stringify(config)],
      ],
      [['model_weights', h5group([['layer_names', ['dense']]], [['dense', h5group([['weight_names', ['dense/kernel:0', 'dense/bias:0']]], [['dense', inner]])]])]],
    ),
  );
};

async function expectTyped(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    expect(isRosettaError(e), `raw ${String(e)}`).toBe(true);
    return (e as { code: string }).code;
  }
}

describe('HDF5 reader on hostile bytes', () => {
  it('a valid file written by writeHdf5 loads (baseline for the corruptions below)', async () => {
    const bytes = await dense([4, 3]);
    expect(isHdf5(bytes)).toBe(true);
    const r = await readKerasH5(bytes, 'ok.h5');
    expect(r.kind).toBe('model');
  });
  it('not HDF5 at all', async () => {
    await expect(withHdf5(new Uint8Array([1, 2, 3]), 'x.h5', () => 0)).rejects.toMatchObject({ code: 'E_BAD_FORMAT', where: { file: 'x.h5' } });
  });
  it('the signature followed by garbage', async () => {
    const b = new Uint8Array(4096);
    b.set([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
    for (let i = 8; i < b.length; i++) b[i] = (i * 37) & 255;
    await expect(readKerasH5(b, 'garbage.h5')).rejects.toMatchObject({ code: 'E_BAD_FORMAT', where: { file: 'garbage.h5' } });
  });
  it('truncations at many lengths give typed errors', async () => {
    const bytes = await dense([4, 3]);
    const codes = new Set<string>();
    for (let len = 8; len < bytes.length; len += Math.max(1, Math.floor(bytes.length / 40))) {
      const code = await expectTyped(readKerasH5(bytes.slice(0, len), `cut${len}.h5`));
      expect(code, `length ${len} of ${bytes.length} should fail`).toBeDefined();
      codes.add(code!);
    }
    expect([...codes].every((c) => c.startsWith('E_'))).toBe(true);
  });
  it('random byte corruption never escapes as a raw exception', async () => {
    const bytes = await dense([4, 3]);
    const rand = seededRandom(7);
    let failed = 0;
    for (let k = 0; k < 60; k++) {
      const b = bytes.slice();
      for (let j = 0; j < 8; j++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      if ((await expectTyped(readKerasH5(b, `corrupt${k}.h5`))) !== undefined) failed++;
    }
    expect(failed).toBeGreaterThan(0);
  });
  it('a declared 64 GiB dataset in a 9 KB file is refused before allocating', async () => {
    const bytes = new Uint8Array(readFileSync(`${PROJECT_ROOT}/fixtures/keras/huge_declared.h5`));
    await expect(readKerasH5(bytes, 'huge_declared.h5')).rejects.toMatchObject({ code: 'E_TOO_LARGE', where: { entry: 'model_weights/dense/dense/kernel:0' } });
  });
  it('a declared 256 MiB dataset (within element limits) in a 9 KB file is refused by the size check', async () => {
    const bytes = new Uint8Array(readFileSync(`${PROJECT_ROOT}/fixtures/keras/big_declared.h5`));
    await expect(readKerasH5(bytes, 'big_declared.h5')).rejects.toMatchObject({ code: 'E_TOO_LARGE', where: { entry: 'model_weights/dense/dense/kernel:0' } });
  });
  it('a missing dataset is named', async () => {
    await expect(readKerasH5(await dense([4, 3], false), 'missing.h5')).rejects.toMatchObject({ code: 'E_BAD_FORMAT', where: { entry: 'model_weights/dense/dense/kernel:0' } });
  });
  it('a weight whose shape does not fit its layer names the layer and the weight', async () => {
    await expect(readKerasH5(await dense([5, 3]), 'shape.h5')).rejects.toMatchObject({ code: 'E_SHAPE_MISMATCH', where: { layer: 'dense', entry: 'dense/kernel:0' } });
  });
});
