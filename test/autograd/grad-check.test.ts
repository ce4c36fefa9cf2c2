/**
 * Every gradient rule and decomposition checked against central finite differences in float64.
 * Data-driven: one case per op configuration. Each case builds a one-node graph (plus constant
 * inputs), takes loss = Σ(output_k · W_k) with fixed random W_k, and compares autograd's
 * d loss / d input with (loss(x + h) − loss(x − h)) / 2h for every element of every float input.
 * The expected values are computed here by the forward kernels themselves (no hand-written numbers);
 * the taped loss (through decompositions) must also equal the kernels' loss.
 * A last block checks which form the Pad/Resize adjoint takes (gather vs scatter, axis-map.ts).
 */
import { describe, expect, it } from 'vitest';
import type { Attr, AttrMap } from '../../src/ir/graph.js';
import { emptyGraph, makeNode } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { buildBackward, gradients, recordTape } from '../../src/runtime/autograd.js';
import { seededRandom } from '../../src/runtime/session.js';

type Init = number[] | { shape: number[]; positive?: boolean; values?: number[] };

interface Case {
  name: string;
  op: string;
  /** Differentiable float64 inputs by position (shape or explicit values). */
  inputs: (Init | null)[];
  /** Non-differentiable inputs (axes, shapes, indices, flags) by position. */
  consts?: Record<number, Tensor>;
  attrs?: AttrMap;
  /** How many outputs to put in the loss (default 1). */
  outputs?: number;
  /** Extra declared outputs the node has but the loss ignores. */
  nodeOutputs?: number;
}

const i64 = (v: number[], shape = [v.length]): Tensor => new Tensor('int64', shape, BigInt64Array.from(v.map(BigInt)));
const i32 = (v: number[]): Tensor => new Tensor('int32', [v.length], Int32Array.from(v));
const ints = (value: number[]): Attr => ({ type: 'ints', value });
const int = (value: number): Attr => ({ type: 'int', value });
const float = (value: number): Attr => ({ type: 'float', value });
const str = (value: string): Attr => ({ type: 'string', value });
const pos = (...shape: number[]): Init => ({ shape, positive: true });
const f32 = (v: number[]): Tensor => Tensor.from('float32', [v.length], v);
/** A GridSample case: X [2, 2, 4, 5], grid [2, 3, 2, 2] with coordinates spread over ±spread. */
const gridSample = (name: string, attrs: AttrMap, spread: number): Case => ({
  name: `GridSample ${name}`,
  op: 'GridSample',
  inputs: [[2, 2, 4, 5], { shape: [2, 3, 2, 2], values: Array.from({ length: 24 }, (_, i) => spread * Math.sin(1.7 * i + 0.3)) }],
  attrs,
});
/** A Resize case: X [shape], roi (optional), scales or sizes, attributes. */
const resize = (name: string, shape: number[], how: { scales?: number[]; sizes?: number[]; roi?: number[] }, attrs: AttrMap): Case => ({
  name: `Resize ${name}`,
  op: 'Resize',
  inputs: [shape],
  consts: Object.fromEntries(
    ([[1, how.roi && f32(how.roi)], [2, how.scales && f32(how.scales)], [3, how.sizes && i64(how.sizes)]] as const).filter(([, t]) => t !== undefined),
  ) as Record<number, Tensor>,
  attrs,
});

const CASES: Case[] = [
  { name: 'Add broadcast', op: 'Add', inputs: [[2, 3, 4], [3, 1]] },
  { name: 'Sub broadcast', op: 'Sub', inputs: [[3, 1], [2, 1, 4]] },
  { name: 'Mul broadcast', op: 'Mul', inputs: [[2, 3], [3]] },
  { name: 'Div', op: 'Div', inputs: [[2, 3], pos(2, 3)] },
  { name: 'Pow', op: 'Pow', inputs: [pos(2, 3), [3]] },
  { name: 'Mod fmod=1 broadcast', op: 'Mod', inputs: [{ shape: [2, 3], values: [3.7, -2.2, 5.3, -7.9, 1.3, 4.4] }, { shape: [3], values: [1.5, 0.9, -2.1] }], attrs: { fmod: int(1) } },
  { name: 'Max', op: 'Max', inputs: [[2, 3], [2, 3]] },
  { name: 'Min broadcast', op: 'Min', inputs: [[2, 3], [3]] },
  { name: 'Sum', op: 'Sum', inputs: [[2, 3], [3], [2, 1]] },
  { name: 'Mean', op: 'Mean', inputs: [[2, 3], [2, 3]] },
  { name: 'Where', op: 'Where', inputs: [null, [2, 3], [3]], consts: { 0: new Tensor('bool', [2, 3], Uint8Array.from([1, 0, 0, 1, 1, 0])) } },
  ...['Neg', 'Abs', 'Exp', 'Sin', 'Cos', 'Erf', 'Relu', 'Sigmoid', 'Tanh', 'Softplus', 'Softsign', 'HardSwish'].map((op): Case => ({ name: op, op, inputs: [[3, 4]] })),
  ...['Log', 'Sqrt', 'Reciprocal'].map((op): Case => ({ name: op, op, inputs: [pos(3, 4)] })),
  ...['Tan', 'Sinh', 'Cosh', 'Atan', 'Asinh'].map((op): Case => ({ name: op, op, inputs: [[3, 4]] })),
  ...['Asin', 'Acos', 'Atanh'].map((op): Case => ({ name: `${op} inside (−1, 1)`, op, inputs: [{ shape: [2, 3], values: [-0.8, -0.45, -0.1, 0.2, 0.55, 0.75] }] })),
  { name: 'Acosh above 1', op: 'Acosh', inputs: [{ shape: [2, 3], values: [1.2, 1.5, 2, 2.5, 3.7, 1.1] }] },
  { name: 'LeakyRelu', op: 'LeakyRelu', inputs: [[3, 4]], attrs: { alpha: float(0.2) } },
  { name: 'Elu', op: 'Elu', inputs: [[3, 4]], attrs: { alpha: float(0.7) } },
  { name: 'Selu', op: 'Selu', inputs: [[3, 4]] },
  { name: 'HardSigmoid', op: 'HardSigmoid', inputs: [[3, 4]], attrs: { alpha: float(0.3), beta: float(0.4) } },
  { name: 'PRelu broadcast slope', op: 'PRelu', inputs: [[2, 3, 4], [3, 1]] },
  { name: 'Celu', op: 'Celu', inputs: [[3, 4]], attrs: { alpha: float(0.8) } },
  { name: 'ThresholdedRelu', op: 'ThresholdedRelu', inputs: [[3, 4]], attrs: { alpha: float(0.3) } },
  { name: 'Shrink', op: 'Shrink', inputs: [[3, 4]], attrs: { lambd: float(0.4), bias: float(0.1) } },
  { name: 'Mish', op: 'Mish', inputs: [[3, 4]] },
  { name: 'Gelu', op: 'Gelu', inputs: [[3, 4]] },
  { name: 'Gelu tanh', op: 'Gelu', inputs: [[3, 4]], attrs: { approximate: str('tanh') } },
  { name: 'CumSum', op: 'CumSum', inputs: [[3, 4]], consts: { 1: i64([1], []) } },
  { name: 'CumSum exclusive reverse', op: 'CumSum', inputs: [[4, 3]], consts: { 1: i64([0], []) }, attrs: { exclusive: int(1), reverse: int(1) } },
  { name: 'ReduceL1', op: 'ReduceL1', inputs: [[3, 4]], consts: { 1: i64([1]) } },
  { name: 'ReduceLogSum', op: 'ReduceLogSum', inputs: [pos(3, 4)], consts: { 1: i64([0]) } },
  { name: 'ReduceLogSumExp', op: 'ReduceLogSumExp', inputs: [[3, 4]], consts: { 1: i64([1]) } },
  { name: 'ReduceProd', op: 'ReduceProd', inputs: [pos(3, 4)], consts: { 1: i64([1]) } },
  { name: 'DepthToSpace DCR', op: 'DepthToSpace', inputs: [[1, 8, 2, 3]], attrs: { blocksize: int(2) } },
  { name: 'DepthToSpace CRD', op: 'DepthToSpace', inputs: [[1, 8, 2, 3]], attrs: { blocksize: int(2), mode: str('CRD') } },
  { name: 'SpaceToDepth', op: 'SpaceToDepth', inputs: [[1, 2, 4, 6]], attrs: { blocksize: int(2) } },
  { name: 'TopK', op: 'TopK', inputs: [[3, 5]], consts: { 1: i64([2]) }, nodeOutputs: 2 },
  { name: 'MeanVarianceNormalization', op: 'MeanVarianceNormalization', inputs: [[2, 3, 2, 2]] },
  { name: 'LpNormalization p=2', op: 'LpNormalization', inputs: [[3, 4]], attrs: { axis: int(1) } },
  { name: 'LpNormalization p=1', op: 'LpNormalization', inputs: [pos(3, 4)], attrs: { axis: int(0), p: int(1) } },
  { name: 'Clip', op: 'Clip', inputs: [[3, 4]], consts: { 1: Tensor.from('float64', [], [-0.5]), 2: Tensor.from('float64', [], [0.6]) } },
  { name: 'Identity', op: 'Identity', inputs: [[2, 2]] },
  { name: 'CastLike to float64 (same type)', op: 'CastLike', inputs: [[2, 3]], consts: { 1: Tensor.from('float64', [1], [0]) } },
  { name: 'Softmax axis 1', op: 'Softmax', inputs: [[2, 3, 4]], attrs: { axis: int(1) } },
  { name: 'LogSoftmax last', op: 'LogSoftmax', inputs: [[2, 5]] },
  { name: 'ReduceSum axes keepdims=0', op: 'ReduceSum', inputs: [[2, 3, 4]], consts: { 1: i64([0, 2]) }, attrs: { keepdims: int(0) } },
  { name: 'ReduceSum all', op: 'ReduceSum', inputs: [[2, 3]] },
  { name: 'ReduceMean', op: 'ReduceMean', inputs: [[2, 3, 4]], consts: { 1: i64([-1]) } },
  { name: 'ReduceSumSquare', op: 'ReduceSumSquare', inputs: [[2, 3]], consts: { 1: i64([1]) } },
  { name: 'ReduceMax', op: 'ReduceMax', inputs: [[2, 3, 4]], consts: { 1: i64([1]) }, attrs: { keepdims: int(0) } },
  { name: 'ReduceMin', op: 'ReduceMin', inputs: [[3, 4]], consts: { 1: i64([0]) } },
  { name: 'ReduceL2', op: 'ReduceL2', inputs: [[3, 4]], consts: { 1: i64([1]) } },
  { name: 'Reshape', op: 'Reshape', inputs: [[2, 6]], consts: { 1: i64([3, -1]) } },
  { name: 'Flatten', op: 'Flatten', inputs: [[2, 3, 2]], attrs: { axis: int(2) } },
  { name: 'Squeeze', op: 'Squeeze', inputs: [[2, 1, 3]], consts: { 1: i64([1]) } },
  { name: 'Unsqueeze', op: 'Unsqueeze', inputs: [[2, 3]], consts: { 1: i64([0, 3]) } },
  { name: 'Transpose', op: 'Transpose', inputs: [[2, 3, 4]], attrs: { perm: ints([2, 0, 1]) } },
  { name: 'Concat', op: 'Concat', inputs: [[2, 3], [2, 1], [2, 2]], attrs: { axis: int(1) } },
  { name: 'Split', op: 'Split', inputs: [[5, 2]], consts: { 1: i64([2, 3]) }, attrs: { axis: int(0) }, outputs: 2 },
  { name: 'Slice', op: 'Slice', inputs: [[4, 5]], consts: { 1: i64([1, -4]), 2: i64([3, 100]), 3: i64([0, 1]) } },
  { name: 'Slice with steps', op: 'Slice', inputs: [[5, 6]], consts: { 1: i64([4, 0]), 2: i64([-10, 6]), 3: i64([0, 1]), 4: i64([-2, 3]) } },
  { name: 'Einsum matmul', op: 'Einsum', inputs: [[2, 3], [3, 4]], attrs: { equation: str('ij,jk->ik') } },
  { name: 'Einsum attention scores', op: 'Einsum', inputs: [[2, 2, 3, 4], [2, 2, 5, 4]], attrs: { equation: str('bhqd,bhkd->bhqk') } },
  { name: 'Einsum ellipsis batch matmul', op: 'Einsum', inputs: [[2, 3, 4, 5], [3, 5, 2]], attrs: { equation: str('...ij,...jk->...ik') } },
  { name: 'Einsum ellipsis of different ranks', op: 'Einsum', inputs: [[5, 2, 3, 4], [2, 4]], attrs: { equation: str('...ij, ...j -> ...i') } },
  { name: 'Einsum implicit output', op: 'Einsum', inputs: [[3, 4], [4, 2]], attrs: { equation: str('ij,jk') } },
  { name: 'Einsum implicit output with ellipsis', op: 'Einsum', inputs: [[2, 3, 4], [4]], attrs: { equation: str('...j,j') } },
  { name: 'Einsum sum out a letter only one operand has', op: 'Einsum', inputs: [[2, 3], [3]], attrs: { equation: str('ij,j->j') } },
  { name: 'Pad constant', op: 'Pad', inputs: [[2, 3]], consts: { 1: i64([1, 0, 0, 2]) } },
  { name: 'Pad constant, negative pads crop, differentiable fill value', op: 'Pad', inputs: [[3, 4, 5], null, []], consts: { 1: i64([-1, 2, 0, 1, -2, -1]) } },
  { name: 'Pad constant with axes', op: 'Pad', inputs: [[2, 3, 4]], consts: { 1: i64([1, -1, 0, 2]), 3: i64([-1, 1]) } },
  { name: 'Pad reflect 2-D', op: 'Pad', inputs: [[2, 3, 4, 5]], consts: { 1: i64([0, 0, 2, 1, 0, 0, 1, 3]) }, attrs: { mode: str('reflect') } },
  { name: 'Pad reflect with axes and negative pads', op: 'Pad', inputs: [[2, 4, 5]], consts: { 1: i64([-1, 3, 2, -1]), 3: i64([2, -2]) }, attrs: { mode: str('reflect') } },
  { name: 'Pad reflect wider than the axis (mirrors twice), axis of 1', op: 'Pad', inputs: [[3, 1, 3]], consts: { 1: i64([0, 2, 5, 0, 1, 4]) }, attrs: { mode: str('reflect') } },
  { name: 'Pad edge', op: 'Pad', inputs: [[2, 3, 4]], consts: { 1: i64([0, 2, 1, 0, 1, 3]) }, attrs: { mode: str('edge') } },
  { name: 'Pad edge wide (fan-in 11)', op: 'Pad', inputs: [[2, 3]], consts: { 1: i64([0, 10, 0, 9]) }, attrs: { mode: str('edge') } },
  { name: 'Pad edge 30 on an axis of 20 (lopsided fan-in: scatter form)', op: 'Pad', inputs: [[2, 20]], consts: { 1: i64([0, 30, 0, 0]) }, attrs: { mode: str('edge') } },
  { name: 'Pad edge 1-D cropping one end', op: 'Pad', inputs: [[6]], consts: { 1: i64([-2, 3]) }, attrs: { mode: str('edge') } },
  { name: 'Pad wrap, pads wider than the axis', op: 'Pad', inputs: [[1, 2, 3, 4]], consts: { 1: i64([0, 0, 4, 2, 0, 0, 5, 1]) }, attrs: { mode: str('wrap') } },
  { name: 'Pad wrap with cropping', op: 'Pad', inputs: [[3, 5]], consts: { 1: i64([1, -2, -1, 3]) }, attrs: { mode: str('wrap') } },
  resize('nearest asymmetric floor ×2', [1, 2, 3, 3], { scales: [1, 1, 2, 2] }, { mode: str('nearest'), coordinate_transformation_mode: str('asymmetric'), nearest_mode: str('floor') }),
  resize('nearest half_pixel round_prefer_floor downsample', [1, 1, 5, 7], { sizes: [1, 1, 2, 3] }, {}),
  resize('nearest align_corners round_prefer_ceil', [1, 2, 3, 4], { sizes: [1, 2, 5, 7] }, { coordinate_transformation_mode: str('align_corners'), nearest_mode: str('round_prefer_ceil') }),
  resize('nearest tf_half_pixel_for_nn ceil', [2, 1, 4, 3], { scales: [1, 1, 1.7, 2.4] }, { coordinate_transformation_mode: str('tf_half_pixel_for_nn'), nearest_mode: str('ceil') }),
  resize('nearest pytorch_half_pixel with axes', [1, 2, 3, 5], { scales: [0.6, 1.5] }, { coordinate_transformation_mode: str('pytorch_half_pixel'), axes: ints([3, 2]) }),
  resize('nearest ×9.5 (fan-in 10)', [1, 1, 2, 2], { sizes: [1, 1, 2, 19] }, { coordinate_transformation_mode: str('asymmetric'), nearest_mode: str('floor') }),
  resize('linear half_pixel ×2', [1, 2, 3, 4], { scales: [1, 1, 2, 2] }, { mode: str('linear') }),
  resize('linear pytorch_half_pixel downsample', [1, 1, 7, 5], { sizes: [1, 1, 3, 2] }, { mode: str('linear'), coordinate_transformation_mode: str('pytorch_half_pixel') }),
  resize('linear align_corners', [2, 1, 3, 4], { sizes: [2, 1, 5, 6] }, { mode: str('linear'), coordinate_transformation_mode: str('align_corners') }),
  resize('linear asymmetric with axes', [1, 2, 4, 3], { scales: [1.5, 2.5] }, { mode: str('linear'), coordinate_transformation_mode: str('asymmetric'), axes: ints([2, 3]) }),
  resize('linear half_pixel_symmetric', [1, 1, 4, 5], { scales: [1, 1, 1.6, 0.7] }, { mode: str('linear'), coordinate_transformation_mode: str('half_pixel_symmetric') }),
  resize('linear tf_crop_and_resize with extrapolation', [1, 1, 4, 5], { roi: [0, 0, 0.2, -0.1, 1, 1, 0.9, 1.2], sizes: [1, 1, 3, 6] }, { mode: str('linear'), coordinate_transformation_mode: str('tf_crop_and_resize'), extrapolation_value: float(0.5) }),
  resize('linear keep_aspect_ratio_policy not_larger', [1, 1, 4, 6], { sizes: [6, 7] }, { mode: str('linear'), axes: ints([2, 3]), keep_aspect_ratio_policy: str('not_larger') }),
  resize('linear ×15 (fan-in > 8)', [1, 1, 2, 3], { sizes: [1, 1, 2, 45] }, { mode: str('linear'), coordinate_transformation_mode: str('align_corners') }),
  resize('trilinear 3-D', [1, 1, 3, 3, 2], { scales: [1, 1, 2, 1.5, 2] }, { mode: str('linear') }),
  resize('cubic half_pixel ×2', [1, 1, 4, 5], { scales: [1, 1, 2, 2] }, { mode: str('cubic') }),
  resize('cubic A=-0.5 exclude_outside align_corners', [1, 2, 5, 4], { sizes: [1, 2, 7, 3] }, { mode: str('cubic'), cubic_coeff_a: float(-0.5), exclude_outside: int(1), coordinate_transformation_mode: str('align_corners') }),
  resize('cubic pytorch_half_pixel downsample', [1, 1, 8, 6], { sizes: [1, 1, 3, 4] }, { mode: str('cubic'), coordinate_transformation_mode: str('pytorch_half_pixel') }),
  { name: 'CenterCropPad pad one axis, crop another', op: 'CenterCropPad', inputs: [[3, 6, 5]], consts: { 1: i64([5, 3]) }, attrs: { axes: ints([0, 1]) } },
  { name: 'CenterCropPad odd differences, all axes', op: 'CenterCropPad', inputs: [[4, 5]], consts: { 1: i64([1, 8]) } },
  { name: 'Trilu upper k=1', op: 'Trilu', inputs: [[2, 4, 5]], consts: { 1: i64([1], []) } },
  { name: 'Trilu lower k=-1', op: 'Trilu', inputs: [[5, 4]], consts: { 1: i64([-1], []) }, attrs: { upper: int(0) } },
  { name: 'GatherND with a repeated index', op: 'GatherND', inputs: [[3, 4, 2]], consts: { 1: i64([0, 1, 2, 3, 1, 0, 2, -1], [4, 2]) } },
  { name: 'GatherND batch_dims=1', op: 'GatherND', inputs: [[2, 3, 4]], consts: { 1: i64([1, 2, 0, -1], [2, 2, 1]) }, attrs: { batch_dims: int(1) } },
  { name: 'ScatterElements (data and updates)', op: 'ScatterElements', inputs: [[3, 4], null, [3, 2]], consts: { 1: i64([1, 0, 2, -1, 0, 1], [3, 2]) }, attrs: { axis: int(1) } },
  { name: 'ScatterElements add with duplicates', op: 'ScatterElements', inputs: [[3, 4], null, [2, 4]], consts: { 1: i64([1, 0, 2, 1, 1, 2, 0, 1], [2, 4]) }, attrs: { reduction: str('add') } },
  { name: 'ScatterND (data and updates)', op: 'ScatterND', inputs: [[4, 3], null, [2, 3]], consts: { 1: i64([1, -1], [2, 1]) } },
  { name: 'ScatterND add with duplicates', op: 'ScatterND', inputs: [[3, 4], null, [3]], consts: { 1: i64([0, 1, 2, 3, 0, 1], [3, 2]) }, attrs: { reduction: str('add') } },
  { name: 'ReverseSequence batch-major', op: 'ReverseSequence', inputs: [[3, 4, 2]], consts: { 1: i64([4, 1, 3]) }, attrs: { batch_axis: int(0), time_axis: int(1) } },
  { name: 'Compress along an axis', op: 'Compress', inputs: [[3, 5]], consts: { 1: new Tensor('bool', [5], Uint8Array.from([1, 0, 1, 1, 0])) }, attrs: { axis: int(1) } },
  { name: 'Compress flattened', op: 'Compress', inputs: [[2, 3]], consts: { 1: new Tensor('bool', [5], Uint8Array.from([0, 1, 1, 0, 1])) } },
  { name: 'Expand', op: 'Expand', inputs: [[3, 1]], consts: { 1: i64([2, 3, 4]) } },
  { name: 'Tile', op: 'Tile', inputs: [[2, 3]], consts: { 1: i64([2, 2]) } },
  { name: 'Gather axis 0 (Embedding)', op: 'Gather', inputs: [[5, 3]], consts: { 1: i64([0, 4, 0, 2, 3, 4], [2, 3]) } },
  { name: 'Gather axis 1 negative scalar', op: 'Gather', inputs: [[2, 4, 3]], consts: { 1: i64([-1], []) }, attrs: { axis: int(1) } },
  { name: 'GatherElements', op: 'GatherElements', inputs: [[3, 4]], consts: { 1: i64([0, 3, 1, 1, 2, 0], [3, 2]) }, attrs: { axis: int(1) } },
  { name: 'MatMul 2D', op: 'MatMul', inputs: [[3, 4], [4, 2]] },
  { name: 'MatMul batched broadcast', op: 'MatMul', inputs: [[2, 1, 3, 4], [3, 4, 2]] },
  { name: 'MatMul 1-D × 2-D', op: 'MatMul', inputs: [[4], [4, 3]] },
  { name: 'MatMul 3-D × 1-D', op: 'MatMul', inputs: [[2, 3, 4], [4]] },
  { name: 'Gemm', op: 'Gemm', inputs: [[3, 4], [4, 2], [2]], attrs: { alpha: float(0.7), beta: float(1.3) } },
  { name: 'Gemm transA transB', op: 'Gemm', inputs: [[4, 3], [2, 4], [3, 1]], attrs: { transA: int(1), transB: int(1) } },
  { name: 'Conv 2D', op: 'Conv', inputs: [[2, 3, 5, 5], [4, 3, 3, 3], [4]], attrs: { pads: ints([1, 1, 1, 1]) } },
  { name: 'Conv 2D stride dilation', op: 'Conv', inputs: [[1, 2, 7, 6], [3, 2, 2, 3]], attrs: { strides: ints([2, 1]), dilations: ints([2, 1]), pads: ints([0, 1, 1, 0]) } },
  { name: 'Conv 2D groups', op: 'Conv', inputs: [[1, 4, 5, 5], [6, 2, 3, 3], [6]], attrs: { group: int(2), strides: ints([2, 2]) } },
  { name: 'Conv 2D depthwise SAME_UPPER', op: 'Conv', inputs: [[1, 3, 5, 4], [3, 1, 2, 2]], attrs: { group: int(3), auto_pad: str('SAME_UPPER') } },
  { name: 'Conv 2D wide channels (per-tap Gemm form)', op: 'Conv', inputs: [[1, 8, 4, 4], [8, 8, 2, 2], [8]], attrs: { pads: ints([1, 0, 0, 1]), strides: ints([1, 2]) } },
  { name: 'Conv 1D wide channels dilated (per-tap Gemm form)', op: 'Conv', inputs: [[1, 8, 7], [8, 8, 3]], attrs: { dilations: ints([2]), pads: ints([1, 1]) } },
  { name: 'ConvTranspose wide channels (per-tap Gemm form)', op: 'ConvTranspose', inputs: [[1, 8, 2, 2], [8, 8, 2, 2]], attrs: { strides: ints([2, 2]), output_padding: ints([1, 0]) } },
  { name: 'Conv 1D', op: 'Conv', inputs: [[2, 2, 9], [3, 2, 3], [3]], attrs: { strides: ints([2]), pads: ints([1, 2]) } },
  { name: 'ConvTranspose 2D', op: 'ConvTranspose', inputs: [[1, 2, 3, 3], [2, 3, 3, 3], [3]], attrs: { strides: ints([2, 2]), pads: ints([1, 1, 1, 1]), output_padding: ints([1, 1]) } },
  { name: 'ConvTranspose 2D groups', op: 'ConvTranspose', inputs: [[1, 4, 3, 2], [4, 1, 2, 2]], attrs: { group: int(2), strides: ints([1, 2]) } },
  { name: 'ConvTranspose output_shape (pads derived, odd pixel first)', op: 'ConvTranspose', inputs: [[1, 2, 3, 3], [2, 3, 3, 3], [3]], attrs: { strides: ints([2, 2]), output_shape: ints([6, 5]) } },
  { name: 'ConvTranspose output_shape larger than the full size', op: 'ConvTranspose', inputs: [[1, 2, 2, 3], [2, 2, 2, 2]], attrs: { strides: ints([2, 1]), output_shape: ints([1, 2, 6, 5]) } },
  { name: 'ConvTranspose auto_pad SAME_UPPER', op: 'ConvTranspose', inputs: [[1, 2, 3, 2], [2, 2, 3, 2], [2]], attrs: { strides: ints([2, 2]), auto_pad: str('SAME_UPPER') } },
  { name: 'ConvTranspose auto_pad SAME_LOWER dilated groups 1-D', op: 'ConvTranspose', inputs: [[2, 4, 4], [4, 1, 3]], attrs: { strides: ints([3]), dilations: ints([2]), group: int(2), auto_pad: str('SAME_LOWER') } },
  { name: 'ConvTranspose auto_pad VALID', op: 'ConvTranspose', inputs: [[1, 1, 3, 3], [1, 2, 2, 2]], attrs: { strides: ints([2, 2]), auto_pad: str('VALID'), pads: ints([1, 1, 1, 1]) } },
  { name: 'MaxPool storage_order=1 (column-major Indices)', op: 'MaxPool', inputs: [[2, 2, 5, 4]], attrs: { kernel_shape: ints([2, 3]), strides: ints([2, 1]), pads: ints([1, 0, 0, 1]), storage_order: int(1) } },
  { name: 'MaxPool 3-D storage_order=1', op: 'MaxPool', inputs: [[1, 2, 3, 4, 3]], attrs: { kernel_shape: ints([2, 2, 2]), storage_order: int(1) } },
  { name: 'MaxPool 1-D storage_order=1', op: 'MaxPool', inputs: [[2, 3, 7]], attrs: { kernel_shape: ints([3]), strides: ints([2]), storage_order: int(1) } },
  { name: 'MaxPool 2D pads', op: 'MaxPool', inputs: [[1, 2, 5, 5]], attrs: { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) } },
  { name: 'AveragePool exclude pad', op: 'AveragePool', inputs: [[1, 2, 5, 5]], attrs: { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) } },
  { name: 'AveragePool include pad', op: 'AveragePool', inputs: [[1, 2, 4, 5]], attrs: { kernel_shape: ints([2, 3]), strides: ints([2, 1]), pads: ints([0, 1, 1, 1]), count_include_pad: int(1) } },
  { name: 'AveragePool ceil_mode', op: 'AveragePool', inputs: [[1, 1, 5, 5]], attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]), ceil_mode: int(1) } },
  gridSample('bilinear zeros', { mode: str('bilinear') }, 1.2),
  gridSample('bilinear border align_corners', { mode: str('bilinear'), padding_mode: str('border'), align_corners: int(1) }, 1.3),
  gridSample('bilinear reflection (several mirrorings)', { mode: str('bilinear'), padding_mode: str('reflection') }, 3.1),
  gridSample('bilinear reflection align_corners', { mode: str('bilinear'), padding_mode: str('reflection'), align_corners: int(1) }, 2.2),
  gridSample('bicubic zeros', { mode: str('bicubic') }, 1.2),
  gridSample('bicubic border align_corners', { mode: str('bicubic'), padding_mode: str('border'), align_corners: int(1) }, 1.4),
  gridSample('bicubic reflection', { mode: str('bicubic'), padding_mode: str('reflection') }, 2.6),
  gridSample('nearest zeros (grid gradient 0)', { mode: str('nearest') }, 1.1),
  { name: 'LpPool p=2 pads strides', op: 'LpPool', inputs: [[1, 2, 5, 5]], attrs: { kernel_shape: ints([3, 2]), strides: ints([2, 1]), pads: ints([1, 0, 1, 1]) } },
  { name: 'LpPool p=3 1-D SAME_UPPER', op: 'LpPool', inputs: [[2, 2, 7]], attrs: { kernel_shape: ints([3]), strides: ints([2]), p: int(3), auto_pad: str('SAME_UPPER') } },
  { name: 'LpPool p=1 dilated ceil_mode', op: 'LpPool', inputs: [[1, 1, 6, 6]], attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]), dilations: ints([2, 1]), ceil_mode: int(1), p: int(1) } },
  { name: 'GlobalLpPool p=2', op: 'GlobalLpPool', inputs: [[2, 3, 3, 2]] },
  { name: 'GlobalLpPool p=3', op: 'GlobalLpPool', inputs: [[2, 2, 4]], attrs: { p: int(3) } },
  { name: 'MaxUnpool', op: 'MaxUnpool', inputs: [[1, 2, 2, 2]], consts: { 1: i64([0, 3, 9, 14, 17, 18, 28, 31], [1, 2, 2, 2]) }, attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]) } },
  { name: 'MaxUnpool output_shape, a repeated index', op: 'MaxUnpool', inputs: [[1, 1, 2, 2]], consts: { 1: i64([1, 1, 10, 15], [1, 1, 2, 2]), 2: i64([1, 1, 5, 5]) }, attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]) } },
  { name: 'GlobalAveragePool', op: 'GlobalAveragePool', inputs: [[2, 3, 3, 2]] },
  { name: 'GlobalMaxPool', op: 'GlobalMaxPool', inputs: [[2, 3, 3, 2]] },
  { name: 'Dropout inference', op: 'Dropout', inputs: [[2, 3]] },
  { name: 'BatchNormalization inference', op: 'BatchNormalization', inputs: [[2, 3, 2, 2], [3], [3], [3], pos(3)], attrs: { epsilon: float(1e-3) } },
  { name: 'BatchNormalization training', op: 'BatchNormalization', inputs: [[3, 2, 2, 2], [2], [2], null, null], consts: { 3: Tensor.from('float64', [2], [0.1, -0.2]), 4: Tensor.from('float64', [2], [1.5, 0.7]) }, attrs: { training_mode: int(1) }, nodeOutputs: 3 },
  { name: 'LRN size 3', op: 'LRN', inputs: [[2, 5, 2, 3]], attrs: { size: int(3), alpha: float(0.3), beta: float(0.75), bias: float(1.5) } },
  { name: 'LRN size 4 (uneven window) 1-D', op: 'LRN', inputs: [[1, 6, 4]], attrs: { size: int(4), alpha: float(0.5), beta: float(0.6) } },
  { name: 'NegativeLogLikelihoodLoss mean with weights and ignore_index', op: 'NegativeLogLikelihoodLoss', inputs: [[4, 3], null, pos(3)], consts: { 1: i64([2, 0, 1, 0]) }, attrs: { ignore_index: int(1) } },
  { name: 'NegativeLogLikelihoodLoss none [N, C, d]', op: 'NegativeLogLikelihoodLoss', inputs: [[2, 4, 3]], consts: { 1: i64([0, 3, 1, 2, 2, 0], [2, 3]) }, attrs: { reduction: str('none') } },
  { name: 'SoftmaxCrossEntropyLoss sum with log_prob output', op: 'SoftmaxCrossEntropyLoss', inputs: [[3, 4, 2]], consts: { 1: i64([1, 3, 0, 0, 2, 1], [3, 2]) }, attrs: { reduction: str('sum') }, outputs: 2 },
  { name: 'SoftmaxCrossEntropyLoss mean weighted, ignore_index', op: 'SoftmaxCrossEntropyLoss', inputs: [[5, 3], null, pos(3)], consts: { 1: i64([2, -1, 0, 1, -1]) }, attrs: { ignore_index: int(-1) } },
  { name: 'LayerNormalization', op: 'LayerNormalization', inputs: [[2, 3, 4], [3, 4], [3, 4]], attrs: { axis: int(-2) } },
  { name: 'InstanceNormalization', op: 'InstanceNormalization', inputs: [[2, 3, 4], [3], [3]] },
  { name: 'LSTM bidirectional with states and peepholes', op: 'LSTM', inputs: [[3, 2, 3], [2, 16, 3], [2, 16, 4], [2, 32], null, [2, 2, 4], [2, 2, 4], [2, 12]], attrs: { hidden_size: int(4), direction: str('bidirectional') }, outputs: 3 },
  { name: 'LSTM layout 1', op: 'LSTM', inputs: [[2, 3, 3], [1, 8, 3], [1, 8, 2]], attrs: { hidden_size: int(2), layout: int(1) }, outputs: 3 },
  { name: 'GRU linear_before_reset', op: 'GRU', inputs: [[3, 2, 3], [1, 9, 3], [1, 9, 3], [1, 18]], attrs: { hidden_size: int(3), linear_before_reset: int(1) }, outputs: 2 },
  { name: 'GRU reverse', op: 'GRU', inputs: [[3, 2, 3], [1, 9, 3], [1, 9, 3], [1, 18], null, [1, 2, 3]], attrs: { hidden_size: int(3), direction: str('reverse') }, outputs: 2 },
  { name: 'LSTM HardSigmoid/Tanh (Keras 2) bidirectional activations', op: 'LSTM', inputs: [[2, 2, 3], [2, 8, 3], [2, 8, 2], [2, 16]], attrs: { hidden_size: int(2), direction: str('bidirectional'), activations: { type: 'strings', value: ['HardSigmoid', 'Tanh', 'Tanh', 'Sigmoid', 'Softsign', 'Elu'] }, activation_alpha: { type: 'floats', value: [0.25, 0.9] }, activation_beta: { type: 'floats', value: [0.45] } }, outputs: 3 },
  { name: 'GRU Relu activations', op: 'GRU', inputs: [[3, 1, 2], [1, 6, 2], [1, 6, 2], [1, 12]], attrs: { hidden_size: int(2), activations: { type: 'strings', value: ['Sigmoid', 'LeakyRelu'] }, activation_alpha: { type: 'floats', value: [0.2] } }, outputs: 2 },
  { name: 'RNN', op: 'RNN', inputs: [[4, 2, 3], [1, 3, 3], [1, 3, 3], [1, 6]], attrs: { hidden_size: int(3) }, outputs: 2 },
  { name: 'LSTM bidirectional, sequence_lens 4/1/3, states and peepholes', op: 'LSTM', inputs: [[4, 3, 2], [2, 12, 2], [2, 12, 3], [2, 24], null, [2, 3, 3], [2, 3, 3], [2, 9]], consts: { 4: i32([4, 1, 3]) }, attrs: { hidden_size: int(3), direction: str('bidirectional') }, outputs: 3 },
  { name: 'GRU reverse, sequence_lens with an empty row', op: 'GRU', inputs: [[3, 3, 2], [1, 6, 2], [1, 6, 2], [1, 12], null, [1, 3, 2]], consts: { 4: i32([2, 0, 3]) }, attrs: { hidden_size: int(2), direction: str('reverse') }, outputs: 2 },
  { name: 'GRU bidirectional linear_before_reset layout 1, sequence_lens', op: 'GRU', inputs: [[2, 4, 3], [2, 6, 3], [2, 6, 2], [2, 12]], consts: { 4: i32([2, 4]) }, attrs: { hidden_size: int(2), direction: str('bidirectional'), linear_before_reset: int(1), layout: int(1) }, outputs: 2 },
  { name: 'LSTM clip and input_forget with peepholes', op: 'LSTM', inputs: [[3, 2, 3], [1, 8, 3], [1, 8, 2], [1, 16], null, [1, 2, 2], [1, 2, 2], [1, 6]], attrs: { hidden_size: int(2), clip: float(0.6), input_forget: int(1) }, outputs: 3 },
  { name: 'GRU clip, both directions', op: 'GRU', inputs: [[3, 2, 2], [2, 6, 2], [2, 6, 2], [2, 12]], attrs: { hidden_size: int(2), clip: float(0.4), direction: str('bidirectional') }, outputs: 2 },
  { name: 'RNN clip with Relu, sequence_lens', op: 'RNN', inputs: [[3, 2, 2], [1, 3, 2], [1, 3, 3], [1, 6]], consts: { 4: i32([3, 2]) }, attrs: { hidden_size: int(3), clip: float(0.5), activations: { type: 'strings', value: ['Relu'] } }, outputs: 2 },
  { name: 'RNN sequence_lens with initial state', op: 'RNN', inputs: [[4, 2, 3], [1, 3, 3], [1, 3, 3], [1, 6], null, [1, 2, 3]], consts: { 4: i32([1, 3]) }, attrs: { hidden_size: int(3) }, outputs: 2 },
];

function makeInput(init: Init, rnd: () => number): Tensor {
  const shape = Array.isArray(init) ? init : init.shape;
  const n = shape.reduce((a, b) => a * b, 1);
  const positive = !Array.isArray(init) && init.positive;
  const values = !Array.isArray(init) && init.values ? init.values : Array.from({ length: n }, () => (positive ? 0.5 + rnd() : rnd() * 2 - 1));
  return Tensor.from('float64', shape, values);
}

describe('gradient rules agree with finite differences (float64)', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const rnd = seededRandom(42);
      const g = emptyGraph('check');
      const ins: string[] = [];
      const diff: string[] = [];
      const feeds = new Map<string, Tensor>();
      const arity = Math.max(c.inputs.length, ...Object.keys(c.consts ?? {}).map((k) => Number(k) + 1));
      Array.from({ length: arity }, (_, k) => c.inputs[k] ?? null).forEach((init, k) => {
        const cst = c.consts?.[k];
        if (cst) {
          g.initializers.set(`c${k}`, cst);
          ins.push(`c${k}`);
        } else if (init) {
          const name = `x${k}`;
          const t = makeInput(init, rnd);
          g.inputs.push({ name, type: { kind: 'tensor', dtype: 'float64', shape: t.shape.slice() } });
          feeds.set(name, t);
          ins.push(name);
          diff.push(name);
        } else ins.push('');
      });
      const nOut = c.outputs ?? 1;
      const outs = Array.from({ length: Math.max(nOut, c.nodeOutputs ?? 0) }, (_, k) => `y${k}`);
      g.nodes.push(makeNode(c.op, ins, outs, c.attrs ?? {}));
      // Loss = Σ_k sum(y_k * W_k) with W_k fixed random (shapes from a first forward run).
      const first = await recordTape(g, feeds, { decompose: false });
      let lossName = '';
      for (let k = 0; k < nOut; k++) {
        const y = first.values.get(`y${k}`)!;
        const w = Tensor.from('float64', y.shape, Array.from({ length: y.size }, () => rnd() * 2 - 1));
        g.initializers.set(`w${k}`, w);
        g.nodes.push(makeNode('Mul', [`y${k}`, `w${k}`], [`p${k}`]));
        g.nodes.push(makeNode('ReduceSum', [`p${k}`], [`s${k}`], { keepdims: int(0) }));
        if (k === 0) lossName = 's0';
        else {
          g.nodes.push(makeNode('Add', [lossName, `s${k}`], [`l${k}`]));
          lossName = `l${k}`;
        }
      }
      g.outputs.push({ name: lossName });
      const { tape, grads } = await gradients(g, feeds, lossName, diff);
      const lossAt = async (f: Map<string, Tensor>): Promise<number> => (await recordTape(g, f, { decompose: false })).values.get(lossName)!.get(0);
      // The tape (decomposed where the op has a decomposition) computes what the kernel computes.
      const kernelLoss = await lossAt(feeds);
      expect(Math.abs(tape.values.get(lossName)!.get(0) - kernelLoss), `${c.name}: taped loss vs kernel loss ${kernelLoss}`).toBeLessThanOrEqual(1e-9 * (1 + Math.abs(kernelLoss)));
      const h = 1e-6;
      for (const name of diff) {
        const x = feeds.get(name)!;
        const analytic = grads.get(name)!;
        expect(analytic.shape, `${name} gradient shape`).toEqual(x.shape);
        for (let i = 0; i < x.size; i++) {
          const plus = new Float64Array(x.data as Float64Array);
          const minus = new Float64Array(x.data as Float64Array);
          plus[i]! += h;
          minus[i]! -= h;
          const lp = await lossAt(new Map(feeds).set(name, new Tensor('float64', x.shape, plus)));
          const lm = await lossAt(new Map(feeds).set(name, new Tensor('float64', x.shape, minus)));
          const numeric = (lp - lm) / (2 * h);
          const a = analytic.get(i);
          expect(Math.abs(a - numeric), `${c.name}: d/d${name}[${i}] autograd ${a} vs finite difference ${numeric}`).toBeLessThanOrEqual(1e-5 + 1e-5 * Math.abs(numeric));
        }
      }
    });
  }
});

describe('per-axis adjoint form (Pad/Resize gradients)', () => {
  /** Op types of the backward graph of loss = sum(node(x)). */
  async function backwardOps(op: string, shape: number[], consts: Record<number, Tensor>, attrs: AttrMap): Promise<string[]> {
    const g = emptyGraph('form');
    g.inputs.push({ name: 'x', type: { kind: 'tensor', dtype: 'float64', shape } });
    const arity = Math.max(...Object.keys(consts).map(Number)) + 1;
    const ins = ['x', ...Array.from({ length: arity - 1 }, (_, k) => (consts[k + 1] ? `c${k + 1}` : ''))];
    for (const [k, t] of Object.entries(consts)) g.initializers.set(`c${k}`, t);
    g.nodes.push(makeNode(op, ins, ['y'], attrs));
    const x = Tensor.from('float64', shape, new Array<number>(shape.reduce((a, b) => a * b, 1)).fill(0.5));
    const tape = await recordTape(g, { x });
    return buildBackward(tape, 'y', ['x']).graph.nodes.map((n) => n.opType);
  }
  it('an even fan-in gathers (×2 linear upsampling: no scatter)', async () => {
    const ops = await backwardOps('Resize', [1, 1, 4, 4], { 2: f32([1, 1, 2, 2]) }, { mode: str('linear') });
    expect(ops).toContain('Gather');
    expect(ops).not.toContain('ScatterElements');
  });
  it('a lopsided fan-in scatters (edge pad 30 on an axis of 20)', async () => {
    const ops = await backwardOps('Pad', [2, 20], { 1: i64([0, 30, 0, 0]) }, { mode: str('edge') });
    expect(ops).toContain('ScatterElements');
    expect(ops).not.toContain('Gather');
  });
});
