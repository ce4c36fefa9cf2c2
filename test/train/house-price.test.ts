/**
 * The seed's house-price program, written like its PyTorch original (Adam, lr 0.01, 500
 * full-batch epochs of MSE on ten raw sizes), started from PyTorch's seed-0 initial weights, ends
 * at PyTorch 1.13's weights (slope ≈ 0.1996, bias ≈ 0.730) and follows its loss curve.
 * Goldens: fixtures/pytorch/make_fixtures.py → house_price.npz / manifest.json.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import * as nn from '../../src/nn/index.js';
import { Tensor } from '../../src/ir/tensor.js';
import { FIXTURES, expectClose, loadFixture, withPrefix } from '../nn/helpers.js';
import { SimpleLinearModel } from '../nn/models.js';

const manifest = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8')) as {
  models: { house_price: { sizes: number[]; prices: number[]; final_slope: number; final_bias: number } };
};

it('house-price loop ends at PyTorch weights', async () => {
  const { sizes, prices, final_slope, final_bias } = manifest.models.house_price;
  const arrays = loadFixture('house_price');
  const X = Tensor.from('float32', [sizes.length, 1], sizes);
  const Y = Tensor.from('float32', [prices.length, 1], prices);

  const model = new SimpleLinearModel();
  model.loadStateDict(withPrefix(arrays, 'sd.')); // torch.manual_seed(0) initial weights
  const criterion = new nn.MSELoss();
  const optimizer = new nn.Adam(model.parameters(), { lr: 0.01 });
  const losses: number[] = [];
  model.train();
  for (let epoch = 0; epoch < 500; epoch++) {
    optimizer.zeroGrad();
    const outputs = model.callVar(X);
    const loss = criterion.callVar(outputs, Y);
    await loss.backward();
    optimizer.step();
    losses.push(loss.item());
  }

  const slope = model.linear.weight.data.get(0);
  const bias = model.linear.bias!.data.get(0);
  expect(Math.abs(slope - final_slope)).toBeLessThanOrEqual(1e-4 * Math.abs(final_slope));
  expect(Math.abs(bias - final_bias)).toBeLessThanOrEqual(1e-4 * Math.abs(final_bias));
  expectClose(Tensor.from('float32', [losses.length], losses), arrays.get('losses')!, { rtol: 1e-3, atol: 1e-3, what: 'loss curve' });
}, 60_000);
