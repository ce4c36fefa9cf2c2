/**
 * Normalisation and Dropout: BatchNormalization (inference, and training_mode with running-stat
 * outputs), InstanceNormalization, LayerNormalization (Y, Mean, InvStdDev), LpNormalization, LRN,
 * MeanVarianceNormalization, Dropout (identity + mask in inference, seeded masks in training).
 * Statistics accumulate in JS doubles whatever the storage type, matching the reference
 * implementation's float64-or-better intermediate precision.
 * Spec: https://onnx.ai/onnx/operators/onnx__BatchNormalization.html,
 * https://onnx.ai/onnx/operators/onnx__LayerNormalization.html, https://onnx.ai/onnx/operators/onnx__LRN.html,
 * https://onnx.ai/onnx/operators/onnx__MeanVarianceNormalization.html, https://onnx.ai/onnx/operators/onnx__Dropout.html
 */
import { Tensor } from '../../ir/tensor.js';
import type { Value } from '../../runtime/value.js';
import type { KernelContext, KernelTable } from './kernel.js';
import { type FloatArr, attrError, floatAlloc, floatData, floatTensor, isFloatKernelDType, shapeError } from './nn-util.js';
import { broadcastIndex, dtypeError, normAxis, optTensorIn, tensorIn, toNumbers } from './util.js';

function floatIn(inputs: readonly (Value | undefined)[], i: number, ctx: KernelContext): { t: Tensor; d: FloatArr } {
  const t = tensorIn(inputs, i, ctx);
  if (!isFloatKernelDType(t.dtype)) throw dtypeError(ctx, t.dtype);
  return { t, d: floatData(t, ctx) };
}

/** Per-channel vector input (scale, bias, mean, var) of length C. */
function channelVec(inputs: readonly (Value | undefined)[], i: number, C: number, ctx: KernelContext, what: string): FloatArr {
  const { t, d } = floatIn(inputs, i, ctx);
  if (t.size !== C) throw shapeError(ctx, `${what} has ${t.size} values, expected ${C} (one per channel)`);
  return d;
}

function BatchNormalization(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const { t: x, d: xd } = floatIn(inputs, 0, ctx);
  if (x.rank < 2) throw shapeError(ctx, `input must be [N, C, ...], got [${x.shape.join(', ')}]`);
  const N = x.shape[0]!;
  const C = x.shape[1]!;
  const S = x.shape.slice(2).reduce((a, b) => a * b, 1);
  const scale = channelVec(inputs, 1, C, ctx, 'scale');
  const bias = channelVec(inputs, 2, C, ctx, 'B');
  const inMean = channelVec(inputs, 3, C, ctx, 'input_mean');
  const inVar = channelVec(inputs, 4, C, ctx, 'input_var');
  const eps = ctx.attrs.float('epsilon', 1e-5);
  const momentum = ctx.attrs.float('momentum', 0.9);
  const training = ctx.attrs.int('training_mode', 0) !== 0 || (ctx.training && ctx.node.outputs.length > 1);
  const y = floatAlloc(x.dtype, x.size);
  const mean = new Float64Array(C);
  const variance = new Float64Array(C);
  if (training) {
    const cnt = N * S;
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let n = 0; n < N; n++) for (let i = 0, o = (n * C + c) * S; i < S; i++) s += xd[o + i]!;
      const m = s / cnt;
      let v = 0;
      for (let n = 0; n < N; n++) for (let i = 0, o = (n * C + c) * S; i < S; i++) v += (xd[o + i]! - m) ** 2;
      mean[c] = m;
      variance[c] = v / cnt;
    }
  } else {
    mean.set(inMean);
    variance.set(inVar);
  }
  for (let c = 0; c < C; c++) {
    const k = scale[c]! / Math.sqrt(variance[c]! + eps);
    const b = bias[c]! - mean[c]! * k;
    for (let n = 0; n < N; n++) for (let i = 0, o = (n * C + c) * S; i < S; i++) y[o + i] = xd[o + i]! * k + b;
  }
  const out: Value[] = [floatTensor(x.dtype, x.shape, y)];
  if (training) {
    const statType = inputs[3] instanceof Tensor ? inputs[3].dtype : x.dtype;
    const rm = floatAlloc(statType, C);
    const rv = floatAlloc(statType, C);
    for (let c = 0; c < C; c++) {
      rm[c] = inMean[c]! * momentum + mean[c]! * (1 - momentum);
      rv[c] = inVar[c]! * momentum + variance[c]! * (1 - momentum);
    }
    out.push(floatTensor(statType, [C], rm), floatTensor(statType, [C], rv));
  }
  return out;
}

function InstanceNormalization(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const { t: x, d: xd } = floatIn(inputs, 0, ctx);
  if (x.rank < 3) throw shapeError(ctx, `input must be [N, C, spatial...], got [${x.shape.join(', ')}]`);
  const C = x.shape[1]!;
  const S = x.shape.slice(2).reduce((a, b) => a * b, 1);
  const scale = channelVec(inputs, 1, C, ctx, 'scale');
  const bias = channelVec(inputs, 2, C, ctx, 'B');
  const eps = ctx.attrs.float('epsilon', 1e-5);
  const y = floatAlloc(x.dtype, x.size);
  for (let nc = 0; nc < x.shape[0]! * C; nc++) {
    const c = nc % C;
    const o = nc * S;
    let s = 0;
    for (let i = 0; i < S; i++) s += xd[o + i]!;
    const m = s / S;
    let v = 0;
    for (let i = 0; i < S; i++) v += (xd[o + i]! - m) ** 2;
    const k = scale[c]! / Math.sqrt(v / S + eps);
    for (let i = 0; i < S; i++) y[o + i] = (xd[o + i]! - m) * k + bias[c]!;
  }
  return [floatTensor(x.dtype, x.shape, y)];
}

function LayerNormalization(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const { t: x, d: xd } = floatIn(inputs, 0, ctx);
  const axis = normAxis(ctx.attrs.int('axis', -1), x.rank, ctx);
  const eps = ctx.attrs.float('epsilon', 1e-5);
  const normShape = x.shape.slice(axis);
  const outer = x.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = normShape.reduce((a, b) => a * b, 1);
  const { t: sc, d: scd } = floatIn(inputs, 1, ctx);
  const bt = optTensorIn(inputs, 2);
  const bd = bt ? floatData(bt, ctx) : undefined;
  const broadcastTo = (t: Tensor, what: string): Int32Array => {
    if (t.rank > normShape.length || t.shape.some((d, i) => d !== 1 && d !== normShape[normShape.length - t.rank + i])) {
      throw shapeError(ctx, `${what} [${t.shape.join(', ')}] does not broadcast to the normalised shape [${normShape.join(', ')}]`);
    }
    return broadcastIndex(t.shape, normShape);
  };
  const si = broadcastTo(sc, 'Scale');
  const bi = bt ? broadcastTo(bt, 'B') : undefined;
  const y = floatAlloc(x.dtype, x.size);
  // Mean and InvStdDev use stash_type (1 = float32) unless the input is float64.
  const statType = x.dtype === 'float64' ? 'float64' : ctx.attrs.int('stash_type', 1) === 1 ? 'float32' : x.dtype;
  const means = floatAlloc(statType, outer);
  const inv = floatAlloc(statType, outer);
  for (let r = 0; r < outer; r++) {
    const o = r * inner;
    let s = 0;
    for (let i = 0; i < inner; i++) s += xd[o + i]!;
    const m = s / inner;
    let v = 0;
    for (let i = 0; i < inner; i++) v += (xd[o + i]! - m) ** 2;
    const is = 1 / Math.sqrt(v / inner + eps);
    means[r] = m;
    inv[r] = is;
    for (let i = 0; i < inner; i++) y[o + i] = (xd[o + i]! - m) * is * scd[si[i]!]! + (bd ? bd[bi![i]!]! : 0);
  }
  const statShape = [...x.shape.slice(0, axis), ...normShape.map(() => 1)];
  return [floatTensor(x.dtype, x.shape, y), floatTensor(statType, statShape, means), floatTensor(statType, statShape, inv)];
}

function LpNormalization(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const { t: x, d: xd } = floatIn(inputs, 0, ctx);
  const axis = normAxis(ctx.attrs.int('axis', -1), x.rank, ctx);
  const p = ctx.attrs.int('p', 2);
  if (p !== 1 && p !== 2) throw attrError(ctx, `p must be 1 or 2, got ${p}`);
  const outer = x.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const len = x.shape[axis] ?? 1;
  const inner = x.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const y = floatAlloc(x.dtype, x.size);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * len * inner + i;
      let s = 0;
      for (let k = 0; k < len; k++) {
        const v = xd[base + k * inner]!;
        s += p === 1 ? Math.abs(v) : v * v;
      }
      const norm = p === 1 ? s : Math.sqrt(s);
      for (let k = 0; k < len; k++) y[base + k * inner] = xd[base + k * inner]! / norm;
    }
  }
  return [floatTensor(x.dtype, x.shape, y)];
}

function LRN(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const { t: x, d: xd } = floatIn(inputs, 0, ctx);
  if (x.rank < 3) throw shapeError(ctx, `input must be [N, C, spatial...], got [${x.shape.join(', ')}]`);
  const alpha = ctx.attrs.float('alpha', 1e-4);
  const beta = ctx.attrs.float('beta', 0.75);
  const bias = ctx.attrs.float('bias', 1);
  const size = ctx.attrs.int('size');
  if (size < 1) throw attrError(ctx, `size must be ≥ 1, got ${size}`);
  const N = x.shape[0]!;
  const C = x.shape[1]!;
  const S = x.shape.slice(2).reduce((a, b) => a * b, 1);
  const lo = Math.floor((size - 1) / 2);
  const hi = Math.ceil((size - 1) / 2);
  const y = floatAlloc(x.dtype, x.size);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const c0 = Math.max(0, c - lo);
      const c1 = Math.min(C - 1, c + hi);
      for (let i = 0; i < S; i++) {
        let sq = 0;
        for (let k = c0; k <= c1; k++) {
          const v = xd[(n * C + k) * S + i]!;
          sq += v * v;
        }
        const o = (n * C + c) * S + i;
        y[o] = xd[o]! / (bias + (alpha / size) * sq) ** beta;
      }
    }
  }
  return [floatTensor(x.dtype, x.shape, y)];
}

function MeanVarianceNormalization(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const { t: x, d: xd } = floatIn(inputs, 0, ctx);
  const axes = new Set(ctx.attrs.ints('axes', [0, 2, 3]).map((a) => normAxis(a, x.rank, ctx)));
  // Statistics per index of the kept axes: map each element to its group.
  const keptShape = x.shape.map((d, i) => (axes.has(i) ? 1 : d));
  const groups = keptShape.reduce((a, b) => a * b, 1);
  const gi = broadcastIndex(keptShape, x.shape);
  const cnt = x.size / Math.max(groups, 1);
  const sum = new Float64Array(groups);
  const sq = new Float64Array(groups);
  for (let i = 0; i < x.size; i++) sum[gi[i]!] += xd[i]!;
  for (let g = 0; g < groups; g++) sum[g] /= cnt;
  for (let i = 0; i < x.size; i++) sq[gi[i]!] += (xd[i]! - sum[gi[i]!]!) ** 2;
  const y = floatAlloc(x.dtype, x.size);
  // The spec's function body adds 1e-9 to the standard deviation.
  for (let i = 0; i < x.size; i++) y[i] = (xd[i]! - sum[gi[i]!]!) / (Math.sqrt(sq[gi[i]!]! / cnt) + 1e-9);
  return [floatTensor(x.dtype, x.shape, y)];
}

function Dropout(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const ratioT = optTensorIn(inputs, 1);
  const modeT = optTensorIn(inputs, 2);
  const ratio = ratioT ? toNumbers(ratioT)[0] ?? 0.5 : ctx.attrs.float('ratio', 0.5);
  const training = modeT ? (toNumbers(modeT)[0] ?? 0) !== 0 : ctx.training;
  const wantMask = ctx.node.outputs.length > 1 && ctx.node.outputs[1] !== '';
  if (!training || ratio === 0) {
    const out: Value[] = [x];
    if (wantMask) out.push(new Tensor('bool', x.shape, new Uint8Array(x.size).fill(1)));
    return out;
  }
  if (!(ratio >= 0 && ratio < 1)) throw attrError(ctx, `ratio must be in [0, 1), got ${ratio}`);
  if (!isFloatKernelDType(x.dtype)) throw dtypeError(ctx, x.dtype);
  const xd = floatData(x, ctx);
  const mask = new Uint8Array(x.size);
  const y = floatAlloc(x.dtype, x.size);
  const k = 1 / (1 - ratio);
  for (let i = 0; i < x.size; i++) {
    if (ctx.random() >= ratio) {
      mask[i] = 1;
      y[i] = xd[i]! * k;
    }
  }
  const out: Value[] = [floatTensor(x.dtype, x.shape, y)];
  if (wantMask) out.push(new Tensor('bool', x.shape, mask));
  return out;
}

export const normKernels: KernelTable = {
  BatchNormalization,
  InstanceNormalization,
  LayerNormalization,
  LpNormalization,
  LRN,
  MeanVarianceNormalization,
  Dropout,
};
