/**
 * ReduceSum/ReduceMean over a contiguous block of kept axes between reduced ones (the conv bias
 * gradient: [N, C, H, W] over N, H, W) take a loop without an index map (src/kernels/cpu/reduce.ts,
 * `plan.block`). Its result must be bit-identical to the documented accumulation: float64, each
 * output summing its elements in flat input order, rounded to float32 once. The reference below
 * computes exactly that from the definition; layouts that are not one block ([K, R, K]) and
 * zero-size dims go through the general path and are checked the same way.
 */
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/ir/tensor.js';
import { runOp } from './elementwise-helpers.js';

function values(n: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, (_, i) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return i % 13 === 0 ? -0 : Math.fround((s / 2147483648 - 0.5) * 1000);
  });
}

/** Definition: out[o] = Σ x[k] over k whose kept coordinates are o's, k ascending, in float64. */
function reference(shape: number[], axes: number[], x: number[], mean: boolean): number[] {
  const rank = shape.length;
  const keptDims = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const outSize = keptDims.reduce((p, d) => p * d, 1);
  const acc = new Float64Array(outSize);
  const idx = new Array<number>(rank).fill(0);
  for (let k = 0; k < x.length; k++) {
    let o = 0;
    for (let i = 0; i < rank; i++) o = o * keptDims[i]! + (axes.includes(i) ? 0 : idx[i]!);
    acc[o] += x[k]!;
    for (let i = rank - 1; i >= 0; i--) {
      if (++idx[i]! < shape[i]!) break;
      idx[i] = 0;
    }
  }
  const count = x.length / Math.max(outSize, 1);
  return Array.from(acc, (a) => Math.fround(mean ? a / count : a));
}

const cases: [string, number[], number[]][] = [
  ['conv bias gradient [N, C, H, W] over N, H, W', [4, 5, 6, 7], [0, 2, 3]],
  ['linear bias gradient [N, F] over N', [6, 9], [0]],
  ['two kept axes in the middle', [3, 4, 5, 6, 2], [0, 3, 4]],
  ['size-1 dims interleaved', [3, 1, 4, 1, 5], [0, 4]],
  ['negative axes', [3, 4, 5], [-3, -1]],
  ['not one block (general path): [K, R, K]', [3, 4, 5], [1]],
  ['zero-size reduced dim', [0, 3, 2], [0, 2]],
];

describe('ReduceSum/ReduceMean block fast path is bit-identical to flat-order float64 accumulation', () => {
  for (const [name, shape, axes] of cases) {
    for (const op of ['ReduceSum', 'ReduceMean'] as const) {
      if (op === 'ReduceMean' && shape.includes(0)) continue; // mean over nothing is 0/0; not this test's subject
      for (const keepdims of [0, 1]) {
        it(`${op} ${name}, keepdims ${keepdims}`, async () => {
          const n = shape.reduce((p, d) => p * d, 1);
          const xv = values(n, shape.length * 31 + axes.length);
          const x = Tensor.from('float32', shape, xv);
          const ax = Tensor.from('int64', [axes.length], axes.map(BigInt));
          const [y] = (await runOp(op, { keepdims: { type: 'int', value: keepdims } }, [x, ax])) as Tensor[];
          const norm = axes.map((a) => (a < 0 ? a + shape.length : a));
          const want = reference(shape, norm, Array.from(x.data as Float32Array), op === 'ReduceMean');
          expect(y!.shape).toEqual(keepdims ? shape.map((d, i) => (norm.includes(i) ? 1 : d)) : shape.filter((_, i) => !norm.includes(i)));
          const got = Array.from(y!.data as Float32Array);
          expect(got.length).toBe(want.length);
          got.forEach((g, i) => expect(Object.is(g, want[i]), `output ${i}: ${g} vs ${want[i]}`).toBe(true));
        });
      }
    }
  }
});
