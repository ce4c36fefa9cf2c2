/**
 * The tensor buffer pool (src/ir/buffer-pool.ts) and the Session's recycling of dead intermediate
 * values: buffers come back and are reused, and nothing a caller can still see is ever recycled
 * (graph outputs of earlier runs, feeds, initializers, tensors inside sequence outputs).
 * Sizes are 256×256 float32 (256 KiB), the smallest pooled size.
 */
import { describe, expect, it } from 'vitest';
import { allocBuffer, poolStats, recycleBuffer } from '../../src/ir/buffer-pool.js';
import { AttrReader, attrInt, attrInts } from '../../src/ir/attrs.js';
import type { Attr } from '../../src/ir/graph.js';
import { CPU_KERNELS } from '../../src/kernels/cpu/index.js';
import type { KernelContext } from '../../src/kernels/cpu/kernel.js';
import { allocData } from '../../src/ir/dtype.js';
import { emptyGraph, makeNode, type Graph } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { Session } from '../../src/runtime/session.js';
import type { SequenceValue } from '../../src/runtime/value.js';

const S = 256;

function mat(seed: number): Tensor {
  const d = allocData('float32', S * S) as Float32Array;
  for (let i = 0; i < d.length; i++) d[i] = (((i * 7 + seed * 13) % 17) - 8) / 64;
  return new Tensor('float32', [S, S], d);
}

const input = (name: string) => ({ name, type: { kind: 'tensor' as const, dtype: 'float32' as const, shape: [S, S] } });

/** Y = ((X·A)·B)·A and, optionally, a sequence output holding X·A. */
function chain(withSequence: boolean): Graph {
  const g = emptyGraph();
  g.inputs = [input('X')];
  g.initializers.set('A', mat(1));
  g.initializers.set('B', mat(2));
  g.nodes = [
    makeNode('Identity', ['A'], ['A2']),
    makeNode('MatMul', ['X', 'A2'], ['H1']),
    makeNode('MatMul', ['H1', 'B'], ['H2']),
    makeNode('MatMul', ['H2', 'A'], ['Y']),
  ];
  g.outputs = [{ name: 'Y' }];
  if (withSequence) {
    g.nodes.push(makeNode('SequenceConstruct', ['H1'], ['Seq']));
    g.outputs.push({ name: 'Seq' });
  }
  return g;
}

/** Fill the pool's idle buffers of this size with garbage, as any later allocation could. */
function scribble(): void {
  for (let i = 0; i < 8; i++) new Float32Array(allocBuffer(S * S * 4)).fill(12345);
}

describe('buffer pool and Session recycling', () => {
  it('recycles dead intermediates across runs while earlier outputs, feeds and initializers stay intact', async () => {
    const g = chain(false);
    const a = Array.from(g.initializers.get('A')!.data as Float32Array);
    const session = await Session.create(g);
    const x1 = mat(3);
    const x1Copy = Array.from(x1.data as Float32Array);
    const y1 = (await session.run({ X: x1 })).outputs.Y as Tensor;
    const y1Copy = Array.from(y1.data as Float32Array);
    const before = poolStats();
    const y2 = (await session.run({ X: mat(4) })).outputs.Y as Tensor;
    const after = poolStats();
    expect(after.reused).toBeGreaterThan(before.reused); // the second run took buffers the first gave back
    scribble();
    expect(Array.from(y1.data as Float32Array)).toEqual(y1Copy);
    expect(Array.from(x1.data as Float32Array)).toEqual(x1Copy);
    expect(Array.from(g.initializers.get('A')!.data as Float32Array)).toEqual(a);
    // the outputs are right, not just untouched: a fresh session without reuse history agrees
    const fresh = (await (await Session.create(chain(false))).run({ X: mat(4) })).outputs.Y as Tensor;
    expect(Array.from(y2.data as Float32Array)).toEqual(Array.from(fresh.data as Float32Array));
  });

  it('never recycles a tensor that escapes inside a sequence output', async () => {
    const session = await Session.create(chain(true));
    const out = (await session.run({ X: mat(5) })).outputs;
    const held = (out.Seq as SequenceValue).items[0] as Tensor;
    const copy = Array.from(held.data as Float32Array);
    await session.run({ X: mat(6) });
    scribble();
    expect(Array.from(held.data as Float32Array)).toEqual(copy);
  });
});

/** Kernels that take their output unzeroed from the pool: each must write every element. */
describe('outputs taken without zero-fill are fully written', () => {
  const rnd = (shape: number[], seed: number): Tensor => {
    let st = seed;
    return Tensor.from('float32', shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => ((st = (st * 16807) % 2147483647) / 2147483647) - 0.5));
  };
  const ctx = (op: string, attrs: Record<string, Attr>): KernelContext => {
    const node = { name: op, opType: op, domain: '', inputs: [], outputs: ['y'], attrs, scope: '' };
    return { node, attrs: new AttrReader(attrs, node), training: false, random: Math.random, runSubgraph: async () => [] };
  };
  const pads1 = { pads: attrInts([1, 1, 1, 1]) };
  const cases: [string, string, Tensor[], Record<string, Attr>][] = [
    ['Conv tap form', 'Conv', [rnd([2, 8, 64, 64], 1), rnd([8, 8, 3, 3], 2)], pads1],
    ['Conv window form', 'Conv', [rnd([256, 4, 9, 9], 3), rnd([64, 4, 5, 5], 4)], {}],
    ['Conv stride 2 (per-image im2col)', 'Conv', [rnd([1, 4, 129, 129], 5), rnd([16, 4, 3, 3], 6), rnd([16], 7)], { strides: attrInts([2, 2]) }],
    ['Conv depthwise', 'Conv', [rnd([1, 16, 64, 64], 8), rnd([16, 1, 3, 3], 9)], { ...pads1, group: attrInt(16) }],
    ['Conv groups', 'Conv', [rnd([1, 8, 64, 64], 10), rnd([16, 4, 3, 3], 11)], { ...pads1, group: attrInt(2) }],
    ['ConvTranspose stride 1', 'ConvTranspose', [rnd([1, 8, 64, 64], 12), rnd([8, 16, 3, 3], 13)], pads1],
    ['MatMul', 'MatMul', [rnd([256, 64], 14), rnd([64, 256], 15)], {}],
    ['Relu', 'Relu', [rnd([256, 256], 16)], {}],
    ['Abs (unary float32 loop)', 'Abs', [rnd([256, 256], 17)], {}],
    ['Neg (unary float32 loop)', 'Neg', [rnd([256, 256], 18)], {}],
  ];
  it('Greater (bool mask, tensor vs scalar and broadcast)', () => {
    for (const b of [Tensor.from('float32', [], [0]), rnd([1024, 1], 20)]) {
      const inputs = [rnd([1024, 1024], 19), b];
      const run = (): Tensor => (CPU_KERNELS.Greater!(inputs, ctx('Greater', {})) as Tensor[])[0]!;
      const ref = run();
      const poison = allocBuffer(ref.size);
      new Uint8Array(poison).fill(7);
      recycleBuffer(poison);
      const got = run();
      expect((got.data as Uint8Array).buffer).toBe(poison);
      expect(Array.from(got.data as Uint8Array)).toEqual(Array.from(ref.data as Uint8Array));
    }
  });

  it.each(cases)('%s', (_name, op, inputs, attrs) => {
    const run = (): Tensor => (CPU_KERNELS[op]!(inputs, ctx(op, attrs)) as Tensor[])[0]!;
    const ref = run();
    expect(ref.size * 4).toBeGreaterThanOrEqual(1 << 18); // a pooled size
    // a buffer of exactly the output's size, full of NaN, goes back to the pool for the next run
    const poison = allocBuffer(ref.size * 4);
    new Float32Array(poison).fill(NaN);
    recycleBuffer(poison);
    const reusedBefore = poolStats().reused;
    const got = run();
    expect(poolStats().reused).toBe(reusedBefore + 1);
    expect((got.data as Float32Array).buffer).toBe(poison);
    expect(Array.from(got.data as Float32Array)).toEqual(Array.from(ref.data as Float32Array));
  });
});
