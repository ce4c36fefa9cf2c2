/**
 * Benchmark of the ONNX `Gradient` operator (ai.onnx.preview.training, src/runtime/gradient-op.ts):
 * s = ReduceSum(Tanh(x·w + c)·x) on [N, N] float32, run by a Session (forward only, then forward
 * plus a Gradient node for ds/dx and ds/dw) and, for comparison, the same gradients through
 * `autograd.gradients` directly. The Gradient node records its slice again (one extra forward of the
 * differentiated part, docs/decisions.md §20), so its cost is about one autograd call.
 * Run: `node --import tsx bench/gradient-op.ts [N]` (default 512) — prints the median ms per run.
 * A benchmark, not a test; on a shared machine compare numbers from the same run only.
 */
import { emptyGraph, makeNode, type Graph } from '../src/ir/graph.js';
import { Tensor } from '../src/ir/tensor.js';
import { gradients } from '../src/runtime/autograd.js';
import { TRAINING_PREVIEW_DOMAIN } from '../src/runtime/gradient-op.js';
import { Session, seededRandom } from '../src/runtime/session.js';

const N = Number(process.argv[2] ?? 512);
const random = seededRandom(1);
const rand = (): Tensor => Tensor.from('float32', [N, N], Array.from({ length: N * N }, () => random() - 0.5));
const feeds = { x: rand(), w: rand(), c: rand() };

function forward(): Graph {
  const g = emptyGraph('chain');
  g.inputs = ['x', 'w', 'c'].map((name) => ({ name, type: { kind: 'tensor', dtype: 'float32', shape: [N, N] } }));
  g.nodes = [
    makeNode('Mul', ['x', 'w'], ['h']),
    makeNode('Add', ['h', 'c'], ['hc']),
    makeNode('Tanh', ['hc'], ['t']),
    makeNode('Mul', ['t', 'x'], ['u']),
    makeNode('ReduceSum', ['u'], ['s'], { keepdims: { type: 'int', value: 0 } }),
  ];
  g.outputs = [{ name: 's' }];
  return g;
}

async function median(fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 3; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < 25; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1]!;
}

const withGradient = forward();
withGradient.nodes.push(
  makeNode('Gradient', ['x', 'w', 'c'], ['dx', 'dw'], { xs: { type: 'strings', value: ['x', 'w'] }, zs: { type: 'strings', value: ['c'] }, y: { type: 'string', value: 's' } }, { domain: TRAINING_PREVIEW_DOMAIN }),
);
withGradient.outputs = [{ name: 's' }, { name: 'dx' }, { name: 'dw' }];
const plain = await Session.create(forward());
const graded = await Session.create(withGradient);
const direct = forward();
const rows: [string, number][] = [
  ['Session: forward only', await median(() => plain.run(feeds))],
  ['Session: forward + Gradient node', await median(() => graded.run(feeds))],
  ['autograd.gradients (tape + backward)', await median(() => gradients(direct, feeds, 's', ['x', 'w']))],
];
console.log(`Gradient op, [${N}, ${N}] float32, median of 25`);
for (const [label, ms] of rows) console.log(`  ${label.padEnd(40)} ${ms.toFixed(2)} ms`);
