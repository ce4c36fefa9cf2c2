/**
 * The WebAssembly step loop of the recurrent ops (src/kernels/cpu/wasm-rnn.ts) against the same
 * kernel computed in float64 by rnn.ts's plain-JS loop (dgemm and Math.exp/tanh, rounded once to
 * float32 at the end): the reference here is the op itself at higher precision, not a stored
 * golden. The float32 JS loop (`setGemmKernel('js')`) is measured against the same reference,
 * and the SIMD path must stay within a small multiple of its error: its sigmoid/tanh are ≤ 2 ulp
 * (wasm-math.ts) and its sums and cell update are float32 operations, so it may differ by a few
 * float32 ulps per step, never by more.
 * Shapes cover the padding paths: hidden not a multiple of 8, batch not a multiple of 4, input 1,
 * a single step, batch < 4 (row-by-row products), reverse and bidirectional with per-batch
 * sequence_lens, GRU both ways, clip, and HardSigmoid gates (one activation set per direction).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { AttrReader, attrFloat, attrFloats, attrInt, attrString, attrStrings } from '../../src/ir/attrs.js';
import type { AttrMap } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { setGemmKernel } from '../../src/kernels/cpu/gemm.js';
import { CPU_KERNELS } from '../../src/kernels/cpu/index.js';
import { hasWasmRnn } from '../../src/kernels/cpu/wasm-rnn.js';
import { randTensor } from './nn-oracle.js';

type Op = 'RNN' | 'GRU' | 'LSTM';
interface Case {
  op: Op;
  seq: number;
  batch: number;
  input: number;
  hidden: number;
  direction: 'forward' | 'reverse' | 'bidirectional';
  lbr?: boolean;
  lens?: number[];
  bias?: boolean;
  state?: boolean;
  clip?: number;
  activations?: string[];
  alpha?: number[];
  beta?: number[];
}

const G: Record<Op, number> = { RNN: 1, GRU: 3, LSTM: 4 };

function inputs(c: Case, seed: number): (Tensor | undefined)[] {
  const dirs = c.direction === 'bidirectional' ? 2 : 1;
  const g = G[c.op];
  // weights scaled like PyTorch's default init (±1/√hidden), so gates are neither saturated nor linear
  const s = 1 / Math.sqrt(c.hidden);
  const ins: (Tensor | undefined)[] = [randTensor([c.seq, c.batch, c.input], seed, -2, 2), randTensor([dirs, g * c.hidden, c.input], seed + 1, -s, s), randTensor([dirs, g * c.hidden, c.hidden], seed + 2, -s, s)];
  ins.push(c.bias ? randTensor([dirs, 2 * g * c.hidden], seed + 3, -s, s) : undefined);
  ins.push(c.lens ? new Tensor('int32', [c.batch], Int32Array.from(c.lens)) : undefined);
  ins.push(c.state ? randTensor([dirs, c.batch, c.hidden], seed + 4) : undefined);
  if (c.op === 'LSTM') ins.push(c.state ? randTensor([dirs, c.batch, c.hidden], seed + 5, -2, 2) : undefined);
  return ins;
}

function run(c: Case, ins: (Tensor | undefined)[]): Float64Array[] {
  const attrs: AttrMap = { hidden_size: attrInt(c.hidden), direction: attrString(c.direction) };
  if (c.lbr) attrs.linear_before_reset = attrInt(1);
  if (c.clip !== undefined) attrs.clip = attrFloat(c.clip);
  if (c.activations) attrs.activations = attrStrings(c.activations);
  if (c.alpha) attrs.activation_alpha = attrFloats(c.alpha);
  if (c.beta) attrs.activation_beta = attrFloats(c.beta);
  const node = { name: 'r', opType: c.op, domain: '', inputs: [], outputs: ['y', 'h', 'c'], attrs, scope: '' };
  const ctx = { node, attrs: new AttrReader(attrs, node), training: false, random: Math.random, runSubgraph: async () => [] };
  const outs = CPU_KERNELS[c.op]!(ins, ctx) as Tensor[];
  return outs.map((t) => Float64Array.from(t.data as Float32Array | Float64Array));
}

const to64 = (t: Tensor | undefined): Tensor | undefined => (t && t.dtype === 'float32' ? new Tensor('float64', t.shape, Float64Array.from(t.data as Float32Array)) : t);

function maxErr(a: Float64Array[], ref: Float64Array[]): number {
  let m = 0;
  a.forEach((x, k) => x.forEach((v, i) => (m = Math.max(m, Math.abs(v - ref[k]![i]!)))));
  return m;
}

const cases: Case[] = [];
for (const op of ['RNN', 'GRU', 'LSTM'] as const) {
  cases.push({ op, seq: 20, batch: 8, input: 16, hidden: 64, direction: 'forward', bias: true });
  cases.push({ op, seq: 7, batch: 3, input: 5, hidden: 13, direction: 'reverse', bias: true, state: true });
  cases.push({ op, seq: 6, batch: 5, input: 1, hidden: 6, direction: 'bidirectional', lens: [6, 2, 0, 5, 1], state: true });
  cases.push({ op, seq: 1, batch: 1, input: 4, hidden: 8, direction: 'forward' });
  // batch < 4 with hidden % 4 = 0: the row-by-row dot products instead of the 4-row tile
  cases.push({ op, seq: 5, batch: 2, input: 3, hidden: 12, direction: 'bidirectional', lens: [5, 3], bias: true, state: true });
}
cases.push({ op: 'GRU', seq: 9, batch: 6, input: 7, hidden: 20, direction: 'bidirectional', lbr: true, bias: true, lens: [9, 3, 7, 9, 1, 4], state: true });
cases.push({ op: 'GRU', seq: 12, batch: 4, input: 10, hidden: 33, direction: 'forward', lbr: true, bias: true });
// clip (pre-activations beyond ±0.4 are cut, so it changes the result) and HardSigmoid gates
// (Keras ≤ 2.3 LSTM/GRU: alpha 0.2, beta 0.5; Keras 3: 1/6), per direction
for (const op of ['RNN', 'GRU', 'LSTM'] as const) cases.push({ op, seq: 8, batch: 5, input: 6, hidden: 16, direction: 'bidirectional', bias: true, state: true, lens: [8, 8, 3, 8, 5], clip: 0.4 });
cases.push({ op: 'LSTM', seq: 10, batch: 8, input: 16, hidden: 24, direction: 'forward', bias: true, state: true, activations: ['HardSigmoid', 'Tanh', 'Tanh'] });
cases.push({ op: 'LSTM', seq: 6, batch: 2, input: 5, hidden: 8, direction: 'bidirectional', bias: true, activations: ['HardSigmoid', 'Tanh', 'Tanh', 'Sigmoid', 'Tanh', 'Tanh'], alpha: [1 / 6], clip: 0.9 });
cases.push({ op: 'GRU', seq: 7, batch: 6, input: 4, hidden: 12, direction: 'reverse', bias: true, state: true, activations: ['HardSigmoid', 'Tanh'], alpha: [0.25], beta: [0.4] });
cases.push({ op: 'GRU', seq: 7, batch: 3, input: 4, hidden: 12, direction: 'forward', lbr: true, bias: true, activations: ['HardSigmoid', 'Tanh'] });

describe.skipIf(!hasWasmRnn())('recurrent ops: WebAssembly step loop vs the float64 JS loop (skipped without WebAssembly SIMD or with ROSETTA_NO_WASM set)', () => {
  afterAll(() => setGemmKernel('wasm'));
  it.each(cases.map((c, i) => ({ ...c, name: `${c.op}${c.lbr ? ' lbr' : ''} ${c.direction} S${c.seq} B${c.batch} I${c.input} H${c.hidden}${c.lens ? ' lens' : ''}${c.clip ? ' clip' : ''}${c.activations ? ` ${c.activations.join('/')}` : ''}`, seed: 100 + 10 * i })))('$name', ({ seed, ...c }) => {
    const ins = inputs(c, seed);
    const ref = run(c, ins.map(to64));
    setGemmKernel('js');
    const js = run(c, ins);
    setGemmKernel('wasm');
    const wasm = run(c, ins);
    const errJs = maxErr(js, ref);
    const errWasm = maxErr(wasm, ref);
    expect(wasm.map((a) => a.length)).toEqual(ref.map((a) => a.length));
    // Measured (x64, Node 20): float32 JS loop 0.8–6.5e-8, SIMD loop 0.3–2.6e-7 (≤ ~4 ulp of the
    // |h| < 1 outputs). 1e-6 is ~8 ulp at 1: a wrong gate, bias or padding lane costs ≥ 1e-3.
    expect(errJs).toBeLessThan(1e-6);
    expect(errWasm).toBeLessThan(1e-6);
    // The SIMD path really ran: its float32 arithmetic cannot reproduce the JS loop bit for bit here.
    if (c.hidden === 64) expect(wasm).not.toEqual(js);
  });
});
