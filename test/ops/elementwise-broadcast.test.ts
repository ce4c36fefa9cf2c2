/**
 * The specialised float32 Add/Sub/Mul/Div loops (same shape, scalar, row, per-channel "block"
 * broadcasts) and the generic index-map path against a naive reference: numpy broadcasting
 * written out as coordinate arithmetic, each result rounded to float32 (the exact answer for one
 * IEEE operation, so comparison is bit-exact).
 */
import { describe, expect, it } from 'vitest';
import { Tensor, sizeOf, stridesOf } from '../../src/ir/tensor.js';
import { planBroadcast } from '../../src/kernels/cpu/elementwise-core.js';
import { runOp } from './elementwise-helpers.js';

function rand(shape: number[], seed: number): Tensor {
  const a = new Float32Array(sizeOf(shape));
  let s = seed >>> 0;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32 - 0.5) * 8 + (i % 3 === 0 ? 0.25 : 0);
  }
  return new Tensor('float32', shape, a);
}

/** numpy broadcasting by coordinates. */
function naive(op: (x: number, y: number) => number, a: Tensor, b: Tensor): Tensor {
  const rank = Math.max(a.rank, b.rank);
  const pa = [...new Array<number>(rank - a.rank).fill(1), ...a.shape];
  const pb = [...new Array<number>(rank - b.rank).fill(1), ...b.shape];
  const out = pa.map((d, i) => Math.max(d, pb[i]!));
  const sa = stridesOf(pa);
  const sb = stridesOf(pb);
  const so = stridesOf(out);
  const o = new Float32Array(sizeOf(out));
  for (let k = 0; k < o.length; k++) {
    let ia = 0;
    let ib = 0;
    for (let d = 0; d < rank; d++) {
      const c = Math.floor(k / so[d]!) % out[d]!;
      ia += (pa[d] === 1 ? 0 : c) * sa[d]!;
      ib += (pb[d] === 1 ? 0 : c) * sb[d]!;
    }
    o[k] = Math.fround(op((a.data as Float32Array)[ia]!, (b.data as Float32Array)[ib]!));
  }
  return new Tensor('float32', out, o);
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
];

describe('float32 binary fast paths equal the naive broadcast', () => {
  for (const [sa, sb, kind] of SHAPES) {
    for (const op of Object.keys(OPS)) {
      it(`${op} [${sa}] ⊕ [${sb}] (${kind})`, async () => {
        const a = rand(sa, 11);
        const b = rand(sb, 23);
        const [out] = (await runOp(op, {}, [a, b])) as Tensor[];
        const ref = naive(OPS[op]!, a, b);
        expect(out!.shape).toEqual(ref.shape);
        expect(Array.from(out!.data as Float32Array)).toEqual(Array.from(ref.data as Float32Array));
      });
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
