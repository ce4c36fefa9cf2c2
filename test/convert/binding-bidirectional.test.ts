/**
 * Keras Bidirectional RNN weights (`forward_lstm/…`, `backward_lstm/…`; Keras 3 `forward_layer`,
 * `backward_layer`) ⇄ PyTorch bidirectional RNNs (`weight_ih_l0_reverse`, …) in the binder
 * (src/convert/binding.ts `adaptRnn`, `splitKey`).
 *
 * 1. Keras-named bidirectional LSTM weights onto PyTorch's ONNX export of `rnn_model`
 *    (fixtures/convert/make_fixtures.py, PyTorch 1.13): PyTorch's recorded outputs reproduced.
 *    The Keras tensors are built from the state dict by the storage formulas (Keras LSTM gates
 *    (i,f,c,o) = PyTorch (i,f,g,o), kernel = weight_ih^T, recurrent_kernel = weight_hh^T,
 *    bias = bias_ih + bias_hh), written as index loops independent of the binder.
 * 2. A PyTorch-named bidirectional state dict onto a Keras-imported `Bidirectional(LSTM)`, checked
 *    against tfjs-layers (@tensorflow/tfjs 4.22) running the Keras JSON with the same weights.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bindWeights } from '../../src/convert/binding.js';
import { readNpz } from '../../src/formats/npy.js';
import { importFile } from '../../src/importers/index.js';
import { lowerKerasModel } from '../../src/importers/keras/lower.js';
import { normalizeModel } from '../../src/importers/keras/normalize.js';
import type { WeightSet } from '../../src/importers/types.js';
import type { Model } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { Session, seededRandom } from '../../src/runtime/session.js';
import { PROJECT_ROOT } from '../helpers/corpus.js';
import { expectClose, seededTensor, tf, tfjsPredict } from '../helpers/keras-oracle.js';

const FIX = join(PROJECT_ROOT, 'fixtures', 'convert');
const f32 = (t: Tensor): Float32Array => t.data as Float32Array;
const ws = (tensors: [string, Tensor][], format: WeightSet['format'] = 'keras-h5'): WeightSet => ({ format, tensors: new Map(tensors), metadata: {}, notes: [] });

/** [a, b] → [b, a] by index loops. */
function transposed(w: Tensor): Tensor {
  const [a, b] = w.shape as [number, number];
  const out = new Tensor('float32', [b, a]);
  for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) f32(out)[j * a + i] = f32(w)[i * b + j]!;
  return out;
}

async function run(m: Model, x: Tensor): Promise<Tensor> {
  const s = await Session.create(m);
  return (await s.run({ [m.graph.inputs[0]!.name]: x })).outputs[m.graph.outputs[0]!.name] as Tensor;
}

describe('Keras Bidirectional LSTM weights onto PyTorch bidirectional LSTM (rnn_model, PyTorch 1.13)', () => {
  it('forward_/backward_ kernels bind to W/R/B with the _reverse direction stacked; outputs match PyTorch', async () => {
    const arch = await importFile({ name: 'rnn_model.onnx', bytes: new Uint8Array(readFileSync(join(FIX, 'rnn_model.onnx'))) });
    const sdFile = await importFile({ name: 'rnn_model.pt', bytes: new Uint8Array(readFileSync(join(PROJECT_ROOT, 'fixtures', 'pytorch', 'rnn_model.pt'))) });
    if (arch.kind !== 'model' || sdFile.kind !== 'weights') throw new Error('fixture kinds');
    for (const t of arch.model.graph.initializers.values()) if (t.dtype === 'float32') f32(t).fill(0);
    const sd = sdFile.weights.tensors;
    const lstm: [string, Tensor][] = [];
    for (const [dir, s] of [['forward', ''], ['backward', '_reverse']] as const) {
      const bih = f32(sd.get(`lstm.bias_ih_l0${s}`)!);
      const bhh = f32(sd.get(`lstm.bias_hh_l0${s}`)!);
      const bias = new Tensor('float32', [bih.length], bih.map((v, i) => v + bhh[i]!));
      lstm.push(
        [`bidirectional/bidirectional/${dir}_lstm/lstm_cell/kernel:0`, transposed(sd.get(`lstm.weight_ih_l0${s}`)!)],
        [`bidirectional/bidirectional/${dir}_lstm/lstm_cell/recurrent_kernel:0`, transposed(sd.get(`lstm.weight_hh_l0${s}`)!)],
        [`bidirectional/bidirectional/${dir}_lstm/lstm_cell/bias:0`, bias],
      );
    }
    const rest = [...sd].filter(([k]) => !k.startsWith('lstm.'));
    const { model, report } = bindWeights(arch.model, ws([...rest.slice(0, 1), ...lstm, ...rest.slice(1)]));
    expect(report.missing).toEqual([]);
    expect(report.unused.every((u) => u.source.endsWith('num_batches_tracked'))).toBe(true);
    const W = report.transformed.find((t) => t.sources[0] === 'bidirectional/bidirectional/forward_lstm/lstm_cell/kernel:0');
    expect(W?.sources).toEqual(['bidirectional/bidirectional/forward_lstm/lstm_cell/kernel:0', 'bidirectional/bidirectional/backward_lstm/lstm_cell/kernel:0']);
    expect(W?.transform).toBe('Keras (i,f,c,o) → ONNX (i,o,f,c), kernel transposed, Bidirectional forward_ and backward_ layers stacked');
    const ins = readNpz(new Uint8Array(readFileSync(join(FIX, 'rnn_model.inputs.npz'))), 'inputs');
    const want = readNpz(new Uint8Array(readFileSync(join(FIX, 'rnn_model.outputs.npz'))), 'outputs').get('output')!;
    const s = await Session.create(model);
    const got = (await s.run(Object.fromEntries(ins))).outputs[model.graph.outputs[0]!.name] as Tensor;
    expectClose(got, want, 1e-4, 1e-5, 'rnn_model');
  });
});

describe('PyTorch bidirectional LSTM state dict onto a Keras Bidirectional(LSTM) (tfjs-layers oracle)', () => {
  const cfg = {
    class_name: 'Sequential',
    config: {
      name: 'seq',
      layers: [{ class_name: 'Bidirectional', config: { name: 'bi', merge_mode: 'concat', batch_input_shape: [null, 5, 3], layer: { class_name: 'LSTM', config: { name: 'lstm', units: 4, return_sequences: true, recurrent_activation: 'sigmoid' } } } }],
    },
  };

  async function setup(): Promise<{ ref: tf.LayersModel; full: Model; arch: Model; keras: Tensor[] }> {
    const ref = await tf.models.modelFromJSON({ modelTopology: cfg as never });
    const rand = seededRandom(3);
    const l = ref.layers[0]!;
    const keras = l.getWeights().map((w) => new Tensor('float32', w.shape, Float32Array.from({ length: w.size }, () => rand() - 0.5)));
    l.setWeights(keras.map((t) => tf.tensor(Array.from(f32(t)), t.shape.slice())));
    const lower = (): Model => {
      const m = lowerKerasModel(normalizeModel(cfg, 'bi'), { file: 'bi', kerasVersion: 'tfjs-layers 4.22.0', weights: () => keras.map((t, i) => ({ name: `bi/${i}`, tensor: new Tensor('float32', t.shape, f32(t).slice()) })) });
      m.metadata['keras.config'] = JSON.stringify(cfg);
      return m;
    };
    const arch = lower();
    for (const name of arch.graph.params.keys()) f32(arch.graph.initializers.get(name)!).fill(0);
    return { ref, full: lower(), arch, keras };
  }

  it('weight_ih_l0 / weight_ih_l0_reverse … bind to the stacked directions; outputs match tfjs-layers', async () => {
    const { ref, full, arch, keras } = await setup();
    const [k, rk, b, kb, rkb, bb] = keras as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
    const sd = ws(
      [
        ['rnn.weight_ih_l0', transposed(k)],
        ['rnn.weight_hh_l0', transposed(rk)],
        ['rnn.bias_ih_l0', b],
        ['rnn.bias_hh_l0', new Tensor('float32', b.shape)],
        ['rnn.weight_ih_l0_reverse', transposed(kb)],
        ['rnn.weight_hh_l0_reverse', transposed(rkb)],
        ['rnn.bias_ih_l0_reverse', bb],
        ['rnn.bias_hh_l0_reverse', new Tensor('float32', bb.shape)],
      ],
      'pytorch',
    );
    const { model, report } = bindWeights(arch, sd);
    expect(report.missing).toEqual([]);
    expect(report.unused).toEqual([]);
    expect(report.transformed.find((t) => t.sources.includes('rnn.weight_ih_l0_reverse'))?.transform).toBe('gates PyTorch (i,f,g,o) → ONNX (i,o,f,c), forward and _reverse stacked');
    for (const name of full.graph.params.keys()) expect(Array.from(f32(model.graph.initializers.get(name)!)), name).toEqual(Array.from(f32(full.graph.initializers.get(name)!)));
    const x = seededTensor([2, 5, 3], 21);
    expectClose(await run(model, x), tfjsPredict(ref, [x])[0]!, 1e-4, 1e-5, 'bidirectional');
  });

  it('Keras 2 (forward_lstm/backward_lstm) and Keras 3 (forward_layer/backward_layer vars) names bind back exactly', async () => {
    const { full, arch, keras } = await setup();
    const roles = ['kernel', 'recurrent_kernel', 'bias'];
    const k2 = ws(keras.map((t, i): [string, Tensor] => [`bi/bi/${i < 3 ? 'forward' : 'backward'}_lstm/lstm_cell/${roles[i % 3]}:0`, t]));
    const k3 = ws(keras.map((t, i): [string, Tensor] => [`layers/bidirectional/${i < 3 ? 'forward' : 'backward'}_layer/cell/vars/${i % 3}`, t]));
    for (const w of [k2, k3]) {
      const { model, report } = bindWeights(arch, w);
      expect(report.missing).toEqual([]);
      expect(report.unused).toEqual([]);
      for (const name of full.graph.params.keys()) expect(Array.from(f32(model.graph.initializers.get(name)!)), name).toEqual(Array.from(f32(full.graph.initializers.get(name)!)));
    }
  });
});
