/**
 * Spatial Keras layers → ONNX ops on channels-first data: Conv1D/2D/3D, Conv2DTranspose,
 * DepthwiseConv2D, SeparableConv1D/2D, pooling, global pooling, ZeroPadding, Cropping,
 * UpSampling. Keras 'same' padding becomes explicit asymmetric pads (TensorFlow puts the odd
 * pixel at the end); 'causal' pads only the start. Semantics: keras/src/layers/convolutional/*,
 * TensorFlow's `conv2d` padding rules (https://www.tensorflow.org/api_docs/python/tf/nn#same_padding).
 */
import { attrInt, attrInts, attrString } from '../../ir/attrs.js';
import { RosettaError } from '../../ir/errors.js';
import { Tensor } from '../../ir/tensor.js';
import { applyActivation } from './activations.js';
import type { GraphBuilder, KValue } from './builder.js';
import { type LowerCtx, takeWeights, tuple, posInt } from './context.js';
import type { NormLayer } from './normalize.js';
import { convPerm, convTransposePerm, depthwiseToIR, flipAxes, permute } from './weight-layout.js';

/** Channels-last? (Keras default; Keras 1 'tf' ordering is already renamed). */
export const channelsLast = (cfg: Record<string, unknown>): boolean => (cfg.data_format ?? 'channels_last') !== 'channels_first';

/** Put `x` in the storage a spatial layer computes on (NC…), returning the channel count. */
function spatialIn(b: GraphBuilder, x: KValue, cl: boolean, rank: number, layer: string): { v: KValue; spatial: (number | null)[]; channels: number | null } {
  if (x.shape.length !== rank + 2) throw new RosettaError('E_SHAPE_MISMATCH', `expects a rank-${rank + 2} input, got shape [${x.shape.map(String).join(', ')}]`, { where: { layer } });
  if (cl) {
    const v = b.toCf(x, layer);
    return { v, spatial: x.shape.slice(1, -1), channels: x.shape[rank + 1]! };
  }
  const v = b.toKeras(x, layer);
  return { v, spatial: x.shape.slice(2), channels: x.shape[1]! };
}

/** Output value in the layer's own convention from NC… storage. */
function spatialOut(name: string, cl: boolean, n: number | null, channels: number | null, spatial: (number | null)[], dtype: KValue['dtype']): KValue {
  return cl ? { name, shape: [n, ...spatial, channels], layout: 'cf', dtype } : { name, shape: [n, channels, ...spatial], layout: 'keras', dtype };
}

export interface PadPlan {
  pads: number[];
  out: (number | null)[];
  autoPad?: string;
}

/** Explicit pads and output sizes for valid/same/causal windows (TensorFlow rules). */
export function windowPads(padding: unknown, spatial: (number | null)[], k: number[], s: number[], d: number[], layer: string): PadPlan {
  const r = k.length;
  const begin = new Array<number>(r).fill(0);
  const end = new Array<number>(r).fill(0);
  const out: (number | null)[] = [];
  const pad = typeof padding === 'string' ? padding.toLowerCase() : padding;
  let autoPad: string | undefined;
  for (let i = 0; i < r; i++) {
    const ek = (k[i]! - 1) * d[i]! + 1;
    const n = spatial[i] ?? null;
    if (pad === 'valid') {
      out.push(n === null ? null : Math.floor((n - ek) / s[i]!) + 1);
    } else if (pad === 'same') {
      if (n === null) {
        if (s[i] === 1) {
          begin[i] = Math.floor((ek - 1) / 2);
          end[i] = ek - 1 - begin[i]!;
        } else autoPad = 'SAME_UPPER';
        out.push(null);
      } else {
        const o = Math.ceil(n / s[i]!);
        const total = Math.max((o - 1) * s[i]! + ek - n, 0);
        begin[i] = Math.floor(total / 2);
        end[i] = total - begin[i]!;
        out.push(o);
      }
    } else if (pad === 'causal') {
      begin[i] = ek - 1;
      out.push(n === null ? null : Math.floor((n + ek - 1 - ek) / s[i]!) + 1);
    } else {
      throw new RosettaError('E_INVALID_ATTR', `padding '${String(padding)}' is not valid/same/causal`, { where: { layer } });
    }
    const o = out[i];
    if (o !== null && o !== undefined && o < 1) throw new RosettaError('E_SHAPE_MISMATCH', `window of ${ek} does not fit the input size ${n}`, { where: { layer } });
  }
  return { pads: [...begin, ...end], out, autoPad };
}

function conv(ctx: LowerCtx, layer: NormLayer, x: KValue, rank: number, kind: 'conv' | 'depthwise' | 'separable'): KValue {
  const { b } = ctx;
  const cfg = layer.config;
  const name = layer.name;
  const cl = channelsLast(cfg);
  const { v, spatial, channels } = spatialIn(b, x, cl, rank, name);
  if (channels === null) throw new RosettaError('E_SHAPE_MISMATCH', 'the channel dimension of the input is unknown', { where: { layer: name } });
  const k = tuple(cfg, 'kernel_size', rank, undefined, name);
  const s = tuple(cfg, 'strides', rank, 1, name);
  const d = tuple(cfg, 'dilation_rate', rank, 1, name);
  const useBias = cfg.use_bias !== false;
  const plan = windowPads(cfg.padding ?? 'valid', spatial, k, s, d, name);
  const attrs = { kernel_shape: attrInts(k), strides: attrInts(s), dilations: attrInts(d), ...(plan.autoPad ? { auto_pad: attrString(plan.autoPad) } : { pads: attrInts(plan.pads) }) };
  const trainable = cfg.trainable !== false;
  let y: string;
  let outC: number;
  if (kind === 'conv') {
    const groups = posInt(cfg, 'groups', 1, name);
    outC = posInt(cfg, 'filters', undefined, name);
    if (channels % groups !== 0) throw new RosettaError('E_SHAPE_MISMATCH', `${channels} input channels are not divisible by groups=${groups}`, { where: { layer: name } });
    const specs = [{ role: 'kernel', shape: [...k, channels / groups, outC] }, ...(useBias ? [{ role: 'bias', shape: [outC] }] : [])];
    const w = takeWeights(ctx, layer, specs, name, (ws) => (ws[0] && /^1\./.test(ctx.kerasVersion ?? '') ? [{ ...ws[0], tensor: keras1Kernel(ws[0].tensor, rank, cl) }, ...ws.slice(1)] : ws));
    let kernel = w.tensors[0]!;
    if (ctx.backend === 'theano') {
      // Theano convolves with flipped kernels; Keras' own loader flips them for TensorFlow.
      kernel = flipAxes(kernel, Array.from({ length: rank }, (_, i) => i));
      b.rewrite('theano-kernel-flip', name, 'kernel spatial axes flipped (file written with the Theano backend)');
    }
    const W = b.param(name, 'kernel', permute(kernel, convPerm(rank)), w.names[0]!, trainable);
    b.rewrite('weight-layout', name, `kernel [${kernel.shape.join(', ')}] (Keras k…IO) → [${[outC, channels / groups, ...k].join(', ')}] (OI k…)`);
    const inputs = [v.name, W];
    if (useBias) inputs.push(b.param(name, 'bias', w.tensors[1]!, w.names[1]!, trainable));
    y = b.op1('Conv', inputs, { ...attrs, group: attrInt(groups) }, name);
  } else if (kind === 'depthwise') {
    const m = posInt(cfg, 'depth_multiplier', 1, name);
    outC = channels * m;
    const specs = [{ role: 'depthwise_kernel', shape: [...k, channels, m] }, ...(useBias ? [{ role: 'bias', shape: [outC] }] : [])];
    const w = takeWeights(ctx, layer, specs, name);
    const W = b.param(name, 'depthwise_kernel', depthwiseToIR(w.tensors[0]!), w.names[0]!, trainable);
    b.rewrite('weight-layout', name, `depthwise kernel [${w.tensors[0]!.shape.join(', ')}] → [${outC}, 1, ${k.join(', ')}] (group ${channels})`);
    const inputs = [v.name, W];
    if (useBias) inputs.push(b.param(name, 'bias', w.tensors[1]!, w.names[1]!, trainable));
    y = b.op1('Conv', inputs, { ...attrs, group: attrInt(channels) }, name);
  } else {
    const m = posInt(cfg, 'depth_multiplier', 1, name);
    outC = posInt(cfg, 'filters', undefined, name);
    const specs = [
      { role: 'depthwise_kernel', shape: [...k, channels, m] },
      { role: 'pointwise_kernel', shape: [...new Array<number>(rank).fill(1), channels * m, outC] },
      ...(useBias ? [{ role: 'bias', shape: [outC] }] : []),
    ];
    const w = takeWeights(ctx, layer, specs, name);
    const DW = b.param(name, 'depthwise_kernel', depthwiseToIR(w.tensors[0]!), w.names[0]!, trainable);
    const PW = b.param(name, 'pointwise_kernel', permute(w.tensors[1]!, convPerm(rank)), w.names[1]!, trainable);
    b.rewrite('weight-layout', name, 'separable conv split into depthwise Conv (group = channels) and pointwise 1×1 Conv');
    const mid = b.op1('Conv', [v.name, DW], { ...attrs, group: attrInt(channels) }, name);
    const inputs = [mid, PW];
    if (useBias) inputs.push(b.param(name, 'bias', w.tensors[2]!, w.names[2]!, trainable));
    y = b.op1('Conv', inputs, { kernel_shape: attrInts(new Array<number>(rank).fill(1)) }, name);
  }
  y = applyActivation(b, y, cfg.activation, name, 1, ctx.kerasVersion);
  return spatialOut(y, cl, x.shape[0] ?? null, outC, plan.out, x.dtype);
}

/**
 * Keras 1 stored 'th'-ordered Conv2D kernels as (filters, in, rows, cols) and Conv1D kernels as
 * (length, 1, in, filters); Keras 2's legacy loader converts both to its layout, as here.
 */
function keras1Kernel(t: Tensor, rank: number, cl: boolean): Tensor {
  if (rank === 1 && t.rank === 4 && t.shape[1] === 1) return t.reshape([t.shape[0]!, t.shape[2]!, t.shape[3]!]);
  if (rank === 2 && t.rank === 4 && !cl) return permute(t, [2, 3, 1, 0]);
  return t;
}

function convTranspose(ctx: LowerCtx, layer: NormLayer, x: KValue, rank: number): KValue {
  const { b } = ctx;
  const cfg = layer.config;
  const name = layer.name;
  const cl = channelsLast(cfg);
  const { v, spatial, channels } = spatialIn(b, x, cl, rank, name);
  if (channels === null) throw new RosettaError('E_SHAPE_MISMATCH', 'the channel dimension of the input is unknown', { where: { layer: name } });
  const k = tuple(cfg, 'kernel_size', rank, undefined, name);
  const s = tuple(cfg, 'strides', rank, 1, name);
  const d = tuple(cfg, 'dilation_rate', rank, 1, name);
  const outC = posInt(cfg, 'filters', undefined, name);
  const useBias = cfg.use_bias !== false;
  const padding = String(cfg.padding ?? 'valid').toLowerCase();
  const outPadCfg = cfg.output_padding;
  const specs = [{ role: 'kernel', shape: [...k, outC, channels] }, ...(useBias ? [{ role: 'bias', shape: [outC] }] : [])];
  const w = takeWeights(ctx, layer, specs, name);
  const trainable = cfg.trainable !== false;
  let kernel = w.tensors[0]!;
  if (ctx.backend === 'theano') kernel = flipAxes(kernel, Array.from({ length: rank }, (_, i) => i));
  const W = b.param(name, 'kernel', permute(kernel, convTransposePerm(rank)), w.names[0]!, trainable);
  b.rewrite('weight-layout', name, `transposed-conv kernel [k…, out, in] → [in, out, k…]`);
  // Keras: out = (in-1)·s + ek - 2·pad + output_padding with TF's same/valid choice of pad.
  const pads: number[] = new Array<number>(2 * rank).fill(0);
  const outPad: number[] = new Array<number>(rank).fill(0);
  const out: (number | null)[] = [];
  for (let i = 0; i < rank; i++) {
    const ek = (k[i]! - 1) * d[i]! + 1;
    const n = spatial[i] ?? null;
    const op = outPadCfg === null || outPadCfg === undefined ? undefined : tuple(cfg, 'output_padding', rank, 0, name)[i]!;
    if (padding !== 'same' && padding !== 'valid') throw new RosettaError('E_INVALID_ATTR', `padding '${padding}' is not valid/same`, { where: { layer: name } });
    // Keras' output length (conv_utils.deconv_output_length), then TensorFlow's crop for it.
    let begin: number;
    let endCrop: number;
    if (n === null) {
      const total = padding === 'same' ? ek - s[i]! : -Math.max(s[i]! - ek, 0);
      begin = total > 0 ? Math.floor(total / 2) : 0;
      endCrop = total - begin;
    } else {
      const o = op === undefined ? (padding === 'same' ? n * s[i]! : n * s[i]! + Math.max(ek - s[i]!, 0)) : (n - 1) * s[i]! + ek - 2 * (padding === 'same' ? Math.floor(ek / 2) : 0) + op;
      begin = padding === 'same' ? Math.floor(Math.max((n - 1) * s[i]! + ek - o, 0) / 2) : 0;
      endCrop = (n - 1) * s[i]! + ek - o - begin;
    }
    pads[i] = begin;
    if (endCrop >= 0) pads[i + rank] = endCrop;
    else outPad[i] = -endCrop;
    out.push(n === null ? null : (n - 1) * s[i]! + ek - pads[i]! - pads[i + rank]! + outPad[i]!);
  }
  const inputs = [v.name, W];
  if (useBias) inputs.push(b.param(name, 'bias', w.tensors[1]!, w.names[1]!, trainable));
  let y = b.op1('ConvTranspose', inputs, { kernel_shape: attrInts(k), strides: attrInts(s), dilations: attrInts(d), pads: attrInts(pads), output_padding: attrInts(outPad) }, name);
  y = applyActivation(b, y, cfg.activation, name, 1, ctx.kerasVersion);
  return spatialOut(y, cl, x.shape[0] ?? null, outC, out, x.dtype);
}

function pool(ctx: LowerCtx, layer: NormLayer, x: KValue, rank: number, op: 'MaxPool' | 'AveragePool'): KValue {
  const { b } = ctx;
  const cfg = layer.config;
  const name = layer.name;
  const cl = channelsLast(cfg);
  const { v, spatial, channels } = spatialIn(b, x, cl, rank, name);
  const k = tuple(cfg, 'pool_size', rank, 2, name);
  const s = cfg.strides === null || cfg.strides === undefined ? k : tuple(cfg, 'strides', rank, 1, name);
  const plan = windowPads(cfg.padding ?? 'valid', spatial, k, s, new Array<number>(rank).fill(1), name);
  const attrs = { kernel_shape: attrInts(k), strides: attrInts(s), ...(plan.autoPad ? { auto_pad: attrString(plan.autoPad) } : { pads: attrInts(plan.pads) }) };
  // AveragePool count_include_pad = 0 (ONNX default) matches TF's 'same' averaging.
  const y = b.op1(op, [v.name], attrs, name);
  return spatialOut(y, cl, x.shape[0] ?? null, channels, plan.out, x.dtype);
}

function globalPool(ctx: LowerCtx, layer: NormLayer, x: KValue, rank: number, op: 'GlobalMaxPool' | 'GlobalAveragePool'): KValue {
  const { b } = ctx;
  const cfg = layer.config;
  const name = layer.name;
  const cl = channelsLast(cfg);
  const { v, channels } = spatialIn(b, x, cl, rank, name);
  const y = b.op1(op, [v.name], {}, name);
  if (cfg.keepdims === true) return spatialOut(y, cl, x.shape[0] ?? null, channels, new Array<number>(rank).fill(1), x.dtype);
  const flat = b.op1('Flatten', [y], { axis: attrInt(1) }, name);
  return { name: flat, shape: [x.shape[0] ?? null, channels], layout: 'keras', dtype: x.dtype };
}

/** ((before, after) per spatial dim) from Keras' int / tuple / tuple-of-tuples forms. */
function pairs(v: unknown, rank: number, key: string, layer: string): [number, number][] {
  const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 1 << 24;
  if (isInt(v)) return new Array(rank).fill([v, v]) as [number, number][];
  if (Array.isArray(v)) {
    if (rank === 1 && v.length === 2 && v.every(isInt)) return [[v[0], v[1]]];
    if (v.length === rank && v.every(isInt)) return v.map((p) => [p, p]);
    if (v.length === rank && v.every((p) => Array.isArray(p) && p.length === 2 && p.every(isInt))) return v as [number, number][];
  }
  throw new RosettaError('E_INVALID_ATTR', `'${key}' has an unrecognised form ${JSON.stringify(v)}`, { where: { layer } });
}

function zeroPad(ctx: LowerCtx, layer: NormLayer, x: KValue, rank: number): KValue {
  const { b } = ctx;
  const cfg = layer.config;
  const name = layer.name;
  // 1D layers have no data_format: channels are last.
  const cl = rank === 1 || channelsLast(cfg);
  const { v, spatial, channels } = spatialIn(b, x, cl, rank, name);
  const p = pairs(cfg.padding ?? 1, rank, 'padding', name);
  const pads = [0, 0, ...p.map((q) => q[0]), 0, 0, ...p.map((q) => q[1])];
  const y = b.op1('Pad', [v.name, b.ints(pads, name, 'pads')], { mode: attrString('constant') }, name);
  return spatialOut(y, cl, x.shape[0] ?? null, channels, spatial.map((n, i) => (n === null ? null : n + p[i]![0] + p[i]![1])), x.dtype);
}

function crop(ctx: LowerCtx, layer: NormLayer, x: KValue, rank: number): KValue {
  const { b } = ctx;
  const cfg = layer.config;
  const name = layer.name;
  const cl = rank === 1 || channelsLast(cfg);
  const { v, spatial, channels } = spatialIn(b, x, cl, rank, name);
  const p = pairs(cfg.cropping ?? 1, rank, 'cropping', name);
  const axes = p.map((_, i) => i + 2);
  const starts = p.map((q) => q[0]);
  // end = -after (or "to the end" when after is 0)
  const ends = p.map((q) => (q[1] === 0 ? Number.MAX_SAFE_INTEGER : -q[1]));
  const y = b.op1('Slice', [v.name, b.ints(starts, name, 'starts'), b.ints(ends, name, 'ends'), b.ints(axes, name, 'axes')], {}, name);
  return spatialOut(y, cl, x.shape[0] ?? null, channels, spatial.map((n, i) => (n === null ? null : n - p[i]![0] - p[i]![1])), x.dtype);
}

function upSample(ctx: LowerCtx, layer: NormLayer, x: KValue, rank: number): KValue {
  const { b } = ctx;
  const cfg = layer.config;
  const name = layer.name;
  const cl = rank === 1 || channelsLast(cfg);
  const { v, spatial, channels } = spatialIn(b, x, cl, rank, name);
  const size = rank === 1 ? [posInt(cfg, 'size', 2, name, 1 << 16)] : tuple(cfg, 'size', rank, 2, name);
  const interp = String(cfg.interpolation ?? 'nearest');
  const scales = b.constant(Tensor.from('float32', [rank + 2], [1, 1, ...size]), name, 'scales');
  let attrs;
  if (interp === 'nearest') attrs = { mode: attrString('nearest'), nearest_mode: attrString('floor'), coordinate_transformation_mode: attrString('asymmetric') };
  // TF2-era Keras resizes with half-pixel centres; Keras ≤ 2.3 on TF1 and tfjs-layers do not.
  else if (interp === 'bilinear') attrs = { mode: attrString('linear'), coordinate_transformation_mode: attrString(legacyResize(ctx.kerasVersion) ? 'asymmetric' : 'half_pixel') };
  else throw new RosettaError('E_UNSUPPORTED_LAYER', `UpSampling interpolation '${interp}' is not supported`, { where: { layer: name } });
  const y = b.op1('Resize', [v.name, '', scales], attrs, name);
  return spatialOut(y, cl, x.shape[0] ?? null, channels, spatial.map((n, i) => (n === null ? null : n * size[i]!)), x.dtype);
}

/** Keras versions whose bilinear resize uses asymmetric (not half-pixel) coordinates. */
export function legacyResize(version: string | undefined): boolean {
  if (!version) return false;
  if (version.startsWith('tfjs')) return true;
  const m = /^(\d+)\.(\d+)/.exec(version);
  return !!m && (Number(m[1]) < 2 || (Number(m[1]) === 2 && Number(m[2]) < 3));
}

const rankOf = (cls: string): number => (cls.includes('3D') ? 3 : cls.includes('2D') ? 2 : 1);

/** Lower one spatial layer, or return undefined when `cls` is not one. */
export function lowerSpatial(ctx: LowerCtx, layer: NormLayer, x: KValue): KValue | undefined {
  const cls = layer.className;
  const r = rankOf(cls);
  switch (cls) {
    case 'Conv1D':
    case 'Conv2D':
    case 'Conv3D':
      return conv(ctx, layer, x, r, 'conv');
    case 'DepthwiseConv1D':
    case 'DepthwiseConv2D':
      return conv(ctx, layer, x, r, 'depthwise');
    case 'SeparableConv1D':
    case 'SeparableConv2D':
      return conv(ctx, layer, x, r, 'separable');
    case 'Conv1DTranspose':
    case 'Conv2DTranspose':
    case 'Conv3DTranspose':
      return convTranspose(ctx, layer, x, r);
    case 'MaxPooling1D':
    case 'MaxPooling2D':
    case 'MaxPooling3D':
    case 'MaxPool1D':
    case 'MaxPool2D':
    case 'MaxPool3D':
      return pool(ctx, layer, x, r, 'MaxPool');
    case 'AveragePooling1D':
    case 'AveragePooling2D':
    case 'AveragePooling3D':
    case 'AvgPool1D':
    case 'AvgPool2D':
    case 'AvgPool3D':
      return pool(ctx, layer, x, r, 'AveragePool');
    case 'GlobalMaxPooling1D':
    case 'GlobalMaxPooling2D':
    case 'GlobalMaxPooling3D':
    case 'GlobalMaxPool1D':
    case 'GlobalMaxPool2D':
      return globalPool(ctx, layer, x, r, 'GlobalMaxPool');
    case 'GlobalAveragePooling1D':
    case 'GlobalAveragePooling2D':
    case 'GlobalAveragePooling3D':
    case 'GlobalAvgPool1D':
    case 'GlobalAvgPool2D':
      return globalPool(ctx, layer, x, r, 'GlobalAveragePool');
    case 'ZeroPadding1D':
    case 'ZeroPadding2D':
    case 'ZeroPadding3D':
      return zeroPad(ctx, layer, x, r);
    case 'Cropping1D':
    case 'Cropping2D':
    case 'Cropping3D':
      return crop(ctx, layer, x, r);
    case 'UpSampling1D':
    case 'UpSampling2D':
    case 'UpSampling3D':
      return upSample(ctx, layer, x, r);
    default:
      return undefined;
  }
}

