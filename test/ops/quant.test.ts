/**
 * Quantised ops (src/kernels/cpu/quant.ts, matmul.ts, conv.ts) beyond the conformance data:
 * QuantizeLinear to int8 per-axis with rounding ties and saturation, DequantizeLinear per-axis from
 * int8/int32, DynamicQuantizeLinear on all-positive/all-negative data, QLinearMatMul int8 batched,
 * QLinearConv with per-channel weight scales, groups and bias, ConvInteger/MatMulInteger with
 * per-row/per-channel zero points. Expected values come from onnxruntime-node at test time
 * (see nn-oracle.ts); integer outputs must match exactly.
 */
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/ir/tensor.js';
import { roundHalfEven } from '../../src/kernels/cpu/quant.js';
import { checkAgainstOrt, loadOrt, randInts, randTensor, type OracleCase } from './nn-oracle.js';

const ort = await loadOrt();
const f32 = (shape: number[], v: number[]): Tensor => new Tensor('float32', shape, Float32Array.from(v));

const ties = f32([2, 3, 4], [
  -3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 254.5, 255.5, -300, 300,
  0.25, -0.25, 0.75, -0.75, 1.25, 127.5, -128.5, 100, 10.5, -10.5, 11.5, 1e9,
]);
const cases: OracleCase[] = [
  { name: 'QuantizeLinear uint8 scalar, ties and saturation', op: 'QuantizeLinear', inputs: [ties, f32([], [0.5]), Tensor.scalar('uint8', 3)], outputs: ['uint8'] },
  { name: 'QuantizeLinear int8 per-axis (axis 1)', op: 'QuantizeLinear', attrs: { axis: 1 }, inputs: [ties, f32([3], [0.5, 1, 2]), Tensor.from('int8', [3], [-3, 0, 5])], outputs: ['int8'] },
  { name: 'QuantizeLinear int8 per-axis (axis -1)', op: 'QuantizeLinear', attrs: { axis: -1 }, inputs: [ties, f32([4], [0.5, 1, 2, 0.25]), Tensor.from('int8', [4], [1, 0, -1, 2])], outputs: ['int8'] },
  { name: 'DequantizeLinear int8 per-axis', op: 'DequantizeLinear', attrs: { axis: 0 }, inputs: [randInts('int8', [2, 3, 4], 1, -128, 127), f32([2], [0.1, 0.03]), Tensor.from('int8', [2], [5, -7])], outputs: ['float32'] },
  { name: 'DequantizeLinear int32 (no zero point)', op: 'DequantizeLinear', inputs: [randInts('int32', [5], 2, -100000, 100000), f32([], [0.001])], outputs: ['float32'] },
  { name: 'DynamicQuantizeLinear all positive', op: 'DynamicQuantizeLinear', inputs: [randTensor([3, 7], 3, 0.5, 9)], outputs: ['uint8', 'float32', 'uint8'] },
  { name: 'DynamicQuantizeLinear all negative', op: 'DynamicQuantizeLinear', inputs: [randTensor([3, 7], 4, -9, -0.5)], outputs: ['uint8', 'float32', 'uint8'] },
  {
    name: 'QLinearMatMul int8 batched',
    op: 'QLinearMatMul',
    inputs: [randInts('int8', [2, 3, 5], 5, -128, 127), f32([], [0.02]), Tensor.scalar('int8', 3), randInts('int8', [5, 4], 6, -128, 127), f32([], [0.015]), Tensor.scalar('int8', -2), f32([], [0.3]), Tensor.scalar('int8', 1)],
    outputs: ['int8'],
  },
  {
    name: 'QLinearMatMul uint8 broadcast batch',
    op: 'QLinearMatMul',
    inputs: [randInts('uint8', [4, 6], 7, 0, 255), f32([], [0.05]), Tensor.scalar('uint8', 128), randInts('uint8', [3, 6, 2], 8, 0, 255), f32([], [0.01]), Tensor.scalar('uint8', 100), f32([], [0.7]), Tensor.scalar('uint8', 120)],
    outputs: ['uint8'],
  },
  {
    name: 'QLinearConv per-channel weight scales, groups, bias',
    op: 'QLinearConv',
    attrs: { group: 2, pads: [1, 1, 1, 1], strides: [2, 1] },
    inputs: [
      randInts('uint8', [1, 4, 7, 6], 9, 0, 255), f32([], [0.03]), Tensor.scalar('uint8', 110),
      randInts('int8', [6, 2, 3, 3], 10, -127, 127), f32([6], [0.01, 0.02, 0.015, 0.005, 0.03, 0.011]), Tensor.from('int8', [6], [0, 0, 0, 0, 0, 0]),
      f32([], [0.4]), Tensor.scalar('uint8', 128),
      Tensor.from('int32', [6], [100, -2000, 50, 0, 3000, -7]),
    ],
    outputs: ['uint8'],
  },
  {
    name: 'ConvInteger with zero points',
    op: 'ConvInteger',
    attrs: { pads: [0, 1, 1, 0], dilations: [1, 2] },
    inputs: [randInts('uint8', [2, 3, 5, 6], 11, 0, 255), randInts('uint8', [4, 3, 2, 2], 12, 0, 255), Tensor.scalar('uint8', 7), Tensor.scalar('uint8', 130)],
    outputs: ['int32'],
  },
  {
    name: 'MatMulInteger per-column b_zero_point',
    op: 'MatMulInteger',
    inputs: [randInts('uint8', [2, 3, 4], 13, 0, 255), randInts('uint8', [4, 5], 14, 0, 255), Tensor.scalar('uint8', 12), Tensor.from('uint8', [5], [1, 2, 3, 4, 250])],
    outputs: ['int32'],
  },
];

describe.skipIf(!ort)('quantised ops match onnxruntime-node', () => {
  it.each(cases)('$name', async (c) => {
    await checkAgainstOrt(ort!, { ...c, atol: 0, rtol: 1e-6 });
  });
});

describe('roundHalfEven', () => {
  it('rounds ties to even like numpy.rint', () => {
    // numpy.rint([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4, -2.6]) = [-2, -2, -0, 0, 2, 2, 2, -3]
    expect([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4, -2.6].map(roundHalfEven).map((v) => v + 0)).toEqual([-2, -2, 0, 0, 2, 2, 2, -3]);
  });
});
