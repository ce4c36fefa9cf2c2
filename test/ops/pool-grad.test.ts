/**
 * The kernels MaxPool's gradient runs on (src/runtime/grad-rules/nn.ts): 1-D float ScatterElements
 * with reduction 'add' and int64 indices takes a fast path in src/kernels/cpu/tensor-ops.ts that
 * reads indices as 32-bit words. Expected values come from onnxruntime-node at test time
 * (nn-oracle.ts); indices it cannot read (out of range, beyond 32 bits) must still give the
 * generic path's typed error.
 */
import { describe, expect, it } from 'vitest';
import { AttrReader, attrInt } from '../../src/ir/attrs.js';
import type { Attr } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { CPU_KERNELS } from '../../src/kernels/cpu/index.js';
import { checkAgainstOrt, loadOrt, randTensor, type OracleCase } from './nn-oracle.js';

const ort = await loadOrt();
const add = { axis: 0, reduction: 'add' };
// duplicates, negatives (wrapped against the length) and every position hit at least once
const idx = Tensor.from('int64', [12], [0n, 3n, 3n, -1n, 7n, -8n, 2n, 5n, 5n, 5n, 1n, 6n]);

const cases: OracleCase[] = [
  { name: 'ScatterElements add, float32, duplicate and negative indices', op: 'ScatterElements', attrs: add, inputs: [randTensor([8], 1), idx, randTensor([12], 2)], outputs: ['float32'] },
  {
    name: 'ScatterElements add, float64',
    op: 'ScatterElements',
    attrs: add,
    inputs: [new Tensor('float64', [8], Float64Array.from({ length: 8 }, (_, i) => i / 3)), idx, new Tensor('float64', [12], Float64Array.from({ length: 12 }, (_, i) => 1 / (i + 1)))],
    outputs: ['float64'],
    atol: 1e-12,
    rtol: 1e-12,
  },
];

describe.skipIf(!ort)('MaxPool-gradient scatter matches onnxruntime-node', () => {
  it.each(cases)('$name', async (c) => {
    await checkAgainstOrt(ort!, c);
  });
});

describe('scatter-add fast path leaves bad indices to the typed error', () => {
  const run = (indices: bigint[]) => {
    const attrs: Record<string, Attr> = { axis: attrInt(0), reduction: { type: 'string', value: 'add' } };
    const node = { name: 's', opType: 'ScatterElements', domain: '', inputs: [], outputs: ['y'], attrs, scope: '' };
    const inputs = [new Tensor('float32', [4]), Tensor.from('int64', [indices.length], indices), new Tensor('float32', [indices.length])];
    return () => CPU_KERNELS.ScatterElements!(inputs, { node, attrs: new AttrReader(attrs, node), training: false, random: Math.random, runSubgraph: async () => [] });
  };
  it.each([
    ['past the end', [1n, 4n]],
    ['below -dim', [0n, -5n]],
    ['needing the high word (2^32)', [2n ** 32n]],
    ['a large negative (-2^32)', [-(2n ** 32n)]],
  ])('%s', (_, indices) => {
    expect(run(indices)).toThrow(expect.objectContaining({ code: 'E_SHAPE_MISMATCH' }));
  });
});
