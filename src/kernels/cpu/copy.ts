/**
 * Dtype-generic data movement for the shape/tensor kernels (Transpose, Slice, Gather, Tile, Pad…).
 *
 * Those ops never look at element values, only move them, so they work on a *raw view* of the
 * storage: every numeric dtype is seen as unsigned integers of its byte width (Uint8/16/32, with
 * 8-byte and complex elements as 2 or 4 Uint32 words). That keeps one monomorphic copy loop per
 * width instead of one per dtype, preserves NaN payloads and int64 bits exactly, and avoids BigInt
 * boxing. Strings (plain arrays) take the same paths with a word width of 1.
 */
import type { DType, TensorData } from '../../ir/dtype.js';
import { RosettaError } from '../../ir/errors.js';
import { checkedSize, Tensor } from '../../ir/tensor.js';

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
  return new Tensor(dtype, shape);
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
 * With block = 1 this is an element gather; every copy-only kernel reduces to it. A negative
 * offset writes `fill` (a one-element tensor of the same dtype) instead: Pad's constant border.
 */
export function gatherBlocks(src: Tensor, outShape: readonly number[], offsets: ArrayLike<number>, block: number, fill?: Tensor): Tensor {
  const out = newTensor(src.dtype, outShape);
  const s = rawView(src.data, src.dtype);
  const d = rawView(out.data, out.dtype);
  const n = offsets.length;
  if (fill === undefined && block === 1 && s.w === 1 && !Array.isArray(s.a)) {
    const sa = s.a;
    const da = d.a as typeof sa;
    for (let i = 0; i < n; i++) da[i] = sa[offsets[i]!]!;
    return out;
  }
  const f = fill ? rawView(fill.data, fill.dtype) : undefined;
  if (block * s.w <= 8 || Array.isArray(s.a)) {
    const sa = s.a as ArrayLike<unknown> & Record<number, unknown>;
    const da = d.a as unknown as Record<number, unknown>;
    const fa = f?.a as ArrayLike<unknown> | undefined;
    const bw = block * s.w;
    for (let i = 0, o = 0; i < n; i++) {
      const off = offsets[i]!;
      if (off < 0) {
        for (let k = 0; k < bw; k++) da[o++] = fa![k % s.w];
        continue;
      }
      const base = off * s.w;
      for (let k = 0; k < bw; k++) da[o++] = sa[base + k];
    }
    return out;
  }
  for (let i = 0; i < n; i++) {
    const off = offsets[i]!;
    if (off < 0) for (let k = 0; k < block; k++) copyRun(f!, 0, d, i * block + k, 1);
    else copyRun(s, off, d, i * block, block);
  }
  return out;
}

/** Offsets below this mark a fill position in `separableOffsets` tables. */
export const FILL = -(2 ** 40);

/**
 * Element offsets for every index of `outShape` (row-major, the inner `skip` dims left out) where
 * the offset is a sum of per-axis contributions: offset = Σ_d tables[d][idx_d]. Tile, Pad, Slice,
 * Transpose and broadcasting are all of this form. A table entry of `FILL` makes the whole
 * offset negative (a fill position for `gatherBlocks`).
 */
export function separableOffsets(outShape: readonly number[], tables: readonly ArrayLike<number>[], skip = 0): Float64Array {
  const rank = outShape.length - skip;
  let n = 1;
  for (let i = 0; i < rank; i++) n *= outShape[i]!;
  const map = new Float64Array(n);
  if (n === 0) return map;
  const idx = new Array<number>(rank).fill(0);
  let off = 0;
  for (let d = 0; d < rank; d++) off += tables[d]![0]!;
  for (let i = 0; i < n; i++) {
    map[i] = off < 0 ? -1 : off;
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
 * Element offsets into a tensor of `inShape` (strides `inStrides`, possibly 0 or negative, plus
 * `base`) for every index of `outShape`, in row-major order. The inner `skip` output dims are left
 * out (the caller copies them as contiguous blocks), so the result has prod(outShape[:-skip]) entries.
 */
export function stridedOffsets(outShape: readonly number[], strides: readonly number[], base = 0, skip = 0): Int32Array {
  const rank = outShape.length - skip;
  let n = 1;
  for (let i = 0; i < rank; i++) n *= outShape[i]!;
  const map = new Int32Array(n);
  if (n === 0) return map;
  const idx = new Array<number>(rank).fill(0);
  let off = base;
  for (let i = 0; i < n; i++) {
    map[i] = off;
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      off += strides[d]!;
      if (idx[d]! < outShape[d]!) break;
      off -= strides[d]! * idx[d]!;
      idx[d] = 0;
    }
  }
  return map;
}

/**
 * Number of trailing dims (and their element count) over which `strides` are exactly the
 * contiguous row-major strides of `shape`, so those dims can be copied as one block.
 */
export function contiguousTail(shape: readonly number[], strides: readonly number[]): { skip: number; block: number } {
  let block = 1;
  let skip = 0;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (strides[d] !== block) break;
    block *= shape[d]!;
    skip++;
  }
  return { skip, block };
}

/** Strided view copy: out[i…] = src[base + Σ idx_d·strides_d], with contiguous tails block-copied. */
export function stridedCopy(src: Tensor, outShape: readonly number[], strides: readonly number[], base = 0): Tensor {
  checkedSize(outShape, 'output');
  const { skip, block } = contiguousTail(outShape, strides);
  return gatherBlocks(src, outShape, stridedOffsets(outShape, strides, base, skip), block);
}

/** int64 tensor from JS numbers. */
export function int64Tensor(shape: readonly number[], values: ArrayLike<number>): Tensor {
  const data = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i]!);
  return new Tensor('int64', shape, data);
}

/** Copy of a tensor's storage (same dtype and shape, new buffer). */
export function cloneTensor(t: Tensor, shape: readonly number[] = t.shape): Tensor {
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
