/**
 * Gradients through If: the tape records the branch the condition takes, so d loss / d input goes
 * through that branch only. Checked against central finite differences (float64) of the loss as
 * the Session computes it with the real If kernel (which runs the subgraph itself, independently
 * of the tape's inlining). Covers outer-scope captures, branch initializers, a branch-local name
 * that shadows an outer one, and a nested If capturing a branch-local value. Loop stays
 * unsupported and says so; malformed If nodes fail with typed errors, never a TypeError.
 */
import { describe, expect, it } from 'vitest';
import { isRosettaError } from '../../src/ir/errors.js';
import { emptyGraph, makeNode, type Graph } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { gradients } from '../../src/runtime/autograd.js';
import { Session, seededRandom } from '../../src/runtime/session.js';

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
      const { grads } = await gradients(g, feeds, 'loss', ['x', 'w']);
      const session = await Session.create(g);
      const lossAt = async (f: Record<string, Tensor>): Promise<number> => ((await session.run(f)).outputs.loss as Tensor).get(0);
      const h = 1e-6;
      let nonZero = 0;
      for (const name of ['x', 'w'] as const) {
        const x = feeds[name];
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
    });
  }

  it('Loop is still not differentiable and says so (E_UNSUPPORTED_OP)', async () => {
    const body = emptyGraph('body');
    body.inputs.push({ name: 'i' }, { name: 'c' }, { name: 'a' });
    body.nodes.push(makeNode('Identity', ['c'], ['c2']), makeNode('Add', ['a', 'a'], ['a2']));
    body.outputs.push({ name: 'c2' }, { name: 'a2' });
    const g = emptyGraph('loop');
    g.inputs.push({ name: 'x' });
    g.initializers.set('n', new Tensor('int64', [], BigInt64Array.from([2n])));
    g.nodes.push(makeNode('Loop', ['n', '', 'x'], ['y'], { body: graphAttr(body) }));
    g.outputs.push({ name: 'y' });
    let err: unknown;
    try {
      await gradients(g, { x: Tensor.from('float64', [2], [1, 2]) }, 'y', ['x']);
    } catch (e) {
      err = e;
    }
    expect(isRosettaError(err) && err.code).toBe('E_UNSUPPORTED_OP');
    expect(String((err as Error).message)).toMatch(/Loop and Scan/);
  });
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
