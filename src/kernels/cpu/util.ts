/**
 * Shared helpers for CPU kernels: input checking, broadcasting, axis normalisation and reading
 * small int tensors (shapes, axes, pads) into JS numbers. Every kernel family uses these; do not
 * write a second broadcaster.
 */
import type { DType, TypedArray } from '../../ir/dtype.js';
import { RosettaError } from '../../ir/errors.js';
import { Tensor, elementToNumber, stridesOf } from '../../ir/tensor.js';
import type { Value } from '../../runtime/value.js';
import { isTensor } from '../../runtime/value.js';
import type { KernelContext } from './kernel.js';

/** Input `i` as a tensor, or a typed error naming the node. */
export function tensorIn(inputs: readonly (Value | undefined)[], i: number, ctx: KernelContext): Tensor {
  const v = inputs[i];
  if (!isTensor(v)) {
    throw new RosettaError('E_MISSING_INPUT', `${ctx.node.opType} needs a tensor as input ${i}${v === undefined ? ' (not given)' : ''}`, { where: { node: ctx.node.name } });
  }
  return v;
}

/** Optional input `i`: undefined when omitted or an empty optional. */
export function optTensorIn(inputs: readonly (Value | undefined)[], i: number): Tensor | undefined {
  const v = inputs[i];
  return isTensor(v) ? v : undefined;
}

/** Values of a small integer/float tensor as JS numbers (int64 → number). */
export function toNumbers(t: Tensor): number[] {
  const out = new Array<number>(t.size);
  for (let i = 0; i < out.length; i++) out[i] = elementToNumber(t, i);
  return out;
}

/** Normalise a possibly negative axis for a tensor of `rank`; throws E_INVALID_ATTR when out of range. */
export function normAxis(axis: number, rank: number, ctx?: KernelContext): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= Math.max(rank, 1)) {
    throw new RosettaError('E_INVALID_ATTR', `axis ${axis} out of range for rank ${rank}`, { where: { node: ctx?.node.name } });
  }
  return a;
}

/** Numpy-style broadcast of shapes; throws E_SHAPE_MISMATCH naming the node. */
export function broadcastShapes(shapes: readonly (readonly number[])[], ctx?: KernelContext): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i]!;
      if (out[o] === 1) out[o] = d;
      else if (d !== 1 && d !== out[o]) {
        throw new RosettaError('E_SHAPE_MISMATCH', `shapes ${shapes.map((x) => `[${x.join(', ')}]`).join(' and ')} do not broadcast`, { where: { node: ctx?.node.name } });
      }
    }
  }
  return out;
}

/**
 * For each output element index of `outShape`, the flat index into an input of `inShape`
 * (broadcast). Returns an Int32Array map; cheap enough for the sizes CPU kernels see and lets
 * inner loops be plain indexed reads.
 */
export function broadcastIndex(inShape: readonly number[], outShape: readonly number[]): Int32Array {
  const n = outShape.reduce((a, b) => a * b, 1);
  const map = new Int32Array(n);
  const rank = outShape.length;
  const inStrides = stridesOf(inShape);
  const eff = new Array<number>(rank).fill(0);
  for (let i = 0; i < inShape.length; i++) {
    const o = rank - inShape.length + i;
    eff[o] = inShape[i] === 1 ? 0 : inStrides[i]!;
  }
  // same shape fast path
  if (inShape.length === rank && inShape.every((d, i) => d === outShape[i])) {
    for (let i = 0; i < n; i++) map[i] = i;
    return map;
  }
  const idx = new Array<number>(rank).fill(0);
  let off = 0;
  for (let i = 0; i < n; i++) {
    map[i] = off;
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      off += eff[d]!;
      if (idx[d]! < outShape[d]!) break;
      off -= eff[d]! * idx[d]!;
      idx[d] = 0;
    }
  }
  return map;
}

/** New tensor with the same dtype family from a typed array (no copy). */
export function tensorOf(dtype: DType, shape: readonly number[], data: TypedArray | string[]): Tensor {
  return new Tensor(dtype, shape, data);
}

export function dtypeError(ctx: KernelContext, dtype: DType): RosettaError {
  return new RosettaError('E_UNSUPPORTED_DTYPE', `${ctx.node.opType} does not support ${dtype}`, { where: { node: ctx.node.name } });
}
