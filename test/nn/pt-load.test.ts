/**
 * The `.pt` files torch.save wrote for each fixture model open through `pytorchImporter` and load
 * into the src/nn definitions with no missing/unexpected keys; the loaded tensors equal the `.npz`
 * copy bit for bit and the model reproduces PyTorch's outputs. Goldens: fixtures/pytorch/make_fixtures.py.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pytorchImporter } from '../../src/importers/pytorch/index.js';
import { tensorsBitEqual, type Tensor } from '../../src/ir/tensor.js';
import type { Module } from '../../src/nn/index.js';
import { FIXTURES, expectClose, loadFixture, withPrefix } from './helpers.js';
import { ActZoo, AttnModel, ConvBN, ConvZoo, ImageClassifier, RnnModel } from './models.js';

const CASES: [string, () => Module][] = [
  ['image_classifier', () => new ImageClassifier()],
  ['conv_bn', () => new ConvBN()],
  ['rnn_model', () => new RnnModel()],
  ['conv_zoo', () => new ConvZoo()],
  ['act_zoo', () => new ActZoo()],
  ['attn_model', () => new AttnModel()],
];

describe('torch.save files load into src/nn models', () => {
  for (const [name, make] of CASES) {
    it(name, async () => {
      const bytes = new Uint8Array(readFileSync(join(FIXTURES, `${name}.pt`)));
      const res = await pytorchImporter.open({ name: `${name}.pt`, bytes });
      if (res.kind !== 'weights') throw new Error('expected a weight set');
      const model = make();
      expect(model.loadWeights(res.weights)).toEqual({ missing: [], unexpected: [], shapeMismatch: [] });
      const arrays = loadFixture(name);
      const sd = withPrefix(arrays, 'sd.');
      expect([...sd.keys()].sort()).toEqual([...model.stateDict().keys()].sort()); // the loop below covers every entry
      for (const [k, t] of sd) expect(tensorsBitEqual(model.stateDict().get(k)!, t), k).toBe(true);
      model.eval();
      const inputs = [...arrays.keys()].filter((k) => /^x\d$/.test(k)).map((k) => arrays.get(k)!);
      const out = await model.run(...inputs);
      const first = (Array.isArray(out) ? out[0] : out) as Tensor;
      expectClose(first, arrays.get('out0')!);
    });
  }
});
