/**
 * MaxPool's 2×2 stride-2 fast paths (src/kernels/cpu/pool.ts, branch-free `argMax2x2`) must pick
 * the same value and flat index as the general strided loop on the awkward cases random data
 * rarely hits: ties (first tap wins), -0 against +0, ±inf and NaN in every tap position. The
 * general loop is forced with an end pad on odd H and W (then 2·OH > H, so the fast path's guard
 * fails) and its first ⌊H/2⌋×⌊W/2⌋ outputs, whose windows lie inside the input, are compared.
 */
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/ir/tensor.js';
import { runOp } from './elementwise-helpers.js';

const N = 2;
const C = 3;
const H = 9;
const W = 11;
const OH = 4;
const OW = 5;

/** Values drawn from a tiny set so windows are full of ties, signed zeros, infinities and NaN. */
function awkward(seed: number): number[] {
  const pool = [0, -0, 1, 1, -1, Infinity, -Infinity, NaN, 0.5, -0.5];
  let s = seed;
  return Array.from({ length: N * C * H * W }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return pool[(s >>> 8) % pool.length]!;
  });
}

const ints = (value: number[]) => ({ type: 'ints' as const, value });

describe('MaxPool 2×2 stride 2 fast path matches the general loop', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    for (const seed of [1, 2, 3]) {
      it(`${dtype}, seed ${seed}: values (bit for bit, -0 kept) and indices`, async () => {
        const x = Tensor.from(dtype, [N, C, H, W], awkward(seed));
        const attrs = { kernel_shape: ints([2, 2]), strides: ints([2, 2]) };
        const [fy, fi] = (await runOp('MaxPool', attrs, [x])) as Tensor[];
        const [gy, gi] = (await runOp('MaxPool', { ...attrs, pads: ints([0, 0, 1, 1]) }, [x])) as Tensor[];
        expect(fy!.shape).toEqual([N, C, OH, OW]);
        expect(gy!.shape).toEqual([N, C, OH + 1, OW + 1]);
        const fv = fy!.toNumbers();
        const gv = gy!.toNumbers();
        const fk = Array.from(fi!.data as BigInt64Array);
        const gk = Array.from(gi!.data as BigInt64Array);
        for (let p = 0; p < N * C; p++)
          for (let oh = 0; oh < OH; oh++)
            for (let ow = 0; ow < OW; ow++) {
              const f = (p * OH + oh) * OW + ow;
              const g = (p * (OH + 1) + oh) * (OW + 1) + ow;
              expect(Object.is(fv[f], gv[g]), `value at plane ${p} (${oh}, ${ow}): ${fv[f]} vs ${gv[g]}`).toBe(true);
              expect(fk[f]).toBe(gk[g]);
            }
        // the inference path (no Indices output) picks the same values
        const node1 = (await runOpOneOutput(attrs, x)).toNumbers();
        expect(node1.every((v, i) => Object.is(v, fv[i]))).toBe(true);
      });
    }
  }
});

async function runOpOneOutput(attrs: Record<string, ReturnType<typeof ints>>, x: Tensor): Promise<Tensor> {
  const { CpuBackend } = await import('../../src/kernels/cpu/index.js');
  const node = { name: 'MaxPool_test', opType: 'MaxPool', domain: '', inputs: ['in0'], outputs: ['out0'], attrs, scope: '' };
  const [y] = (await new CpuBackend().run(node, [x], { training: false, random: Math.random, runSubgraph: async () => [] })) as Tensor[];
  return y!;
}
