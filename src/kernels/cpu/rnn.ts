/**
 * CPU kernels: the ONNX recurrent ops RNN, GRU (linear_before_reset both ways) and LSTM (peepholes,
 * input_forget, clip), with forward/reverse/bidirectional directions, per-batch sequence_lens,
 * both layouts and configurable activations. Gate orders are the spec's: GRU z, r, h; LSTM i, o, f, c.
 *
 * The input projection X·Wᵀ + Wb of every time step is one GEMM before the loop; each step then does
 * one GEMM H·Rᵀ for the whole batch and an elementwise gate update. With per-batch sequence_lens a
 * reverse direction starts each batch row at its own last step, so the step loop indexes the
 * precomputed projection per batch row.
 * Spec: https://onnx.ai/onnx/operators/onnx__RNN.html, https://onnx.ai/onnx/operators/onnx__GRU.html,
 * https://onnx.ai/onnx/operators/onnx__LSTM.html
 */
import { allocData } from '../../ir/dtype.js';
import type { Tensor } from '../../ir/tensor.js';
import type { Value } from '../../runtime/value.js';
import { activeGemmKernel, dgemm, fixedRightOperand, sgemm, type GemmFn } from './gemm.js';
import type { KernelContext, KernelTable } from './kernel.js';
import { type FloatArr, attrError, floatData, floatTensor, isFloatKernelDType, shapeError, sizeChecked } from './nn-util.js';
import { dtypeError, optTensorIn, tensorIn, toNumbers } from './util.js';
import { hasWasmRnn, wasmRnnDirection } from './wasm-rnn.js';

type Act = (x: number) => number;

/** The activation functions the RNN ops accept, with their ONNX default alpha/beta. */
const ACTS: Record<string, { alpha?: number; beta?: number; make: (a: number, b: number) => Act }> = {
  Relu: { make: () => (x) => (x > 0 ? x : 0) },
  Tanh: { make: () => Math.tanh },
  Sigmoid: { make: () => (x) => 1 / (1 + Math.exp(-x)) },
  Affine: { alpha: 1, beta: 0, make: (a, b) => (x) => a * x + b },
  LeakyRelu: { alpha: 0.01, make: (a) => (x) => (x >= 0 ? x : a * x) },
  ThresholdedRelu: { alpha: 1, make: (a) => (x) => (x > a ? x : 0) },
  ScaledTanh: { alpha: 1, beta: 1, make: (a, b) => (x) => a * Math.tanh(b * x) },
  HardSigmoid: { alpha: 0.2, beta: 0.5, make: (a, b) => (x) => Math.max(0, Math.min(1, a * x + b)) },
  Elu: { alpha: 1, make: (a) => (x) => (x >= 0 ? x : a * (Math.exp(x) - 1)) },
  Softsign: { make: () => (x) => x / (1 + Math.abs(x)) },
  Softplus: { make: () => (x) => Math.log1p(Math.exp(-Math.abs(x))) + Math.max(x, 0) },
};

type Kind = 'RNN' | 'GRU' | 'LSTM';
const GATES: Record<Kind, number> = { RNN: 1, GRU: 3, LSTM: 4 };
const DEFAULT_ACTS: Record<Kind, string[]> = { RNN: ['Tanh'], GRU: ['Sigmoid', 'Tanh'], LSTM: ['Sigmoid', 'Tanh', 'Tanh'] };

/**
 * The activations of one direction as the SIMD step loop (wasm-rnn.ts) knows them: f is Sigmoid
 * (no `hardSigmoid`) or HardSigmoid, g and h are Tanh (RNN: its one activation is Tanh).
 */
interface SimdActs {
  hardSigmoid?: { alpha: number; beta: number };
}

/** Resolve the activations list (per direction) with alpha/beta consumed in order. */
function activations(kind: Kind, numDir: number, ctx: KernelContext): { fns: Act[][]; standard: boolean[]; simd: (SimdActs | undefined)[] } {
  const a = ctx.attrs;
  const per = DEFAULT_ACTS[kind].length;
  let names = a.has('activations') ? a.strings('activations') : [];
  if (names.length === 0) names = Array.from({ length: numDir }, () => DEFAULT_ACTS[kind]).flat();
  else if (names.length === per && numDir === 2) names = [...names, ...names];
  if (names.length !== per * numDir) throw attrError(ctx, `activations needs ${per * numDir} names for ${numDir} direction(s), got ${names.length}`);
  const alphas = a.floats('activation_alpha', []);
  const betas = a.floats('activation_beta', []);
  let ai = 0;
  let bi = 0;
  const params: [number, number][] = [];
  const fns = names.map((n) => {
    const spec = Object.prototype.hasOwnProperty.call(ACTS, n) ? ACTS[n] : Object.entries(ACTS).find(([k]) => k.toLowerCase() === n.toLowerCase())?.[1];
    if (!spec) throw attrError(ctx, `unknown activation '${n}' (known: ${Object.keys(ACTS).join(', ')})`);
    const alpha = spec.alpha === undefined ? 0 : ai < alphas.length ? alphas[ai++]! : spec.alpha;
    const beta = spec.beta === undefined ? 0 : bi < betas.length ? betas[bi++]! : spec.beta;
    params.push([alpha, beta]);
    return spec.make(alpha, beta);
  });
  const lower = names.map((n) => n.toLowerCase());
  const std = DEFAULT_ACTS[kind].map((n) => n.toLowerCase());
  const simd = (d: number): SimdActs | undefined => {
    const l = lower.slice(d * per, (d + 1) * per);
    if (kind === 'RNN') return l[0] === 'tanh' ? {} : undefined;
    if (!l.slice(1).every((n) => n === 'tanh')) return undefined;
    if (l[0] === 'sigmoid') return {};
    const [alpha, beta] = params[d * per]!;
    // Keras ≤ 2.3 and tfjs LSTM/GRU gates
    return l[0] === 'hardsigmoid' ? { hardSigmoid: { alpha, beta } } : undefined;
  };
  return {
    fns: Array.from({ length: numDir }, (_, d) => fns.slice(d * per, (d + 1) * per)),
    // The default activations are inlined in the step loop (no closure call per gate value).
    standard: Array.from({ length: numDir }, (_, d) => lower.slice(d * per, (d + 1) * per).every((n, i) => n === std[i])),
    simd: Array.from({ length: numDir }, (_, d) => simd(d)),
  };
}

/** C = A·op(B) with B fixed across calls (see gemm.ts `fixedRightOperand`). */
type FixedB<T> = (transB: boolean, K: number, N: number, B: T, bOff: number, ldb: number) => (M: number, A: T, aOff: number, lda: number, C: T, cOff: number, ldc: number) => void;


interface Dims {
  seq: number;
  batch: number;
  input: number;
  hidden: number;
  numDir: number;
  layout: number;
}

/** Optional per-direction state input ([numDir, batch, hidden], or [batch, numDir, hidden] in layout 1) → direction-major. */
function stateIn<T extends FloatArr>(t: Tensor | undefined, d: Dims, ctx: KernelContext, alloc: (n: number) => T, what: string): T {
  const out = alloc(d.numDir * d.batch * d.hidden);
  if (!t) return out;
  if (t.size !== out.length) throw shapeError(ctx, `${what} has shape [${t.shape.join(', ')}], expected ${d.numDir}×${d.batch}×${d.hidden} values`);
  const v = floatData(t, ctx);
  if (d.layout === 0) out.set(v);
  else for (let b = 0; b < d.batch; b++) for (let dir = 0; dir < d.numDir; dir++) for (let h = 0; h < d.hidden; h++) out[(dir * d.batch + b) * d.hidden + h] = v[(b * d.numDir + dir) * d.hidden + h]!;
  return out;
}

function runRnn<T extends FloatArr>(kind: Kind, inputs: readonly (Value | undefined)[], ctx: KernelContext, gemm: GemmFn<T>, fixedB: FixedB<T>, alloc: (n: number) => T, dtype: Tensor['dtype']): Value[] {
  const a = ctx.attrs;
  const x = tensorIn(inputs, 0, ctx);
  const w = tensorIn(inputs, 1, ctx);
  const r = tensorIn(inputs, 2, ctx);
  const bT = optTensorIn(inputs, 3);
  const lensT = optTensorIn(inputs, 4);
  const h0T = optTensorIn(inputs, 5);
  const c0T = kind === 'LSTM' ? optTensorIn(inputs, 6) : undefined;
  const pT = kind === 'LSTM' ? optTensorIn(inputs, 7) : undefined;
  const G = GATES[kind];
  const direction = a.string('direction', 'forward');
  if (direction !== 'forward' && direction !== 'reverse' && direction !== 'bidirectional') throw attrError(ctx, `unknown direction '${direction}'`);
  const numDir = direction === 'bidirectional' ? 2 : 1;
  const layout = a.int('layout', 0);
  if (x.rank !== 3 || w.rank !== 3 || r.rank !== 3) throw shapeError(ctx, `X, W and R must be 3-D, got [${x.shape.join(', ')}], [${w.shape.join(', ')}], [${r.shape.join(', ')}]`);
  const seq = layout === 0 ? x.shape[0]! : x.shape[1]!;
  const batch = layout === 0 ? x.shape[1]! : x.shape[0]!;
  const input = x.shape[2]!;
  const hidden = a.int('hidden_size', r.shape[2]!);
  const d: Dims = { seq, batch, input, hidden, numDir, layout };
  if (w.shape[0] !== numDir || w.shape[1] !== G * hidden || w.shape[2] !== input) throw shapeError(ctx, `W must be [${numDir}, ${G * hidden}, ${input}], got [${w.shape.join(', ')}]`);
  if (r.shape[0] !== numDir || r.shape[1] !== G * hidden || r.shape[2] !== hidden) throw shapeError(ctx, `R must be [${numDir}, ${G * hidden}, ${hidden}], got [${r.shape.join(', ')}]`);
  if (bT && bT.size !== numDir * 2 * G * hidden) throw shapeError(ctx, `B must be [${numDir}, ${2 * G * hidden}], got [${bT.shape.join(', ')}]`);
  if (pT && pT.size !== numDir * 3 * hidden) throw shapeError(ctx, `P must be [${numDir}, ${3 * hidden}], got [${pT.shape.join(', ')}]`);
  const clip = a.has('clip') ? a.float('clip') : Infinity;
  const lbr = a.int('linear_before_reset', 0) !== 0;
  const inputForget = a.int('input_forget', 0) !== 0;
  const acts = activations(kind, numDir, ctx);
  const lens = new Int32Array(batch).fill(seq);
  if (lensT) {
    const l = toNumbers(lensT);
    if (l.length !== batch) throw shapeError(ctx, `sequence_lens has ${l.length} values, batch is ${batch}`);
    for (let b = 0; b < batch; b++) {
      if (!(l[b]! >= 0 && l[b]! <= seq)) throw shapeError(ctx, `sequence_lens[${b}] = ${l[b]} is outside [0, ${seq}]`);
      lens[b] = l[b]!;
    }
  }
  sizeChecked([seq, numDir, batch, hidden], ctx);
  sizeChecked([seq, batch, GATES[kind], hidden], ctx); // the input projection buffer
  // X in time-major order [seq, batch, input].
  let xd = floatData(x, ctx) as T;
  if (layout !== 0) {
    const t = alloc(x.size);
    for (let b = 0; b < batch; b++) for (let s = 0; s < seq; s++) t.set(xd.subarray((b * seq + s) * input, (b * seq + s + 1) * input), (s * batch + b) * input);
    xd = t;
  }
  const wd = floatData(w, ctx) as T;
  const rd = floatData(r, ctx) as T;
  const bd = bT ? (floatData(bT, ctx) as T) : undefined;
  const pd = pT ? (floatData(pT, ctx) as T) : undefined;
  const H = stateIn(h0T, d, ctx, alloc, 'initial_h');
  const Cs = kind === 'LSTM' ? stateIn(c0T, d, ctx, alloc, 'initial_c') : undefined;
  const GH = G * hidden;
  const Y = alloc(seq * numDir * batch * hidden);
  // Buffers of the JS step loop, allocated only when a direction runs it (not on the SIMD path).
  let bufs: { xw: T; hr: T; rh: T | undefined } | undefined;
  const clamp = (v: number): number => (v > clip ? clip : v < -clip ? -clip : v);
  const wasm = dtype === 'float32' && seq > 0 && batch > 0 && hidden > 0 && activeGemmKernel() === 'wasm' && hasWasmRnn();
  for (let dir = 0; dir < numDir; dir++) {
    const reverse = direction === 'reverse' || dir === 1;
    const [f, g, h] = acts.fns[dir] as [Act, Act, Act];
    const std = acts.standard[dir]!;
    const fastLstm = std && clip === Infinity && kind === 'LSTM' && !pd && !inputForget;
    const fastGru = std && clip === Infinity && kind === 'GRU';
    const wOff = dir * GH * input;
    const rOff = dir * GH * hidden;
    const bOff = dir * 2 * GH;
    // xw[t, b] = X[t, b]·Wᵀ + Wb (+ Rb, except for GRU's h gate which keeps Rb apart); the biases
    // are the GEMM's initial C, copied row by row with a native `set`.
    let bsum: T | undefined;
    if (bd) {
      bsum = alloc(GH);
      for (let j = 0; j < GH; j++) bsum[j] = bd[bOff + j]! + (kind === 'GRU' && j >= 2 * hidden ? 0 : bd[bOff + GH + j]!);
    }
    // Float32 with Sigmoid/HardSigmoid gates and Tanh elsewhere (any clip) runs the whole step
    // loop in WebAssembly (wasm-rnn.ts); peepholes, input_forget and other activations stay here.
    const simdActs = acts.simd[dir];
    if (wasm && simdActs && (kind !== 'LSTM' || (!pd && !inputForget))) {
      const ran = wasmRnnDirection({
        kind, lbr, clip, hardSigmoid: simdActs.hardSigmoid, seq, batch, input, hidden, reverse, lens,
        x: xd as Float32Array, w: wd as Float32Array, wOff, r: rd as Float32Array, rOff,
        bias: bsum as Float32Array | undefined, rbH: kind === 'GRU' ? (bd as Float32Array | undefined) : undefined, rbOff: bOff + GH + 2 * hidden,
        h: H as Float32Array, c: Cs as Float32Array | undefined, hOff: dir * batch * hidden,
        y: Y as Float32Array, yOff: dir * batch * hidden, yStep: numDir * batch * hidden,
      });
      if (ran) continue;
    }
    bufs ??= { xw: alloc(seq * batch * GH), hr: alloc(batch * GH), rh: kind === 'GRU' && !lbr ? alloc(batch * hidden) : undefined };
    const { xw, hr, rh } = bufs;
    if (bsum) for (let i = 0; i < seq * batch; i++) xw.set(bsum, i * GH);
    gemm(false, true, seq * batch, GH, input, 1, xd, 0, input, wd, wOff, input, bd ? 1 : 0, xw, 0, GH);
    const hs = dir * batch * hidden;
    // hr = H·Rᵀ for all gates (GRU without linear_before_reset: z and r only; h gate below);
    // R is fixed for the whole sequence, so its GEMM panels are packed once per direction.
    const gatesFromH = kind === 'GRU' && !lbr ? 2 * hidden : GH;
    const mulR = fixedB(true, hidden, gatesFromH, rd, rOff, hidden);
    const mulRh = rh ? fixedB(true, hidden, hidden, rd, rOff + 2 * hidden * hidden, hidden) : undefined;
    for (let step = 0; step < seq; step++) {
      mulR(batch, H, hs, hidden, hr, 0, GH);
      if (rh) {
        // (r ⊙ H)·Rhᵀ needs r first
        for (let b = 0; b < batch; b++) {
          if (step >= lens[b]!) continue;
          const t = reverse ? lens[b]! - 1 - step : step;
          const xo = (t * batch + b) * GH;
          for (let j = 0; j < hidden; j++) rh[b * hidden + j] = f(clamp(xw[xo + hidden + j]! + hr[b * GH + hidden + j]!)) * H[hs + b * hidden + j]!;
        }
        mulRh!(batch, rh, 0, hidden, hr, 2 * hidden, GH);
      }
      for (let b = 0; b < batch; b++) {
        if (step >= lens[b]!) continue;
        const t = reverse ? lens[b]! - 1 - step : step;
        const xo = (t * batch + b) * GH;
        const ho = b * GH;
        const so = hs + b * hidden;
        const yo = ((t * numDir + dir) * batch + b) * hidden;
        if (fastLstm) {
          lstmCells(hidden, xw, xo, hr, ho, Cs!, H, so, Y, yo);
          continue;
        }
        if (fastGru) {
          gruCells(hidden, lbr, xw, xo, hr, ho, bd, bOff + GH + 2 * hidden, H, so, Y, yo);
          continue;
        }
        for (let j = 0; j < hidden; j++) {
          let hv: number;
          if (kind === 'RNN') {
            hv = std ? Math.tanh(clamp(xw[xo + j]! + hr[ho + j]!)) : f(clamp(xw[xo + j]! + hr[ho + j]!));
          } else if (kind === 'GRU') {
            const z = f(clamp(xw[xo + j]! + hr[ho + j]!));
            const rb = bd ? bd[bOff + GH + 2 * hidden + j]! : 0;
            let hh: number;
            if (lbr) {
              const rg = f(clamp(xw[xo + hidden + j]! + hr[ho + hidden + j]!));
              hh = g(clamp(xw[xo + 2 * hidden + j]! + rg * (hr[ho + 2 * hidden + j]! + rb)));
            } else {
              hh = g(clamp(xw[xo + 2 * hidden + j]! + hr[ho + 2 * hidden + j]! + rb));
            }
            hv = (1 - z) * hh + z * H[so + j]!;
          } else {
            const c = Cs!;
            const cPrev = c[so + j]!;
            const pi = pd ? pd[dir * 3 * hidden + j]! : 0;
            const po = pd ? pd[dir * 3 * hidden + hidden + j]! : 0;
            const pf = pd ? pd[dir * 3 * hidden + 2 * hidden + j]! : 0;
            const ig = f(clamp(xw[xo + j]! + hr[ho + j]! + pi * cPrev));
            const fg = inputForget ? 1 - ig : f(clamp(xw[xo + 2 * hidden + j]! + hr[ho + 2 * hidden + j]! + pf * cPrev));
            const cc = g(clamp(xw[xo + 3 * hidden + j]! + hr[ho + 3 * hidden + j]!));
            const cNew = fg * cPrev + ig * cc;
            const og = f(clamp(xw[xo + hidden + j]! + hr[ho + hidden + j]! + po * cNew));
            c[so + j] = cNew;
            hv = og * h(cNew);
          }
          Y[yo + j] = hv;
        }
        // H is written after the row's gates are done: the GEMM for this step already read it.
        for (let j = 0; j < hidden; j++) H[so + j] = Y[yo + j]!;
      }
    }
  }
  // Outputs in the requested layout.
  let yOut: T = Y;
  let hOut: T = H;
  let cOut: T | undefined = Cs;
  let yShape = [seq, numDir, batch, hidden];
  let sShape = [numDir, batch, hidden];
  if (layout !== 0) {
    yOut = alloc(Y.length);
    for (let s = 0; s < seq; s++) for (let dir = 0; dir < numDir; dir++) for (let b = 0; b < batch; b++) yOut.set(Y.subarray(((s * numDir + dir) * batch + b) * hidden, ((s * numDir + dir) * batch + b + 1) * hidden), ((b * seq + s) * numDir + dir) * hidden);
    const swap = (src: T): T => {
      const o = alloc(src.length);
      for (let dir = 0; dir < numDir; dir++) for (let b = 0; b < batch; b++) o.set(src.subarray((dir * batch + b) * hidden, (dir * batch + b + 1) * hidden), (b * numDir + dir) * hidden);
      return o;
    };
    hOut = swap(H);
    cOut = Cs ? swap(Cs) : undefined;
    yShape = [batch, seq, numDir, hidden];
    sShape = [batch, numDir, hidden];
  }
  const out: Value[] = [floatTensor(dtype, yShape, yOut), floatTensor(dtype, sShape, hOut)];
  if (kind === 'LSTM') out.push(floatTensor(dtype, sShape, cOut!));
  return out;
}

/**
 * One batch row of the common LSTM step (default activations, no clip/peepholes/input_forget):
 * a small function of its own so the JIT optimises it after a few calls, long before the large
 * generic step loop warms up.
 */
function lstmCells<T extends FloatArr>(hidden: number, xw: T, xo: number, hr: T, ho: number, c: T, H: T, so: number, Y: T, yo: number): void {
  for (let j = 0; j < hidden; j++) {
    const ig = 1 / (1 + Math.exp(-(xw[xo + j]! + hr[ho + j]!)));
    const og = 1 / (1 + Math.exp(-(xw[xo + hidden + j]! + hr[ho + hidden + j]!)));
    const fg = 1 / (1 + Math.exp(-(xw[xo + 2 * hidden + j]! + hr[ho + 2 * hidden + j]!)));
    const cc = Math.tanh(xw[xo + 3 * hidden + j]! + hr[ho + 3 * hidden + j]!);
    const cNew = fg * c[so + j]! + ig * cc;
    c[so + j] = cNew;
    const hv = og * Math.tanh(cNew);
    Y[yo + j] = hv;
    H[so + j] = hv;
  }
}

/** One batch row of a GRU step with the default activations and no clip (see `lstmCells`). */
function gruCells<T extends FloatArr>(hidden: number, lbr: boolean, xw: T, xo: number, hr: T, ho: number, bd: T | undefined, rbOff: number, H: T, so: number, Y: T, yo: number): void {
  for (let j = 0; j < hidden; j++) {
    const z = 1 / (1 + Math.exp(-(xw[xo + j]! + hr[ho + j]!)));
    const rb = bd ? bd[rbOff + j]! : 0;
    let hh: number;
    if (lbr) {
      const r = 1 / (1 + Math.exp(-(xw[xo + hidden + j]! + hr[ho + hidden + j]!)));
      hh = Math.tanh(xw[xo + 2 * hidden + j]! + r * (hr[ho + 2 * hidden + j]! + rb));
    } else {
      // hr's h block already holds (r ⊙ H)·Rhᵀ
      hh = Math.tanh(xw[xo + 2 * hidden + j]! + hr[ho + 2 * hidden + j]! + rb);
    }
    const hv = (1 - z) * hh + z * H[so + j]!;
    Y[yo + j] = hv;
    H[so + j] = hv;
  }
}

function rnnKernel(kind: Kind) {
  return (inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] => {
    const x = tensorIn(inputs, 0, ctx);
    if (!isFloatKernelDType(x.dtype)) throw dtypeError(ctx, x.dtype);
    if (x.dtype === 'float64') {
      const fixed: FixedB<Float64Array> = (transB, K, N, B, bOff, ldb) => (M, A, aOff, lda, C, cOff, ldc) => dgemm(false, transB, M, N, K, 1, A, aOff, lda, B, bOff, ldb, 0, C, cOff, ldc);
      return runRnn(kind, inputs, ctx, dgemm, fixed, (n) => allocData('float64', n) as Float64Array, x.dtype);
    }
    // zeroed storage from the buffer pool (outputs the executor can recycle)
    return runRnn(kind, inputs, ctx, sgemm, fixedRightOperand, (n) => allocData('float32', n) as Float32Array, x.dtype);
  };
}

export const rnnKernels: KernelTable = { RNN: rnnKernel('RNN'), GRU: rnnKernel('GRU'), LSTM: rnnKernel('LSTM') };
