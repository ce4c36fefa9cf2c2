/**
 * The specialised float32 Add/Sub/Mul/Div loops (same shape, scalar, row, per-channel "block"
 * broadcasts) and the generic strided path (float32 shapes the fast loops skip, and every shape in
 * float64, which always takes it) against a naive reference: numpy broadcasting written out as
 * coordinate arithmetic, each result rounded to the dtype (the exact answer for one IEEE
 * operation, so comparison is bit-exact).
 */
import { describe, expect, it } from 'vitest';
import { Tensor, sizeOf, stridesOf } from '../../src/ir/tensor.js';
import { planBroadcast } from '../../src/kernels/cpu/elementwise-core.js';
import { runOp } from './elementwise-helpers.js';

function rand(shape: number[], seed: number, dtype: 'float32' | 'float64' = 'float32'): Tensor {
  const a = dtype === 'float32' ? new Float32Array(sizeOf(shape)) : new Float64Array(sizeOf(shape));
  let s = seed >>> 0;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32 - 0.5) * 8 + (i % 3 === 0 ? 0.25 : 0);
  }
  return new Tensor(dtype, shape, a);
}

/** numpy broadcasting by coordinates. */
function naive(op: (x: number, y: number) => number, a: Tensor, b: Tensor): Tensor {
  const rank = Math.max(a.rank, b.rank);
  const pa = [...new Array<number>(rank - a.rank).fill(1), ...a.shape];
  const pb = [...new Array<number>(rank - b.rank).fill(1), ...b.shape];
  const out = pa.map((d, i) => (d === 1 ? pb[i]! : d));
  const sa = stridesOf(pa);
  const sb = stridesOf(pb);
  const so = stridesOf(out);
  const single = a.dtype === 'float32';
  const o = single ? new Float32Array(sizeOf(out)) : new Float64Array(sizeOf(out));
  for (let k = 0; k < o.length; k++) {
    let ia = 0;
    let ib = 0;
    for (let d = 0; d < rank; d++) {
      const c = Math.floor(k / so[d]!) % out[d]!;
      ia += (pa[d] === 1 ? 0 : c) * sa[d]!;
      ib += (pb[d] === 1 ? 0 : c) * sb[d]!;
    }
    const r = op((a.data as Float64Array)[ia]!, (b.data as Float64Array)[ib]!);
    o[k] = single ? Math.fround(r) : r;
  }
  return new Tensor(a.dtype, out, o);
}

const OPS: Record<string, (x: number, y: number) => number> = {
  Add: (x, y) => x + y,
  Sub: (x, y) => x - y,
  Mul: (x, y) => x * y,
  Div: (x, y) => x / y,
};

const SHAPES: [number[], number[], string][] = [
  [[2, 3, 4], [2, 3, 4], 'full'],
  [[2, 3, 4], [], 'block'],
  [[], [5, 2], 'block'],
  [[4, 7], [7], 'block'],
  [[7], [4, 7], 'block'],
  [[2, 3, 5, 5], [3, 1, 1], 'block'],
  [[2, 3, 5, 5], [1, 3, 1, 1], 'block'],
  [[3, 1, 1], [2, 3, 5, 5], 'block'],
  [[2, 3, 4], [1, 3, 1], 'block'],
  [[2, 1, 4], [3, 1], 'map'],
  [[2, 3, 1], [1, 3, 4], 'map'],
  [[3, 1, 4], [1, 5, 1], 'map'],
  [[2, 1, 3, 1], [4, 1, 5], 'map'],
  [[0, 3], [3], 'block'],
];

describe('binary fast and generic paths equal the naive broadcast', () => {
  for (const [sa, sb, kind] of SHAPES) {
    for (const op of Object.keys(OPS)) {
      for (const dtype of ['float32', 'float64'] as const) {
        it(`${op} ${dtype} [${sa}] ⊕ [${sb}] (${dtype === 'float32' ? kind : 'generic'})`, async () => {
          const a = rand(sa, 11, dtype);
          const b = rand(sb, 23, dtype);
          const [out] = (await runOp(op, {}, [a, b])) as Tensor[];
          const ref = naive(OPS[op]!, a, b);
          expect(out!.dtype).toBe(dtype);
          expect(out!.shape).toEqual(ref.shape);
          expect(Array.from(out!.data as Float64Array)).toEqual(Array.from(ref.data as Float64Array));
        });
      }
    }
  }

  it('plans the broadcast kinds the fast path relies on', () => {
    for (const [sa, sb, kind] of SHAPES) {
      const out = naive(OPS.Add!, rand(sa, 1), rand(sb, 2)).shape;
      const kinds = [planBroadcast(sa, out).kind, planBroadcast(sb, out).kind];
      if (kind === 'full') expect(kinds).toEqual(['full', 'full']);
      else if (kind === 'block') expect(kinds).toContain('full');
      else expect(kinds).not.toContain('full'); // neither side full-shape: the generic index-map path
    }
  });
});
