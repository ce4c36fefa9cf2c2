/**
 * An imported graph with an If fine-tunes as a GraphModule: the branches read enclosing values
 * (an earlier output and a parameter) by the graph's names, which GraphModule maps onto the trace.
 * Oracle: the same graph with the taken branch written inline (no If), whose gradients come from
 * the ordinary rules (themselves checked against finite differences and PyTorch elsewhere).
 */
import { describe, expect, it } from 'vitest';
import { emptyGraph, makeNode, type Graph } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import * as nn from '../../src/nn/index.js';
import { expectClose } from './helpers.js';

const f32 = (shape: number[], seed: number) => Tensor.from('float32', shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(seed * 10 + i * 1.3) * 0.7));

function branch(act: string): Graph {
  const g = emptyGraph(`${act}_branch`);
  g.nodes = [makeNode(act, ['H'], [`${act}_a`]), makeNode('MatMul', [`${act}_a`, 'W2'], [`${act}_y`])];
  g.outputs = [{ name: `${act}_y` }];
  return g;
}

/** Y = (sum(X) > 0 ? Relu(X·W) : Tanh(X·W)) · W2, with the choice an If (or written inline). */
function model(inline?: 'Relu' | 'Tanh'): Graph {
  const g = emptyGraph('if_model');
  g.inputs = [{ name: 'X', type: { kind: 'tensor', dtype: 'float32', shape: [4, 3] } }];
  g.initializers.set('W', f32([3, 5], 1));
  g.initializers.set('W2', f32([5, 2], 2));
  for (const n of ['W', 'W2']) g.params.set(n, { scope: n, role: 'weight', trainable: true });
  g.nodes = [makeNode('MatMul', ['X', 'W'], ['H'])];
  if (inline) g.nodes.push(...branch(inline).nodes, makeNode('Identity', [`${inline}_y`], ['Y']));
  else {
    g.nodes.push(makeNode('Constant', [], ['zero'], { value: { type: 'tensor', value: Tensor.from('float32', [], [0]) } }));
    g.nodes.push(makeNode('ReduceSum', ['X'], ['s'], { keepdims: { type: 'int', value: 0 } }), makeNode('Greater', ['s', 'zero'], ['cond']));
    g.nodes.push(makeNode('If', ['cond'], ['Y'], { then_branch: { type: 'graph', value: branch('Relu') }, else_branch: { type: 'graph', value: branch('Tanh') } }));
  }
  g.outputs = [{ name: 'Y' }];
  return g;
}

async function lossAndGrads(g: Graph, x: Tensor): Promise<{ loss: Tensor; grads: Map<string, Tensor> }> {
  const gm = nn.GraphModule.fromModel({ graph: g } as never);
  const target = Tensor.from('float32', [4, 2], new Array<number>(8).fill(0.25));
  const loss = new nn.MSELoss().callVar(gm.callVar(x), target);
  await loss.backward();
  return { loss: loss.value, grads: new Map(gm.namedParameters().map(([k, p]) => [k, p.grad!])) };
}

describe('GraphModule with an If', () => {
  for (const [taken, sign] of [['Relu', 1], ['Tanh', -1]] as const) {
    it(`takes the ${taken} branch (sum(X) ${sign > 0 ? '>' : '<'} 0): loss and gradients equal the inline graph's`, async () => {
      const x = Tensor.from('float32', [4, 3], Array.from({ length: 12 }, (_, i) => sign * (0.2 + 0.1 * Math.cos(i))));
      const withIf = await lossAndGrads(model(), x);
      const inline = await lossAndGrads(model(taken), x);
      expectClose(withIf.loss, inline.loss, { what: 'loss' });
      expect([...withIf.grads.keys()].sort()).toEqual(['W', 'W2']);
      for (const [k, gr] of withIf.grads) expectClose(gr, inline.grads.get(k)!, { what: `grad ${k}` });
    });
  }
});
