/**
 * Dtype-generic data movement for the shape/tensor kernels (Transpose, Slice, Gather, Tile, Pad…).
 *
 * Those ops never look at element values, only move them, so they work on a *raw view* of the
 * storage: every numeric dtype is seen as unsigned integers of its byte width (Uint8/16/32, with
 * 8-byte and complex elements as 2 or 4 Uint32 words). That keeps one monomorphic copy loop per
 * width instead of one per dtype, preserves NaN payloads and int64 bits exactly, and avoids BigInt
 * boxing. Strings (plain arrays) take the same paths with a word width of 1.
 */
import { allocData, type DType, type TensorData } from '../../ir/dtype.js';
import { RosettaError } from '../../ir/errors.js';
import { checkedSize, stridesOf, Tensor } from '../../ir/tensor.js';

type RawArray = Uint8Array | Uint16Array | Uint32Array | string[];

/** Storage seen as raw words; `w` words per element. */
export interface RawView {
  a: RawArray;
  w: number;
}

export function rawView(data: TensorData, dtype: DType): RawView {
  if (Array.isArray(data)) return { a: data, w: 1 };
  const bytes = data.BYTES_PER_ELEMENT;
  const perElem = dtype === 'complex64' || dtype === 'complex128' ? 2 : 1;
  if (bytes === 1) return { a: new Uint8Array(data.buffer, data.byteOffset, data.length), w: perElem };
  if (bytes === 2) return { a: new Uint16Array(data.buffer, data.byteOffset, data.length), w: perElem };
  if (bytes === 4) return { a: new Uint32Array(data.buffer, data.byteOffset, data.length), w: perElem };
  // 8-byte elements: two 32-bit words each. Offsets of typed arrays are always element-aligned.
  return { a: new Uint32Array(data.buffer, data.byteOffset, data.length * 2), w: 2 * perElem };
}

/** A zero-filled output tensor of `dtype` and `shape`, with the size checked before allocating. */
export function newTensor(dtype: DType, shape: readonly number[], what = 'output'): Tensor {
  checkedSize(shape, what);
  return guardAlloc(() => new Tensor(dtype, shape), `${what} ${dtype}[${shape.join(', ')}]`);
}

/**
 * Run an allocation, turning the engine's RangeError (a size within MAX_ELEMENTS can still exceed
 * the memory the process may take) into E_TOO_LARGE.
 */
export function guardAlloc<T>(alloc: () => T, what: string): T {
  try {
    return alloc();
  } catch (e) {
    if (e instanceof RangeError) throw new RosettaError('E_TOO_LARGE', `cannot allocate ${what}: ${e.message}`, { hint: 'the model asks for more memory than is available', cause: e });
    throw e;
  }
}

/** Copy `n` elements from src[srcOff…] to dst[dstOff…] (element offsets, raw views of equal width). */
export function copyRun(src: RawView, srcOff: number, dst: RawView, dstOff: number, n: number): void {
  const w = src.w;
  if (Array.isArray(src.a)) {
    const s = src.a;
    const d = dst.a as string[];
    for (let i = 0; i < n * w; i++) d[dstOff * w + i] = s[srcOff * w + i]!;
    return;
  }
  const s = src.a;
  (dst.a as typeof s).set(s.subarray(srcOff * w, (srcOff + n) * w), dstOff * w);
}

/**
 * out = blocks of `block` elements taken from `src` at element offsets `offsets` (in order).
 * With block = 1 this is an element gather: Gather, GatherElements, GatherND, OneHot and
 * ReverseSequence reduce to it.
 */
export function gatherBlocks(src: Tensor, outShape: readonly number[], offsets: ArrayLike<number>, block: number): Tensor {
  const out = newTensor(src.dtype, outShape);
  const s = rawView(src.data, src.dtype);
  const d = rawView(out.data, out.dtype);
  const n = offsets.length;
  if (block === 1 && s.w === 1 && !Array.isArray(s.a)) {
    const sa = s.a;
    const da = d.a as typeof sa;
    for (let i = 0; i < n; i++) da[i] = sa[offsets[i]!]!;
    return out;
  }
  if (block * s.w <= 8 || Array.isArray(s.a)) {
    const sa = s.a as ArrayLike<unknown> & Record<number, unknown>;
    const da = d.a as unknown as Record<number, unknown>;
    const bw = block * s.w;
    for (let i = 0, o = 0; i < n; i++) {
      const base = offsets[i]! * s.w;
      for (let k = 0; k < bw; k++) da[o++] = sa[base + k];
    }
    return out;
  }
  for (let i = 0; i < n; i++) copyRun(s, offsets[i]!, d, i * block, block);
  return out;
}

/**
 * Element offsets for every index of `outShape` (row-major) where the offset is a sum of per-axis
 * contributions: offset = Σ_d tables[d][idx_d]. Pad's edge/reflect/wrap modes use it: each
 * axis maps an output coordinate to a source coordinate independently.
 */
export function separableOffsets(outShape: readonly number[], tables: readonly ArrayLike<number>[]): Float64Array {
  const rank = outShape.length;
  let n = 1;
  for (let i = 0; i < rank; i++) n *= outShape[i]!;
  const map = new Float64Array(n);
  if (n === 0) return map;
  const idx = new Array<number>(rank).fill(0);
  let off = 0;
  for (let d = 0; d < rank; d++) off += tables[d]![0]!;
  for (let i = 0; i < n; i++) {
    map[i] = off;
    for (let d = rank - 1; d >= 0; d--) {
      const t = tables[d]!;
      const k = ++idx[d]!;
      if (k < outShape[d]!) {
        off += t[k]! - t[k - 1]!;
        break;
      }
      off += t[0]! - t[k - 1]!;
      idx[d] = 0;
    }
  }
  return map;
}

/**
 * dst[dstBase + Σ i_d·dstStrides_d] = src[srcBase + Σ i_d·srcStrides_d] for every index i of
 * `shape` (element units, strides may be 0 on the source side). This is the workhorse of
 * Transpose, Slice, Split, Expand, Tile and constant Pad: dims that are contiguous on both sides
 * are merged first, then the two innermost dims are copied as rows (`set`), broadcast fills, or
 * in 32×32 tiles so a transpose touches each cache line once.
 */
export function copyStrided(src: RawView, srcBase: number, srcStrides: readonly number[], dst: RawView, dstBase: number, dstStrides: readonly number[], shape: readonly number[]): void {
  const w = src.w;
  // Words, not elements: scale by the word count and give multi-word elements an inner dim.
  const dims: number[] = [];
  const ss: number[] = [];
  const ds: number[] = [];
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 0) return;
    if (shape[d] === 1) continue;
    dims.push(shape[d]!);
    ss.push(srcStrides[d]! * w);
    ds.push(dstStrides[d]! * w);
  }
  if (w > 1) {
    dims.push(w);
    ss.push(1);
    ds.push(1);
  }
  // Merge d into d+1 where both sides are contiguous across the pair.
  for (let d = dims.length - 2; d >= 0; d--) {
    if (ss[d] === ss[d + 1]! * dims[d + 1]! && ds[d] === ds[d + 1]! * dims[d + 1]!) {
      dims[d + 1]! *= dims[d]!;
      dims.splice(d, 1);
      ss.splice(d, 1);
      ds.splice(d, 1);
    }
  }
  const r = dims.length;
  const sb = srcBase * w;
  const db = dstBase * w;
  if (r === 0) {
    for (let k = 0; k < w; k++) (dst.a as unknown as unknown[])[db + k] = (src.a as unknown as unknown[])[sb + k];
    return;
  }
  const B = dims[r - 1]!;
  const A = r >= 2 ? dims[r - 2]! : 1;
  const sa = r >= 2 ? ss[r - 2]! : 0;
  const da = r >= 2 ? ds[r - 2]! : 0;
  const outer = r - 2;
  const copy2d = copy2dFor(src.a);
  if (outer <= 0) {
    copy2d(src.a, sb, sa, ss[r - 1]!, dst.a, db, da, ds[r - 1]!, A, B);
    return;
  }
  const idx = new Array<number>(outer).fill(0);
  let so = sb;
  let dof = db;
  for (;;) {
    copy2d(src.a, so, sa, ss[r - 1]!, dst.a, dof, da, ds[r - 1]!, A, B);
    let d = outer - 1;
    for (; d >= 0; d--) {
      idx[d]!++;
      so += ss[d]!;
      dof += ds[d]!;
      if (idx[d]! < dims[d]!) break;
      so -= ss[d]! * idx[d]!;
      dof -= ds[d]! * idx[d]!;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

const TILE = 64;

type Copy2d = (src: RawArray, so: number, sa: number, sb: number, dst: RawArray, dof: number, da: number, db: number, A: number, B: number) => void;

/**
 * One A×B block of `copyStrided` (word offsets and strides). Built once per storage kind so each
 * instance's element loads and stores stay monomorphic in the JIT (a shared function would see
 * four array kinds and slow every caller down).
 */
function makeCopy2d(): Copy2d {
  return (src, so, sa, sb, dst, dof, da, db, A, B) => {
    const typed = !Array.isArray(src);
    if (sb === 1 && db === 1 && typed && B >= 16) {
      const s = src as Uint8Array;
      const d = dst as Uint8Array;
      for (let i = 0; i < A; i++) d.set(s.subarray(so + i * sa, so + i * sa + B), dof + i * da);
      return;
    }
    if (sb === 0 && db === 1 && typed) {
      const d = dst as Uint8Array;
      const s = src as Uint8Array;
      for (let i = 0; i < A; i++) d.fill(s[so + i * sa]!, dof + i * da, dof + i * da + B);
      return;
    }
    const s = src as unknown as Record<number, number>;
    const d = dst as unknown as Record<number, number>;
    if (A === 1 || (db === 1 && sb <= 1) || B <= 4) {
      for (let i = 0; i < A; i++) {
        const s0 = so + i * sa;
        const d0 = dof + i * da;
        for (let j = 0; j < B; j++) d[d0 + j * db] = s[s0 + j * sb]!;
      }
      return;
    }
    // Tiled, inner loop along B (the destination-contiguous dim in every caller): streaming
    // writes, and the tile keeps the strided source lines in L1 until they are used up.
    for (let i0 = 0; i0 < A; i0 += TILE) {
      const i1 = Math.min(A, i0 + TILE);
      for (let j0 = 0; j0 < B; j0 += TILE) {
        const j1 = Math.min(B, j0 + TILE);
        let i = i0;
        // Four rows per pass: four neighbouring source reads share a cache line when sa is small.
        for (; i + 4 <= i1; i += 4) {
          let sp = so + i * sa + j0 * sb;
          let dp = dof + i * da + j0 * db;
          for (let j = j0; j < j1; j++, sp += sb, dp += db) {
            d[dp] = s[sp]!;
            d[dp + da] = s[sp + sa]!;
            d[dp + 2 * da] = s[sp + 2 * sa]!;
            d[dp + 3 * da] = s[sp + 3 * sa]!;
          }
        }
        for (; i < i1; i++) {
          let sp = so + i * sa + j0 * sb;
          let dp = dof + i * da + j0 * db;
          for (let j = j0; j < j1; j++, sp += sb, dp += db) d[dp] = s[sp]!;
        }
      }
    }
  };
}

const COPY2D_8 = makeCopy2d();
const COPY2D_16 = makeCopy2d();
const COPY2D_32 = makeCopy2d();
const COPY2D_STR = makeCopy2d();

function copy2dFor(a: RawArray): Copy2d {
  return a instanceof Uint32Array ? COPY2D_32 : a instanceof Uint16Array ? COPY2D_16 : a instanceof Uint8Array ? COPY2D_8 : COPY2D_STR;
}

/** Strided view copy into a new contiguous tensor: out[i…] = src[base + Σ idx_d·strides_d]. */
export function stridedCopy(src: Tensor, outShape: readonly number[], strides: readonly number[], base = 0): Tensor {
  const out = newTensor(src.dtype, outShape);
  copyStrided(rawView(src.data, src.dtype), base, strides, rawView(out.data, out.dtype), 0, stridesOf(outShape), outShape);
  return out;
}

/** Fill every element of `t` with the one element of `value` (same dtype). */
export function fillWith(t: Tensor, value: Tensor): void {
  const d = rawView(t.data, t.dtype);
  const v = rawView(value.data, value.dtype);
  if (d.w === 1) {
    (d.a as Uint8Array).fill((v.a as Uint8Array)[0]!);
    return;
  }
  const da = d.a as Uint32Array;
  const va = v.a as Uint32Array;
  for (let i = 0; i < da.length; i++) da[i] = va[i % d.w]!;
}

/** int64 tensor from JS numbers. */
export function int64Tensor(shape: readonly number[], values: ArrayLike<number>): Tensor {
  const data = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i]!);
  return new Tensor('int64', shape, data);
}

/** Copy of a tensor's storage (same dtype and shape, new buffer). */
export function cloneTensor(t: Tensor, shape: readonly number[] = t.shape): Tensor {
  // Pooled dtypes take their storage from allocData (buffer-pool.ts), so a clone the executor
  // later recycles does not cost fresh pages; the rest slice.
  if (t.dtype === 'float32' || t.dtype === 'float64' || t.dtype === 'int64') {
    const d = allocData(t.dtype, t.size) as Float32Array;
    d.set(t.data as Float32Array);
    return new Tensor(t.dtype, shape, d);
  }
  const data = Array.isArray(t.data) ? t.data.slice() : t.data.slice();
  return new Tensor(t.dtype, shape, data);
}

/** Integer values of an index/shape tensor, rejecting non-integer dtypes. */
export function intValues(t: Tensor, what: string, node?: string): number[] {
  if (!(t.dtype === 'int64' || t.dtype === 'int32' || t.dtype === 'int16' || t.dtype === 'int8' || t.dtype === 'uint8' || t.dtype === 'uint16' || t.dtype === 'uint32' || t.dtype === 'uint64')) {
    throw new RosettaError('E_UNSUPPORTED_DTYPE', `${what} must be an integer tensor, got ${t.dtype}`, { where: { node } });
  }
  const out = new Array<number>(t.size);
  const d = t.data as ArrayLike<number | bigint>;
  for (let i = 0; i < out.length; i++) out[i] = Number(d[i]!);
  return out;
}
