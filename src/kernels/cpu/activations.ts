/**
 * CPU kernels: activation functions and the Softmax family (Relu, LeakyRelu, Elu, Selu, Celu,
 * Sigmoid, HardSigmoid, HardSwish, Softplus, Softsign, ThresholdedRelu, PRelu, Mish, Shrink, Gelu,
 * Softmax, LogSoftmax, Hardmax). ONNX attribute defaults apply when an attribute is absent.
 * Gelu is the opset-20 form (`approximate` = 'none' | 'tanh'), used by the Keras/PyTorch importers.
 * Softmax/LogSoftmax/Hardmax use the opset-13 single-axis form (default axis -1).
 * Spec: https://onnx.ai/onnx/operators/
 */
import { allocData, isBigIntDType, isFloatDType, isIntDType, type DType } from '../../ir/dtype.js';
import { RosettaError } from '../../ir/errors.js';
import { Tensor, sizeOf } from '../../ir/tensor.js';
import { binaryMap, erf, finish, mapBigints, mapNumbers, numbersOf, valuesOf, workArray, type BigArray, type NumArray } from './elementwise-core.js';
import type { CpuKernel, KernelContext, KernelTable } from './kernel.js';
import { broadcastShapes, dtypeError, normAxis, tensorIn } from './util.js';
import { wasmSoftmaxRows, wasmUnary } from './wasm-math.js';

/** Unary float activation whose function depends on the node's attributes. */
function act(make: (ctx: KernelContext) => (x: number) => number, accept: (d: DType) => boolean = isFloatDType): CpuKernel {
  return (inputs, ctx) => {
    const x = tensorIn(inputs, 0, ctx);
    if (!accept(x.dtype) || isBigIntDType(x.dtype)) throw dtypeError(ctx, x.dtype);
    return [mapNumbers(x, ctx, make(ctx))];
  };
}

export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** log(1 + e^x) without overflow for large x or cancellation for very negative x. */
export function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** Relu: float32 gets a dedicated loop (the most common activation); ints are allowed since opset 14. */
const reluKernel: CpuKernel = (inputs, ctx) => {
  const x = tensorIn(inputs, 0, ctx);
  if (x.dtype === 'float32') {
    const a = x.data as Float32Array;
    const o = allocData('float32', a.length, false) as Float32Array; // both loops write every element
    // SIMD mask-and (wasm-math.ts) when available: same results, bits included.
    if (wasmUnary('relu', a, o)) return [new Tensor('float32', x.shape, o)];
    // (v + |v|) / 2 has no data-dependent branch and is exact (v + v cannot overflow in float64);
    // a `v > 0 ? v : 0` or Math.max measured ~5× slower on mixed signs (bench/elementwise.ts).
    // Only -inf yields NaN there (-inf + inf); that rare, well-predicted case is mapped to 0.
    for (let i = 0; i < a.length; i++) {
      const v = a[i]!;
      const r = (v + Math.abs(v)) * 0.5;
      o[i] = r === r ? r : v === v ? 0 : v;
    }
    return [new Tensor('float32', x.shape, o)];
  }
  if (isBigIntDType(x.dtype)) return [mapBigints(x, (v) => (v > 0n ? v : 0n))];
  if (!isFloatDType(x.dtype) && !isIntDType(x.dtype)) throw dtypeError(ctx, x.dtype);
  return [mapNumbers(x, ctx, (v) => (v > 0 ? v : v !== v ? v : 0))];
};

/** PRelu: `slope` broadcasts unidirectionally to X's shape. */
const preluKernel: CpuKernel = (inputs, ctx) => {
  const x = tensorIn(inputs, 0, ctx);
  let s = tensorIn(inputs, 1, ctx);
  // Opset 6 and earlier gave the slope as [C] for an [N, C, ...] input (per channel, not numpy
  // broadcasting); accept that form when numpy broadcasting would fail, as onnxruntime does.
  if (s.rank === 1 && x.rank > 2 && s.shape[0] === x.shape[1] && s.shape[0] !== x.shape[x.rank - 1] && s.shape[0] !== 1) {
    s = s.reshape([s.shape[0]!, ...new Array<number>(x.rank - 2).fill(1)]);
  }
  if (x.dtype !== s.dtype) throw new RosettaError('E_DTYPE_MISMATCH', `PRelu slope dtype ${s.dtype} differs from X's ${x.dtype}`, { where: { node: ctx.node.name } });
  const shape = broadcastShapes([x.shape, s.shape], ctx);
  if (shape.length !== x.rank || shape.some((d, i) => d !== x.shape[i])) {
    throw new RosettaError('E_SHAPE_MISMATCH', `PRelu slope [${s.shape.join(', ')}] does not broadcast to X [${x.shape.join(', ')}]`, { where: { node: ctx.node.name } });
  }
  if (isBigIntDType(x.dtype)) {
    const out = workArray(x.dtype, x.size) as BigArray;
    binaryMap(x.data as BigArray, x.shape, s.data as BigArray, s.shape, shape, out, (v: bigint, a: bigint) => (v < 0n ? v * a : v));
    return [finish(x.dtype, shape, out)];
  }
  if (!isFloatDType(x.dtype) && !isIntDType(x.dtype)) throw dtypeError(ctx, x.dtype);
  const out = workArray(x.dtype, x.size) as NumArray;
  binaryMap(valuesOf(x) as NumArray, x.shape, valuesOf(s) as NumArray, s.shape, shape, out, (v: number, a: number) => (v < 0 ? v * a : v));
  return [finish(x.dtype, shape, out)];
};

/** Split a shape around `axis` into outer × len × inner. */
function axisSplit(shape: readonly number[], axis: number): { outer: number; len: number; inner: number } {
  return { outer: sizeOf(shape.slice(0, axis)), len: shape[axis] ?? 1, inner: sizeOf(shape.slice(axis + 1)) };
}

/** Softmax (log=false) or LogSoftmax (log=true) along one axis, max-subtracted for stability. */
function softmaxFamily(kind: 'softmax' | 'log' | 'hard'): CpuKernel {
  return (inputs, ctx) => {
    const t = tensorIn(inputs, 0, ctx);
    if (!isFloatDType(t.dtype)) throw dtypeError(ctx, t.dtype);
    const axis = normAxis(ctx.attrs.int('axis', -1), t.rank, ctx);
    const { outer, len, inner } = axisSplit(t.shape, axis);
    if (kind !== 'hard' && t.dtype === 'float32' && inner === 1) {
      // Contiguous rows: the WebAssembly SIMD row kernel (wasm-math.ts), when available.
      const o = allocData('float32', t.size) as Float32Array;
      if (wasmSoftmaxRows(t.data as Float32Array, o, len, kind === 'log')) return [new Tensor('float32', t.shape, o)];
    }
    const x = numbersOf(t, ctx);
    const o = workArray(t.dtype, x.length) as NumArray;
    const e0 = new Float64Array(len);
    for (let p = 0; p < outer; p++) {
      for (let q = 0; q < inner; q++) {
        const base = p * len * inner + q;
        let m = -Infinity;
        let arg = 0;
        for (let j = 0; j < len; j++) {
          const v = x[base + j * inner]!;
          if (v > m) {
            m = v;
            arg = j;
          }
        }
        if (kind === 'hard') {
          for (let j = 0; j < len; j++) o[base + j * inner] = j === arg ? 1 : 0;
          continue;
        }
        let sum = 0;
        if (kind === 'log') {
          for (let j = 0; j < len; j++) sum += Math.exp(x[base + j * inner]! - m);
          const ls = Math.log(sum);
          for (let j = 0; j < len; j++) o[base + j * inner] = x[base + j * inner]! - m - ls;
        } else {
          for (let j = 0; j < len; j++) {
            const e = Math.exp(x[base + j * inner]! - m);
            sum += e;
            e0[j] = e;
          }
          const inv = 1 / sum;
          for (let j = 0; j < len; j++) o[base + j * inner] = e0[j]! * inv;
        }
      }
    }
    return [finish(t.dtype, t.shape, o)];
  };
}

/** Softplus in float64 (every float dtype; the float32 reference for the SIMD kernel). */
const softplusJs = act(() => softplus);

/** Gelu in float64 (every dtype; the float32 reference for the SIMD kernel). */
const geluJs = act((ctx) => {
  const approx = ctx.attrs.string('approximate', 'none');
  if (approx === 'tanh') return (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
  if (approx !== 'none') throw new RosettaError('E_INVALID_ATTR', `Gelu approximate must be 'none' or 'tanh', got '${approx}'`, { where: { node: ctx.node.name } });
  return (x) => 0.5 * x * (1 + erf(x / Math.SQRT2));
});

export const activationKernels: KernelTable = {
  Relu: reluKernel,
  LeakyRelu: act((ctx) => {
    const a = ctx.attrs.float('alpha', 0.01);
    return (x) => (x < 0 ? a * x : x);
  }),
  Elu: act((ctx) => {
    const a = ctx.attrs.float('alpha', 1);
    return (x) => (x < 0 ? a * Math.expm1(x) : x);
  }),
  Selu: act((ctx) => {
    const a = ctx.attrs.float('alpha', 1.67326319217681884765625);
    const g = ctx.attrs.float('gamma', 1.05070102519989013671875);
    return (x) => (x <= 0 ? g * a * Math.expm1(x) : g * x);
  }),
  Celu: act((ctx) => {
    const a = ctx.attrs.float('alpha', 1);
    return (x) => Math.max(0, x) + Math.min(0, a * Math.expm1(x / a));
  }),
  Sigmoid: (inputs, ctx) => {
    const x = tensorIn(inputs, 0, ctx);
    if (x.dtype !== 'float32') return act(() => sigmoid)(inputs, ctx);
    const a = x.data as Float32Array;
    const o = allocData('float32', a.length) as Float32Array;
    if (wasmUnary('sigmoid', a, o)) return [new Tensor('float32', x.shape, o)];
    // 1 / (1 + e^-x) is safe in float64 for every float32 x (e^-x overflows to ∞ → 0, as it should).
    for (let i = 0; i < a.length; i++) o[i] = 1 / (1 + Math.exp(-a[i]!));
    return [new Tensor('float32', x.shape, o)];
  },
  HardSigmoid: act((ctx) => {
    const a = ctx.attrs.float('alpha', 0.2);
    const b = ctx.attrs.float('beta', 0.5);
    return (x) => Math.max(0, Math.min(1, a * x + b));
  }),
  HardSwish: act(() => (x) => x * Math.max(0, Math.min(1, x / 6 + 0.5))),
  Softplus: (inputs, ctx) => {
    const x = tensorIn(inputs, 0, ctx);
    if (x.dtype === 'float32') {
      const o = allocData('float32', x.size) as Float32Array;
      if (wasmUnary('softplus', x.data as Float32Array, o)) return [new Tensor('float32', x.shape, o)];
    }
    return softplusJs(inputs, ctx);
  },
  Softsign: act(() => (x) => x / (1 + Math.abs(x))),
  ThresholdedRelu: act((ctx) => {
    const a = ctx.attrs.float('alpha', 1);
    return (x) => (x > a ? x : 0);
  }),
  Mish: act(() => (x) => x * Math.tanh(softplus(x))),
  Shrink: act(
    (ctx) => {
      const l = ctx.attrs.float('lambd', 0.5);
      const b = ctx.attrs.float('bias', 0);
      return (x) => (x < -l ? x + b : x > l ? x - b : 0);
    },
    (d) => isFloatDType(d) || isIntDType(d),
  ),
  Gelu: (inputs, ctx) => {
    const x = tensorIn(inputs, 0, ctx);
    const approx = ctx.attrs.string('approximate', 'none');
    if (x.dtype === 'float32' && (approx === 'tanh' || approx === 'none')) {
      // The SIMD kernels (wasm-math.ts), when available: x·sigmoid(2y) = 0.5·x·(1 + tanh(y)), and
      // 0.5·x·(1 + erf(x/√2)) with 1 + erf taken as erfc in the negative tail (no cancellation).
      const o = allocData('float32', x.size) as Float32Array;
      if (wasmUnary(approx === 'tanh' ? 'geluTanh' : 'geluErf', x.data as Float32Array, o)) return [new Tensor('float32', x.shape, o)];
    }
    return geluJs(inputs, ctx);
  },
  PRelu: preluKernel,
  Softmax: softmaxFamily('softmax'),
  LogSoftmax: softmaxFamily('log'),
  Hardmax: softmaxFamily('hard'),
};
