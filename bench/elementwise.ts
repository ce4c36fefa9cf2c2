/**
 * Micro-benchmark of the elementwise CPU kernels models hit constantly: float32 Add/Mul in the
 * shapes the fast paths cover (same shape, scalar, bias row, per-channel), the generic
 * index-map path for comparison, Relu, Sigmoid, Softmax and ReduceMean.
 * Run: `node --import tsx bench/elementwise.ts` — prints the median time per call and the
 * throughput in elements (the larger of input 0 and output) per nanosecond. A benchmark, not a test.
 */
import type { Attr, Node } from '../src/ir/graph.js';
import { Tensor, sizeOf } from '../src/ir/tensor.js';
import { CPU_KERNELS } from '../src/kernels/cpu/index.js';
import { AttrReader } from '../src/ir/attrs.js';
import type { KernelContext } from '../src/kernels/cpu/kernel.js';

function rand(shape: number[]): Tensor {
  const a = new Float32Array(sizeOf(shape));
  for (let i = 0; i < a.length; i++) a[i] = Math.random() * 2 - 1;
  return new Tensor('float32', shape, a);
}

async function bench(label: string, op: string, inputs: Tensor[], attrs: Record<string, Attr> = {}): Promise<void> {
  const node: Node = { name: op, opType: op, domain: '', inputs: [], outputs: ['y'], attrs, scope: '' };
  const ctx = { node, attrs: new AttrReader(attrs, node), training: false, random: Math.random, runSubgraph: async () => [] } as KernelContext;
  const k = CPU_KERNELS[op]!;
  let outSize = 0;
  for (let i = 0; i < 5; i++) outSize = ((await k(inputs, ctx))[0] as Tensor).size;
  const elems = Math.max(outSize, inputs[0]!.size);
  const times: number[] = [];
  const deadline = performance.now() + 400;
  while (times.length < 15 || (performance.now() < deadline && times.length < 500)) {
    const t0 = performance.now();
    await k(inputs, ctx);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const med = times[times.length >> 1]!;
  console.log(`${label.padEnd(44)} ${med.toFixed(3).padStart(8)} ms   ${(elems / (med * 1e6)).toFixed(3)} elem/ns`);
}

const x = rand([1, 64, 56, 56]);
await bench('Add same shape [1,64,56,56]', 'Add', [x, rand([1, 64, 56, 56])]);
await bench('Add scalar', 'Add', [x, rand([])]);
await bench('Mul per-channel [64,1,1]', 'Mul', [x, rand([64, 1, 1])]);
await bench('Add bias row [32,1024]+[1024]', 'Add', [rand([32, 1024]), rand([1024])]);
await bench('Add generic map [64,1,56]+[56,1] (→64,56,56)', 'Add', [rand([64, 1, 56]), rand([56, 1])]);
await bench('Add int32 same shape (generic path)', 'Add', [new Tensor('int32', [1, 64, 56, 56]), new Tensor('int32', [1, 64, 56, 56])]);
await bench('Relu [1,64,56,56]', 'Relu', [x]);
await bench('Sigmoid [1,64,56,56]', 'Sigmoid', [x]);
await bench('Softmax [32,1000] axis -1', 'Softmax', [rand([32, 1000])]);
await bench('ReduceMean [1,64,56,56] axes [2,3]', 'ReduceMean', [x, Tensor.from('int64', [2], [2n, 3n])]);
await bench('Sqrt [1,64,56,56]', 'Sqrt', [x]);
await bench('Erf [1,64,56,56]', 'Erf', [x]);
await bench('Tanh [1,64,56,56]', 'Tanh', [x]);
await bench('Einsum bhqd,bhkd->bhqk [1,4,64,32]', 'Einsum', [rand([1, 4, 64, 32]), rand([1, 4, 64, 32])], { equation: { type: 'string', value: 'bhqd,bhkd->bhqk' } });
