/**
 * Lowering a normalised Keras model (see normalize.ts) to the IR: one function per layer class,
 * named by the Keras class, each writing ONNX-semantics ops with the layer name as scope and its
 * weights registered as parameters (role = Keras weight role, sourceName = Keras weight name).
 *
 * Graph inputs and outputs keep Keras' own layout (users feed NHWC data); channels-last spatial
 * layers work on channels-first storage and the builder inserts a Transpose only where a layer
 * needs the Keras layout back (see builder.ts). Every weight/layout rewrite is recorded.
 *
 * Lambda layers, TensorFlowOpLayer/TFOpLambda and unknown (custom) classes are refused with
 * E_UNSUPPORTED_LAYER; a Lambda's code is never decoded, let alone run.
 * Layer semantics: keras/src/layers/* (Keras 3) and tfjs-layers/src/layers/*.
 */
import { attrFloat, attrInt } from '../../ir/attrs.js';
import type { DType } from '../../ir/dtype.js';
import { RosettaError, isRosettaError } from '../../ir/errors.js';
import type { Model } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';
import { applyActivation } from './activations.js';
import { GraphBuilder, type KShape, type KValue } from './builder.js';
import { type LowerCtx, type WeightSource, PLACEHOLDER_LIMIT, num, posInt, takeWeights } from './context.js';
import { lowerAttention, lowerMultiHeadAttention } from './lower-attention.js';
import { lowerSpatial } from './lower-conv.js';
import { lowerRecurrent } from './lower-rnn.js';
import { batchShapeOf, type NormLayer, type NormModel, type TensorRef } from './normalize.js';
import { flattenRowOrder, permute, permuteColumns } from './weight-layout.js';

export interface LowerOptions {
  /** Display name of the source file. */
  file: string;
  kerasVersion?: string;
  backend?: string;
  weights?: WeightSource;
  /** Called before each layer call is lowered, with the Keras shapes of its inputs. */
  onLayer?: (scope: string, className: string, inputShapes: KShape[]) => void;
  /**
   * Called after each layer call of the model (and, with depth > 0, of nested models) with the
   * Keras shapes of its outputs (`rosetta inspect` prints them like `model.summary()`).
   */
  onLayerOutput?: (layer: string, className: string, outputShapes: KShape[], depth: number) => void;
}

const IDENTITY_LAYERS = new Set([
  'Dropout',
  'SpatialDropout1D',
  'SpatialDropout2D',
  'SpatialDropout3D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
  'ActivityRegularization',
  'Identity',
]);

const REFUSED: Record<string, string> = {
  Lambda: 'a Lambda layer holds Python code; Rosetta never decodes or runs it',
  TensorFlowOpLayer: 'a TensorFlowOpLayer wraps a raw TensorFlow op (tf.* called on a Keras tensor)',
  TFOpLambda: 'a TFOpLambda layer wraps a raw TensorFlow function',
  SlicingOpLambda: 'a SlicingOpLambda layer wraps raw TensorFlow slicing',
};

const refKey = (r: TensorRef): string => `${r.layer}:${r.node}:${r.tensor}`;

const DTYPES: Record<string, DType> = { float32: 'float32', float64: 'float64', float16: 'float16', int32: 'int32', int64: 'int64', int8: 'int8', uint8: 'uint8', bool: 'bool', bfloat16: 'bfloat16' };

function knownProduct(dims: KShape): number | null {
  let p = 1;
  for (const d of dims) {
    if (d === null) return null;
    p *= d;
  }
  return p;
}

/** Lower a whole model. */
export function lowerKerasModel(norm: NormModel, opts: LowerOptions): Model {
  const b = new GraphBuilder();
  const ctx: LowerCtx = { b, kerasVersion: opts.kerasVersion, backend: opts.backend, file: opts.file, weights: opts.weights, path: [], feedsOnlyDense: new Set(), placeholderBudget: { left: PLACEHOLDER_LIMIT }, onLayer: opts.onLayer, onLayerOutput: opts.onLayerOutput };
  const inputs = new Map<string, KValue>();
  for (const ref of norm.inputs) {
    const layer = norm.layers.find((l) => l.name === ref.layer);
    if (!layer || layer.className !== 'InputLayer') throw new RosettaError('E_BAD_FORMAT', `model input '${ref.layer}' is not an InputLayer`, { where: { file: opts.file, layer: ref.layer } });
    const shape = batchShapeOf(layer.config);
    if (!shape) throw new RosettaError('E_BAD_FORMAT', 'InputLayer declares no shape', { where: { file: opts.file, layer: layer.name } });
    let dtype = DTYPES[String(layer.config.dtype ?? 'float32')] ?? 'float32';
    if (dtype === 'float16' || dtype === 'bfloat16' || dtype === 'float64') {
      // Weights are computed in float32 (context.ts), so the input is too.
      b.rewrite('dtype', layer.name, `${dtype} input computed in float32`);
      dtype = 'float32';
    }
    const name = b.reserve(layer.name);
    b.graph.inputs.push({ name, type: { kind: 'tensor', dtype, shape: shape.map((d, i) => (d === null ? (i === 0 ? 'batch' : null) : d)) } });
    inputs.set(refKey(ref), { name, shape: shape.slice(), layout: 'keras', dtype });
  }
  const outs = lowerGraph(ctx, norm, inputs);
  outs.forEach((v, i) => {
    const ref = norm.outputs[i]!;
    const k = b.toKeras(v, ref.layer);
    const name = b.reserve(norm.outputs.filter((r) => r.layer === ref.layer).length > 1 ? `${ref.layer}_${ref.tensor}` : ref.layer);
    b.graph.nodes.push({ name: `${name}/output`, opType: 'Identity', domain: '', inputs: [k.name], outputs: [name], attrs: {}, scope: ref.layer });
    b.graph.outputs.push({ name, type: { kind: 'tensor', dtype: k.dtype, shape: k.shape.map((d, j) => (d === null ? (j === 0 ? 'batch' : null) : d)) } });
  });
  return b.finish({ sourceFormat: 'keras', producerName: 'keras', producerVersion: opts.kerasVersion });
}

/** Lower the layers of `norm` given values for its input refs; returns its output values. */
function lowerGraph(ctx: LowerCtx, norm: NormModel, given: Map<string, KValue>): KValue[] {
  const values = new Map(given);
  // Consumers, for the Flatten→Dense row permutation.
  const consumers = new Map<string, Set<string>>();
  for (const l of norm.layers) for (const c of l.calls) for (const r of c.inputs) {
    if (!consumers.has(r.layer)) consumers.set(r.layer, new Set());
    consumers.get(r.layer)!.add(l.className);
  }
  const outputsOf = new Set(norm.outputs.map((r) => r.layer));
  for (const [name, cls] of consumers) if (!outputsOf.has(name) && cls.size === 1 && cls.has('Dense')) ctx.feedsOnlyDense.add([...ctx.path, name].join('/'));
  // Nested models: Keras numbers their calls from 0 in saved configs, tfjs-layers counts the
  // model's own construction node first (refs start at 1). Detect per layer from the refs.
  const nodeOffset = new Map<string, number>();
  for (const l of norm.layers) {
    if (!l.inner) continue;
    let max = -1;
    for (const c of norm.layers.flatMap((x) => x.calls)) for (const r of c.inputs) if (r.layer === l.name) max = Math.max(max, r.node);
    for (const r of norm.outputs) if (r.layer === l.name) max = Math.max(max, r.node);
    if (max >= l.calls.length && max - 1 < l.calls.length) nodeOffset.set(l.name, 1);
  }
  // Work list over (layer, call): Keras configs are topological per layer, but shared layers can be
  // called again after later layers, so loop until no call can make progress.
  const pending: { layer: NormLayer; node: number }[] = [];
  for (const l of norm.layers) {
    if (l.className === 'InputLayer') continue;
    l.calls.forEach((_, node) => pending.push({ layer: l, node }));
  }
  for (const l of norm.layers) {
    const r = { layer: l.name, node: 0, tensor: 0 };
    if (l.className === 'InputLayer' && !values.has(refKey(r))) {
      if (norm.inputs.some((x) => x.layer === l.name)) throw new RosettaError('E_INTERNAL', `input ${l.name} not bound`);
    }
  }
  // One pass per round of progress, keeping the leftovers (configs are usually topological, so
  // this is one pass; no per-item splicing, which would be quadratic on big models).
  let todo = pending;
  for (;;) {
    const left: typeof todo = [];
    for (const item of todo) {
      const call = item.layer.calls[item.node]!;
      if (!call.inputs.every((r) => values.has(refKey(r)))) {
        left.push(item);
        continue;
      }
      const ins = call.inputs.map((r) => values.get(refKey(r))!);
      const outs = withFile(ctx.file, () => lowerLayer(ctx, item.layer, ins, call.kwargs));
      ctx.onLayerOutput?.(item.layer.name, item.layer.className, outs.map((v) => v.shape), ctx.path.length);
      const at = item.node + (nodeOffset.get(item.layer.name) ?? 0);
      outs.forEach((v, t) => values.set(refKey({ layer: item.layer.name, node: at, tensor: t }), v));
    }
    if (left.length === 0 || left.length === todo.length) {
      todo = left;
      break;
    }
    todo = left;
  }
  pending.length = 0;
  pending.push(...todo);
  if (pending.length) {
    const p = pending[0]!;
    const missing = p.layer.calls[p.node]!.inputs.filter((r) => !values.has(refKey(r))).map((r) => r.layer);
    throw new RosettaError('E_INVALID_GRAPH', `layer ${p.layer.name} waits for ${missing.join(', ')}, which nothing produces`, { where: { file: ctx.file, layer: p.layer.name }, hint: 'the model config is inconsistent' });
  }
  return norm.outputs.map((r) => {
    const v = values.get(refKey(r));
    if (!v) throw new RosettaError('E_INVALID_GRAPH', `model output ${r.layer}[${r.node}][${r.tensor}] is never produced`, { where: { file: ctx.file, layer: r.layer } });
    return v;
  });
}

/** Scope of a layer (nested models prefix their name). */
function scopeOf(ctx: LowerCtx, layer: NormLayer): NormLayer {
  return ctx.path.length ? { ...layer, name: [...ctx.path, layer.name].join('/'), weightKey: layer.name } : layer;
}

function lowerLayer(ctx: LowerCtx, layer0: NormLayer, inputs: KValue[], kwargs: Record<string, unknown>): KValue[] {
  const cls = layer0.className;
  if (REFUSED[cls] !== undefined) {
    throw new RosettaError('E_UNSUPPORTED_LAYER', `layer ${layer0.name} of class ${cls} cannot be loaded: ${REFUSED[cls]}`, { where: { file: ctx.file, layer: layer0.name }, hint: 'rebuild the model with built-in Keras layers (e.g. Permute, Reshape) before saving' });
  }
  if (layer0.inner) {
    const inner = layer0.inner;
    if (inner.inputs.length !== inputs.length) throw new RosettaError('E_INVALID_GRAPH', `nested model ${layer0.name} takes ${inner.inputs.length} inputs, called with ${inputs.length}`, { where: { file: ctx.file, layer: layer0.name } });
    const given = new Map<string, KValue>();
    inner.inputs.forEach((r, i) => given.set(refKey(r), inputs[i]!));
    const sub: LowerCtx = { ...ctx, path: [...ctx.path, layer0.name] };
    return lowerGraph(sub, inner, given);
  }
  const layer = scopeOf(ctx, layer0);
  ctx.onLayer?.(layer.name, cls, inputs.map((v) => v.shape));
  const { b } = ctx;
  const x = inputs[0];
  if (!x) throw new RosettaError('E_INVALID_GRAPH', `layer ${layer.name} is called without inputs`, { where: { file: ctx.file, layer: layer.name } });
  const cfg = layer.config;
  const name = layer.name;
  const same = (v: KValue, yName: string, shape: KShape = v.shape): KValue => ({ ...v, name: yName, shape, flattenedCf: undefined });
  const spatial = lowerSpatial(ctx, layer, x);
  if (spatial) return [spatial];
  if (cls === 'Dropout') {
    // ONNX Dropout: identity at inference, inverted dropout (as Keras) when a session trains.
    const rate = num(cfg, 'rate', 0, name);
    if (rate <= 0) return [x];
    if (!(rate < 1)) throw new RosettaError('E_INVALID_ATTR', `Dropout rate ${rate} is not below 1`, { where: { layer: name } });
    return [same(x, b.op1('Dropout', [x.name, b.constant(Tensor.from('float32', [], [rate]), name, 'ratio')], {}, name))];
  }
  if (IDENTITY_LAYERS.has(cls)) {
    b.rewrite('training-only', name, `${cls} is the identity at inference and is lowered as such (its training-time noise is not kept)`);
    return [x];
  }
  switch (cls) {
    case 'InputLayer':
      return [x];
    case 'Masking': {
      // mask[n, t] = any(x[n, t, :] != mask_value); masked steps are zeroed (keras Masking.call).
      const k = b.toKeras(x, name);
      if (k.shape.length !== 3) throw new RosettaError('E_UNSUPPORTED_LAYER', 'Masking is supported on [batch, time, features] inputs', { where: { layer: name } });
      const mv = b.constant(Tensor.from('float32', [], [num(cfg, 'mask_value', 0, name)]), name, 'mask_value');
      const keep = b.op1('ReduceMax', [b.op1('Cast', [b.op1('Not', [b.op1('Equal', [k.name, mv], {}, name)], {}, name)], { to: attrInt(1) }, name), b.ints([2], name, 'axes')], { keepdims: attrInt(1) }, name);
      const mask = b.op1('Cast', [b.op1('Squeeze', [keep, b.ints([2], name, 'axes')], {}, name)], { to: attrInt(9) }, name);
      return [{ ...k, name: b.op1('Mul', [k.name, keep], {}, name), mask }];
    }
    case 'Dense':
      return [dense(ctx, layer, x)];
    case 'Activation': {
      const y = applyActivation(b, x.name, cfg.activation, name, GraphBuilder.storedAxis(x, -1), ctx.kerasVersion);
      return [same(x, y)];
    }
    case 'ReLU':
      return [same(x, relu(ctx, layer, x.name))];
    case 'LeakyReLU': {
      const alpha = num(cfg, 'negative_slope', num(cfg, 'alpha', 0.3, name), name);
      return [same(x, b.op1('LeakyRelu', [x.name], { alpha: attrFloat(alpha) }, name))];
    }
    case 'ELU':
      return [same(x, b.op1('Elu', [x.name], { alpha: attrFloat(num(cfg, 'alpha', 1, name)) }, name))];
    case 'ThresholdedReLU':
      return [same(x, b.op1('ThresholdedRelu', [x.name], { alpha: attrFloat(num(cfg, 'theta', 1, name)) }, name))];
    case 'Softmax': {
      const ax = Array.isArray(cfg.axis) ? (cfg.axis as number[])[0]! : num(cfg, 'axis', -1, name);
      return [same(x, b.op1('Softmax', [x.name], { axis: attrInt(GraphBuilder.storedAxis(x, ax)) }, name))];
    }
    case 'PReLU':
      return [prelu(ctx, layer, x)];
    case 'Flatten':
      return [flatten(ctx, layer, x)];
    case 'Reshape':
      return [reshape(ctx, layer, x)];
    case 'Permute': {
      const k = b.toKeras(x, name);
      const dims = cfg.dims;
      if (!Array.isArray(dims) || dims.length !== k.shape.length - 1 || !dims.every((d) => Number.isInteger(d) && d >= 1 && d < k.shape.length)) throw new RosettaError('E_INVALID_ATTR', `Permute dims ${JSON.stringify(dims)} do not fit rank ${k.shape.length}`, { where: { layer: name } });
      const perm = [0, ...(dims as number[])];
      return [{ ...k, name: b.transpose(k.name, perm, name), shape: perm.map((p) => k.shape[p]!) }];
    }
    case 'RepeatVector': {
      const k = b.toKeras(x, name);
      const n = posInt(cfg, 'n', undefined, name);
      const u = b.op1('Unsqueeze', [k.name, b.ints([1], name, 'axes')], {}, name);
      return [{ ...k, name: b.op1('Tile', [u, b.ints([1, n, 1], name, 'repeats')], {}, name), shape: [k.shape[0]!, n, k.shape[1]!] }];
    }
    case 'Embedding':
      return [embedding(ctx, layer, x)];
    case 'BatchNormalization':
      return [batchNorm(ctx, layer, x)];
    case 'LayerNormalization':
      return [layerNorm(ctx, layer, x)];
    case 'Add':
    case 'Subtract':
    case 'Multiply':
    case 'Average':
    case 'Maximum':
    case 'Minimum':
    case 'Concatenate':
      return [merge(ctx, layer, inputs)];
    case 'Dot':
      return [dot(ctx, layer, inputs)];
    case 'SimpleRNN':
    case 'LSTM':
    case 'GRU':
      return lowerRecurrent(ctx, layer, inputs, cls);
    case 'CuDNNLSTM':
    case 'CuDNNGRU':
      throw new RosettaError('E_UNSUPPORTED_LAYER', `${cls} weights use cuDNN's layout, which Rosetta does not convert yet`, { where: { file: ctx.file, layer: name } });
    case 'Bidirectional': {
      const innerCls = (cfg.layer as { class_name?: string } | undefined)?.class_name;
      if (innerCls !== 'LSTM' && innerCls !== 'GRU' && innerCls !== 'SimpleRNN') throw new RosettaError('E_UNSUPPORTED_LAYER', `Bidirectional over ${String(innerCls)} is not supported`, { where: { file: ctx.file, layer: name } });
      return lowerRecurrent(ctx, layer, inputs, innerCls, cfg);
    }
    case 'TimeDistributed':
      return [timeDistributed(ctx, layer, x, kwargs)];
    case 'Rescaling': {
      // y = x · scale + offset (keras.layers.Rescaling); scalar scale/offset only.
      const scale = num(cfg, 'scale', undefined, name);
      const offset = num(cfg, 'offset', 0, name);
      let y = b.op1('Mul', [x.name, b.constant(Tensor.from('float32', [], [scale]), name, 'scale')], {}, name);
      if (offset !== 0) y = b.op1('Add', [y, b.constant(Tensor.from('float32', [], [offset]), name, 'offset')], {}, name);
      return [same(x, y)];
    }
    case 'Normalization':
      return [normalization(ctx, layer, x)];
    case 'Attention':
      return [lowerAttention(ctx, layer, inputs, kwargs)];
    case 'MultiHeadAttention':
      return [lowerMultiHeadAttention(ctx, layer, inputs, kwargs)];
    default:
      throw new RosettaError('E_UNSUPPORTED_LAYER', `layer ${name} has class ${cls}, which is not a Keras built-in Rosetta knows (custom class?)`, { where: { file: ctx.file, layer: name }, hint: 'custom layers cannot be loaded from their config; replace them with built-in layers' });
  }
}

function dense(ctx: LowerCtx, layer: NormLayer, x0: KValue): KValue {
  const { b } = ctx;
  const cfg = layer.config;
  const name = layer.name;
  const units = posInt(cfg, 'units', undefined, name);
  const useBias = cfg.use_bias !== false;
  const x = x0.flattenedCf ? x0 : b.toKeras(x0, name);
  const inF = x.shape[x.shape.length - 1];
  if (typeof inF !== 'number') throw new RosettaError('E_SHAPE_MISMATCH', 'the input feature size of Dense is unknown', { where: { layer: name } });
  const w = takeWeights(ctx, layer, [{ role: 'kernel', shape: [inF, units] }, ...(useBias ? [{ role: 'bias', shape: [units] }] : [])], name);
  let W = permute(w.tensors[0]!, [1, 0]);
  b.rewrite('weight-layout', name, `Dense kernel [${inF}, ${units}] → Gemm weight [${units}, ${inF}] (transB)`);
  if (x.flattenedCf) {
    const dims = x.flattenedCf;
    W = permuteColumns(W, flattenRowOrder(dims.slice(0, -1), dims[dims.length - 1]!), false);
    b.rewrite('flatten-row-permutation', name, `kernel rows permuted from (${dims.length - 1} spatial…, C) to (C, spatial…) order so the preceding Flatten works on channels-first data`);
  }
  const trainable = cfg.trainable !== false;
  const Wn = b.param(name, 'kernel', W, w.names[0]!, trainable);
  const Bn = useBias ? b.param(name, 'bias', w.tensors[1]!, w.names[1]!, trainable) : '';
  let y: string;
  const shape = [...x.shape.slice(0, -1), units];
  if (x.shape.length === 2) {
    y = b.op1('Gemm', Bn ? [x.name, Wn, Bn] : [x.name, Wn], { transB: attrInt(1) }, name);
  } else {
    y = b.op1('MatMul', [x.name, b.transpose(Wn, [1, 0], name)], {}, name);
    if (Bn) y = b.op1('Add', [y, Bn], {}, name);
  }
  y = applyActivation(b, y, cfg.activation, name, shape.length - 1, ctx.kerasVersion);
  return { name: y, shape, layout: 'keras', dtype: x.dtype, mask: x.mask };
}

function relu(ctx: LowerCtx, layer: NormLayer, x: string): string {
  const { b } = ctx;
  const cfg = layer.config;
  const name = layer.name;
  const maxValue = cfg.max_value === null || cfg.max_value === undefined ? undefined : num(cfg, 'max_value', undefined, name);
  const slope = num(cfg, 'negative_slope', 0, name);
  const threshold = num(cfg, 'threshold', 0, name);
  const sc = (v: number): string => b.constant(Tensor.from('float32', [], [v]), name, 'scalar');
  // keras.backend.relu / keras 3 ReLU.static_call, step by step.
  if (slope !== 0 && maxValue === undefined && threshold === 0) return b.op1('LeakyRelu', [x], { alpha: attrFloat(slope) }, name);
  let y: string;
  if (threshold !== 0) y = b.op1('Mul', [x, b.op1('Cast', [b.op1('Greater', [x, sc(threshold)], {}, name)], { to: attrInt(1) }, name)], {}, name);
  else y = b.op1('Relu', [x], {}, name);
  if (maxValue !== undefined) y = b.op1('Clip', [y, sc(0), sc(maxValue)], {}, name);
  if (slope !== 0) {
    const neg = b.op1('Relu', [threshold !== 0 ? b.op1('Sub', [sc(threshold), x], {}, name) : b.op1('Neg', [x], {}, name)], {}, name);
    y = b.op1('Sub', [y, b.op1('Mul', [neg, sc(slope)], {}, name)], {}, name);
  }
  return y;
}

function prelu(ctx: LowerCtx, layer: NormLayer, x0: KValue): KValue {
  const { b } = ctx;
  const name = layer.name;
  const x = b.toKeras(x0, name);
  const shared = Array.isArray(layer.config.shared_axes) ? (layer.config.shared_axes as number[]) : layer.config.shared_axes ? [layer.config.shared_axes as number] : [];
  const dims = x.shape.slice(1).map((d, i) => (shared.includes(i + 1) ? 1 : d));
  if (!dims.every((d): d is number => typeof d === 'number')) throw new RosettaError('E_SHAPE_MISMATCH', 'PReLU needs a fully known input shape', { where: { layer: name } });
  const w = takeWeights(ctx, layer, [{ role: 'alpha', shape: dims as number[] }], name);
  const a = b.param(name, 'alpha', w.tensors[0]!, w.names[0]!, layer.config.trainable !== false);
  return { ...x, name: b.op1('PRelu', [x.name, a], {}, name) };
}

function flatten(ctx: LowerCtx, layer: NormLayer, x: KValue): KValue {
  const { b } = ctx;
  const name = layer.name;
  if (x.shape.length <= 2) return x;
  const flat = knownProduct(x.shape.slice(1));
  if (x.layout === 'cf' && ctx.feedsOnlyDense.has(name) && flat !== null) {
    const y = b.op1('Flatten', [x.name], { axis: attrInt(1) }, name);
    return { name: y, shape: [x.shape[0]!, flat], layout: 'keras', dtype: x.dtype, flattenedCf: x.shape.slice(1) as number[] };
  }
  const k = b.toKeras(x, name);
  return { name: b.op1('Flatten', [k.name], { axis: attrInt(1) }, name), shape: [x.shape[0]!, flat], layout: 'keras', dtype: x.dtype };
}

function reshape(ctx: LowerCtx, layer: NormLayer, x0: KValue): KValue {
  const { b } = ctx;
  const name = layer.name;
  const t = layer.config.target_shape;
  if (!Array.isArray(t) || !t.every((d) => Number.isInteger(d) && (d === -1 || d > 0))) throw new RosettaError('E_INVALID_ATTR', `Reshape target_shape ${JSON.stringify(t)} is not a list of positive sizes`, { where: { layer: name } });
  const x = b.toKeras(x0, name);
  const target = t as number[];
  const total = knownProduct(x.shape.slice(1));
  const known = target.filter((d) => d !== -1).reduce((a, d) => a * d, 1);
  const shape: KShape = [x.shape[0]!, ...target.map((d) => (d === -1 ? (total === null ? null : total / known) : d))];
  return { ...x, name: b.op1('Reshape', [x.name, b.ints([0, ...target], name)], {}, name), shape };
}

function embedding(ctx: LowerCtx, layer: NormLayer, x0: KValue): KValue {
  const { b } = ctx;
  const cfg = layer.config;
  const name = layer.name;
  const inDim = posInt(cfg, 'input_dim', undefined, name, 1 << 30);
  const outDim = posInt(cfg, 'output_dim', undefined, name, 1 << 24);
  const w = takeWeights(ctx, layer, [{ role: 'embeddings', shape: [inDim, outDim] }], name);
  const E = b.param(name, 'embeddings', w.tensors[0]!, w.names[0]!, cfg.trainable !== false);
  const x = b.toKeras(x0, name);
  // Keras casts float inputs to int (truncation), as Cast does.
  const idx = x.dtype === 'int64' ? x.name : b.op1('Cast', [x.name], { to: attrInt(7) }, name);
  // mask_zero: id 0 is padding; the mask travels to the recurrent layers.
  const mask = cfg.mask_zero === true ? b.op1('Not', [b.op1('Equal', [idx, b.constant(Tensor.from('int64', [], [0n]), name, 'zero')], {}, name)], {}, name) : undefined;
  return { name: b.op1('Gather', [E, idx], { axis: attrInt(0) }, name), shape: [...x.shape, outDim], layout: 'keras', dtype: 'float32', mask };
}

function batchNorm(ctx: LowerCtx, layer: NormLayer, x0: KValue): KValue {
  const { b } = ctx;
  const cfg = layer.config;
  const name = layer.name;
  const axisCfg = Array.isArray(cfg.axis) ? (cfg.axis as number[]) : [num(cfg, 'axis', -1, name)];
  if (axisCfg.length !== 1) throw new RosettaError('E_UNSUPPORTED_LAYER', `BatchNormalization over several axes ${JSON.stringify(cfg.axis)} is not supported`, { where: { layer: name } });
  const r = x0.shape.length;
  const axis = axisCfg[0]! < 0 ? axisCfg[0]! + r : axisCfg[0]!;
  let x = x0;
  if (GraphBuilder.storedAxis(x, axis) !== 1 && axis === r - 1 && r > 2) x = b.toCf(x, name);
  if (GraphBuilder.storedAxis(x, axis) !== 1) throw new RosettaError('E_UNSUPPORTED_LAYER', `BatchNormalization on axis ${axis} of a rank-${r} input is not supported`, { where: { layer: name } });
  const c = x.shape[axis];
  if (typeof c !== 'number') throw new RosettaError('E_SHAPE_MISMATCH', 'the normalised axis has unknown size', { where: { layer: name } });
  const scale = cfg.scale !== false;
  const center = cfg.center !== false;
  const specs = [...(scale ? [{ role: 'gamma', shape: [c] }] : []), ...(center ? [{ role: 'beta', shape: [c] }] : []), { role: 'moving_mean', shape: [c] }, { role: 'moving_variance', shape: [c] }];
  const w = takeWeights(ctx, layer, specs, name);
  const trainable = cfg.trainable !== false;
  let i = 0;
  const gamma = scale ? b.param(name, 'gamma', w.tensors[i]!, w.names[i++]!, trainable) : b.constant(Tensor.from('float32', [c], new Array<number>(c).fill(1)), name, 'gamma');
  const beta = center ? b.param(name, 'beta', w.tensors[i]!, w.names[i++]!, trainable) : b.constant(new Tensor('float32', [c]), name, 'beta');
  const mean = b.param(name, 'moving_mean', w.tensors[i]!, w.names[i++]!, false);
  const variance = b.param(name, 'moving_variance', w.tensors[i]!, w.names[i++]!, false);
  const eps = num(cfg, 'epsilon', 1e-3, name);
  const momentum = num(cfg, 'momentum', 0.99, name);
  b.rewrite('batchnorm', name, `epsilon ${eps} kept exactly; Keras momentum ${momentum} = ONNX momentum (PyTorch momentum ${1 - momentum})`);
  const y = b.op1('BatchNormalization', [x.name, gamma, beta, mean, variance], { epsilon: attrFloat(eps), momentum: attrFloat(momentum) }, name);
  return { ...x, name: y, flattenedCf: undefined };
}

/** keras.layers.Normalization over the last axis: (x − mean) / max(√variance, 1e-7). */
function normalization(ctx: LowerCtx, layer: NormLayer, x0: KValue): KValue {
  const { b } = ctx;
  const cfg = layer.config;
  const name = layer.name;
  if (cfg.invert === true) throw new RosettaError('E_UNSUPPORTED_LAYER', 'Normalization with invert=True is not supported', { where: { layer: name } });
  const axis = Array.isArray(cfg.axis) ? (cfg.axis as number[]) : [num(cfg, 'axis', -1, name)];
  const x = b.toKeras(x0, name);
  const r = x.shape.length;
  if (axis.length !== 1 || (axis[0]! !== -1 && axis[0]! !== r - 1)) throw new RosettaError('E_UNSUPPORTED_LAYER', `Normalization over axis ${JSON.stringify(cfg.axis)} is not supported (only the last axis)`, { where: { layer: name } });
  const c = x.shape[r - 1];
  if (typeof c !== 'number') throw new RosettaError('E_SHAPE_MISMATCH', 'the normalised axis has unknown size', { where: { layer: name } });
  if (cfg.mean !== undefined && cfg.mean !== null) throw new RosettaError('E_UNSUPPORTED_LAYER', 'Normalization with mean/variance in the config is not supported', { where: { layer: name } });
  const w = takeWeights(ctx, layer, [{ role: 'mean', shape: [c] }, { role: 'variance', shape: [c] }, { role: 'count', shape: [] }], name);
  const mean = b.param(name, 'mean', w.tensors[0]!, w.names[0]!, false);
  const variance = b.param(name, 'variance', w.tensors[1]!, w.names[1]!, false);
  b.param(name, 'count', w.tensors[2]!, w.names[2]!, false);
  const den = b.op1('Max', [b.op1('Sqrt', [variance], {}, name), b.constant(Tensor.from('float32', [], [1e-7]), name, 'epsilon')], {}, name);
  return { ...x, name: b.op1('Div', [b.op1('Sub', [x.name, mean], {}, name), den], {}, name) };
}

function layerNorm(ctx: LowerCtx, layer: NormLayer, x0: KValue): KValue {
  const { b } = ctx;
  const cfg = layer.config;
  const name = layer.name;
  const x = b.toKeras(x0, name);
  const r = x.shape.length;
  const axes = (Array.isArray(cfg.axis) ? (cfg.axis as number[]) : [num(cfg, 'axis', -1, name)]).map((a) => (a < 0 ? a + r : a)).sort((p, q) => p - q);
  if (!axes.every((a, i) => a === r - axes.length + i)) throw new RosettaError('E_UNSUPPORTED_LAYER', `LayerNormalization over axes ${JSON.stringify(cfg.axis)} (not trailing) is not supported`, { where: { layer: name } });
  if (cfg.rms_scaling === true) throw new RosettaError('E_UNSUPPORTED_LAYER', 'LayerNormalization with rms_scaling is not supported', { where: { layer: name } });
  const dims = axes.map((a) => x.shape[a]);
  if (!dims.every((d): d is number => typeof d === 'number')) throw new RosettaError('E_SHAPE_MISMATCH', 'normalised axes have unknown size', { where: { layer: name } });
  const pshape = dims as number[];
  const n = pshape.reduce((a, d) => a * d, 1);
  const scale = cfg.scale !== false;
  const center = cfg.center !== false;
  const w = takeWeights(ctx, layer, [...(scale ? [{ role: 'gamma', shape: pshape }] : []), ...(center ? [{ role: 'beta', shape: pshape }] : [])], name);
  let i = 0;
  const trainable = cfg.trainable !== false;
  const gamma = scale ? b.param(name, 'gamma', w.tensors[i]!, w.names[i++]!, trainable) : b.constant(Tensor.from('float32', pshape, new Array<number>(n).fill(1)), name, 'gamma');
  const beta = center ? b.param(name, 'beta', w.tensors[i]!, w.names[i++]!, trainable) : b.constant(new Tensor('float32', pshape), name, 'beta');
  const y = b.op1('LayerNormalization', [x.name, gamma, beta], { axis: attrInt(axes[0]!), epsilon: attrFloat(num(cfg, 'epsilon', 1e-3, name)) }, name);
  return { ...x, name: y };
}

function merge(ctx: LowerCtx, layer: NormLayer, inputs0: KValue[]): KValue {
  const { b } = ctx;
  const cls = layer.className;
  const name = layer.name;
  if (inputs0.length < 1 || (cls === 'Subtract' && inputs0.length !== 2)) throw new RosettaError('E_INVALID_GRAPH', `${cls} got ${inputs0.length} inputs`, { where: { layer: name } });
  const allCf = inputs0.every((v) => v.layout === 'cf' && v.shape.length === inputs0[0]!.shape.length);
  const inputs = allCf ? inputs0 : inputs0.map((v) => b.toKeras(v, name));
  const x = inputs[0]!;
  const names = inputs.map((v) => v.name);
  const chain = (op: string): string => names.slice(1).reduce((acc, n) => b.op1(op, [acc, n], {}, name), names[0]!);
  switch (cls) {
    case 'Add':
      return { ...x, name: chain('Add') };
    case 'Subtract':
      return { ...x, name: b.op1('Sub', names, {}, name) };
    case 'Multiply':
      return { ...x, name: chain('Mul') };
    case 'Average':
      return { ...x, name: b.op1('Div', [chain('Add'), b.constant(Tensor.from('float32', [], [names.length]), name, 'count')], {}, name) };
    case 'Maximum':
      return { ...x, name: b.op1('Max', names, {}, name) };
    case 'Minimum':
      return { ...x, name: b.op1('Min', names, {}, name) };
    default: {
      const axisK = num(layer.config, 'axis', -1, name);
      const r = x.shape.length;
      const a = axisK < 0 ? axisK + r : axisK;
      const axis = GraphBuilder.storedAxis(x, a);
      const sizes = inputs.map((v) => v.shape[a]);
      const shape = x.shape.slice();
      shape[a] = sizes.every((s): s is number => typeof s === 'number') ? sizes.reduce((p, q) => p + q, 0) : null;
      return { ...x, name: b.op1('Concat', names, { axis: attrInt(axis) }, name), shape };
    }
  }
}

function dot(ctx: LowerCtx, layer: NormLayer, inputs0: KValue[]): KValue {
  const { b } = ctx;
  const name = layer.name;
  if (inputs0.length !== 2) throw new RosettaError('E_INVALID_GRAPH', `Dot takes 2 inputs, got ${inputs0.length}`, { where: { layer: name } });
  let [x, y] = inputs0.map((v) => b.toKeras(v, name)) as [KValue, KValue];
  const rx = x.shape.length;
  const ry = y.shape.length;
  const ax = layer.config.axes;
  const pair = Array.isArray(ax) ? (ax as number[]) : [num(layer.config, 'axes', undefined, name), num(layer.config, 'axes', undefined, name)];
  const a = pair[0]! < 0 ? pair[0]! + rx : pair[0]!;
  const c = pair[1]! < 0 ? pair[1]! + ry : pair[1]!;
  if (layer.config.normalize === true) {
    const l2 = (v: KValue, axis: number): KValue => {
      const ss = b.op1('ReduceSumSquare', [v.name, b.ints([axis], name, 'axes')], { keepdims: attrInt(1) }, name);
      const den = b.op1('Sqrt', [b.op1('Max', [ss, b.constant(Tensor.from('float32', [], [1e-12]), name, 'eps')], {}, name)], {}, name);
      return { ...v, name: b.op1('Div', [v.name, den], {}, name) };
    };
    x = l2(x, a);
    y = l2(y, c);
  }
  if (rx === 2 && ry === 2) {
    const s = b.op1('ReduceSum', [b.op1('Mul', [x.name, y.name], {}, name), b.ints([1], name, 'axes')], { keepdims: attrInt(1) }, name);
    return { name: s, shape: [x.shape[0]!, 1], layout: 'keras', dtype: x.dtype };
  }
  if (rx === 3 && ry === 3) {
    const xm = a === 2 ? x.name : b.transpose(x.name, [0, 2, 1], name);
    const ym = c === 1 ? y.name : b.transpose(y.name, [0, 2, 1], name);
    const m = a === 2 ? x.shape[1]! : x.shape[2]!;
    const p = c === 1 ? y.shape[2]! : y.shape[1]!;
    return { name: b.op1('MatMul', [xm, ym], {}, name), shape: [x.shape[0]!, m, p], layout: 'keras', dtype: x.dtype };
  }
  throw new RosettaError('E_UNSUPPORTED_LAYER', `Dot of rank ${rx} and ${ry} inputs is not supported`, { where: { layer: name } });
}

function timeDistributed(ctx: LowerCtx, layer: NormLayer, x0: KValue, kwargs: Record<string, unknown>): KValue {
  const { b } = ctx;
  const name = layer.name;
  if ((ctx.wrapDepth ?? 0) >= 8) throw new RosettaError('E_LIMIT', 'TimeDistributed wrappers nested more than 8 deep', { where: { layer: name } });
  const inner = layer.config.layer as { class_name?: string; config?: Record<string, unknown> } | undefined;
  if (!inner || typeof inner.class_name !== 'string' || typeof inner.config !== 'object' || inner.config === null) throw new RosettaError('E_BAD_FORMAT', 'TimeDistributed has no inner layer', { where: { layer: name } });
  const x = b.toKeras(x0, name);
  const rest = x.shape.slice(2);
  if (!rest.every((d): d is number => typeof d === 'number')) throw new RosettaError('E_SHAPE_MISMATCH', 'TimeDistributed needs known per-step dimensions', { where: { layer: name } });
  const innerLayer: NormLayer = { name, className: inner.class_name, config: { ...inner.config, name }, calls: [], weightKey: layer.weightKey };
  const merged = b.op1('Reshape', [x.name, b.ints([-1, ...(rest as number[])], name)], {}, name);
  const inner1 = lowerLayer({ ...ctx, wrapDepth: (ctx.wrapDepth ?? 0) + 1 }, innerLayer, [{ name: merged, shape: [null, ...rest], layout: 'keras', dtype: x.dtype }], kwargs);
  const y = b.toKeras(inner1[0]!, name);
  const outRest = y.shape.slice(1);
  if (!outRest.every((d): d is number => typeof d === 'number')) throw new RosettaError('E_SHAPE_MISMATCH', 'TimeDistributed inner output has unknown dimensions', { where: { layer: name } });
  const lead = b.op1('Shape', [x.name], { start: attrInt(0), end: attrInt(2) }, name);
  const target = b.op1('Concat', [lead, b.ints(outRest as number[], name)], { axis: attrInt(0) }, name);
  return { name: b.op1('Reshape', [y.name, target], {}, name), shape: [x.shape[0]!, x.shape[1]!, ...outRest], layout: 'keras', dtype: y.dtype };
}

/**
 * Layer lowering helpers throw with `where: { layer }` only; every error leaving the importer must
 * also name the file (found by test/bad/fuzz-all.test.ts), so it is added here, once.
 */
function withFile<T>(file: string | undefined, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (file === undefined || !isRosettaError(e) || e.where.file !== undefined || e.message.includes(file)) throw e;
    throw new RosettaError(e.code, e.bare, { where: { ...e.where, file }, hint: e.hint, cause: e, detail: e.detail });
  }
}
