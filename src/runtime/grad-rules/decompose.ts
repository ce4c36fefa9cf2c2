/**
 * Decompositions of high-level ops into primitives that have gradient rules. The graph keeps the
 * high-level op (exporters map it back to a layer, kernels fuse it); autograd expands it on the
 * tape with the concrete input shapes, so the recurrences are unrolled per time step.
 *
 * Covered: BatchNormalization (inference and training_mode), LayerNormalization, LRN,
 * NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (targets are concrete on the tape),
 * InstanceNormalization, LSTM (peepholes, input_forget, directions, layout), GRU (linear_before_reset
 * both ways), RNN, each with any spec activation, clip and per-row sequence_lens. Semantics follow
 * the ONNX spec exactly (gate orders LSTM i,o,f,c; GRU z,r,h):
 * https://onnx.ai/onnx/operators/onnx__LSTM.html, onnx__GRU.html, onnx__RNN.html,
 * onnx__BatchNormalization.html, onnx__LayerNormalization.html
 */
import type { AttrReader } from '../../ir/attrs.js';
import { RosettaError } from '../../ir/errors.js';
import type { Node } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';
import type { IrBuilder } from './builder.js';

/** Emits the primitive nodes for `node` and returns the values standing for its outputs. */
export type Decomposition = (b: IrBuilder, node: Node, a: AttrReader) => (string | undefined)[];

const int = (value: number) => ({ type: 'int' as const, value });

/** Reshape a per-channel [C] vector to [1, C, 1, ...] for a rank-`rank` NC... tensor. */
function perChannel(b: IrBuilder, v: string, rank: number): string {
  const c = b.shape(v)[0]!;
  return b.reshape(v, [1, c, ...new Array<number>(Math.max(0, rank - 2)).fill(1)]);
}

const batchNorm: Decomposition = (b, n, a) => {
  const [x, scale, bias, mean, variance] = n.inputs as [string, string, string, string, string];
  const rank = b.shape(x).length;
  const eps = a.float('epsilon', 1e-5);
  const training = a.int('training_mode', 0) === 1;
  const axes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
  let m: string;
  let v: string;
  const outs: (string | undefined)[] = [];
  if (training) {
    m = b.reduceMean(x, axes, true);
    const d = b.sub(x, m);
    v = b.reduceMean(b.mul(d, d), axes, true);
  } else {
    m = perChannel(b, mean, rank);
    v = perChannel(b, variance, rank);
  }
  const inv = b.op('Reciprocal', [b.op('Sqrt', [b.add(v, b.scalar(eps))])]);
  const y = b.add(b.mul(b.mul(b.sub(x, m), inv), perChannel(b, scale, rank)), perChannel(b, bias, rank));
  outs.push(y);
  if (training && n.outputs.length > 1) {
    // ONNX convention: running = input * momentum + batch * (1 - momentum), batch variance biased.
    const mom = a.float('momentum', 0.9);
    const c = b.shape(mean)[0]!;
    const bm = b.reshape(m, [c]);
    const bv = b.reshape(v, [c]);
    outs.push(b.add(b.mul(mean, b.scalar(mom)), b.mul(bm, b.scalar(1 - mom))));
    outs.push(b.add(b.mul(variance, b.scalar(mom)), b.mul(bv, b.scalar(1 - mom))));
  }
  return outs;
};

const layerNorm: Decomposition = (b, n, a) => {
  const [x, scale, bias] = n.inputs as [string, string, string | undefined];
  const rank = b.shape(x).length;
  let axis = a.int('axis', -1);
  if (axis < 0) axis += rank;
  const axes = Array.from({ length: rank - axis }, (_, i) => axis + i);
  const eps = a.float('epsilon', 1e-5);
  const m = b.reduceMean(x, axes, true);
  const d = b.sub(x, m);
  const v = b.reduceMean(b.mul(d, d), axes, true);
  const inv = b.op('Reciprocal', [b.op('Sqrt', [b.add(v, b.scalar(eps))])]);
  let y = b.mul(b.mul(d, inv), scale);
  if (bias) y = b.add(y, bias);
  return [y, m, inv];
};

const instanceNorm: Decomposition = (b, n, a) => {
  const [x, scale, bias] = n.inputs as [string, string, string];
  const rank = b.shape(x).length;
  const axes = Array.from({ length: rank - 2 }, (_, i) => i + 2);
  const eps = a.float('epsilon', 1e-5);
  const m = b.reduceMean(x, axes, true);
  const d = b.sub(x, m);
  const v = b.reduceMean(b.mul(d, d), axes, true);
  const inv = b.op('Reciprocal', [b.op('Sqrt', [b.add(v, b.scalar(eps))])]);
  return [b.add(b.mul(b.mul(d, inv), perChannel(b, scale, rank)), perChannel(b, bias, rank))];
};

type Act = (x: string) => string;

interface RecurrentSetup {
  T: number;
  batch: number;
  H: number;
  dirs: number;
  /** [T, B, I] in layout 0. */
  x: string;
  layout: number;
  /** Activation functions per direction (f, g[, h]). */
  acts: Act[][];
  /** Per time step, bool [B, 1]: true where the row is inside its sequence_lens (absent when all rows are full). */
  valid?: string[];
}

/**
 * Masked update of a state at step `t`: rows past their length keep `prev`. Returns the new state
 * and the step's Y row (zeros past the length).
 */
function masked(b: IrBuilder, s: RecurrentSetup, t: number, next: string, prev: string): [string, string] {
  if (!s.valid) return [next, next];
  const m = s.valid[t]!;
  return [b.op('Where', [m, next, prev]), b.op('Where', [m, next, b.zeros([])])];
}

/** ONNX RNN activation `name` as IR ops; alpha/beta consumed in order by the ones that take them. */
function activation(b: IrBuilder, name: string, next: { alpha: () => number | undefined; beta: () => number | undefined }, where: Node): Act {
  const f = (n: string, attrs: Record<string, number> = {}): Act => (x) =>
    b.op(n, [x], Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, { type: 'float' as const, value: v }])));
  switch (name.toLowerCase()) {
    case 'sigmoid':
      return f('Sigmoid');
    case 'tanh':
      return f('Tanh');
    case 'relu':
      return f('Relu');
    case 'softsign':
      return f('Softsign');
    case 'softplus':
      return f('Softplus');
    case 'hardsigmoid':
      return f('HardSigmoid', { alpha: next.alpha() ?? 0.2, beta: next.beta() ?? 0.5 });
    case 'leakyrelu':
      return f('LeakyRelu', { alpha: next.alpha() ?? 0.01 });
    case 'thresholdedrelu':
      return f('ThresholdedRelu', { alpha: next.alpha() ?? 1 });
    case 'elu':
      return f('Elu', { alpha: next.alpha() ?? 1 });
    case 'affine': {
      const alpha = next.alpha() ?? 1;
      const beta = next.beta() ?? 0;
      return (x) => b.add(b.mul(x, b.scalar(alpha)), b.scalar(beta));
    }
    case 'scaledtanh': {
      const alpha = next.alpha() ?? 1;
      const beta = next.beta() ?? 1;
      return (x) => b.mul(b.op('Tanh', [b.mul(x, b.scalar(beta))]), b.scalar(alpha));
    }
  }
  throw new RosettaError('E_UNSUPPORTED_OP', `autograd: ${where.opType} activation '${name}' is not differentiable yet`, { where: { node: where.name } });
}

function recurrentSetup(b: IrBuilder, n: Node, a: AttrReader, kind: string): RecurrentSetup {
  const defaults = kind === 'RNN' ? ['Tanh'] : kind === 'GRU' ? ['Sigmoid', 'Tanh'] : ['Sigmoid', 'Tanh', 'Tanh'];
  const layout = a.int('layout', 0);
  let x = n.inputs[0]!;
  const xs = b.shape(x);
  if (layout === 1) x = b.transpose(x, [1, 0, 2]);
  const T = layout === 1 ? xs[1]! : xs[0]!;
  const batch = layout === 1 ? xs[0]! : xs[1]!;
  const seqLens = n.inputs[4];
  const lens = seqLens ? b.intValues(seqLens) : [];
  // Shorter rows: at step t a row with length ≤ t keeps its state and outputs zeros (the kernel's
  // semantics; a reverse direction then starts each row at its own last step). One bool [B, 1]
  // mask per step selects with Where, so full rows compute exactly what they would unmasked.
  let valid: string[] | undefined;
  if (lens.some((l) => l !== T)) {
    valid = Array.from({ length: T }, (_, t) => b.constant(new Tensor('bool', [batch, 1], Uint8Array.from(lens, (l) => (t < l ? 1 : 0))), 'valid'));
  }
  const dirs = a.string('direction', 'forward') === 'bidirectional' ? 2 : 1;
  const names = a.has('activations') ? a.strings('activations') : [];
  const alphas = a.has('activation_alpha') ? a.floats('activation_alpha') : [];
  const betas = a.has('activation_beta') ? a.floats('activation_beta') : [];
  let ai = 0;
  let bi = 0;
  const next = { alpha: () => alphas[ai++], beta: () => betas[bi++] };
  const acts: Act[][] = [];
  // clip bounds the input of every activation except LSTM's output activation h (as the kernel does).
  const clip = a.has('clip') ? a.float('clip') : undefined;
  const clipped = (f: Act): Act => (clip === undefined ? f : (x) => f(b.op('Clip', [x, b.scalar(-clip), b.scalar(clip)])));
  for (let d = 0; d < dirs; d++) {
    acts.push(defaults.map((def, k) => {
      const f = activation(b, names[d * defaults.length + k] ?? def, next, n);
      return kind === 'LSTM' && k === 2 ? f : clipped(f);
    }));
  }
  return { T, batch, H: a.int('hidden_size'), dirs, x, layout, acts, valid };
}

/** Row `d` of a [D, ...] tensor, without the leading axis. */
function pick(b: IrBuilder, v: string, d: number): string {
  const s = b.shape(v);
  return b.reshape(b.slice(v, [d], [d + 1], [0]), s.slice(1));
}

/** Slice k of `parts` equal chunks along `axis`. */
function chunk(b: IrBuilder, v: string, k: number, size: number, axis: number): string {
  return b.slice(v, [k * size], [(k + 1) * size], [axis]);
}

/** Assemble Y [T, D, B, H] (or layout 1) and Y_h / Y_c [D, B, H] from per-direction step lists. */
function recurrentOutputs(b: IrBuilder, s: RecurrentSetup, steps: string[][], lastH: string[], lastC?: string[]): (string | undefined)[] {
  const perDir = steps.map((hs) => b.op('Concat', hs.map((h) => b.reshape(h, [1, 1, s.batch, s.H])), { axis: int(0) }));
  let y = perDir.length === 1 ? perDir[0]! : b.op('Concat', perDir, { axis: int(1) });
  const stack = (vs: string[]): string => {
    const r = vs.map((v) => b.reshape(v, [1, s.batch, s.H]));
    const c = r.length === 1 ? r[0]! : b.op('Concat', r, { axis: int(0) });
    return s.layout === 1 ? b.transpose(c, [1, 0, 2]) : c;
  };
  if (s.layout === 1) y = b.transpose(y, [2, 0, 1, 3]);
  return [y, stack(lastH), lastC ? stack(lastC) : undefined];
}

function initialState(b: IrBuilder, v: string | undefined, d: number, s: RecurrentSetup): string {
  if (!v) return b.zeros([s.batch, s.H]);
  const src = s.layout === 1 ? b.transpose(v, [1, 0, 2]) : v;
  return b.reshape(b.slice(src, [d], [d + 1], [0]), [s.batch, s.H]);
}

/** x_t W^T + Wb for all t at once: [T, B, G*H]. */
function inputProjection(b: IrBuilder, s: RecurrentSetup, w: string, bias: string | undefined, gates: number): string {
  const xw = b.op('MatMul', [s.x, b.transpose(w, [1, 0])]);
  return bias ? b.add(xw, chunk(b, bias, 0, gates * s.H, 0)) : xw;
}

function stepRow(b: IrBuilder, xw: string, t: number, s: RecurrentSetup, width: number): string {
  return b.reshape(b.slice(xw, [t], [t + 1], [0]), [s.batch, width]);
}

const lstm: Decomposition = (b, n, a) => {
  const s = recurrentSetup(b, n, a, 'LSTM');
  const [, W, R, B, , h0, c0, P] = n.inputs;
  const H = s.H;
  const inputForget = a.int('input_forget', 0) !== 0;
  const steps: string[][] = [];
  const lastH: string[] = [];
  const lastC: string[] = [];
  for (let d = 0; d < s.dirs; d++) {
    const reverse = a.string('direction', 'forward') === 'reverse' || d === 1;
    const w = pick(b, W!, d);
    const r = b.transpose(pick(b, R!, d), [1, 0]);
    const bias = B ? pick(b, B, d) : undefined;
    const xw = inputProjection(b, s, w, bias, 4);
    const rb = bias ? chunk(b, bias, 1, 4 * H, 0) : undefined;
    const p = P ? pick(b, P, d) : undefined;
    let h = initialState(b, h0 || undefined, d, s);
    let c = initialState(b, c0 || undefined, d, s);
    const hs: string[] = new Array<string>(s.T);
    for (let k = 0; k < s.T; k++) {
      const t = reverse ? s.T - 1 - k : k;
      let gates = b.add(stepRow(b, xw, t, s, 4 * H), b.op('MatMul', [h, r]));
      if (rb) gates = b.add(gates, rb);
      let gi = chunk(b, gates, 0, H, 1);
      let go = chunk(b, gates, 1, H, 1);
      let gf = chunk(b, gates, 2, H, 1);
      const gc = chunk(b, gates, 3, H, 1);
      if (p) {
        gi = b.add(gi, b.mul(chunk(b, p, 0, H, 0), c));
        gf = b.add(gf, b.mul(chunk(b, p, 2, H, 0), c));
      }
      const [fAct, gAct, hAct] = s.acts[d]!;
      const i = fAct!(gi);
      // input_forget couples the gates: f = 1 − i.
      const f = inputForget ? b.sub(b.scalar(1), i) : fAct!(gf);
      const cNew = b.add(b.mul(f, c), b.mul(i, gAct!(gc)));
      if (p) go = b.add(go, b.mul(chunk(b, p, 1, H, 0), cNew));
      const hNew = b.mul(fAct!(go), hAct!(cNew));
      c = masked(b, s, t, cNew, c)[0];
      [h, hs[t]] = masked(b, s, t, hNew, h);
    }
    steps.push(hs);
    lastH.push(h);
    lastC.push(c);
  }
  return recurrentOutputs(b, s, steps, lastH, lastC);
};

const gru: Decomposition = (b, n, a) => {
  const s = recurrentSetup(b, n, a, 'GRU');
  const [, W, R, B, , h0] = n.inputs;
  const H = s.H;
  const lbr = a.int('linear_before_reset', 0) === 1;
  const steps: string[][] = [];
  const lastH: string[] = [];
  for (let d = 0; d < s.dirs; d++) {
    const reverse = a.string('direction', 'forward') === 'reverse' || d === 1;
    const w = pick(b, W!, d);
    const rAll = pick(b, R!, d);
    const rzr = b.transpose(chunk(b, rAll, 0, 2 * H, 0), [1, 0]);
    const rh = b.transpose(chunk(b, rAll, 2, H, 0), [1, 0]);
    const bias = B ? pick(b, B, d) : undefined;
    const xw = inputProjection(b, s, w, bias, 3);
    const rbzr = bias ? b.slice(bias, [3 * H], [5 * H], [0]) : undefined;
    const rbh = bias ? b.slice(bias, [5 * H], [6 * H], [0]) : undefined;
    let h = initialState(b, h0 || undefined, d, s);
    const hs: string[] = new Array<string>(s.T);
    for (let k = 0; k < s.T; k++) {
      const t = reverse ? s.T - 1 - k : k;
      const xt = stepRow(b, xw, t, s, 3 * H);
      let zr = b.add(chunk(b, xt, 0, 2 * H, 1), b.op('MatMul', [h, rzr]));
      if (rbzr) zr = b.add(zr, rbzr);
      const [fAct, gAct] = s.acts[d]!;
      const z = fAct!(chunk(b, zr, 0, H, 1));
      const rg = fAct!(chunk(b, zr, 1, H, 1));
      let hr: string;
      if (lbr) {
        hr = b.op('MatMul', [h, rh]);
        if (rbh) hr = b.add(hr, rbh);
        hr = b.mul(rg, hr);
      } else {
        hr = b.op('MatMul', [b.mul(rg, h), rh]);
        if (rbh) hr = b.add(hr, rbh);
      }
      const ht = gAct!(b.add(chunk(b, xt, 2, H, 1), hr));
      // h = (1 - z) * ht + z * h = ht + z * (h - ht)
      [h, hs[t]] = masked(b, s, t, b.add(ht, b.mul(z, b.sub(h, ht))), h);
    }
    steps.push(hs);
    lastH.push(h);
  }
  return recurrentOutputs(b, s, steps, lastH);
};

const rnn: Decomposition = (b, n, a) => {
  const s = recurrentSetup(b, n, a, 'RNN');
  const [, W, R, B, , h0] = n.inputs;
  const steps: string[][] = [];
  const lastH: string[] = [];
  for (let d = 0; d < s.dirs; d++) {
    const reverse = a.string('direction', 'forward') === 'reverse' || d === 1;
    const bias = B ? pick(b, B, d) : undefined;
    const xw = inputProjection(b, s, pick(b, W!, d), bias, 1);
    const r = b.transpose(pick(b, R!, d), [1, 0]);
    const rb = bias ? chunk(b, bias, 1, s.H, 0) : undefined;
    let h = initialState(b, h0 || undefined, d, s);
    const hs: string[] = new Array<string>(s.T);
    for (let k = 0; k < s.T; k++) {
      const t = reverse ? s.T - 1 - k : k;
      let pre = b.add(stepRow(b, xw, t, s, s.H), b.op('MatMul', [h, r]));
      if (rb) pre = b.add(pre, rb);
      [h, hs[t]] = masked(b, s, t, s.acts[d]![0]!(pre), h);
    }
    steps.push(hs);
    lastH.push(h);
  }
  return recurrentOutputs(b, s, steps, lastH);
};

/** (X − E[X]) / √(E[(X − E[X])²]) over `axes` (default [0, 2, 3]), as the spec writes it. */
const meanVarianceNorm: Decomposition = (b, n, a) => {
  const x = n.inputs[0]!;
  const rank = b.shape(x).length;
  const axes = a.ints('axes', [0, 2, 3]).map((v) => (v < 0 ? v + rank : v));
  const d = b.sub(x, b.reduceMean(x, axes, true));
  return [b.div(d, b.op('Sqrt', [b.reduceMean(b.mul(d, d), axes, true)]))];
};

/** x / ‖x‖_p along `axis` (p = 1 or 2). */
const lpNorm: Decomposition = (b, n, a) => {
  const x = n.inputs[0]!;
  const rank = b.shape(x).length;
  let axis = a.int('axis', -1);
  if (axis < 0) axis += rank;
  const p = a.int('p', 2);
  const norm = p === 1 ? b.reduceSum(b.op('Abs', [x]), [axis], true) : b.op('Sqrt', [b.reduceSum(b.mul(x, x), [axis], true)]);
  return [b.div(x, norm)];
};

/** x / (bias + α/size · Σ_window x²)^β over a channel window [c − ⌊(size−1)/2⌋, c + ⌈(size−1)/2⌉]. */
const lrn: Decomposition = (b, n, a) => {
  const x = n.inputs[0]!;
  const xs = b.shape(x);
  const size = a.int('size');
  const alpha = a.float('alpha', 1e-4);
  const beta = a.float('beta', 0.75);
  const bias = a.float('bias', 1);
  const C = xs[1]!;
  const pads = new Array<number>(2 * xs.length).fill(0);
  pads[1] = Math.floor((size - 1) / 2);
  pads[xs.length + 1] = Math.ceil((size - 1) / 2);
  const padded = b.op('Pad', [b.mul(x, x), b.ints(pads)]);
  const terms = Array.from({ length: size }, (_, k) => b.slice(padded, [k], [k + C], [1]));
  const sum = terms.length === 1 ? terms[0]! : b.op('Sum', terms);
  const den = b.op('Pow', [b.add(b.mul(sum, b.scalar(alpha / size)), b.scalar(bias)), b.scalar(beta)]);
  return [b.div(x, den)];
};

/**
 * NegativeLogLikelihoodLoss on log-probabilities `logp` [N, C, d...]: the targets are concrete on
 * the tape, so the picked entries (times the class weights, zero for ignore_index) are one
 * constant mask; mean divides by the total picked weight, as the spec says.
 */
function nllOf(b: IrBuilder, n: Node, a: AttrReader, logp: string): string {
  const [scores, target, weight] = n.inputs;
  // logp has the scores' shape (it may be a value this builder just made, with no shape on the tape yet)
  const xs = b.shape(scores!);
  const [N, C] = [xs[0]!, xs[1]!];
  const D = xs.slice(2).reduce((p, d) => p * d, 1);
  const t = b.intValues(target!);
  const ignore = a.has('ignore_index') ? a.int('ignore_index') : undefined;
  if (t.length !== N * D) throw new RosettaError('E_SHAPE_MISMATCH', `${n.opType} target has ${t.length} values for [${xs.join(', ')}] scores`, { where: { node: n.name } });
  const mask = new Float64Array(N * C * D);
  t.forEach((c, i) => {
    if (c === ignore) return;
    if (!Number.isInteger(c) || c < 0 || c >= C) throw new RosettaError('E_SHAPE_MISMATCH', `${n.opType} target value ${c} at index ${i} is outside [0, ${C})`, { where: { node: n.name }, hint: 'Targets must be class indices (or equal ignore_index)' });
    mask[(Math.floor(i / D) * C + c) * D + (i % D)] = 1;
  });
  let w = b.floats(xs, mask);
  if (weight) w = b.mul(w, b.reshape(weight, [1, C, ...xs.slice(2).map(() => 1)]));
  const perItem = b.neg(b.reduceSum(b.mul(logp, w), [1], false));
  const reduction = a.string('reduction', 'mean');
  if (reduction === 'none') return perItem;
  const all = (v: string, r: number): string => b.reduceSum(v, Array.from({ length: r }, (_, i) => i), false);
  const total = all(perItem, xs.length - 1);
  return reduction === 'sum' ? total : b.div(total, all(w, xs.length));
}

const nllLoss: Decomposition = (b, n, a) => [nllOf(b, n, a, n.inputs[0]!)];

const softmaxCrossEntropy: Decomposition = (b, n, a) => {
  const logp = b.op('LogSoftmax', [n.inputs[0]!], { axis: int(1) });
  return [nllOf(b, n, a, logp), logp];
};

export const decompositions: Record<string, Decomposition> = {
  LRN: lrn,
  NegativeLogLikelihoodLoss: nllLoss,
  SoftmaxCrossEntropyLoss: softmaxCrossEntropy,
  MeanVarianceNormalization: meanVarianceNorm,
  LpNormalization: lpNorm,
  BatchNormalization: batchNorm,
  LayerNormalization: layerNorm,
  InstanceNormalization: instanceNorm,
  LSTM: lstm,
  GRU: gru,
  RNN: rnn,
};
