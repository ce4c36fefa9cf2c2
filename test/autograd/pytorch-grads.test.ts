/**
 * Gradients after one backward of each fixture model match PyTorch 1.13's `param.grad`
 * (rtol 1e-4, atol 1e-5), in the mode the fixture used (train mode with batch-statistics
 * BatchNorm, eval mode for act_zoo/attn_model); BatchNorm running statistics after that forward
 * match too. Goldens: fixtures/pytorch/make_fixtures.py (torch 1.13).
 */
import { describe, expect, it } from 'vitest';
import type { Module } from '../../src/nn/index.js';
import { expectClose, expectParamClose, loadFixture, withPrefix } from '../nn/helpers.js';
import { fixtureLoss, setFixtureMode } from '../nn/losses.js';
import { ActZoo, AttnModel, ConvBN, ConvZoo, ImageClassifier, RnnModel, SeqZoo, MaskedAttn, PoolZoo } from '../nn/models.js';

const CASES: [string, () => Module, boolean][] = [
  ['image_classifier', () => new ImageClassifier(), true],
  ['conv_bn', () => new ConvBN(), true],
  ['rnn_model', () => new RnnModel(), true],
  ['conv_zoo', () => new ConvZoo(), true],
  ['act_zoo', () => new ActZoo(), false],
  ['attn_model', () => new AttnModel(), false],
  ['seq_zoo', () => new SeqZoo(), true],
  ['masked_attn', () => new MaskedAttn(), false],
  ['pool_zoo', () => new PoolZoo(), false],
];

describe('autograd gradients match PyTorch 1.13', () => {
  for (const [name, make, trainMode] of CASES) {
    it(`${name}: loss and every parameter gradient`, async () => {
      const arrays = loadFixture(name);
      const model = make();
      model.loadStateDict(withPrefix(arrays, 'sd.'));
      setFixtureMode(name, model, trainMode);
      const loss = fixtureLoss(name, model, arrays);
      expectClose(loss.value, arrays.get('loss')!, { what: 'loss' });
      await loss.backward();
      for (const [k, p] of model.namedParameters()) {
        expect(p.grad, `${k} has a gradient`).not.toBeNull();
        expectParamClose(arrays, 'grad.', k, p.grad!, { rtol: 1e-4, atol: 1e-5 });
      }
      if (trainMode) for (const [k, b] of model.namedBuffers()) expectParamClose(arrays, 'trainsd.', k, b.data);
    });
  }
});
