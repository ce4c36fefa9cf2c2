/**
 * Gradient rules for MatMul/Gemm, Conv (1-D/2-D/3-D, strides, pads incl. auto_pad, dilations,
 * groups), ConvTranspose, MaxPool/AveragePool/global pooling and Dropout, all written in ONNX ops:
 * - Conv: grad input = ConvTranspose of the output gradient with the same weight; grad weight = a
 *   Conv whose "batch" is the input's channels and whose "weight" is the output gradient
 *   (strides and dilations swap roles), sliced to the kernel size; groups are handled one by one.
 * - ConvTranspose: the mirror image (grad input = Conv, grad weight = the same weight-grad Conv).
 * - MaxPool: scatter-add through the Indices output (the tape always asks MaxPool for it), either
 *   storage_order.
 * - AveragePool: depthwise ConvTranspose of (g / window count) with a ones kernel, then cropped;
 *   LpPool/GlobalLpPool the same window sum of g · y^(1−p), times sign(x)·|x|^(p−1).
 * - MaxUnpool: gather back from the written positions. GridSample: grid-sample.ts.
 * Spec: https://onnx.ai/onnx/operators/onnx__Conv.html, onnx__ConvTranspose.html, onnx__MaxPool.html
 */
import type { AttrReader } from '../../ir/attrs.js';
import { RosettaError } from '../../ir/errors.js';
import type { Node } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';
import type { IrBuilder } from './builder.js';
import type { GradRule } from './elementwise.js';
import { gridSampleRule } from './grid-sample.js';

const ints = (value: number[]) => ({ type: 'ints' as const, value });
const int = (value: number) => ({ type: 'int' as const, value });

/** Swap the last two axes of a value of rank `rank`. */
function swapLast(b: IrBuilder, x: string, rank: number): string {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 1] = rank - 2;
  perm[rank - 2] = rank - 1;
  return b.transpose(x, perm);
}

/** Explicit spatial geometry of a Conv/Pool node: pads resolved from auto_pad with static shapes. */
export interface Geometry {
  kernel: number[];
  strides: number[];
  dilations: number[];
  padsBegin: number[];
  padsEnd: number[];
}

export function convGeometry(a: AttrReader, inSpatial: readonly number[], outSpatial: readonly number[], kernel: number[]): Geometry {
  const r = inSpatial.length;
  const strides = a.ints('strides', new Array<number>(r).fill(1));
  const dilations = a.ints('dilations', new Array<number>(r).fill(1));
  const autoPad = a.string('auto_pad', 'NOTSET');
  let padsBegin: number[];
  let padsEnd: number[];
  if (autoPad === 'NOTSET') {
    const pads = a.ints('pads', new Array<number>(2 * r).fill(0));
    padsBegin = pads.slice(0, r);
    padsEnd = pads.slice(r);
  } else if (autoPad === 'VALID') {
    padsBegin = new Array<number>(r).fill(0);
    padsEnd = padsBegin.slice();
  } else {
    padsBegin = [];
    padsEnd = [];
    for (let i = 0; i < r; i++) {
      const total = Math.max(0, (outSpatial[i]! - 1) * strides[i]! + (kernel[i]! - 1) * dilations[i]! + 1 - inSpatial[i]!);
      const small = Math.floor(total / 2);
      padsBegin.push(autoPad === 'SAME_LOWER' ? total - small : small);
      padsEnd.push(autoPad === 'SAME_LOWER' ? small : total - small);
    }
  }
  return { kernel, strides, dilations, padsBegin, padsEnd };
}

/**
 * dL/dW of a Conv with input `inp` [N, Cin, ...] and output gradient `gy` [N, Cout, ...], one
 * group: returns [Cout, Cin, ...kernel].
 */
function weightGradOneGroup(b: IrBuilder, inp: string, gy: string, rank: number, geo: Geometry): string {
  const perm = [1, 0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
  const xT = b.transpose(inp, perm);
  const gT = b.transpose(gy, perm);
  const r = b.op('Conv', [xT, gT], {
    strides: ints(geo.dilations),
    dilations: ints(geo.strides),
    pads: ints([...geo.padsBegin, ...geo.padsEnd]),
  });
  const k = geo.kernel;
  const cropped = b.slice(r, k.map(() => 0), k, k.map((_, i) => i + 2));
  return b.transpose(cropped, perm);
}

function groupSlices(b: IrBuilder, x: string, channels: number, group: number): string[] {
  if (group === 1) return [x];
  const per = channels / group;
  return Array.from({ length: group }, (_, g) => b.slice(x, [g * per], [(g + 1) * per], [1]));
}

/**
 * dL/dW for every group. The Conv form's products are Cout × taps × N·positions; the Conv kernel
 * runs them as one GEMM over all input channels' columns (src/kernels/cpu/conv.ts,
 * `convBatchedColumns`), measured faster on the seed CNN than one Gemm per kernel tap over
 * strided Slices of the input (which cost a Pad, a Slice, a Transpose and a Gemm per tap).
 */
function weightGrad(b: IrBuilder, inp: string, inShape: readonly number[], gy: string, outShape: readonly number[], group: number, rank: number, geo: Geometry): string {
  const xs = groupSlices(b, inp, inShape[1]!, group);
  const gs = groupSlices(b, gy, outShape[1]!, group);
  const parts = xs.map((x, i) => weightGradOneGroup(b, x, gs[i]!, rank, geo));
  return parts.length === 1 ? parts[0]! : b.op('Concat', parts, { axis: int(0) });
}

/** Σ over batch and positions: as [N, C, P] summed over P then N (two contiguous reductions are
 * several times faster than one over the scattered axes [0, 2, …]). */
function biasGrad(b: IrBuilder, g: string, shape: readonly number[]): string {
  if (shape.length === 2) return b.reduceSum(g, [0], false);
  const flat = b.reshape(g, [shape[0]!, shape[1]!, -1]);
  return b.reduceSum(b.reduceSum(flat, [2], false), [0], false);
}

const convRule: GradRule = (b, n, [g], a) => {
  if (!g) return n.inputs.map(() => undefined);
  const [x, w] = [n.inputs[0]!, n.inputs[1]!];
  const xs = b.shape(x);
  const ws = b.shape(w);
  const ys = b.shape(n.outputs[0]!);
  const rank = xs.length;
  const group = a.int('group', 1);
  const geo = convGeometry(a, xs.slice(2), ys.slice(2), ws.slice(2));
  const outPad = geo.kernel.map((k, i) => xs[i + 2]! - ((ys[i + 2]! - 1) * geo.strides[i]! + (k - 1) * geo.dilations[i]! + 1 - geo.padsBegin[i]! - geo.padsEnd[i]!));
  const gx = b.op('ConvTranspose', [g, w], {
    strides: ints(geo.strides),
    dilations: ints(geo.dilations),
    pads: ints([...geo.padsBegin, ...geo.padsEnd]),
    group: int(group),
    output_padding: ints(outPad),
  });
  const gw = weightGrad(b, x, xs, g, ys, group, rank, geo);
  const gb = n.inputs[2] ? biasGrad(b, g, ys) : undefined;
  return [gx, gw, gb];
};

/**
 * ConvTranspose's explicit pads, resolved as the forward kernel does (src/kernels/cpu/conv.ts):
 * with output_shape or auto_pad SAME the total padding is (full size − target size), clamped at 0,
 * the odd pixel at the end for SAME_UPPER and at the start otherwise; VALID means no pads. A target
 * larger than the full size is the same as output_padding: the Conv of the gradient is cropped.
 */
function convTransposeGeometry(a: AttrReader, inSpatial: readonly number[], kernel: number[]): Geometry {
  const r = inSpatial.length;
  const strides = a.ints('strides', new Array<number>(r).fill(1));
  const dilations = a.ints('dilations', new Array<number>(r).fill(1));
  const outPad = a.ints('output_padding', new Array<number>(r).fill(0));
  const autoPad = a.string('auto_pad', 'NOTSET');
  const pads = a.ints('pads', new Array<number>(2 * r).fill(0)).slice();
  let outputShape = a.has('output_shape') ? a.ints('output_shape') : undefined;
  if (outputShape && outputShape.length === r + 2) outputShape = outputShape.slice(2);
  for (let i = 0; i < r; i++) {
    if (outputShape || autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      const full = strides[i]! * (inSpatial[i]! - 1) + outPad[i]! + (kernel[i]! - 1) * dilations[i]! + 1;
      const target = outputShape ? outputShape[i]! : inSpatial[i]! * strides[i]!;
      const total = Math.max(0, full - target);
      const half = Math.floor(total / 2);
      pads[i] = autoPad === 'SAME_UPPER' ? half : total - half;
      pads[i + r] = total - pads[i]!;
    } else if (autoPad === 'VALID') {
      pads[i] = pads[i + r] = 0;
    }
  }
  return { kernel, strides, dilations, padsBegin: pads.slice(0, r), padsEnd: pads.slice(r) };
}

const convTransposeRule: GradRule = (b, n, [g], a) => {
  if (!g) return n.inputs.map(() => undefined);
  const [x, w] = [n.inputs[0]!, n.inputs[1]!];
  const xs = b.shape(x);
  const ws = b.shape(w);
  const ys = b.shape(n.outputs[0]!);
  const rank = xs.length;
  const group = a.int('group', 1);
  const geo = convTransposeGeometry(a, xs.slice(2), ws.slice(2));
  const gx = b.op('Conv', [g, w], {
    strides: ints(geo.strides),
    dilations: ints(geo.dilations),
    pads: ints([...geo.padsBegin, ...geo.padsEnd]),
    group: int(group),
  });
  // Conv may produce a slightly longer output when output_padding was used; crop to x.
  const gxc = b.slice(gx, xs.slice(2).map(() => 0), xs.slice(2), xs.slice(2).map((_, i) => i + 2));
  const gw = weightGrad(b, g, ys, x, xs, group, rank, geo);
  const gb = n.inputs[2] ? biasGrad(b, g, ys) : undefined;
  return [gxc, gw, gb];
};

const matmulRule: GradRule = (b, n, [g]) => {
  if (!g) return [undefined, undefined];
  const [a, c] = [n.inputs[0]!, n.inputs[1]!];
  const aS = b.shape(a);
  const cS = b.shape(c);
  // numpy matmul: a 1-D operand is promoted to a matrix and the added axis removed afterwards.
  const a2S = aS.length === 1 ? [1, aS[0]!] : aS;
  const c2S = cS.length === 1 ? [cS[0]!, 1] : cS;
  const a2 = aS.length === 1 ? b.reshape(a, a2S) : a;
  const c2 = cS.length === 1 ? b.reshape(c, c2S) : c;
  const batch = broadcast(a2S.slice(0, -2), c2S.slice(0, -2));
  const m = a2S[a2S.length - 2]!;
  const k = a2S[a2S.length - 1]!;
  const p = c2S[c2S.length - 1]!;
  const g2 = aS.length === 1 || cS.length === 1 ? b.reshape(g, [...batch, m, p]) : g;
  const ga = b.op('MatMul', [g2, swapLast(b, c2, c2S.length)]);
  const gc = b.op('MatMul', [swapLast(b, a2, a2S.length), g2]);
  const ga2 = b.sumTo(ga, [...batch, m, k], a2S);
  const gc2 = b.sumTo(gc, [...batch, k, p], c2S);
  return [aS.length === 1 ? b.reshape(ga2, aS) : ga2, cS.length === 1 ? b.reshape(gc2, cS) : gc2];
};

function broadcast(x: readonly number[], y: readonly number[]): number[] {
  const r = Math.max(x.length, y.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const a = x[x.length - r + i] ?? 1;
    const c = y[y.length - r + i] ?? 1;
    out.push(a === 1 ? c : a);
  }
  return out;
}

const gemmRule: GradRule = (b, n, [g], at) => {
  if (!g) return n.inputs.map(() => undefined);
  const [A, B] = [n.inputs[0]!, n.inputs[1]!];
  const transA = at.int('transA', 0);
  const transB = at.int('transB', 0);
  const alpha = at.float('alpha', 1);
  const beta = at.float('beta', 1);
  const ga0 = alpha === 1 ? g : b.mul(g, b.scalar(alpha));
  // Y = A' B' with A' = op(A), B' = op(B): dA' = g B'^T, dB' = A'^T g.
  const gA = transA
    ? b.op('Gemm', [B, ga0], { transA: int(transB), transB: int(1) }) // (g B'^T)^T = B' g^T
    : b.op('Gemm', [ga0, B], { transB: int(transB ? 0 : 1) });
  const gB = transB
    ? b.op('Gemm', [ga0, A], { transA: int(1), transB: int(transA) }) // (A'^T g)^T = g^T A'
    : b.op('Gemm', [A, ga0], { transA: int(transA ? 0 : 1) });
  let gC: string | undefined;
  if (n.inputs[2]) gC = b.sumTo(beta === 1 ? g : b.mul(g, b.scalar(beta)), b.shape(n.outputs[0]!), b.shape(n.inputs[2]));
  return [gA, gB, gC];
};

function poolShapes(b: IrBuilder, n: Node, a: AttrReader): { xs: readonly number[]; ys: readonly number[]; geo: Geometry } {
  const xs = b.shape(n.inputs[0]!);
  const ys = b.shape(n.outputs[0]!);
  const kernel = a.ints('kernel_shape');
  return { xs, ys, geo: convGeometry(a, xs.slice(2), ys.slice(2), kernel) };
}

const maxPoolRule: GradRule = (b, n, [g], a) => {
  if (!g) return [undefined];
  const ind = n.outputs[1];
  if (!ind) throw new RosettaError('E_INTERNAL', 'autograd: MaxPool needs its Indices output on the tape', { where: { node: n.name } });
  const xs = b.shape(n.inputs[0]!);
  const total = xs.reduce((p, d) => p * d, 1);
  const flat = b.op('ScatterElements', [b.zeros([total], b.dtypeOf(n.inputs[0]!)), b.reshape(ind, [-1]), b.reshape(g, [-1])], {
    axis: int(0),
    reduction: { type: 'string', value: 'add' },
  });
  if (a.int('storage_order', 0) === 0) return [b.reshape(flat, xs)];
  // storage_order=1 numbers each (n, c) plane's positions column-major: the flat scatter is the
  // plane with its spatial axes reversed ([N, C, W, H] in 2-D), transposed back.
  const sp = xs.length - 2;
  const rev = Array.from({ length: sp }, (_, i) => xs.length - 1 - i);
  const colMajor = b.reshape(flat, [xs[0]!, xs[1]!, ...rev.map((d) => xs[d]!)]);
  return [b.transpose(colMajor, [0, 1, ...rev.map((_, i) => xs.length - 1 - i)])];
};

const averagePoolRule: GradRule = (b, n, [g], a) => {
  if (!g) return [undefined];
  const { xs, ys, geo } = poolShapes(b, n, a);
  const includePad = a.int('count_include_pad', 0) === 1;
  const r = xs.length - 2;
  const outSp = ys.slice(2);
  // Divisor of every output position: window cells inside the input (or inside input + pads).
  const count = new Float64Array(outSp.reduce((p, d) => p * d, 1));
  const idx = new Array<number>(r).fill(0);
  for (let o = 0; o < count.length; o++) {
    let c = 1;
    for (let d = 0; d < r; d++) {
      const lo = includePad ? -geo.padsBegin[d]! : 0;
      const hi = includePad ? xs[d + 2]! + geo.padsEnd[d]! : xs[d + 2]!;
      let cnt = 0;
      for (let k = 0; k < geo.kernel[d]!; k++) {
        const p = idx[d]! * geo.strides[d]! + k * geo.dilations[d]! - geo.padsBegin[d]!;
        if (p >= lo && p < hi) cnt++;
      }
      c *= cnt;
    }
    count[o] = c;
    for (let d = r - 1; d >= 0; d--) {
      if (++idx[d]! < outSp[d]!) break;
      idx[d] = 0;
    }
  }
  const dt = b.dtypeOf(n.inputs[0]!);
  const inv = b.constant(Tensor.from(dt, [1, 1, ...outSp], Array.from(count, (c) => (c ? 1 / c : 0))), 'avgdiv');
  return [windowSum(b, b.mul(g, inv), xs, ys, geo, dt)];
};

/**
 * Σ over the pooling windows containing each input position of a per-output value `v` (shape of
 * the pool output): a depthwise ConvTranspose with a ones kernel, covering padded coordinates,
 * then cropped (or zero-extended, for ceil_mode windows) to the input.
 */
function windowSum(b: IrBuilder, v: string, xs: readonly number[], ys: readonly number[], geo: Geometry, dt: Tensor['dtype']): string {
  const C = xs[1]!;
  const outSp = ys.slice(2);
  const ones = b.constant(Tensor.from(dt, [C, 1, ...geo.kernel], new Array<number>(C * geo.kernel.reduce((p, k) => p * k, 1)).fill(1)), 'ones');
  const full = b.op('ConvTranspose', [v, ones], { strides: ints(geo.strides), dilations: ints(geo.dilations), group: int(C) });
  const fullSp = outSp.map((o, d) => (o - 1) * geo.strides[d]! + (geo.kernel[d]! - 1) * geo.dilations[d]! + 1);
  const extra = xs.slice(2).map((x, d) => Math.max(0, geo.padsBegin[d]! + x - fullSp[d]!));
  let src = full;
  if (extra.some((e) => e > 0)) src = b.op('Pad', [full, b.ints([0, 0, ...extra.map(() => 0), 0, 0, ...extra])]);
  const axes = xs.slice(2).map((_, i) => i + 2);
  return b.slice(src, geo.padsBegin, geo.padsBegin.map((p, d) => p + xs[d + 2]!), axes);
}

/**
 * Lp pooling, y = (Σ_window |x|^p)^(1/p): ∂y/∂x = y^(1−p) · sign(x)·|x|^(p−1) for every window
 * holding x; an all-zero window (y = 0) passes no gradient.
 */
function lpFactor(b: IrBuilder, x: string, y: string, p: number): { perOut: (g: string) => string; perIn: string } {
  const zero = b.op('Equal', [y, b.scalar(0)]);
  const yPow = b.op('Where', [zero, b.scalar(0), b.op('Pow', [b.op('Where', [zero, b.scalar(1), y]), b.scalar(1 - p)])]);
  const perIn = p === 2 ? x : p === 1 ? b.op('Sign', [x]) : b.mul(b.op('Sign', [x]), b.op('Pow', [b.op('Abs', [x]), b.scalar(p - 1)]));
  return { perOut: (g) => b.mul(g, yPow), perIn };
}

const lpPoolRule: GradRule = (b, n, [g], a) => {
  if (!g) return [undefined];
  const { xs, ys, geo } = poolShapes(b, n, a);
  const f = lpFactor(b, n.inputs[0]!, n.outputs[0]!, a.float('p', 2));
  return [b.mul(windowSum(b, f.perOut(g), xs, ys, geo, b.dtypeOf(n.inputs[0]!)), f.perIn)];
};

const globalLpPoolRule: GradRule = (b, n, [g], a) => {
  if (!g) return [undefined];
  const xs = b.shape(n.inputs[0]!);
  const f = lpFactor(b, n.inputs[0]!, n.outputs[0]!, a.float('p', 2));
  return [b.mul(b.expand(f.perOut(g), xs), f.perIn)];
};

/**
 * MaxUnpool writes x[i] at flat position j(i) of the output (re-ravelled when output_shape adds
 * room), so x[i] receives g[j(i)]; a value overwritten by a later one with the same index gets 0.
 */
const maxUnpoolRule: GradRule = (b, n, [g], a) => {
  if (!g) return [undefined, undefined, undefined];
  const xs = b.shape(n.inputs[0]!);
  const ys = b.shape(n.outputs[0]!);
  const nd = xs.length - 2;
  const kernel = a.ints('kernel_shape');
  const strides = a.ints('strides', new Array<number>(nd).fill(1));
  const pads = a.ints('pads', new Array<number>(2 * nd).fill(0));
  const inferred = [xs[0]!, xs[1]!, ...xs.slice(2).map((d, i) => (d - 1) * strides[i]! + kernel[i]! - pads[i]! - pads[i + nd]!)];
  const total = ys.reduce((p, d) => p * d, 1);
  const pos = b.intValues(n.inputs[1]!).map((j0) => {
    let j = j0;
    let o = 0;
    let stride = 1;
    for (let d = inferred.length - 1; d >= 0; d--) {
      o += (j % inferred[d]!) * stride;
      j = Math.floor(j / inferred[d]!);
      stride *= ys[d]!;
    }
    return o;
  });
  const last = new Map<number, number>();
  pos.forEach((j, i) => last.set(j, i));
  const idx = pos.map((j, i) => (last.get(j) === i ? j : total));
  const flat = b.op('Pad', [b.reshape(g, [-1]), b.ints([0, 1])]);
  return [b.reshape(b.op('Gather', [flat, b.ints(idx)], { axis: int(0) }), xs), undefined, undefined];
};

const globalAveragePoolRule: GradRule = (b, n, [g]) => {
  if (!g) return [undefined];
  const xs = b.shape(n.inputs[0]!);
  const count = xs.slice(2).reduce((p, d) => p * d, 1);
  return [b.expand(b.mul(g, b.scalar(1 / count)), xs)];
};

const globalMaxPoolRule: GradRule = (b, n, [g]) => {
  if (!g) return [undefined];
  const xs = b.shape(n.inputs[0]!);
  const m = b.mask(b.op('Equal', [n.inputs[0]!, n.outputs[0]!]));
  const cnt = b.reduceSum(m, xs.slice(2).map((_, i) => i + 2), true);
  return [b.mul(b.expand(b.div(g, cnt), xs), m)];
};

const dropoutRule: GradRule = (b, n, [g]) => {
  if (!g) return n.inputs.map(() => undefined);
  const training = n.inputs[2] ? b.intValues(n.inputs[2])[0] !== 0 : false;
  const ratio = n.inputs[1] ? b.intValues(n.inputs[1])[0]! : 0.5;
  if (!training || ratio === 0) return [g, undefined, undefined];
  const mask = n.outputs[1];
  if (!mask) throw new RosettaError('E_INTERNAL', 'autograd: training-mode Dropout needs its mask output on the tape', { where: { node: n.name } });
  return [b.mul(b.mul(g, b.mask(mask)), b.scalar(1 / (1 - ratio))), undefined, undefined];
};

export const nnRules: Record<string, GradRule> = {
  MatMul: matmulRule,
  Gemm: gemmRule,
  Conv: convRule,
  ConvTranspose: convTransposeRule,
  MaxPool: maxPoolRule,
  AveragePool: averagePoolRule,
  GlobalAveragePool: globalAveragePoolRule,
  GlobalMaxPool: globalMaxPoolRule,
  LpPool: lpPoolRule,
  MaxUnpool: maxUnpoolRule,
  GlobalLpPool: globalLpPoolRule,
  Dropout: dropoutRule,
  GridSample: gridSampleRule,
};
