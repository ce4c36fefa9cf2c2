/**
 * Weight layout conversions between Keras storage and the IR's ONNX/PyTorch forms, in both
 * directions so the exporters undo exactly what the importers did (bit-identical round trips:
 * every conversion is a pure permutation of elements).
 *
 * - Dense kernel [in, out] ⇄ Gemm weight [out, in] (transB = 1, the PyTorch Linear form)
 * - Conv kernel [k…, in/groups, out] (HWIO) ⇄ [out, in/groups, k…] (OIHW)
 * - DepthwiseConv kernel [k…, C, M] ⇄ [C·M, 1, k…] (group = C)
 * - Conv transpose kernel [k…, out, in] ⇄ [in, out, k…]
 * - LSTM gate blocks Keras (i, f, c, o) ⇄ ONNX (i, o, f, c); GRU keeps (z, r, h)
 * - Dense after Flatten of a channels-last map: kernel rows (h, w, c) ⇄ (c, h, w)
 */
import { Tensor, stridesOf } from '../../ir/tensor.js';
import { stridedCopy } from '../../kernels/cpu/copy.js';
import { transposeAs } from '../../kernels/cpu/shape.js';

export function permute(t: Tensor, perm: number[]): Tensor {
  return transposeAs(t, t.shape, perm);
}

export function invertPerm(perm: number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

/** Reverse the given axes (Theano-backend conv kernels are stored flipped). */
export function flipAxes(t: Tensor, axes: number[]): Tensor {
  const strides = stridesOf(t.shape);
  let base = 0;
  const s = strides.map((st, i) => {
    if (!axes.includes(i)) return st;
    base += (t.shape[i]! - 1) * st;
    return -st;
  });
  return stridedCopy(t, t.shape, s, base);
}

/** Keras conv kernel [k…, cin, cout] → OIHW permutation for spatial rank r. */
export const convPerm = (r: number): number[] => [r + 1, r, ...Array.from({ length: r }, (_, i) => i)];
/** Keras conv-transpose kernel [k…, cout, cin] → [cin, cout, k…]. */
export const convTransposePerm = (r: number): number[] => [r + 1, r, ...Array.from({ length: r }, (_, i) => i)];

export function depthwiseToIR(k: Tensor): Tensor {
  const r = k.shape.length - 2;
  const c = k.shape[r]!;
  const m = k.shape[r + 1]!;
  const p = permute(k, [r, r + 1, ...Array.from({ length: r }, (_, i) => i)]);
  return p.reshape([c * m, 1, ...k.shape.slice(0, r)]);
}

export function depthwiseFromIR(w: Tensor, multiplier: number): Tensor {
  const r = w.shape.length - 2;
  const c = w.shape[0]! / multiplier;
  const v = w.reshape([c, multiplier, ...w.shape.slice(2)]);
  return permute(v, [...Array.from({ length: r }, (_, i) => i + 2), 0, 1]);
}

/**
 * Reorder `nGates` blocks of size `h` along `axis`: output block j = input block order[j].
 */
export function reorderGates(t: Tensor, axis: number, h: number, order: number[]): Tensor {
  const shape = t.shape.slice();
  const n = order.length;
  const out = new Tensor(t.dtype, shape);
  const outer = shape.slice(0, axis).reduce((a, x) => a * x, 1);
  const inner = shape.slice(axis + 1).reduce((a, x) => a * x, 1) * h;
  const src = t.data as Float32Array;
  const dst = out.data as Float32Array;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < n; j++) {
      const srcOff = o * n * inner + order[j]! * inner;
      const dstOff = o * n * inner + j * inner;
      dst.set(src.subarray(srcOff, srcOff + inner), dstOff);
    }
  }
  return out;
}

/** Keras LSTM (i, f, c, o) → ONNX (i, o, f, c): ONNX block j comes from Keras block LSTM_ORDER[j]. */
export const LSTM_ORDER = [0, 3, 1, 2];
export const LSTM_ORDER_INV = invertPerm(LSTM_ORDER);

/**
 * Dense after Flatten of a channels-first-stored map with Keras shape [s…, C]: the IR flattens
 * (C, s…) while the kernel rows are in (s…, C) order. Returns the [out, in] weight with columns
 * permuted to the IR order (and the inverse for export).
 */
export function flattenRowOrder(spatial: number[], channels: number): Int32Array {
  // irIndex (c, s) → kerasIndex (s, c)
  const sp = spatial.reduce((a, x) => a * x, 1);
  const map = new Int32Array(sp * channels);
  for (let c = 0; c < channels; c++) for (let s = 0; s < sp; s++) map[c * sp + s] = s * channels + c;
  return map;
}

/** Columns of a [out, in] matrix gathered: out[:, j] = w[:, map[j]] (or scattered when inverse). */
export function permuteColumns(w: Tensor, map: Int32Array, inverse: boolean): Tensor {
  const [rows, cols] = [w.shape[0]!, w.shape[1]!];
  const out = new Tensor(w.dtype, w.shape);
  const s = w.data as Float32Array;
  const d = out.data as Float32Array;
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let j = 0; j < cols; j++) {
      if (inverse) d[base + map[j]!] = s[base + j]!;
      else d[base + j] = s[base + map[j]!]!;
    }
  }
  return out;
}
