/**
 * Misuse and unsupported cases fail with typed RosettaErrors naming what and where: an op without
 * a gradient rule, an unknown loss value, values from two traces, modules given shapes they cannot
 * handle, bad optimizer settings, wrong input counts for a GraphModule.
 */
import { describe, expect, it } from 'vitest';
import { isRosettaError } from '../../src/ir/errors.js';
import { emptyGraph, makeNode } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import * as nn from '../../src/nn/index.js';
import { gradients } from '../../src/runtime/autograd.js';

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return isRosettaError(e) ? e.code : `not a RosettaError: ${String(e)}`;
  }
  return undefined;
}

async function codeOfAsync(f: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await f();
  } catch (e) {
    return isRosettaError(e) ? e.message : `not a RosettaError: ${String(e)}`;
  }
  return undefined;
}

describe('autograd errors', () => {
  const x = Tensor.from('float32', [2, 2], [1, 2, 3, 4]);

  it('an op without a gradient rule is named (E_UNSUPPORTED_OP)', async () => {
    const g = emptyGraph();
    g.inputs.push({ name: 'x' });
    g.nodes.push(makeNode('Det', ['x'], ['d']));
    g.outputs.push({ name: 'd' });
    const msg = await codeOfAsync(() => gradients(g, { x }, 'd', ['x']));
    expect(msg).toMatch(/^E_UNSUPPORTED_OP: no gradient rule for Det/);
  });

  it('a loss that is not a value of the graph (E_USAGE)', async () => {
    const g = emptyGraph();
    g.inputs.push({ name: 'x' });
    g.nodes.push(makeNode('Relu', ['x'], ['y']));
    g.outputs.push({ name: 'y' });
    expect(await codeOfAsync(() => gradients(g, { x }, 'nope', ['x']))).toMatch(/^E_USAGE/);
  });

  it('mixing values of two traces (E_USAGE)', () => {
    const a = new nn.Trace().input(x);
    const b = new nn.Trace().input(x);
    expect(codeOf(() => a.add(b))).toBe('E_USAGE');
  });
});

describe('nn errors', () => {
  it('AdaptiveAvgPool2d to a size that does not divide the input (E_UNSUPPORTED)', () => {
    const m = new nn.AdaptiveAvgPool2d(3);
    expect(codeOf(() => m.call(new Tensor('float32', [1, 1, 4, 4])))).toBe('E_UNSUPPORTED');
  });
  it('BatchNorm2d on a rank-2 input (E_SHAPE_MISMATCH)', () => {
    expect(codeOf(() => new nn.BatchNorm2d(3).call(new Tensor('float32', [2, 3])))).toBe('E_SHAPE_MISMATCH');
  });
  it('LSTM dropout outside [0, 1) and bad conv groups (E_INVALID_ATTR)', () => {
    expect(codeOf(() => new nn.LSTM(2, 2, { numLayers: 2, dropout: 1.5 }))).toBe('E_INVALID_ATTR');
    expect(codeOf(() => new nn.Conv2d(3, 4, 3, { groups: 2 }))).toBe('E_INVALID_ATTR');
  });
  it('a kernel shape error surfaces as a RosettaError naming the node', () => {
    const m = new nn.Linear(3, 2);
    let err: unknown;
    try {
      m.call(new Tensor('float32', [4, 5]));
    } catch (e) {
      err = e;
    }
    expect(isRosettaError(err) && err.code).toBe('E_SHAPE_MISMATCH');
    expect(isRosettaError(err) && String(err.where.node)).toMatch(/Gemm/);
  });
  it('optimizers reject a negative learning rate (E_USAGE)', () => {
    expect(codeOf(() => new nn.SGD([], { lr: -1 }))).toBe('E_USAGE');
    expect(codeOf(() => new nn.SGD([], { lr: 0.1, nesterov: true }))).toBe('E_USAGE');
  });
  it('GraphModule called with the wrong number of inputs (E_USAGE)', () => {
    const g = emptyGraph();
    g.inputs.push({ name: 'a' }, { name: 'b' });
    g.nodes.push(makeNode('Add', ['a', 'b'], ['c']));
    g.outputs.push({ name: 'c' });
    expect(codeOf(() => new nn.GraphModule(g).call(new Tensor('float32', [1])))).toBe('E_USAGE');
  });
});
