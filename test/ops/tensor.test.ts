/**
 * Shape, indexing, sequence and signal kernels on cases the ONNX conformance suite (opset ≤ 17)
 * does not cover: float16/int64/string/bool storage through every layout op, opset-18/19 forms
 * (Pad wrap and axes, Split num_outputs, Scatter max/min), GatherND batch_dims 2, DFT lengths and
 * float64, windows in float64. Goldens: fixtures/ops/tensor-goldens.json from
 * fixtures/ops/make_tensor_goldens.py (numpy 1.24, torch 1.13). Also: hostile shapes and indices
 * give typed errors, never a RangeError or a huge allocation.
 */
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/ir/tensor.js';
import { expectValueClose, goldens, runOp, toAttrs, toValue } from './tensor-goldens.js';

const single = goldens.cases.filter((c) => c.op !== 'Scan' && c.op !== 'Loop');

describe('shape/tensor/sequence/signal kernels match numpy goldens', () => {
  it('has the golden cases', () => expect(single.length).toBeGreaterThan(90));
  it.each(single.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const outs = await runOp(c.op, toAttrs(c.attrs), c.inputs.map(toValue), c.outputs.length);
    expect(outs.length).toBe(c.outputs.length);
    c.outputs.forEach((o, i) => expectValueClose(outs[i], toValue(o)!, `output ${i}`));
  });
});

const i64 = (...v: number[]): Tensor => Tensor.from('int64', [v.length], v.map(BigInt));
const f32 = (shape: number[]): Tensor => new Tensor('float32', shape);

describe('hostile shapes and indices give typed errors', () => {
  const cases: [string, string, Record<string, unknown>, (Tensor | undefined)[], string][] = [
    ['Reshape to a wrong element count', 'Reshape', {}, [f32([2, 3]), i64(4, 2)], 'E_SHAPE_MISMATCH'],
    ['Reshape with two -1', 'Reshape', {}, [f32([2, 3]), i64(-1, -1)], 'E_SHAPE_MISMATCH'],
    ['Gather index out of range', 'Gather', {}, [f32([3]), i64(3)], 'E_SHAPE_MISMATCH'],
    ['GatherND index out of range', 'GatherND', {}, [f32([2, 2]), Tensor.from('int64', [1, 2], [0n, -3n])], 'E_SHAPE_MISMATCH'],
    ['ScatterElements index out of range', 'ScatterElements', {}, [f32([2]), i64(9), f32([1])], 'E_SHAPE_MISMATCH'],
    ['Slice step 0', 'Slice', {}, [f32([4]), i64(0), i64(4), i64(0), i64(0)], 'E_INVALID_ATTR'],
    ['Tile to 2^40 elements', 'Tile', {}, [f32([1024]), i64(1 << 30)], 'E_TOO_LARGE'],
    ['Expand to 2^62 elements', 'Expand', {}, [f32([1]), i64(2 ** 31, 2 ** 31)], 'E_TOO_LARGE'],
    ['ConstantOfShape with a negative dim', 'ConstantOfShape', {}, [i64(-2, 3)], 'E_BAD_FORMAT'],
    ['ConstantOfShape with 2^60 elements', 'ConstantOfShape', {}, [i64(2 ** 30, 2 ** 30)], 'E_TOO_LARGE'],
    ['Range of 10^12 steps', 'Range', {}, [Tensor.scalar('float32', 0), Tensor.scalar('float32', 1e12), Tensor.scalar('float32', 1)], 'E_TOO_LARGE'],
    ['Range with a NaN delta', 'Range', {}, [Tensor.scalar('float32', 0), Tensor.scalar('float32', 1), Tensor.scalar('float32', NaN)], 'E_BAD_FORMAT'],
    ['OneHot depth 2^40', 'OneHot', {}, [i64(1, 2), Tensor.scalar('int64', 2n ** 40n), Tensor.from('float32', [2], [0, 1])], 'E_TOO_LARGE'],
    ['Pad cropping below zero', 'Pad', {}, [f32([2]), i64(-2, -1)], 'E_SHAPE_MISMATCH'],
    ['Concat of mismatched shapes', 'Concat', { axis: { type: 'int', value: 0 } }, [f32([2, 3]), f32([2, 4])], 'E_SHAPE_MISMATCH'],
    ['Split sizes that do not sum', 'Split', {}, [f32([5]), i64(2, 2)], 'E_SHAPE_MISMATCH'],
    ['DFT length 2^40', 'DFT', {}, [f32([1, 0, 1]), Tensor.scalar('int64', 2n ** 40n)], 'E_SHAPE_MISMATCH'],
    ['Transpose with a bad perm', 'Transpose', { perm: { type: 'ints', value: [0, 0] } }, [f32([2, 3])], 'E_INVALID_ATTR'],
    ['Squeeze of a non-1 axis', 'Squeeze', {}, [f32([2, 3]), i64(1)], 'E_SHAPE_MISMATCH'],
    ['Gather with float indices', 'Gather', {}, [f32([3]), f32([1])], 'E_UNSUPPORTED_DTYPE'],
  ];
  it.each(cases)('%s', async (_name, op, attrs, inputs, code) => {
    await expect(runOp(op, attrs as never, inputs)).rejects.toMatchObject({ name: 'RosettaError', code });
  });
});
