/**
 * CPU kernels: indexing ops (Gather, GatherElements, GatherND, Scatter, ScatterElements, ScatterND,
 * OneHot, NonZero, Unique, Compress, ReverseSequence).
 *
 * Gathers and plain scatters copy raw storage (copy.ts) so they work for every dtype; scatter
 * reductions compute in the element type (bigint for int64, decoded floats for float16/bfloat16).
 * Indices are validated: negative ones wrap once, anything still out of range is E_SHAPE_MISMATCH.
 * Spec: https://onnx.ai/onnx/operators/onnx__GatherND.html, …/onnx__ScatterElements.html,
 * …/onnx__Unique.html.
 */
import { isBigIntDType, isBitsDType } from '../../ir/dtype.js';
import { RosettaError } from '../../ir/errors.js';
import { checkedSize, elementToNumber, setElement, stridesOf, Tensor } from '../../ir/tensor.js';
import type { Value } from '../../runtime/value.js';
import { cloneTensor, gatherBlocks, int64Tensor, intValues, rawView } from './copy.js';
import type { KernelContext, KernelTable } from './kernel.js';
import { normAxis, tensorIn } from './util.js';
import { INT64_HI, INT64_LO, int64Words } from './nn-util.js';

function shapeErr(ctx: KernelContext, msg: string): RosettaError {
  return new RosettaError('E_SHAPE_MISMATCH', msg, { where: { node: ctx.node.name } });
}

function prod(xs: readonly number[]): number {
  return xs.reduce((a, b) => a * b, 1);
}

/** Index values with negative ones wrapped against `dim`; out-of-range is a typed error. */
function wrapIndices(t: Tensor, dim: number, ctx: KernelContext, what: string): number[] {
  const idx = intValues(t, `${ctx.node.opType} ${what}`, ctx.node.name);
  for (let i = 0; i < idx.length; i++) {
    let v = idx[i]!;
    if (v < 0) v += dim;
    if (v < 0 || v >= dim) throw shapeErr(ctx, `${ctx.node.opType} ${what} ${idx[i]} out of range for dimension ${dim}`);
    idx[i] = v;
  }
  return idx;
}

/** Slices `idx` of `x` along `axis`, in order (np.take). */
export function takeAlong(x: Tensor, axis: number, idx: readonly number[], idxShape: readonly number[] = [idx.length]): Tensor {
  const outer = prod(x.shape.slice(0, axis));
  const dim = x.shape[axis]!;
  const inner = prod(x.shape.slice(axis + 1));
  const outShape = [...x.shape.slice(0, axis), ...idxShape, ...x.shape.slice(axis + 1)];
  const offsets = new Float64Array(outer * idx.length);
  for (let o = 0, k = 0; o < outer; o++) for (let j = 0; j < idx.length; j++) offsets[k++] = (o * dim + idx[j]!) * inner;
  return gatherBlocks(x, outShape, offsets, inner);
}

function Gather(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const it = tensorIn(inputs, 1, ctx);
  const axis = normAxis(ctx.attrs.int('axis', 0), x.rank, ctx);
  return [takeAlong(x, axis, wrapIndices(it, x.shape[axis]!, ctx, 'index'), it.shape)];
}

/** For each element of `shape` (row-major), its multi-index digit along `axis` removed: base offsets. */
function elementsAlongAxis(dataShape: readonly number[], idxShape: readonly number[], axis: number, idx: readonly number[]): Float64Array {
  const ds = stridesOf(dataShape);
  const n = idx.length;
  const out = new Float64Array(n);
  const r = idxShape.length;
  const pos = new Array<number>(r).fill(0);
  let base = 0; // Σ pos_d·ds_d over d ≠ axis
  for (let i = 0; i < n; i++) {
    out[i] = base + idx[i]! * ds[axis]!;
    for (let d = r - 1; d >= 0; d--) {
      pos[d]!++;
      if (d !== axis) base += ds[d]!;
      if (pos[d]! < idxShape[d]!) break;
      if (d !== axis) base -= ds[d]! * pos[d]!;
      pos[d] = 0;
    }
  }
  return out;
}

function GatherElements(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const it = tensorIn(inputs, 1, ctx);
  const axis = normAxis(ctx.attrs.int('axis', 0), x.rank, ctx);
  if (it.rank !== x.rank || it.shape.some((d, i) => i !== axis && d > x.shape[i]!)) throw shapeErr(ctx, `GatherElements indices [${it.shape.join(', ')}] do not fit data [${x.shape.join(', ')}]`);
  const idx = wrapIndices(it, x.shape[axis]!, ctx, 'index');
  return [gatherBlocks(x, it.shape, elementsAlongAxis(x.shape, it.shape, axis, idx), 1)];
}

/** Shared GatherND/ScatterND index arithmetic: offsets of each addressed slice and the slice size. */
function ndOffsets(data: Tensor, it: Tensor, batchDims: number, ctx: KernelContext): { offsets: Float64Array; block: number; sliceShape: number[] } {
  const q = it.rank;
  const k = it.shape[q - 1] ?? 0;
  if (q < 1 || batchDims < 0 || batchDims >= q || k > data.rank - batchDims) throw shapeErr(ctx, `${ctx.node.opType} indices [${it.shape.join(', ')}] do not fit data [${data.shape.join(', ')}] with batch_dims ${batchDims}`);
  for (let i = 0; i < batchDims; i++) if (it.shape[i] !== data.shape[i]) throw shapeErr(ctx, `${ctx.node.opType} batch dim ${i} differs: data ${data.shape[i]}, indices ${it.shape[i]}`);
  const raw = intValues(it, `${ctx.node.opType} indices`, ctx.node.name);
  const ds = stridesOf(data.shape);
  const sliceShape = data.shape.slice(batchDims + k);
  const block = prod(sliceShape);
  const batches = prod(data.shape.slice(0, batchDims));
  const perBatch = prod(it.shape.slice(batchDims, q - 1));
  const batchStride = batchDims > 0 ? ds[batchDims - 1]! : 0;
  const offsets = new Float64Array(batches * perBatch);
  for (let b = 0, n = 0; b < batches; b++) {
    for (let j = 0; j < perBatch; j++, n++) {
      let off = b * batchStride;
      for (let t = 0; t < k; t++) {
        const dim = data.shape[batchDims + t]!;
        let v = raw[n * k + t]!;
        if (v < 0) v += dim;
        if (v < 0 || v >= dim) throw shapeErr(ctx, `${ctx.node.opType} index ${raw[n * k + t]} out of range for dimension ${dim}`);
        off += v * ds[batchDims + t]!;
      }
      offsets[n] = off;
    }
  }
  return { offsets, block, sliceShape };
}

function GatherND(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const it = tensorIn(inputs, 1, ctx);
  const { offsets, block, sliceShape } = ndOffsets(x, it, ctx.attrs.int('batch_dims', 0), ctx);
  return [gatherBlocks(x, [...it.shape.slice(0, -1), ...sliceShape], offsets, block)];
}

type Reduction = 'none' | 'add' | 'mul' | 'max' | 'min';

/**
 * Writes updates[si…si+n) into out[di…di+n) under `reduction`, computing in the element type:
 * bigint for 64-bit ints, float32 rounding for float32, decode/encode for narrow floats.
 */
function makeCombiner(out: Tensor, upd: Tensor, reduction: Reduction, ctx: KernelContext): (di: number, si: number, n: number) => void {
  if (reduction === 'none') {
    const d = rawView(out.data, out.dtype);
    const s = rawView(upd.data, upd.dtype);
    return (di, si, n) => {
      const w = d.w;
      if (Array.isArray(s.a)) for (let k = 0; k < n * w; k++) (d.a as string[])[di * w + k] = s.a[si * w + k]!;
      else (d.a as typeof s.a).set(s.a.subarray(si * w, (si + n) * w), di * w);
    };
  }
  if (out.dtype === 'string' || out.dtype === 'bool' || out.dtype.startsWith('complex')) {
    throw new RosettaError('E_UNSUPPORTED_DTYPE', `${ctx.node.opType} reduction '${reduction}' is not defined for ${out.dtype}`, { where: { node: ctx.node.name } });
  }
  if (isBigIntDType(out.dtype)) {
    const d = out.data as BigInt64Array;
    const s = upd.data as BigInt64Array;
    const f = reduction === 'add' ? (a: bigint, b: bigint) => a + b : reduction === 'mul' ? (a: bigint, b: bigint) => a * b : reduction === 'max' ? (a: bigint, b: bigint) => (a > b ? a : b) : (a: bigint, b: bigint) => (a < b ? a : b);
    return (di, si, n) => {
      for (let k = 0; k < n; k++) d[di + k] = f(d[di + k]!, s[si + k]!);
    };
  }
  const f = reduction === 'add' ? (a: number, b: number) => a + b : reduction === 'mul' ? (a: number, b: number) => a * b : reduction === 'max' ? (a: number, b: number) => (a > b || Number.isNaN(a) ? a : b) : (a: number, b: number) => (a < b || Number.isNaN(a) ? a : b);
  if (isBitsDType(out.dtype)) {
    return (di, si, n) => {
      for (let k = 0; k < n; k++) setElement(out, di + k, f(elementToNumber(out, di + k), elementToNumber(upd, si + k)));
    };
  }
  // Plain typed arrays round/wrap on store, which is the element-type arithmetic we want.
  const d = out.data as Float64Array;
  const s = upd.data as Float64Array;
  return (di, si, n) => {
    for (let k = 0; k < n; k++) d[di + k] = f(d[di + k]!, s[si + k]!);
  };
}

function reductionAttr(ctx: KernelContext): Reduction {
  const r = ctx.attrs.string('reduction', 'none');
  if (r !== 'none' && r !== 'add' && r !== 'mul' && r !== 'max' && r !== 'min') {
    throw new RosettaError('E_INVALID_ATTR', `${ctx.node.opType} reduction '${r}' is not none, add, mul, max or min`, { where: { node: ctx.node.name } });
  }
  return r;
}

/**
 * 1-D float ScatterElements with reduction 'add' and int64 indices, the form of MaxPool's gradient
 * (src/runtime/grad-rules/nn.ts): indices are read as 32-bit words (no BigInt per element) and
 * accumulated straight into the output, with the same float arithmetic as the generic combiner.
 * Returns undefined when an index is out of [-dim, dim) (or needs more than 32 bits), leaving the
 * generic path to report it.
 */
function scatterAddFlat(x: Tensor, idx: BigInt64Array, upd: Float32Array | Float64Array): Tensor | undefined {
  const dim = x.shape[0]!;
  const words = int64Words(idx);
  const out = cloneTensor(x);
  const d = out.data as Float32Array | Float64Array;
  // Indices in [0, min(dim, 2³¹)) — all of them for MaxPool's gradient — take a loop with one
  // well-predicted test; the first other index hands over to the careful loop below.
  const i0 = d instanceof Float32Array && upd instanceof Float32Array ? scatterAddPlain32(d, words, upd, dim) : 0;
  const lo = INT64_LO;
  const hi = INT64_HI;
  for (let i = i0; i < idx.length; i++) {
    const h = words[2 * i + hi]!;
    let v = words[2 * i + lo]!;
    if (h === 0) v = v >>> 0;
    else if (h !== -1 || v >= 0) return undefined;
    if (v < 0) v += dim;
    if (v < 0 || v >= dim) return undefined;
    d[v] += upd[i]!;
  }
  return out;
}

/**
 * d[i] += u[k] for the leading indices i = idx[k] (int64 words) with 0 ≤ i < dim and i < 2³¹;
 * returns how many were applied (stops at the first other one). Monomorphic float32 so the JIT
 * keeps d and u unboxed (self time per seed-CNN training step in a --cpu-prof run: 2.5 → 0.6 ms).
 */
function scatterAddPlain32(d: Float32Array, words: Int32Array, u: Float32Array, dim: number): number {
  const lo = INT64_LO;
  const hi = INT64_HI;
  const n = u.length;
  for (let k = 0; k < n; k++) {
    const i = words[2 * k + lo]!;
    if ((words[2 * k + hi]! | 0) !== 0 || i < 0 || i >= dim) return k;
    d[i] += u[k]!;
  }
  return n;
}

function ScatterElements(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const it = tensorIn(inputs, 1, ctx);
  const u = tensorIn(inputs, 2, ctx);
  const axis = normAxis(ctx.attrs.int('axis', 0), x.rank, ctx);
  if (u.dtype !== x.dtype) throw new RosettaError('E_DTYPE_MISMATCH', `${ctx.node.opType} updates are ${u.dtype}, data is ${x.dtype}`, { where: { node: ctx.node.name } });
  if (it.rank !== x.rank || u.rank !== x.rank || it.shape.some((d, i) => d !== u.shape[i] || (i !== axis && d > x.shape[i]!))) {
    throw shapeErr(ctx, `${ctx.node.opType} indices [${it.shape.join(', ')}] / updates [${u.shape.join(', ')}] do not fit data [${x.shape.join(', ')}]`);
  }
  const reduction = ctx.node.opType === 'Scatter' ? 'none' : reductionAttr(ctx);
  if (x.rank === 1 && reduction === 'add' && it.dtype === 'int64' && (x.dtype === 'float32' || x.dtype === 'float64')) {
    const fast = scatterAddFlat(x, it.data as BigInt64Array, u.data as Float32Array | Float64Array);
    if (fast) return [fast];
  }
  const idx = wrapIndices(it, x.shape[axis]!, ctx, 'index');
  const offsets = elementsAlongAxis(x.shape, it.shape, axis, idx);
  const out = cloneTensor(x);
  const put = makeCombiner(out, u, reduction, ctx);
  for (let i = 0; i < offsets.length; i++) put(offsets[i]!, i, 1);
  return [out];
}

function ScatterND(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const it = tensorIn(inputs, 1, ctx);
  const u = tensorIn(inputs, 2, ctx);
  if (u.dtype !== x.dtype) throw new RosettaError('E_DTYPE_MISMATCH', `ScatterND updates are ${u.dtype}, data is ${x.dtype}`, { where: { node: ctx.node.name } });
  const { offsets, block, sliceShape } = ndOffsets(x, it, 0, ctx);
  const expect = [...it.shape.slice(0, -1), ...sliceShape];
  if (expect.length !== u.rank || expect.some((d, i) => d !== u.shape[i])) throw shapeErr(ctx, `ScatterND updates [${u.shape.join(', ')}] should be [${expect.join(', ')}]`);
  const out = cloneTensor(x);
  const put = makeCombiner(out, u, reductionAttr(ctx), ctx);
  for (let i = 0; i < offsets.length; i++) put(offsets[i]!, i * block, block);
  return [out];
}

function OneHot(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const it = tensorIn(inputs, 0, ctx);
  const depthT = tensorIn(inputs, 1, ctx);
  const values = tensorIn(inputs, 2, ctx);
  if (values.size !== 2) throw shapeErr(ctx, `OneHot values must hold [off, on], has ${values.size} elements`);
  const depth = Math.trunc(depthT.get(0));
  if (!(depth > 0)) throw shapeErr(ctx, `OneHot depth ${depthT.get(0)} must be positive`);
  const r = it.rank + 1;
  const axis = normAxis(ctx.attrs.int('axis', -1), r, ctx);
  const outShape = [...it.shape.slice(0, axis), depth, ...it.shape.slice(axis)];
  checkedSize(outShape, 'OneHot output');
  const outer = prod(it.shape.slice(0, axis));
  const inner = prod(it.shape.slice(axis));
  const idx = it.toNumbers();
  const sel = new Float64Array(outer * depth * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      let v = Math.trunc(idx[o * inner + j]!);
      if (v < 0) v += depth;
      if (v >= 0 && v < depth) sel[(o * depth + v) * inner + j] = 1;
    }
  }
  return [gatherBlocks(values, outShape, sel, 1)];
}

function isNonZero(t: Tensor, i: number): boolean {
  const v = (t.data as ArrayLike<unknown>)[i];
  if (typeof v === 'string') return v !== '';
  if (typeof v === 'bigint') return v !== 0n;
  return isBitsDType(t.dtype) ? elementToNumber(t, i) !== 0 : v !== 0;
}

function NonZero(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const hits: number[] = [];
  for (let i = 0; i < x.size; i++) if (isNonZero(x, i)) hits.push(i);
  const r = x.rank;
  const strides = stridesOf(x.shape);
  const out = new BigInt64Array(r * hits.length);
  for (let j = 0; j < hits.length; j++) {
    let rem = hits[j]!;
    for (let d = 0; d < r; d++) {
      out[d * hits.length + j] = BigInt(Math.floor(rem / strides[d]!));
      rem %= strides[d]!;
    }
  }
  return [new Tensor('int64', [r, hits.length], out)];
}

/** Element values in a comparable form: bigint for 64-bit ints, strings, numbers otherwise. */
function comparable(t: Tensor): (number | bigint | string)[] {
  const d = t.data as ArrayLike<number | bigint | string>;
  if (Array.isArray(t.data) || isBigIntDType(t.dtype)) return Array.from(d);
  return t.toNumbers();
}

function cmp(a: number | bigint | string, b: number | bigint | string): number {
  if (a === b) return 0;
  if (typeof a === 'number' && Number.isNaN(a)) return typeof b === 'number' && Number.isNaN(b) ? 0 : 1;
  if (typeof b === 'number' && Number.isNaN(b)) return -1;
  return a < b ? -1 : 1;
}

function Unique(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  let x = tensorIn(inputs, 0, ctx);
  const sorted = ctx.attrs.int('sorted', 1) !== 0;
  let axis: number;
  if (ctx.attrs.has('axis')) axis = normAxis(ctx.attrs.int('axis'), x.rank, ctx);
  else {
    x = x.reshape([x.size]);
    axis = 0;
  }
  const vals = comparable(x);
  const dim = x.shape[axis]!;
  const outer = prod(x.shape.slice(0, axis));
  const inner = prod(x.shape.slice(axis + 1));
  // Slice s along axis as a key vector (outer-major, then inner): lexicographic order = numpy's.
  const slice = (s: number): (number | bigint | string)[] => {
    const key: (number | bigint | string)[] = [];
    for (let o = 0; o < outer; o++) for (let j = 0; j < inner; j++) key.push(vals[(o * dim + s) * inner + j]!);
    return key;
  };
  const keys = Array.from({ length: dim }, (_, s) => slice(s));
  const keyCmp = (a: number, b: number): number => {
    const ka = keys[a]!;
    const kb = keys[b]!;
    for (let i = 0; i < ka.length; i++) {
      const c = cmp(ka[i]!, kb[i]!);
      if (c) return c;
    }
    return 0;
  };
  // Group equal slices; first occurrence order, then sort groups if asked.
  const order = [...Array(dim).keys()].sort((a, b) => keyCmp(a, b) || a - b);
  const groupOf = new Int32Array(dim);
  const firsts: number[] = [];
  const counts: number[] = [];
  for (let i = 0; i < order.length; i++) {
    const s = order[i]!;
    if (i === 0 || keyCmp(order[i - 1]!, s) !== 0) {
      firsts.push(s);
      counts.push(0);
    }
    groupOf[s] = firsts.length - 1;
    counts[firsts.length - 1]!++;
  }
  let groups = [...firsts.keys()];
  if (!sorted) groups.sort((a, b) => firsts[a]! - firsts[b]!);
  else groups = groups.slice();
  const rank = new Int32Array(groups.length);
  groups.forEach((g, i) => (rank[g] = i));
  const y = takeAlong(x, axis, groups.map((g) => firsts[g]!));
  const indices = int64Tensor([groups.length], groups.map((g) => firsts[g]!));
  const inverse = int64Tensor([dim], Array.from(groupOf, (g) => rank[g]!));
  const cnt = int64Tensor([groups.length], groups.map((g) => counts[g]!));
  return [y, indices, inverse, cnt];
}

function Compress(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  let x = tensorIn(inputs, 0, ctx);
  const cond = tensorIn(inputs, 1, ctx);
  let axis: number;
  if (ctx.attrs.has('axis')) axis = normAxis(ctx.attrs.int('axis'), x.rank, ctx);
  else {
    x = x.reshape([x.size]);
    axis = 0;
  }
  if (cond.rank !== 1) throw shapeErr(ctx, `Compress condition must be 1-D, got [${cond.shape.join(', ')}]`);
  const dim = x.shape[axis]!;
  const keep: number[] = [];
  for (let i = 0; i < cond.size; i++) {
    if (!isNonZero(cond, i)) continue;
    if (i >= dim) throw shapeErr(ctx, `Compress condition selects index ${i} beyond dimension ${dim}`);
    keep.push(i);
  }
  return [takeAlong(x, axis, keep)];
}

function ReverseSequence(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const lensT = tensorIn(inputs, 1, ctx);
  const batchAxis = normAxis(ctx.attrs.int('batch_axis', 1), x.rank, ctx);
  const timeAxis = normAxis(ctx.attrs.int('time_axis', 0), x.rank, ctx);
  if (x.rank < 2 || batchAxis === timeAxis) throw shapeErr(ctx, `ReverseSequence needs distinct batch and time axes of a rank ≥ 2 input`);
  const lens = intValues(lensT, 'ReverseSequence sequence_lens', ctx.node.name);
  const B = x.shape[batchAxis]!;
  const T = x.shape[timeAxis]!;
  if (lens.length !== B || lens.some((l) => l < 0 || l > T)) throw shapeErr(ctx, `ReverseSequence sequence_lens [${lens.join(', ')}] must be ${B} values in [0, ${T}]`);
  const strides = stridesOf(x.shape);
  const n = x.size;
  const offsets = new Float64Array(n);
  const r = x.rank;
  const pos = new Array<number>(r).fill(0);
  for (let i = 0; i < n; i++) {
    const b = pos[batchAxis]!;
    const t = pos[timeAxis]!;
    const st = t < lens[b]! ? lens[b]! - 1 - t : t;
    offsets[i] = i + (st - t) * strides[timeAxis]!;
    for (let d = r - 1; d >= 0; d--) {
      if (++pos[d]! < x.shape[d]!) break;
      pos[d] = 0;
    }
  }
  return [gatherBlocks(x, x.shape, offsets, 1)];
}

export const tensor_opsKernels: KernelTable = {
  Gather,
  GatherElements,
  GatherND,
  Scatter: ScatterElements,
  ScatterElements,
  ScatterND,
  OneHot,
  NonZero,
  Unique,
  Compress,
  ReverseSequence,
};
