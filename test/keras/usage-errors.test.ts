/**
 * The Keras-style API's less common paths and its misuse: `validationData`, two-input functional
 * models in `fit`, evaluate's list form, and typed RosettaErrors (never a raw exception) for a
 * missing compile, unknown losses/optimizers/metrics, wrong input counts, duplicate layer names,
 * a first layer without an input shape, and weights of the wrong count.
 */
import { describe, expect, it } from 'vitest';
import { Tensor, tensorsBitEqual } from '../../src/ir/tensor.js';
import { Input, Model, Sequential, layers, type SymbolicTensor } from '../../src/keras/index.js';
import { seededTensor } from '../helpers/keras-oracle.js';

const x = seededTensor([12, 3], 1);
const y = new Tensor('float32', [12, 1], Float32Array.from({ length: 12 }, (_, i) => x.get(i * 3) - x.get(i * 3 + 2)));

describe('Keras-style API: other paths', () => {
  it('validationData gives val_* equal to evaluate on that data', async () => {
    const m = new Sequential([layers.Dense(4, { inputShape: [3], activation: 'tanh' }), layers.Dense(1)], { seed: 1 });
    m.compile({ optimizer: 'adam', loss: 'mse', metrics: ['mae'] });
    const xv = seededTensor([5, 3], 2);
    const yv = seededTensor([5, 1], 3);
    const h = await m.fit(x, y, { epochs: 2, batchSize: 4, validationData: [xv, yv], verbose: 0 });
    expect(Object.keys(h.history).sort()).toEqual(['loss', 'mae', 'val_loss', 'val_mae']);
    const ev = (await m.evaluate(xv, yv)) as number[];
    expect(ev).toHaveLength(2);
    expect(ev[0]).toBeCloseTo(h.history.val_loss![1]!, 6);
    expect(ev[1]).toBeCloseTo(h.history.val_mae![1]!, 6);
  });

  it('a two-input functional model trains and its loss falls', async () => {
    const a = Input({ shape: [3] });
    const b = Input({ shape: [2] });
    const c = layers.Concatenate().apply([layers.Dense(4, { activation: 'relu' }).apply(a) as SymbolicTensor, b]) as SymbolicTensor;
    const m = new Model({ inputs: [a, b], outputs: layers.Dense(1).apply(c) as SymbolicTensor, seed: 2 });
    m.compile({ optimizer: 'adam', loss: 'mse' });
    const xb = seededTensor([12, 2], 4);
    const h = await m.fit([x, xb], y, { epochs: 30, batchSize: 12, verbose: 0 });
    expect(h.history.loss![29]!).toBeLessThan(h.history.loss![0]!);
  });

  it('a shared layer called twice trains as one set of weights (Keras ties them)', async () => {
    const a = Input({ shape: [3] });
    const b = Input({ shape: [3] });
    const shared = layers.Dense(4, { activation: 'tanh' });
    const c = layers.Add().apply([shared.apply(a) as SymbolicTensor, shared.apply(b) as SymbolicTensor]) as SymbolicTensor;
    const m = new Model({ inputs: [a, b], outputs: layers.Dense(1).apply(c) as SymbolicTensor, seed: 6 });
    m.compile({ optimizer: 'adam', loss: 'mse' });
    const xb = seededTensor([12, 3], 7);
    const h = await m.fit([x, xb], y, { epochs: 20, batchSize: 6, verbose: 0 });
    expect(h.history.loss![19]!).toBeLessThan(h.history.loss![0]!);
    // Every IR copy of the shared kernel/bias still holds the same values after training.
    const g = m.irModel.graph;
    const byKey = new Map<string, Tensor[]>();
    for (const [name, info] of g.params) byKey.set(`${info.scope}/${info.role}`, [...(byKey.get(`${info.scope}/${info.role}`) ?? []), g.initializers.get(name)!]);
    const copies = [...byKey.values()].filter((ts) => ts.length > 1);
    expect(copies.length).toBe(2);
    for (const ts of copies) for (const t of ts) expect(tensorsBitEqual(t, ts[0]!)).toBe(true);
  });

  it('misuse gives typed errors', async () => {
    const m = new Sequential([layers.Dense(1, { inputShape: [3] })]);
    await expect(m.fit(x, y)).rejects.toThrow(/E_USAGE.*compiled/);
    expect(() => m.compile({ optimizer: 'adam', loss: 'nonsense' })).toThrow(/E_USAGE.*unknown loss/);
    expect(() => m.compile({ optimizer: 'bogus', loss: 'mse' })).toThrow(/E_USAGE.*unknown optimizer/);
    expect(() => m.compile({ optimizer: 'sgd', loss: 'mse', metrics: ['nope'] })).toThrow(/E_USAGE.*unknown metric/);
    await expect(m.predict([x, x])).rejects.toThrow(/E_USAGE.*input/);
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    await expect(m.fit(x, seededTensor([5, 1], 1))).rejects.toThrow(/E_SHAPE_MISMATCH/);
    await expect(m.fit(x, y, { validationSplit: 1.5 })).rejects.toThrow(/E_USAGE/);
    expect(() => m.setWeights([])).toThrow(/E_SHAPE_MISMATCH/);
    expect(() => new Sequential([layers.Dense(1)]).build()).toThrow(/E_USAGE.*input shape/);
    const inp = Input({ shape: [2] });
    const dup = new Model({ inputs: inp, outputs: layers.Dense(1, { name: 'same' }).apply(layers.Dense(2, { name: 'same' }).apply(inp)) as SymbolicTensor });
    expect(() => dup.build()).toThrow(/E_USAGE.*named 'same'/);
    await expect(Model.fromFiles(new Map([['x.keras', new Uint8Array([0x50, 0x4b, 3, 4, 0, 0])]]), 'x.keras')).rejects.toThrow(/E_/);
  });
});
