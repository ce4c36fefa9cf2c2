/**
 * Normalisation ops (src/kernels/cpu/norm.ts) beyond the conformance data: LpNormalization p=1/2
 * on inner axes, LRN with custom alpha/beta/bias, InstanceNormalization 3-D, LayerNormalization with bias
 * broadcast and float16 input, BatchNormalization float64/float16, MeanVarianceNormalization with
 * custom axes, and Dropout's inference-mode mask. Expected values come from onnxruntime-node at test
 * time (see nn-oracle.ts); Dropout's training mode is checked for its invariants (it draws from the
 * session's seeded random source, which no other implementation shares).
 */
import { describe, expect, it } from 'vitest';
import { AttrReader } from '../../src/ir/attrs.js';
import { Tensor } from '../../src/ir/tensor.js';
import { CPU_KERNELS } from '../../src/kernels/cpu/index.js';
import { seededRandom } from '../../src/runtime/session.js';
import { checkAgainstOrt, loadOrt, randTensor, type OracleCase } from './nn-oracle.js';

const ort = await loadOrt();
const x = randTensor([2, 4, 5, 3], 1, -2, 2);
const f16 = (t: Tensor): Tensor => Tensor.from('float16', t.shape, t.toNumbers());
const f64 = (t: Tensor): Tensor => new Tensor('float64', t.shape, Float64Array.from(t.toNumbers()));

const cases: OracleCase[] = [
  { name: 'LpNormalization p=2 axis 1', op: 'LpNormalization', attrs: { axis: 1, p: 2 }, inputs: [x], outputs: ['float32'] },
  { name: 'LpNormalization p=1 axis -1', op: 'LpNormalization', attrs: { p: 1 }, inputs: [x], outputs: ['float32'] },
  { name: 'LRN size 5 (onnxruntime rejects even sizes)', op: 'LRN', attrs: { size: 5, alpha: 0.002, beta: 0.6, bias: 1.5 }, inputs: [x], outputs: ['float32'] },
  { name: 'InstanceNormalization 3-D', op: 'InstanceNormalization', attrs: { epsilon: 0.01 }, inputs: [randTensor([2, 3, 4, 3, 2], 2), randTensor([3], 3), randTensor([3], 4)], outputs: ['float32'] },
  {
    name: 'LayerNormalization axis 1, bias broadcast, all outputs',
    op: 'LayerNormalization',
    attrs: { axis: 1, epsilon: 0.001 },
    inputs: [x, randTensor([4, 5, 3], 5), randTensor([3], 6)],
    outputs: ['float32', 'float32', 'float32'],
  },
  { name: 'LayerNormalization float16', op: 'LayerNormalization', attrs: { axis: -1 }, inputs: [f16(x), f16(randTensor([3], 7)), f16(randTensor([3], 8))], outputs: ['float16'], atol: 2e-3, rtol: 2e-3 },
  {
    name: 'BatchNormalization float64',
    op: 'BatchNormalization',
    inputs: [f64(x), f64(randTensor([4], 9)), f64(randTensor([4], 10)), f64(randTensor([4], 11)), f64(randTensor([4], 12, 0.1, 2))],
    outputs: ['float64'],
    atol: 1e-12,
    rtol: 1e-12,
  },
  {
    name: 'BatchNormalization float16',
    op: 'BatchNormalization',
    inputs: [f16(x), f16(randTensor([4], 9)), f16(randTensor([4], 10)), f16(randTensor([4], 11)), f16(randTensor([4], 12, 0.1, 2))],
    outputs: ['float16'],
    atol: 2e-3,
    rtol: 2e-3,
  },
  { name: 'MeanVarianceNormalization axes [1]', op: 'MeanVarianceNormalization', attrs: { axes: [1] }, inputs: [x], outputs: ['float32'] },
  { name: 'MeanVarianceNormalization axes [2, 3]', op: 'MeanVarianceNormalization', attrs: { axes: [2, 3] }, inputs: [x], outputs: ['float32'] },
  { name: 'Dropout inference returns input and an all-true mask', op: 'Dropout', inputs: [x, Tensor.scalar('float32', 0.3)], outputs: ['float32', 'bool'] },
];

describe.skipIf(!ort)('normalisation ops match onnxruntime-node', () => {
  it.each(cases)('$name', async (c) => {
    await checkAgainstOrt(ort!, c);
  });
});

describe('Dropout in training mode', () => {
  it('zeroes about `ratio` of the elements, scales the rest by 1/(1−ratio), and the mask says which', () => {
    const input = randTensor([100, 100], 3, 0.5, 1.5);
    const node = { name: 'd', opType: 'Dropout', domain: '', inputs: [], outputs: ['y', 'mask'], attrs: {}, scope: '' };
    const ctx = { node, attrs: new AttrReader({}, node), training: false, random: seededRandom(7), runSubgraph: async () => [] };
    const [y, mask] = CPU_KERNELS.Dropout!([input, Tensor.scalar('float32', 0.25), Tensor.scalar('bool', true)], ctx) as Tensor[];
    expect(mask!.dtype).toBe('bool');
    let kept = 0;
    const xd = input.data as Float32Array;
    const yd = y!.data as Float32Array;
    for (let i = 0; i < input.size; i++) {
      if (mask!.data[i]) {
        kept++;
        expect(yd[i]).toBeCloseTo(xd[i]! / 0.75, 5);
      } else expect(yd[i]).toBe(0);
    }
    expect(kept / input.size).toBeGreaterThan(0.72);
    expect(kept / input.size).toBeLessThan(0.78);
  });
});
