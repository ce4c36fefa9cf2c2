/**
 * Graph passes on small hand-built graphs: each test checks the new structure and that the graph
 * computes bit-identical outputs before and after the pass (both runs use the CPU kernels).
 */
import { describe, expect, it } from 'vitest';
import { attrInts, attrTensor } from '../../src/ir/attrs.js';
import { emptyGraph, makeNode, type Graph } from '../../src/ir/graph.js';
import { eliminateTransposePairs, foldConstants, optimizeGraph, removeDeadCode } from '../../src/ir/passes.js';
import { Tensor, tensorsBitEqual } from '../../src/ir/tensor.js';
import { Session } from '../../src/runtime/session.js';
import type { Value } from '../../src/runtime/value.js';

function seq(n: number, scale = 1): number[] {
  return Array.from({ length: n }, (_, i) => ((i * 7) % 11) * scale - 3);
}

function cloneGraph(g: Graph): Graph {
  return { ...g, nodes: g.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs], attrs: { ...n.attrs } })), inputs: [...g.inputs], outputs: [...g.outputs], initializers: new Map(g.initializers), valueInfo: new Map(g.valueInfo), params: new Map(g.params) };
}

async function run(g: Graph, feeds: Record<string, Tensor>): Promise<Record<string, Value>> {
  return (await (await Session.create(g)).run(feeds)).outputs;
}

/** Run `pass` on a copy of `g` and assert outputs are bit-identical to the original's. */
async function expectSameOutputs(before: Graph, after: Graph, feeds: Record<string, Tensor>): Promise<void> {
  const a = await run(before, feeds);
  const b = await run(after, feeds);
  expect(Object.keys(b)).toEqual(Object.keys(a));
  for (const k of Object.keys(a)) expect(tensorsBitEqual(a[k] as Tensor, b[k] as Tensor), k).toBe(true);
}

function tensorInput(name: string, shape: number[]) {
  return { name, type: { kind: 'tensor' as const, dtype: 'float32' as const, shape } };
}

describe('foldConstants', () => {
  function graph(): Graph {
    const g = emptyGraph();
    g.inputs = [tensorInput('X', [2, 3])];
    g.outputs = [{ name: 'Y' }];
    g.initializers.set('A', Tensor.from('float32', [2, 3], seq(6, 0.5)));
    g.initializers.set('B', Tensor.from('float32', [2, 3], seq(6, 0.25)));
    g.nodes = [
      makeNode('Constant', [], ['K'], { value: attrTensor(Tensor.from('float32', [1], [2])) }),
      makeNode('Add', ['A', 'B'], ['C']),
      makeNode('Mul', ['C', 'K'], ['D']),
      makeNode('Add', ['X', 'D'], ['Y']),
    ];
    return g;
  }
  const feeds = { X: Tensor.from('float32', [2, 3], seq(6, 0.1)) };

  it('folds a chain of constant nodes into one initializer and keeps outputs bit-identical', async () => {
    const g = graph();
    const after = cloneGraph(g);
    expect(await foldConstants(after)).toBe(3);
    expect(after.nodes.map((n) => n.opType)).toEqual(['Add']);
    expect(after.nodes[0]!.inputs).toEqual(['X', 'D']);
    expect(after.initializers.get('D')!.toNumbers()).toEqual(seq(6, 0.5).map((a, i) => Math.fround(Math.fround(a + seq(6, 0.25)[i]!) * 2)));
    await expectSameOutputs(g, after, feeds);
  });

  it('does not fold initializers that are also graph inputs (feeds may override them)', async () => {
    const g = graph();
    g.inputs.push(tensorInput('A', [2, 3]));
    expect(await foldConstants(g)).toBe(1); // only the Constant node
    expect(g.nodes.map((n) => n.opType)).toEqual(['Add', 'Mul', 'Add']);
  });

  it('respects the size limit', async () => {
    const g = graph();
    expect(await foldConstants(g, { maxElements: 4 })).toBe(1); // K has 1 element, C and D have 6
    expect(g.nodes).toHaveLength(3);
  });

  it('never folds random ops or nodes producing graph outputs', async () => {
    const g = emptyGraph();
    g.outputs = [{ name: 'R' }, { name: 'S' }];
    g.initializers.set('A', Tensor.from('float32', [2], [1, 2]));
    g.nodes = [makeNode('RandomUniform', [], ['R'], { shape: attrInts([2]) }), makeNode('Relu', ['A'], ['S'])];
    expect(await foldConstants(g)).toBe(0);
    expect(g.nodes).toHaveLength(2);
  });

  it('leaves a node whose kernel fails for run time to report', async () => {
    const g = emptyGraph();
    g.inputs = [tensorInput('X', [2])];
    g.outputs = [{ name: 'Y' }];
    g.initializers.set('A', Tensor.from('float32', [2], [1, 2]));
    g.initializers.set('B', Tensor.from('float32', [3], [1, 2, 3]));
    g.nodes = [makeNode('Add', ['A', 'B'], ['C']), makeNode('Add', ['X', 'C'], ['Y'])];
    expect(await foldConstants(g)).toBe(0);
    expect(g.nodes).toHaveLength(2);
  });
});

describe('removeDeadCode', () => {
  it('removes nodes and initializers no output needs', async () => {
    const g = emptyGraph();
    g.inputs = [tensorInput('X', [4])];
    g.outputs = [{ name: 'Y' }];
    g.initializers.set('W', Tensor.from('float32', [4], [1, 2, 3, 4]));
    g.initializers.set('unused', Tensor.from('float32', [1], [9]));
    g.params.set('unused', { scope: 'x', trainable: true });
    g.nodes = [makeNode('Mul', ['X', 'W'], ['Y']), makeNode('Relu', ['X'], ['dead1']), makeNode('Neg', ['dead1'], ['dead2'])];
    const before = cloneGraph(g);
    expect(removeDeadCode(g)).toBe(3); // two nodes, one initializer
    expect(g.nodes.map((n) => n.opType)).toEqual(['Mul']);
    expect([...g.initializers.keys()]).toEqual(['W']);
    expect(g.params.has('unused')).toBe(false);
    await expectSameOutputs(before, g, { X: Tensor.from('float32', [4], [1, -2, 3, -4]) });
  });

  it('keeps nodes a subgraph captures', () => {
    const g = emptyGraph();
    g.inputs = [{ name: 'cond', type: { kind: 'tensor', dtype: 'bool', shape: [] } }, tensorInput('X', [2])];
    g.outputs = [{ name: 'Y' }];
    const branch = emptyGraph('then');
    branch.outputs = [{ name: 'Z' }];
    branch.nodes = [makeNode('Identity', ['captured'], ['Z'])];
    g.nodes = [makeNode('Relu', ['X'], ['captured']), makeNode('If', ['cond'], ['Y'], { then_branch: { type: 'graph', value: branch }, else_branch: { type: 'graph', value: branch } })];
    expect(removeDeadCode(g)).toBe(0);
    expect(g.nodes).toHaveLength(2);
  });
});

describe('eliminateTransposePairs', () => {
  const X = Tensor.from('float32', [1, 2, 3, 4], seq(24, 0.5));

  it('removes a pair whose permutations cancel (NCHW→NHWC→NCHW)', async () => {
    const g = emptyGraph();
    g.inputs = [tensorInput('X', [1, 2, 3, 4])];
    g.outputs = [{ name: 'Y' }];
    g.nodes = [makeNode('Transpose', ['X'], ['nhwc'], { perm: attrInts([0, 2, 3, 1]) }), makeNode('Transpose', ['nhwc'], ['nchw'], { perm: attrInts([0, 3, 1, 2]) }), makeNode('Relu', ['nchw'], ['Y'])];
    const before = cloneGraph(g);
    expect(eliminateTransposePairs(g)).toBe(2);
    expect(g.nodes.map((n) => n.opType)).toEqual(['Relu']);
    expect(g.nodes[0]!.inputs).toEqual(['X']);
    await expectSameOutputs(before, g, { X });
  });

  it('merges a pair that does not cancel into one Transpose', async () => {
    const g = emptyGraph();
    g.inputs = [tensorInput('X', [1, 2, 3, 4])];
    g.outputs = [{ name: 'Y' }];
    g.nodes = [makeNode('Transpose', ['X'], ['t1'], { perm: attrInts([1, 0, 2, 3]) }), makeNode('Transpose', ['t1'], ['Y'], { perm: attrInts([0, 2, 3, 1]) })];
    const before = cloneGraph(g);
    expect(eliminateTransposePairs(g)).toBe(1);
    expect(g.nodes).toHaveLength(1);
    expect(g.nodes[0]!.inputs).toEqual(['X']);
    // out dim j = t1 dim pB[j] = X dim pA[pB[j]]
    expect(g.nodes[0]!.attrs.perm).toEqual({ type: 'ints', value: [1, 2, 3, 0] });
    await expectSameOutputs(before, g, { X });
  });

  it('uses the implicit reversed permutation when the rank is known', async () => {
    const g = emptyGraph();
    g.inputs = [tensorInput('X', [1, 2, 3, 4])];
    g.outputs = [{ name: 'Y' }];
    g.nodes = [makeNode('Transpose', ['X'], ['t1']), makeNode('Transpose', ['t1'], ['t2']), makeNode('Neg', ['t2'], ['Y'])];
    const before = cloneGraph(g);
    expect(eliminateTransposePairs(g)).toBe(2);
    await expectSameOutputs(before, g, { X });
  });

  it('keeps the first Transpose when something else reads it, and keeps output names', async () => {
    const g = emptyGraph();
    g.inputs = [tensorInput('X', [1, 2, 3, 4])];
    g.outputs = [{ name: 'Y' }, { name: 'Z' }];
    g.nodes = [makeNode('Transpose', ['X'], ['t1'], { perm: attrInts([0, 2, 3, 1]) }), makeNode('Transpose', ['t1'], ['Y'], { perm: attrInts([0, 3, 1, 2]) }), makeNode('Relu', ['t1'], ['Z'])];
    const before = cloneGraph(g);
    expect(eliminateTransposePairs(g)).toBe(1);
    expect(g.nodes.map((n) => n.opType)).toEqual(['Transpose', 'Identity', 'Relu']);
    await expectSameOutputs(before, g, { X });
  });
});

describe('optimizeGraph', () => {
  it('folds, cancels transposes and sweeps dead initializers in one call', async () => {
    const g = emptyGraph();
    g.inputs = [tensorInput('X', [2, 3])];
    g.outputs = [{ name: 'Y' }];
    g.initializers.set('W', Tensor.from('float32', [3, 2], seq(6)));
    g.nodes = [makeNode('Transpose', ['W'], ['Wt'], { perm: attrInts([1, 0]) }), makeNode('Transpose', ['X'], ['a'], { perm: attrInts([1, 0]) }), makeNode('Transpose', ['a'], ['b'], { perm: attrInts([1, 0]) }), makeNode('Add', ['b', 'Wt'], ['Y'])];
    const before = cloneGraph(g);
    const report = await optimizeGraph(g);
    expect(report).toEqual({ folded: 1, transposesRemoved: 2, deadRemoved: 1 });
    expect(g.nodes.map((n) => n.opType)).toEqual(['Add']);
    expect([...g.initializers.keys()]).toEqual(['Wt']);
    await expectSameOutputs(before, g, { X: Tensor.from('float32', [2, 3], seq(6, 0.3)) });
  });
});
