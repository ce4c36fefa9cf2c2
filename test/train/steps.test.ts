/**
 * One and ten optimizer steps (SGD lr 0.05 momentum 0.9 weight decay 1e-3; Adam lr 1e-3) on the
 * seed CNN, the Conv+BatchNorm model and the Embedding→LSTM→GRU→LayerNorm→Linear model reproduce
 * PyTorch 1.13's weights and buffers after those steps (rtol 1e-4). The loop is written PyTorch-style:
 * zeroGrad, forward, loss, backward, step. Goldens: fixtures/pytorch/make_fixtures.py.
 */
import { describe, it } from 'vitest';
import * as nn from '../../src/nn/index.js';
import type { Module } from '../../src/nn/index.js';
import { expectParamClose, loadFixture, withPrefix } from '../nn/helpers.js';
import { fixtureLoss, setFixtureMode } from '../nn/losses.js';
import { ConvBN, ImageClassifier, RnnModel } from '../nn/models.js';

const MODELS: [string, () => Module][] = [
  ['image_classifier', () => new ImageClassifier()],
  ['conv_bn', () => new ConvBN()],
  ['rnn_model', () => new RnnModel()],
];

function makeOptimizer(kind: 'sgd' | 'adam', model: Module): nn.Optimizer {
  return kind === 'sgd' ? new nn.SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-3 }) : new nn.Adam(model.parameters(), { lr: 1e-3 });
}

describe('optimizer steps match PyTorch 1.13', () => {
  for (const [name, make] of MODELS) {
    for (const kind of ['sgd', 'adam'] as const) {
      it(`${name}: ${kind} after 1 and 10 steps`, async () => {
        const arrays = loadFixture(name);
        const model = make();
        model.loadStateDict(withPrefix(arrays, 'sd.'));
        setFixtureMode(name, model, true);
        const optimizer = makeOptimizer(kind, model);
        for (let step = 1; step <= 10; step++) {
          optimizer.zeroGrad();
          const loss = fixtureLoss(name, model, arrays);
          await loss.backward();
          optimizer.step();
          if (step === 1 || step === 10) {
            for (const [k, t] of model.stateDict()) expectParamClose(arrays, `${kind}${step}.`, k, t, { rtol: 1e-4, atol: 1e-5 });
          }
        }
      }, 60_000);
    }
  }
});
