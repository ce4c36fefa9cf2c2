/**
 * 1-D ScatterElements with reduction 'add' (MaxPool's gradient form) takes a float32 loop that
 * applies indices in [0, dim) until the first other one, then hands over to the careful loop
 * (negative indices wrap, out-of-range ones go to the generic path's typed error). The result
 * must equal ONNX's definition — out = data; out[wrap(idx[k])] += upd[k] in k order — computed
 * here with float32 rounding after every add (Math.fround), for every handover position.
 */
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/ir/tensor.js';
import { runOp } from './elementwise-helpers.js';

const attrs = { axis: { type: 'int' as const, value: 0 }, reduction: { type: 'string' as const, value: 'add' } };

function reference(data: Float32Array, idx: number[], upd: Float32Array): Float32Array {
  const out = data.slice();
  idx.forEach((i, k) => {
    const j = i < 0 ? i + data.length : i;
    out[j] = Math.fround(out[j]! + upd[k]!);
  });
  return out;
}

describe('ScatterElements 1-D add fast path', () => {
  const dim = 50;
  const data = Float32Array.from({ length: dim }, (_, i) => (i % 3) * 0.1 - 0.05);
  const upd = Float32Array.from({ length: 12 }, (_, k) => 1 / (k + 3));
  const cases: Array<[string, number[]]> = [
    ['all in range, with duplicates', [0, 5, 5, 49, 7, 7, 7, 1, 2, 3, 4, 48]],
    ['a negative index first', [-1, 5, 5, 49, 7, 7, 7, 1, 2, 3, 4, 48]],
    ['a negative index in the middle', [0, 5, 5, 49, 7, -50, 7, 1, -3, 3, 4, 48]],
    ['a negative index last', [0, 5, 5, 49, 7, 7, 7, 1, 2, 3, 4, -2]],
  ];
  for (const [name, idx] of cases) {
    it(`${name}: equals the definition`, async () => {
      const [out] = (await runOp('ScatterElements', attrs, [new Tensor('float32', [dim], data.slice()), Tensor.from('int64', [idx.length], idx.map(BigInt)), new Tensor('float32', [idx.length], upd)])) as Tensor[];
      expect(Array.from(out!.data as Float32Array)).toEqual(Array.from(reference(data, idx, upd)));
    });
  }

  it('leaves its data input untouched', async () => {
    const x = new Tensor('float32', [dim], data.slice());
    await runOp('ScatterElements', attrs, [x, Tensor.from('int64', [3], [1n, 2n, 3n]), new Tensor('float32', [3], upd.subarray(0, 3))]);
    expect(Array.from(x.data as Float32Array)).toEqual(Array.from(data));
  });

  for (const bad of [50, -51, 2 ** 31, 2 ** 40]) {
    it(`index ${bad} after valid ones is a typed error`, async () => {
      const idx = [0, 1, bad];
      const run = runOp('ScatterElements', attrs, [new Tensor('float32', [dim], data.slice()), Tensor.from('int64', [3], idx.map(BigInt)), new Tensor('float32', [3], upd.subarray(0, 3))]);
      await expect(run).rejects.toMatchObject({ code: 'E_SHAPE_MISMATCH' });
    });
  }
});
