/**
 * How buildBackward combines several gradient contributions to one value (src/runtime/autograd.ts):
 * zero-padded pieces of it along one axis (Slice's gradient) become one Concat when they do not
 * overlap, with zero blocks for gaps; overlapping pieces keep Pad + Sum. Gradients are checked
 * against central finite differences of the real kernels in float64 either way.
 */
import { describe, expect, it } from 'vitest';
import { emptyGraph, makeNode, type Graph } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { buildBackward, gradients, recordTape } from '../../src/runtime/autograd.js';
import { Session, seededRandom } from '../../src/runtime/session.js';

const ints = (v: number[]) => Tensor.from('int64', [v.length], v.map(BigInt));

/** loss = Σ_i Σ tanh(Slice(x, [s_i, e_i) on axis 1) · w_i) for the given ranges of x [2, 10, 3]. */
function slices(ranges: [number, number][]): Graph {
  const g = emptyGraph('slices');
  g.inputs = [{ name: 'x', type: { kind: 'tensor', dtype: 'float64', shape: [2, 10, 3] } }];
  const sums: string[] = [];
  ranges.forEach(([s, e], i) => {
    g.initializers.set(`s${i}`, ints([s]));
    g.initializers.set(`e${i}`, ints([e]));
    g.initializers.set(`ax${i}`, ints([1]));
    g.initializers.set(`w${i}`, Tensor.from('float64', [], [0.5 + i]));
    g.nodes.push(makeNode('Slice', ['x', `s${i}`, `e${i}`, `ax${i}`], [`p${i}`]), makeNode('Tanh', [`p${i}`], [`t${i}`]), makeNode('Mul', [`t${i}`, `w${i}`], [`m${i}`]), makeNode('ReduceSum', [`m${i}`], [`r${i}`], { keepdims: { type: 'int', value: 0 } }));
    sums.push(`r${i}`);
  });
  g.nodes.push(makeNode('Sum', sums, ['loss']));
  g.outputs = [{ name: 'loss' }];
  return g;
}

async function checkAgainstFiniteDifferences(g: Graph): Promise<void> {
  const r = seededRandom(3);
  const x = new Tensor('float64', [2, 10, 3], Float64Array.from({ length: 60 }, () => r() - 0.5));
  const { grads } = await gradients(g, { x }, 'loss', ['x']);
  const session = await Session.create(g);
  const lossAt = async (d: Float64Array): Promise<number> => ((await session.run({ x: new Tensor('float64', [2, 10, 3], d) })).outputs.loss as Tensor).get(0);
  for (let i = 0; i < 60; i++) {
    const up = new Float64Array(x.data as Float64Array);
    const dn = new Float64Array(x.data as Float64Array);
    up[i]! += 1e-6;
    dn[i]! -= 1e-6;
    const fd = ((await lossAt(up)) - (await lossAt(dn))) / 2e-6;
    expect(Math.abs(grads.get('x')!.get(i) - fd), `d/dx[${i}]`).toBeLessThan(1e-7);
  }
}

async function opsOf(g: Graph): Promise<string[]> {
  const tape = await recordTape(g, { x: new Tensor('float64', [2, 10, 3]) });
  return buildBackward(tape, 'loss', ['x']).graph.nodes.map((n) => n.opType);
}

describe('gradient contributions from slices of one value', () => {
  it('pieces tiling the axis (like LSTM gates): one Concat, no Pad, no Sum', async () => {
    const g = slices([[0, 3], [3, 7], [7, 10]]);
    const ops = await opsOf(g);
    expect(ops.filter((o) => o === 'Concat').length).toBe(1);
    expect(ops).not.toContain('Pad');
    expect(ops).not.toContain('Sum');
    await checkAgainstFiniteDifferences(g);
  });

  it('pieces with gaps and out of order: one Concat with zero blocks', async () => {
    const g = slices([[6, 8], [1, 4]]);
    const ops = await opsOf(g);
    expect(ops.filter((o) => o === 'Concat').length).toBe(1);
    expect(ops).not.toContain('Pad');
    await checkAgainstFiniteDifferences(g);
  });

  it('overlapping pieces keep Pad + Sum', async () => {
    const g = slices([[0, 6], [4, 10]]);
    const ops = await opsOf(g);
    expect(ops).toContain('Pad');
    expect(ops).toContain('Sum');
    await checkAgainstFiniteDifferences(g);
  });
});
