/**
 * Reductions against a naive reference: for every axis subset of a rank-4 tensor (trailing runs
 * take the fast path, others the index map), keepdims on/off, each Reduce* kind is compared with
 * the definition computed in float64 by iterating output coordinates and summing over the reduced
 * ones. Also: noop_with_empty_axes, empty axes = all axes, and ArgMax/ArgMin select_last_index.
 * The conformance suite covers each op on a few axis sets; this covers the planner's cases.
 */
import { describe, expect, it } from 'vitest';
import { Tensor, sizeOf, stridesOf } from '../../src/ir/tensor.js';
import { runOp } from './elementwise-helpers.js';

const SHAPE = [2, 3, 1, 4];

function rand(shape: number[], seed: number): Tensor {
  const a = new Float32Array(sizeOf(shape));
  let s = seed >>> 0;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32) * 3 + 0.1; // positive, so LogSum is defined
  }
  return new Tensor('float32', shape, a);
}

type Fold = { init: number; step: (acc: number, v: number) => number; end: (acc: number, n: number) => number };
const KINDS: Record<string, Fold> = {
  ReduceSum: { init: 0, step: (a, v) => a + v, end: (a) => a },
  ReduceMean: { init: 0, step: (a, v) => a + v, end: (a, n) => a / n },
  ReduceMax: { init: -Infinity, step: (a, v) => Math.max(a, v), end: (a) => a },
  ReduceMin: { init: Infinity, step: (a, v) => Math.min(a, v), end: (a) => a },
  ReduceProd: { init: 1, step: (a, v) => a * v, end: (a) => a },
  ReduceL1: { init: 0, step: (a, v) => a + Math.abs(v), end: (a) => a },
  ReduceL2: { init: 0, step: (a, v) => a + v * v, end: (a) => Math.sqrt(a) },
  ReduceLogSum: { init: 0, step: (a, v) => a + v, end: (a) => Math.log(a) },
  ReduceLogSumExp: { init: 0, step: (a, v) => a + Math.exp(v), end: (a) => Math.log(a) },
  ReduceSumSquare: { init: 0, step: (a, v) => a + v * v, end: (a) => a },
};

function naive(fold: Fold, x: Tensor, axes: number[], keepdims: boolean): { shape: number[]; data: number[] } {
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const acc = new Array<number>(sizeOf(kept)).fill(fold.init);
  const ks = stridesOf(kept);
  const xs = stridesOf(x.shape);
  let count = 1;
  for (const a of axes) count *= x.shape[a]!;
  for (let k = 0; k < x.size; k++) {
    let o = 0;
    for (let d = 0; d < x.rank; d++) {
      const c = Math.floor(k / xs[d]!) % x.shape[d]!;
      o += (axes.includes(d) ? 0 : c) * ks[d]!;
    }
    acc[o] = fold.step(acc[o]!, x.get(k));
  }
  return { shape: keepdims ? kept : x.shape.filter((_, i) => !axes.includes(i)), data: acc.map((a) => fold.end(a, count)) };
}

const axisSets: number[][] = [];
for (let m = 1; m < 16; m++) axisSets.push([0, 1, 2, 3].filter((a) => m & (1 << a)));

describe('Reduce* match the naive definition on every axis subset', () => {
  const x = rand(SHAPE, 5);
  for (const [op, fold] of Object.entries(KINDS)) {
    it.each(axisSets.flatMap((axes) => [true, false].map((keepdims) => [axes.join(','), keepdims] as const)))(`${op} axes [%s] keepdims=%s`, async (axesStr, keepdims) => {
      const axes = axesStr.split(',').map(Number);
      // pass one axis as negative to exercise normalisation
      const given = axes.map((a, i) => (i === 0 ? a - 4 : a));
      const [out] = (await runOp(op, { keepdims: { type: 'int', value: keepdims ? 1 : 0 } }, [x, Tensor.from('int64', [given.length], given.map(BigInt))])) as Tensor[];
      const ref = naive(fold, x, axes, keepdims);
      expect(out!.dtype).toBe('float32');
      expect(out!.shape).toEqual(ref.shape);
      ref.data.forEach((e, i) => expect(Math.abs(out!.get(i) - e), `element ${i}`).toBeLessThanOrEqual(1e-6 + 1e-5 * Math.abs(e)));
    });
  }

  it('no axes reduces everything; noop_with_empty_axes returns the input', async () => {
    const [all] = (await runOp('ReduceSum', {}, [x])) as Tensor[];
    expect(all!.shape).toEqual([1, 1, 1, 1]);
    expect(all!.get(0)).toBeCloseTo(x.toNumbers().reduce((a, b) => a + b, 0), 4);
    const [same] = (await runOp('ReduceSum', { noop_with_empty_axes: { type: 'int', value: 1 } }, [x, new Tensor('int64', [0])])) as Tensor[];
    expect(same!.shape).toEqual(SHAPE);
    expect(Array.from(same!.data as Float32Array)).toEqual(Array.from(x.data as Float32Array));
  });
});

describe('ArgMax/ArgMin tie breaking', () => {
  const x = Tensor.from('float32', [2, 4], [1, 3, 3, 0, 2, 2, 1, 2]);
  it.each([
    ['ArgMax', 0, [1, 0]],
    ['ArgMax', 1, [2, 3]],
    ['ArgMin', 0, [3, 2]],
    ['ArgMin', 1, [3, 2]],
  ] as const)('%s select_last_index=%s', async (op, last, expected) => {
    const [out] = (await runOp(op, { axis: { type: 'int', value: 1 }, keepdims: { type: 'int', value: 0 }, select_last_index: { type: 'int', value: last } }, [x])) as Tensor[];
    expect(out!.dtype).toBe('int64');
    expect(Array.from(out!.data as BigInt64Array, Number)).toEqual(expected);
  });
});
