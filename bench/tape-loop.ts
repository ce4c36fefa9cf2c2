/**
 * Cost of differentiating through Loop and Scan by unrolling them on the autograd tape: an RNN-like
 * Scan (state [B, H] through Tanh(s·W + x_t), a scan output per step) and the same recurrence as a
 * Loop over T steps. Prints, per T: the Session forward (real kernels), the tape forward (unrolled)
 * and the backward (build + run), in ms, median of the runs. Growth with T should be linear.
 * Run: `node --import tsx bench/tape-loop.ts [--steps 10,100,1000] [--runs 5]`. A benchmark, not a test.
 */
import { emptyGraph, makeNode, type Graph } from '../src/ir/graph.js';
import { Tensor } from '../src/ir/tensor.js';
import { buildBackward, recordTape, runBackward } from '../src/runtime/autograd.js';
import { Session, seededRandom } from '../src/runtime/session.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 || i + 1 >= process.argv.length ? def : process.argv[i + 1]!;
}

const B = 8;
const H = 32;
const rnd = seededRandom(5);
const rand = (shape: number[]): Tensor => Tensor.from('float32', shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rnd() * 0.4 - 0.2));

function scanGraph(): Graph {
  const body = emptyGraph('cell');
  body.inputs = [{ name: 's' }, { name: 'x' }];
  body.nodes = [makeNode('MatMul', ['s', 'W'], ['sw']), makeNode('Add', ['sw', 'x'], ['p']), makeNode('Tanh', ['p'], ['s2'])];
  body.outputs = [{ name: 's2' }, { name: 's2' }];
  const g = emptyGraph('scan');
  g.inputs = [{ name: 'X' }, { name: 's0' }];
  g.initializers.set('W', rand([H, H]));
  g.nodes = [makeNode('Scan', ['s0', 'X'], ['sN', 'Y'], { body: { type: 'graph', value: body }, num_scan_inputs: { type: 'int', value: 1 } })];
  g.nodes.push(makeNode('ReduceSum', ['Y'], ['loss'], { keepdims: { type: 'int', value: 0 } }));
  g.outputs = [{ name: 'loss' }];
  return g;
}

function loopGraph(T: number): Graph {
  const body = emptyGraph('cell');
  body.inputs = [{ name: 'i' }, { name: 'c' }, { name: 's' }];
  body.nodes = [makeNode('Gather', ['X', 'i'], ['x']), makeNode('MatMul', ['s', 'W'], ['sw']), makeNode('Add', ['sw', 'x'], ['p']), makeNode('Tanh', ['p'], ['s2']), makeNode('Identity', ['c'], ['c2'])];
  body.outputs = [{ name: 'c2' }, { name: 's2' }, { name: 's2' }];
  const g = emptyGraph('loop');
  g.inputs = [{ name: 'X' }, { name: 's0' }];
  g.initializers.set('W', rand([H, H]));
  g.initializers.set('M', new Tensor('int64', [], BigInt64Array.from([BigInt(T)])));
  g.nodes = [makeNode('Loop', ['M', '', 's0'], ['sN', 'Y'], { body: { type: 'graph', value: body } })];
  g.nodes.push(makeNode('ReduceSum', ['Y'], ['loss'], { keepdims: { type: 'int', value: 0 } }));
  g.outputs = [{ name: 'loss' }];
  return g;
}

const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function measure(kind: string, g: Graph, T: number, runs: number): Promise<void> {
  const feeds = { X: rand([T, B, H]), s0: rand([B, H]) };
  const session = await Session.create(g);
  const fwd: number[] = [];
  const tapeMs: number[] = [];
  const bwd: number[] = [];
  for (let r = 0; r < runs + 1; r++) {
    let t0 = performance.now();
    await session.run(feeds);
    const a = performance.now() - t0;
    t0 = performance.now();
    const tape = await recordTape(g, feeds);
    const b = performance.now() - t0;
    t0 = performance.now();
    await runBackward(tape, buildBackward(tape, 'loss', ['W', 'X']));
    const c = performance.now() - t0;
    if (r === 0) continue; // warm-up
    fwd.push(a);
    tapeMs.push(b);
    bwd.push(c);
  }
  console.log(`${kind.padEnd(5)} T=${String(T).padStart(5)}  session fwd ${median(fwd).toFixed(1).padStart(8)} ms  tape fwd ${median(tapeMs).toFixed(1).padStart(8)} ms  backward ${median(bwd).toFixed(1).padStart(8)} ms`);
}

const steps = arg('steps', '10,100,1000').split(',').map(Number);
const runs = Number(arg('runs', '5'));
console.log(`B=${B}, H=${H}, float32, median of ${runs} runs`);
for (const T of steps) {
  await measure('Scan', scanGraph(), T, runs);
  await measure('Loop', loopGraph(T), T, runs);
}
