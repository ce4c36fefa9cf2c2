/**
 * Opset normalisation (src/importers/onnx/opset.ts): models in old operator forms, built here,
 * must compute in Rosetta what onnxruntime-node computes for the original (the oracle, run at test
 * time); and the imported IR must hold the latest form. Skipped visibly when onnxruntime-node is
 * missing; cases whose op has no CPU kernel yet are skipped with the reason in their name.
 */
import { describe, expect, it } from 'vitest';
import { compareValues } from '../../scripts/conformance-case.js';
import { fromOrtTensor, loadOrt, toOrtTensor } from '../../scripts/conformance.js';
import { encodeOnnxMessage } from '../../src/formats/onnx-proto.js';
import { importOnnx } from '../../src/importers/onnx/index.js';
import type { Model } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { CPU_KERNELS } from '../../src/kernels/cpu/index.js';
import { Session, seededRandom } from '../../src/runtime/session.js';

const ort = await loadOrt();
if (!ort) console.warn('[rosetta tests] onnxruntime-node not installed: opset normalisation oracle tests skipped');

interface Case {
  name: string;
  opset: number;
  node: { op_type: string; input: string[]; output: string[]; attribute?: Record<string, unknown>[] };
  inputs: Record<string, Tensor>;
  /** Extra constant inputs (initializers). */
  inits?: Record<string, Tensor>;
  /** What the IR must look like after import. */
  check: (m: Model) => void;
}

const rnd = seededRandom(3);
const rand = (shape: number[]): Tensor => Tensor.from('float32', shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rnd() * 4 - 2));
const ints = (name: string, v: number[]) => ({ name, type: 7, ints: v });
const f = (name: string, v: number) => ({ name, type: 1, f: v });
const i = (name: string, v: number) => ({ name, type: 2, i: v });
const s = (name: string, v: string) => ({ name, type: 3, s: new TextEncoder().encode(v) });
const floats = (name: string, v: number[]) => ({ name, type: 6, floats: v });
const op = (m: Model, k = 0) => m.graph.nodes.filter((n) => n.opType !== 'CastLike')[k]!;
const constInput = (m: Model, k: number, node = op(m)) => m.graph.initializers.get(node.inputs[k]!)!.toNumbers();

const CASES: Case[] = [
  { name: 'Slice-1 starts/ends/axes attributes', opset: 9, node: { op_type: 'Slice', input: ['x'], output: ['y'], attribute: [ints('starts', [1, 0]), ints('ends', [3, -1]), ints('axes', [0, 1])] }, inputs: { x: rand([4, 5]) }, check: (m) => expect(constInput(m, 2)).toEqual([3, -1]) },
  { name: 'Pad-2 pads/value attributes', opset: 10, node: { op_type: 'Pad', input: ['x'], output: ['y'], attribute: [ints('pads', [0, 1, 2, 0]), f('value', 1.5)] }, inputs: { x: rand([2, 3]) }, check: (m) => expect(constInput(m, 1)).toEqual([0, 1, 2, 0]) },
  { name: 'Split-2 split attribute', opset: 11, node: { op_type: 'Split', input: ['x'], output: ['a', 'b'], attribute: [i('axis', 1), ints('split', [2, 3])] }, inputs: { x: rand([2, 5]) }, check: (m) => expect(constInput(m, 1)).toEqual([2, 3]) },
  { name: 'ReduceMean-13 axes attribute', opset: 13, node: { op_type: 'ReduceMean', input: ['x'], output: ['y'], attribute: [ints('axes', [1]), i('keepdims', 0)] }, inputs: { x: rand([3, 4, 2]) }, check: (m) => expect(constInput(m, 1)).toEqual([1]) },
  { name: 'ReduceSum-11 axes attribute', opset: 11, node: { op_type: 'ReduceSum', input: ['x'], output: ['y'], attribute: [ints('axes', [0, 2])] }, inputs: { x: rand([3, 4, 2]) }, check: (m) => expect(constInput(m, 1)).toEqual([0, 2]) },
  { name: 'Squeeze-11 axes attribute', opset: 11, node: { op_type: 'Squeeze', input: ['x'], output: ['y'], attribute: [ints('axes', [0])] }, inputs: { x: rand([1, 3]) }, check: (m) => expect(constInput(m, 1)).toEqual([0]) },
  { name: 'Unsqueeze-11 axes attribute', opset: 11, node: { op_type: 'Unsqueeze', input: ['x'], output: ['y'], attribute: [ints('axes', [0, 3])] }, inputs: { x: rand([2, 3]) }, check: (m) => expect(constInput(m, 1)).toEqual([0, 3]) },
  { name: 'Softmax-11 axis 1 on rank 3 (2D coercion)', opset: 11, node: { op_type: 'Softmax', input: ['x'], output: ['y'], attribute: [i('axis', 1)] }, inputs: { x: rand([2, 3, 4]) }, check: (m) => expect(m.graph.nodes.map((n) => n.opType)).toEqual(['Shape', 'Flatten', 'Softmax', 'Reshape']) },
  { name: 'LogSoftmax-11 default axis', opset: 11, node: { op_type: 'LogSoftmax', input: ['x'], output: ['y'] }, inputs: { x: rand([2, 3, 4]) }, check: (m) => expect(m.graph.nodes.some((n) => n.opType === 'Flatten')).toBe(true) },
  { name: 'Hardmax-11 axis 1', opset: 11, node: { op_type: 'Hardmax', input: ['x'], output: ['y'], attribute: [i('axis', 1)] }, inputs: { x: rand([2, 3, 4]) }, check: (m) => expect(m.graph.nodes.some((n) => n.opType === 'Reshape')).toBe(true) },
  { name: 'Softmax-11 on the last axis stays one node', opset: 11, node: { op_type: 'Softmax', input: ['x'], output: ['y'], attribute: [i('axis', 1)] }, inputs: { x: rand([2, 5]) }, check: (m) => expect(m.graph.nodes.length).toBe(1) },
  { name: 'Clip-6 min/max attributes', opset: 10, node: { op_type: 'Clip', input: ['x'], output: ['y'], attribute: [f('min', -0.5), f('max', 0.75)] }, inputs: { x: rand([3, 4]) }, check: (m) => expect(constInput(m, 2)).toEqual([0.75]) },
  { name: 'TopK-1 k attribute', opset: 9, node: { op_type: 'TopK', input: ['x'], output: ['v', 'i'], attribute: [i('k', 2)] }, inputs: { x: rand([3, 5]) }, check: (m) => expect(constInput(m, 1)).toEqual([2]) },
  { name: 'Dropout-10 ratio attribute (inference: identity)', opset: 10, node: { op_type: 'Dropout', input: ['x'], output: ['y'], attribute: [f('ratio', 0.3)] }, inputs: { x: rand([3, 4]) }, check: (m) => expect(m.graph.initializers.get(op(m).inputs[1]!)!.get(0)).toBeCloseTo(0.3, 6) },
  {
    name: 'BatchNormalization-7 spatial attribute',
    opset: 7,
    node: { op_type: 'BatchNormalization', input: ['x', 'sc', 'b', 'mean', 'var'], output: ['y'], attribute: [i('spatial', 1), f('epsilon', 1e-3)] },
    inputs: { x: rand([2, 3, 2, 2]) },
    inits: { sc: rand([3]), b: rand([3]), mean: rand([3]), var: Tensor.from('float32', [3], [0.5, 1, 2]) },
    check: (m) => expect(op(m).attrs['spatial']).toBeUndefined(),
  },
  { name: 'Upsample-9 nearest (scales input) → Resize', opset: 9, node: { op_type: 'Upsample', input: ['x', 'sc'], output: ['y'], attribute: [s('mode', 'nearest')] }, inputs: { x: rand([1, 1, 2, 3]) }, inits: { sc: Tensor.from('float32', [4], [1, 1, 2, 3]) }, check: (m) => expect(op(m).opType).toBe('Resize') },
  { name: 'Upsample-7 linear (scales attribute) → Resize', opset: 7, node: { op_type: 'Upsample', input: ['x'], output: ['y'], attribute: [s('mode', 'linear'), floats('scales', [1, 1, 2, 2])] }, inputs: { x: rand([1, 2, 2, 3]) }, check: (m) => expect(op(m).attrs['coordinate_transformation_mode']).toEqual({ type: 'string', value: 'asymmetric' }) },
  { name: 'Resize-10 nearest → Resize-13 form', opset: 10, node: { op_type: 'Resize', input: ['x', 'sc'], output: ['y'], attribute: [s('mode', 'nearest')] }, inputs: { x: rand([1, 1, 3, 2]) }, inits: { sc: Tensor.from('float32', [4], [1, 1, 2, 1.5]) }, check: (m) => expect(op(m).inputs[1]).toBe('') },
  { name: 'ImageScaler (experimental, opset 1–9) → Mul/Add', opset: 9, node: { op_type: 'ImageScaler', input: ['x'], output: ['y'], attribute: [f('scale', 0.5), floats('bias', [1, -2, 3])] }, inputs: { x: rand([1, 3, 2, 2]) }, check: (m) => expect(m.graph.nodes.map((n) => n.opType)).toEqual(['Mul', 'Add']) },
  { name: 'ScaledTanh (experimental) → Mul/Tanh/Mul', opset: 9, node: { op_type: 'ScaledTanh', input: ['x'], output: ['y'], attribute: [f('alpha', 1.5), f('beta', 0.7)] }, inputs: { x: rand([2, 3]) }, check: (m) => expect(m.graph.nodes.map((n) => n.opType)).toEqual(['Mul', 'Tanh', 'Mul']) },
  { name: 'Affine (experimental) → Mul/Add', opset: 9, node: { op_type: 'Affine', input: ['x'], output: ['y'], attribute: [f('alpha', 2), f('beta', -1)] }, inputs: { x: rand([2, 3]) }, check: (m) => expect(m.graph.nodes.map((n) => n.opType)).toEqual(['Mul', 'Add']) },
  { name: 'ParametricSoftplus (experimental) → Mul/Softplus/Mul', opset: 9, node: { op_type: 'ParametricSoftplus', input: ['x'], output: ['y'], attribute: [f('alpha', 0.5), f('beta', 2)] }, inputs: { x: rand([2, 3]) }, check: (m) => expect(m.graph.nodes.map((n) => n.opType)).toEqual(['Mul', 'Softplus', 'Mul']) },
  { name: 'Crop (experimental) border → Slice', opset: 9, node: { op_type: 'Crop', input: ['x'], output: ['y'], attribute: [ints('border', [1, 2, 0, 1])] }, inputs: { x: rand([1, 2, 5, 4]) }, check: (m) => expect(op(m).opType).toBe('Slice') },
  { name: 'Crop (experimental) border + scale → Slice', opset: 9, node: { op_type: 'Crop', input: ['x'], output: ['y'], attribute: [ints('border', [1, 1, 0, 0]), ints('scale', [2, 2])] }, inputs: { x: rand([1, 2, 5, 4]) }, check: (m) => expect(constInput(m, 2)).toEqual([3, 3]) },
  { name: 'MeanVarianceNormalization-1 per channel → axes [0, 2, 3]', opset: 8, node: { op_type: 'MeanVarianceNormalization', input: ['x'], output: ['y'] }, inputs: { x: rand([2, 3, 2, 3]) }, check: (m) => expect(op(m).attrs['axes']).toEqual({ type: 'ints', value: [0, 2, 3] }) },
  { name: 'MeanVarianceNormalization-1 across channels → axes [0, 1, 2, 3]', opset: 8, node: { op_type: 'MeanVarianceNormalization', input: ['x'], output: ['y'], attribute: [i('across_channels', 1)] }, inputs: { x: rand([2, 3, 2, 3]) }, check: (m) => expect(op(m).attrs['axes']).toEqual({ type: 'ints', value: [0, 1, 2, 3] }) },
  { name: 'MeanVarianceNormalization-1 mean only → ReduceMean/Sub', opset: 8, node: { op_type: 'MeanVarianceNormalization', input: ['x'], output: ['y'], attribute: [i('normalize_variance', 0)] }, inputs: { x: rand([2, 3, 2, 3]) }, check: (m) => expect(m.graph.nodes.map((n) => n.opType)).toEqual(['ReduceMean', 'Sub']) },
];

function buildModel(c: Case): Uint8Array {
  const f32 = { tensor_type: { elem_type: 1 } };
  return encodeOnnxMessage('ModelProto', {
    ir_version: c.opset < 9 ? 3 : 6,
    opset_import: [{ domain: '', version: c.opset }],
    graph: {
      name: 'g',
      node: [{ ...c.node, name: 'n0' }],
      initializer: Object.entries(c.inits ?? {}).map(([name, t]) => ({ name, dims: t.shape.slice(), data_type: 1, float_data: [...(t.data as Float32Array)] })),
      // IR 3 requires initializers to be listed among the inputs
      input: [
        ...Object.entries(c.inputs).map(([name, t]) => ({ name, type: { tensor_type: { elem_type: 1, shape: { dim: t.shape.map((d) => ({ dim_value: d })) } } } })),
        ...(c.opset < 9 ? Object.keys(c.inits ?? {}).map((name) => ({ name, type: f32 })) : []),
      ],
      output: c.node.output.map((name) => ({ name })),
    },
  });
}

describe.skipIf(!ort)('old opset forms compute what onnxruntime-node computes', () => {
  for (const c of CASES) {
    const rewrittenTo: Record<string, string> = { Crop: 'Slice', Upsample: 'Resize', ImageScaler: 'Mul', ScaledTanh: 'Tanh', Affine: 'Add', ParametricSoftplus: 'Softplus' };
    const kernel = rewrittenTo[c.node.op_type] ?? c.node.op_type;
    const missing = !(kernel in CPU_KERNELS);
    it.skipIf(missing)(`${c.name}${missing ? ` (skipped: no CPU kernel for ${kernel} yet)` : ''}`, async () => {
      const bytes = buildModel(c);
      const model = await importOnnx(bytes, { name: c.name });
      c.check(model);
      const session = await ort!.InferenceSession.create(bytes, { logSeverityLevel: 3 });
      const feeds = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, toOrtTensor(ort!, v)]));
      const expected = await session.run(feeds);
      const { outputs } = await (await Session.create(model)).run(c.inputs);
      for (const name of c.node.output) {
        expect(compareValues(outputs[name], fromOrtTensor(expected[name]!), name)).toBeUndefined();
      }
    });
  }
});
