/**
 * Gradients through If: the tape records the branch the condition takes, so d loss / d input goes
 * through that branch only. Checked against central finite differences (float64) of the loss as
 * the Session computes it with the real If kernel (which runs the subgraph itself, independently
 * of the tape's inlining). Covers outer-scope captures, branch initializers, a branch-local name
 * that shadows an outer one, and a nested If capturing a branch-local value; malformed If nodes
 * fail with typed errors, never a TypeError.
 *
 * Loop and Scan are unrolled on the tape (one copy of the body per executed iteration). Same
 * oracle: central finite differences (float64) of the loss as the Session computes it with the
 * real Loop/Scan kernels, which run their bodies themselves; and every graph output the tape
 * recorded (final carried values, stacked scan outputs) must equal the kernel's bit for bit.
 * Also: Loops as torch.onnx exports them against PyTorch 1.13's gradients, the ONNX backend tests'
 * Loop/Scan/If models against their expected outputs, a GraphModule with a Loop (the synchronous
 * tape path), and typed errors for malformed Loop/Scan nodes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readNpz } from '../../src/formats/npy.js';
import { onnxImporter } from '../../src/importers/onnx/index.js';
import { isRosettaError } from '../../src/ir/errors.js';
import { emptyGraph, makeNode, type Graph } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import * as nn from '../../src/nn/index.js';
import { MAX_TAPE_ITERATIONS, buildBackward, gradients, recordTape } from '../../src/runtime/autograd.js';
import { Session, seededRandom } from '../../src/runtime/session.js';
import { HAS_TESTDATA, TESTDATA_DIR, compareValues, loadCase } from '../../scripts/conformance-case.js';
import { expectClose } from '../nn/helpers.js';

const f64 = (shape: number[], rnd: () => number): Tensor => Tensor.from('float64', shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rnd() * 2 - 1));
const bool = (v: boolean): Tensor => new Tensor('bool', [], Uint8Array.from([v ? 1 : 0]));
const graphAttr = (value: Graph) => ({ type: 'graph' as const, value });

/** Branch graph with nodes and outputs (no inputs: If branches read their enclosing scope). */
function branch(name: string, nodes: ReturnType<typeof makeNode>[], outputs: string[], inits: Record<string, Tensor> = {}): Graph {
  const g = emptyGraph(name);
  g.nodes = nodes;
  g.outputs = outputs.map((o) => ({ name: o }));
  for (const [k, t] of Object.entries(inits)) g.initializers.set(k, t);
  return g;
}

/**
 * Main graph: t = x · 2 (so 't' exists outside), y = If(cond) { then: Tanh(x · w) with a nested
 * If(cond2) adding either the branch-local 'u' or 'w'; else: Relu(x) + c with c a branch
 * initializer and a branch-local value also named 't' }, loss = sum(y · W) + sum(t).
 */
function model(rnd: () => number): { g: Graph; W: Tensor } {
  const inner = branch('inner_then', [makeNode('Add', ['u', 'u'], ['uu'])], ['uu']);
  const innerElse = branch('inner_else', [makeNode('Identity', ['w'], ['ww'])], ['ww']);
  const thenB = branch('then', [
    makeNode('Mul', ['x', 'w'], ['u']),
    makeNode('If', ['cond2'], ['v'], { then_branch: graphAttr(inner), else_branch: graphAttr(innerElse) }),
    makeNode('Tanh', ['v'], ['yt']),
  ], ['yt']);
  const elseB = branch('else', [
    makeNode('Relu', ['x'], ['r']),
    makeNode('Add', ['r', 'c'], ['t']), // shadows the outer 't'
  ], ['t'], { c: Tensor.from('float64', [3], [0.5, -0.25, 1]) });
  const g = emptyGraph('if');
  for (const [name, dtype, shape] of [['x', 'float64', [2, 3]], ['w', 'float64', [2, 3]], ['cond', 'bool', []], ['cond2', 'bool', []]] as const) {
    g.inputs.push({ name, type: { kind: 'tensor', dtype, shape: [...shape] } });
  }
  const W = f64([2, 3], rnd);
  g.initializers.set('two', Tensor.from('float64', [], [2]));
  g.initializers.set('W', W);
  g.nodes.push(makeNode('Mul', ['x', 'two'], ['t']));
  g.nodes.push(makeNode('If', ['cond'], ['y'], { then_branch: graphAttr(thenB), else_branch: graphAttr(elseB) }));
  g.nodes.push(makeNode('Mul', ['y', 'W'], ['p']));
  g.nodes.push(makeNode('ReduceSum', ['p'], ['s1'], { keepdims: { type: 'int', value: 0 } }));
  g.nodes.push(makeNode('ReduceSum', ['t'], ['s2'], { keepdims: { type: 'int', value: 0 } }));
  g.nodes.push(makeNode('Add', ['s1', 's2'], ['loss']));
  g.outputs.push({ name: 'loss' });
  return { g, W };
}

describe('gradients through If (the taken branch)', () => {
  for (const [cond, cond2] of [[true, true], [true, false], [false, true]] as const) {
    it(`cond=${cond}${cond ? `, nested cond=${cond2}` : ''}: autograd agrees with finite differences of the If kernel`, async () => {
      const rnd = seededRandom(11);
      const { g } = model(rnd);
      const feeds = { x: f64([2, 3], rnd), w: f64([2, 3], rnd), cond: bool(cond), cond2: bool(cond2) };
      await checkControlFlow(g, feeds, ['x', 'w']);
    });
  }
});

describe('If on the tape: malformed nodes fail with typed errors', () => {
  const x = Tensor.from('float64', [2], [1, 2]);
  async function failure(g: Graph): Promise<string> {
    try {
      await gradients(g, { x }, 'y', ['x']);
    } catch (e) {
      return isRosettaError(e) ? e.code : `not a RosettaError: ${String(e)}`;
    }
    return 'no error';
  }
  const ifGraph = (cond: Tensor, thenB: Graph | undefined, outputs = ['y']): Graph => {
    const g = emptyGraph('bad-if');
    g.inputs.push({ name: 'x' });
    g.initializers.set('cond', cond);
    g.nodes.push(makeNode('If', ['cond'], outputs, thenB ? { then_branch: graphAttr(thenB), else_branch: graphAttr(thenB) } : {}));
    g.outputs.push({ name: 'y' });
    return g;
  };
  const ok = branch('b', [makeNode('Neg', ['x'], ['nx'])], ['nx']);
  it('a condition with more than one value (E_SHAPE_MISMATCH)', async () => {
    expect(await failure(ifGraph(new Tensor('bool', [2], Uint8Array.from([1, 0])), ok))).toBe('E_SHAPE_MISMATCH');
  });
  it('a missing branch (E_INVALID_GRAPH)', async () => {
    expect(await failure(ifGraph(bool(true), undefined))).toBe('E_INVALID_GRAPH');
  });
  it('a branch with fewer outputs than the node, even with an empty output slot (E_INVALID_GRAPH)', async () => {
    const two = branch('b2', [makeNode('Neg', ['x'], ['n1']), makeNode('Abs', ['x'], ['n2'])], ['n1', 'n2']);
    expect(await failure(ifGraph(bool(true), two, ['y', '', 'z']))).toBe('E_INVALID_GRAPH');
  });
  it('a branch reading a value nobody produces (E_INVALID_GRAPH)', async () => {
    expect(await failure(ifGraph(bool(false), branch('b', [makeNode('Neg', ['nowhere'], ['n'])], ['n'])))).toBe('E_INVALID_GRAPH');
  });
});

// ---------------------------------------------------------------------------------------------
// Loop and Scan

const i64 = (shape: number[], values: number[]): Tensor => new Tensor('int64', shape, BigInt64Array.from(values.map((v) => BigInt(v))));
const ints = (value: number[]) => ({ type: 'ints' as const, value });
const int = (value: number) => ({ type: 'int' as const, value });
const f64Type = (shape: number[]) => ({ kind: 'tensor' as const, dtype: 'float64' as const, shape });

/** A body graph: named inputs, nodes, outputs (optionally typed), initializers. */
function body(name: string, inputs: string[], nodes: ReturnType<typeof makeNode>[], outputs: (string | { name: string; type: ReturnType<typeof f64Type> })[], inits: Record<string, Tensor> = {}): Graph {
  const g = branch(name, nodes, [], inits);
  g.inputs = inputs.map((n) => ({ name: n }));
  g.outputs = outputs.map((o) => (typeof o === 'string' ? { name: o } : o));
  return g;
}

/** sum(v · W) into `out` (W a fresh initializer of v's shape). */
function weightedSum(g: Graph, v: string, shape: number[], out: string, rnd: () => number): void {
  g.initializers.set(`W_${v}`, f64(shape, rnd));
  g.nodes.push(makeNode('Mul', [v, `W_${v}`], [`${v}_w`]), makeNode('ReduceSum', [`${v}_w`], [out], { keepdims: int(0) }));
}

/** loss = Σ parts. */
function sumInto(g: Graph, parts: string[]): void {
  g.nodes.push(makeNode('Sum', parts, ['loss']));
  g.outputs.unshift({ name: 'loss' });
}

const bits = (t: Tensor): Uint8Array => {
  const d = t.data as ArrayBufferView;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
};

/**
 * The tape's forward values of every graph output equal the Session's (real kernels) bit for bit,
 * and autograd's d loss / d `wrt` agree with central finite differences of the Session's loss.
 */
async function checkControlFlow(g: Graph, feeds: Record<string, Tensor>, wrt: string[]): Promise<Map<string, Tensor>> {
  const { tape, grads } = await gradients(g, feeds, 'loss', wrt);
  const session = await Session.create(g);
  const ref = (await session.run(feeds)).outputs;
  for (const o of g.outputs) {
    const mine = tape.values.get(o.name)!;
    const theirs = ref[o.name] as Tensor;
    expect(mine, `tape value of ${o.name}`).toBeDefined();
    expect([mine.dtype, mine.shape], `${o.name}: dtype and shape`).toEqual([theirs.dtype, theirs.shape]);
    expect(Buffer.from(bits(mine)).equals(Buffer.from(bits(theirs))), `${o.name}: unrolled forward equals the kernel bit for bit`).toBe(true);
  }
  const lossAt = async (f: Record<string, Tensor>): Promise<number> => ((await session.run(f)).outputs.loss as Tensor).get(0);
  const h = 1e-6;
  let nonZero = 0;
  for (const name of wrt) {
    const x = feeds[name]!;
    expect(grads.get(name)!.shape, `d/d${name} has ${name}'s shape`).toEqual(x.shape);
    for (let i = 0; i < x.size; i++) {
      const plus = new Float64Array(x.data as Float64Array);
      const minus = new Float64Array(x.data as Float64Array);
      plus[i]! += h;
      minus[i]! -= h;
      const numeric = ((await lossAt({ ...feeds, [name]: new Tensor('float64', x.shape, plus) })) - (await lossAt({ ...feeds, [name]: new Tensor('float64', x.shape, minus) }))) / (2 * h);
      const a = grads.get(name)!.get(i);
      if (a !== 0) nonZero++;
      expect(Math.abs(a - numeric), `d/d${name}[${i}]: autograd ${a} vs finite difference ${numeric}`).toBeLessThanOrEqual(1e-6 + 1e-6 * Math.abs(numeric));
    }
  }
  expect(nonZero, 'some gradient flows').toBeGreaterThan(0);
  return grads;
}

/**
 * h_{i+1} = Tanh(h_i · w + 0.1 · i), w captured from the main graph, i the iteration number (Cast
 * to double), 0.1 a body initializer. Trip count M; `cond`, when given, stops the loop once the
 * iteration number reaches `limit` (body condition = i < limit). Scan outputs: h_{i+1} · v (v
 * captured) and the carried input h_i itself (a body output that is a body input).
 */
function loopModel(rnd: () => number, opts: { trip: number; cond?: boolean; scans?: boolean; declare?: boolean }): Graph {
  const g = emptyGraph('loop');
  g.inputs.push({ name: 'h0', type: f64Type([2, 3]) }, { name: 'w', type: f64Type([2, 3]) }, { name: 'v', type: f64Type([3]) });
  g.initializers.set('M', i64([], [opts.trip]));
  if (opts.cond !== undefined) g.inputs.push({ name: 'go', type: { kind: 'tensor', dtype: 'bool', shape: [] } }, { name: 'limit', type: { kind: 'tensor', dtype: 'int64', shape: [] } });
  const nodes = [
    makeNode('Mul', ['h', 'w'], ['hw']),
    makeNode('Cast', ['i'], ['fi'], { to: int(11) }),
    makeNode('Mul', ['fi', 'tenth'], ['fik']),
    makeNode('Add', ['hw', 'fik'], ['pre']),
    makeNode('Tanh', ['pre'], ['h2']),
    opts.cond !== undefined ? makeNode('Less', ['i', 'limit'], ['c2']) : makeNode('Identity', ['c'], ['c2']),
  ];
  const outs: Parameters<typeof body>[3] = ['c2', 'h2'];
  const loopOuts = ['hN'];
  if (opts.scans) {
    nodes.push(makeNode('Mul', ['h2', 'v'], ['y']));
    outs.push(...(opts.declare ? [{ name: 'y', type: f64Type([2, 3]) }, { name: 'h', type: f64Type([2, 3]) }] : ['y', 'h']));
    loopOuts.push('ys', 'hs');
  }
  const b = body('body', ['i', 'c', 'h'], nodes, outs, { tenth: Tensor.from('float64', [], [0.1]) });
  g.nodes.push(makeNode('Loop', ['M', opts.cond !== undefined ? 'go' : '', 'h0'], loopOuts, { body: graphAttr(b) }));
  weightedSum(g, 'hN', [2, 3], 'l1', rnd);
  const parts = ['l1'];
  if (opts.scans) {
    // Plain sums: with zero iterations ys and hs are empty and no weight of a fixed shape fits.
    g.nodes.push(makeNode('ReduceSum', ['ys'], ['l2'], { keepdims: int(0) }), makeNode('Mul', ['hs', 'hs'], ['hs2']), makeNode('ReduceSum', ['hs2'], ['l3'], { keepdims: int(0) }));
    parts.push('l2', 'l3');
  }
  sumInto(g, parts);
  g.outputs.push(...loopOuts.map((name) => ({ name })));
  return g;
}

describe('gradients through Loop (unrolled on the tape)', () => {
  const feedsFor = (rnd: () => number) => ({ h0: f64([2, 3], rnd), w: f64([2, 3], rnd), v: f64([3], rnd) });

  it('fixed trip count, state through Mul/Tanh with a captured parameter and the iteration number', async () => {
    const rnd = seededRandom(21);
    const g = loopModel(rnd, { trip: 3 });
    await checkControlFlow(g, feedsFor(rnd), ['h0', 'w']);
  });

  it('a body condition that stops the loop early (M = 10, stops after 3 iterations)', async () => {
    const rnd = seededRandom(22);
    const g = loopModel(rnd, { trip: 10, cond: true });
    const feeds = { ...feedsFor(rnd), go: bool(true), limit: i64([], [2]) };
    const { tape } = await gradients(g, feeds, 'loss', ['h0']);
    // One Tanh per executed iteration: the condition was read between iterations.
    expect(tape.nodes.filter((n) => n.opType === 'Tanh').length).toBe(3);
    await checkControlFlow(g, feeds, ['h0', 'w']);
  });

  it('an initial condition of false runs zero iterations: the output is the initial value, its gradient W', async () => {
    const rnd = seededRandom(23);
    const g = loopModel(rnd, { trip: 10, cond: true });
    const feeds = { ...feedsFor(rnd), go: bool(false), limit: i64([], [2]) };
    const grads = await checkControlFlow(g, { ...feeds }, ['h0']);
    expect([...grads.get('h0')!.data]).toEqual([...g.initializers.get('W_hN')!.data]);
  });

  it('scan outputs stacked on axis 0 (one computed, one a pass-through of the carried input)', async () => {
    const rnd = seededRandom(24);
    const g = loopModel(rnd, { trip: 4, scans: true });
    await checkControlFlow(g, feedsFor(rnd), ['h0', 'w', 'v']);
  });

  it('zero iterations with scan outputs: declared element shapes (bit-equal to the kernel) and inferred ones', async () => {
    const rnd = seededRandom(25);
    const declared = loopModel(rnd, { trip: 0, scans: true, declare: true });
    const feeds = feedsFor(rnd);
    await checkControlFlow(declared, feeds, ['h0']);
    const { tape } = await gradients(declared, feeds, 'loss', ['h0']);
    expect(tape.values.get('ys')!.shape).toEqual([0, 2, 3]);
    // Undeclared, the kernel types an empty scan output float32 [0]; the tape infers the shapes.
    const inferred = loopModel(rnd, { trip: 0, scans: true });
    const t2 = (await gradients(inferred, feeds, 'loss', ['h0'])).tape;
    expect(t2.values.get('ys')!.shape, 'Mul(h2, v) inferred from the body inputs and the captured v').toEqual([0, 2, 3]);
    expect(t2.values.get('hs')!.shape, 'the carried input passed through').toEqual([0, 2, 3]);
    expect(t2.values.get('ys')!.dtype).toBe('float64');
  });

  it('zero iterations and a scan output whose shape cannot be inferred: E_UNSUPPORTED', async () => {
    const g = emptyGraph('loop0');
    g.inputs.push({ name: 'x', type: f64Type([4]) }, { name: 'shape', type: { kind: 'tensor', dtype: 'int64', shape: [2] } });
    g.initializers.set('M', i64([], [0]));
    const b = body('body', ['i', 'c', 'h'], [makeNode('Identity', ['c'], ['c2']), makeNode('Reshape', ['h', 'shape'], ['r'])], ['c2', 'h', 'r']);
    g.nodes.push(makeNode('Loop', ['M', '', 'x'], ['y', 'rs'], { body: graphAttr(b) }));
    g.nodes.push(makeNode('ReduceSum', ['y'], ['loss'], { keepdims: int(0) }));
    g.outputs.push({ name: 'loss' });
    let err: unknown;
    try {
      await gradients(g, { x: Tensor.from('float64', [4], [1, 2, 3, 4]), shape: i64([2], [2, 2]) }, 'loss', ['x']);
    } catch (e) {
      err = e;
    }
    expect(isRosettaError(err) && err.code).toBe('E_UNSUPPORTED');
    expect(String((err as Error).message)).toMatch(/zero iterations.*'r'/);
  });
});

/**
 * Scan with a state s [2] and two scan inputs: X1 [2, 5] scanned on axis 1 forwards, X2 [2, 3, 5]
 * on axis -1 backwards. Body: s' = Tanh(s · x1 + ReduceSum(x2 · w, axis 1)), w captured;
 * y = s' · x1 (scan output on axis 1), z = x2 + s' (scan output on axis -1, reversed).
 */
function scanModel(rnd: () => number, steps: number): Graph {
  const g = emptyGraph('scan');
  g.inputs.push({ name: 's0', type: f64Type([2]) }, { name: 'X1', type: f64Type([2, steps]) }, { name: 'X2', type: f64Type([2, 3, steps]) }, { name: 'w', type: f64Type([2, 3]) });
  const b = body('scan_body', ['s', 'x1', 'x2'], [
    makeNode('Mul', ['x2', 'w'], ['xw']),
    makeNode('ReduceSum', ['xw', 'one'], ['r'], { keepdims: int(0) }),
    makeNode('Mul', ['s', 'x1'], ['sx']),
    makeNode('Add', ['sx', 'r'], ['pre']),
    makeNode('Tanh', ['pre'], ['s2']),
    makeNode('Mul', ['s2', 'x1'], ['y']),
    makeNode('Unsqueeze', ['s2', 'one'], ['s2u']),
    makeNode('Add', ['x2', 's2u'], ['z']),
  ], ['s2', 'y', 'z'], { one: i64([1], [1]) });
  g.nodes.push(makeNode('Scan', ['s0', 'X1', 'X2'], ['sN', 'Y', 'Z'], {
    body: graphAttr(b),
    num_scan_inputs: int(2),
    scan_input_axes: ints([1, -1]),
    scan_input_directions: ints([0, 1]),
    scan_output_axes: ints([1, -1]),
    scan_output_directions: ints([0, 1]),
  }));
  weightedSum(g, 'sN', [2], 'l1', rnd);
  if (steps > 0) {
    weightedSum(g, 'Y', [2, steps], 'l2', rnd);
    weightedSum(g, 'Z', [2, 3, steps], 'l3', rnd);
    sumInto(g, ['l1', 'l2', 'l3']);
  } else sumInto(g, ['l1']);
  g.outputs.push({ name: 'sN' }, { name: 'Y' }, { name: 'Z' });
  return g;
}

describe('gradients through Scan (unrolled on the tape)', () => {
  it('two scan inputs (one reversed) on non-zero axes, scan outputs on axes 1 and -1 (one reversed)', async () => {
    const rnd = seededRandom(31);
    const g = scanModel(rnd, 5);
    await checkControlFlow(g, { s0: f64([2], rnd), X1: f64([2, 5], rnd), X2: f64([2, 3, 5], rnd), w: f64([2, 3], rnd) }, ['s0', 'X1', 'X2', 'w']);
  });

  it('zero steps: the final state is the initial one, scan outputs are empty with inferred shapes', async () => {
    const rnd = seededRandom(32);
    const g = scanModel(rnd, 0);
    const feeds = { s0: f64([2], rnd), X1: new Tensor('float64', [2, 0]), X2: new Tensor('float64', [2, 3, 0]), w: f64([2, 3], rnd) };
    const { tape, grads } = await gradients(g, feeds, 'loss', ['s0']);
    expect(tape.values.get('Y')!.shape).toEqual([2, 0]);
    expect(tape.values.get('Z')!.shape).toEqual([2, 3, 0]);
    expect([...tape.values.get('sN')!.data]).toEqual([...feeds.s0.data]);
    expect([...grads.get('s0')!.data]).toEqual([...g.initializers.get('W_sN')!.data]);
  });

  it('opset-8 form (sequence_lens, batch axis 0, reversed input): a short row is zero-padded like the kernel', async () => {
    const rnd = seededRandom(33);
    const g = emptyGraph('scan8');
    g.inputs.push({ name: 'lens', type: { kind: 'tensor', dtype: 'int64', shape: [2] } }, { name: 's0', type: f64Type([2, 2]) }, { name: 'X', type: f64Type([2, 3, 2]) });
    const b = body('b8', ['s', 'x'], [makeNode('Mul', ['s', 'x'], ['sx']), makeNode('Add', ['sx', 's'], ['p']), makeNode('Tanh', ['p'], ['s2']), makeNode('Mul', ['s2', 'x'], ['y'])], ['s2', 'y']);
    g.nodes.push(makeNode('Scan', ['lens', 's0', 'X'], ['sN', 'Y'], { body: graphAttr(b), num_scan_inputs: int(1), directions: ints([1]) }));
    weightedSum(g, 'sN', [2, 2], 'l1', rnd);
    weightedSum(g, 'Y', [2, 3, 2], 'l2', rnd);
    sumInto(g, ['l1', 'l2']);
    g.outputs.push({ name: 'sN' }, { name: 'Y' });
    await checkControlFlow(g, { lens: i64([2], [3, 1]), s0: f64([2, 2], rnd), X: f64([2, 3, 2], rnd) }, ['s0', 'X']);
  });
});

/**
 * Loop in If in Loop: y = If(cond) { then: u = x · w; Loop(3) { h' = If(i < 2) { h · u (a
 * then-branch value) } else { Tanh(h + h) }; h'' = h' + x }; else: Neg(x) }.
 */
function nestedModel(rnd: () => number): Graph {
  const inner = body('inner', ['i', 'c', 'h'], [
    makeNode('Less', ['i', 'two'], ['early']),
    makeNode('If', ['early'], ['hi'], {
      then_branch: graphAttr(branch('mul', [makeNode('Mul', ['h', 'u'], ['a'])], ['a'])),
      else_branch: graphAttr(branch('tanh', [makeNode('Add', ['h', 'h'], ['hh']), makeNode('Tanh', ['hh'], ['t'])], ['t'])),
    }),
    makeNode('Add', ['hi', 'x'], ['h2']),
    makeNode('Identity', ['c'], ['c2']),
  ], ['c2', 'h2'], { two: i64([], [2]) });
  const thenB = branch('then', [makeNode('Mul', ['x', 'w'], ['u']), makeNode('Loop', ['M', '', 'x'], ['yl'], { body: graphAttr(inner) })], ['yl'], { M: i64([], [3]) });
  const elseB = branch('else', [makeNode('Neg', ['x'], ['n'])], ['n']);
  const g = emptyGraph('nested');
  g.inputs.push({ name: 'x', type: f64Type([3]) }, { name: 'w', type: f64Type([3]) }, { name: 'cond', type: { kind: 'tensor', dtype: 'bool', shape: [] } });
  g.nodes.push(makeNode('If', ['cond'], ['y'], { then_branch: graphAttr(thenB), else_branch: graphAttr(elseB) }));
  weightedSum(g, 'y', [3], 'l1', rnd);
  sumInto(g, ['l1']);
  g.outputs.push({ name: 'y' });
  return g;
}

describe('opset-8 Scan with an empty row', () => {
  /** Scan-8 over X [2, 3, 2]; y's declared type `yShape` wins over inference for an empty row's shape. */
  function scan8(yShape: number[]): Graph {
    const g = emptyGraph('scan8e');
    g.inputs.push({ name: 'lens', type: { kind: 'tensor', dtype: 'int64', shape: [2] } }, { name: 's0', type: f64Type([2, 2]) }, { name: 'X', type: f64Type([2, 3, 2]) });
    const b = body('b8', ['s', 'x'], [makeNode('Mul', ['s', 'x'], ['sx']), makeNode('Tanh', ['sx'], ['s2']), makeNode('Reshape', ['s2', 'two'], ['y'])], ['s2', { name: 'y', type: f64Type(yShape) }], { two: i64([1], [2]) });
    g.nodes.push(makeNode('Scan', ['lens', 's0', 'X'], ['sN', 'Y'], { body: graphAttr(b), num_scan_inputs: int(1) }));
    weightedSum(g, 'sN', [2, 2], 'l1', seededRandom(51));
    weightedSum(g, 'Y', [2, 3, 2], 'l2', seededRandom(52));
    sumInto(g, ['l1', 'l2']);
    g.outputs.push({ name: 'sN' }, { name: 'Y' });
    return g;
  }
  it('a zero-length row: its state passes through, its scan output rows are zeros (as the kernel)', async () => {
    const rnd = seededRandom(53);
    await checkControlFlow(scan8([2]), { lens: i64([2], [3, 0]), s0: f64([2, 2], rnd), X: f64([2, 3, 2], rnd) }, ['s0', 'X']);
  });
  it('a zero-length row whose declared output shape is huge: E_TOO_LARGE, nothing allocated', async () => {
    const rnd = seededRandom(54);
    let err: unknown;
    try {
      await gradients(scan8([1e6, 1e6]), { lens: i64([2], [3, 0]), s0: f64([2, 2], rnd), X: f64([2, 3, 2], rnd) }, 'sN', ['s0']);
    } catch (e) {
      err = e;
    }
    expect(isRosettaError(err) && err.code).toBe('E_TOO_LARGE');
  });
});

describe('nested control flow', () => {
  for (const cond of [true, false]) {
    it(`Loop in If (cond=${cond}) with an If in the Loop body reading a branch-local value`, async () => {
      const rnd = seededRandom(41);
      const g = nestedModel(rnd);
      await checkControlFlow(g, { x: f64([3], rnd), w: f64([3], rnd), cond: bool(cond) }, cond ? ['x', 'w'] : ['x']);
    });
  }
});

/**
 * The eager src/nn trace records node by node (`TapeRecorder.runSync`): an imported graph with a
 * Loop fine-tunes as a GraphModule. Oracle: the same graph with the three iterations written out.
 */
describe('GraphModule with a Loop (the synchronous tape path)', () => {
  const f32 = (shape: number[], seed: number) => Tensor.from('float32', shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(seed * 10 + i * 1.3) * 0.7));
  function model(unrolled: boolean): Graph {
    const g = emptyGraph('loop_model');
    g.inputs = [{ name: 'X', type: { kind: 'tensor', dtype: 'float32', shape: [2, 3] } }];
    g.initializers.set('W', f32([2, 3], 1));
    g.initializers.set('B', f32([3], 2));
    for (const n of ['W', 'B']) g.params.set(n, { scope: n, role: 'weight', trainable: true });
    const step = (h: string, out: string): ReturnType<typeof makeNode>[] => [makeNode('Mul', [h, 'W'], [`${out}_m`]), makeNode('Add', [`${out}_m`, 'B'], [`${out}_a`]), makeNode('Tanh', [`${out}_a`], [out])];
    if (unrolled) g.nodes.push(...step('X', 'h1'), ...step('h1', 'h2'), ...step('h2', 'Y'));
    else {
      g.initializers.set('M', i64([], [3]));
      const b = body('b', ['i', 'c', 'h'], [...step('h', 'hn'), makeNode('Identity', ['c'], ['c2'])], ['c2', 'hn']);
      g.nodes.push(makeNode('Loop', ['M', '', 'X'], ['Y'], { body: graphAttr(b) }));
    }
    g.outputs = [{ name: 'Y' }];
    return g;
  }
  async function lossAndGrads(g: Graph): Promise<{ loss: Tensor; grads: Map<string, Tensor> }> {
    const gm = nn.GraphModule.fromModel({ graph: g } as never);
    const loss = new nn.MSELoss().callVar(gm.callVar(f32([2, 3], 3)), Tensor.from('float32', [2, 3], new Array<number>(6).fill(0.25)));
    await loss.backward();
    return { loss: loss.value, grads: new Map(gm.namedParameters().map(([k, p]) => [k, p.grad!])) };
  }
  it('loss and parameter gradients equal the unrolled graph\'s', async () => {
    const loop = await lossAndGrads(model(false));
    const flat = await lossAndGrads(model(true));
    expectClose(loop.loss, flat.loss, { what: 'loss' });
    expect([...loop.grads.keys()].sort()).toEqual(['B', 'W']);
    for (const [k, gr] of loop.grads) expectClose(gr, flat.grads.get(k)!, { what: `grad ${k}` });
  });
});

describe('Loop and Scan on the tape: malformed nodes fail with typed errors', () => {
  const x = Tensor.from('float64', [2], [1, 2]);
  async function failure(node: ReturnType<typeof makeNode>, inits: Record<string, Tensor> = {}): Promise<string> {
    const g = emptyGraph('bad');
    g.inputs.push({ name: 'x' });
    for (const [k, t] of Object.entries(inits)) g.initializers.set(k, t);
    g.nodes.push(node);
    g.outputs.push({ name: node.outputs[0]! });
    try {
      await gradients(g, { x }, node.outputs[0]!, ['x']);
    } catch (e) {
      return isRosettaError(e) ? e.code : `not a RosettaError: ${String(e)}`;
    }
    return 'no error';
  }
  const loopBody = body('b', ['i', 'c', 'h'], [makeNode('Identity', ['c'], ['c2']), makeNode('Neg', ['h'], ['h2'])], ['c2', 'h2']);
  const scanBody = body('s', ['s', 'e'], [makeNode('Add', ['s', 'e'], ['s2'])], ['s2', 's2']);
  const M = i64([], [2]);
  it('a Loop without a body, or a body taking the wrong number of inputs (E_INVALID_GRAPH)', async () => {
    expect(await failure(makeNode('Loop', ['M', '', 'x'], ['y']), { M })).toBe('E_INVALID_GRAPH');
    expect(await failure(makeNode('Loop', ['M', '', 'x', 'x'], ['y']), { M })).toBe('E_INVALID_GRAPH');
    expect(await failure(makeNode('Loop', ['M', '', 'x'], ['y', 'z'], { body: graphAttr(loopBody) }), { M })).toBe('E_INVALID_GRAPH');
  });
  it('a Loop trip count or condition with more than one value (E_SHAPE_MISMATCH)', async () => {
    expect(await failure(makeNode('Loop', ['M2', '', 'x'], ['y'], { body: graphAttr(loopBody) }), { M2: i64([2], [1, 2]) })).toBe('E_SHAPE_MISMATCH');
    expect(await failure(makeNode('Loop', ['', 'c', 'x'], ['y'], { body: graphAttr(loopBody) }), { c: new Tensor('bool', [2], Uint8Array.from([1, 1])) })).toBe('E_SHAPE_MISMATCH');
  });
  it('a Loop body returning a value nobody produces, or scan outputs of changing shape (typed errors)', async () => {
    const bad = body('b', ['i', 'c', 'h'], [makeNode('Identity', ['c'], ['c2'])], ['c2', 'nowhere']);
    expect(await failure(makeNode('Loop', ['M', '', 'x'], ['y'], { body: graphAttr(bad) }), { M })).toBe('E_INVALID_GRAPH');
    // Each iteration's scan output is the growing carried value: they cannot be stacked.
    const grow = body('g', ['i', 'c', 'h'], [makeNode('Identity', ['c'], ['c2']), makeNode('Concat', ['h', 'h'], ['hh'], { axis: int(0) })], ['c2', 'hh', 'hh']);
    expect(await failure(makeNode('Loop', ['M', '', 'x'], ['y', 'ys'], { body: graphAttr(grow) }), { M })).toBe('E_SHAPE_MISMATCH');
  });
  it('a Loop whose condition never turns false stops at MAX_TAPE_ITERATIONS (E_LIMIT)', async () => {
    expect(MAX_TAPE_ITERATIONS).toBe(100_000);
    expect(await failure(makeNode('Loop', ['', '', 'x'], ['y'], { body: graphAttr(loopBody) }))).toBe('E_LIMIT');
  }, 60_000);
  it('a Scan over more than MAX_TAPE_ITERATIONS steps fails before unrolling (E_LIMIT)', async () => {
    const long = new Tensor('float64', [MAX_TAPE_ITERATIONS + 1, 2]);
    expect(await failure(makeNode('Scan', ['x', 'L'], ['y', 'ys'], { body: graphAttr(scanBody), num_scan_inputs: int(1) }), { L: long })).toBe('E_LIMIT');
  });
  it('a Scan whose attributes do not fit its inputs (E_INVALID_ATTR / E_INVALID_GRAPH / E_SHAPE_MISMATCH)', async () => {
    const X = Tensor.from('float64', [3, 2], [1, 2, 3, 4, 5, 6]);
    expect(await failure(makeNode('Scan', ['x', 'X'], ['y', 'ys'], { body: graphAttr(scanBody) }), { X })).toBe('E_INVALID_ATTR'); // no num_scan_inputs
    expect(await failure(makeNode('Scan', ['x', 'X'], ['y', 'ys'], { body: graphAttr(scanBody), num_scan_inputs: int(3) }), { X })).toBe('E_INVALID_ATTR');
    expect(await failure(makeNode('Scan', ['x', 'X'], ['y', 'ys'], { num_scan_inputs: int(1) }), { X })).toBe('E_INVALID_GRAPH');
    expect(await failure(makeNode('Scan', ['x', 'X'], ['y', 'ys'], { body: graphAttr(scanBody), num_scan_inputs: int(1), scan_input_axes: ints([2]) }), { X })).toBe('E_INVALID_ATTR');
    expect(await failure(makeNode('Scan', ['x', 'X'], ['y', 'ys'], { body: graphAttr(scanBody), num_scan_inputs: int(1), scan_input_axes: ints([0, 1]) }), { X })).toBe('E_INVALID_ATTR');
    const two = body('t', ['s', 'a', 'b'], [makeNode('Add', ['s', 'a'], ['s2'])], ['s2']);
    expect(await failure(makeNode('Scan', ['x', 'X', 'X'], ['y'], { body: graphAttr(two), num_scan_inputs: int(2), scan_input_axes: ints([0, 1]) }), { X })).toBe('E_SHAPE_MISMATCH');
  });
});

/**
 * Loops as PyTorch exports them: fixtures/pytorch/make_loop_grads.py (torch 1.13, opset 17;
 * loop_grads.VERSIONS.txt) scripts a for-loop over a tanh RNN cell (trip count from Shape/Gather)
 * and one that `break`s after 3 of 6 steps (M = INT64_MAX, a body condition from an If and an And,
 * a captured outer value); torch.onnx writes both as Loop. Imported through the ONNX importer, the
 * output and d sum(y · w) / d (x, every parameter) must equal PyTorch's (float64).
 */
describe('Loops exported by torch.onnx: gradients equal PyTorch 1.13', () => {
  const dir = join(import.meta.dirname, '..', '..', 'fixtures', 'pytorch');
  const arrays = readNpz(new Uint8Array(readFileSync(join(dir, 'loop_grads.npz'))), 'loop_grads.npz');
  for (const name of ['loop_rnn', 'loop_break']) {
    it(`${name}.onnx`, async () => {
      const res = await onnxImporter.open({ name: `${name}.onnx`, bytes: new Uint8Array(readFileSync(join(dir, `${name}.onnx`))) });
      if (res.kind !== 'model') throw new Error('expected a model');
      const g = res.model.graph;
      expect(g.nodes.some((n) => n.opType === 'Loop')).toBe(true);
      const get = (k: string): Tensor => arrays.get(`${name}.${k}`)!;
      g.initializers.set('loss_w', get('w'));
      g.nodes.push(makeNode('Mul', ['y', 'loss_w'], ['yw']), makeNode('ReduceSum', ['yw'], ['loss'], { keepdims: int(0) }));
      const params = [...arrays.keys()].filter((k) => k.startsWith(`${name}.grad.`) && !k.endsWith('.grad.x')).map((k) => k.slice(`${name}.grad.`.length));
      expect(params.sort()).toEqual(['head.bias', 'head.weight', 'hh.bias', 'hh.weight', 'ih.bias', 'ih.weight']);
      // The exports size h0 and the trip count from Shape(x): integer values, through which no
      // gradient flows (buildBackward stops there instead of asking ConstantOfShape for a rule).
      expect(g.nodes.some((n) => n.opType === 'Shape' && n.inputs[0] === 'x')).toBe(true);
      const { tape, grads } = await gradients(g, { x: get('x') }, 'loss', ['x', ...params]);
      expect(tape.nodes.filter((n) => n.opType === 'Tanh').length, 'iterations unrolled').toBe(Number(get('steps').get(0)));
      expectClose(tape.values.get('y')!, get('y'), { rtol: 1e-10, atol: 1e-12, what: 'y' });
      for (const p of ['x', ...params]) expectClose(grads.get(p)!, get(`grad.${p}`), { rtol: 1e-9, atol: 1e-12, what: `d loss / d ${p}` });
    });
  }
});

it('loop_rnn.onnx fine-tunes as a GraphModule (eager trace): parameter gradients equal PyTorch\'s, SGD lowers the loss', async () => {
  const dir = join(import.meta.dirname, '..', '..', 'fixtures', 'pytorch');
  const arrays = readNpz(new Uint8Array(readFileSync(join(dir, 'loop_grads.npz'))), 'loop_grads.npz');
  const res = await onnxImporter.open({ name: 'loop_rnn.onnx', bytes: new Uint8Array(readFileSync(join(dir, 'loop_rnn.onnx'))) });
  if (res.kind !== 'model') throw new Error('expected a model');
  const gm = nn.GraphModule.fromModel(res.model);
  const x = arrays.get('loop_rnn.x')!;
  const w = arrays.get('loop_rnn.w')!;
  const lossOf = (): nn.Var => {
    const y = gm.callVar(x);
    return y.mul(y.trace.constant(w, 'w')).sum();
  };
  const loss = lossOf();
  await loss.backward();
  const params = gm.namedParameters();
  expect(params.map(([k]) => k).sort()).toEqual(['head.bias', 'head.weight', 'hh.bias', 'hh.weight', 'ih.bias', 'ih.weight']);
  for (const [k, p] of params) expectClose(p.grad!, arrays.get(`loop_rnn.grad.${k}`)!, { rtol: 1e-9, atol: 1e-12, what: `d loss / d ${k}` });
  const opt = new nn.SGD(gm.parameters(), { lr: 0.02 });
  const losses = [loss.item()];
  for (let step = 0; step < 4; step++) {
    opt.step();
    opt.zeroGrad();
    const l = lossOf();
    await l.backward();
    losses.push(l.item());
  }
  expect(losses[4]!, `losses ${losses.join(', ')}`).toBeLessThan(losses[0]!);
});

/**
 * The ONNX backend tests' own Loop/Scan/If models (libonnx-testdata, via scripts/conformance-case.ts)
 * recorded on the tape: every graph output the unrolled forward produced must match the expected
 * outputs the ONNX project wrote (same tolerances as the conformance runner).
 */
const TAPE_CASES = ['test_loop11', 'test_scan9_sum', 'test_scan_sum', 'test_range_float_type_positive_delta_expanded', 'test_range_int32_type_negative_delta_expanded', 'test_if'];
if (!HAS_TESTDATA) console.warn(`[rosetta tests] ONNX backend test data not found at ${TESTDATA_DIR}: Loop/Scan tape cases skipped (apt-get install -y libonnx-testdata)`);
describe.skipIf(!HAS_TESTDATA)('ONNX backend-test control-flow models on the tape', () => {
  for (const name of TAPE_CASES) {
    it(name, async () => {
      const c = await loadCase(join(TESTDATA_DIR, 'node', name));
      expect(c.dataSets.length).toBeGreaterThan(0);
      for (const ds of c.dataSets) {
        const tape = await recordTape(c.model.graph, ds.inputs as Record<string, Tensor>);
        c.model.graph.outputs.forEach((o, k) => {
          expect(compareValues(tape.values.get(o.name), ds.outputs[k]!, `${name} output ${o.name}`)).toBeUndefined();
        });
      }
    });
  }
});

it('a Loop picking step i with Gather(X, i): one scatter-add for all T steps, one shared zeros constant, gradients as the per-step form', async () => {
  const T = 12, B = 2, H = 3;
  const r = seededRandom(5);
  const t = (shape: number[]) => new Tensor('float64', shape, Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r() - 0.5));
  const body = emptyGraph('cell');
  body.inputs = [{ name: 'i' }, { name: 'c' }, { name: 's' }];
  body.nodes = [makeNode('Gather', ['X', 'i'], ['x']), makeNode('MatMul', ['s', 'W'], ['sw']), makeNode('Add', ['sw', 'x'], ['p']), makeNode('Tanh', ['p'], ['s2']), makeNode('Identity', ['c'], ['c2'])];
  body.outputs = [{ name: 'c2' }, { name: 's2' }, { name: 's2' }];
  const g = emptyGraph('loop');
  g.inputs = [{ name: 'X' }, { name: 's0' }];
  g.initializers.set('W', t([H, H]));
  g.initializers.set('M', new Tensor('int64', [], BigInt64Array.from([BigInt(T)])));
  g.nodes = [makeNode('Loop', ['M', '', 's0'], ['sN', 'Y'], { body: { type: 'graph', value: body } }), makeNode('ReduceSum', ['Y'], ['loss'], { keepdims: { type: 'int', value: 0 } })];
  g.outputs = [{ name: 'loss' }];
  const feeds = { X: t([T, B, H]), s0: t([B, H]) };
  const tape = await recordTape(g, feeds);
  const plan = buildBackward(tape, 'loss', ['X', 'W']);
  expect(plan.graph.nodes.filter((n) => n.opType === 'ScatterND').length).toBe(1);
  expect([...plan.graph.initializers.keys()].filter((k) => k.includes('zeros')).length).toBe(1);
  // the merged scatter gives the same gradients: finite differences of the real Loop kernel
  await checkControlFlow(g, feeds, ['X', 's0']);
});
