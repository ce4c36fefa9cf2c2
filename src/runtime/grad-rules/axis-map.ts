/**
 * The adjoint of a separable per-axis linear map, for the gradients of Pad (edge/reflect/wrap,
 * negative pads) and Resize (nearest/linear/cubic). Both forward ops compute, along each axis
 * independently, `y[i] = Σ_k w[i,k] · x[idx[i,k]]` with tables fixed by the static shapes and
 * attributes; the gradient applies the transposed tables axis by axis, in ONNX ops:
 * - even fan-in (every input position read by about as many outputs: reflect/wrap pads, any
 *   upsampling or downsampling factor): one Gather per fan-in slot along the axis, each scaled by a
 *   per-position weight, added by one Sum. Small index constants, fast ops.
 * - lopsided fan-in (an edge pad much wider than the axis sends every pad position to one border
 *   element): one ScatterElements with reduction 'add' per forward tap slot, so the work stays
 *   linear in the gradient size.
 * Spec of the ops used: https://onnx.ai/onnx/operators/onnx__Gather.html, onnx__ScatterElements.html
 */
import type { DType } from '../../ir/dtype.js';
import { Tensor } from '../../ir/tensor.js';
import type { IrBuilder } from './builder.js';

/**
 * One axis of a separable linear map from an input of length `inLen` to an output of length
 * `outLen`: output position `i` is `Σ_k w[i·n + k] · x[idx[i·n + k]]` for `k < n`; an index of −1
 * means "no input" (a constant, such as Pad's fill value or Resize's extrapolation value).
 */
export interface AxisMap {
  inLen: number;
  outLen: number;
  /** Taps per output position. */
  n: number;
  idx: Int32Array;
  w: Float64Array;
}

/** Up to this fan-in the adjoint always gathers. */
const MAX_GATHER_FANIN = 8;

const int = (value: number) => ({ type: 'int' as const, value });

/** True when the map is the identity (nothing to do along this axis). */
export function isIdentityMap(m: AxisMap): boolean {
  if (m.inLen !== m.outLen) return false;
  for (let i = 0; i < m.outLen; i++) {
    let self = 0;
    for (let k = 0; k < m.n; k++) {
      const w = m.w[i * m.n + k]!;
      const j = m.idx[i * m.n + k]!;
      if (j === i) self += w;
      else if (w !== 0) return false;
    }
    if (self !== 1) return false;
  }
  return true;
}

/**
 * Apply the transpose of `m` along `axis` of `g` (a value of shape `shape`, `shape[axis] ===
 * m.outLen`); the result has `shape` with `shape[axis] = m.inLen`.
 */
export function axisAdjoint(b: IrBuilder, g: string, shape: readonly number[], axis: number, m: AxisMap, dtype: DType): string {
  // Reverse lists: for every input position, the output positions reading it and their weights
  // (a position read twice, e.g. by two clamped taps at a border, gets the summed weight).
  const rev: Map<number, number>[] = Array.from({ length: m.inLen }, () => new Map());
  for (let i = 0; i < m.outLen; i++) {
    for (let k = 0; k < m.n; k++) {
      const j = m.idx[i * m.n + k]!;
      const w = m.w[i * m.n + k]!;
      if (j < 0 || w === 0) continue;
      const r = rev[j]!;
      r.set(i, (r.get(i) ?? 0) + w);
    }
  }
  const fanIn = rev.reduce((p, r) => Math.max(p, r.size), 0);
  const outShape = shape.slice();
  outShape[axis] = m.inLen;
  if (fanIn === 0) return b.zeros(outShape, dtype);
  // Gathering costs fanIn passes over the (input-sized) result, scattering n passes over the
  // (output-sized) gradient; an even fan-in makes them about equal, so gather unless the fan-in is
  // lopsided (a wide edge pad sends everything to one border position).
  const gatherWork = fanIn * m.inLen;
  const scatterWork = m.n * m.outLen;
  const gather = fanIn <= MAX_GATHER_FANIN || gatherWork <= 4 * scatterWork;
  return gather ? gatherAdjoint(b, g, shape, axis, m, rev, fanIn, dtype) : scatterAdjoint(b, g, shape, axis, m, dtype);
}

function gatherAdjoint(b: IrBuilder, g: string, shape: readonly number[], axis: number, m: AxisMap, rev: Map<number, number>[], fanIn: number, dtype: DType): string {
  const rank = shape.length;
  const holes = rev.some((r) => r.size < fanIn);
  // Empty slots read one zero appended at the end of the axis (index outLen), so no 0·g products
  // can turn an infinite gradient somewhere else into NaN.
  let src = g;
  if (holes) {
    const pads = new Array<number>(2 * rank).fill(0);
    pads[rank + axis] = 1;
    src = b.op('Pad', [g, b.ints(pads)]);
  }
  const bshape = shape.map((_, d) => (d === axis ? m.inLen : 1));
  const terms: string[] = [];
  for (let f = 0; f < fanIn; f++) {
    const idx: number[] = [];
    const ws: number[] = [];
    let ones = true;
    for (const r of rev) {
      const e = [...r][f];
      idx.push(e ? e[0] : m.outLen);
      const w = e ? e[1] : 0;
      ws.push(w);
      if (e && w !== 1) ones = false;
    }
    const picked = b.op('Gather', [src, b.ints(idx)], { axis: int(axis) });
    terms.push(ones ? picked : b.mul(picked, b.floats(bshape, ws, dtype)));
  }
  return terms.length === 1 ? terms[0]! : b.op('Sum', terms);
}

function scatterAdjoint(b: IrBuilder, g: string, shape: readonly number[], axis: number, m: AxisMap, dtype: DType): string {
  // Taps with no input go to one extra position past the end, sliced off afterwards.
  const accShape = shape.slice();
  accShape[axis] = m.inLen + 1;
  const bshape = shape.map((_, d) => (d === axis ? m.outLen : 1));
  let acc = b.zeros(accShape, dtype);
  for (let k = 0; k < m.n; k++) {
    const idx: number[] = [];
    const ws: number[] = [];
    for (let i = 0; i < m.outLen; i++) {
      const j = m.idx[i * m.n + k]!;
      const w = m.w[i * m.n + k]!;
      idx.push(j < 0 || w === 0 ? m.inLen : j);
      ws.push(j < 0 ? 0 : w);
    }
    if (idx.every((j) => j === m.inLen)) continue;
    const indices = b.expand(b.reshape(b.ints(idx), bshape), shape);
    const upd = ws.every((w) => w === 1) ? g : b.mul(g, b.constant(Tensor.from(dtype, bshape, ws), 'w'));
    acc = b.op('ScatterElements', [acc, indices, upd], { axis: int(axis), reduction: { type: 'string', value: 'add' } });
  }
  return b.slice(acc, [0], [m.inLen], [axis]);
}
