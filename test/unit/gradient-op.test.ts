/**
 * The ONNX training-preview `Gradient` operator (src/runtime/gradient-op.ts) on small graphs of our
 * own, in float64, against central finite differences of the same graph's forward values run by
 * the executor (no hand-written expected numbers): a Mul/Tanh chain with a constant in `zs`, the
 * gradient taken at values other than the named ones, optional outputs, a Gradient inside an If
 * branch, shape inference, the ONNX export round trip and the errors for malformed nodes.
 * The two ONNX conformance cases (simple/test_gradient_of_add*) run in test/conformance.
 */
import { describe, expect, it } from 'vitest';
import { exportOnnx } from '../../src/exporters/onnx/index.js';
import { importOnnx } from '../../src/importers/onnx/index.js';
import { RosettaError } from '../../src/ir/errors.js';
import { emptyGraph, emptyModel, makeNode, type Attr, type Graph, type Node } from '../../src/ir/graph.js';
import { inferTypes } from '../../src/ir/infer.js';
import { Tensor } from '../../src/ir/tensor.js';
import { CpuBackend } from '../../src/kernels/cpu/backend.js';
import { forwardSlice, GRADIENT_OP_KEY, TRAINING_PREVIEW_DOMAIN } from '../../src/runtime/gradient-op.js';
import { Session, seededRandom } from '../../src/runtime/session.js';
import { isTensor } from '../../src/runtime/value.js';

const strs = (value: string[]): Attr => ({ type: 'strings', value });
const str = (value: string): Attr => ({ type: 'string', value });
const f64 = (shape: number[], values: number[]): Tensor => Tensor.from('float64', shape, values);
const t64 = (shape: number[]): { kind: 'tensor'; dtype: 'float64'; shape: number[] } => ({ kind: 'tensor', dtype: 'float64', shape });

function gradientNode(inputs: string[], outputs: string[], xs: string[], y: string, zs?: string[]): Node {
  const attrs: Record<string, Attr> = { xs: strs(xs), y: str(y) };
  if (zs) attrs['zs'] = strs(zs);
  return makeNode('Gradient', inputs, outputs, attrs, { name: 'grad', domain: TRAINING_PREVIEW_DOMAIN });
}

/** seeded values in [-1, 1) */
function randomValues(n: number, seed: number): number[] {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => 2 * r() - 1);
}

/**
 * s = ReduceSum(Tanh(x · w + c) · x), all [2, 3] float64; c is held constant (zs).
 * Graph outputs: s, ds/dx, ds/dw. `gradInputs` are the values the Gradient node is fed.
 */
function chainGraph(gradInputs = ['x', 'w', 'c']): Graph {
  const g = emptyGraph('chain');
  g.inputs = ['x', 'w', 'c', 'x1', 'w1', 'c1'].map((name) => ({ name, type: t64([2, 3]) }));
  g.nodes = [
    makeNode('Mul', ['x', 'w'], ['h']),
    makeNode('Add', ['h', 'c'], ['hc']),
    makeNode('Tanh', ['hc'], ['t']),
    makeNode('Mul', ['t', 'x'], ['u']),
    makeNode('ReduceSum', ['u'], ['s'], { keepdims: { type: 'int', value: 0 } }),
    gradientNode(gradInputs, ['ds_dx', 'ds_dw'], ['x', 'w'], 's', ['c']),
  ];
  g.outputs = [{ name: 's' }, { name: 'ds_dx' }, { name: 'ds_dw' }];
  return g;
}

function feedsFor(seed: number): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  ['x', 'w', 'c', 'x1', 'w1', 'c1'].forEach((name, k) => (feeds[name] = f64([2, 3], randomValues(6, seed + k))));
  return feeds;
}

async function run(g: Graph, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const s = await Session.create(g);
  const { outputs } = await s.run(feeds);
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(outputs)) {
    if (!isTensor(v)) throw new Error(`${k} is not a tensor`);
    out[k] = v;
  }
  return out;
}

/** d s / d feeds[name] by central differences of the graph's own output `s`. */
async function finiteDifferences(g: Graph, feeds: Record<string, Tensor>, name: string, h = 1e-6): Promise<number[]> {
  const base = feeds[name]!.toNumbers();
  const grads: number[] = [];
  for (let i = 0; i < base.length; i++) {
    const at = async (delta: number): Promise<number> => {
      const v = base.slice();
      v[i]! += delta;
      return (await run(g, { ...feeds, [name]: f64([2, 3], v) }))['s']!.toNumbers()[0]!;
    };
    grads.push(((await at(h)) - (await at(-h))) / (2 * h));
  }
  return grads;
}

function expectClose(actual: Tensor, expected: number[], tol = 1e-7): void {
  expect(actual.dtype).toBe('float64');
  expect(actual.shape).toEqual([2, 3]);
  const a = actual.toNumbers();
  expect(a.some((v) => v !== 0)).toBe(true);
  a.forEach((v, i) => expect(Math.abs(v - expected[i]!), `element ${i}: ${v} vs ${expected[i]}`).toBeLessThan(tol));
}

describe('Gradient (ai.onnx.preview.training)', () => {
  it('is registered as a CPU kernel under its domain', () => {
    expect(new CpuBackend().supports(makeNode('Gradient', [], [], {}, { domain: TRAINING_PREVIEW_DOMAIN }), [])).toBe(true);
    expect(GRADIENT_OP_KEY).toBe('ai.onnx.preview.training.Gradient');
  });

  it('differentiates a Mul/Tanh chain (c in zs) like central finite differences in float64', async () => {
    const g = chainGraph();
    const feeds = feedsFor(1);
    const out = await run(g, feeds);
    expectClose(out['ds_dx']!, await finiteDifferences(g, feeds, 'x'));
    expectClose(out['ds_dw']!, await finiteDifferences(g, feeds, 'w'));
  });

  it('takes the gradient at the values fed to the node, not at the named tensors', async () => {
    // Gradient inputs x1, w1, c1 while the graph's own s is computed from x, w, c.
    const g = chainGraph(['x1', 'w1', 'c1']);
    const feeds = feedsFor(7);
    const out = await run(g, feeds);
    // Reference: the same chain evaluated at (x1, w1, c1).
    const at1 = { ...feeds, x: feeds['x1']!, w: feeds['w1']!, c: feeds['c1']! };
    const ref = chainGraph();
    expectClose(out['ds_dx']!, await finiteDifferences(ref, at1, 'x'));
    expectClose(out['ds_dw']!, await finiteDifferences(ref, at1, 'w'));
    // and it differs from the gradient at (x, w, c)
    const own = await run(ref, feeds);
    expect(own['ds_dx']!.toNumbers()).not.toEqual(out['ds_dx']!.toNumbers());
  });

  it('skips outputs named "" (all outputs are optional)', async () => {
    const g = chainGraph();
    g.nodes[5] = gradientNode(['x', 'w', 'c'], ['', 'ds_dw'], ['x', 'w'], 's', ['c']);
    g.outputs = [{ name: 's' }, { name: 'ds_dw' }];
    const feeds = feedsFor(3);
    const out = await run(g, feeds);
    expectClose(out['ds_dw']!, await finiteDifferences(g, feeds, 'w'));
  });

  it('differentiates within the If branch it belongs to, reading the branch input from the outer graph', async () => {
    const branch = emptyGraph('then');
    branch.nodes = [makeNode('Tanh', ['a'], ['ta']), makeNode('Mul', ['ta', 'a'], ['q']), gradientNode(['a'], ['dq_da'], ['a'], 'q')];
    branch.outputs = [{ name: 'dq_da' }];
    const g = emptyGraph('outer');
    g.inputs = [{ name: 'a', type: t64([2, 3]) }];
    g.initializers.set('cond', Tensor.from('bool', [], [1]));
    g.nodes = [makeNode('If', ['cond'], ['d'], { then_branch: { type: 'graph', value: branch }, else_branch: { type: 'graph', value: branch } })];
    g.outputs = [{ name: 'd' }];
    const a = f64([2, 3], randomValues(6, 11));
    const d = (await run(g, { a }))['d']!;
    // d/da (tanh(a)·a) summed over elements is elementwise: compare with a top-level graph's FD.
    const flat = emptyGraph('flat');
    flat.inputs = [{ name: 'x', type: t64([2, 3]) }];
    flat.nodes = [makeNode('Tanh', ['x'], ['tx']), makeNode('Mul', ['tx', 'x'], ['m']), makeNode('ReduceSum', ['m'], ['s'], { keepdims: { type: 'int', value: 0 } })];
    flat.outputs = [{ name: 's' }];
    expectClose(d, await finiteDifferences(flat, { x: a }, 'x'));
  });

  it('infers each output type from the matching input', () => {
    const types = inferTypes(chainGraph());
    expect(types.get('ds_dx')).toEqual(t64([2, 3]));
    expect(types.get('ds_dw')).toEqual(t64([2, 3]));
  });

  it('round-trips through the ONNX exporter and importer with its domain and attributes', async () => {
    const model = emptyModel(chainGraph());
    const { files, mainName } = exportOnnx(model);
    const back = await importOnnx(files.get(mainName)!);
    expect(back.sourceOpsets[TRAINING_PREVIEW_DOMAIN]).toBe(1);
    const node = back.graph.nodes.find((n) => n.opType === 'Gradient')!;
    expect(node.domain).toBe(TRAINING_PREVIEW_DOMAIN);
    expect(node.inputs).toEqual(['x', 'w', 'c']);
    expect(node.outputs).toEqual(['ds_dx', 'ds_dw']);
    expect(node.attrs).toEqual({ xs: strs(['x', 'w']), zs: strs(['c']), y: str('s') });
    const feeds = feedsFor(5);
    const [a, b] = [await run(model.graph, feeds), await run(back.graph, feeds)];
    expect(b['ds_dx']!.toNumbers()).toEqual(a['ds_dx']!.toNumbers());
    expect(b['ds_dw']!.toNumbers()).toEqual(a['ds_dw']!.toNumbers());
  });

  describe('malformed nodes fail with a typed error', () => {
    const expectCode = async (g: Graph, code: string, text: RegExp): Promise<void> => {
      const err = await run(g, feedsFor(2)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RosettaError);
      expect((err as RosettaError).code).toBe(code);
      expect((err as RosettaError).message).toMatch(text);
    };

    it('y depends on a graph input in neither xs nor zs', async () => {
      const g = chainGraph();
      g.nodes[5] = gradientNode(['x', 'w'], ['ds_dx', 'ds_dw'], ['x', 'w'], 's');
      await expectCode(g, 'E_INVALID_GRAPH', /depends on graph input 'c', which is in neither xs nor zs/);
    });

    it('input count differs from xs + zs', async () => {
      const g = chainGraph();
      g.nodes[5] = gradientNode(['x', 'w'], ['ds_dx', 'ds_dw'], ['x', 'w'], 's', ['c']);
      await expectCode(g, 'E_INVALID_GRAPH', /2 inputs but xs and zs name 3/);
    });

    it('y names nothing in the graph', async () => {
      const g = chainGraph();
      g.nodes[5] = gradientNode(['x', 'w', 'c'], ['ds_dx', 'ds_dw'], ['x', 'w'], 'nope', ['c']);
      await expectCode(g, 'E_INVALID_GRAPH', /y='nope' is not a value/);
    });

    it('a variable in xs is computed, by a node y also needs, from the others', async () => {
      // p1, p2 = Split(v); y = p1 · p2. Listing both p1 and v: Split is needed for p2, and it also
      // computes p1, so p1 is not an independent variable.
      const g = emptyGraph('split');
      g.inputs = [{ name: 'v', type: t64([2]) }];
      g.initializers.set('halves', new Tensor('int64', [2], BigInt64Array.from([1n, 1n])));
      g.nodes = [makeNode('Split', ['v', 'halves'], ['p1', 'p2'], { axis: { type: 'int', value: 0 } }), makeNode('Mul', ['p1', 'p2'], ['y']), gradientNode(['p1', 'v'], ['d1', 'dv'], ['p1', 'v'], 'y')];
      g.outputs = [{ name: 'dv' }];
      const err = await run(g, { v: f64([2], [0.5, 2]) }).then(() => undefined, (e: unknown) => e as RosettaError);
      expect(err?.code).toBe('E_INVALID_GRAPH');
      expect(err?.message).toMatch(/variable 'p1' is computed by node p1/);
    });

    it('a Gradient of a Gradient output (higher order) is refused', async () => {
      const g = chainGraph();
      g.nodes.push(makeNode('ReduceSum', ['ds_dx'], ['r'], { keepdims: { type: 'int', value: 0 } }));
      g.nodes.push({ ...gradientNode(['x', 'w', 'c'], ['d2'], ['x'], 'r', ['w', 'c']), name: 'grad2' });
      g.outputs = [{ name: 'd2' }];
      await expectCode(g, 'E_UNSUPPORTED', /higher-order gradients are not supported/);
    });

    it('an integer variable in xs', async () => {
      const g = emptyGraph('int');
      g.inputs = [{ name: 'i', type: { kind: 'tensor', dtype: 'int64', shape: [2] } }];
      g.nodes = [makeNode('Neg', ['i'], ['n']), gradientNode(['i'], ['dn'], ['i'], 'n')];
      g.outputs = [{ name: 'dn' }];
      const err = await run(g, { i: new Tensor('int64', [2], BigInt64Array.from([1n, 2n])) }).then(() => undefined, (e: unknown) => e as RosettaError);
      expect(err?.code).toBe('E_UNSUPPORTED_DTYPE');
    });

    it('run without its enclosing graph (directly on the backend)', async () => {
      const node = gradientNode(['x'], ['d'], ['x'], 'x');
      const err = await new CpuBackend().run(node, [f64([1], [1])], { training: false, random: Math.random, runSubgraph: async () => [] }).then(() => undefined, (e: unknown) => e as RosettaError);
      expect(err?.code).toBe('E_UNSUPPORTED');
      expect(err?.message).toMatch(/needs the graph it belongs to/);
    });
  });

  it('forwardSlice keeps only the nodes between xs/zs and y, and the initializers they read', () => {
    const g = chainGraph();
    g.initializers.set('k', f64([], [2]));
    g.nodes.splice(4, 0, makeNode('Mul', ['u', 'k'], ['uk']), makeNode('Exp', ['x'], ['unused']));
    const node = gradientNode(['x', 'w', 'c'], ['d'], ['x'], 'uk', ['w', 'c']);
    const slice = forwardSlice(g, node);
    expect(slice.graph.nodes.map((n) => n.outputs[0])).toEqual(['h', 'hc', 't', 'u', 'uk']);
    expect(slice.graph.inputs.map((i) => i.name)).toEqual(['x', 'w', 'c']);
    expect([...slice.graph.initializers.keys()]).toEqual(['k']);
    expect(slice.graph.outputs).toEqual([{ name: 'uk' }]);
  });
});
