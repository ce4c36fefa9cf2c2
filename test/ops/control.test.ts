/**
 * Control flow, sequence and optional kernels run through the executor (so bodies really go
 * through `ctx.runSubgraph` with outer-scope capture): Scan with reversed directions and
 * non-zero axes, Loop with an early-exit condition and with zero trips, If capturing an outer
 * value, SequenceMap with a broadcast tensor input, Optional/OptionalHasElement/OptionalGetElement.
 * Goldens for Scan/Loop: fixtures/ops/tensor-goldens.json (fixtures/ops/make_tensor_goldens.py,
 * numpy 1.24); the same body semantics are written there in Python.
 */
import { describe, expect, it } from 'vitest';
import type { Attr, Graph, ValueInfo } from '../../src/ir/graph.js';
import { emptyGraph, makeNode } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { Session } from '../../src/runtime/session.js';
import { isOptional, isSequence, type Value } from '../../src/runtime/value.js';
import { expectTensorClose, expectValueClose, goldens, runOp, toAttrs, toTensor, toValue, type JTensor } from './tensor-goldens.js';

const f32 = (shape: number[] = []): ValueInfo['type'] => ({ kind: 'tensor', dtype: 'float32', shape });
const vi = (name: string, type?: ValueInfo['type']): ValueInfo => ({ name, type });
const graphAttr = (g: Graph): Attr => ({ type: 'graph', value: g });

function golden(name: string) {
  const c = goldens.cases.find((x) => x.name === name);
  if (!c) throw new Error(`golden ${name} missing`);
  return c;
}

async function runGraph(g: Graph, feeds: Record<string, Value>): Promise<Record<string, Value>> {
  const s = await Session.create(g);
  return (await s.run(feeds)).outputs;
}

describe('Scan', () => {
  it('scan_reverse_axis1: reversed input and output directions on axis 1', async () => {
    const c = golden('scan_reverse_axis1');
    const body = emptyGraph('scan_body');
    body.inputs = [vi('s_in', f32([2])), vi('x_in', f32([2]))];
    body.nodes = [makeNode('Add', ['s_in', 'x_in'], ['s_out']), makeNode('Identity', ['s_out'], ['y_out'])];
    body.outputs = [vi('s_out', f32([2])), vi('y_out', f32([2]))];
    const g = emptyGraph();
    g.inputs = [vi('s0', f32([2])), vi('xs', f32([2, 4]))];
    g.nodes = [makeNode('Scan', ['s0', 'xs'], ['s_final', 'ys'], { ...toAttrs(c.attrs), body: graphAttr(body) })];
    g.outputs = [vi('s_final'), vi('ys')];
    const out = await runGraph(g, { s0: toValue(c.inputs[0]!)!, xs: toValue(c.inputs[1]!)! });
    expectTensorClose(out.s_final, toTensor(c.outputs[0] as JTensor), 's_final');
    expectTensorClose(out.ys, toTensor(c.outputs[1] as JTensor), 'ys');
  });
});

describe('Loop', () => {
  function loopGraph(): Graph {
    const body = emptyGraph('loop_body');
    body.inputs = [vi('i', { kind: 'tensor', dtype: 'int64', shape: [] }), vi('c', { kind: 'tensor', dtype: 'bool', shape: [] }), vi('x', f32([3]))];
    body.initializers.set('two', Tensor.scalar('float32', 2));
    body.initializers.set('two_i', Tensor.scalar('int64', 2n));
    body.nodes = [
      makeNode('Cast', ['i'], ['i_f'], { to: { type: 'int', value: 1 } }),
      makeNode('Mul', ['x', 'two'], ['m']),
      makeNode('Add', ['m', 'i_f'], ['x_out']),
      makeNode('Less', ['i', 'two_i'], ['c_out']),
      makeNode('Identity', ['x_out'], ['y']),
    ];
    body.outputs = [vi('c_out', { kind: 'tensor', dtype: 'bool', shape: [] }), vi('x_out', f32([3])), vi('y', f32([3]))];
    const g = emptyGraph();
    g.inputs = [vi('M'), vi('cond'), vi('x0', f32([3]))];
    g.nodes = [makeNode('Loop', ['M', 'cond', 'x0'], ['x_final', 'ys'], { body: graphAttr(body) })];
    g.outputs = [vi('x_final'), vi('ys')];
    return g;
  }
  it.each(['loop_trips4', 'loop_trips0'])('%s', async (name) => {
    const c = golden(name);
    const [M, cond, x0] = c.inputs.map((v) => toValue(v)!);
    const out = await runGraph(loopGraph(), { M: M!, cond: cond!, x0: x0! });
    expectTensorClose(out.x_final, toTensor(c.outputs[0] as JTensor), 'x_final');
    expectTensorClose(out.ys, toTensor(c.outputs[1] as JTensor), 'ys');
  });
});

describe('If', () => {
  it('runs the chosen branch, which reads outer-scope values', async () => {
    const thenG = emptyGraph('then');
    thenG.nodes = [makeNode('Identity', ['a'], ['t_out'])];
    thenG.outputs = [vi('t_out')];
    const elseG = emptyGraph('else');
    elseG.nodes = [makeNode('Identity', ['b'], ['e_out'])];
    elseG.outputs = [vi('e_out')];
    const g = emptyGraph();
    g.inputs = [vi('cond'), vi('a'), vi('b')];
    g.nodes = [makeNode('If', ['cond'], ['y'], { then_branch: graphAttr(thenG), else_branch: graphAttr(elseG) })];
    g.outputs = [vi('y')];
    const a = Tensor.from('int64', [2], [2n ** 62n, -1n]);
    const b = Tensor.from('string', [1], ['else']);
    expect((await runGraph(g, { cond: Tensor.scalar('bool', 1), a, b })).y).toBe(a);
    expect((await runGraph(g, { cond: Tensor.scalar('bool', 0), a, b })).y).toBe(b);
  });
});

describe('SequenceMap', () => {
  it('maps a body over a sequence with a broadcast tensor input', async () => {
    const c = golden('sequence_insert_negative_position');
    const items = (toValue(c.outputs[0]!) as { items: Tensor[] }).items;
    const body = emptyGraph('map_body');
    body.inputs = [vi('x', f32([2, 3])), vi('t', f32([2, 3]))];
    body.nodes = [makeNode('Concat', ['x', 't'], ['y'], { axis: { type: 'int', value: 0 } })];
    body.outputs = [vi('y', f32([4, 3]))];
    const outs = await runOp('SequenceMap', { body: graphAttr(body) }, [{ kind: 'sequence', elemDType: 'float32', items }, items[0]!], 1, async (gr, feeds) => {
      const s = await Session.create(gr);
      const r = await s.run(Object.fromEntries(feeds));
      return gr.outputs.map((o) => r.outputs[o.name]!);
    });
    const seq = outs[0]!;
    expect(isSequence(seq)).toBe(true);
    // Each element is [x_i; x_0]: compare against Concat run on its own.
    for (let i = 0; i < items.length; i++) {
      const [expected] = await runOp('Concat', { axis: { type: 'int', value: 0 } }, [items[i]!, items[0]!], 1);
      expectValueClose((seq as { items: Tensor[] }).items[i], expected!, `item ${i}`);
    }
  });
});

describe('Optional', () => {
  it('wraps, tests and unwraps values; an empty optional is typed', async () => {
    const t = Tensor.from('float32', [2], [1, 2]);
    const [full] = await runOp('Optional', {}, [t], 1);
    const [empty] = await runOp('Optional', { type: { type: 'type_proto', value: { kind: 'tensor', dtype: 'int64' } } }, [], 1);
    expect(isOptional(full) && full.value).toBe(t);
    expect(isOptional(empty) && empty.value === null && empty.elemDType).toBe('int64');
    expect((await runOp('OptionalHasElement', {}, [full], 1))[0]!).toMatchObject({ dtype: 'bool', shape: [] });
    expect(((await runOp('OptionalHasElement', {}, [full], 1))[0] as Tensor).get(0)).toBe(1);
    expect(((await runOp('OptionalHasElement', {}, [empty], 1))[0] as Tensor).get(0)).toBe(0);
    expect(((await runOp('OptionalHasElement', {}, [undefined], 1))[0] as Tensor).get(0)).toBe(0);
    expect((await runOp('OptionalGetElement', {}, [full], 1))[0]).toBe(t);
    await expect(runOp('OptionalGetElement', {}, [empty], 1)).rejects.toMatchObject({ code: 'E_MISSING_INPUT' });
  });
  it('sequence positions out of range are typed errors', async () => {
    const s: Value = { kind: 'sequence', elemDType: 'float32', items: [new Tensor('float32', [1])] };
    await expect(runOp('SequenceAt', {}, [s, Tensor.scalar('int64', 1n)], 1)).rejects.toMatchObject({ code: 'E_SHAPE_MISMATCH' });
    await expect(runOp('SequenceInsert', {}, [s, new Tensor('int32', [1])], 1)).rejects.toMatchObject({ code: 'E_DTYPE_MISMATCH' });
    await expect(runOp('SequenceErase', {}, [{ kind: 'sequence', items: [] }], 1)).rejects.toMatchObject({ code: 'E_SHAPE_MISMATCH' });
  });
});
