/**
 * save → load round trips of Keras-style models through every Keras format the exporters write,
 * by path (src/node/keras.ts) and in memory (`toFiles`/`fromFiles`): weights stay bit-identical,
 * the config survives, and the reloaded model predicts the same. A trained model (weights moved
 * by `fit`) is used so the check is not of initial values only.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tensor, tensorsBitEqual } from '../../src/ir/tensor.js';
import { Callback, Input, Model, Sequential, layers, type SymbolicTensor } from '../../src/keras/index.js';
import { loadKerasModel, modelCheckpoint, saveKerasModel } from '../../src/node/keras.js';
import { withTempDir } from '../../src/node/files.js';
import { seededTensor } from '../helpers/keras-oracle.js';

async function trainedModel(): Promise<Sequential> {
  const m = new Sequential(
    [
      layers.Conv2D(4, 3, { padding: 'same', activation: 'relu', inputShape: [6, 6, 2] }),
      layers.BatchNormalization(),
      layers.MaxPooling2D(2),
      layers.Flatten(),
      layers.Dense(8, { activation: 'tanh' }),
      layers.Dense(3, { activation: 'softmax' }),
    ],
    { seed: 42 },
  );
  m.compile({ optimizer: 'adam', loss: 'sparse_categorical_crossentropy' });
  const x = seededTensor([8, 6, 6, 2], 1);
  const y = Tensor.from('float32', [8], [0, 1, 2, 0, 1, 2, 0, 1]);
  await m.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0 });
  return m;
}

function expectSameWeights(a: Model, b: Model): void {
  const wa = a.getWeights();
  const wb = b.getWeights();
  expect(wb.length).toBe(wa.length);
  wa.forEach((t, i) => {
    expect(wb[i]!.shape).toEqual(t.shape);
    expect(tensorsBitEqual(wb[i]!, t), `weight ${i}`).toBe(true);
  });
}

describe('Keras-style save / load', () => {
  for (const file of ['m.keras', 'm.h5', 'model.json']) {
    it(`${file}: save(path) → loadKerasModel keeps weights bit-identical and predicts the same`, async () => {
      const m = await trainedModel();
      const x = seededTensor([3, 6, 6, 2], 2);
      const before = (await m.predict(x)) as Tensor;
      await withTempDir('keras-api', async (dir) => {
        await m.save(join(dir, file));
        const back = await loadKerasModel(join(dir, file));
        expectSameWeights(m, back);
        expect(back.layerSummaries().map((l) => [l.className, l.params])).toEqual(m.layerSummaries().map((l) => [l.className, l.params]));
        const after = (await back.predict(x)) as Tensor;
        expect(tensorsBitEqual(after, before)).toBe(true);
        if (file === 'model.json') expect((await readdir(dir)).sort()).toEqual(['group1-shard1of1.bin', 'model.json']);
      });
    }, 60_000);
  }

  it('.weights.h5: saveWeights → loadWeights into a fresh model of the same architecture', async () => {
    const m = await trainedModel();
    const fresh = new Sequential([], { seed: 1 });
    for (const l of m.layers) fresh.add(l);
    // Different initial weights before loading (a real change for the load to make).
    expect(tensorsBitEqual(fresh.getWeights()[0]!, m.getWeights()[0]!)).toBe(false);
    await withTempDir('keras-api', async (dir) => {
      await m.saveWeights(join(dir, 'w.weights.h5'));
      await fresh.loadWeights(join(dir, 'w.weights.h5'));
    });
    expectSameWeights(m, fresh);
  }, 60_000);

  it('toFiles/fromFiles in memory (browser path) for every format; saveKerasModel by path', async () => {
    const m = await trainedModel();
    for (const name of ['a.keras', 'a.h5', 'model.json']) {
      const files = await m.toFiles(name);
      expect([...files.keys()][0]).toBe(name);
      expectSameWeights(m, await Model.fromFiles(files, name));
    }
    await withTempDir('keras-api', async (dir) => {
      await saveKerasModel(m, join(dir, 'sub', 'b.keras'));
      expectSameWeights(m, await loadKerasModel(join(dir, 'sub', 'b.keras')));
    });
  }, 60_000);

  it('a two-input functional model (shared layer called twice) round-trips through every format', async () => {
    const a = Input({ shape: [4] });
    const b = Input({ shape: [4] });
    const shared = layers.Dense(3, { activation: 'relu' });
    const merged = layers.Concatenate().apply([shared.apply(a) as SymbolicTensor, shared.apply(b) as SymbolicTensor]) as SymbolicTensor;
    const m = new Model({ inputs: [a, b], outputs: layers.Dense(2).apply(merged) as SymbolicTensor, seed: 5 });
    const xs = [seededTensor([3, 4], 1), seededTensor([3, 4], 2)];
    const want = (await m.predict(xs)) as Tensor;
    // One shared Dense: 4·3 + 3 weights, counted once.
    expect(m.getWeights().map((w) => w.size)).toEqual([12, 3, 12, 2]);
    for (const name of ['f.keras', 'f.h5', 'model.json']) {
      const back = await Model.fromFiles(await m.toFiles(name), name);
      expectSameWeights(m, back);
      expect(tensorsBitEqual((await back.predict(xs)) as Tensor, want), name).toBe(true);
    }
  }, 60_000);

  it('modelCheckpoint writes one file per epoch to disk, loadable with the weights of that epoch', async () => {
    const m = await trainedModel();
    const x = seededTensor([8, 6, 6, 2], 5);
    const y = Tensor.from('float32', [8], [2, 1, 0, 2, 1, 0, 2, 1]);
    await withTempDir('keras-api', async (dir) => {
      const snaps: Tensor[][] = [];
      const ck = modelCheckpoint({ filepath: join(dir, 'ck', 'e{epoch:02d}.h5') });
      const spy = Object.assign(new Callback(), { onEpochEnd: () => void snaps.push(m.getWeights()) });
      await m.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0, callbacks: [ck, spy] });
      expect((await readdir(join(dir, 'ck'))).sort()).toEqual(['e01.h5', 'e02.h5']);
      const first = await loadKerasModel(join(dir, 'ck', 'e01.h5'));
      first.getWeights().forEach((w, i) => expect(tensorsBitEqual(w, snaps[0]![i]!), `epoch 1 weight ${i}`).toBe(true));
    });
  }, 60_000);
});
