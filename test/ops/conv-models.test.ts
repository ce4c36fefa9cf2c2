/**
 * Small real PyTorch networks through the nn kernels end to end: a MobileNet-style vision model
 * (depthwise/pointwise convs + BatchNorm, residuals, ceil-mode pooling, ConvTranspose,
 * InstanceNorm, bilinear Resize) and a sequence model (2-layer bidirectional LSTM, bidirectional
 * GRU, LayerNorm, ReLU RNN, dilated Conv1d), exported at opsets 13 and 17. Goldens are PyTorch's
 * own outputs, written by fixtures/ops/nn/make_nn_models.py (versions in fixtures/ops/nn/VERSIONS.txt).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readNpz } from '../../src/formats/npy.js';
import { importOnnx } from '../../src/importers/onnx/index.js';
import type { Tensor } from '../../src/ir/tensor.js';
import { Session } from '../../src/runtime/session.js';
import { PROJECT_ROOT } from '../helpers/corpus.js';

const dir = `${PROJECT_ROOT}/fixtures/ops/nn`;

describe('PyTorch-exported networks match PyTorch', () => {
  it.each(['vision_13', 'vision_17', 'seq_13', 'seq_17'])('%s', async (name) => {
    // a plain Uint8Array: readNpy copies with .slice(), which on a Node Buffer is a view, not a copy
    const io = readNpz(new Uint8Array(readFileSync(`${dir}/${name.split('_')[0]}.io.npz`)));
    const session = await Session.create(await importOnnx(readFileSync(`${dir}/${name}.onnx`)));
    const { outputs } = await session.run({ x: io.get('x')! });
    const names = session.outputNames;
    expect(names.length).toBeGreaterThan(0);
    for (const out of names) {
      const want = io.get(out)!;
      const got = outputs[out] as Tensor;
      expect(got.shape).toEqual(want.shape);
      const g = got.toNumbers();
      const w = want.toNumbers();
      let worst = 0;
      for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(g[i]! - w[i]!) / (1e-4 + Math.abs(w[i]!)));
      expect(worst, `${out}: worst relative error`).toBeLessThan(1e-3);
    }
  });
});
