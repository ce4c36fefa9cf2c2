/**
 * The Keras-style API against tfjs-layers (@tensorflow/tfjs 4.22, an independent implementation of
 * Keras semantics): the seed CNN and the one-neuron house-price model are written with the API,
 * tfjs builds the same config (`tf.models.modelFromJSON`) and gets the same weights, and both
 * predict the same inputs. `summary()` numbers (output shapes, parameter counts) are compared with
 * tfjs' own `model.summary()`.
 */
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/ir/tensor.js';
import { Input, Model, Sequential, layers } from '../../src/keras/index.js';
import { housePrice, seedCnn } from './models.js';
import { expectClose, seededTensor, tfjsModel, tfjsPredict } from '../helpers/keras-oracle.js';

/** tfjs' summary rows: [name, type, output shape, params]. */
async function tfjsSummary(m: Model): Promise<{ rows: string[][]; total: number; trainable: number }> {
  const tm = await tfjsModel(m.toJSON(), m.getLayerWeights());
  const lines: string[] = [];
  tm.summary(200, undefined, (line: string) => lines.push(line));
  const rows = lines
    // tfjs 4.22 columns: Layer (type), Input Shape, Output shape, Param #.
    .map((l) => /^(\S+) \((\w+)\)\s+(?:\[\[[^\]]*\]\]|\[[^\]]*\])\s+(\[[^\]]*\])\s+(\d+)/.exec(l.trim()))
    .filter((r): r is RegExpExecArray => r !== null)
    .map((r) => [r[1]!, r[2]!, r[3]!, r[4]!]);
  const num = (re: RegExp): number => Number(lines.map((l) => re.exec(l)?.[1]).find((x) => x !== undefined)!.replace(/,/g, ''));
  tm.dispose();
  return { rows, total: num(/^Total params: ([\d,]+)/), trainable: num(/^Trainable params: ([\d,]+)/) };
}

describe('Keras-style API vs tfjs-layers', () => {
  it('seed CNN: same outputs as tfjs-layers with the same config and weights', async () => {
    const m = seedCnn();
    const x = seededTensor([4, 28, 28, 1], 11, 0, 1);
    const got = (await m.predict(x)) as Tensor;
    const tm = await tfjsModel(m.toJSON(), m.getLayerWeights());
    const [want] = tfjsPredict(tm, [x]);
    tm.dispose();
    expect(got.shape).toEqual([4, 10]);
    expectClose(got, want!, 1e-4, 1e-6, 'seed CNN');
    // Not a degenerate check: the outputs differ per sample.
    expect(Math.abs(got.get(0) - got.get(10))).toBeGreaterThan(1e-6);
  });

  it('house-price model: same outputs as tfjs-layers', async () => {
    const m = housePrice();
    const x = Tensor.from('float32', [10, 1], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const got = (await m.predict(x)) as Tensor;
    const tm = await tfjsModel(m.toJSON(), m.getLayerWeights());
    const [want] = tfjsPredict(tm, [x]);
    tm.dispose();
    expectClose(got, want!, 1e-5, 1e-6, 'house price');
  });

  it('functional model with shared input, Concatenate and BatchNormalization matches tfjs-layers', async () => {
    const inp = Input({ shape: [8, 8, 3] });
    const a = layers.Conv2D(4, 3, { padding: 'same', activation: 'relu' }).apply(inp);
    const b = layers.DepthwiseConv2D(3, { padding: 'same' }).apply(inp);
    const c = layers.Concatenate().apply([a, b] as never);
    const d = layers.BatchNormalization().apply(c);
    const e = layers.GlobalAveragePooling2D().apply(d);
    const out = layers.Dense(3, { activation: 'softmax' }).apply(e);
    const m = new Model({ inputs: inp, outputs: out as never });
    const x = seededTensor([2, 8, 8, 3], 5);
    const got = (await m.predict(x)) as Tensor;
    const tm = await tfjsModel(m.toJSON(), m.getLayerWeights());
    const [want] = tfjsPredict(tm, [x]);
    tm.dispose();
    expectClose(got, want!, 1e-4, 1e-6, 'functional');
  });

  it('recurrent layers (LSTM with Keras unit_forget_bias, GRU; tfjs has no reset_after=True) match tfjs-layers', async () => {
    const m = new Sequential([layers.Embedding(20, 6, { inputShape: [5] }), layers.LSTM(7, { returnSequences: true }), layers.GRU(4, { resetAfter: false }), layers.Dense(2)]);
    const x = seededTensor([3, 5], 9, 0, 20, true);
    const got = (await m.predict(x)) as Tensor;
    const w = m.getLayerWeights();
    // Keras' LSTM forget-gate bias starts at 1 (gate order i, f, c, o).
    expect(Array.from(w.get('lstm')![2]!.toNumbers().slice(7, 14))).toEqual(new Array(7).fill(1));
    const tm = await tfjsModel(m.toJSON(), w);
    const [want] = tfjsPredict(tm, [x]);
    tm.dispose();
    expectClose(got, want!, 1e-4, 1e-6, 'rnn');
  });

  it('summary() shows the output shapes and parameter counts tfjs-layers reports', async () => {
    for (const m of [seedCnn(), housePrice()]) {
      const text = m.summary({ printFn: () => {} });
      const ours = m.layerSummaries();
      const theirs = await tfjsSummary(m);
      expect(ours.map((r) => [r.name, r.className, `[${r.outputShape.map((d) => (d === null ? 'null' : d)).join(',')}]`, String(r.params)])).toEqual(theirs.rows);
      const total = ours.reduce((a, r) => a + r.params, 0);
      expect(total).toBe(theirs.total);
      expect(text).toContain(`Total params: ${total.toLocaleString('en-US')}`);
      expect(text).toContain(`Trainable params: ${theirs.trainable.toLocaleString('en-US')}`);
    }
    // A functional model with BatchNormalization (non-trainable moving statistics) and two inputs.
    const a = Input({ shape: [6, 6, 2] });
    const b = Input({ shape: [6, 6, 2] });
    const c = layers.Concatenate().apply([layers.Conv2D(3, 3).apply(a), layers.Conv2D(3, 3).apply(b)] as never);
    const f = new Model({ inputs: [a, b], outputs: layers.Dense(2).apply(layers.Flatten().apply(layers.BatchNormalization().apply(c))) as never });
    const ft = f.summary({ printFn: () => {} });
    const theirs = await tfjsSummary(f);
    expect(ft).toContain(`Total params: ${theirs.total.toLocaleString('en-US')}`);
    expect(ft).toContain(`Trainable params: ${theirs.trainable.toLocaleString('en-US')}`);
    expect(ft).toContain(`Non-trainable params: ${(theirs.total - theirs.trainable).toLocaleString('en-US')}`);
    expect(ft).toMatch(/Connected to/);
    expect(ft).toMatch(new RegExp(`${a.layer.name} \\(InputLayer\\)\\s+\\[\\(None, 6, 6, 2\\)\\]\\s+0\\s+\\[\\]`));
    const cnn = seedCnn().summary({ printFn: () => {} });
    expect(cnn).toMatch(/ dense_\d+ \(Dense\)\s+\(None, 128\)\s+401536/);
  });
});
