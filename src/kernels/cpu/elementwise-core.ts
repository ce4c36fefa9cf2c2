/**
 * Shared machinery for the elementwise kernel families (elementwise.ts, activations.ts, cast.ts):
 * reading any tensor as plain JS values (narrow floats decoded, int64 kept as bigint), writing
 * results back in the exact output dtype, and the broadcasting loops.
 *
 * Why a separate file: the unary/binary loops are the hottest code of most models (Add, Mul,
 * Relu…), so the float32 paths are specialised here once — same shape, scalar, and "block"
 * broadcasts (a bias row `[C]` over `[N, C]`, a per-channel `[C, 1, 1]` over `[N, C, H, W]`) — and
 * every other dtype/shape goes through one generic index-map path.
 * Broadcasting rules: https://github.com/onnx/onnx/blob/main/docs/Broadcasting.md
 */
import { allocData, isBigIntDType, isBitsDType, type DType, type TypedArray } from '../../ir/dtype.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, f32ToF8, f8ToF32, type Float8Kind } from '../../ir/float-bits.js';
import { Tensor, sizeOf, stridesOf } from '../../ir/tensor.js';
import type { KernelContext } from './kernel.js';
import { broadcastShapes, dtypeError } from './util.js';

/** Plain numeric storage a kernel can read and write with JS numbers. */
export type NumArray = Exclude<TypedArray, BigInt64Array | BigUint64Array>;
export type BigArray = BigInt64Array | BigUint64Array;
/** What `valuesOf` returns: numbers (narrow floats decoded), bigints, or strings. */
export type Values = NumArray | BigArray | string[];

/** Dtypes whose storage is a plain number array (not bits, not bigint, not string/complex). */
export function isPlainNumDType(d: DType): boolean {
  return !isBitsDType(d) && !isBigIntDType(d) && d !== 'string' && d !== 'complex64' && d !== 'complex128';
}

/** Decode narrow-float bits into a fresh Float32Array. */
export function decodeBits(dtype: DType, bits: Uint8Array | Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  if (dtype === 'float16') for (let i = 0; i < bits.length; i++) out[i] = f16ToF32(bits[i]!);
  else if (dtype === 'bfloat16') for (let i = 0; i < bits.length; i++) out[i] = bf16ToF32(bits[i]!);
  else for (let i = 0; i < bits.length; i++) out[i] = f8ToF32(bits[i]!, dtype as Float8Kind);
  return out;
}

/** Encode float values into narrow-float bits of `dtype` (round to nearest even). */
export function encodeBits(dtype: DType, vals: ArrayLike<number>, saturate = true): Uint8Array | Uint16Array {
  const n = vals.length;
  if (dtype === 'float16') {
    const out = new Uint16Array(n);
    for (let i = 0; i < n; i++) out[i] = f32ToF16(vals[i]!);
    return out;
  }
  if (dtype === 'bfloat16') {
    const out = new Uint16Array(n);
    for (let i = 0; i < n; i++) out[i] = f32ToBf16(vals[i]!);
    return out;
  }
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = f32ToF8(vals[i]!, dtype as Float8Kind, saturate);
  return out;
}

/** A tensor's elements as JS values: narrow floats decoded to Float32Array, everything else as stored. */
export function valuesOf(t: Tensor): Values {
  if (isBitsDType(t.dtype)) return decodeBits(t.dtype, t.data as Uint8Array | Uint16Array);
  return t.data as Values;
}

/** Number-valued view of a non-bigint, non-string tensor (narrow floats decoded). */
export function numbersOf(t: Tensor, ctx: KernelContext): NumArray {
  if (isBitsDType(t.dtype)) return decodeBits(t.dtype, t.data as Uint8Array | Uint16Array);
  if (!isPlainNumDType(t.dtype)) throw dtypeError(ctx, t.dtype);
  return t.data as NumArray;
}

/** Scratch storage for computing `n` elements of `dtype`: Float32Array for narrow floats, else the dtype's own storage. */
export function workArray(dtype: DType, n: number): Values {
  if (isBitsDType(dtype)) return new Float32Array(n);
  return allocData(dtype, n) as Values;
}

/** Wrap computed values as a tensor of `dtype`, encoding narrow floats. */
export function finish(dtype: DType, shape: readonly number[], work: Values): Tensor {
  if (isBitsDType(dtype)) return new Tensor(dtype, shape, encodeBits(dtype, work as Float32Array));
  return new Tensor(dtype, shape, work);
}

/** Elementwise unary map over numbers, result in `outDtype` (defaults to the input dtype). */
export function mapNumbers(t: Tensor, ctx: KernelContext, f: (x: number) => number, outDtype: DType = t.dtype): Tensor {
  const x = numbersOf(t, ctx);
  const n = x.length;
  const o = workArray(outDtype, n) as NumArray;
  for (let i = 0; i < n; i++) o[i] = f(x[i]!);
  return finish(outDtype, t.shape, o);
}

/** Elementwise unary map over bigints (int64/uint64). */
export function mapBigints(t: Tensor, f: (x: bigint) => bigint, outDtype: DType = t.dtype): Tensor {
  const x = t.data as BigArray;
  const o = allocData(outDtype, x.length) as BigArray;
  for (let i = 0; i < x.length; i++) o[i] = f(x[i]!);
  return new Tensor(outDtype, t.shape, o);
}

/**
 * How an input reaches the output under broadcasting, as one of:
 * - 'full': same shape as the output;
 * - 'block': indexed by `floor(k / inner) % mid` (its non-1 dims are one contiguous run of the
 *   output's dims — covers scalars, bias rows and per-channel columns);
 * - 'map': anything else (handled by the generic strided loop, `stridedLoop`).
 */
export interface BroadcastPlan {
  shape: number[];
  n: number;
  outer: number;
  mid: number;
  inner: number;
  kind: 'full' | 'block' | 'map';
}

export function planBroadcast(inShape: readonly number[], outShape: readonly number[]): BroadcastPlan {
  const n = sizeOf(outShape);
  const rank = outShape.length;
  const padded = new Array<number>(rank - inShape.length).fill(1).concat(inShape);
  let first = -1;
  let last = -1;
  let full = true;
  for (let d = 0; d < rank; d++) {
    if (padded[d] !== outShape[d]) full = false;
    if (padded[d] !== 1) {
      if (first < 0) first = d;
      last = d;
    }
  }
  if (full) return { shape: outShape.slice(), n, outer: 1, mid: n, inner: 1, kind: 'full' };
  if (first < 0) return { shape: outShape.slice(), n, outer: n, mid: 1, inner: 1, kind: 'block' };
  for (let d = first; d <= last; d++) {
    if (padded[d] !== outShape[d]) return { shape: outShape.slice(), n, outer: 0, mid: 0, inner: 0, kind: 'map' };
  }
  const outer = sizeOf(outShape.slice(0, first));
  const mid = sizeOf(outShape.slice(first, last + 1));
  const inner = sizeOf(outShape.slice(last + 1));
  return { shape: outShape.slice(), n, outer, mid, inner, kind: 'block' };
}

/**
 * A broadcast iteration reduced to its essentials: output dims (outermost first) after dropping
 * size-1 dims and merging dims that every input walks contiguously, with each input's element
 * stride per dim (0 where it broadcasts). `[64,1,56] ⊕ [56,1] → [64,56,56]` stays 3-D; a bias
 * `[C]` over `[N,C]` becomes dims [N, C] with strides [C, 1] and [0, 1].
 */
export interface StridedLoop {
  dims: number[];
  strides: number[][];
}

export function stridedLoop(inShapes: readonly (readonly number[])[], outShape: readonly number[]): StridedLoop {
  const rank = outShape.length;
  const dims: number[] = [];
  const strides: number[][] = inShapes.map(() => []);
  const full = inShapes.map((sh) => stridesOf(new Array<number>(rank - sh.length).fill(1).concat(sh)));
  for (let d = 0; d < rank; d++) {
    const n = outShape[d]!;
    if (n === 1) continue;
    const st = inShapes.map((sh, i) => {
      const pd = d - (rank - sh.length);
      return pd < 0 || sh[pd] === 1 ? 0 : full[i]![d]!;
    });
    const last = dims.length - 1;
    if (last >= 0 && st.every((s, i) => strides[i]![last] === s * n)) {
      dims[last] *= n;
      st.forEach((s, i) => (strides[i]![last] = s));
    } else {
      dims.push(n);
      st.forEach((s, i) => strides[i]!.push(s));
    }
  }
  return { dims, strides };
}

/**
 * Generic broadcasting binary map: `out[k] = f(a[·], b[·])` in output order. Values may be
 * numbers, bigints or strings; `out` is the caller's storage (numbers, bigints or bool bytes).
 * The innermost (merged) dim runs as a strided loop; an odometer moves the outer offsets.
 */
export function binaryMap<A, B, R>(
  a: ArrayLike<A>,
  aShape: readonly number[],
  b: ArrayLike<B>,
  bShape: readonly number[],
  outShape: readonly number[],
  out: { [k: number]: R; length: number },
  f: (x: A, y: B) => R,
): void {
  const total = out.length;
  if (total === 0) return;
  const { dims, strides } = stridedLoop([aShape, bShape], outShape);
  const L = dims.length;
  if (L === 0) {
    out[0] = f(a[0]!, b[0]!);
    return;
  }
  const n = dims[L - 1]!;
  const SA = strides[0]!;
  const SB = strides[1]!;
  const sa = SA[L - 1]!;
  const sb = SB[L - 1]!;
  const idx = new Array<number>(L).fill(0);
  let oa = 0;
  let ob = 0;
  let k = 0;
  for (let it = 0, outer = total / n; it < outer; it++) {
    for (let j = 0, pa = oa, pb = ob; j < n; j++, pa += sa, pb += sb) out[k++] = f(a[pa]!, b[pb]!);
    for (let d = L - 2; d >= 0; d--) {
      oa += SA[d]!;
      ob += SB[d]!;
      if (++idx[d]! < dims[d]!) break;
      oa -= SA[d]! * dims[d]!;
      ob -= SB[d]! * dims[d]!;
      idx[d] = 0;
    }
  }
}

/** Output shape of a broadcasting op over tensors (E_SHAPE_MISMATCH when they do not broadcast). */
export function outShapeOf(ts: readonly Tensor[], ctx: KernelContext): number[] {
  return broadcastShapes(ts.map((t) => t.shape), ctx);
}

// ---- float32 fast paths -------------------------------------------------------------------------

/** The four arithmetic ops models hit constantly; others use the generic path. */
export type F32Op = 'add' | 'sub' | 'mul' | 'div';

type BlockLoop = (x: Float32Array, y: Float32Array, o: Float32Array, outer: number, mid: number, inner: number) => void;

// One literal per op and direction so each loop stays monomorphic (V8 inlines the arithmetic).
// `x` is full-shape, `y` is block-indexed (see BroadcastPlan); the `r*` variants compute f(y, x).
const BLOCK: Record<F32Op | 'rsub' | 'rdiv', BlockLoop> = {
  add: (x, y, o, outer, mid, inner) => {
    let k = 0;
    for (let p = 0; p < outer; p++) for (let m = 0; m < mid; m++) { const v = y[m]!; for (const e = k + inner; k < e; k++) o[k] = x[k]! + v; }
  },
  sub: (x, y, o, outer, mid, inner) => {
    let k = 0;
    for (let p = 0; p < outer; p++) for (let m = 0; m < mid; m++) { const v = y[m]!; for (const e = k + inner; k < e; k++) o[k] = x[k]! - v; }
  },
  rsub: (x, y, o, outer, mid, inner) => {
    let k = 0;
    for (let p = 0; p < outer; p++) for (let m = 0; m < mid; m++) { const v = y[m]!; for (const e = k + inner; k < e; k++) o[k] = v - x[k]!; }
  },
  mul: (x, y, o, outer, mid, inner) => {
    let k = 0;
    for (let p = 0; p < outer; p++) for (let m = 0; m < mid; m++) { const v = y[m]!; for (const e = k + inner; k < e; k++) o[k] = x[k]! * v; }
  },
  div: (x, y, o, outer, mid, inner) => {
    let k = 0;
    for (let p = 0; p < outer; p++) for (let m = 0; m < mid; m++) { const v = y[m]!; for (const e = k + inner; k < e; k++) o[k] = x[k]! / v; }
  },
  rdiv: (x, y, o, outer, mid, inner) => {
    let k = 0;
    for (let p = 0; p < outer; p++) for (let m = 0; m < mid; m++) { const v = y[m]!; for (const e = k + inner; k < e; k++) o[k] = v / x[k]!; }
  },
};

// Scalar (`y` has one element) and row (`inner` = 1) variants avoid the short innermost loop.
const SCALAR: Record<F32Op | 'rsub' | 'rdiv', (x: Float32Array, v: number, o: Float32Array) => void> = {
  add: (x, v, o) => { for (let k = 0; k < o.length; k++) o[k] = x[k]! + v; },
  sub: (x, v, o) => { for (let k = 0; k < o.length; k++) o[k] = x[k]! - v; },
  rsub: (x, v, o) => { for (let k = 0; k < o.length; k++) o[k] = v - x[k]!; },
  mul: (x, v, o) => { for (let k = 0; k < o.length; k++) o[k] = x[k]! * v; },
  div: (x, v, o) => { for (let k = 0; k < o.length; k++) o[k] = x[k]! / v; },
  rdiv: (x, v, o) => { for (let k = 0; k < o.length; k++) o[k] = v / x[k]!; },
};

const ROW: Record<F32Op | 'rsub' | 'rdiv', (x: Float32Array, y: Float32Array, o: Float32Array, outer: number, mid: number) => void> = {
  add: (x, y, o, outer, mid) => { let k = 0; for (let p = 0; p < outer; p++) for (let m = 0; m < mid; m++, k++) o[k] = x[k]! + y[m]!; },
  sub: (x, y, o, outer, mid) => { let k = 0; for (let p = 0; p < outer; p++) for (let m = 0; m < mid; m++, k++) o[k] = x[k]! - y[m]!; },
  rsub: (x, y, o, outer, mid) => { let k = 0; for (let p = 0; p < outer; p++) for (let m = 0; m < mid; m++, k++) o[k] = y[m]! - x[k]!; },
  mul: (x, y, o, outer, mid) => { let k = 0; for (let p = 0; p < outer; p++) for (let m = 0; m < mid; m++, k++) o[k] = x[k]! * y[m]!; },
  div: (x, y, o, outer, mid) => { let k = 0; for (let p = 0; p < outer; p++) for (let m = 0; m < mid; m++, k++) o[k] = x[k]! / y[m]!; },
  rdiv: (x, y, o, outer, mid) => { let k = 0; for (let p = 0; p < outer; p++) for (let m = 0; m < mid; m++, k++) o[k] = y[m]! / x[k]!; },
};

const FLAT: Record<F32Op, (x: Float32Array, y: Float32Array, o: Float32Array) => void> = {
  add: (x, y, o) => { for (let k = 0; k < o.length; k++) o[k] = x[k]! + y[k]!; },
  sub: (x, y, o) => { for (let k = 0; k < o.length; k++) o[k] = x[k]! - y[k]!; },
  mul: (x, y, o) => { for (let k = 0; k < o.length; k++) o[k] = x[k]! * y[k]!; },
  div: (x, y, o) => { for (let k = 0; k < o.length; k++) o[k] = x[k]! / y[k]!; },
};

function block(op: F32Op | 'rsub' | 'rdiv', x: Float32Array, y: Float32Array, o: Float32Array, p: BroadcastPlan): void {
  if (p.mid === 1) SCALAR[op](x, y[0]!, o);
  else if (p.inner === 1) ROW[op](x, y, o, p.outer, p.mid);
  else BLOCK[op](x, y, o, p.outer, p.mid, p.inner);
}

/**
 * float32 Add/Sub/Mul/Div with the specialised loops when one side is full-shape and the other a
 * block broadcast; returns undefined when the shapes need the generic path.
 */
export function f32Binary(op: F32Op, a: Tensor, b: Tensor, outShape: readonly number[]): Tensor | undefined {
  const pa = planBroadcast(a.shape, outShape);
  const pb = planBroadcast(b.shape, outShape);
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  const fullA = pa.kind === 'full';
  const fullB = pb.kind === 'full';
  if (!(fullA && (fullB || pb.kind === 'block')) && !(fullB && pa.kind === 'block')) return undefined;
  const o = allocData('float32', pa.n) as Float32Array;
  if (fullA && fullB) FLAT[op](x, y, o);
  else if (fullA) block(op, x, y, o, pb);
  else block(op === 'sub' ? 'rsub' : op === 'div' ? 'rdiv' : op, y, x, o, pa);
  return new Tensor('float32', outShape, o);
}

// ---- scalar math the JS Math object lacks -------------------------------------------------------

/** Taylor coefficients of erf(x)·√π/(2x) in powers of x²: (-1)^n / (n! (2n+1)), n = 0…12 (|x| < 0.5: error ~1e-18). */
const ERF_TAYLOR: Float64Array = (() => {
  const c = new Float64Array(13);
  let fact = 1;
  for (let n = 0; n < c.length; n++) {
    if (n > 0) fact *= n;
    c[n] = (n % 2 ? -1 : 1) / (fact * (2 * n + 1));
  }
  return c;
})();
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** erf(x): fixed Taylor polynomial near 0 (keeps relative accuracy for tiny x), Chebyshev erfc fit elsewhere (|ε| < 1.2e-7). */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 0.5) {
    const x2 = x * x;
    let p = ERF_TAYLOR[12]!;
    for (let n = 11; n >= 0; n--) p = p * x2 + ERF_TAYLOR[n]!;
    return TWO_OVER_SQRT_PI * x * p;
  }
  if (ax !== ax) return NaN;
  const t = 1 / (1 + 0.5 * ax);
  const erfc =
    t *
    Math.exp(
      -ax * ax -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - erfc : erfc - 1;
}

/** Round half to even (ONNX Round, numpy.round). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : r;
}
