/**
 * Pooling (src/kernels/cpu/pool.ts) beyond the conformance data: LpPool, GlobalLpPool, MaxPool
 * with storage_order=1 indices, dilations + ceil_mode, int8, AveragePool count_include_pad with
 * ceil_mode, 1-D/3-D, MaxRoiPool and a MaxPool → MaxUnpool round trip. Expected values come from
 * onnxruntime-node at test time (see nn-oracle.ts). Hostile attributes (huge kernels, pads) must
 * fail fast with typed errors.
 */
import { describe, expect, it } from 'vitest';
import { AttrReader, attrInt, attrInts } from '../../src/ir/attrs.js';
import type { Attr } from '../../src/ir/graph.js';
import { CPU_KERNELS } from '../../src/kernels/cpu/index.js';
import { Tensor } from '../../src/ir/tensor.js';
import { checkAgainstOrt, loadOrt, randInts, randTensor, type OracleCase } from './nn-oracle.js';

const ort = await loadOrt();
const x4 = randTensor([2, 3, 9, 8], 1);

const cases: OracleCase[] = [
  { name: 'LpPool p=2 strided padded', op: 'LpPool', attrs: { kernel_shape: [3, 2], strides: [2, 2], pads: [1, 0, 1, 1], p: 2 }, inputs: [x4], outputs: ['float32'] },
  { name: 'LpPool p=3 1-D', op: 'LpPool', attrs: { kernel_shape: [3], p: 3 }, inputs: [randTensor([1, 2, 11], 2)], outputs: ['float32'] },
  { name: 'GlobalLpPool p=2', op: 'GlobalLpPool', inputs: [x4], outputs: ['float32'] },
  { name: 'GlobalLpPool p=1', op: 'GlobalLpPool', attrs: { p: 1 }, inputs: [x4], outputs: ['float32'] },
  { name: 'GlobalMaxPool 3-D', op: 'GlobalMaxPool', inputs: [randTensor([1, 2, 3, 4, 5], 3)], outputs: ['float32'] },
  { name: 'MaxPool 2×2 stride 2 (fast path), odd sizes', op: 'MaxPool', attrs: { kernel_shape: [2, 2], strides: [2, 2] }, inputs: [randTensor([2, 3, 7, 9], 8)], outputs: ['float32'] },
  { name: 'MaxPool 2×2 stride 2 ceil_mode (partial windows)', op: 'MaxPool', attrs: { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 }, inputs: [randTensor([2, 3, 7, 9], 9)], outputs: ['float32'] },
  { name: 'MaxPool 2×2 stride 2 with indices (training fast path), odd sizes', op: 'MaxPool', attrs: { kernel_shape: [2, 2], strides: [2, 2] }, inputs: [randTensor([2, 3, 7, 9], 10)], outputs: ['float32', 'int64'] },
  // ties (integer-valued floats) check that the first maximum in row-major order wins
  { name: 'MaxPool 2×2 stride 2 with indices, ties', op: 'MaxPool', attrs: { kernel_shape: [2, 2], strides: [2, 2] }, inputs: [new Tensor('float32', [1, 2, 4, 6], Float32Array.from({ length: 48 }, (_, i) => (i * 7) % 3))], outputs: ['float32', 'int64'] },
  { name: 'MaxPool storage_order=1 with indices', op: 'MaxPool', attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], storage_order: 1 }, inputs: [x4], outputs: ['float32', 'int64'] },
  { name: 'MaxPool row-major indices, ceil_mode, dilations', op: 'MaxPool', attrs: { kernel_shape: [2, 3], strides: [2, 2], dilations: [2, 1], ceil_mode: 1 }, inputs: [x4], outputs: ['float32', 'int64'] },
  { name: 'MaxPool int8', op: 'MaxPool', attrs: { kernel_shape: [2, 2], pads: [1, 1, 0, 0] }, inputs: [randInts('int8', [1, 2, 5, 5], 4, -128, 127)], outputs: ['int8'] },
  { name: 'MaxPool 3-D with indices', op: 'MaxPool', attrs: { kernel_shape: [2, 2, 2], strides: [1, 2, 2] }, inputs: [randTensor([1, 2, 4, 5, 6], 5)], outputs: ['float32', 'int64'] },
  { name: 'AveragePool count_include_pad + ceil_mode', op: 'AveragePool', attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1, ceil_mode: 1 }, inputs: [x4], outputs: ['float32'] },
  { name: 'AveragePool exclude pad + ceil_mode', op: 'AveragePool', attrs: { kernel_shape: [3, 2], strides: [2, 3], pads: [0, 1, 1, 0], ceil_mode: 1 }, inputs: [x4], outputs: ['float32'] },
  { name: 'AveragePool SAME_LOWER 3-D', op: 'AveragePool', attrs: { kernel_shape: [2, 3, 2], auto_pad: 'SAME_LOWER', strides: [2, 2, 1] }, inputs: [randTensor([1, 2, 5, 6, 4], 6)], outputs: ['float32'] },
  { name: 'MaxPool float64', op: 'MaxPool', attrs: { kernel_shape: [2, 2] }, inputs: [new Tensor('float64', [1, 1, 3, 4], Float64Array.from({ length: 12 }, (_, i) => i / 7))], outputs: ['float64'], atol: 1e-12, rtol: 1e-12 },
  {
    name: 'MaxRoiPool',
    op: 'MaxRoiPool',
    attrs: { pooled_shape: [3, 2], spatial_scale: 0.5 },
    inputs: [randTensor([2, 3, 10, 12], 7), new Tensor('float32', [3, 5], Float32Array.from([0, 1, 2, 15, 12, 1, 0, 0, 23, 19, 1, 6.6, 3.2, 9.7, 8.1]))],
    outputs: ['float32'],
  },
];

describe.skipIf(!ort)('pooling ops match onnxruntime-node', () => {
  it.each(cases)('$name', async (c) => {
    await checkAgainstOrt(ort!, c);
  });
});

describe('hostile pooling attributes fail fast with typed errors', () => {
  const run = (op: string, attrs: Record<string, Attr>, x: Tensor) => {
    const node = { name: 'p', opType: op, domain: '', inputs: [], outputs: ['y'], attrs, scope: '' };
    return CPU_KERNELS[op]!([x], { node, attrs: new AttrReader(attrs, node), training: false, random: Math.random, runSubgraph: async () => [] }) as Tensor[];
  };
  it('a billion-wide kernel over a padded 3×3 input finishes (no per-tap loop over empty space)', () => {
    const t0 = performance.now();
    const [y] = run('AveragePool', { kernel_shape: attrInts([1e9, 1e9]), pads: attrInts([1e9 - 2, 1e9 - 2, 0, 0]), count_include_pad: attrInt(1) }, randTensor([1, 1, 3, 3], 1));
    expect(y!.shape).toEqual([1, 1, 2, 2]); // floor((3 + (1e9 − 2) − 1e9) / 1) + 1
    expect(performance.now() - t0).toBeLessThan(1000);
    const [m] = run('MaxPool', { kernel_shape: attrInts([1e9, 1e9]), pads: attrInts([1e9 - 2, 1e9 - 2, 0, 0]) }, randTensor([1, 1, 3, 3], 1));
    expect(m!.shape).toEqual([1, 1, 2, 2]);
  });
  it('pads that would make an enormous output are E_TOO_LARGE, zero strides E_INVALID_ATTR', () => {
    expect(() => run('MaxPool', { kernel_shape: attrInts([1, 1]), pads: attrInts([1e6, 1e6, 1e6, 1e6]) }, randTensor([1, 1, 3, 3], 1))).toThrow(/E_TOO_LARGE/);
    expect(() => run('MaxPool', { kernel_shape: attrInts([2, 2]), strides: attrInts([0, 1]) }, randTensor([1, 1, 3, 3], 1))).toThrow(/E_INVALID_ATTR/);
  });
});
