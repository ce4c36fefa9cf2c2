/**
 * The monomorphic float32 loops of Greater/Less/Equal and Where (taken for same-shape and
 * tensor-vs-scalar operands, the shapes autograd's ReLU backward emits) must agree exactly with the
 * general broadcast path. The reference is the same op on float64 copies, which never takes the
 * float32 fast path; values are float32-exact so the two dtypes compare the same numbers.
 */
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/ir/tensor.js';
import { runOp } from './elementwise-helpers.js';

function rand(n: number, seed: number): number[] {
  let s = seed;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    // include exact zeros, negatives and NaN so every branch of the comparison is hit
    out.push(i % 17 === 0 ? 0 : i % 29 === 0 ? NaN : Math.fround(s / 2147483648 - 0.5));
  }
  return out;
}

const t32 = (shape: number[], v: number[]) => Tensor.from('float32', shape, v);
const t64 = (shape: number[], v: number[]) => Tensor.from('float64', shape, v);

describe('float32 fast paths match the general path', () => {
  const shape = [2, 3, 5, 7];
  const n = 210;
  const a = rand(n, 1);
  const b = rand(n, 2);
  for (const op of ['Greater', 'Less', 'Equal', 'GreaterOrEqual', 'LessOrEqual']) {
    it(`${op}: tensor vs scalar and tensor vs tensor`, async () => {
      for (const [bs, bv] of [[[], [0]], [[1, 1, 1, 1], [0.25]], [shape, b]] as [number[], number[]][]) {
        const [fast] = (await runOp(op, {}, [t32(shape, a), t32(bs, bv)])) as Tensor[];
        const [ref] = (await runOp(op, {}, [t64(shape, a), t64(bs, bv)])) as Tensor[];
        expect(fast!.dtype).toBe('bool');
        expect(fast!.shape).toEqual(ref!.shape);
        expect(Array.from(fast!.data as Uint8Array)).toEqual(Array.from(ref!.data as Uint8Array));
      }
    });
  }

  it('Where(mask, g, scalar) and Where(mask, g, h)', async () => {
    const mask = Tensor.from('bool', shape, a.map((x) => x > 0));
    for (const [ys, yv] of [[[], [0]], [shape, b]] as [number[], number[]][]) {
      const [fast] = (await runOp('Where', {}, [mask, t32(shape, b), t32(ys, yv)])) as Tensor[];
      const [ref] = (await runOp('Where', {}, [mask, t64(shape, b), t64(ys, yv)])) as Tensor[];
      expect(fast!.dtype).toBe('float32');
      expect(fast!.toNumbers()).toEqual(ref!.toNumbers());
    }
  });
});
