/**
 * WebGPU kernels against the CPU backend (the reference): every case runs as a one-node graph on
 * both and must agree within rtol 1e-4 (atol 1e-5 near zero). Runs on whatever adapter this machine
 * has — here Dawn (npm `webgpu`) on SwiftShader's software Vulkan from Debian's chromium package —
 * and skips with the reason when there is none.
 */
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/ir/tensor.js';
import { makeNode } from '../../src/ir/graph.js';
import { GPU, GPU_SKIP } from './gpu-env.js';
import { compareOnBackends, i64, rand, type OpCase } from './compare.js';

const ints = (value: number[]) => ({ type: 'ints' as const, value });
const int = (value: number) => ({ type: 'int' as const, value });
const float = (value: number) => ({ type: 'float' as const, value });
const str = (value: string) => ({ type: 'string' as const, value });
const scalar = (v: number, dtype: 'float32' | 'int32' = 'float32') => Tensor.from(dtype, [], [v]);

const UNARY: OpCase[] = ['Relu', 'Sigmoid', 'Tanh', 'Exp', 'Neg', 'Abs'].map((op, k) => ({ name: `${op} [3,5,7]`, op, inputs: [rand([3, 5, 7], 10 + k, -12, 12)] }));
UNARY.push(
  { name: 'Log (0, 50)', op: 'Log', inputs: [rand([4, 33], 3, 1e-3, 50)] },
  { name: 'Sqrt [0, 9)', op: 'Sqrt', inputs: [rand([130], 4, 0, 9)] },
  { name: 'Sigmoid extremes', op: 'Sigmoid', inputs: [Tensor.from('float32', [6], [-100, -20, 0, 20, 100, 1e-3])] },
  { name: 'Tanh extremes', op: 'Tanh', inputs: [Tensor.from('float32', [6], [-100, -9.5, 0, 10.5, 100, -1e-3])] },
  { name: 'Relu int32', op: 'Relu', inputs: [rand([50], 5, -100, 100, 'int32')] },
  { name: 'Neg int32', op: 'Neg', inputs: [rand([50], 6, -100, 100, 'int32')] },
  { name: 'Abs int32', op: 'Abs', inputs: [rand([7, 3], 7, -100, 100, 'int32')] },
  { name: 'Relu rank 0', op: 'Relu', inputs: [scalar(-2)] },
  { name: 'Relu 70000 elements', op: 'Relu', inputs: [rand([70000], 8)] },
  { name: 'Relu 4.3M elements (past 65535 workgroups: a 2-D dispatch grid)', op: 'Relu', inputs: [rand([4300000], 13)] },
  { name: 'Relu empty [0,3]', op: 'Relu', inputs: [rand([0, 3], 14)] },
  { name: 'Clip min/max', op: 'Clip', inputs: [rand([4, 9], 9, -3, 3), scalar(-0.5), scalar(1.25)], consts: [1, 2] },
  { name: 'Clip max only', op: 'Clip', inputs: [rand([4, 9], 10, -3, 3), undefined, scalar(0.3)], consts: [2] },
  { name: 'Clip no bounds', op: 'Clip', inputs: [rand([5], 11, -3, 3)] },
  { name: 'Clip int32', op: 'Clip', inputs: [rand([20], 12, -50, 50, 'int32'), scalar(-7, 'int32'), scalar(9, 'int32')], consts: [1, 2] },
);

const BINARY: OpCase[] = [
  { name: 'Add same shape', op: 'Add', inputs: [rand([3, 4, 5], 20), rand([3, 4, 5], 21)] },
  { name: 'Add [2,3,4] + [4]', op: 'Add', inputs: [rand([2, 3, 4], 22), rand([4], 23)] },
  { name: 'Sub [2,1,4] - [3,1]', op: 'Sub', inputs: [rand([2, 1, 4], 24), rand([3, 1], 25)] },
  { name: 'Mul [5] * scalar', op: 'Mul', inputs: [rand([5], 26), scalar(3.5)] },
  { name: 'Mul scalar * [2,3]', op: 'Mul', inputs: [scalar(-2), rand([2, 3], 27)] },
  { name: 'Div [4,1,6] / [1,5,1]', op: 'Div', inputs: [rand([4, 1, 6], 28), rand([1, 5, 1], 29, 0.5, 2)] },
  { name: 'Pow positive base, fractional exponent', op: 'Pow', inputs: [rand([3, 6], 30, 0.1, 4), rand([6], 31, -2, 2)] },
  { name: 'Pow negative base, integral exponents', op: 'Pow', inputs: [rand([3, 5], 32, -3, 3), Tensor.from('float32', [5], [2, 3, -1, 0, 4])] },
  { name: 'Pow zero base', op: 'Pow', inputs: [Tensor.from('float32', [3], [0, 0, 0]), Tensor.from('float32', [3], [2, 0, 0.5])] },
  { name: 'Add int32 broadcast', op: 'Add', inputs: [rand([3, 4], 33, -1000, 1000, 'int32'), rand([4], 34, -1000, 1000, 'int32')] },
  { name: 'Mul int32', op: 'Mul', inputs: [rand([10], 35, -300, 300, 'int32'), rand([10], 36, -300, 300, 'int32')] },
  { name: 'Add empty broadcast [0,4] + [4]', op: 'Add', inputs: [rand([0, 4], 39), rand([4], 40)] },
  { name: 'Sub rank-5 broadcast', op: 'Sub', inputs: [rand([2, 1, 3, 1, 2], 37), rand([4, 1, 5, 1], 38)] },
];

const MATMUL: OpCase[] = [
  { name: 'MatMul [5,7]x[7,3]', op: 'MatMul', inputs: [rand([5, 7], 40), rand([7, 3], 41)] },
  { name: 'MatMul [33,70]x[70,40] (several tiles)', op: 'MatMul', inputs: [rand([33, 70], 42), rand([70, 40], 43)] },
  { name: 'MatMul [130,37]x[37,70] (partial 64×64 tiles, K not a multiple of 16)', op: 'MatMul', inputs: [rand([130, 37], 39), rand([37, 70], 38)] },
  { name: 'MatMul batched [2,3,17,19]x[19,18]', op: 'MatMul', inputs: [rand([2, 3, 17, 19], 44), rand([19, 18], 45)] },
  { name: 'MatMul batch broadcast [2,1,5,6]x[3,6,4]', op: 'MatMul', inputs: [rand([2, 1, 5, 6], 46), rand([3, 6, 4], 47)] },
  { name: 'MatMul 1-D x 2-D', op: 'MatMul', inputs: [rand([4], 48), rand([4, 5], 49)] },
  { name: 'MatMul 2-D x 1-D', op: 'MatMul', inputs: [rand([3, 4], 50), rand([4], 51)] },
  { name: 'Gemm plain', op: 'Gemm', inputs: [rand([6, 5], 52), rand([5, 7], 53)] },
  { name: 'Gemm transA transB alpha beta, C [N]', op: 'Gemm', inputs: [rand([5, 6], 54), rand([7, 5], 55), rand([7], 56)], attrs: { transA: int(1), transB: int(1), alpha: float(0.5), beta: float(2) } },
  { name: 'Gemm C [M,1]', op: 'Gemm', inputs: [rand([18, 20], 57), rand([20, 17], 58), rand([18, 1], 59)], consts: [1, 2] },
  { name: 'Gemm C scalar, transB (Linear layout)', op: 'Gemm', inputs: [rand([4, 9], 60), rand([3, 9], 61), scalar(0.25)], attrs: { transB: int(1) }, consts: [1] },
];

const CONV: OpCase[] = [
  { name: 'Conv 3x3 pad 1 + bias', op: 'Conv', inputs: [rand([2, 3, 9, 8], 70), rand([4, 3, 3, 3], 71), rand([4], 72)], consts: [1, 2], attrs: { pads: ints([1, 1, 1, 1]) } },
  { name: 'Conv stride 2, dilation 2, asymmetric pads', op: 'Conv', inputs: [rand([1, 2, 11, 10], 73), rand([3, 2, 3, 2], 74)], attrs: { strides: ints([2, 2]), dilations: ints([2, 2]), pads: ints([1, 0, 2, 1]) } },
  { name: 'Conv groups 2', op: 'Conv', inputs: [rand([2, 4, 7, 7], 75), rand([6, 2, 3, 3], 76), rand([6], 77)], attrs: { group: int(2) } },
  { name: 'Conv groups 2 × 4 output channels (vec4 path), batch 2, stride 2, pads', op: 'Conv', inputs: [rand([2, 4, 9, 7], 94), rand([8, 2, 3, 3], 95), rand([8], 96)], attrs: { group: int(2), strides: ints([2, 2]), pads: ints([1, 2, 0, 1]) } },
  { name: 'Conv depthwise', op: 'Conv', inputs: [rand([1, 5, 6, 6], 78), rand([5, 1, 3, 3], 79)], attrs: { group: int(5), pads: ints([1, 1, 1, 1]) } },
  { name: 'Conv auto_pad SAME_UPPER stride 2', op: 'Conv', inputs: [rand([1, 2, 7, 8], 80), rand([2, 2, 4, 3], 81)], attrs: { auto_pad: str('SAME_UPPER'), strides: ints([2, 2]) } },
  { name: 'Conv 1x1', op: 'Conv', inputs: [rand([3, 8, 5, 5], 82), rand([16, 8, 1, 1], 83)] },
  { name: 'MaxPool 2x2 stride 2', op: 'MaxPool', inputs: [rand([2, 3, 8, 8], 84)], attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]) } },
  { name: 'MaxPool 3x3 stride 2 pad 1 ceil_mode', op: 'MaxPool', inputs: [rand([1, 2, 10, 9], 85)], attrs: { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]), ceil_mode: int(1) } },
  { name: 'MaxPool dilations', op: 'MaxPool', inputs: [rand([1, 1, 9, 9], 86)], attrs: { kernel_shape: ints([2, 3]), dilations: ints([2, 2]) } },
  { name: 'AveragePool pads, count_include_pad 0', op: 'AveragePool', inputs: [rand([2, 2, 7, 6], 87)], attrs: { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]), strides: ints([2, 2]) } },
  { name: 'AveragePool pads, count_include_pad 1', op: 'AveragePool', inputs: [rand([2, 2, 7, 6], 88)], attrs: { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]), strides: ints([2, 2]), count_include_pad: int(1) } },
  { name: 'AveragePool ceil_mode, count_include_pad 1', op: 'AveragePool', inputs: [rand([1, 1, 6, 6], 89)], attrs: { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 0, 0]), ceil_mode: int(1), count_include_pad: int(1) } },
  { name: 'GlobalAveragePool', op: 'GlobalAveragePool', inputs: [rand([2, 5, 4, 3], 90)] },
  // Huge windows over a tiny input: tap ranges are computed, not looped over (1M outputs × ≤16 taps).
  { name: 'AveragePool 1000×1000 window, pads 999, count_include_pad 1', op: 'AveragePool', inputs: [rand([1, 1, 4, 4], 91)], attrs: { kernel_shape: ints([1000, 1000]), pads: ints([999, 999, 999, 999]), count_include_pad: int(1) } },
  { name: 'AveragePool 1000×1000 window, pads 999, count_include_pad 0', op: 'AveragePool', inputs: [rand([1, 1, 4, 4], 92)], attrs: { kernel_shape: ints([1000, 1000]), pads: ints([999, 999, 999, 999]) } },
  { name: 'MaxPool 1000×1000 window, pads 999', op: 'MaxPool', inputs: [rand([1, 1, 4, 4], 93)], attrs: { kernel_shape: ints([1000, 1000]), pads: ints([999, 999, 999, 999]) } },
];

const OTHER: OpCase[] = [
  { name: 'Softmax last axis', op: 'Softmax', inputs: [rand([4, 10], 100, -20, 20)] },
  { name: 'Softmax axis 1 of rank 3', op: 'Softmax', inputs: [rand([2, 5, 3], 101, -5, 5)], attrs: { axis: int(1) } },
  { name: 'BatchNormalization', op: 'BatchNormalization', inputs: [rand([2, 3, 4, 5], 102), rand([3], 103), rand([3], 104), rand([3], 105), rand([3], 106, 0.1, 2)], consts: [1, 2, 3, 4], attrs: { epsilon: float(1e-3) } },
  { name: 'BatchNormalization rank 2', op: 'BatchNormalization', inputs: [rand([6, 4], 107), rand([4], 108), rand([4], 109), rand([4], 110), rand([4], 111, 0.1, 2)], consts: [1, 2, 3, 4] },
  { name: 'ReduceMean axes [1,2] keepdims', op: 'ReduceMean', inputs: [rand([2, 3, 4, 5], 112), i64([1, 2])], consts: [1] },
  { name: 'ReduceSum axes [-1] no keepdims', op: 'ReduceSum', inputs: [rand([3, 4, 5], 113), i64([-1])], consts: [1], attrs: { keepdims: int(0) } },
  { name: 'ReduceSum all axes', op: 'ReduceSum', inputs: [rand([3, 4, 5], 114)] },
  { name: 'ReduceMean axes [0,2] of rank 3', op: 'ReduceMean', inputs: [rand([4, 3, 6], 115), i64([0, 2])], consts: [1] },
  { name: 'ReduceSum noop_with_empty_axes', op: 'ReduceSum', inputs: [rand([3, 4], 116)], attrs: { noop_with_empty_axes: int(1) } },
  { name: 'Reshape with 0 and -1', op: 'Reshape', inputs: [rand([2, 3, 4], 117), i64([0, -1, 2])], consts: [1] },
  { name: 'Flatten axis 2', op: 'Flatten', inputs: [rand([2, 3, 4, 5], 118)], attrs: { axis: int(2) } },
  { name: 'Transpose default (reverse)', op: 'Transpose', inputs: [rand([2, 3, 4], 119)] },
  { name: 'Transpose NCHW→NHWC', op: 'Transpose', inputs: [rand([2, 3, 4, 5], 120)], attrs: { perm: ints([0, 2, 3, 1]) } },
  { name: 'Transpose int32', op: 'Transpose', inputs: [rand([3, 7], 121, -9, 9, 'int32')], attrs: { perm: ints([1, 0]) } },
  { name: 'Concat axis 1, three inputs', op: 'Concat', inputs: [rand([2, 1, 3], 122), rand([2, 4, 3], 123), rand([2, 2, 3], 124)], attrs: { axis: int(1) } },
  { name: 'Concat axis -1 with an empty input', op: 'Concat', inputs: [rand([2, 3], 125), rand([2, 0], 126), rand([2, 2], 127)], attrs: { axis: int(-1) } },
  { name: 'Concat int32 axis 0', op: 'Concat', inputs: [rand([1, 3], 128, -9, 9, 'int32'), rand([2, 3], 129, -9, 9, 'int32')], attrs: { axis: int(0) } },
];

describe.skipIf(!GPU)(`WebGPU kernels match the CPU backend${GPU_SKIP ? ` — skipped: ${GPU_SKIP}` : ''}`, () => {
  const gpu = GPU!;
  for (const [group, cases] of [['elementwise', UNARY], ['binary', BINARY], ['matmul/gemm', MATMUL], ['conv/pool', CONV], ['softmax/norm/reduce/shape', OTHER]] as const) {
    describe(group, () => {
      for (const c of cases) it(c.name, () => compareOnBackends(c, gpu));
    });
  }

  it('compiles one pipeline per static key: new shapes of the same ranks reuse it', async () => {
    await compareOnBackends({ name: 'Add warm', op: 'Add', inputs: [rand([3, 4], 200), rand([4], 201)] }, gpu);
    const before = gpu.pipelineCount;
    await compareOnBackends({ name: 'Add other shapes, same ranks', op: 'Add', inputs: [rand([9, 2], 202), rand([2], 203)] }, gpu);
    await compareOnBackends({ name: 'Conv other shape', op: 'Conv', inputs: [rand([1, 3, 5, 6], 204), rand([2, 3, 2, 2], 205), rand([2], 206)] }, gpu);
    const afterConv = gpu.pipelineCount;
    await compareOnBackends({ name: 'Conv yet another shape', op: 'Conv', inputs: [rand([2, 1, 8, 4], 207), rand([3, 1, 3, 1], 208), rand([3], 209)] }, gpu);
    expect(gpu.pipelineCount).toBe(afterConv);
    expect(afterConv - before).toBeLessThanOrEqual(1);
  });

  it('keeps float32/int32 on the GPU and other dtypes on the host', async () => {
    const f = rand([3, 2], 210);
    const i = rand([5], 211, -50, 50, 'int32');
    const l = i64([1, -2, 3]);
    for (const t of [f, i]) {
      const g = await gpu.upload(t);
      expect(g).not.toBeInstanceOf(Tensor);
      const back = await gpu.download(g);
      expect(back.dtype).toBe(t.dtype);
      expect(Array.from(back.data as Float32Array)).toEqual(Array.from(t.data as Float32Array));
      gpu.dispose(g);
    }
    expect(await gpu.upload(l)).toBe(l);
    const node = makeNode('Add', ['a', 'b'], ['y']);
    expect(gpu.supports(node, ['int64', 'int64'])).toBe(false);
    expect(gpu.supports(makeNode('Erf', ['a'], ['y']), ['float32'])).toBe(false);
  });
});
