/**
 * Data-driven cases for the elementwise, cast, reduction, loss and linear-algebra kernels that the
 * ONNX conformance suite (opset ≤ 17) does not cover: Gelu (opset 20), float16/bfloat16 math,
 * int64 beyond 2^53, int32 wrap-around, Cast corner cases, TopK ties, Einsum with ellipsis and
 * diagonals, batched Det.
 * Goldens: fixtures/ops/elementwise-goldens.json, written by fixtures/ops/make_elementwise_goldens.py
 * (numpy 1.24 / torch 1.13; the JSON records the versions). Tolerance: the ONNX backend-test one
 * (rtol 1e-3, atol 1e-7); strings, ints and shapes must match exactly.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AttrReader } from '../../src/ir/attrs.js';
import type { DType } from '../../src/ir/dtype.js';
import type { Attr } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { PROJECT_ROOT } from '../helpers/corpus.js';
import { runOp } from './elementwise-helpers.js';

interface JTensor {
  dtype: DType;
  shape: number[];
  data: (number | string)[];
}
interface JCase {
  name: string;
  op: string;
  attrs: Record<string, Attr>;
  inputs: JTensor[];
  outputs: JTensor[];
}

const goldens = JSON.parse(readFileSync(join(PROJECT_ROOT, 'fixtures', 'ops', 'elementwise-goldens.json'), 'utf8')) as { cases: JCase[] };

function special(v: number | string): number {
  if (typeof v === 'number') return v;
  return v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : Number(v);
}

function toTensor(j: JTensor): Tensor {
  if (j.dtype === 'int64' || j.dtype === 'uint64') return Tensor.from(j.dtype, j.shape, j.data.map((v) => BigInt(v)));
  if (j.dtype === 'string') return Tensor.from('string', j.shape, j.data.map(String));
  return Tensor.from(j.dtype, j.shape, j.data.map(special));
}

function expectClose(actual: Tensor, expected: Tensor): void {
  expect(actual.dtype).toBe(expected.dtype);
  expect(actual.shape).toEqual(expected.shape);
  if (expected.dtype === 'string' || expected.dtype === 'int64' || expected.dtype === 'uint64') {
    expect(Array.from(actual.data as ArrayLike<unknown>)).toEqual(Array.from(expected.data as ArrayLike<unknown>));
    return;
  }
  for (let i = 0; i < expected.size; i++) {
    const a = actual.get(i);
    const e = expected.get(i);
    if (Number.isNaN(e)) expect(a, `element ${i}`).toBeNaN();
    else if (!Number.isFinite(e)) expect(a, `element ${i}`).toBe(e);
    else expect(Math.abs(a - e), `element ${i}: ${a} vs ${e}`).toBeLessThanOrEqual(1e-7 + 1e-3 * Math.abs(e));
  }
}

describe('elementwise kernels match numpy/torch goldens', () => {
  it.each(goldens.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const outs = await runOp(c.op, c.attrs, c.inputs.map(toTensor));
    c.outputs.forEach((o, i) => expectClose(outs[i] as Tensor, toTensor(o)));
  });
});

describe('kernel errors are typed', () => {
  it('non-broadcastable shapes give E_SHAPE_MISMATCH', async () => {
    await expect(runOp('Add', {}, [new Tensor('float32', [2, 3]), new Tensor('float32', [4])])).rejects.toMatchObject({ code: 'E_SHAPE_MISMATCH' });
  });
  it('mixed dtypes give E_DTYPE_MISMATCH', async () => {
    await expect(runOp('Mul', {}, [new Tensor('float32', [2]), new Tensor('int32', [2])])).rejects.toMatchObject({ code: 'E_DTYPE_MISMATCH' });
  });
  it('unsupported dtype gives E_UNSUPPORTED_DTYPE', async () => {
    await expect(runOp('Exp', {}, [Tensor.from('string', [1], ['a'])])).rejects.toMatchObject({ code: 'E_UNSUPPORTED_DTYPE' });
  });
  it('an out-of-range axis gives E_INVALID_ATTR', async () => {
    await expect(runOp('Softmax', { axis: { type: 'int', value: 3 } }, [new Tensor('float32', [2, 3])])).rejects.toMatchObject({ code: 'E_INVALID_ATTR' });
  });
  it('a loss target outside [0, C) is rejected, not read out of bounds', async () => {
    const x = new Tensor('float32', [2, 3]);
    const t = Tensor.from('int64', [2], [0n, 7n]);
    await expect(runOp('NegativeLogLikelihoodLoss', {}, [x, t])).rejects.toMatchObject({ code: 'E_SHAPE_MISMATCH' });
  });
  it('TopK with K larger than the axis is rejected', async () => {
    await expect(runOp('TopK', {}, [new Tensor('float32', [2, 3]), Tensor.from('int64', [1], [4n])])).rejects.toMatchObject({ code: 'E_INVALID_ATTR' });
  });
  it('an Einsum whose contraction would run for hours is refused with E_LIMIT', async () => {
    const v = new Tensor('float32', [40000]);
    await expect(runOp('Einsum', { equation: { type: 'string', value: 'i,j,k->' } }, [v, v, v])).rejects.toMatchObject({ code: 'E_LIMIT' });
  });
  it('a malformed Einsum equation is rejected', async () => {
    await expect(runOp('Einsum', { equation: { type: 'string', value: 'ij,jk->iz' } }, [new Tensor('float32', [2, 3]), new Tensor('float32', [3, 2])])).rejects.toMatchObject({ code: 'E_INVALID_ATTR' });
  });
});
