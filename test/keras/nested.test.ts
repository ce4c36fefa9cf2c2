/**
 * Transfer learning Keras-style: a model used as a layer of a Sequential keeps its weights, its
 * output feeds the head exactly (checked against running base and head separately), and
 * `base.trainable = false` freezes it (BatchNormalization included, which then runs in inference
 * mode) while the head trains. The nested model saves and loads.
 */
import { describe, expect, it } from 'vitest';
import { Tensor, tensorsBitEqual } from '../../src/ir/tensor.js';
import { Model, Sequential, layers } from '../../src/keras/index.js';
import { expectClose, seededTensor } from '../helpers/keras-oracle.js';

function base(): Sequential {
  return new Sequential([layers.Conv2D(4, 3, { inputShape: [8, 8, 2], activation: 'relu' }), layers.BatchNormalization(), layers.GlobalAveragePooling2D()], { seed: 31, name: 'base' });
}

describe('nested models', () => {
  it('Sequential([base, head]) keeps base weights and composes exactly', async () => {
    const b = base();
    const bw = b.getWeights();
    const m = new Sequential([b, layers.Dense(3, { activation: 'softmax' })], { seed: 32 });
    const mw = m.getWeights();
    bw.forEach((w, i) => expect(tensorsBitEqual(mw[i]!, w), `base weight ${i}`).toBe(true));
    const x = seededTensor([5, 8, 8, 2], 1);
    const feats = (await b.predict(x)) as Tensor;
    const head = new Sequential([layers.Dense(3, { activation: 'softmax', inputShape: [4] })]);
    head.setWeights(mw.slice(bw.length));
    expectClose((await m.predict(x)) as Tensor, (await head.predict(feats)) as Tensor, 1e-6, 1e-7, 'nested');
    expect(m.layerSummaries().map((l) => [l.name, l.className, l.params])).toEqual([
      ['base', 'Sequential', 4 * 18 + 4 + 16],
      [m.layerSummaries()[1]!.name, 'Dense', 15],
    ]);
  });

  it('base.trainable = false: base frozen (BatchNormalization statistics too), head trains; .keras round trip', async () => {
    const b = base();
    b.trainable = false;
    const m = new Sequential([b, layers.Dense(3, { activation: 'softmax' })], { seed: 33 });
    expect(m.summary({ printFn: () => {} })).toContain('Non-trainable params: 92');
    const before = m.getWeights();
    m.compile({ optimizer: 'adam', loss: 'sparse_categorical_crossentropy' });
    const x = seededTensor([12, 8, 8, 2], 2);
    const y = Tensor.from('float32', [12], Array.from({ length: 12 }, (_, i) => i % 3));
    await m.fit(x, y, { epochs: 3, batchSize: 4, verbose: 0 });
    const after = m.getWeights();
    for (let i = 0; i < 6; i++) expect(tensorsBitEqual(after[i]!, before[i]!), `base weight ${i}`).toBe(true);
    expect(tensorsBitEqual(after[6]!, before[6]!)).toBe(false);
    const back = await Model.fromFiles(await m.toFiles('t.keras'), 't.keras');
    back.getWeights().forEach((w, i) => expect(tensorsBitEqual(w, after[i]!), `weight ${i}`).toBe(true));
  });
});
