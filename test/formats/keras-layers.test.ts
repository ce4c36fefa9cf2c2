/**
 * Layer-by-layer evidence for the Keras lowering against tfjs-layers (@tensorflow/tfjs 4.22,
 * the JavaScript implementation of Keras semantics): each case is a Keras 2 model JSON that
 * tfjs-layers builds (`tf.models.modelFromJSON`); every weight is set to seeded random values in
 * tfjs, read back in Keras order, fed to our lowering, and both run on the same seeded input.
 * Covers the layers the corpus files do not: transposed/separable/3-D convolutions, 'same'
 * padding with strides, channels_first, pooling variants, padding/cropping/upsampling, GRU both
 * ways, Bidirectional merges, TimeDistributed, merges, Dot, normalisations, activations.
 */
import { describe, expect, it } from 'vitest';
import { lowerKerasModel } from '../../src/importers/keras/lower.js';
import { normalizeModel } from '../../src/importers/keras/normalize.js';
import { Tensor } from '../../src/ir/tensor.js';
import { Session, seededRandom } from '../../src/runtime/session.js';
import { expectClose, seededTensor, tf, tfjsPredict } from '../helpers/keras-oracle.js';
import { permute as permuteT } from '../../src/importers/keras/weight-layout.js';

type L = { class_name: string; config: Record<string, unknown>; name?: string; inbound_nodes?: unknown[] };
const seq = (shape: (number | null)[], layers: L[]): unknown => {
  layers[0]!.config.batch_input_shape = shape;
  return { class_name: 'Sequential', config: { name: 'seq', layers } };
};
const layer = (class_name: string, config: Record<string, unknown>): L => ({ class_name, config: { name: `${class_name.toLowerCase()}_${++counter}`, ...config } });
let counter = 0;

/** Functional model: `spec` lists [class, config, input layer names]. */
function functional(inputs: [string, (number | null)[]][], spec: [string, string, Record<string, unknown>, string[]][], outputs: string[]): unknown {
  const layers: L[] = inputs.map(([name, shape]) => ({ class_name: 'InputLayer', name, config: { name, batch_input_shape: shape, dtype: 'float32' }, inbound_nodes: [] }));
  for (const [cls, name, cfg, ins] of spec) layers.push({ class_name: cls, name, config: { name, ...cfg }, inbound_nodes: [ins.map((i) => [i, 0, 0, {}])] });
  return { class_name: 'Model', config: { name: 'fn', layers, input_layers: inputs.map(([n]) => [n, 0, 0]), output_layers: outputs.map((n) => [n, 0, 0]) } };
}

/**
 * `opts.ref`: a different tfjs-layers model computing the same function (for layers tfjs lacks,
 * e.g. ZeroPadding1D as Reshape → ZeroPadding2D → Reshape); `opts.reshapeWeights` maps the
 * reference's weights to the shapes our layer's Keras config implies.
 */
async function check(config: unknown, inputShapes: number[][], opts: { ids?: number; ref?: unknown; reshapeWeights?: (w: Tensor) => Tensor; kerasVersion?: string; mutateInput?: (t: Tensor) => void } = {}): Promise<void> {
  const ref = await tf.models.modelFromJSON({ modelTopology: (opts.ref ?? config) as never });
  const rand = seededRandom(1234);
  const weights = new Map<string, { name: string; tensor: Tensor }[]>();
  // Nested models are layers with layers of their own: give weights per innermost layer.
  const leaves = (ls: tf.layers.Layer[]): tf.layers.Layer[] => ls.flatMap((l) => ('layers' in l && Array.isArray((l as { layers?: unknown }).layers) ? leaves((l as unknown as { layers: tf.layers.Layer[] }).layers) : [l]));
  for (const l of leaves(ref.layers)) {
    const ws = l.getWeights();
    if (!ws.length) continue;
    const names = l.weights.map((w) => w.originalName);
    const fresh = ws.map((w, k) => {
      const n = w.size;
      const v = new Float32Array(n);
      const variance = /variance/.test(names[k]!);
      for (let i = 0; i < n; i++) v[i] = variance ? 0.5 + rand() : rand() - 0.5;
      return new Tensor('float32', w.shape, v);
    });
    l.setWeights(fresh.map((t) => tf.tensor(Array.from(t.data as Float32Array), t.shape.slice())));
    weights.set(l.name, fresh.map((tensor, k) => ({ name: names[k]!, tensor: opts.reshapeWeights ? opts.reshapeWeights(tensor) : tensor })));
  }
  const model = lowerKerasModel(normalizeModel(config, 'case'), { file: 'case', kerasVersion: opts.kerasVersion ?? 'tfjs-layers 4.22.0', weights: (path) => weights.get(path[path.length - 1]!) ?? [] });
  const xs = inputShapes.map((s, i) => seededTensor(s, 100 + i, opts.ids ? 0 : -1, opts.ids ?? 1, !!opts.ids));
  if (opts.mutateInput) xs.forEach(opts.mutateInput);
  const want = tfjsPredict(ref, xs);
  const s = await Session.create(model);
  const feeds = Object.fromEntries(model.graph.inputs.map((inp, i) => [inp.name, xs[i]!]));
  const out = (await s.run(feeds)).outputs;
  expect(model.graph.outputs.length).toBe(want.length);
  model.graph.outputs.forEach((o, i) => expectClose(out[o.name] as Tensor, want[i]!, 1e-4, 1e-5, o.name));
}

describe('Keras layers match tfjs-layers', () => {
  it('Conv2D same/stride 2 → BatchNormalization → Flatten → Dense (row permutation)', () =>
    check(seq([null, 7, 9, 3], [layer('Conv2D', { filters: 4, kernel_size: [3, 3], strides: [2, 2], padding: 'same', activation: 'relu' }), layer('BatchNormalization', { axis: -1, epsilon: 0.001 }), layer('Flatten', {}), layer('Dense', { units: 5, activation: 'softmax' })]), [[2, 7, 9, 3]]));
  it('Conv2D channels_first, valid, dilation 2, no bias', () => check(seq([null, 2, 9, 8], [layer('Conv2D', { filters: 3, kernel_size: [3, 2], dilation_rate: [2, 2], data_format: 'channels_first', use_bias: false })]), [[2, 2, 9, 8]]));
  it('Conv1D same stride 2 → MaxPooling1D same → GlobalAveragePooling1D', () =>
    check(seq([null, 11, 3], [layer('Conv1D', { filters: 4, kernel_size: 3, strides: 2, padding: 'same', activation: 'tanh' }), layer('MaxPooling1D', { pool_size: 2, padding: 'same' }), layer('GlobalAveragePooling1D', {})]), [[2, 11, 3]]));
  // tfjs-layers lacks these 1-D layers; the reference is the 2-D layer on a [T, 1, C] view.
  const as2d = (t: number, c: number, mid: L[], outT: number, outC: number): unknown =>
    seq([null, t, c], [{ class_name: 'Reshape', config: { name: 'r_in', target_shape: [t, 1, c] } }, ...mid, { class_name: 'Reshape', config: { name: 'r_out', target_shape: [outT, outC] } }]);
  it('Conv1D causal dilation 2 (reference: ZeroPadding2D + valid Conv2D)', () =>
    check(seq([null, 9, 3], [{ class_name: 'Conv1D', config: { name: 'c', filters: 4, kernel_size: 3, padding: 'causal', dilation_rate: 2 } }]), [[2, 9, 3]], {
      ref: as2d(9, 3, [{ class_name: 'ZeroPadding2D', config: { name: 'zp', padding: [[4, 0], [0, 0]] } }, { class_name: 'Conv2D', config: { name: 'c', filters: 4, kernel_size: [3, 1], dilation_rate: [2, 1] } }], 9, 4),
      reshapeWeights: (w) => (w.rank === 4 ? w.reshape([w.shape[0]!, w.shape[2]!, w.shape[3]!]) : w),
    }));
  it('ZeroPadding1D, Cropping1D, UpSampling1D (reference: their 2-D forms)', async () => {
    await check(seq([null, 5, 2], [{ class_name: 'ZeroPadding1D', config: { name: 'z', padding: [1, 3] } }]), [[2, 5, 2]], { ref: as2d(5, 2, [{ class_name: 'ZeroPadding2D', config: { name: 'z', padding: [[1, 3], [0, 0]] } }], 9, 2) });
    await check(seq([null, 7, 2], [{ class_name: 'Cropping1D', config: { name: 'z', cropping: [2, 1] } }]), [[2, 7, 2]], { ref: as2d(7, 2, [{ class_name: 'Cropping2D', config: { name: 'z', cropping: [[2, 1], [0, 0]] } }], 4, 2) });
    await check(seq([null, 4, 3], [{ class_name: 'UpSampling1D', config: { name: 'z', size: 3 } }]), [[2, 4, 3]], { ref: as2d(4, 3, [{ class_name: 'UpSampling2D', config: { name: 'z', size: [3, 1] } }], 12, 3) });
  });
  it('SeparableConv1D (reference: SeparableConv2D with a k×1 kernel)', () =>
    check(seq([null, 8, 3], [{ class_name: 'SeparableConv1D', config: { name: 's', filters: 4, kernel_size: 3, padding: 'same', depth_multiplier: 2 } }]), [[2, 8, 3]], {
      ref: as2d(8, 3, [{ class_name: 'SeparableConv2D', config: { name: 's', filters: 4, kernel_size: [3, 1], padding: 'same', depth_multiplier: 2 } }], 8, 4),
      reshapeWeights: (w) => (w.rank === 4 ? w.reshape([w.shape[0]!, w.shape[2]!, w.shape[3]!]) : w),
    }));
  it('Conv2DTranspose same stride 2, then valid stride 3 kernel 2', () =>
    check(seq([null, 4, 5, 3], [layer('Conv2DTranspose', { filters: 2, kernel_size: [3, 3], strides: [2, 2], padding: 'same' }), layer('Conv2DTranspose', { filters: 3, kernel_size: [2, 2], strides: [3, 3], padding: 'valid' })]), [[2, 4, 5, 3]]));
  it('Conv3DTranspose same stride (2, 1, 2)', () => check(seq([null, 3, 4, 2, 2], [layer('Conv3DTranspose', { filters: 2, kernel_size: [3, 2, 3], strides: [2, 1, 2], padding: 'same' })]), [[2, 3, 4, 2, 2]]));
  it('DepthwiseConv2D multiplier 2 same stride 2 → AveragePooling2D same', () =>
    check(seq([null, 8, 7, 3], [layer('DepthwiseConv2D', { kernel_size: [3, 3], strides: [2, 2], padding: 'same', depth_multiplier: 2 }), layer('AveragePooling2D', { pool_size: [2, 2], strides: [2, 2], padding: 'same' })]), [[2, 8, 7, 3]]));
  it('SeparableConv2D → GlobalMaxPooling2D', () => check(seq([null, 6, 6, 3], [layer('SeparableConv2D', { filters: 5, kernel_size: [3, 3], padding: 'same', depth_multiplier: 2 }), layer('GlobalMaxPooling2D', {})]), [[2, 6, 6, 3]]));
  it('Conv3D → MaxPooling3D → AveragePooling3D', () =>
    check(seq([null, 6, 5, 4, 2], [layer('Conv3D', { filters: 3, kernel_size: [2, 2, 2], padding: 'same' }), layer('MaxPooling3D', { pool_size: [2, 2, 2] }), layer('AveragePooling3D', { pool_size: [1, 2, 1] })]), [[2, 6, 5, 4, 2]]));
  it('ZeroPadding2D asymmetric → Cropping2D → UpSampling2D nearest', () =>
    check(seq([null, 4, 5, 2], [layer('ZeroPadding2D', { padding: [[1, 2], [0, 3]] }), layer('Cropping2D', { cropping: [[2, 0], [1, 1]] }), layer('UpSampling2D', { size: [2, 3] })]), [[2, 4, 5, 2]]));
  it('UpSampling2D bilinear', () => check(seq([null, 3, 4, 2], [layer('UpSampling2D', { size: [2, 2], interpolation: 'bilinear' })]), [[2, 3, 4, 2]]));
  it('LSTM sequences → GRU go_backwards sequences → SimpleRNN', () =>
    check(seq([null, 5, 3], [layer('LSTM', { units: 4, return_sequences: true }), layer('GRU', { units: 3, return_sequences: true, go_backwards: true }), layer('SimpleRNN', { units: 2, activation: 'relu' })]), [[2, 5, 3]]));
  it('LSTM go_backwards last state, GRU sigmoid', () =>
    check(seq([null, 4, 3], [layer('GRU', { units: 3, return_sequences: true, recurrent_activation: 'sigmoid' }), layer('LSTM', { units: 2, go_backwards: true, recurrent_activation: 'hard_sigmoid' })]), [[2, 4, 3]]));
  it('Bidirectional LSTM concat (sequences)', () => check(seq([null, 4, 3], [layer('Bidirectional', { layer: { class_name: 'LSTM', config: { name: 'lstm_in', units: 3, return_sequences: true, recurrent_activation: 'sigmoid' } }, merge_mode: 'concat' })]), [[2, 4, 3]]));
  it('Bidirectional GRU sum (last state)', () => check(seq([null, 4, 3], [layer('Bidirectional', { layer: { class_name: 'GRU', config: { name: 'gru_in', units: 2, recurrent_activation: 'hard_sigmoid' } }, merge_mode: 'sum' })]), [[2, 4, 3]]));
  it('Bidirectional LSTM concat (sequences) → Bidirectional GRU sum', () =>
    check(seq([null, 4, 3], [layer('Bidirectional', { layer: { class_name: 'LSTM', config: { name: 'lstm_in', units: 3, return_sequences: true, recurrent_activation: 'sigmoid' } }, merge_mode: 'concat' }), layer('Bidirectional', { layer: { class_name: 'GRU', config: { name: 'gru_in', units: 2, recurrent_activation: 'hard_sigmoid' } }, merge_mode: 'sum' })]), [[2, 4, 3]]));
  it('TimeDistributed(Dense) and TimeDistributed(Conv2D)', async () => {
    await check(seq([null, 3, 4], [layer('TimeDistributed', { layer: { class_name: 'Dense', config: { name: 'td_dense', units: 2 } } })]), [[2, 3, 4]]);
    await check(seq([null, 3, 5, 5, 2], [layer('TimeDistributed', { layer: { class_name: 'Conv2D', config: { name: 'td_conv', filters: 3, kernel_size: [3, 3] } } })]), [[2, 3, 5, 5, 2]]);
  });
  it('Embedding → Flatten → Dense', () => check(seq([null, 6], [layer('Embedding', { input_dim: 10, output_dim: 3 }), layer('Flatten', {}), layer('Dense', { units: 2 })]), [[2, 6]], { ids: 10 }));
  it('activations', async () => {
    for (const a of ['softmax', 'elu', 'selu', 'softplus', 'softsign', 'hard_sigmoid', 'relu6', 'swish', 'linear', 'tanh', 'sigmoid', 'mish', 'gelu']) {
      await check(seq([null, 6], [layer('Dense', { units: 4, activation: a })]), [[3, 6]]);
    }
  });
  it('ReLU(max_value), LeakyReLU, PReLU, ThresholdedReLU, Softmax, ELU', async () => {
    // tfjs-layers' ReLU implements max_value only (threshold/negative_slope are ignored there).
    await check(seq([null, 8], [layer('ReLU', { max_value: 0.3 })]), [[3, 8]]);
    await check(seq([null, 3, 4], [layer('LeakyReLU', { alpha: 0.1 }), layer('PReLU', { shared_axes: [1] }), layer('ThresholdedReLU', { theta: 0.2 }), layer('Softmax', { axis: -1 }), layer('ELU', { alpha: 1 })]), [[3, 3, 4]]);
    // Softmax over the channels of a channels-first-stored map (storage axis 1).
    await check(seq([null, 4, 4, 3], [layer('Conv2D', { filters: 3, kernel_size: [2, 2] }), layer('Softmax', { axis: -1 }), layer('Activation', { activation: 'softmax' })]), [[2, 4, 4, 3]]);
  });
  it('Rescaling', () => check(seq([null, 4, 4, 3], [layer('Rescaling', { scale: 1 / 255, offset: -0.5 }), layer('Conv2D', { filters: 2, kernel_size: [2, 2] })]), [[2, 4, 4, 3]]));
  it('Reshape, Permute, RepeatVector, LayerNormalization', async () => {
    await check(seq([null, 12], [layer('Reshape', { target_shape: [3, -1] }), layer('Permute', { dims: [2, 1] }), layer('LayerNormalization', { axis: -1, epsilon: 0.01 })]), [[2, 12]]);
    await check(seq([null, 3], [layer('RepeatVector', { n: 4 })]), [[2, 3]]);
  });
  it('merges: Add, Multiply, Average, Maximum, Minimum, Concatenate on conv maps, Dot', async () => {
    const conv = (n: string, i: string): [string, string, Record<string, unknown>, string[]] => ['Conv2D', n, { filters: 2, kernel_size: [3, 3], padding: 'same' }, [i]];
    await check(
      functional(
        [['a', [null, 4, 4, 2]], ['b', [null, 4, 4, 2]]],
        [conv('ca', 'a'), conv('cb', 'b'), ['Add', 'add', {}, ['ca', 'cb']], ['Maximum', 'sub', {}, ['ca', 'cb']], ['Multiply', 'mul', {}, ['add', 'sub']], ['Average', 'avg', {}, ['mul', 'ca', 'cb']], ['Maximum', 'max', {}, ['avg', 'a']], ['Minimum', 'min', {}, ['max', 'b']], ['Concatenate', 'cat', { axis: -1 }, ['min', 'ca']], ['Concatenate', 'cat2', { axis: 1 }, ['cat', 'cat']], ['Flatten', 'flat', {}, ['cat2']]],
        ['flat', 'avg'],
      ),
      [[2, 4, 4, 2], [2, 4, 4, 2]],
    );
    await check(functional([['x', [null, 5]], ['y', [null, 5]]], [['Dot', 'dot', { axes: 1, normalize: true }, ['x', 'y']]], ['dot']), [[3, 5], [3, 5]]);
    await check(functional([['x', [null, 3, 4]], ['y', [null, 5, 4]]], [['Dot', 'dot', { axes: [2, 2] }, ['x', 'y']]], ['dot']), [[2, 3, 4], [2, 5, 4]]);
  });
  it('shared layer called on two inputs (node_index 1)', () => {
    const cfg = functional([['x', [null, 4]], ['y', [null, 4]]], [['Dense', 'shared', { units: 3 }, ['x']]], []) as { config: { layers: L[]; output_layers: unknown[] } };
    cfg.config.layers[2]!.inbound_nodes = [[['x', 0, 0, {}]], [['y', 0, 0, {}]]];
    cfg.config.layers.push({ class_name: 'Add', name: 'add', config: { name: 'add' }, inbound_nodes: [[['shared', 0, 0, {}], ['shared', 1, 0, {}]]] });
    cfg.config.output_layers = [['add', 0, 0], ['shared', 1, 0]];
    return check(cfg, [[2, 4], [2, 4]]);
  });

  it('Keras 3 JSON (module keys, DTypePolicy, batch_shape, {args, kwargs} nodes) = its Keras 2 twin in tfjs', () => {
    const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
    const kt = (l: string) => ({ class_name: '__keras_tensor__', config: { shape: [null, 4], dtype: 'float32', keras_history: [l, 0, 0] } });
    const k3 = {
      module: 'keras',
      class_name: 'Functional',
      config: {
        name: 'f',
        trainable: true,
        layers: [
          { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 4], dtype: 'float32', sparse: false, name: 'x' }, registered_name: null, name: 'x', inbound_nodes: [] },
          { module: 'keras.layers', class_name: 'Dense', config: { name: 'd1', trainable: true, dtype: policy, units: 3, activation: 'relu', use_bias: true }, registered_name: null, build_config: { input_shape: [null, 4] }, name: 'd1', inbound_nodes: [{ args: [kt('x')], kwargs: {} }] },
          { module: 'keras.layers', class_name: 'Dense', config: { name: 'd2', trainable: true, dtype: policy, units: 3, activation: 'tanh', use_bias: true }, registered_name: null, name: 'd2', inbound_nodes: [{ args: [kt('x')], kwargs: {} }] },
          { module: 'keras.layers', class_name: 'Concatenate', config: { name: 'cat', dtype: policy, axis: -1 }, registered_name: null, name: 'cat', inbound_nodes: [{ args: [[kt('d1'), kt('d2')]], kwargs: {} }] },
        ],
        input_layers: [['x', 0, 0]],
        output_layers: [['cat', 0, 0]],
      },
      registered_name: null,
    };
    const k2 = functional([['x', [null, 4]]], [['Dense', 'd1', { units: 3, activation: 'relu' }, ['x']], ['Dense', 'd2', { units: 3, activation: 'tanh' }, ['x']], ['Concatenate', 'cat', { axis: -1 }, ['d1', 'd2']]], ['cat']);
    return check(k3, [[2, 4]], { ref: k2, kerasVersion: '3.6.0' });
  });
  it('Keras 1 JSON (bare list, Convolution2D th ordering, OIHW kernels, output_dim) = its Keras 2 twin in tfjs', () => {
    const k1 = {
      class_name: 'Sequential',
      config: [
        { class_name: 'Convolution2D', config: { name: 'conv', nb_filter: 3, nb_row: 3, nb_col: 2, border_mode: 'same', subsample: [1, 1], dim_ordering: 'th', activation: 'relu', bias: true, batch_input_shape: [null, 2, 5, 4] } },
        { class_name: 'Flatten', config: { name: 'flat' } },
        { class_name: 'Dense', config: { name: 'dense', output_dim: 2, activation: 'linear', bias: true } },
      ],
    };
    const k2 = seq([null, 2, 5, 4], [{ class_name: 'Conv2D', config: { name: 'conv', filters: 3, kernel_size: [3, 2], padding: 'same', data_format: 'channels_first', activation: 'relu' } }, { class_name: 'Flatten', config: { name: 'flat' } }, { class_name: 'Dense', config: { name: 'dense', units: 2 } }]);
    // Keras 1 stored 'th' conv kernels as (filters, in, rows, cols).
    return check(k1, [[2, 2, 5, 4]], { ref: k2, kerasVersion: '1.2.2', reshapeWeights: (w) => (w.rank === 4 ? permuteT(w, [3, 2, 0, 1]) : w) });
  });
  it('a Sequential model nested in a functional model', () => {
    const inner = { class_name: 'Sequential', config: { name: 'inner', layers: [{ class_name: 'Dense', config: { name: 'in_d1', units: 3, activation: 'relu', batch_input_shape: [null, 4] } }, { class_name: 'Dense', config: { name: 'in_d2', units: 2 } }] } };
    const cfg = {
      class_name: 'Model',
      config: {
        name: 'outer',
        layers: [
          { class_name: 'InputLayer', name: 'x', config: { name: 'x', batch_input_shape: [null, 4] }, inbound_nodes: [] },
          { ...inner, name: 'inner', inbound_nodes: [[['x', 0, 0, {}]]] },
          { class_name: 'Dense', name: 'head', config: { name: 'head', units: 1 }, inbound_nodes: [[['inner', 1, 0, {}]]] }, // tfjs-layers style: node 0 is the nested model's own
        ],
        input_layers: [['x', 0, 0]],
        output_layers: [['head', 0, 0]],
      },
    };
    return check(cfg, [[3, 4]]);
  });
  it('Masking → LSTM → SimpleRNN: masked steps (leading, middle, trailing) keep state and output', () =>
    check(seq([null, 6, 3], [layer('Masking', { mask_value: 0 }), layer('LSTM', { units: 4, return_sequences: true, recurrent_activation: 'sigmoid' }), layer('SimpleRNN', { units: 3 })]), [[3, 6, 3]], {
      mutateInput: (t) => {
        const d = t.data as Float32Array;
        // sample 0: two leading padded steps; sample 1: a hole at t=3; sample 2: trailing padding
        for (const [n, steps] of [[0, [0, 1]], [1, [3]], [2, [4, 5]]] as [number, number[]][]) for (const s of steps) d.fill(0, (n * 6 + s) * 3, (n * 6 + s + 1) * 3);
      },
    }));
  it('Embedding(mask_zero) → GRU go_backwards (sequences) → LSTM', () =>
    check(seq([null, 7], [layer('Embedding', { input_dim: 6, output_dim: 3, mask_zero: true }), layer('GRU', { units: 3, go_backwards: true, return_sequences: true, recurrent_activation: 'sigmoid' }), layer('LSTM', { units: 2, recurrent_activation: 'sigmoid' })]), [[3, 7]], { ids: 6 }));
});
