/**
 * Keras layers for the Keras-style API: each factory (`layers.Dense(10, { activation: 'softmax' })`)
 * returns a `Layer` holding the exact snake_case Keras config (the same JSON the importer reads),
 * with Keras argument names written in camelCase and converted at this one boundary, and Keras'
 * positional shorthand where Keras has it (`Conv2D(32, 3)`, `Dropout(0.5)`, `Embedding(1000, 64)`).
 * Calling `layer.apply(tensor)` records a node for functional models.
 *
 * There is no per-layer math here: models lower their config with the importer's
 * `lowerKerasModel`, so code-built and file-loaded models share one lowering.
 * Defaults are those Keras 2.15's `get_config()` writes; the layer list is the importer's.
 * Spec: https://keras.io/api/layers/
 */
import { RosettaError } from '../ir/errors.js';
import type { KerasLayerJson } from '../importers/keras/config-types.js';
import { type InitializerSpec, serializeInitializer } from './initializers.js';

/** Arguments every layer accepts (camelCase of Keras' base-layer kwargs). */
export interface BaseLayerArgs {
  name?: string;
  trainable?: boolean;
  dtype?: string;
  /** Shape of one sample, without the batch axis (Keras `input_shape`). */
  inputShape?: (number | null)[];
  batchInputShape?: (number | null)[];
  batchSize?: number;
  /** Keras 1/Dense shorthand: `inputDim: n` = `inputShape: [n]`. */
  inputDim?: number;
}

/**
 * Layer arguments: Keras' own argument names in camelCase (`kernelSize`, `returnSequences`,
 * `kernelInitializer`); values as in Keras (ints or tuples, activation names, initializer names
 * or `{class_name, config}` objects, a `Layer` for wrappers such as Bidirectional).
 */
export interface LayerArgs extends BaseLayerArgs {
  [key: string]: unknown;
}

/** A symbolic tensor of a functional model: output `index` of call `node` of `layer`. */
export class SymbolicTensor {
  constructor(
    readonly layer: Layer,
    readonly node: number,
    readonly index: number,
  ) {}
}

/** One call of a layer: the tensors it was called on and its keyword arguments. */
export interface LayerNode {
  inputs: SymbolicTensor[];
  kwargs: Record<string, unknown>;
}

const uids = new Map<string, number>();

/** keras.backend.clear_session(): restart automatic layer names (dense, dense_1, …). */
export function clearSession(): void {
  uids.clear();
}

/** Keras `to_snake_case` (Conv2D → conv2d, BatchNormalization → batch_normalization, PReLU → p_re_lu). */
export function toSnakeCase(name: string): string {
  const a = name.replace(/(.)([A-Z][a-z0-9]+)/g, '$1_$2');
  return a.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
}

/** Keras `backend.unique_object_name`: the first is `dense`, then `dense_1`, `dense_2`… */
export function uniqueName(base: string): string {
  const n = uids.get(base) ?? 0;
  uids.set(base, n + 1);
  return n === 0 ? base : `${base}_${n}`;
}

const camelToSnake = (k: string): string => k.replace(/([A-Z])/g, (m) => `_${m.toLowerCase()}`);

/** A Keras layer: class name, snake_case config, and the nodes recorded by `apply`. */
export class Layer {
  readonly className: string;
  readonly config: Record<string, unknown>;
  readonly nodes: LayerNode[] = [];

  constructor(className: string, config: Record<string, unknown>) {
    this.className = className;
    this.config = config;
  }

  get name(): string {
    return String(this.config.name);
  }

  /** `{class_name, config}` as Keras serialises the layer. */
  toJSON(): KerasLayerJson {
    return { class_name: this.className, config: structuredClone(this.config) };
  }

  /** How many tensors one call returns (RNN `return_state`, attention scores). */
  outputCount(kwargs: Record<string, unknown> = {}): number {
    const c = this.config;
    const rnnStates = (cls: string, cfg: Record<string, unknown>): number => (cfg.return_state === true ? (cls === 'LSTM' ? 2 : 1) : 0);
    if (this.className === 'LSTM' || this.className === 'GRU' || this.className === 'SimpleRNN') return 1 + rnnStates(this.className, c);
    if (this.className === 'Bidirectional') {
      const inner = c.layer as { class_name: string; config: Record<string, unknown> };
      return 1 + 2 * rnnStates(inner.class_name, inner.config);
    }
    if (this.className === 'MultiHeadAttention' && kwargs.return_attention_scores === true) return 2;
    return 1;
  }

  /**
   * Call the layer on symbolic tensors (functional API). Returns one tensor, or a list when the
   * layer returns several (an RNN with `returnState`).
   */
  apply(inputs: SymbolicTensor | SymbolicTensor[], kwargs: Record<string, unknown> = {}): SymbolicTensor | SymbolicTensor[] {
    if (this.className === 'InputLayer') throw new RosettaError('E_USAGE', 'an InputLayer cannot be called; use Input() to make a model input');
    const list = Array.isArray(inputs) ? inputs : [inputs];
    if (list.length === 0 || !list.every((t) => t instanceof SymbolicTensor)) throw new RosettaError('E_USAGE', `layer ${this.name} must be called on tensors from Input() or other layers`);
    const kw: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(kwargs)) kw[camelToSnake(k)] = v;
    this.nodes.push({ inputs: list, kwargs: kw });
    const node = this.nodes.length - 1;
    const outs = Array.from({ length: this.outputCount(kw) }, (_, i) => new SymbolicTensor(this, node, i));
    return outs.length === 1 ? outs[0]! : outs;
  }
}

/** Values whose Keras form differs from the TS one: initializers, wrapped layers, tuples. */
function convertValue(key: string, v: unknown): unknown {
  if (v instanceof Layer) return v.toJSON();
  if (key.endsWith('_initializer') && (typeof v === 'string' || (typeof v === 'object' && v !== null))) return serializeInitializer(v as InitializerSpec);
  if (Array.isArray(v)) return v.map((x) => (x instanceof Layer ? x.toJSON() : x));
  return v;
}

/** Build a layer config from camelCase args, filling Keras defaults and a unique name. */
function makeConfig(className: string, args: LayerArgs, defaults: Record<string, unknown>): Record<string, unknown> {
  const cfg: Record<string, unknown> = { name: undefined, trainable: true, dtype: 'float32' };
  for (const [k, v] of Object.entries(defaults)) cfg[k] = convertValue(k, v);
  let batchShape: (number | null)[] | undefined;
  for (const [k, v] of Object.entries(args)) {
    if (v === undefined) continue;
    if (k === 'inputShape') {
      if (!Array.isArray(v)) throw new RosettaError('E_USAGE', `${className}: inputShape must be an array of sizes`);
      batchShape = [(args.batchSize as number | undefined) ?? null, ...(v as (number | null)[])];
    } else if (k === 'batchInputShape') batchShape = (v as (number | null)[]).slice();
    else if (k === 'inputDim' && className !== 'Embedding') batchShape = [(args.batchSize as number | undefined) ?? null, v as number];
    else if (k === 'batchSize') continue;
    else {
      const sk = camelToSnake(k);
      cfg[sk] = convertValue(sk, v);
    }
  }
  if (batchShape) cfg.batch_input_shape = batchShape;
  // Keras' get_config writes spatial ints as tuples (kernel_size 3 → [3, 3]).
  const rank = /([123])D/.exec(className)?.[1];
  if (rank && !className.startsWith('Global')) {
    for (const k of ['kernel_size', 'strides', 'dilation_rate', 'pool_size', 'size']) {
      const v = cfg[k];
      if (typeof v === 'number' && !(k === 'size' && rank === '1')) cfg[k] = new Array<number>(Number(rank)).fill(v);
    }
    if (className.startsWith('MaxPooling') || className.startsWith('AveragePooling')) cfg.strides ??= cfg.pool_size;
  }
  if (typeof cfg.name !== 'string' || !cfg.name) cfg.name = uniqueName(toSnakeCase(className));
  return cfg;
}

/** An int or a tuple (kernel sizes, strides, pool sizes). */
export type Size = number | number[];

/**
 * Call forms of a factory with Keras positional arguments `P`: any prefix of them, optionally
 * followed by the options object (`Conv2D(32, 3, { padding: 'same' })`, `Conv2D({ filters: 32, kernelSize: 3 })`).
 */
export type LayerCall<P extends unknown[]> = P extends [infer H, ...infer R] ? [] | [LayerArgs] | [H, ...LayerCall<R>] : [] | [LayerArgs];

/** Define a layer factory: `positional` names Keras' leading positional arguments. */
function define<P extends unknown[] = []>(className: string, positional: readonly string[], defaults: Record<string, unknown> = {}): (...args: LayerCall<P>) => Layer {
  return (...args: LayerCall<P>): Layer => {
    const opts: LayerArgs = {};
    let i = 0;
    for (; i < args.length && i < positional.length; i++) {
      const a = args[i];
      if (isPlainObject(a)) break;
      opts[positional[i]!] = a;
    }
    const rest = args[i];
    if (rest !== undefined && !isPlainObject(rest)) throw new RosettaError('E_USAGE', `${className} takes at most ${positional.length} positional argument(s) (${positional.join(', ')}) and then an options object`);
    if (args.length > i + 1) throw new RosettaError('E_USAGE', `${className}: unexpected argument after the options object`);
    Object.assign(opts, rest ?? {});
    return new Layer(className, makeConfig(className, opts, defaults));
  };
}

const isPlainObject = (v: unknown): v is LayerArgs => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Layer);

const GLOROT = 'glorot_uniform';
const dense = { activation: 'linear', use_bias: true, kernel_initializer: GLOROT, bias_initializer: 'zeros', kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null };
const conv = (rank: number): Record<string, unknown> => ({
  strides: new Array<number>(rank).fill(1),
  padding: 'valid',
  data_format: 'channels_last',
  dilation_rate: new Array<number>(rank).fill(1),
  groups: 1,
  ...dense,
});
const pool = (rank: number): Record<string, unknown> => ({ pool_size: new Array<number>(rank).fill(2), padding: 'valid', strides: null, data_format: 'channels_last' });
const rnn = { activation: 'tanh', use_bias: true, kernel_initializer: GLOROT, recurrent_initializer: 'orthogonal', bias_initializer: 'zeros', dropout: 0, recurrent_dropout: 0, return_sequences: false, return_state: false, go_backwards: false, stateful: false, unroll: false, time_major: false };
const gated = { ...rnn, recurrent_activation: 'sigmoid' };

/** Convolution defaults of `rank` (Keras' get_config fields). */
function tupleDefaults(rank: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...conv(rank), ...extra };
}

/** Depthwise/separable convolutions have depthwise/pointwise kernels and no `kernel_*` fields. */
function noKernel(rank: number, extra: Record<string, unknown>): Record<string, unknown> {
  const d = { ...conv(rank), ...extra };
  for (const k of ['kernel_initializer', 'kernel_regularizer', 'kernel_constraint']) delete d[k];
  return d;
}

/** Layer factories, named like Keras' classes. */
export const layers = {
  InputLayer: define('InputLayer', [], { sparse: false, ragged: false }),
  Dense: define<[number]>('Dense', ['units'], dense),
  Conv1D: define<[number, Size]>('Conv1D', ['filters', 'kernelSize'], tupleDefaults(1)),
  Conv2D: define<[number, Size]>('Conv2D', ['filters', 'kernelSize'], tupleDefaults(2)),
  Conv3D: define<[number, Size]>('Conv3D', ['filters', 'kernelSize'], tupleDefaults(3)),
  Conv1DTranspose: define<[number, Size]>('Conv1DTranspose', ['filters', 'kernelSize'], { ...tupleDefaults(1), output_padding: null }),
  Conv2DTranspose: define<[number, Size]>('Conv2DTranspose', ['filters', 'kernelSize'], { ...tupleDefaults(2), output_padding: null }),
  Conv3DTranspose: define<[number, Size]>('Conv3DTranspose', ['filters', 'kernelSize'], { ...tupleDefaults(3), output_padding: null }),
  DepthwiseConv1D: define<[Size]>('DepthwiseConv1D', ['kernelSize'], noKernel(1, { depth_multiplier: 1, depthwise_initializer: GLOROT })),
  DepthwiseConv2D: define<[Size]>('DepthwiseConv2D', ['kernelSize'], noKernel(2, { depth_multiplier: 1, depthwise_initializer: GLOROT })),
  SeparableConv1D: define<[number, Size]>('SeparableConv1D', ['filters', 'kernelSize'], noKernel(1, { depth_multiplier: 1, depthwise_initializer: GLOROT, pointwise_initializer: GLOROT })),
  SeparableConv2D: define<[number, Size]>('SeparableConv2D', ['filters', 'kernelSize'], noKernel(2, { depth_multiplier: 1, depthwise_initializer: GLOROT, pointwise_initializer: GLOROT })),
  MaxPooling1D: define<[Size, Size | null, string]>('MaxPooling1D', ['poolSize', 'strides', 'padding'], pool(1)),
  MaxPooling2D: define<[Size, Size | null, string]>('MaxPooling2D', ['poolSize', 'strides', 'padding'], pool(2)),
  MaxPooling3D: define<[Size, Size | null, string]>('MaxPooling3D', ['poolSize', 'strides', 'padding'], pool(3)),
  AveragePooling1D: define<[Size, Size | null, string]>('AveragePooling1D', ['poolSize', 'strides', 'padding'], pool(1)),
  AveragePooling2D: define<[Size, Size | null, string]>('AveragePooling2D', ['poolSize', 'strides', 'padding'], pool(2)),
  AveragePooling3D: define<[Size, Size | null, string]>('AveragePooling3D', ['poolSize', 'strides', 'padding'], pool(3)),
  GlobalMaxPooling1D: define('GlobalMaxPooling1D', [], { data_format: 'channels_last', keepdims: false }),
  GlobalMaxPooling2D: define('GlobalMaxPooling2D', [], { data_format: 'channels_last', keepdims: false }),
  GlobalMaxPooling3D: define('GlobalMaxPooling3D', [], { data_format: 'channels_last', keepdims: false }),
  GlobalAveragePooling1D: define('GlobalAveragePooling1D', [], { data_format: 'channels_last', keepdims: false }),
  GlobalAveragePooling2D: define('GlobalAveragePooling2D', [], { data_format: 'channels_last', keepdims: false }),
  GlobalAveragePooling3D: define('GlobalAveragePooling3D', [], { data_format: 'channels_last', keepdims: false }),
  BatchNormalization: define('BatchNormalization', [], { axis: -1, momentum: 0.99, epsilon: 0.001, center: true, scale: true, beta_initializer: 'zeros', gamma_initializer: 'ones', moving_mean_initializer: 'zeros', moving_variance_initializer: 'ones' }),
  LayerNormalization: define('LayerNormalization', [], { axis: -1, epsilon: 0.001, center: true, scale: true, beta_initializer: 'zeros', gamma_initializer: 'ones' }),
  Dropout: define<[number]>('Dropout', ['rate'], { noise_shape: null, seed: null }),
  SpatialDropout1D: define<[number]>('SpatialDropout1D', ['rate']),
  SpatialDropout2D: define<[number]>('SpatialDropout2D', ['rate']),
  SpatialDropout3D: define<[number]>('SpatialDropout3D', ['rate']),
  GaussianNoise: define<[number]>('GaussianNoise', ['stddev']),
  GaussianDropout: define<[number]>('GaussianDropout', ['rate']),
  AlphaDropout: define<[number]>('AlphaDropout', ['rate']),
  Flatten: define('Flatten', [], { data_format: 'channels_last' }),
  Reshape: define<[number[]]>('Reshape', ['targetShape']),
  Permute: define<[number[]]>('Permute', ['dims']),
  RepeatVector: define<[number]>('RepeatVector', ['n']),
  Embedding: define<[number, number]>('Embedding', ['inputDim', 'outputDim'], { embeddings_initializer: { class_name: 'RandomUniform', config: { minval: -0.05, maxval: 0.05, seed: null } }, mask_zero: false, input_length: null }),
  SimpleRNN: define<[number]>('SimpleRNN', ['units'], rnn),
  LSTM: define<[number]>('LSTM', ['units'], { ...gated, unit_forget_bias: true, implementation: 2 }),
  GRU: define<[number]>('GRU', ['units'], { ...gated, implementation: 2, reset_after: true }),
  Bidirectional: define<[Layer]>('Bidirectional', ['layer'], { merge_mode: 'concat' }),
  TimeDistributed: define<[Layer]>('TimeDistributed', ['layer']),
  Activation: define<[string]>('Activation', ['activation']),
  ReLU: define('ReLU', [], { max_value: null, negative_slope: 0, threshold: 0 }),
  LeakyReLU: define('LeakyReLU', [], { alpha: 0.3 }),
  PReLU: define('PReLU', [], { alpha_initializer: 'zeros', alpha_regularizer: null, alpha_constraint: null, shared_axes: null }),
  ELU: define('ELU', [], { alpha: 1 }),
  ThresholdedReLU: define('ThresholdedReLU', [], { theta: 1 }),
  Softmax: define('Softmax', [], { axis: -1 }),
  Add: define('Add', []),
  Subtract: define('Subtract', []),
  Multiply: define('Multiply', []),
  Average: define('Average', []),
  Maximum: define('Maximum', []),
  Minimum: define('Minimum', []),
  Concatenate: define<[number]>('Concatenate', ['axis'], { axis: -1 }),
  Dot: define<[Size]>('Dot', ['axes'], { normalize: false }),
  ZeroPadding1D: define<[Size]>('ZeroPadding1D', ['padding'], { padding: [1, 1] }),
  ZeroPadding2D: define<[Size | number[][]]>('ZeroPadding2D', ['padding'], { padding: [[1, 1], [1, 1]], data_format: 'channels_last' }),
  ZeroPadding3D: define<[Size | number[][]]>('ZeroPadding3D', ['padding'], { padding: [[1, 1], [1, 1], [1, 1]], data_format: 'channels_last' }),
  Cropping1D: define<[Size]>('Cropping1D', ['cropping'], { cropping: [1, 1] }),
  Cropping2D: define<[Size | number[][]]>('Cropping2D', ['cropping'], { cropping: [[0, 0], [0, 0]], data_format: 'channels_last' }),
  Cropping3D: define<[Size | number[][]]>('Cropping3D', ['cropping'], { cropping: [[1, 1], [1, 1], [1, 1]], data_format: 'channels_last' }),
  UpSampling1D: define<[number]>('UpSampling1D', ['size'], { size: 2 }),
  UpSampling2D: define<[Size]>('UpSampling2D', ['size'], { size: [2, 2], data_format: 'channels_last', interpolation: 'nearest' }),
  UpSampling3D: define<[Size]>('UpSampling3D', ['size'], { size: [2, 2, 2], data_format: 'channels_last' }),
  Attention: define('Attention', [], { use_scale: false, score_mode: 'dot', dropout: 0 }),
  MultiHeadAttention: define<[number, number]>('MultiHeadAttention', ['numHeads', 'keyDim'], { value_dim: null, dropout: 0, use_bias: true, output_shape: null, attention_axes: null, kernel_initializer: GLOROT, bias_initializer: 'zeros' }),
  Masking: define<[number]>('Masking', ['maskValue'], { mask_value: 0 }),
};

/** Names of every layer class the API can build (= the importer's lowerings). */
export type LayerClassName = keyof typeof layers;

/**
 * A model input (keras.Input): `Input({ shape: [28, 28, 1] })`. Returns the symbolic tensor of a
 * new InputLayer.
 */
export function Input(args: { shape?: (number | null)[]; batchShape?: (number | null)[]; batchSize?: number; name?: string; dtype?: string }): SymbolicTensor {
  const batch = args.batchShape ?? (args.shape ? [args.batchSize ?? null, ...args.shape] : undefined);
  if (!batch) throw new RosettaError('E_USAGE', 'Input needs a shape (per sample, without the batch axis) or a batchShape');
  // Keras numbers inputs from 1 (input_1, input_2…), unlike other layers.
  const n = (uids.get('input') ?? 0) + 1;
  if (!args.name) uids.set('input', n);
  const cfg: Record<string, unknown> = { batch_input_shape: batch, dtype: args.dtype ?? 'float32', sparse: false, ragged: false, name: args.name ?? `input_${n}` };
  const layer = new Layer('InputLayer', cfg);
  layer.nodes.push({ inputs: [], kwargs: {} });
  return new SymbolicTensor(layer, 0, 0);
}
