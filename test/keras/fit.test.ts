/**
 * Keras-style training: `compile` + `fit` on the house-price data and on a synthetic
 * classification set, `History` contents, callbacks, and one epoch of SGD without shuffling
 * compared with tfjs-layers (@tensorflow/tfjs 4.22) training the same config from the same
 * weights with `tf.train.sgd` (rtol 1e-4).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tensor, tensorsBitEqual } from '../../src/ir/tensor.js';
import { Callback, EarlyStopping, LearningRateScheduler, ModelCheckpoint, Sequential, layers, optimizers, type Model } from '../../src/keras/index.js';
import { Adam, type Trainable } from '../../src/runtime/optim.js';
import { seededRandom } from '../../src/runtime/session.js';
import { expectClose, seededTensor, tf, tfjsModel } from '../helpers/keras-oracle.js';
import { FIXTURES } from '../nn/helpers.js';

/** The classic Keras house-price exercise: price = 0.5 + 0.5 · bedrooms (in 100k). */
const BEDROOMS = Tensor.from('float32', [6, 1], [1, 2, 3, 4, 5, 6]);
const PRICES = Tensor.from('float32', [6, 1], [1, 1.5, 2, 2.5, 3, 3.5]);

/** Three Gaussian blobs in 4-D: a learnable synthetic classification set. */
function blobs(n: number, seed: number): { x: Tensor; y: Tensor } {
  const r = seededRandom(seed);
  const x = new Float32Array(n * 4);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    y[i] = c;
    for (let k = 0; k < 4; k++) x[i * 4 + k] = (k === c ? 2 : 0) + (r() - 0.5) * 1.5;
  }
  return { x: new Tensor('float32', [n, 4], x), y: new Tensor('float32', [n], y) };
}

function classifier(seed = 3): Sequential {
  return new Sequential([layers.Dense(16, { activation: 'relu', inputShape: [4] }), layers.Dense(3, { activation: 'softmax' })], { seed });
}

const quiet = { printFn: () => {} };

/** Train the same config + weights one epoch in tfjs with plain SGD; return Keras-order weights. */
async function tfjsOneEpoch(m: Model, x: Tensor, y: Tensor, loss: string, batchSize: number, lr: number, optimizer: 'sgd' | 'adam' = 'sgd'): Promise<Tensor[]> {
  const tm = await tfjsModel(m.toJSON(), m.getLayerWeights());
  tm.compile({ optimizer: optimizer === 'sgd' ? tf.train.sgd(lr) : tf.train.adam(lr, 0.9, 0.999, 1e-7), loss });
  const tx = tf.tensor(Array.from(x.toNumbers()), x.shape.slice());
  const ty = tf.tensor(Array.from(y.toNumbers()), y.shape.slice());
  await tm.fit(tx, ty, { epochs: 1, batchSize, shuffle: false, verbose: 0 });
  // Per layer, like Keras' get_weights (tfjs' model.getWeights puts non-trainable weights last).
  const out = tm.layers.flatMap((l) => l.getWeights()).map((w) => new Tensor('float32', w.shape, Float32Array.from(w.dataSync())));
  tm.dispose();
  tx.dispose();
  ty.dispose();
  return out;
}

describe('Keras-style fit', () => {
  it('house-price model (sgd, mean_squared_error, 500 epochs) reports a falling loss and learns the line', async () => {
    const model = new Sequential([layers.Dense(1, { inputShape: [1] })], { seed: 7 });
    model.compile({ optimizer: 'sgd', loss: 'mean_squared_error' });
    const lines: string[] = [];
    const h = await model.fit(BEDROOMS, PRICES, { epochs: 500, printFn: (l) => lines.push(l) });
    const loss = h.history.loss!;
    expect(loss).toHaveLength(500);
    expect(loss[499]!).toBeLessThan(loss[0]! / 10);
    expect(loss[499]!).toBeLessThan(loss[250]!);
    expect(lines[0]).toBe('Epoch 1/500');
    expect(lines[1]).toMatch(/^1\/1 - \d+s - loss: \d+\.\d{4} - \d+ms\/step$/);
    const p = (await model.predict(Tensor.from('float32', [1, 1], [7]))) as Tensor;
    expect(Math.abs(p.get(0) - 4)).toBeLessThan(0.1);
  }, 60_000);

  it("the seed's house-price settings Keras-style (Adam lr 0.01, mse, 500 full-batch epochs on the ten raw sizes): loss falls", async () => {
    // Data: fixtures/pytorch/manifest.json (house_price), the seed's ten sizes and prices.
    const manifest = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8')) as { models: { house_price: { sizes: number[]; prices: number[] } } };
    const { sizes, prices } = manifest.models.house_price;
    const model = new Sequential([layers.Dense(1, { inputShape: [1] })], { seed: 0 });
    model.compile({ optimizer: optimizers.Adam({ learningRate: 0.01 }), loss: 'mse' });
    const lines: string[] = [];
    const h = await model.fit(Tensor.from('float32', [10, 1], sizes), Tensor.from('float32', [10, 1], prices), { epochs: 500, batchSize: 10, printFn: (l) => lines.push(l) });
    const loss = h.history.loss!;
    expect(loss[499]!).toBeLessThan(loss[0]! / 100);
    // Falling throughout: every 50-epoch window ends lower than it started.
    for (let e = 50; e < 500; e += 50) expect(loss[e]!).toBeLessThan(loss[e - 50]!);
    expect(lines.filter((l) => l.startsWith('Epoch '))).toHaveLength(500);
    // The fitted slope is the least-squares one through the origin region (price ≈ 0.2 · size).
    expect(Math.abs(model.getWeights()[0]!.get(0) - 0.2)).toBeLessThan(0.01);
  }, 60_000);

  it('classification: accuracy rises; History has loss/accuracy/val_loss/val_accuracy per epoch', async () => {
    const { x, y } = blobs(150, 1);
    const model = classifier();
    model.compile({ optimizer: 'adam', loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'] });
    const h = await model.fit(x, y, { epochs: 15, batchSize: 16, validationSplit: 0.2, ...quiet });
    expect(Object.keys(h.history).sort()).toEqual(['accuracy', 'loss', 'val_accuracy', 'val_loss']);
    for (const k of Object.keys(h.history)) expect(h.history[k]).toHaveLength(15);
    expect(h.epoch).toEqual([...Array(15).keys()]);
    expect(h.history.accuracy![14]!).toBeGreaterThan(h.history.accuracy![0]! + 0.2);
    expect(h.history.val_accuracy![14]!).toBeGreaterThan(0.9);
    expect(h.history.loss![14]!).toBeLessThan(h.history.loss![0]!);
    // evaluate agrees with the last val_* (same weights, inference mode, Keras' tail split).
    const tail = { x: new Tensor('float32', [30, 4], (x.data as Float32Array).slice(120 * 4)), y: new Tensor('float32', [30], (y.data as Float32Array).slice(120)) };
    const ev = (await model.evaluate(tail.x, tail.y, { returnDict: true })) as Record<string, number>;
    expect(ev.loss).toBeCloseTo(h.history.val_loss![14]!, 5);
    expect(ev.accuracy).toBeCloseTo(h.history.val_accuracy![14]!, 6);
  }, 60_000);

  it('one epoch of SGD without shuffling matches tfjs-layers (Dense, mse)', async () => {
    const m = new Sequential([layers.Dense(1, { inputShape: [1] })], { seed: 2 });
    const want = await tfjsOneEpoch(m, BEDROOMS, PRICES, 'meanSquaredError', 2, 0.01);
    m.compile({ optimizer: optimizers.SGD({ learningRate: 0.01 }), loss: 'mse' });
    await m.fit(BEDROOMS, PRICES, { epochs: 1, batchSize: 2, shuffle: false, verbose: 0 });
    const got = m.getWeights();
    expect(got.length).toBe(want.length);
    got.forEach((g, i) => expectClose(g, want[i]!, 1e-4, 1e-7, `weight ${i}`));
  });

  it('one epoch of SGD without shuffling matches tfjs-layers (MLP, sparse_categorical_crossentropy)', async () => {
    const { x, y } = blobs(40, 4);
    const m = classifier(5);
    const before = m.getWeights();
    const want = await tfjsOneEpoch(m, x, y, 'sparseCategoricalCrossentropy', 8, 0.1);
    m.compile({ optimizer: optimizers.SGD({ learningRate: 0.1 }), loss: 'sparse_categorical_crossentropy' });
    await m.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    const got = m.getWeights();
    got.forEach((g, i) => expectClose(g, want[i]!, 1e-4, 1e-6, `weight ${i}`));
    // The weights did move (the comparison is not of two untouched copies).
    expect(Math.abs(got[0]!.get(0) - before[0]!.get(0)) + Math.abs(got[3]!.get(0) - before[3]!.get(0))).toBeGreaterThan(1e-4);
  });

  it('one epoch of SGD without shuffling matches tfjs-layers (Conv2D, MaxPooling2D, Flatten, Dense, categorical_crossentropy)', async () => {
    const x = seededTensor([12, 8, 8, 1], 21, 0, 1);
    const yi = Array.from({ length: 12 }, (_, i) => i % 3);
    const y = Tensor.from('float32', [12, 3], yi.flatMap((c) => [0, 1, 2].map((k) => (k === c ? 1 : 0))));
    const m = new Sequential([layers.Conv2D(4, 3, { padding: 'same', activation: 'relu', inputShape: [8, 8, 1] }), layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(3, { activation: 'softmax' })], { seed: 9 });
    const want = await tfjsOneEpoch(m, x, y, 'categoricalCrossentropy', 4, 0.05);
    m.compile({ optimizer: optimizers.SGD({ learningRate: 0.05 }), loss: 'categorical_crossentropy' });
    await m.fit(x, y, { epochs: 1, batchSize: 4, shuffle: false, verbose: 0 });
    m.getWeights().forEach((g, i) => expectClose(g, want[i]!, 1e-4, 1e-6, `weight ${i}`));
  });

  it("one epoch of Adam matches tfjs-layers (rtol 1e-4) when given tfjs' ε placement", async () => {
    // tfjs adds ε to √v̂ after the bias correction (as PyTorch); Keras/TF adds it to √v before
    // ("epsilon hat"), which changes steps of near-zero gradients by up to lr. So this oracle run
    // uses the runtime Adam without epsilonHat; Keras' placement is the default of optimizers.Adam.
    const { x, y } = blobs(40, 8);
    const m = classifier(21);
    const before = m.getWeights();
    const want = await tfjsOneEpoch(m, x, y, 'sparseCategoricalCrossentropy', 8, 0.01, 'adam');
    const tfjsAdam = { name: 'Adam', create: (p: Trainable[]) => new Adam(p, { lr: 0.01, betas: [0.9, 0.999], eps: 1e-7, epsilonHat: false }) };
    m.compile({ optimizer: tfjsAdam, loss: 'sparse_categorical_crossentropy' });
    await m.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    const got = m.getWeights();
    got.forEach((g, i) => expectClose(g, want[i]!, 1e-4, 1e-6, `weight ${i}`));
    expect(Math.abs(got[0]!.get(0) - before[0]!.get(0))).toBeGreaterThan(1e-3);
    // The Keras default (epsilon hat) is what optimizers.Adam() builds.
    expect((optimizers.Adam().create([]) as Adam).epsilonHat).toBe(true);
    expect((optimizers.Adam().create([]) as Adam).eps).toBe(1e-7);
  });

  it('BatchNormalization trains in training mode (batch statistics, moving averages) like tfjs-layers', async () => {
    const { x, y } = blobs(24, 6);
    const m = new Sequential([layers.Dense(6, { inputShape: [4] }), layers.BatchNormalization({ momentum: 0.9 }), layers.Activation('relu'), layers.Dense(3, { activation: 'softmax' })], { seed: 17 });
    const want = await tfjsOneEpoch(m, x, y, 'sparseCategoricalCrossentropy', 8, 0.1);
    m.compile({ optimizer: optimizers.SGD({ learningRate: 0.1 }), loss: 'sparse_categorical_crossentropy' });
    await m.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    const got = m.getWeights();
    // Keras order: kernel, bias, gamma, beta, moving_mean, moving_variance, kernel, bias.
    expect(got[4]!.toNumbers().some((v) => v !== 0)).toBe(true);
    got.forEach((g, i) => expectClose(g, want[i]!, 1e-4, 1e-6, `weight ${i}`));
  });

  it('evaluate: each named loss and metric equals tfjs-layers model.evaluate on the same model and data', async () => {
    const { x, y } = blobs(30, 12);
    const oneHot = Tensor.from('float32', [30, 3], Array.from(y.toNumbers()).flatMap((c) => [0, 1, 2].map((k) => (k === c ? 1 : 0))));
    const cases: [string, string, Tensor, Sequential][] = [
      ['sparse_categorical_crossentropy', 'sparseCategoricalCrossentropy', y, classifier(41)],
      ['categorical_crossentropy', 'categoricalCrossentropy', oneHot, classifier(42)],
      ['binary_crossentropy', 'binaryCrossentropy', oneHot, classifier(43)],
      ['mse', 'meanSquaredError', oneHot, classifier(44)],
      ['mae', 'meanAbsoluteError', oneHot, classifier(45)],
    ];
    for (const [ours, theirs, target, m] of cases) {
      const tm = await tfjsModel(m.toJSON(), m.getLayerWeights());
      tm.compile({ optimizer: 'sgd', loss: theirs, metrics: ['accuracy'] });
      const tx = tf.tensor(Array.from(x.toNumbers()), x.shape.slice());
      const ty = tf.tensor(Array.from(target.toNumbers()), target.shape.slice());
      const r = tm.evaluate(tx, ty, { batchSize: 7 }) as ReturnType<typeof tf.scalar>[];
      const [wantLoss, wantAcc] = r.map((t) => t.dataSync()[0]!);
      tm.dispose();
      tx.dispose();
      ty.dispose();
      m.compile({ optimizer: 'sgd', loss: ours, metrics: ['accuracy'] });
      const [loss, acc] = (await m.evaluate(x, target, { batchSize: 7 })) as number[];
      expect(Math.abs(loss! - wantLoss!), `${ours} loss ${loss} vs ${wantLoss}`).toBeLessThan(1e-5 + 1e-5 * Math.abs(wantLoss!));
      expect(acc, `${ours} accuracy`).toBeCloseTo(wantAcc!, 6);
    }
  });

  it('EarlyStopping stops when val_loss stops improving and restores the best weights', async () => {
    const { x, y } = blobs(60, 2);
    const model = classifier(11);
    // A huge learning rate makes val_loss get worse, so patience runs out early.
    model.compile({ optimizer: optimizers.SGD({ learningRate: 50 }), loss: 'sparse_categorical_crossentropy' });
    const es = new EarlyStopping({ monitor: 'val_loss', patience: 1, restoreBestWeights: true });
    const snapshots: Tensor[][] = [];
    const h = await model.fit(x, y, {
      epochs: 30,
      batchSize: 10,
      validationSplit: 0.25,
      callbacks: [es, Object.assign(new EarlyStopping({ patience: 1000 }), { onEpochEnd: () => void snapshots.push(model.getWeights()) })],
      ...quiet,
    });
    const val = h.history.val_loss!;
    expect(val.length).toBeLessThan(30);
    expect(es.stoppedEpoch).toBe(val.length - 1);
    const best = val.indexOf(Math.min(...val));
    expect(es.bestEpoch).toBe(best);
    expect(val.length - 1 - best).toBe(1 + 0); // stopped `patience` epochs after the best
    model.getWeights().forEach((w, i) => expectClose(w, snapshots[best]![i]!, 0, 0, `restored weight ${i}`));
  }, 60_000);

  it('LearningRateScheduler sets the rate per epoch (lr 0 from epoch 1 on freezes the weights)', async () => {
    const m = new Sequential([layers.Dense(1, { inputShape: [1] })], { seed: 4 });
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    const snaps: Tensor[][] = [];
    const sched = new LearningRateScheduler((epoch, lr) => (epoch === 0 ? lr : 0));
    const spy = Object.assign(new Callback(), { onEpochEnd: () => void snaps.push(m.getWeights()) });
    await m.fit(BEDROOMS, PRICES, { epochs: 3, verbose: 0, callbacks: [sched, spy] });
    expect(sched.rates).toEqual([0.01, 0, 0]);
    expect(tensorsBitEqual(snaps[2]![0]!, snaps[0]![0]!)).toBe(true);
    expect(tensorsBitEqual(snaps[0]![0]!, new Sequential([layers.Dense(1, { inputShape: [1] })], { seed: 4 }).getWeights()[0]!)).toBe(false);
  });

  it('ModelCheckpoint saves the best epochs under a formatted name', async () => {
    const { x, y } = blobs(60, 3);
    const model = classifier(13);
    model.compile({ optimizer: 'adam', loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'] });
    const ck = new ModelCheckpoint({ filepath: 'ckpt/m-{epoch:02d}-{val_loss:.3f}.keras', saveBestOnly: true });
    const h = await model.fit(x, y, { epochs: 4, batchSize: 10, validationSplit: 0.2, callbacks: [ck], ...quiet });
    const val = h.history.val_loss!;
    const improving = val.map((v, i) => i === 0 || v < Math.min(...val.slice(0, i)));
    expect(ck.saved.map((s) => s.epoch)).toEqual(improving.flatMap((ok, i) => (ok ? [i] : [])));
    expect(ck.saved[0]!.path).toBe(`ckpt/m-01-${val[0]!.toFixed(3)}.keras`);
    const files = ck.saved[0]!.files!;
    expect([...files.keys()]).toEqual([`m-01-${val[0]!.toFixed(3)}.keras`]);
    expect(files.values().next().value!.subarray(0, 2)).toEqual(new Uint8Array([0x50, 0x4b]));
  }, 60_000);
});
