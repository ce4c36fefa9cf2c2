/**
 * The Keras-style loop (`nn.fit`) over src/nn models: the house-price model fitted with Keras's
 * Adam defaults reports a falling loss; a classifier with validationSplit, accuracy, EarlyStopping
 * and ModelCheckpoint learns synthetic data; `evaluate` agrees with the final epoch's validation.
 */
import { expect, it } from 'vitest';
import { Tensor } from '../../src/ir/tensor.js';
import * as nn from '../../src/nn/index.js';
import { seededRandom } from '../../src/runtime/session.js';
import { SimpleLinearModel } from '../nn/models.js';

it('house price, Keras-style: compile(adam, mse) + fit(500 epochs) reports a falling loss', async () => {
  const sizes = [650, 785, 1200, 720, 975, 1450, 1800, 2100, 2500, 3000];
  const prices = [130, 157, 240, 144, 195, 290, 360, 420, 500, 600];
  nn.initSeed(0);
  const model = new SimpleLinearModel();
  const lines: string[] = [];
  const h = await nn.fit(model, Tensor.from('float32', [10, 1], sizes), Tensor.from('float32', [10, 1], prices), {
    epochs: 500,
    optimizer: 'adam',
    defaults: 'keras',
    lr: 0.01,
    loss: 'mean_squared_error',
    log: (l) => lines.push(l),
  });
  const loss = h.history.loss!;
  expect(loss.length).toBe(500);
  expect(loss[499]!).toBeLessThan(loss[0]! / 100);
  expect(lines[0]).toMatch(/^Epoch 1\/500 - 1 steps - [\d.]+s - loss: [\d.]+$/);
}, 60_000);

it('classifier: validationSplit, accuracy, EarlyStopping, ModelCheckpoint, evaluate', async () => {
  const rnd = seededRandom(11);
  const n = 120;
  const xs: number[] = [];
  const ys: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const k = i % 3;
    xs.push(k === 0 ? 2 : -1 + rnd(), k === 1 ? 2 : -1 + rnd(), k === 2 ? 2 : -1 + rnd(), rnd());
    ys.push(BigInt(k));
  }
  const x = Tensor.from('float32', [n, 4], xs);
  const y = Tensor.from('int64', [n], ys);
  nn.initSeed(1);
  const model = new nn.Sequential(new nn.Linear(4, 8), new nn.ReLU(), new nn.Linear(8, 3));
  const saved: number[] = [];
  const stopper = new nn.EarlyStopping({ monitor: 'val_loss', patience: 2, minDelta: 1e-3 });
  const h = await nn.fit(model, x, y, {
    epochs: 200,
    batchSize: 16,
    optimizer: 'adam',
    lr: 0.05,
    loss: 'cross_entropy',
    metrics: ['accuracy'],
    validationSplit: 0.25,
    callbacks: [stopper, new nn.ModelCheckpoint({ save: (_sd, epoch) => void saved.push(epoch) })],
  });
  expect(Object.keys(h.history)).toEqual(['loss', 'accuracy', 'val_loss', 'val_accuracy']);
  expect(h.history.val_accuracy!.at(-1)!).toBeGreaterThan(0.9);
  expect(stopper.stoppedEpoch).toBeGreaterThan(0);
  expect(h.epoch.length).toBeLessThan(200);
  expect(saved.length).toBeGreaterThan(0);
  const last = 90;
  const idx = Array.from({ length: n - last }, (_, i) => last + i);
  const ev = await nn.evaluate(model, nn.takeRows(x, idx), nn.takeRows(y, idx), { loss: 'cross_entropy', metrics: ['accuracy'] });
  expect(Math.abs(ev.loss! - h.history.val_loss!.at(-1)!)).toBeLessThan(1e-5);
  expect(ev.accuracy).toBe(h.history.val_accuracy!.at(-1));
}, 60_000);
