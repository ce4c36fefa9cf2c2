/**
 * WebAssembly SIMD loops for the cheap, memory-bound ops of a training step, where a scalar JS
 * loop costs several times a memory copy: float32 comparisons against a scalar or a same-shape
 * tensor (Greater, GreaterOrEqual, Less, LessOrEqual, Equal → bool bytes), Where selecting 32-bit
 * patterns under a bool mask, 2×2 stride-2 MaxPool with and without its int64 Indices, and
 * PyTorch's default Adam update in float64.
 *
 * Every result is bit-identical to the plain-JS loop it replaces (those loops stay the reference
 * and the fallback; each entry point returns false when SIMD is unavailable, see
 * `instantiateKernels` in wasm-emit.ts): comparisons and selects are exact, MaxPool selects the
 * same first-wins maximum, and Adam's f64x2 add/mul/div/sqrt round exactly like JS numbers
 * (IEEE 754 binary64, no fused multiply-add in WebAssembly), in the same order.
 *
 * Data moves as in wasm-math.ts: blocks of at most `CHUNK` elements are copied into the module's
 * memory with `TypedArray.set`, processed, and copied out, so each block stays in L2. Adam's
 * float64 moments may instead live in a `wasmAdamArena` (a module instance and memory per
 * optimizer, never grown) and are then updated where they lie.
 * Spec: https://webassembly.github.io/spec/core/binary/instructions.html#vector-instructions
 */
import {
  BLOCK,
  END,
  F64,
  I32,
  I32_ADD,
  I32_EQZ,
  I32_LT_U,
  I32_MUL,
  I32_SHL,
  I32_SUB,
  LOOP,
  V128,
  assembleModule,
  brIf,
  get,
  i32c,
  instantiateKernels,
  set,
  simd,
  tee,
  v128Load,
  v128Load32Splat,
  v128Store,
  type WasmFunc,
} from './wasm-emit.js';
import { Fn, f4, type Code } from './wasm-math.js';

const I32_SHR_U = 0x76;
const op1 = (opcode: number) => (a: Code): Code => [...a, ...simd(opcode)];
const op2 = (opcode: number) => (a: Code, b: Code): Code => [...a, ...b, ...simd(opcode)];
/** Integer lane operations these loops need (opcodes from the SIMD binary table). */
const ix = {
  /** i8x16.ne: −1 bytes where the bytes differ. */
  ne8: op2(0x24),
  /** i8x16.neg: turns −1 mask bytes into 1. */
  neg8: op1(0x61),
  /** i8x16.narrow_i16x8_s(a, b) */
  narrow16to8: op2(0x65),
  /** i16x8.narrow_i32x4_s(a, b) */
  narrow32to16: op2(0x85),
  /** i16x8.extend_low/high_i8x16_s */
  ext8lo: op1(0x87),
  ext8hi: op1(0x88),
  /** i32x4.extend_low/high_i16x8_s */
  ext16lo: op1(0xa7),
  ext16hi: op1(0xa8),
  /** i64x2.extend_low/high_i32x4_u */
  ext32loU: op1(0xc9),
  ext32hiU: op1(0xca),
  add32: op2(0xae),
  bitselect: (a: Code, b: Code, mask: Code): Code => [...a, ...b, ...mask, ...simd(0x52)],
  /** i8x16.shuffle(a, b) with 16 byte lane indices (0–15 from a, 16–31 from b). */
  shuffle: (a: Code, b: Code, lanes: number[]): Code => [...a, ...b, ...simd(0x0d, ...lanes)],
};
const f2 = {
  add: op2(0xf0),
  sub: op2(0xf1),
  mul: op2(0xf2),
  div: op2(0xf3),
  sqrt: op1(0xef),
  splat: op1(0x14),
  /** f64x2.promote_low_f32x4 */
  promote: op1(0x5f),
  /** f32x4.demote_f64x2_zero */
  demote: op1(0x5e),
};
/** v128.load64_zero: two floats into the low half. */
const load64Zero = (offset: number): Code => simd(0x5d, 3, offset);
/** v128.store64_lane lane 0: the low 8 bytes. */
const store64Low = (offset: number): Code => simd(0x5b, 3, offset, 0);
/** Byte lanes picking the even / odd floats of two vectors (a0 a2 b0 b2 / a1 a3 b1 b3). */
const EVEN = [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27];
const ODD = EVEN.map((b) => b + 4);

/** Pointer parameter `p` advanced by `bytes`. */
const bump = (p: number, bytes: number): Code => [...get(p), ...i32c(bytes), I32_ADD, ...set(p)];

/** The comparisons with a SIMD loop; the names follow the ONNX ops. */
export type WasmCompareOp = 'Greater' | 'GreaterOrEqual' | 'Less' | 'LessOrEqual' | 'Equal';
const CMP: Record<WasmCompareOp, (a: Code, b: Code) => Code> = { Greater: f4.gt, GreaterOrEqual: f4.ge, Less: f4.lt, LessOrEqual: f4.le, Equal: f4.eq };

/**
 * `(a, b, out, n16)`: out[i] = a[i] OP b (one float at `b`, `scalar`) or a[i] OP b[i], as bytes 0/1,
 * for n16 groups of 16 floats. Four f32x4 masks narrow (saturating −1 stays −1) into one byte vector.
 */
function compareFunc(op: WasmCompareOp, scalar: boolean): WasmFunc {
  const [A, B, OUT, N] = [0, 1, 2, 3];
  const fn = new Fn(4);
  const y = fn.local(V128);
  const rhs = (k: number): Code => (scalar ? get(y) : [...get(B), ...v128Load(16 * k)]);
  const lhs = (k: number): Code => [...get(A), ...v128Load(16 * k)];
  const cmp = CMP[op];
  const code = [
    ...BLOCK, ...get(N), I32_EQZ, ...brIf(0),
    ...(scalar ? [...get(B), ...v128Load32Splat(0), ...set(y)] : []),
    ...LOOP,
    ...get(OUT),
    ...ix.neg8(ix.narrow16to8(ix.narrow32to16(cmp(lhs(0), rhs(0)), cmp(lhs(1), rhs(1))), ix.narrow32to16(cmp(lhs(2), rhs(2)), cmp(lhs(3), rhs(3))))),
    ...v128Store(0),
    ...bump(A, 64), ...(scalar ? [] : bump(B, 64)), ...bump(OUT, 16),
    ...get(N), ...i32c(-1), I32_ADD, ...tee(N), ...brIf(0),
    END, END,
  ];
  return { params: [I32, I32, I32, I32], results: [], locals: fn.locals, code, exportName: `${op}${scalar ? 'S' : ''}` };
}

/**
 * `(cond, x, y, out, n16)`: out[i] = cond[i] ≠ 0 ? x[i] : y (`scalar`) or y[i], as 32-bit patterns,
 * for n16 groups of 16 elements. Mask bytes widen by sign extension (−1 stays all ones).
 */
function whereFunc(scalar: boolean): WasmFunc {
  const [C, X, Y, OUT, N] = [0, 1, 2, 3, 4];
  const fn = new Fn(5);
  const m = fn.local(V128);
  const ys = fn.local(V128);
  const zero = fn.local(V128);
  const yv = (k: number): Code => (scalar ? get(ys) : [...get(Y), ...v128Load(16 * k)]);
  const lane = (k: number, mask: Code): Code => [...get(OUT), ...ix.bitselect([...get(X), ...v128Load(16 * k)], yv(k), mask), ...v128Store(16 * k)];
  const code = [
    ...BLOCK, ...get(N), I32_EQZ, ...brIf(0),
    ...(scalar ? [...get(Y), ...v128Load32Splat(0), ...set(ys)] : []),
    ...LOOP,
    ...ix.ne8([...get(C), ...v128Load(0)], get(zero)), ...set(m),
    ...lane(0, ix.ext16lo(ix.ext8lo(get(m)))),
    ...lane(1, ix.ext16hi(ix.ext8lo(get(m)))),
    ...lane(2, ix.ext16lo(ix.ext8hi(get(m)))),
    ...lane(3, ix.ext16hi(ix.ext8hi(get(m)))),
    ...bump(C, 16), ...bump(X, 64), ...(scalar ? [] : bump(Y, 64)), ...bump(OUT, 64),
    ...get(N), ...i32c(-1), I32_ADD, ...tee(N), ...brIf(0),
    END, END,
  ];
  return { params: [I32, I32, I32, I32, I32], results: [], locals: fn.locals, code, exportName: scalar ? 'whereS' : 'where' };
}

/**
 * `(src, val, idx, planes, H, W, OH, OW, base)`: 2×2 stride-2 max pooling of `planes` planes of
 * H×W floats (OH·2 ≤ H, OW·2 ≤ W) into OW·OH outputs per plane. Each row is done in groups of 4
 * outputs; a row's last group may compute lanes past OW (from the next row's floats), which the
 * next row's first group overwrites, so callers leave 3 elements of slack after the outputs and
 * W + 8 floats after the input. First-wins like the JS loop: a later tap replaces the current one
 * only when `tap > current` (a NaN current stays, a NaN tap never wins) and the stored value is the
 * winning tap's bits. With `indices`, the flat input index (`base` + offset in this block) of each
 * winner goes to `idx` as int64.
 */
function maxPoolFunc(indices: boolean): WasmFunc {
  const [SRC, VAL, IDX, PLANES, H, W, OH, OW, BASE] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const fn = new Fn(9);
  const row = fn.local(I32);
  const p = fn.local(I32);
  const q = fn.local(I32);
  const qi = fn.local(I32);
  const g = fn.local(I32);
  const ow4 = fn.local(I32);
  const oh = fn.local(I32);
  const plane = fn.local(I32);
  const cur = fn.local(V128);
  const at = fn.local(V128);
  const m = fn.local(V128);
  const t = fn.local(V128);
  const lane = fn.local(V128);
  const wv = fn.local(V128);
  const Wb = fn.local(I32);
  // a candidate tap in window order; `off` is its flat offset from the window's top-left
  const step = (tap: Code, off: Code): Code => [
    ...tap, ...set(t),
    ...f4.gt(get(t), get(cur)), ...set(m),
    ...ix.bitselect(get(t), get(cur), get(m)), ...set(cur),
    ...(indices ? [...ix.bitselect(off, get(at), get(m)), ...set(at)] : []),
  ];
  const r0 = (o: number): Code => [...get(p), ...v128Load(o)];
  const r1 = (o: number): Code => [...get(p), ...get(Wb), I32_ADD, ...v128Load(o)];
  const code = [
    ...BLOCK, ...get(PLANES), I32_EQZ, ...brIf(0), ...get(OH), I32_EQZ, ...brIf(0), ...get(OW), I32_EQZ, ...brIf(0),
    ...get(W), ...i32c(2), I32_SHL, ...set(Wb),
    ...get(OW), ...i32c(3), I32_ADD, ...i32c(2), I32_SHR_U, ...set(ow4),
    ...(indices ? [...splatI32(get(W)), ...set(wv)] : []),
    // lane = (0, 2, 4, 6): the windows' first columns for four outputs
    ...splatI32(i32c(0)), ...i32c(2), ...simd(0x1c, 1), ...i32c(4), ...simd(0x1c, 2), ...i32c(6), ...simd(0x1c, 3), ...set(lane),
    ...i32c(0), ...set(plane),
    ...LOOP, // planes
    ...get(SRC), ...get(plane), ...get(H), I32_MUL, ...get(W), I32_MUL, ...i32c(2), I32_SHL, I32_ADD, ...set(row),
    ...i32c(0), ...set(oh),
    ...LOOP, // output rows
    ...get(row), ...set(p), ...get(VAL), ...set(q), ...get(IDX), ...set(qi),
    ...get(ow4), ...set(g),
    ...LOOP, // groups of 4 outputs
    ...ix.shuffle(r0(0), r0(16), EVEN), ...set(cur),
    ...(indices ? [...splatI32(i32c(0)), ...set(at)] : []),
    ...step(ix.shuffle(r0(0), r0(16), ODD), splatI32(i32c(1))),
    ...step(ix.shuffle(r1(0), r1(16), EVEN), get(wv)),
    ...step(ix.shuffle(r1(0), r1(16), ODD), ix.add32(get(wv), splatI32(i32c(1)))),
    ...get(q), ...get(cur), ...v128Store(0),
    ...bump(q, 16),
    ...(indices
      ? [
          // index = base + (p − src)/4 + lane + at
          ...ix.add32(ix.add32(get(at), get(lane)), splatI32([...get(BASE), ...get(p), ...get(SRC), I32_SUB, ...i32c(2), I32_SHR_U, I32_ADD])), ...set(at),
          ...get(qi), ...ix.ext32loU(get(at)), ...v128Store(0),
          ...get(qi), ...ix.ext32hiU(get(at)), ...v128Store(16),
          ...bump(qi, 32),
        ]
      : []),
    ...bump(p, 32),
    ...get(g), ...i32c(-1), I32_ADD, ...tee(g), ...brIf(0),
    END,
    ...get(VAL), ...get(OW), ...i32c(2), I32_SHL, I32_ADD, ...set(VAL),
    ...get(IDX), ...get(OW), ...i32c(3), I32_SHL, I32_ADD, ...set(IDX),
    ...get(row), ...get(Wb), ...i32c(1), I32_SHL, I32_ADD, ...set(row),
    ...get(oh), ...i32c(1), I32_ADD, ...tee(oh), ...get(OH), I32_LT_U, ...brIf(0),
    END,
    ...get(plane), ...i32c(1), I32_ADD, ...tee(plane), ...get(PLANES), I32_LT_U, ...brIf(0),
    END,
    END,
  ];
  return { params: [I32, I32, I32, I32, I32, I32, I32, I32, I32], results: [], locals: fn.locals, code, exportName: indices ? 'maxPoolIdx' : 'maxPool' };
}

/** i32x4.splat of the i32 that `x` leaves. */
const splatI32 = (x: Code): Code => [...x, ...simd(0x11)];

/**
 * `(w, g, m, v, n2, b1, c1, b2, c2, stepSize, sqrtBc2, eps)`: PyTorch's default Adam step on n2
 * pairs (w, g float32; m, v float64), the JS loop's arithmetic in its order:
 * m ← b1·m + c1·g; v ← b2·v + (c2·g)·g; w ← w − stepSize·(m / (√v / sqrtBc2 + eps)).
 */
function adamFunc(): WasmFunc {
  const [W, G, M, V, N, B1, C1, B2, C2, SS, SB, EPS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const fn = new Fn(12);
  const k = [B1, C1, B2, C2, SS, SB, EPS].map(() => fn.local(V128));
  const [b1, c1, b2, c2, ss, sb, eps] = k as [number, number, number, number, number, number, number];
  const d = fn.local(V128);
  const mi = fn.local(V128);
  const vi = fn.local(V128);
  const code = [
    ...BLOCK, ...get(N), I32_EQZ, ...brIf(0),
    ...[B1, C1, B2, C2, SS, SB, EPS].flatMap((param, i) => [...f2.splat(get(param)), ...set(k[i]!)]),
    ...LOOP,
    ...f2.promote([...get(G), ...load64Zero(0)]), ...set(d),
    ...f2.add(f2.mul(get(b1), [...get(M), ...v128Load(0)]), f2.mul(get(c1), get(d))), ...set(mi),
    ...f2.add(f2.mul(get(b2), [...get(V), ...v128Load(0)]), f2.mul(f2.mul(get(c2), get(d)), get(d))), ...set(vi),
    ...get(M), ...get(mi), ...v128Store(0),
    ...get(V), ...get(vi), ...v128Store(0),
    ...get(W),
    ...f2.demote(f2.sub(f2.promote([...get(W), ...load64Zero(0)]), f2.mul(get(ss), f2.div(get(mi), f2.add(f2.div(f2.sqrt(get(vi)), get(sb)), get(eps)))))),
    ...store64Low(0),
    ...bump(W, 8), ...bump(G, 8), ...bump(M, 16), ...bump(V, 16),
    ...get(N), ...i32c(-1), I32_ADD, ...tee(N), ...brIf(0),
    END, END,
  ];
  return { params: [I32, I32, I32, I32, I32, F64, F64, F64, F64, F64, F64, F64], results: [], locals: fn.locals, code, exportName: 'adam' };
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const ops = Object.keys(CMP) as WasmCompareOp[];
  return assembleModule([...ops.flatMap((op) => [compareFunc(op, false), compareFunc(op, true)]), whereFunc(false), whereFunc(true), maxPoolFunc(false), maxPoolFunc(true), adamFunc()], 16);
}

type Kern = (...args: number[]) => void;
interface EltExports {
  mem: WebAssembly.Memory;
  [name: string]: unknown;
}

/** Elements per block copied into the module's memory (64 KiB of float32: stays in L2). */
const CHUNK = 16384;

let cached: EltExports | null | undefined;
let bytes = new Uint8Array(0);
let f32 = new Float32Array(0);
let f64 = new Float64Array(0);
let i64 = new BigInt64Array(0);

function kernels(): EltExports | undefined {
  if (cached === undefined) cached = (instantiateKernels(moduleBytes()) as EltExports | undefined) ?? null;
  return cached ?? undefined;
}

/** True when these SIMD loops are available (false: callers run their plain-JS loops). */
export function hasWasmEltwise(): boolean {
  return kernels() !== undefined;
}

/** Grow the memory to `size` bytes and refresh the views; false when the engine refuses. */
function memoryFor(k: EltExports, size: number): boolean {
  const have = k.mem.buffer.byteLength;
  if (have < size) {
    try {
      k.mem.grow(Math.ceil((size - have) / 65536));
    } catch {
      return false;
    }
  }
  if (f32.buffer !== k.mem.buffer) {
    bytes = new Uint8Array(k.mem.buffer);
    f32 = new Float32Array(k.mem.buffer);
    f64 = new Float64Array(k.mem.buffer);
    i64 = new BigInt64Array(k.mem.buffer);
  }
  return true;
}

const align64 = (n: number): number => Math.ceil(n / 64) * 64;

/** Byte offsets of the block buffers: A and B hold CHUNK floats, the mask/output region follows. */
const A_AT = 0;
const B_AT = CHUNK * 4 + 64;
const O_AT = 2 * (CHUNK * 4 + 64);
const C_AT = 3 * (CHUNK * 4 + 64);
const BLOCK_BYTES = C_AT + CHUNK + 64;

/**
 * out[i] = a[i] OP b[0] when b has one element, else a[i] OP b[i] (a, b float32; out bool bytes
 * 0/1, out.length = a.length). False when SIMD is unavailable.
 */
export function wasmCompare(op: WasmCompareOp, a: Float32Array, b: Float32Array, out: Uint8Array): boolean {
  const k = kernels();
  if (!k || !memoryFor(k, BLOCK_BYTES)) return false;
  const scalar = b.length === 1;
  const f = k[scalar ? `${op}S` : op] as Kern;
  if (scalar) f32[B_AT / 4] = b[0]!;
  const n = out.length;
  for (let i = 0; i < n; i += CHUNK) {
    const c = Math.min(CHUNK, n - i);
    f32.set(a.subarray(i, i + c), A_AT / 4);
    if (!scalar) f32.set(b.subarray(i, i + c), B_AT / 4);
    f(A_AT, B_AT, O_AT, (c + 15) >> 4); // lanes past c use stale floats and are never copied out
    out.set(bytes.subarray(O_AT, O_AT + c), i);
  }
  return true;
}

/**
 * out[i] = cond[i] ? x[i] : y[0] (y of one element) or y[i], copying 32-bit patterns (x, y, out
 * float32 of equal length, cond bool bytes). False when SIMD is unavailable.
 */
export function wasmWhere(cond: Uint8Array, x: Float32Array, y: Float32Array, out: Float32Array): boolean {
  const k = kernels();
  if (!k || !memoryFor(k, BLOCK_BYTES)) return false;
  const scalar = y.length === 1;
  const f = k[scalar ? 'whereS' : 'where'] as Kern;
  if (scalar) f32.set(y, B_AT / 4); // a same-type set copies the bits, NaN payloads included
  const n = out.length;
  for (let i = 0; i < n; i += CHUNK) {
    const c = Math.min(CHUNK, n - i);
    bytes.set(cond.subarray(i, i + c), C_AT);
    f32.set(x.subarray(i, i + c), A_AT / 4);
    if (!scalar) f32.set(y.subarray(i, i + c), B_AT / 4);
    f(C_AT, A_AT, B_AT, O_AT, (c + 15) >> 4);
    out.set(f32.subarray(O_AT / 4, O_AT / 4 + c), i);
  }
  return true;
}

/**
 * 2×2 stride-2 unpadded max pooling of `planes` planes of H×W floats into OH×OW outputs each
 * (2·OH ≤ H, 2·OW ≤ W), with the flat input index of each maximum in `idx` when given — the
 * results of pool.ts's maxPool2x2 / maxPool2x2Indices. False when SIMD is unavailable or the
 * indices would not fit 31 bits.
 */
export function wasmMaxPool2x2(planes: number, H: number, W: number, OH: number, OW: number, x: Float32Array, y: Float32Array, idx?: BigInt64Array): boolean {
  const k = kernels();
  const plane = H * W;
  const oplane = OH * OW;
  if (!k || planes * plane >= 2 ** 31) return false;
  const per = Math.max(1, Math.floor(CHUNK / plane));
  const valAt = align64(per * plane * 4 + W * 4 + 64);
  const idxAt = align64(valAt + per * oplane * 4 + 64);
  if (!memoryFor(k, idxAt + per * oplane * 8 + 64)) return false;
  const f = k[idx ? 'maxPoolIdx' : 'maxPool'] as Kern;
  for (let p = 0; p < planes; p += per) {
    const np = Math.min(per, planes - p);
    f32.set(x.subarray(p * plane, (p + np) * plane), 0);
    f(0, valAt, idxAt, np, H, W, OH, OW, p * plane);
    y.set(f32.subarray(valAt / 4, valAt / 4 + np * oplane), p * oplane);
    if (idx) idx.set(i64.subarray(idxAt / 8, idxAt / 8 + np * oplane), p * oplane);
  }
  return true;
}

/** Constants of one Adam step (see `adamFunc`). */
export interface AdamConstants {
  b1: number;
  c1: number;
  b2: number;
  c2: number;
  stepSize: number;
  sqrtBc2: number;
  eps: number;
}

/**
 * PyTorch's default Adam update in place: float32 parameters `w` and gradients `g`, float64
 * moments `m`, `v` (all of one length), bit-identical to optim.ts's loop. Moments allocated from a
 * `WasmAdamArena` are updated where they lie; others are copied in and out block by block. False
 * when SIMD is unavailable.
 */
export function wasmAdam(w: Float32Array, g: Float32Array, m: Float64Array, v: Float64Array, c: AdamConstants): boolean {
  const arena = ARENAS.get(m.buffer);
  if (arena && v.buffer === m.buffer) {
    const { f32: a32, adam } = arena;
    for (let i = 0; i < w.length; i += CHUNK) {
      const e = Math.min(w.length, i + CHUNK);
      a32.set(w.subarray(i, e), 0);
      a32.set(g.subarray(i, e), ARENA_G_AT / 4);
      // an odd tail computes one more pair lane: arena buffers are padded to an even length
      adam(0, ARENA_G_AT, m.byteOffset + 8 * i, v.byteOffset + 8 * i, (e - i + 1) >> 1, c.b1, c.c1, c.b2, c.c2, c.stepSize, c.sqrtBc2, c.eps);
      w.set(a32.subarray(0, e - i), i);
    }
    return true;
  }
  const k = kernels();
  if (!k || !memoryFor(k, CHUNK * 24 + 256)) return false;
  const f = k.adam as Kern;
  const W_AT = 0;
  const G_AT = CHUNK * 4 + 64;
  const M_AT = 2 * (CHUNK * 4 + 64);
  const V_AT = M_AT + CHUNK * 8 + 64;
  const n = w.length;
  for (let i = 0; i < n; i += CHUNK) {
    const e = Math.min(n, i + CHUNK);
    f32.set(w.subarray(i, e), W_AT / 4);
    f32.set(g.subarray(i, e), G_AT / 4);
    f64.set(m.subarray(i, e), M_AT / 8);
    f64.set(v.subarray(i, e), V_AT / 8);
    f(W_AT, G_AT, M_AT, V_AT, (e - i + 1) >> 1, c.b1, c.c1, c.b2, c.c2, c.stepSize, c.sqrtBc2, c.eps);
    w.set(f32.subarray(W_AT / 4, W_AT / 4 + e - i), i);
    m.set(f64.subarray(M_AT / 8, M_AT / 8 + e - i), i);
    v.set(f64.subarray(V_AT / 8, V_AT / 8 + e - i), i);
  }
  return true;
}

/** Storage for Adam moments inside a module's memory, so `wasmAdam` updates them without copies. */
export interface WasmAdamArena {
  /** A zeroed float64 buffer of `n` elements, or undefined when the arena is used up. */
  alloc(n: number): Float64Array | undefined;
}

interface ArenaInstance {
  f32: Float32Array;
  adam: Kern;
}
/** Arena memories by their buffer (never grown after creation, so the buffer stays the same). */
const ARENAS = new WeakMap<ArrayBufferLike, ArenaInstance>();
/** Arena layout: w block at 0, g block at ARENA_G_AT, moments from ARENA_AT on. */
const ARENA_G_AT = CHUNK * 4 + 64;
const ARENA_AT = 2 * (CHUNK * 4 + 64);

/**
 * An arena for `floats` float64 moment elements (plus one padding element per buffer) in a module
 * instance of its own: one per optimizer, sized once, never grown, so the views it hands out stay
 * valid for the optimizer's life. Undefined when SIMD is unavailable or the engine refuses the
 * memory (the optimizer then keeps plain Float64Arrays).
 */
export function wasmAdamArena(floats: number, buffers: number): WasmAdamArena | undefined {
  if (!hasWasmEltwise()) return undefined;
  const bytesNeeded = ARENA_AT + 8 * (floats + 2 * buffers) + 64;
  if (!(bytesNeeded < 2 ** 31)) return undefined;
  const exp = instantiateKernels(assembleModule([adamFunc()], Math.ceil(bytesNeeded / 65536))) as EltExports | undefined;
  if (!exp) return undefined;
  const buffer = exp.mem.buffer;
  ARENAS.set(buffer, { f32: new Float32Array(buffer), adam: exp.adam as Kern });
  let next = ARENA_AT;
  return {
    alloc(n: number): Float64Array | undefined {
      const padded = n + (n & 1);
      if (next + 8 * padded > buffer.byteLength) return undefined;
      const view = new Float64Array(buffer, next, n);
      next += 8 * padded;
      return view;
    },
  };
}
