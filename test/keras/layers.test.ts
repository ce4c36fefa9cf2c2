/**
 * Every layer factory of the Keras-style API builds, lowers through the importer and predicts.
 * Where tfjs-layers (@tensorflow/tfjs 4.22) implements the layer, its outputs on the same config
 * and weights are the oracle; for the layers tfjs lacks (1-D/3-D padding, cropping and upsampling,
 * SeparableConv1D, DepthwiseConv1D, Conv1DTranspose, global 3-D pooling, SpatialDropout2D/3D,
 * Attention, MultiHeadAttention) the output shape must be the one Keras documents and the values
 * finite; their numerics are covered by the importer's tests on real Keras files.
 */
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/ir/tensor.js';
import { Input, Model, Sequential, layers, type Layer, type SymbolicTensor } from '../../src/keras/index.js';
import { expectClose, seededTensor, tfjsModel, tfjsPredict } from '../helpers/keras-oracle.js';

interface Case {
  name: string;
  make: () => Layer[];
  input: number[];
  /** Integer inputs in [0, n). */
  ints?: number;
  /** Expected output shape per sample when tfjs has no such layer. */
  shape?: number[];
}

const seq = (input: number[], ls: Layer[]): Sequential => {
  const [first, ...rest] = ls;
  const m = new Sequential([], { seed: 3 });
  m.add(Input({ shape: input }));
  m.add(first!);
  for (const l of rest) m.add(l);
  return m;
};

// `exponential` is checked against Math.exp below (tfjs-layers has no such activation).
const ACTIVATIONS = ['relu', 'relu6', 'sigmoid', 'tanh', 'softmax', 'softplus', 'softsign', 'elu', 'selu', 'linear', 'swish', 'gelu', 'mish', 'hard_sigmoid'];

const TFJS_CASES: Case[] = [
  { name: 'Dense', make: () => [layers.Dense(3, { activation: 'tanh', useBias: false })], input: [5] },
  { name: 'Conv1D same dilated', make: () => [layers.Conv1D(4, 3, { padding: 'same', dilationRate: 2 })], input: [10, 3] },
  { name: 'Conv2D strided valid', make: () => [layers.Conv2D(4, 3, { strides: 2 })], input: [9, 9, 2] },
  { name: 'Conv3D', make: () => [layers.Conv3D(2, 2, { activation: 'relu' })], input: [4, 4, 4, 1] },
  { name: 'Conv2DTranspose', make: () => [layers.Conv2DTranspose(3, 3, { strides: 2, padding: 'same' })], input: [5, 5, 2] },
  { name: 'Conv3DTranspose', make: () => [layers.Conv3DTranspose(2, 2, { strides: 2 })], input: [3, 3, 3, 1] },
  { name: 'DepthwiseConv2D', make: () => [layers.DepthwiseConv2D(3, { depthMultiplier: 2 })], input: [6, 6, 2] },
  { name: 'SeparableConv2D', make: () => [layers.SeparableConv2D(4, 3, { padding: 'same' })], input: [6, 6, 2] },
  { name: 'MaxPooling1D', make: () => [layers.MaxPooling1D(2)], input: [8, 3] },
  { name: 'AveragePooling1D', make: () => [layers.AveragePooling1D(3, 2, 'same')], input: [8, 3] },
  { name: 'MaxPooling2D', make: () => [layers.MaxPooling2D(3, 2)], input: [7, 7, 2] },
  { name: 'AveragePooling2D same', make: () => [layers.AveragePooling2D(2, { padding: 'same' })], input: [5, 5, 2] },
  { name: 'MaxPooling3D', make: () => [layers.MaxPooling3D(2)], input: [4, 4, 4, 2] },
  { name: 'AveragePooling3D', make: () => [layers.AveragePooling3D(2)], input: [4, 4, 4, 2] },
  { name: 'GlobalMaxPooling1D', make: () => [layers.GlobalMaxPooling1D()], input: [6, 3] },
  { name: 'GlobalAveragePooling1D', make: () => [layers.GlobalAveragePooling1D()], input: [6, 3] },
  { name: 'GlobalMaxPooling2D', make: () => [layers.GlobalMaxPooling2D()], input: [4, 4, 3] },
  { name: 'GlobalAveragePooling2D', make: () => [layers.GlobalAveragePooling2D()], input: [4, 4, 3] },
  { name: 'BatchNormalization', make: () => [layers.BatchNormalization({ epsilon: 0.01 })], input: [4, 4, 3] },
  { name: 'LayerNormalization', make: () => [layers.LayerNormalization()], input: [6, 4] },
  { name: 'Dropout family (identity at inference)', make: () => [layers.Dropout(0.3), layers.SpatialDropout1D(0.2), layers.GaussianNoise(0.1), layers.GaussianDropout(0.2), layers.AlphaDropout(0.1)], input: [6, 3] },
  { name: 'Flatten + Reshape + Permute', make: () => [layers.Flatten(), layers.Reshape([4, 6]), layers.Permute([2, 1])], input: [2, 3, 4] },
  { name: 'RepeatVector', make: () => [layers.RepeatVector(3)], input: [4] },
  { name: 'Embedding', make: () => [layers.Embedding(10, 4)], input: [5], ints: 10 },
  { name: 'SimpleRNN', make: () => [layers.SimpleRNN(3)], input: [5, 4] },
  { name: 'LSTM go_backwards, sequences', make: () => [layers.LSTM(3, { returnSequences: true, goBackwards: true })], input: [5, 4] },
  { name: 'GRU', make: () => [layers.GRU(3, { resetAfter: false })], input: [5, 4] },
  { name: 'Bidirectional(LSTM)', make: () => [layers.Bidirectional(layers.LSTM(3, { returnSequences: true }))], input: [5, 4] },
  { name: 'TimeDistributed(Dense)', make: () => [layers.TimeDistributed(layers.Dense(2))], input: [5, 4] },
  { name: 'ReLU max_value', make: () => [layers.ReLU({ maxValue: 0.5 })], input: [6] },
  { name: 'LeakyReLU', make: () => [layers.LeakyReLU({ alpha: 0.2 })], input: [6] },
  { name: 'PReLU', make: () => [layers.Dense(6, { biasInitializer: 'ones' }), layers.PReLU({ alphaInitializer: { class_name: 'Constant', config: { value: 0.25 } } })], input: [6] },
  { name: 'ELU', make: () => [layers.ELU()], input: [6] },
  { name: 'ThresholdedReLU', make: () => [layers.ThresholdedReLU({ theta: 0.3 })], input: [6] },
  { name: 'Softmax', make: () => [layers.Softmax()], input: [6] },
  { name: 'ZeroPadding2D + Cropping2D + UpSampling2D', make: () => [layers.ZeroPadding2D([[1, 2], [0, 1]]), layers.Cropping2D([[1, 0], [0, 1]]), layers.UpSampling2D(2)], input: [3, 4, 2] },
  { name: 'Masking (no masked steps)', make: () => [layers.Masking(-9)], input: [4, 3] },
  ...ACTIVATIONS.map((a): Case => ({ name: `Activation ${a}`, make: () => [layers.Activation(a)], input: [7] })),
];

const SMOKE_CASES: Case[] = [
  { name: 'Conv1D causal dilated (tfjs-layers has no causal conv)', make: () => [layers.Conv1D(4, 3, { padding: 'causal', dilationRate: 2 })], input: [10, 3], shape: [10, 4] },
  { name: 'SeparableConv1D', make: () => [layers.SeparableConv1D(4, 3)], input: [8, 2], shape: [6, 4] },
  { name: 'DepthwiseConv1D', make: () => [layers.DepthwiseConv1D(3, { depthMultiplier: 2 })], input: [8, 2], shape: [6, 4] },
  { name: 'Conv1DTranspose', make: () => [layers.Conv1DTranspose(3, 3, { strides: 2 })], input: [5, 2], shape: [11, 3] },
  { name: 'GlobalAveragePooling3D', make: () => [layers.GlobalAveragePooling3D()], input: [3, 3, 3, 2], shape: [2] },
  { name: 'GlobalMaxPooling3D', make: () => [layers.GlobalMaxPooling3D()], input: [3, 3, 3, 2], shape: [2] },
  { name: 'ZeroPadding1D', make: () => [layers.ZeroPadding1D(2)], input: [8, 3], shape: [12, 3] },
  { name: 'Cropping1D', make: () => [layers.Cropping1D([1, 2])], input: [8, 3], shape: [5, 3] },
  { name: 'UpSampling1D', make: () => [layers.UpSampling1D(3)], input: [4, 3], shape: [12, 3] },
  { name: 'ZeroPadding3D', make: () => [layers.ZeroPadding3D(1)], input: [2, 2, 2, 1], shape: [4, 4, 4, 1] },
  { name: 'Cropping3D', make: () => [layers.Cropping3D(1)], input: [4, 4, 4, 1], shape: [2, 2, 2, 1] },
  { name: 'UpSampling3D', make: () => [layers.UpSampling3D(2)], input: [2, 2, 2, 1], shape: [4, 4, 4, 1] },
  { name: 'SpatialDropout2D/3D', make: () => [layers.SpatialDropout2D(0.5)], input: [3, 3, 2], shape: [3, 3, 2] },
];

async function compare(m: Model, x: Tensor[], what: string): Promise<Tensor> {
  const got = (await m.predict(x.length === 1 ? x[0]! : x)) as Tensor;
  const tm = await tfjsModel(m.toJSON(), m.getLayerWeights());
  const [want] = tfjsPredict(tm, x);
  tm.dispose();
  expectClose(got, want!, 1e-4, 1e-5, what);
  return got;
}

describe('every layer factory builds and lowers; outputs match tfjs-layers where it has the layer', () => {
  for (const c of TFJS_CASES) {
    it(`${c.name} (vs tfjs-layers)`, async () => {
      const m = seq(c.input, c.make());
      const x = c.ints ? seededTensor([3, ...c.input], 8, 0, c.ints, true) : seededTensor([3, ...c.input], 8);
      await compare(m, [x], c.name);
    });
  }

  for (const c of SMOKE_CASES) {
    it(`${c.name} (no tfjs layer: Keras output shape, finite values)`, async () => {
      const m = seq(c.input, c.make());
      const got = (await m.predict(seededTensor([2, ...c.input], 8))) as Tensor;
      expect(got.shape).toEqual([2, ...c.shape!]);
      expect(got.toNumbers().every(Number.isFinite)).toBe(true);
      expect(m.layerSummaries().at(-1)!.outputShape).toEqual([null, ...c.shape!]);
    });
  }

  it('merge layers and Dot on two inputs (vs tfjs-layers)', async () => {
    for (const make of [layers.Add, layers.Multiply, layers.Average, layers.Maximum, layers.Minimum, layers.Concatenate, () => layers.Dot(1)]) {
      const a = Input({ shape: [4] });
      const b = Input({ shape: [4] });
      const out = make().apply([a, b]) as SymbolicTensor;
      const m = new Model({ inputs: [a, b], outputs: layers.Dense(2).apply(out) as SymbolicTensor });
      await compare(m, [seededTensor([3, 4], 1), seededTensor([3, 4], 2)], make().className);
    }
  });

  it('Subtract is a − b and Activation exponential is exp (tfjs-layers has neither)', async () => {
    const a = Input({ shape: [4] });
    const b = Input({ shape: [4] });
    const m = new Model({ inputs: [a, b], outputs: layers.Activation('exponential').apply(layers.Subtract().apply([a, b]) as SymbolicTensor) as SymbolicTensor });
    const xa = seededTensor([3, 4], 1);
    const xb = seededTensor([3, 4], 2);
    const got = (await m.predict([xa, xb])) as Tensor;
    got.toNumbers().forEach((v, i) => expect(v).toBeCloseTo(Math.exp(xa.get(i) - xb.get(i)), 5));
  });

  it('Attention and MultiHeadAttention (functional, no tfjs layer: Keras shapes, finite values)', async () => {
    const q = Input({ shape: [5, 8] });
    const v = Input({ shape: [7, 8] });
    const att = layers.Attention().apply([q, v]) as SymbolicTensor;
    const mha = layers.MultiHeadAttention(2, 4).apply([q, v]) as SymbolicTensor;
    const m = new Model({ inputs: [q, v], outputs: [att, mha] });
    const [ya, ym] = (await m.predict([seededTensor([2, 5, 8], 3), seededTensor([2, 7, 8], 4)])) as Tensor[];
    expect(ya!.shape).toEqual([2, 5, 8]);
    expect(ym!.shape).toEqual([2, 5, 8]);
    expect([...ya!.toNumbers(), ...ym!.toNumbers()].every(Number.isFinite)).toBe(true);
    // MultiHeadAttention: query/key/value/output kernels + biases (Keras' 4 · (8·2·4 + 2·4) − 3·… count).
    expect(m.layerSummaries().find((l) => l.className === 'MultiHeadAttention')!.params).toBe(3 * (8 * 8 + 8) + (8 * 8 + 8));
  });

  it('positional shorthand and camelCase arguments become Keras config fields', () => {
    const c = layers.Conv2D(32, 3, { padding: 'same', activation: 'relu', kernelInitializer: 'he_normal' }).config;
    expect(c).toMatchObject({ filters: 32, kernel_size: [3, 3], padding: 'same', activation: 'relu', strides: [1, 1], kernel_initializer: { class_name: 'HeNormal', config: { seed: null } } });
    expect(layers.Dense(10, { activation: 'softmax' }).config).toMatchObject({ units: 10, activation: 'softmax', use_bias: true });
    expect(layers.Embedding(1000, 64).config).toMatchObject({ input_dim: 1000, output_dim: 64 });
    expect(layers.LSTM(8, { returnSequences: true }).config).toMatchObject({ units: 8, return_sequences: true, recurrent_initializer: { class_name: 'Orthogonal' } });
    expect(layers.Dense(2, { inputShape: [3] }).config.batch_input_shape).toEqual([null, 3]);
    expect(() => layers.Dense(1, 2 as never)).toThrow(/E_USAGE/);
  });
});
