/**
 * Helpers for the elementwise/reduce op tests: run one op on the CPU backend the way the executor
 * does, and run the same nodes in onnxruntime-node (the oracle) through the ONNX exporter.
 */
import { fromOrtTensor, loadOrt, toOrtTensor } from '../../scripts/conformance.js';
import { exportOnnx } from '../../src/exporters/onnx/index.js';
import type { DType } from '../../src/ir/dtype.js';
import { emptyModel, type Attr, type Node } from '../../src/ir/graph.js';
import type { Tensor } from '../../src/ir/tensor.js';
import { CpuBackend } from '../../src/kernels/cpu/index.js';
import type { Value } from '../../src/runtime/value.js';

export async function runOp(op: string, attrs: Record<string, Attr>, inputs: (Tensor | undefined)[]): Promise<Value[]> {
  const node: Node = { name: `${op}_test`, opType: op, domain: '', inputs: inputs.map((_, i) => `in${i}`), outputs: ['out0', 'out1'], attrs, scope: '' };
  return new CpuBackend().run(node, inputs, { training: false, random: Math.random, runSubgraph: async () => [] }) as Promise<Value[]>;
}

/** onnxruntime-node, or undefined when it cannot be loaded (tests then skip visibly). */
export const ort = await loadOrt().catch(() => undefined);

/** Run `nodes` (a chain over value names) in onnxruntime-node at `opset`. */
export async function runOrt(nodes: Node[], inputs: Record<string, Tensor>, outputs: { name: string; dtype: DType }[], opset: number): Promise<Tensor[]> {
  const m = emptyModel();
  m.sourceOpsets = { '': opset };
  m.graph.nodes = nodes;
  m.graph.inputs = Object.entries(inputs).map(([name, t]) => ({ name, type: { kind: 'tensor', dtype: t.dtype, shape: t.shape.slice() } }));
  m.graph.outputs = outputs.map(({ name, dtype }) => ({ name, type: { kind: 'tensor', dtype } }));
  const bytes = exportOnnx(m, { opset }).files.get('model.onnx')!;
  const s = await ort!.InferenceSession.create(bytes, { logSeverityLevel: 4 });
  try {
    const feeds: Record<string, import('onnxruntime-node').Tensor> = {};
    for (const [k, v] of Object.entries(inputs)) feeds[k] = toOrtTensor(ort!, v);
    const out = await s.run(feeds);
    return outputs.map((o) => fromOrtTensor(out[o.name]!));
  } finally {
    await s.release();
  }
}
