/**
 * Each fixture model's src/nn definition loads PyTorch 1.13's state dict (keys in PyTorch's order)
 * and reproduces PyTorch's eval-mode outputs (rtol 1e-4, atol 1e-5). Goldens:
 * fixtures/pytorch/make_fixtures.py (torch 1.13, see fixtures/pytorch/manifest.json).
 */
import { describe, expect, it } from 'vitest';
import type { Module } from '../../src/nn/index.js';
import type { Tensor } from '../../src/ir/tensor.js';
import { expectClose, loadFixture, withPrefix } from './helpers.js';
import { ActZoo, AttnModel, ConvBN, ConvZoo, ImageClassifier, RnnModel, SeqZoo, MaskedAttn, PoolZoo, SimpleLinearModel } from './models.js';

const CASES: [string, () => Module, number][] = [
  ['image_classifier', () => new ImageClassifier(), 1],
  ['conv_bn', () => new ConvBN(), 1],
  ['rnn_model', () => new RnnModel(), 1],
  ['conv_zoo', () => new ConvZoo(), 2],
  ['act_zoo', () => new ActZoo(), 1],
  ['attn_model', () => new AttnModel(), 1],
  ['seq_zoo', () => new SeqZoo(), 3],
  ['masked_attn', () => new MaskedAttn(), 3],
  ['pool_zoo', () => new PoolZoo(), 1],
  ['house_price', () => new SimpleLinearModel(), 1],
];

describe('src/nn models match PyTorch 1.13', () => {
  for (const [name, make, nIn] of CASES) {
    it(`${name}: state-dict keys, shapes and eval outputs`, async () => {
      const arrays = loadFixture(name);
      const sd = withPrefix(arrays, 'sd.');
      const model = make();
      const mine = model.stateDict();
      expect([...mine.keys()]).toEqual([...sd.keys()]);
      for (const [k, t] of sd) expect(mine.get(k)!.shape, k).toEqual(t.shape);
      const report = model.loadStateDict(sd);
      expect(report).toEqual({ missing: [], unexpected: [], shapeMismatch: [] });
      model.eval();
      const inputs = Array.from({ length: nIn }, (_, i) => arrays.get(`x${i}`)!);
      const out = await model.run(...inputs);
      const outs = (Array.isArray(out) ? out : [out]) as Tensor[];
      if (name === 'house_price') return; // its npz holds the training loop, not eval outputs
      outs.forEach((o, i) => expectClose(o, arrays.get(`out${i}`)!, { what: `${name} out${i}` }));
      // The second call goes through the cached graph and Session.
      const again = await model.run(...inputs);
      const outs2 = (Array.isArray(again) ? again : [again]) as Tensor[];
      outs2.forEach((o, i) => expectClose(o, arrays.get(`out${i}`)!, { what: `${name} out${i} (cached)` }));
    });
  }
});
