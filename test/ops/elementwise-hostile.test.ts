/**
 * Every kernel of the elementwise, activation, cast, reduction, loss and linear-algebra tables
 * against odd and hostile inputs — missing inputs, empty and rank-0 tensors, wrong dtypes,
 * strings, out-of-range axes and K, unknown attribute values. Each call must either return
 * tensors or throw a `RosettaError`; a raw TypeError/RangeError (or a hang) is a bug.
 */
import { describe, expect, it } from 'vitest';
import { isRosettaError } from '../../src/ir/errors.js';
import type { Attr } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { elementwiseKernels } from '../../src/kernels/cpu/elementwise.js';
import { reduceKernels } from '../../src/kernels/cpu/reduce.js';
import { isTensor } from '../../src/runtime/value.js';
import { runOp } from './elementwise-helpers.js';

const f32 = (shape: number[], fill = 1.5): Tensor => {
  const t = new Tensor('float32', shape);
  (t.data as Float32Array).fill(fill);
  return t;
};
const i64 = (vals: bigint[], shape = [vals.length]): Tensor => Tensor.from('int64', shape, vals);

const INPUT_SETS: [string, (Tensor | undefined)[]][] = [
  ['no inputs', []],
  ['omitted first input', [undefined, f32([2])]],
  ['rank-0 float', [f32([])]],
  ['empty [0,3]', [f32([0, 3])]],
  ['empty [0,3] and [3]', [f32([0, 3]), f32([3])]],
  ['[2,3] and [3]', [f32([2, 3]), f32([3])]],
  ['[2,3] and [4] (no broadcast)', [f32([2, 3]), f32([4])]],
  ['[2,3] and int64 [1]', [f32([2, 3]), i64([1n])]],
  ['[2,3] and int64 99', [f32([2, 3]), i64([99n])]],
  ['[2,3] and int64 -99', [f32([2, 3]), i64([-99n])]],
  ['[2,3] and int64 2^62', [f32([2, 3]), i64([2n ** 62n])]],
  ['strings', [Tensor.from('string', [2], ['a', '1'])]],
  ['bool, f32, f32', [Tensor.from('bool', [2, 2], [1, 0, 0, 1]), f32([2, 2]), f32([2, 2])]],
  ['int64 pair', [i64([5n, -7n, 0n], [3]), i64([0n, 2n, -3n], [3])]],
  ['float16 pair', [Tensor.from('float16', [2, 3], [1, 2, 3, 4, 5, 6]), Tensor.from('float16', [2, 3], [0, 1, 2, 3, 4, 5])]],
  ['[2,3,4] scores and int64 targets out of range', [f32([2, 3, 4]), i64([9n, 0n, 1n, 2n, 0n, 1n, 2n, 0n], [2, 4])]],
  ['NaN and Infinity', [Tensor.from('float32', [3], [NaN, Infinity, -Infinity]), Tensor.from('float32', [3], [0, -0, NaN])]],
];

const ATTR_SETS: [string, Record<string, Attr>][] = [
  ['no attrs', {}],
  ['axis 99', { axis: { type: 'int', value: 99 } }],
  ['hostile strings', { to: { type: 'int', value: 999 }, equation: { type: 'string', value: '((,->' }, direction: { type: 'string', value: 'UP' }, reduction: { type: 'string', value: 'avg' }, approximate: { type: 'string', value: 'fast' } }],
  ['wrong attribute types', { axis: { type: 'string', value: 'x' }, to: { type: 'string', value: 'float' }, alpha: { type: 'string', value: 'a' } }],
  ['plausible', { to: { type: 'int', value: 7 }, equation: { type: 'string', value: 'ij->ji' }, direction: { type: 'string', value: 'LEFT' }, ignore_index: { type: 'int', value: 9 } }],
];

const OPS = [...Object.keys(elementwiseKernels), ...Object.keys(reduceKernels)].sort();

describe('kernels never throw anything but RosettaError', () => {
  it.each(OPS)('%s', async (op) => {
    const bad: string[] = [];
    for (const [iname, inputs] of INPUT_SETS) {
      for (const [aname, attrs] of ATTR_SETS) {
        try {
          const outs = await runOp(op, attrs, inputs);
          for (const o of outs) if (!isTensor(o)) bad.push(`${iname} / ${aname}: returned a non-tensor`);
        } catch (e) {
          if (!isRosettaError(e)) bad.push(`${iname} / ${aname}: ${(e as Error).name}: ${(e as Error).message}`);
        }
      }
    }
    expect(bad, bad.join('\n')).toEqual([]);
  });
});
