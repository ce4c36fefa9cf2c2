/**
 * RNN / GRU / LSTM (src/kernels/cpu/rnn.ts) beyond the conformance data: reverse and bidirectional
 * directions, per-batch sequence_lens, initial states, clip, linear_before_reset both ways,
 * peepholes, input_forget and non-default activations with alpha/beta. Expected values come from
 * onnxruntime-node at test time (see nn-oracle.ts). layout=1, which onnxruntime's CPU RNNs do not
 * implement, is checked as a transpose of the layout-0 result.
 */
import { describe, expect, it } from 'vitest';
import { AttrReader, attrInt, attrString } from '../../src/ir/attrs.js';
import { Tensor } from '../../src/ir/tensor.js';
import { CPU_KERNELS } from '../../src/kernels/cpu/index.js';
import { checkAgainstOrt, loadOrt, randTensor, type OracleCase } from './nn-oracle.js';

const ort = await loadOrt();

const S = 5, B = 3, I = 4, H = 6;
const lens = new Tensor('int32', [B], new Int32Array([5, 2, 4]));

function rnnInputs(G: number, dirs: number, opts: { bias?: boolean; lens?: boolean; h0?: boolean; c0?: boolean; p?: boolean }, seed: number): (Tensor | undefined)[] {
  const ins: (Tensor | undefined)[] = [randTensor([S, B, I], seed), randTensor([dirs, G * H, I], seed + 1, -0.5, 0.5), randTensor([dirs, G * H, H], seed + 2, -0.5, 0.5)];
  ins.push(opts.bias ? randTensor([dirs, 2 * G * H], seed + 3, -0.3, 0.3) : undefined);
  ins.push(opts.lens ? lens : undefined);
  ins.push(opts.h0 ? randTensor([dirs, B, H], seed + 4) : undefined);
  if (G === 4) {
    ins.push(opts.c0 ? randTensor([dirs, B, H], seed + 5) : undefined);
    ins.push(opts.p ? randTensor([dirs, 3 * H], seed + 6, -0.5, 0.5) : undefined);
  }
  while (ins.length && ins[ins.length - 1] === undefined) ins.pop();
  return ins;
}

const cases: OracleCase[] = [];
for (const [op, G] of [['RNN', 1], ['GRU', 3], ['LSTM', 4]] as const) {
  const outs = op === 'LSTM' ? (['float32', 'float32', 'float32'] as const) : (['float32', 'float32'] as const);
  cases.push({ name: `${op} reverse with bias, h0`, op, attrs: { hidden_size: H, direction: 'reverse' }, inputs: rnnInputs(G, 1, { bias: true, h0: true, c0: true }, 10), outputs: [...outs] });
  cases.push({ name: `${op} bidirectional with sequence_lens`, op, attrs: { hidden_size: H, direction: 'bidirectional' }, inputs: rnnInputs(G, 2, { bias: true, lens: true, h0: true, c0: true, p: true }, 20), outputs: [...outs] });
  cases.push({ name: `${op} forward sequence_lens, clip`, op, attrs: { hidden_size: H, clip: 0.7 }, inputs: rnnInputs(G, 1, { bias: true, lens: true }, 30), outputs: [...outs] });
}
cases.push({ name: 'GRU linear_before_reset=1 bidirectional', op: 'GRU', attrs: { hidden_size: H, direction: 'bidirectional', linear_before_reset: 1 }, inputs: rnnInputs(3, 2, { bias: true, lens: true, h0: true }, 40), outputs: ['float32', 'float32'] });
cases.push({ name: 'LSTM peepholes + input_forget', op: 'LSTM', attrs: { hidden_size: H, input_forget: 1 }, inputs: rnnInputs(4, 1, { bias: true, h0: true, c0: true, p: true }, 50), outputs: ['float32', 'float32', 'float32'] });
cases.push({
  name: 'RNN activations with alpha/beta (bidirectional: one per direction)',
  op: 'RNN',
  attrs: { hidden_size: H, direction: 'bidirectional', activations: ['LeakyRelu', 'HardSigmoid'], activation_alpha: [0.3, 0.25], activation_beta: [0.4] },
  inputs: rnnInputs(1, 2, { bias: true }, 60),
  outputs: ['float32', 'float32'],
});
cases.push({
  name: 'LSTM non-default activations',
  op: 'LSTM',
  attrs: { hidden_size: H, activations: ['HardSigmoid', 'Softsign', 'ScaledTanh'], activation_alpha: [0.3, 1.5], activation_beta: [0.45, 0.7] },
  inputs: rnnInputs(4, 1, { bias: true }, 70),
  outputs: ['float32', 'float32', 'float32'],
});
cases.push({ name: 'GRU Elu/Softplus activations', op: 'GRU', attrs: { hidden_size: H, activations: ['Sigmoid', 'Elu'], activation_alpha: [0.8] }, inputs: rnnInputs(3, 1, { bias: true, h0: true }, 80), outputs: ['float32', 'float32'] });

describe.skipIf(!ort)('recurrent ops match onnxruntime-node', () => {
  it.each(cases)('$name', async (c) => {
    await checkAgainstOrt(ort!, c);
  });
});

describe('recurrent ops: layout = 1 is the batch-major transpose of layout = 0', () => {
  const transposeSB = (t: Tensor, inner: number[]): Float32Array => {
    // [S, B, ...inner] <-> [B, S, ...inner]
    const [a, b] = t.shape as [number, number];
    const k = inner.reduce((p, q) => p * q, 1);
    const out = new Float32Array(t.size);
    for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) for (let m = 0; m < k; m++) out[(j * a + i) * k + m] = (t.data as Float32Array)[(i * b + j) * k + m]!;
    return out;
  };
  it.each(['RNN', 'GRU', 'LSTM'] as const)('%s bidirectional with sequence_lens', (op) => {
    const G = op === 'RNN' ? 1 : op === 'GRU' ? 3 : 4;
    const ins = rnnInputs(G, 2, { bias: true, lens: true, h0: true, c0: true }, 90);
    const mk = (layout: number) => {
      const attrs = { hidden_size: attrInt(H), direction: attrString('bidirectional'), layout: attrInt(layout) };
      const node = { name: 'r', opType: op, domain: '', inputs: [], outputs: ['y', 'h', 'c'], attrs, scope: '' };
      return { node, attrs: new AttrReader(attrs, node), training: false, random: Math.random, runSubgraph: async () => [] };
    };
    const y0 = CPU_KERNELS[op]!(ins, mk(0)) as Tensor[];
    const x1 = new Tensor('float32', [B, S, I], transposeSB(ins[0]!, [I]));
    const st = (t: Tensor | undefined) => (t ? new Tensor('float32', [B, 2, H], transposeSB(t, [H])) : undefined);
    const ins1 = [x1, ins[1], ins[2], ins[3], ins[4], st(ins[5]), ...(G === 4 ? [st(ins[6])] : [])];
    const y1 = CPU_KERNELS[op]!(ins1, mk(1)) as Tensor[];
    // Y: [S, 2, B, H] (layout 0) vs [B, S, 2, H] (layout 1)
    expect(y1[0]!.shape).toEqual([B, S, 2, H]);
    const yd0 = y0[0]!.data as Float32Array;
    const yd1 = y1[0]!.data as Float32Array;
    for (let s = 0; s < S; s++) for (let d = 0; d < 2; d++) for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) expect(yd1[((b * S + s) * 2 + d) * H + h]).toBe(yd0[((s * 2 + d) * B + b) * H + h]);
    for (let k = 1; k < y0.length; k++) {
      expect(y1[k]!.shape).toEqual([B, 2, H]);
      expect(Array.from(y1[k]!.data as Float32Array)).toEqual(Array.from(transposeSB(y0[k]!, [H])));
    }
  });
});
