/**
 * Micro-benchmark of the elementwise CPU kernels models hit constantly: float32 Add/Mul in the
 * shapes the fast paths cover (same shape, scalar, bias row, per-channel), the generic
 * index-map path for comparison, unary math, Relu, Sigmoid, Gelu, Softmax/LogSoftmax, ReduceMean/Sum/Max
 * (the float32 transcendental and row kernels run in WebAssembly SIMD, wasm-math.ts) and Einsum —
 * each beside the same one-node model in onnxruntime-node (1 intra-op thread) when it loads.
 * Run: `node --import tsx bench/elementwise.ts` — prints the median time per call and the
 * throughput in elements (the larger of input 0 and output) per nanosecond. A benchmark, not a test;
 * on a shared machine compare numbers from the same run only.
 */
import { loadOrt, toOrtTensor } from '../scripts/conformance.js';
import { exportOnnx } from '../src/exporters/onnx/index.js';
import { AttrReader } from '../src/ir/attrs.js';
import { emptyModel, type Attr, type Node } from '../src/ir/graph.js';
import { Tensor, sizeOf } from '../src/ir/tensor.js';
import { CPU_KERNELS } from '../src/kernels/cpu/index.js';
import type { KernelContext } from '../src/kernels/cpu/kernel.js';

const ort = await loadOrt().catch(() => undefined);

function rand(shape: number[]): Tensor {
  const a = new Float32Array(sizeOf(shape));
  for (let i = 0; i < a.length; i++) a[i] = Math.random() * 2 - 1;
  return new Tensor('float32', shape, a);
}

function absOf(t: Tensor): Tensor {
  return new Tensor('float32', t.shape, (t.data as Float32Array).map(Math.abs));
}

async function median(fn: () => unknown): Promise<number> {
  for (let i = 0; i < 5; i++) await fn();
  const times: number[] = [];
  const deadline = performance.now() + 400;
  while (times.length < 15 || (performance.now() < deadline && times.length < 500)) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1]!;
}

/** The same node in onnxruntime-node; undefined when it is not installed or rejects the model. */
async function ortTime(op: string, inputs: Tensor[], attrs: Record<string, Attr>, opset: number): Promise<number | undefined> {
  if (!ort) return undefined;
  try {
    const m = emptyModel();
    m.sourceOpsets = { '': opset };
    const names = inputs.map((_, i) => `x${i}`);
    m.graph.nodes = [{ name: op, opType: op, domain: '', inputs: names, outputs: ['y'], attrs, scope: '' }];
    m.graph.inputs = inputs.map((t, i) => ({ name: names[i]!, type: { kind: 'tensor', dtype: t.dtype, shape: t.shape.slice() } }));
    m.graph.outputs = [{ name: 'y' }];
    const s = await ort.InferenceSession.create(exportOnnx(m, { opset }).files.get('model.onnx')!, { intraOpNumThreads: 1, logSeverityLevel: 4 });
    const feeds = Object.fromEntries(inputs.map((t, i) => [names[i]!, toOrtTensor(ort, t)]));
    const t = await median(() => s.run(feeds));
    await s.release();
    return t;
  } catch {
    return undefined;
  }
}

async function bench(label: string, op: string, inputs: Tensor[], attrs: Record<string, Attr> = {}, opset = 17): Promise<void> {
  const node: Node = { name: op, opType: op, domain: '', inputs: [], outputs: ['y'], attrs, scope: '' };
  const ctx = { node, attrs: new AttrReader(attrs, node), training: false, random: Math.random, runSubgraph: async () => [] } as KernelContext;
  const k = CPU_KERNELS[op]!;
  const outSize = ((await k(inputs, ctx))[0] as Tensor).size;
  const elems = Math.max(outSize, inputs[0]!.size);
  const med = await median(() => k(inputs, ctx));
  const o = await ortTime(op, inputs, attrs, opset);
  const ortCol = o === undefined ? 'ort n/a' : `ort ${o.toFixed(3).padStart(7)} ms  (rosetta/ort ${(med / o).toFixed(2)})`;
  console.log(`${label.padEnd(46)} ${med.toFixed(3).padStart(8)} ms  ${(elems / (med * 1e6)).toFixed(3)} elem/ns   ${ortCol}`);
}

const x = rand([1, 64, 56, 56]);
const axes23 = Tensor.from('int64', [2], [2n, 3n]);
await bench('Add same shape [1,64,56,56]', 'Add', [x, rand([1, 64, 56, 56])]);
await bench('Add scalar', 'Add', [x, rand([])]);
await bench('Mul per-channel [64,1,1]', 'Mul', [x, rand([64, 1, 1])]);
await bench('Add bias row [32,1024]+[1024]', 'Add', [rand([32, 1024]), rand([1024])]);
await bench('Add generic map [64,1,56]+[56,1] (→64,56,56)', 'Add', [rand([64, 1, 56]), rand([56, 1])]);
await bench('Add int32 same shape (generic path)', 'Add', [new Tensor('int32', [1, 64, 56, 56]), new Tensor('int32', [1, 64, 56, 56])]);
await bench('Relu [1,64,56,56]', 'Relu', [x]);
await bench('Sigmoid [1,64,56,56]', 'Sigmoid', [x]);
await bench('Sqrt [1,64,56,56]', 'Sqrt', [x]);
await bench('Tanh [1,64,56,56]', 'Tanh', [x]);
await bench('Erf [1,64,56,56]', 'Erf', [x]);
await bench('Exp [1,64,56,56]', 'Exp', [x]);
await bench('Log [1,64,56,56] (of |x|)', 'Log', [absOf(x)]);
await bench('Gelu [1,64,56,56]', 'Gelu', [x], {}, 20);
await bench('Gelu tanh [1,64,56,56]', 'Gelu', [x], { approximate: { type: 'string', value: 'tanh' } }, 20);
await bench('Softmax [32,1000] axis -1', 'Softmax', [rand([32, 1000])]);
await bench('LogSoftmax [32,1000] axis -1', 'LogSoftmax', [rand([32, 1000])]);
await bench('ReduceMean [1,64,56,56] axes [2,3]', 'ReduceMean', [x, axes23], {}, 18);
await bench('ReduceSum [512,1024] axis 1', 'ReduceSum', [rand([512, 1024]), Tensor.from('int64', [1], [1n])], {}, 18);
await bench('ReduceMax [1,64,56,56] axes [2,3]', 'ReduceMax', [x, axes23], {}, 18);
await bench('Einsum bhqd,bhkd->bhqk [1,4,64,32]', 'Einsum', [rand([1, 4, 64, 32]), rand([1, 4, 64, 32])], { equation: { type: 'string', value: 'bhqd,bhkd->bhqk' } });
