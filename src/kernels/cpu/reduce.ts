/**
 * CPU kernels: reductions (ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare in the
 * opset-18 form: axes as an optional input, `keepdims`, `noop_with_empty_axes`), ArgMax/ArgMin
 * (`select_last_index`), CumSum (`exclusive`, `reverse`) and TopK (ties broken by the lower
 * index). The table also merges the loss (loss.ts) and linear-algebra (linalg.ts) families.
 *
 * Accumulation is in float64 (or bigint for int64/uint64 sums and products, so they stay exact);
 * results are stored in the input dtype as the spec requires.
 * Spec: https://onnx.ai/onnx/operators/onnx__ReduceSum.html and siblings.
 */
import { isBigIntDType, isFloatDType, isIntDType, type DType } from '../../ir/dtype.js';
import { RosettaError } from '../../ir/errors.js';
import { Tensor, sizeOf } from '../../ir/tensor.js';
import { finish, valuesOf, workArray, type BigArray, type NumArray } from './elementwise-core.js';
import type { CpuKernel, KernelContext, KernelTable } from './kernel.js';
import { linalgKernels } from './linalg.js';
import { lossKernels } from './loss.js';
import { broadcastIndex, dtypeError, normAxis, optTensorIn, tensorIn, toNumbers } from './util.js';
import { wasmRowReduce } from './wasm-math.js';

type ReduceKind = 'sum' | 'mean' | 'max' | 'min' | 'prod' | 'l1' | 'l2' | 'logsum' | 'logsumexp' | 'sumsquare';

/** The reduction geometry: which axes, the output shape, and each input element's output index. */
interface ReducePlan {
  outShape: number[];
  outSize: number;
  /** For input element k, the output element it accumulates into. */
  readonly map: Int32Array;
  /** Elements per output (product of the reduced dims). */
  count: number;
  /** True when output o reads exactly the input run [o·count, (o+1)·count). */
  trailing: boolean;
  /**
   * Set when the kept axes are one contiguous block between reduced ones (a conv bias gradient:
   * [N, C, H, W] over N, H and W): output o reads x[(b·outSize + o)·inner + i] for b < outer, i < inner.
   */
  block?: { outer: number; inner: number };
}

/** Axes from the optional second input (or a legacy `axes` attribute); null = "no axes given". */
function readAxes(inputs: readonly unknown[], ctx: KernelContext): number[] | null {
  const t = optTensorIn(inputs as Parameters<typeof optTensorIn>[0], 1);
  if (t) return t.size === 0 ? null : toNumbers(t);
  if (ctx.attrs.has('axes')) {
    const a = ctx.attrs.ints('axes');
    return a.length ? a : null;
  }
  return null;
}

/** Plan a reduction over `axes` (null = all) of `shape`. */
export function planReduce(shape: readonly number[], axes: number[] | null, keepdims: boolean, ctx: KernelContext): ReducePlan {
  const rank = shape.length;
  const reduced = new Array<boolean>(rank).fill(axes === null);
  if (axes) {
    for (const a of axes) {
      const ax = normAxis(a, rank, ctx);
      if (rank === 0) continue;
      reduced[ax] = true;
    }
  }
  const kept = shape.map((d, i) => (reduced[i] ? 1 : d));
  const outShape = keepdims ? kept : shape.filter((_, i) => !reduced[i]);
  const count = shape.reduce((p, d, i) => (reduced[i] ? p * d : p), 1);
  const outSize = sizeOf(kept);
  // Reducing trailing axes (the common case: spatial means, last-axis sums) needs no odometer.
  let trailing = true;
  let seenReduced = false;
  for (let i = 0; i < rank; i++) {
    if (shape[i] === 1) continue;
    if (reduced[i]) seenReduced = true;
    else if (seenReduced) trailing = false;
  }
  let first = -1;
  let last = -1;
  for (let i = 0; i < rank; i++) {
    if (reduced[i] || shape[i] === 1) continue;
    if (first < 0) first = i;
    last = i;
  }
  let block: ReducePlan['block'];
  if (first >= 0 && sizeOf(shape.slice(first, last + 1)) === outSize) {
    block = { outer: sizeOf(shape.slice(0, first)), inner: sizeOf(shape.slice(last + 1)) };
  }
  let map: Int32Array | undefined;
  return {
    outShape,
    outSize,
    count,
    trailing,
    block,
    // Built on first use: the trailing sum/mean loops never need it.
    get map(): Int32Array {
      if (!map) {
        if (trailing) {
          map = new Int32Array(outSize * count);
          for (let o = 0, k = 0; o < outSize; o++) for (let j = 0; j < count; j++) map[k++] = o;
        } else map = broadcastIndex(kept, shape);
      }
      return map;
    },
  };
}

const reduceDType = (d: DType): boolean => isFloatDType(d) || isIntDType(d);

function reduceKernel(kind: ReduceKind): CpuKernel {
  return (inputs, ctx) => {
    const x = tensorIn(inputs, 0, ctx);
    if (!reduceDType(x.dtype)) throw dtypeError(ctx, x.dtype);
    const axes = readAxes(inputs, ctx);
    if (axes === null && ctx.attrs.int('noop_with_empty_axes', 0) !== 0) return [new Tensor(x.dtype, x.shape, x.data.slice())];
    const plan = planReduce(x.shape, axes, ctx.attrs.int('keepdims', 1) !== 0, ctx);
    if (isBigIntDType(x.dtype) && kind !== 'l2' && kind !== 'logsum' && kind !== 'logsumexp') {
      return [reduceBig(kind, x, plan)];
    }
    const acc = reduceNumbers(kind, valuesOf(x) as NumArray | BigArray, plan);
    const out = workArray(x.dtype, plan.outSize);
    if (isBigIntDType(x.dtype)) {
      const o = out as BigArray;
      for (let i = 0; i < acc.length; i++) o[i] = Number.isFinite(acc[i]) ? BigInt(Math.trunc(acc[i]!)) : 0n;
    } else {
      const o = out as NumArray;
      const isInt = !isFloatDType(x.dtype);
      for (let i = 0; i < acc.length; i++) o[i] = isInt ? Math.trunc(acc[i]!) : acc[i]!;
    }
    return [finish(x.dtype, plan.outShape, out)];
  };
}

/** Float64 reduction of numbers (bigints converted); returns one value per output element. */
function reduceNumbers(kind: ReduceKind, x: NumArray | BigArray, plan: ReducePlan): Float64Array {
  // `plan.map` is read only after the trailing fast paths: reading it builds an n-element index
  // (destructuring it up front measured as most of a trailing ReduceMean's time).
  const { outSize } = plan;
  const n = x.length;
  const xs: NumArray = x instanceof BigInt64Array || x instanceof BigUint64Array ? Float64Array.from(x, Number) : x;
  const acc = new Float64Array(outSize);
  const init = kind === 'max' || kind === 'logsumexp' ? -Infinity : kind === 'min' ? Infinity : kind === 'prod' ? 1 : 0;
  acc.fill(init);
  // float32 sums/means/maxes over trailing axes: the WebAssembly SIMD row kernels (wasm-math.ts;
  // sums still accumulate in float64), when available.
  if (plan.trailing && xs instanceof Float32Array && (kind === 'sum' || kind === 'mean' || kind === 'max') && wasmRowReduce(kind === 'max' ? 'max' : 'sum', xs, plan.count, acc)) {
    if (kind === 'mean') for (let o = 0; o < outSize; o++) acc[o] /= plan.count;
    return acc;
  }
  if (plan.trailing && (kind === 'sum' || kind === 'mean')) {
    for (let o = 0, k = 0; o < outSize; o++) {
      let a = 0;
      for (const e = k + plan.count; k < e; k++) a += xs[k]!;
      acc[o] = a;
    }
    if (kind === 'mean') for (let o = 0; o < outSize; o++) acc[o] /= plan.count;
    return acc;
  }
  if (plan.block && (kind === 'sum' || kind === 'mean')) {
    // Each output accumulates its elements in flat input order, as the indexed loop below would
    // (bit-identical), without building that loop's n-element index map.
    const { outer, inner } = plan.block;
    for (let b = 0, k = 0; b < outer; b++) {
      for (let o = 0; o < outSize; o++) {
        let a = acc[o]!;
        for (const e = k + inner; k < e; k++) a += xs[k]!;
        acc[o] = a;
      }
    }
    if (kind === 'mean') for (let o = 0; o < outSize; o++) acc[o] /= plan.count;
    return acc;
  }
  const map = plan.map;
  switch (kind) {
    case 'sum':
    case 'mean':
    case 'logsum':
      for (let k = 0; k < n; k++) acc[map[k]!] += xs[k]!;
      break;
    case 'l1':
      for (let k = 0; k < n; k++) acc[map[k]!] += Math.abs(xs[k]!);
      break;
    case 'l2':
    case 'sumsquare':
      for (let k = 0; k < n; k++) {
        const v = xs[k]!;
        acc[map[k]!] += v * v;
      }
      break;
    case 'prod':
      for (let k = 0; k < n; k++) acc[map[k]!] *= xs[k]!;
      break;
    case 'max':
      for (let k = 0; k < n; k++) {
        const v = xs[k]!;
        const o = map[k]!;
        if (v > acc[o]! || v !== v) acc[o] = v;
      }
      break;
    case 'min':
      for (let k = 0; k < n; k++) {
        const v = xs[k]!;
        const o = map[k]!;
        if (v < acc[o]! || v !== v) acc[o] = v;
      }
      break;
    case 'logsumexp': {
      for (let k = 0; k < n; k++) {
        const v = xs[k]!;
        if (v > acc[map[k]!]!) acc[map[k]!] = v;
      }
      const m = acc.slice();
      acc.fill(0);
      for (let k = 0; k < n; k++) {
        const o = map[k]!;
        const mo = Number.isFinite(m[o]!) ? m[o]! : 0;
        acc[o] += Math.exp(xs[k]! - mo);
      }
      for (let o = 0; o < outSize; o++) acc[o] = Math.log(acc[o]!) + (Number.isFinite(m[o]!) ? m[o]! : 0);
      return acc;
    }
  }
  if (kind === 'mean') for (let o = 0; o < outSize; o++) acc[o] /= plan.count;
  else if (kind === 'l2') for (let o = 0; o < outSize; o++) acc[o] = Math.sqrt(acc[o]!);
  else if (kind === 'logsum') for (let o = 0; o < outSize; o++) acc[o] = Math.log(acc[o]!);
  return acc;
}

/** Exact int64/uint64 reduction for the kinds that stay in the integers. */
function reduceBig(kind: ReduceKind, x: Tensor, plan: ReducePlan): Tensor {
  const d = x.data as BigArray;
  const { map, outSize } = plan;
  const out = workArray(x.dtype, outSize) as BigArray;
  const acc: bigint[] = new Array<bigint>(outSize).fill(kind === 'prod' ? 1n : 0n);
  const seen = new Uint8Array(outSize);
  for (let k = 0; k < d.length; k++) {
    const v = d[k]!;
    const o = map[k]!;
    switch (kind) {
      case 'max':
        if (!seen[o] || v > acc[o]!) acc[o] = v;
        break;
      case 'min':
        if (!seen[o] || v < acc[o]!) acc[o] = v;
        break;
      case 'prod':
        acc[o]! *= v;
        break;
      case 'l1':
        acc[o]! += v < 0n ? -v : v;
        break;
      case 'sumsquare':
        acc[o]! += v * v;
        break;
      default:
        acc[o]! += v;
    }
    seen[o] = 1;
  }
  for (let o = 0; o < outSize; o++) out[o] = kind === 'mean' ? acc[o]! / BigInt(Math.max(plan.count, 1)) : acc[o]!;
  return new Tensor(x.dtype, plan.outShape, out);
}

// ---- ArgMax / ArgMin ----------------------------------------------------------------------------

function argKernel(max: boolean): CpuKernel {
  return (inputs, ctx) => {
    const x = tensorIn(inputs, 0, ctx);
    if (!reduceDType(x.dtype)) throw dtypeError(ctx, x.dtype);
    const axis = normAxis(ctx.attrs.int('axis', 0), x.rank, ctx);
    const keepdims = ctx.attrs.int('keepdims', 1) !== 0;
    const last = ctx.attrs.int('select_last_index', 0) !== 0;
    const len = x.shape[axis] ?? 1;
    if (len === 0) throw new RosettaError('E_SHAPE_MISMATCH', `${ctx.node.opType} over an empty axis ${axis}`, { where: { node: ctx.node.name } });
    const inner = sizeOf(x.shape.slice(axis + 1));
    const outer = sizeOf(x.shape.slice(0, axis));
    const v = valuesOf(x) as ArrayLike<number | bigint>;
    const out = new BigInt64Array(outer * inner);
    for (let p = 0; p < outer; p++) {
      for (let q = 0; q < inner; q++) {
        const base = p * len * inner + q;
        let best = v[base]!;
        let bi = 0;
        for (let j = 1; j < len; j++) {
          const c = v[base + j * inner]!;
          const better = max ? c > best || (last && c === best) : c < best || (last && c === best);
          if (better) {
            best = c;
            bi = j;
          }
        }
        out[p * inner + q] = BigInt(bi);
      }
    }
    const shape = keepdims ? x.shape.map((d, i) => (i === axis ? 1 : d)) : x.shape.filter((_, i) => i !== axis);
    return [new Tensor('int64', shape, out)];
  };
}

// ---- CumSum -------------------------------------------------------------------------------------

const cumSumKernel: CpuKernel = (inputs, ctx) => {
  const x = tensorIn(inputs, 0, ctx);
  const axisT = tensorIn(inputs, 1, ctx);
  if (!reduceDType(x.dtype)) throw dtypeError(ctx, x.dtype);
  if (axisT.size !== 1) throw new RosettaError('E_SHAPE_MISMATCH', `CumSum axis must be a scalar, got shape [${axisT.shape.join(', ')}]`, { where: { node: ctx.node.name } });
  const axis = normAxis(axisT.get(0), x.rank, ctx);
  const exclusive = ctx.attrs.int('exclusive', 0) !== 0;
  const reverse = ctx.attrs.int('reverse', 0) !== 0;
  const len = x.shape[axis] ?? 1;
  const inner = sizeOf(x.shape.slice(axis + 1));
  const outer = sizeOf(x.shape.slice(0, axis));
  const big = isBigIntDType(x.dtype);
  const v = valuesOf(x) as ArrayLike<number | bigint>;
  const out = workArray(x.dtype, x.size) as { [k: number]: number | bigint };
  for (let p = 0; p < outer; p++) {
    for (let q = 0; q < inner; q++) {
      const base = p * len * inner + q;
      let acc: number | bigint = big ? 0n : 0;
      for (let s = 0; s < len; s++) {
        const j = reverse ? len - 1 - s : s;
        const k = base + j * inner;
        if (exclusive) {
          out[k] = acc;
          acc = big ? (acc as bigint) + (v[k] as bigint) : (acc as number) + (v[k] as number);
        } else {
          acc = big ? (acc as bigint) + (v[k] as bigint) : (acc as number) + (v[k] as number);
          out[k] = acc;
        }
      }
    }
  }
  return [finish(x.dtype, x.shape, out as unknown as NumArray)];
};

// ---- TopK ---------------------------------------------------------------------------------------

const topKKernel: CpuKernel = (inputs, ctx) => {
  const x = tensorIn(inputs, 0, ctx);
  const kT = tensorIn(inputs, 1, ctx);
  if (!reduceDType(x.dtype)) throw dtypeError(ctx, x.dtype);
  const axis = normAxis(ctx.attrs.int('axis', -1), x.rank, ctx);
  const largest = ctx.attrs.int('largest', 1) !== 0;
  if (kT.size !== 1) throw new RosettaError('E_SHAPE_MISMATCH', `TopK K must hold one value, got shape [${kT.shape.join(', ')}]`, { where: { node: ctx.node.name } });
  const k = kT.get(0);
  const len = x.shape[axis] ?? 1;
  if (!Number.isInteger(k) || k < 0 || k > len) {
    throw new RosettaError('E_INVALID_ATTR', `TopK K = ${k} is outside [0, ${len}] for axis ${axis}`, { where: { node: ctx.node.name } });
  }
  const inner = sizeOf(x.shape.slice(axis + 1));
  const outer = sizeOf(x.shape.slice(0, axis));
  const cmpVals = valuesOf(x) as ArrayLike<number | bigint>;
  const raw = x.data as ArrayLike<unknown>;
  const shape = x.shape.slice();
  shape[axis] = k;
  const values = new Tensor(x.dtype, shape);
  const vo = values.data as unknown as { [i: number]: unknown };
  const io = new BigInt64Array(values.size);
  const idx = new Array<number>(len);
  // NaN sorts as the largest value (numpy/ONNX reference order); ties keep the lower index first.
  const key = (i: number): number | bigint => cmpVals[i]!;
  for (let p = 0; p < outer; p++) {
    for (let q = 0; q < inner; q++) {
      const base = p * len * inner + q;
      for (let j = 0; j < len; j++) idx[j] = j;
      idx.sort((a, b) => {
        const va = key(base + a * inner);
        const vb = key(base + b * inner);
        const na = va !== va;
        const nb = vb !== vb;
        let c: number;
        if (na || nb) c = na && nb ? 0 : na ? 1 : -1;
        else c = va > vb ? 1 : va < vb ? -1 : 0;
        if (largest) c = -c;
        return c !== 0 ? c : a - b;
      });
      for (let j = 0; j < k; j++) {
        const o = p * k * inner + j * inner + q;
        vo[o] = raw[base + idx[j]! * inner];
        io[o] = BigInt(idx[j]!);
      }
    }
  }
  return [values, new Tensor('int64', shape, io)];
};

export const reduceKernels: KernelTable = {
  ReduceSum: reduceKernel('sum'),
  ReduceMean: reduceKernel('mean'),
  ReduceMax: reduceKernel('max'),
  ReduceMin: reduceKernel('min'),
  ReduceProd: reduceKernel('prod'),
  ReduceL1: reduceKernel('l1'),
  ReduceL2: reduceKernel('l2'),
  ReduceLogSum: reduceKernel('logsum'),
  ReduceLogSumExp: reduceKernel('logsumexp'),
  ReduceSumSquare: reduceKernel('sumsquare'),
  ArgMax: argKernel(true),
  ArgMin: argKernel(false),
  CumSum: cumSumKernel,
  TopK: topKKernel,
  ...lossKernels,
  ...linalgKernels,
};
