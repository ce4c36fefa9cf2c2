/**
 * CPU kernels: linear quantisation — QuantizeLinear, DequantizeLinear (scalar or per-axis scale and
 * zero point), DynamicQuantizeLinear, QLinearMatMul and QLinearConv.
 *
 * Integer accumulation runs in float64 through the shared matmul/conv drivers (exact: |sums| stay far
 * below 2^53); requantisation rounds half to even and saturates to the output type, as the spec says.
 * Spec: https://onnx.ai/onnx/operators/onnx__QuantizeLinear.html, https://onnx.ai/onnx/operators/onnx__DequantizeLinear.html,
 * https://onnx.ai/onnx/operators/onnx__DynamicQuantizeLinear.html, https://onnx.ai/onnx/operators/onnx__QLinearMatMul.html,
 * https://onnx.ai/onnx/operators/onnx__QLinearConv.html
 */
import type { DType } from '../../ir/dtype.js';
import { Tensor } from '../../ir/tensor.js';
import type { Value } from '../../runtime/value.js';
import { convForward, convShapes, subtractPerChannel } from './conv.js';
import { dgemm } from './gemm.js';
import type { KernelContext, KernelTable } from './kernel.js';
import { matmulPlan, runMatmul, zeroPoints } from './matmul.js';
import { floatAlloc, floatTensor, isFloatKernelDType, numData, numTensor, shapeError, sizeChecked } from './nn-util.js';
import { dtypeError, normAxis, optTensorIn, tensorIn } from './util.js';

/** Round half to even (numpy.rint / the spec's rounding). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const RANGES: Partial<Record<DType, [number, number]>> = {
  uint8: [0, 255],
  int8: [-128, 127],
  uint16: [0, 65535],
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
  uint4: [0, 15],
  int4: [-8, 7],
};

function range(dtype: DType, ctx: KernelContext): [number, number] {
  const r = RANGES[dtype];
  if (!r) throw dtypeError(ctx, dtype);
  return r;
}

function saturate(v: number, [lo, hi]: [number, number]): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/**
 * Per-element index into a scale/zero-point tensor: scalar (every element uses 0) or 1-D along
 * `axis` (element i uses its coordinate on that axis). Returns a function-free description.
 */
function paramIndexer(x: Tensor, p: Tensor, axis: number, ctx: KernelContext, what: string): { inner: number; len: number } {
  if (p.size === 1 && p.rank <= 1) return { inner: 1, len: 1 };
  const a = normAxis(axis, x.rank, ctx);
  if (p.rank !== 1 || p.size !== x.shape[a]) throw shapeError(ctx, `${what} of shape [${p.shape.join(', ')}] must be a scalar or 1-D of length ${x.shape[a]} (axis ${a})`);
  return { inner: x.shape.slice(a + 1).reduce((u, v) => u * v, 1), len: p.size };
}

function QuantizeLinear(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const scale = tensorIn(inputs, 1, ctx);
  const zpT = optTensorIn(inputs, 2);
  const outType: DType = zpT ? zpT.dtype : 'uint8';
  const r = range(outType, ctx);
  const axis = ctx.attrs.int('axis', 1);
  const sIdx = paramIndexer(x, scale, axis, ctx, 'y_scale');
  const s = numData(scale);
  const zp = zpT ? numData(zpT) : new Float64Array(s.length);
  if (zp.length !== s.length) throw shapeError(ctx, `y_zero_point has ${zp.length} values, y_scale has ${s.length}`);
  const xd = numData(x);
  const out = new Float64Array(x.size);
  // The division happens in float32 like the reference (x / scale with float32 operands).
  const f32 = x.dtype !== 'float64';
  for (let i = 0; i < out.length; i++) {
    const k = sIdx.len === 1 ? 0 : Math.floor(i / sIdx.inner) % sIdx.len;
    const q = f32 ? Math.fround(xd[i]! / s[k]!) : xd[i]! / s[k]!;
    out[i] = saturate(roundHalfEven(q) + zp[k]!, r);
  }
  return [numTensor(outType, x.shape, out)];
}

function DequantizeLinear(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const scale = tensorIn(inputs, 1, ctx);
  const zpT = optTensorIn(inputs, 2);
  if (!RANGES[x.dtype]) throw dtypeError(ctx, x.dtype);
  if (!isFloatKernelDType(scale.dtype)) throw dtypeError(ctx, scale.dtype);
  const axis = ctx.attrs.int('axis', 1);
  const sIdx = paramIndexer(x, scale, axis, ctx, 'x_scale');
  const s = numData(scale);
  const zp = zpT ? numData(zpT) : new Float64Array(s.length);
  if (zp.length !== s.length) throw shapeError(ctx, `x_zero_point has ${zp.length} values, x_scale has ${s.length}`);
  const xd = numData(x);
  const out = floatAlloc(scale.dtype, x.size);
  for (let i = 0; i < out.length; i++) {
    const k = sIdx.len === 1 ? 0 : Math.floor(i / sIdx.inner) % sIdx.len;
    out[i] = (xd[i]! - zp[k]!) * s[k]!;
  }
  return [floatTensor(scale.dtype, x.shape, out)];
}

function DynamicQuantizeLinear(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  if (!isFloatKernelDType(x.dtype)) throw dtypeError(ctx, x.dtype);
  const xd = numData(x);
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < xd.length; i++) {
    if (xd[i]! < lo) lo = xd[i]!;
    if (xd[i]! > hi) hi = xd[i]!;
  }
  // Scale and zero point are float32 computations in the spec's function body.
  const scale = Math.fround(Math.fround(hi - lo) / 255);
  const zp = scale === 0 ? 0 : saturate(roundHalfEven(Math.fround(-lo / scale)), [0, 255]);
  const y = new Uint8Array(xd.length);
  for (let i = 0; i < xd.length; i++) y[i] = scale === 0 ? zp : saturate(roundHalfEven(Math.fround(xd[i]! / scale)) + zp, [0, 255]);
  return [new Tensor('uint8', x.shape, y), Tensor.from('float32', [], [scale]), Tensor.from('uint8', [], [zp])];
}

function quantIn(inputs: readonly (Value | undefined)[], i: number, ctx: KernelContext): Tensor {
  const t = tensorIn(inputs, i, ctx);
  if (t.dtype !== 'uint8' && t.dtype !== 'int8') throw dtypeError(ctx, t.dtype);
  return t;
}

/** Scale input: scalar or 1-D of length n; returns n values. */
function scaleValues(t: Tensor, n: number, ctx: KernelContext, what: string): Float64Array {
  return zeroPoints(t, n, ctx, what);
}

function QLinearMatMul(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const a = quantIn(inputs, 0, ctx);
  const b = quantIn(inputs, 3, ctx);
  const yzpT = tensorIn(inputs, 7, ctx);
  const r = range(yzpT.dtype, ctx);
  const p = matmulPlan(a.shape, b.shape, ctx);
  const as = scaleValues(tensorIn(inputs, 1, ctx), p.M, ctx, 'a_scale');
  const azp = zeroPoints(tensorIn(inputs, 2, ctx), p.M, ctx, 'a_zero_point');
  const bs = scaleValues(tensorIn(inputs, 4, ctx), p.N, ctx, 'b_scale');
  const bzp = zeroPoints(tensorIn(inputs, 5, ctx), p.N, ctx, 'b_zero_point');
  const ys = numData(tensorIn(inputs, 6, ctx))[0]!;
  const yzp = numData(yzpT)[0]!;
  const ad = numData(a).slice();
  const bd = numData(b).slice();
  for (let i = 0; i < ad.length; i++) ad[i] -= azp[Math.floor(i / p.K) % p.M]!;
  for (let i = 0; i < bd.length; i++) bd[i] -= bzp[i % p.N]!;
  const acc = new Float64Array(p.batch * p.M * p.N);
  runMatmul(p, ad, bd, acc, dgemm);
  for (let i = 0; i < acc.length; i++) {
    const m = Math.floor(i / p.N) % p.M;
    const n = i % p.N;
    const mult = Math.fround(Math.fround(as[m]! * bs[n]!) / ys);
    acc[i] = saturate(roundHalfEven(Math.fround(acc[i]! * mult)) + yzp, r);
  }
  return [numTensor(yzpT.dtype, p.outShape, acc)];
}

function QLinearConv(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = quantIn(inputs, 0, ctx);
  const w = quantIn(inputs, 3, ctx);
  const yzpT = tensorIn(inputs, 7, ctx);
  const r = range(yzpT.dtype, ctx);
  const bT = optTensorIn(inputs, 8);
  const s = convShapes(x, w, ctx);
  const xs = numData(tensorIn(inputs, 1, ctx))[0]!;
  const xzp = numData(tensorIn(inputs, 2, ctx))[0]!;
  const ws = scaleValues(tensorIn(inputs, 4, ctx), s.M, ctx, 'w_scale');
  const wzp = zeroPoints(tensorIn(inputs, 5, ctx), s.M, ctx, 'w_zero_point');
  const ys = numData(tensorIn(inputs, 6, ctx))[0]!;
  const yzp = numData(yzpT)[0]!;
  if (bT && bT.size !== s.M) throw shapeError(ctx, `B has ${bT.size} values, expected ${s.M}`);
  const xd = numData(x).slice();
  for (let i = 0; i < xd.length; i++) xd[i] -= xzp;
  const wd = subtractPerChannel(numData(w).slice(), wzp);
  const outShape = [s.N, s.M, ...s.geom.outSpatial];
  const acc = new Float64Array(sizeChecked(outShape, ctx));
  convForward(s, xd, wd, bT ? numData(bT) : undefined, acc, dgemm, (k) => new Float64Array(k));
  const plane = s.geom.outSpatial.reduce((u, v) => u * v, 1);
  for (let i = 0; i < acc.length; i++) {
    const m = Math.floor(i / plane) % s.M;
    const mult = Math.fround(Math.fround(xs * ws[m]!) / ys);
    acc[i] = saturate(roundHalfEven(Math.fround(acc[i]! * mult)) + yzp, r);
  }
  return [numTensor(yzpT.dtype, outShape, acc)];
}

export const quantKernels: KernelTable = { QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, QLinearMatMul, QLinearConv };
