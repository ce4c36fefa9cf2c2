/** Run one op on the CPU backend the way the executor does (for the elementwise/reduce op tests). */
import type { Attr, Node } from '../../src/ir/graph.js';
import type { Tensor } from '../../src/ir/tensor.js';
import { CpuBackend } from '../../src/kernels/cpu/index.js';
import type { Value } from '../../src/runtime/value.js';

export async function runOp(op: string, attrs: Record<string, Attr>, inputs: (Tensor | undefined)[]): Promise<Value[]> {
  const node: Node = { name: `${op}_test`, opType: op, domain: '', inputs: inputs.map((_, i) => `in${i}`), outputs: ['out0', 'out1'], attrs, scope: '' };
  return new CpuBackend().run(node, inputs, { training: false, random: Math.random, runSubgraph: async () => [] }) as Promise<Value[]>;
}
