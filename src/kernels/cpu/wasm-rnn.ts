/**
 * The float32 step loop of the recurrent ops (rnn.ts: RNN, GRU both ways, LSTM without peepholes
 * or input_forget; gates Sigmoid or HardSigmoid, the other activations Tanh; any clip) run inside
 * WebAssembly memory: the packed weights, the input projections of every step, the state H (and
 * C) and the outputs stay in the memory of the SIMD GEMM module (wasm-gemm.ts) for the whole
 * sequence, the per-step product H·Rᵀ is that module's `panels` tile reading H in place (`rowdots`
 * for batches under 4), and the gate nonlinearities run as f32x4 code in a small module of this
 * file that imports the same memory. Per step JS only zeroes the product block and makes one call
 * per 4 batch rows (product) and one gate call per run of rows sharing a time index: no
 * allocation, no copy, no scalar `Math.exp`.
 *
 * Why: profiling the fixture LSTM (batch 8, 20 steps, hidden 64) showed ~60% of the forward pass
 * in the scalar gate loop (three `Math.exp` and two `Math.tanh` per cell) and most of the rest in
 * copying the packed R and the tiny products in and out of the kernel memory at every step.
 *
 * Accuracy: sigmoid and tanh are wasm-math.ts's `sigmoidV`/`tanhV` (≤ 2 ulp against float64 Math
 * rounded to float32, measured in test/ops/wasm-math.test.ts); the pre-activation sums and the
 * cell update are float32 operations, where the JS loop of rnn.ts (the reference and the
 * fallback) rounds once from float64; HardSigmoid is max(0, min(1, α·x + β)) in float32.
 * test/ops/wasm-rnn.test.ts bounds the difference between the two paths. Float64 tensors, other
 * activations, peepholes and input_forget keep the JS loop.
 *
 * Memory layout: each gate block is padded to hp = ⌈hidden/8⌉·8 columns so that the 8-wide B
 * panels of the tile never straddle two gates; a row of the projection (xw) or of the per-step
 * product (hr) is G·hp floats, H/C/Y rows hp floats. Padding lanes hold garbage that is never
 * read by a product (K = hidden) and never copied out.
 * Spec: https://onnx.ai/onnx/operators/onnx__LSTM.html (gate order i, o, f, c),
 * https://onnx.ai/onnx/operators/onnx__GRU.html (z, r, h), https://onnx.ai/onnx/operators/onnx__RNN.html;
 * binary format: https://webassembly.github.io/spec/core/binary/
 */
import { BLOCK, assembleModule, END, F32, F32X4_SPLAT, I32, I32_ADD, I32_EQZ, I32_LT_U, I32_MUL, I32_SHL, LOOP, V128, brIf, get, i32c, set, tee, v128Load, v128Store, type WasmFunc } from './wasm-emit.js';
import { type WasmGemm, wasmGemm } from './wasm-gemm.js';
import { Fn, f4, sigmoidV, tanhV, type Code } from './wasm-math.js';

/** The activations of one compiled variant: f (the gates) is sigmoid or HardSigmoid, g and h are tanh. */
interface Acts {
  /** f(clip(x)): the gate activation. */
  f: (x: Code) => Code;
  /** g(clip(x)): tanh of a clipped pre-activation. */
  gc: (x: Code) => Code;
  /** h(x): tanh without clip (the LSTM output of the new cell). */
  h: (x: Code) => Code;
}

/**
 * A row function: params are byte pointers (`ptrs` of them), then n4 (vectors per gate block),
 * hpb (bytes per gate block), rows, and the float32 clip, alpha, beta (clip = +∞: none; alpha and
 * beta are HardSigmoid's, unused by the sigmoid variant). Pointer p has gates[p] gate blocks hpb
 * bytes apart and advances by strides[p]·hpb bytes from one row to the next (0: the same vector
 * for every row). `body(fn, at, acts)` emits one vector's work, with at(p, g) the code pushing the
 * address of the current vector of gate block g of pointer p.
 */
function rowFunc(exportName: string, hard: boolean, gates: number[], strides: number[], body: (fn: Fn, at: (p: number, g: number) => Code, acts: Acts) => Code): WasmFunc {
  const ptrs = gates.length;
  const [N4, HPB, ROWS, CLIP, ALPHA, BETA] = [ptrs, ptrs + 1, ptrs + 2, ptrs + 3, ptrs + 4, ptrs + 5];
  const fn = new Fn(ptrs + 6);
  const i = fn.local(I32);
  const end = fn.local(I32);
  const [clipHi, clipLo, alpha, beta] = [fn.local(V128), fn.local(V128), fn.local(V128), fn.local(V128)];
  const splats = [
    ...get(CLIP), ...F32X4_SPLAT, ...set(clipHi),
    ...f4.neg(get(clipHi)), ...set(clipLo),
    ...get(ALPHA), ...F32X4_SPLAT, ...set(alpha),
    ...get(BETA), ...F32X4_SPLAT, ...set(beta),
  ];
  // clip as rnn.ts's clamp: NaN passes (first operand of pmax/pmin); ±∞ bounds change nothing
  const clip = (x: Code): Code => f4.pmin(f4.pmax(x, get(clipLo)), get(clipHi));
  const acts: Acts = {
    // HardSigmoid max(0, min(1, αx + β)) as the JS loop (NaN passes)
    f: hard ? (x) => f4.pmax(f4.pmin(f4.add(f4.mul(clip(x), get(alpha)), get(beta)), fn.kf(1)), fn.kf(0)) : (x) => sigmoidV(fn, clip(x)),
    gc: (x) => tanhV(fn, clip(x)),
    h: (x) => tanhV(fn, x),
  };
  // base pointer of gate block g of pointer p: p + g·hpb, recomputed per row
  const base = new Map<string, number>();
  const setup: Code = [];
  for (let p = 0; p < ptrs; p++) {
    for (let g = 1; g < gates[p]!; g++) {
      const l = fn.local(I32);
      base.set(`${p}:${g}`, l);
      setup.push(...get(p), ...get(HPB), ...i32c(g), I32_MUL, I32_ADD, ...set(l));
    }
  }
  const advance: Code = [];
  strides.forEach((st, p) => {
    if (st) advance.push(...get(p), ...get(HPB), ...i32c(st), I32_MUL, I32_ADD, ...set(p));
  });
  const at = (p: number, g: number): Code => [...get(g === 0 ? p : base.get(`${p}:${g}`)!), ...get(i), I32_ADD];
  const inner = body(fn, at, acts);
  const code = [
    ...BLOCK, ...get(N4), I32_EQZ, ...brIf(0), ...get(ROWS), I32_EQZ, ...brIf(0),
    ...fn.prologue, ...splats,
    ...get(N4), ...i32c(4), I32_SHL, ...set(end),
    ...LOOP, // rows
    ...setup,
    ...i32c(0), ...set(i),
    ...LOOP, // vectors of one row
    ...inner,
    ...get(i), ...i32c(16), I32_ADD, ...set(i),
    ...get(i), ...get(end), I32_LT_U, ...brIf(0),
    END,
    ...advance,
    ...get(ROWS), ...i32c(-1), I32_ADD, ...tee(ROWS), ...brIf(0),
    END, END,
  ];
  return { params: [...new Array<number>(ptrs + 3).fill(I32), F32, F32, F32], results: [], locals: fn.locals, code, exportName: hard ? `${exportName}Hard` : exportName };
}

const load = (addr: Code): Code => [...addr, ...v128Load(0)];
const store = (addr: Code, value: Code): Code => [...addr, ...value, ...v128Store(0)];

/** `lstm(xw, hr, c, h, y, n4, hpb, rows, clip, α, β)`: consecutive batch rows of the LSTM step (gates i, o, f, c). */
function lstmFunc(hard: boolean): WasmFunc {
  const [XW, HR, C, H, Y] = [0, 1, 2, 3, 4];
  return rowFunc('lstm', hard, [4, 4, 1, 1, 1], [4, 4, 1, 1, 1], (fn, at, a) => {
    const pre = (g: number): Code => f4.add(load(at(XW, g)), load(at(HR, g)));
    const [ig, og, fg, cc, cn, hv] = [fn.local(V128), fn.local(V128), fn.local(V128), fn.local(V128), fn.local(V128), fn.local(V128)];
    return [
      ...a.f(pre(0)), ...set(ig),
      ...a.f(pre(1)), ...set(og),
      ...a.f(pre(2)), ...set(fg),
      ...a.gc(pre(3)), ...set(cc),
      ...f4.add(f4.mul(get(fg), load(at(C, 0))), f4.mul(get(ig), get(cc))), ...set(cn),
      ...store(at(C, 0), get(cn)),
      ...f4.mul(get(og), a.h(get(cn))), ...set(hv),
      ...store(at(H, 0), get(hv)),
      ...store(at(Y, 0), get(hv)),
    ];
  });
}

/**
 * `gru(xw, hr, rb, h, y, n4, hpb, rows, clip, α, β)` (hr's h block already holds (r ⊙ H)·Rhᵀ) and
 * `gruLbr(…)` (linear_before_reset: hr's h block holds H·Rhᵀ, scaled by r here): consecutive batch rows.
 */
function gruFunc(lbr: boolean, hard: boolean): WasmFunc {
  const [XW, HR, RB, H, Y] = [0, 1, 2, 3, 4];
  return rowFunc(lbr ? 'gruLbr' : 'gru', hard, [3, 3, 1, 1, 1], [3, 3, 0, 1, 1], (fn, at, a) => {
    const [z, r, hh, hp] = [fn.local(V128), fn.local(V128), fn.local(V128), fn.local(V128)];
    const hGate = lbr
      ? f4.add(load(at(XW, 2)), f4.mul(get(r), f4.add(load(at(HR, 2)), load(at(RB, 0)))))
      : f4.add(f4.add(load(at(XW, 2)), load(at(HR, 2))), load(at(RB, 0)));
    return [
      ...a.f(f4.add(load(at(XW, 0)), load(at(HR, 0)))), ...set(z),
      ...(lbr ? [...a.f(f4.add(load(at(XW, 1)), load(at(HR, 1)))), ...set(r)] : []),
      ...a.gc(hGate), ...set(hh),
      ...f4.add(f4.mul(f4.sub(fn.kf(1), get(z)), get(hh)), f4.mul(get(z), load(at(H, 0)))), ...set(hp),
      ...store(at(H, 0), get(hp)),
      ...store(at(Y, 0), get(hp)),
    ];
  });
}

/** `gruReset(xw, hr, h, rh, n4, hpb, rows, clip, α, β)`: rh = f(xw_r + hr_r) ⊙ H for consecutive batch rows. */
function gruResetFunc(hard: boolean): WasmFunc {
  const [XW, HR, H, RH] = [0, 1, 2, 3];
  return rowFunc('gruReset', hard, [2, 2, 1, 1], [3, 3, 1, 1], (_fn, at, a) => store(at(RH, 0), f4.mul(a.f(f4.add(load(at(XW, 1)), load(at(HR, 1)))), load(at(H, 0)))));
}

/** `rnn(xw, hr, h, y, n4, hpb, rows, clip, α, β)`: H = tanh(clip(xw + hr)) for consecutive batch rows. */
function rnnFunc(): WasmFunc {
  const [XW, HR, H, Y] = [0, 1, 2, 3];
  return rowFunc('rnn', false, [1, 1, 1, 1], [1, 1, 1, 1], (fn, at, a) => {
    const hv = fn.local(V128);
    return [...a.gc(f4.add(load(at(XW, 0)), load(at(HR, 0)))), ...set(hv), ...store(at(H, 0), get(hv)), ...store(at(Y, 0), get(hv))];
  });
}

/** The step functions, on the GEMM module's memory (imported as `env.mem`). */
function moduleBytes(): Uint8Array<ArrayBuffer> {
  const funcs = [false, true].flatMap((hard) => [lstmFunc(hard), gruFunc(false, hard), gruFunc(true, hard), gruResetFunc(hard)]);
  funcs.push(rnnFunc());
  return assembleModule(funcs, 'import');
}

type Rows5 = (a: number, b: number, c: number, d: number, e: number, n4: number, hpb: number, rows: number, clip: number, alpha: number, beta: number) => void;
type Rows4 = (a: number, b: number, c: number, d: number, n4: number, hpb: number, rows: number, clip: number, alpha: number, beta: number) => void;
interface RnnExports {
  lstm: Rows5;
  gru: Rows5;
  gruLbr: Rows5;
  gruReset: Rows4;
  lstmHard: Rows5;
  gruHard: Rows5;
  gruLbrHard: Rows5;
  gruResetHard: Rows4;
  rnn: Rows4;
}

let cached: { gemm: WasmGemm; k: RnnExports } | null | undefined;

/** The gate kernels bound to the GEMM module's memory; undefined without SIMD (see `wasmGemm`). */
function kernels(): { gemm: WasmGemm; k: RnnExports } | undefined {
  if (cached !== undefined) return cached ?? undefined;
  cached = null;
  const gemm = wasmGemm(); // undefined when SIMD is missing or ROSETTA_NO_WASM is set
  if (!gemm) return undefined;
  try {
    const bytes = moduleBytes();
    if (WebAssembly.validate(bytes)) {
      const k = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { mem: gemm.memory } }).exports as unknown as RnnExports;
      cached = { gemm, k };
    }
  } catch {
    cached = null;
  }
  return cached ?? undefined;
}

/** True when `wasmRnnDirection` can run (WebAssembly SIMD available and not disabled). */
export function hasWasmRnn(): boolean {
  return kernels() !== undefined;
}

/** One direction of a float32 RNN/GRU/LSTM: Sigmoid or HardSigmoid gates, Tanh elsewhere (see the module header). */
export interface RnnDirection {
  kind: 'RNN' | 'GRU' | 'LSTM';
  /** GRU linear_before_reset. */
  lbr: boolean;
  /** ONNX `clip` (+∞: none). */
  clip: number;
  /** The gate activation f: HardSigmoid with these alpha, beta, or the default Sigmoid when absent. */
  hardSigmoid?: { alpha: number; beta: number };
  seq: number;
  batch: number;
  input: number;
  hidden: number;
  /** Inputs in time-major order: row t·batch + b holds X[t, b, :]. */
  x: Float32Array;
  /** W of this direction: G·hidden rows of `input` floats from `wOff`. */
  w: Float32Array;
  wOff: number;
  /** R of this direction: G·hidden rows of `hidden` floats from `rOff`. */
  r: Float32Array;
  rOff: number;
  /** Bias of the input projection (G·hidden floats: Wb + Rb, without GRU's Rb of the h gate); none = 0. */
  bias?: Float32Array;
  /** GRU: Rb of the h gate (hidden floats from `rbOff`); none = 0. */
  rbH?: Float32Array;
  rbOff: number;
  /** Steps per batch row; a reverse direction starts row b at step lens[b] − 1. */
  lens: Int32Array;
  reverse: boolean;
  /** State H (and C for LSTM), batch rows of `hidden` floats from `hOff`: read, then overwritten with the final state. */
  h: Float32Array;
  c?: Float32Array;
  hOff: number;
  /** Output: step t of batch row b goes to y[yOff + t·yStep + b·hidden]; rows at t ≥ lens[b] are written as zeros. */
  y: Float32Array;
  yOff: number;
  yStep: number;
}

/**
 * Pack the gate blocks of a row-major [G·hidden, K] weight as op(B) = Wᵀ into the tile's 8-wide
 * panels (K×8 floats, k-major, from `dst`), each gate block padded to hp columns. The weight is
 * copied to `raw` and transposed into panels by the GEMM module's `packcols` (four k at a time;
 * the last K mod 4 rows here). Padding columns repeat the gate's first row: finite values whose
 * products land only in padding lanes.
 */
function packGates(gemm: WasmGemm, heap: Float32Array, src: Float32Array, off: number, K: number, G: number, hidden: number, hp: number, dst: number, raw: number, table: number): void {
  heap.set(src.subarray(off, off + G * hidden * K), raw);
  const tbl = new Int32Array(heap.buffer, table * 4, G * hp);
  for (let g = 0; g < G; g++) for (let j = 0; j < hp; j++) tbl[g * hp + j] = (raw + (g * hidden + (j < hidden ? j : 0)) * K) * 4;
  gemm.packcols(dst * 4, table * 4, K, (G * hp) / 8, 0);
  for (let k = K & ~3; k < K; k++) {
    for (let c = 0; c < G * hp; c++) heap[dst + (c >> 3) * K * 8 + k * 8 + (c & 7)] = heap[tbl[c]! / 4 + k]!;
  }
}

/** Rows of `len` floats copied from src (rows `len` apart) to heap (rows `stride` apart). */
function rowsIn(src: Float32Array, off: number, rows: number, len: number, heap: Float32Array, dst: number, stride: number): void {
  if (len === stride) heap.set(src.subarray(off, off + rows * len), dst);
  else for (let i = 0; i < rows; i++) heap.set(src.subarray(off + i * len, off + (i + 1) * len), dst + i * stride);
}

/**
 * Run one direction in the kernel memory. Returns false, having changed nothing, when SIMD is
 * unavailable or the memory cannot grow to the size needed (the caller then runs its JS loop).
 */
export function wasmRnnDirection(d: RnnDirection): boolean {
  const kk = kernels();
  if (!kk) return false;
  const { gemm, k } = kk;
  const { kind, seq, batch, input, hidden } = d;
  const G = kind === 'LSTM' ? 4 : kind === 'GRU' ? 3 : 1;
  const hp = Math.ceil(hidden / 8) * 8;
  const GW = G * hp;
  const mPad = Math.ceil(batch / 4) * 4;
  const rowsX = seq * batch;
  const rowsXPad = Math.ceil(rowsX / 4) * 4;
  // Regions in floats, each a multiple of 4 (16-byte aligned vectors).
  const wP = 0;
  const rP = wP + GW * input;
  const xF = rP + GW * hidden;
  const xwF = xF + rowsXPad * input;
  const hrF = xwF + rowsXPad * GW;
  const hF = hrF + mPad * GW;
  const cF = hF + mPad * hp;
  const rhF = cF + mPad * hp;
  const rbF = rhF + mPad * hp;
  const yF = rbF + hp;
  // scratch for packing: the raw weight and the address table of its rows
  const rawF = yF + rowsX * hp;
  const tblF = rawF + G * hidden * Math.max(input, hidden);
  const total = tblF + G * hp;
  const mem = gemm.memory;
  if (mem.buffer.byteLength < total * 4) {
    try {
      mem.grow(Math.ceil((total * 4 - mem.buffer.byteLength) / 65536));
    } catch {
      return false;
    }
  }
  const heap = new Float32Array(mem.buffer);
  packGates(gemm, heap, d.w, d.wOff, input, G, hidden, hp, wP, rawF, tblF);
  packGates(gemm, heap, d.r, d.rOff, hidden, G, hidden, hp, rP, rawF, tblF);
  heap.set(d.x.subarray(0, rowsX * input), xF);
  heap.fill(0, xF + rowsX * input, xwF);
  // xw = bias + X·Wᵀ, four rows per tile call
  if (d.bias) {
    heap.fill(0, xwF, xwF + GW);
    for (let g = 0; g < G; g++) heap.set(d.bias.subarray(g * hidden, (g + 1) * hidden), xwF + g * hp);
    for (let i = 1; i < rowsXPad; i++) heap.copyWithin(xwF + i * GW, xwF, xwF + GW);
  } else {
    heap.fill(0, xwF, xwF + rowsXPad * GW);
  }
  for (let i = 0; i < rowsXPad; i += 4) gemm.panels(input, (xF + i * input) * 4, input * 4, 4, wP * 4, (xwF + i * GW) * 4, GW / 8, GW * 4, 1);
  heap.fill(0, hF, yF);
  rowsIn(d.h, d.hOff, batch, hidden, heap, hF, hp);
  if (d.c) rowsIn(d.c, d.hOff, batch, hidden, heap, cF, hp);
  if (d.rbH) heap.set(d.rbH.subarray(d.rbOff, d.rbOff + hidden), rbF);
  heap.fill(0, yF, rawF);

  const lens = d.lens;
  const n4 = hp / 4;
  const hpb = hp * 4;
  const gruReset = kind === 'GRU' && !d.lbr;
  const hard = d.hardSigmoid !== undefined;
  const { clip } = d;
  const alpha = d.hardSigmoid?.alpha ?? 0;
  const beta = d.hardSigmoid?.beta ?? 0;
  const fLstm = hard ? k.lstmHard : k.lstm;
  const fGru = d.lbr ? (hard ? k.gruLbrHard : k.gruLbr) : hard ? k.gruHard : k.gru;
  const fReset = hard ? k.gruResetHard : k.gruReset;
  // gates of the product H·Rᵀ: all, except GRU's h gate without linear_before_reset
  const nH = gruReset ? 2 : G;
  // Batch rows active at `step` in runs with the same time index (consecutive in every region):
  // one gate call per run, a single one per step unless sequence_lens differ.
  const forRuns = (step: number, f: (t: number, b: number, rows: number) => void): void => {
    for (let b = 0; b < batch; ) {
      if (step >= lens[b]!) {
        b++;
        continue;
      }
      const t = d.reverse ? lens[b]! - 1 - step : step;
      let e = b + 1;
      while (e < batch && step < lens[e]! && (d.reverse ? lens[e]! - 1 - step : step) === t) e++;
      f(t, b, e - b);
      b = e;
    }
  };
  // A batch of one to three rows would leave most of the 4-row tile idle: each active row then
  // takes dot products with the rows of R as they are (`rowdots`, R still unpacked at rawF).
  const dots = batch < 4 && hidden % 4 === 0;
  /** hr[rows, gates g0..g1) = A·R[g0..g1)ᵀ, A rows at aF (hp floats apart), into hr columns from g0·hp. */
  const product = (step: number, aF: number, g0: number, g1: number): void => {
    if (dots) {
      for (let b = 0; b < batch; b++) {
        if (step >= lens[b]!) continue;
        // unpadded gate blocks are contiguous in R and in hr: one call for all of them
        if (hp === hidden) gemm.rowdots(hidden / 4, (aF + b * hp) * 4, (rawF + g0 * hidden * hidden) * 4, ((g1 - g0) * hidden) / 4, hidden * 4, (hrF + b * GW + g0 * hp) * 4);
        else for (let g = g0; g < g1; g++) gemm.rowdots(hidden / 4, (aF + b * hp) * 4, (rawF + g * hidden * hidden) * 4, hidden / 4, hidden * 4, (hrF + b * GW + g * hp) * 4);
      }
      return;
    }
    for (let i = 0; i < mPad; i += 4) gemm.panels(hidden, (aF + i * hp) * 4, hpb, 4, (rP + g0 * hp * hidden) * 4, (hrF + i * GW + g0 * hp) * 4, ((g1 - g0) * hp) / 8, GW * 4, 1);
  };
  for (let step = 0; step < seq; step++) {
    if (!dots) heap.fill(0, hrF, hrF + mPad * GW);
    product(step, hF, 0, nH);
    if (gruReset) {
      forRuns(step, (t, b, rows) => fReset((xwF + (t * batch + b) * GW) * 4, (hrF + b * GW) * 4, (hF + b * hp) * 4, (rhF + b * hp) * 4, n4, hpb, rows, clip, alpha, beta));
      product(step, rhF, 2, 3);
    }
    forRuns(step, (t, b, rows) => {
      const xw = (xwF + (t * batch + b) * GW) * 4;
      const hr = (hrF + b * GW) * 4;
      const h = (hF + b * hp) * 4;
      const y = (yF + (t * batch + b) * hp) * 4;
      if (kind === 'LSTM') fLstm(xw, hr, (cF + b * hp) * 4, h, y, n4, hpb, rows, clip, alpha, beta);
      else if (kind === 'GRU') fGru(xw, hr, rbF * 4, h, y, n4, hpb, rows, clip, alpha, beta);
      else k.rnn(xw, hr, h, y, n4, hpb, rows, clip, alpha, beta);
    });
  }

  for (let b = 0; b < batch; b++) {
    d.h.set(heap.subarray(hF + b * hp, hF + b * hp + hidden), d.hOff + b * hidden);
    if (d.c) d.c.set(heap.subarray(cF + b * hp, cF + b * hp + hidden), d.hOff + b * hidden);
  }
  // Rows never written are zero in the region, as in the caller's freshly allocated Y.
  for (let t = 0; t < seq; t++) {
    const src = yF + t * batch * hp;
    const dst = d.yOff + t * d.yStep;
    if (hp === hidden) d.y.set(heap.subarray(src, src + batch * hidden), dst);
    else for (let b = 0; b < batch; b++) d.y.set(heap.subarray(src + b * hp, src + b * hp + hidden), dst + b * hidden);
  }
  return true;
}
