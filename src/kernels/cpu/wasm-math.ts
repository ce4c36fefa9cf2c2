/**
 * WebAssembly SIMD (f32x4) kernels for the float32 transcendental ops and row reductions that
 * dominate activation-heavy models: Exp, Log, Tanh, Sigmoid, Erf, Softplus, Gelu (both forms), Relu, Softmax and
 * LogSoftmax rows, and sum/max over a contiguous trailing axis. The plain-JS loops in
 * elementwise.ts, activations.ts and reduce.ts stay the reference and the fallback: every entry
 * point here returns false when SIMD is unavailable (see `instantiateKernels` in wasm-emit.ts), and
 * the caller then runs its own loop.
 *
 * Data moves in blocks: inputs are copied into the module's memory with `TypedArray.set` in chunks
 * of `CHUNK` floats (64 KiB, stays in L2), transformed in place, and copied out — never one element
 * per JS call.
 *
 * Approximations (the constants are the published Cephes single-precision ones, S. L. Moshier,
 * "Methods and Programs for Mathematical Functions", 1989; erf's are fitted here). Measured worst
 * case over a dense sweep against float64 Math.* rounded to float32 (test/ops/wasm-math.test.ts):
 * exp, log 1 ulp; tanh, sigmoid, erf 2 ulp; softplus 3 ulp; Softmax/LogSoftmax 4 ulp (float32
 * ulp ≈ 6e-8 relative):
 *  - exp: x = n·ln2 + r (Cody–Waite split of ln2, |r| ≤ ln2/2), e^r by a degree-6 polynomial,
 *    2^n applied as two exponent-field scalings so results underflow gradually into denormals
 *    (one rounding) and overflow to +∞ exactly where float32 does.
 *  - log: x = 2^e·m with m ∈ [√½, √2), log(m) = f − f²/2 + f³·P(f) (degree 8), e·ln2 added in
 *    two parts; denormal inputs are rescaled by 2^23 first; 0 → −∞, x < 0 → NaN, +∞ → +∞.
 *  - tanh: sign(x)·(−y/(2 + y)), y = e^{−2|x|} − 1 by the exp reduction without the final
 *    "+ 1", so small |x| keeps full relative accuracy.
 *  - sigmoid: e = e^{−|x|}, then 1/(1+e) or e/(1+e) by sign (no overflow, no cancellation).
 *  - erf: x·P(x²) for |x| < 0.921875, else sign(x)·(1 − e^{L(|x|)}) with |x| clamped to 4
 *    (erf(±4) rounds to ±1 in float32); P and L are fitted here (see `ERF_P`).
 *  - softplus: max(x, 0) + log1p(e^{−|x|}), log1p by Goldberg's log(w)·u/(w − 1), w = 1 + u.
 *  - Gelu (exact form): 0.5·x·(1 + erf(x/√2)) with 1 + erf as erfc(|z|) = e^{−x²/2}·R(1/|z|)/|z|
 *    for z < −0.921875 (x²/2 split exactly), so the negative tail keeps full relative accuracy:
 *    ≤ 6 ulp over the sweep against an erfc-based float64 reference (≤ 2 ulp for x ≥ 0).
 *  - Gelu (tanh form): 0.5·x·(1 + tanh(y)) = x·sigmoid(2y), which has no cancellation for x < 0;
 *    error ≤ (3 + 8|y|) ulp, y = √(2/π)(x + 0.044715x³): the float32 roundings of y are amplified by
 *    e^{2y} in the negative tail (where the float64 0.5·x·(1 + tanh y) is itself 0 or garbage).
 * NaN propagates through every kernel: arithmetic does, and every clamp is a pmin/pmax with the
 * data as first operand (`b < a ? b : a` keeps a NaN `a`).
 *  - Softmax/LogSoftmax: x − max split exactly (TwoSum) into exp's reduction, Σ in float64;
 *    LogSoftmax corrects log(float32(Σ)) by (Σ − float32(Σ))/Σ.
 *  - row sum in float64 (f64x2), row max NaN-propagating, as the JS loops in reduce.ts.
 */
import {
  BLOCK,
  END,
  F32,
  F64,
  F64_ADD,
  F64_PROMOTE_F32,
  I32,
  I32_ADD,
  I32_EQZ,
  I32_LT_U,
  I32_SHL,
  LOOP,
  V128,
  assembleModule,
  brIf,
  f32Load,
  f32x4Const,
  f64Store,
  f32Store,
  get,
  i32c,
  i32x4Const,
  instantiateKernels,
  set,
  simd,
  tee,
  v128Load,
  v128Store,
  type WasmFunc,
} from './wasm-emit.js';

// ---- a small postfix DSL: each helper returns the code that leaves one v128 on the stack ---------

/** Instructions leaving one value on the stack (the DSL below composes these). */
export type Code = number[];
const op2 = (opcode: number) => (a: Code, b: Code): Code => [...a, ...b, ...simd(opcode)];
const op1 = (opcode: number) => (a: Code): Code => [...a, ...simd(opcode)];
/** f32x4 operations (postfix: operands' code first). */
export const f4 = {
  add: op2(0xe4),
  sub: op2(0xe5),
  mul: op2(0xe6),
  div: op2(0xe7),
  min: op2(0xe8),
  max: op2(0xe9),
  /** b < a ? b : a — a NaN in `a` passes through (unlike the NaN-propagating min, ~3× cheaper in V8). */
  pmin: op2(0xea),
  /** a < b ? b : a — a NaN in `a` passes through. */
  pmax: op2(0xeb),
  abs: op1(0xe0),
  neg: op1(0xe1),
  nearest: op1(0x6a),
  lt: op2(0x43),
  gt: op2(0x44),
  le: op2(0x45),
  eq: op2(0x41),
  ne: op2(0x42),
  ge: op2(0x46),
  k: f32x4Const,
};
/** i32x4 operations. */
export const i4 = {
  add: op2(0xae),
  sub: op2(0xb1),
  shl: (a: Code, n: number): Code => [...a, ...i32c(n), ...simd(0xab)],
  shrS: (a: Code, n: number): Code => [...a, ...i32c(n), ...simd(0xac)],
  shrU: (a: Code, n: number): Code => [...a, ...i32c(n), ...simd(0xad)],
  truncSat: op1(0xf8),
  toF32: op1(0xfa),
  k: i32x4Const,
};
/** Bitwise v128 operations. */
export const v = {
  and: op2(0x4e),
  or: op2(0x50),
  /** Lanes of `a` where `mask` is set, else of `b`. */
  select: (a: Code, b: Code, mask: Code): Code => [...a, ...b, ...mask, ...simd(0x52)],
};
const F64X2_ADD = simd(0xf0);
const F64X2_PROMOTE_LOW = simd(0x5f);
/** i8x16.shuffle(a, a) moving the high 8 bytes to the low half. */
const HIGH_TO_LOW = (a: Code): Code => [...a, ...a, ...simd(0x0d, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7)];
/** Swap adjacent 32-bit lane pairs (lanes 1,0,3,2). */
const SWAP_PAIRS = (a: Code): Code => [...a, ...a, ...simd(0x0d, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11)];
const V128_LOAD64_ZERO = (offset: number): Code => simd(0x5d, 3, offset);
const F32_DEMOTE_F64 = 0xb6;
const f64c = (x: number): Code => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, x, true);
  return [0x44, ...b];
};

/** Local-variable allocator for one function (parameters come first). */
export class Fn {
  private readonly types: number[] = [];
  constructor(private readonly nParams: number) {}
  local(t: number): number {
    this.types.push(t);
    return this.nParams + this.types.length - 1;
  }
  get locals(): Array<[number, number]> {
    return this.types.map((t) => [1, t]);
  }
  private readonly consts = new Map<string, number>();
  /** Code that initialises the hoisted constants; put it before the function's loops. */
  readonly prologue: Code = [];
  /** A v128 constant held in a local set once in the prologue (re-materialising `v128.const` in
   * the loop body measured ~2× slower for exp in V8). */
  private konst(key: string, init: Code): Code {
    let l = this.consts.get(key);
    if (l === undefined) {
      l = this.local(V128);
      this.consts.set(key, l);
      this.prologue.push(...init, ...set(l));
    }
    return get(l);
  }
  /** Four float32 copies of `x`. */
  kf(x: number): Code {
    return this.konst(`f${Object.is(x, -0) ? '-0' : x}`, f32x4Const(x));
  }
  /** Four int32 copies of `x`. */
  ki(x: number): Code {
    return this.konst(`i${x}`, i32x4Const(x));
  }
}

/** Horner evaluation c[0]·x^(n−1) + … + c[n−1] with `x` a v128 local. */
function horner(fn: Fn, x: number, c: number[]): Code {
  let code = fn.kf(c[0]!);
  for (let i = 1; i < c.length; i++) code = f4.add(f4.mul(code, get(x)), fn.kf(c[i]!));
  return code;
}

// ---- the approximations ------------------------------------------------------------------------

const LOG2E = 1.44269504088896341;
/** ln2 = LN2_HI + LN2_LO; LN2_HI has 9 significant bits so n·LN2_HI is exact for |n| ≤ 2^15. */
const LN2_HI = 0.693359375;
const LN2_LO = -2.12194440e-4;
/** 1.5·2^23 and its bit pattern: float32 sums with it round to an integer kept in the low bits. */
const ROUND_MAGIC = 12582912;
const ROUND_MAGIC_BITS = 0x4b400000;
const EXP_POLY = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];

/**
 * e^(x + lo) of the v128 `x` produced by `xin`; `lo` (optional, |lo| ≤ ulp(x)/2) is the low part of
 * an exactly split argument (see `twoDiff`), added after range reduction where it is not lost.
 */
function expV(fn: Fn, xin: Code, lo?: Code, wideLo = false): Code {
  const x = fn.local(V128);
  const n = fn.local(V128);
  const r = fn.local(V128);
  const t = fn.local(V128);
  const ni = fn.local(V128);
  const n1 = fn.local(V128);
  // Clamp first: below −104 every result is 0 (< half the smallest denormal), above 89 it is +∞.
  // n = round(x·log2 e) by the 1.5·2^23 trick: adding it leaves n in the low mantissa bits, so n is
  // both t − 1.5·2^23 (as a float) and bits(t) − bits(1.5·2^23) (as an int) — cheaper in V8 than
  // f32x4.nearest plus i32x4.trunc_sat_f32x4_s.
  return [
    ...f4.pmin(f4.pmax(xin, fn.kf(-104)), fn.kf(89)), ...set(x),
    // wideLo: |lo| may exceed ulp(x) (a caller-bounded correction, up to ~0.1), so n is taken
    // from x + lo and lo enters r unclamped
    ...f4.add(f4.mul(wideLo && lo ? f4.add(get(x), lo) : get(x), fn.kf(LOG2E)), fn.kf(ROUND_MAGIC)), ...set(t),
    ...f4.sub(get(t), fn.kf(ROUND_MAGIC)), ...set(n),
    ...f4.sub(f4.sub(get(x), f4.mul(get(n), fn.kf(LN2_HI))), f4.mul(get(n), fn.kf(LN2_LO))),
    // lo clamped to ±2^−16 (≥ ulp(x)/2 wherever e^x is neither 0 nor ∞) so a huge split of an
    // out-of-range x cannot disturb the polynomial
    ...(lo ? [...(wideLo ? lo : f4.pmin(f4.pmax(lo, fn.kf(-(2 ** -16))), fn.kf(2 ** -16))), ...simd(0xe4)] : []), ...set(r),
    ...i4.sub(get(t), fn.ki(ROUND_MAGIC_BITS)), ...tee(ni),
    ...i4.shrS([], 1), ...set(n1),
    // (P(r)·r² + r + 1) · 2^n1 · 2^(n − n1); each factor's exponent is within range on its own.
    ...f4.mul(
      f4.mul(
        f4.add(f4.add(f4.mul(horner(fn, r, EXP_POLY), f4.mul(get(r), get(r))), get(r)), fn.kf(1)),
        i4.shl(i4.add(get(n1), fn.ki(127)), 23),
      ),
      i4.shl(i4.add(i4.sub(get(ni), get(n1)), fn.ki(127)), 23),
    ),
  ];
}

const SQRTHF = 0.707106781186547524;
const LOG_POLY = [
  7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1,
  3.3333331174e-1,
];
const F32_MIN_NORMAL = 1.1754943508222875e-38;

/** Natural log of the v128 produced by `xin`. */
function logV(fn: Fn, xin: Code): Code {
  const x0 = fn.local(V128);
  const x = fn.local(V128);
  const small = fn.local(V128);
  const e = fn.local(V128);
  const m = fn.local(V128);
  const lt = fn.local(V128);
  const f = fn.local(V128);
  const z = fn.local(V128);
  const ef = fn.local(V128);
  const r = fn.local(V128);
  const good = fn.local(V128);
  const ALL_TRUE = simd(0xa3); // i32x4.all_true
  const IF = [0x04, 0x40];
  return [
    ...xin, ...tee(x0), ...set(x),
    ...i32x4Const(0), ...set(small),
    // Lanes that are normal, positive and finite need neither fix-up; only vectors holding another
    // lane pay for the denormal rescale and the special-value selects (branches, not selects).
    ...v.and(f4.ge(get(x0), fn.kf(F32_MIN_NORMAL)), f4.lt(get(x0), fn.kf(Infinity))), ...tee(good),
    ...ALL_TRUE, I32_EQZ, ...IF,
    // Denormals: scale by 2^23 so the exponent/mantissa split below sees a normal number.
    ...f4.lt(get(x0), fn.kf(F32_MIN_NORMAL)), ...set(small),
    ...v.select(f4.mul(get(x0), fn.kf(8388608)), get(x0), get(small)), ...set(x),
    END,
    // e = biased exponent − 126 (− 23 for rescaled denormals); m ∈ [0.5, 1).
    ...i4.add(i4.sub(i4.shrU(get(x), 23), fn.ki(126)), v.and(get(small), fn.ki(-23))), ...set(e),
    ...v.or(v.and(get(x), fn.ki(0x007fffff)), fn.ki(0x3f000000)), ...set(m),
    // m < √½: use 2m and e − 1 (the mask is −1 in those lanes), so f = m' − 1 ∈ [√½ − 1, √2 − 1).
    ...f4.lt(get(m), fn.kf(SQRTHF)), ...set(lt),
    ...i4.add(get(e), get(lt)), ...set(e),
    ...f4.add(f4.sub(get(m), fn.kf(1)), v.and(get(m), get(lt))), ...set(f),
    ...f4.mul(get(f), get(f)), ...set(z),
    ...i4.toF32(get(e)), ...set(ef),
    // log = f + (f³·P(f) + e·LN2_LO − z/2) + e·LN2_HI
    ...f4.add(
      f4.add(
        get(f),
        f4.sub(f4.add(f4.mul(f4.mul(horner(fn, f, LOG_POLY), get(f)), get(z)), f4.mul(get(ef), fn.kf(LN2_LO))), f4.mul(get(z), fn.kf(0.5))),
      ),
      f4.mul(get(ef), fn.kf(LN2_HI)),
    ), ...set(r),
    ...get(good), ...ALL_TRUE, I32_EQZ, ...IF,
    // Specials: NaN or x < 0 → NaN; ±0 → −∞; +∞ → +∞.
    ...v.select(fn.kf(NaN), get(r), v.or(f4.ne(get(x0), get(x0)), f4.lt(get(x0), fn.kf(0)))), ...set(r),
    ...v.select(fn.kf(-Infinity), get(r), f4.eq(get(x0), fn.kf(0))), ...set(r),
    ...v.select(fn.kf(Infinity), get(r), f4.eq(get(x0), fn.kf(Infinity))), ...set(r),
    END,
    ...get(r),
  ];
}

/**
 * e^a − 1 for a ∈ [−20, 0] (callers clamp), without cancellation near 0: with a = n·ln2 + r,
 * e^a − 1 = 2^n·q + (2^n − 1), q = e^r − 1 = r + r²·P(r) (the same P as exp); n = 0 gives q itself
 * and 2^n − 1 is exact for n ≥ −24.
 */
function expm1NegV(fn: Fn, ain: Code): Code {
  const a = fn.local(V128);
  const t = fn.local(V128);
  const n = fn.local(V128);
  const r = fn.local(V128);
  const p2 = fn.local(V128);
  return [
    ...ain, ...set(a),
    ...f4.add(f4.mul(get(a), fn.kf(LOG2E)), fn.kf(ROUND_MAGIC)), ...set(t),
    ...f4.sub(get(t), fn.kf(ROUND_MAGIC)), ...set(n),
    ...f4.sub(f4.sub(get(a), f4.mul(get(n), fn.kf(LN2_HI))), f4.mul(get(n), fn.kf(LN2_LO))), ...set(r),
    ...i4.shl(i4.add(i4.sub(get(t), fn.ki(ROUND_MAGIC_BITS)), fn.ki(127)), 23), ...set(p2),
    ...f4.add(f4.mul(get(p2), f4.add(f4.mul(horner(fn, r, EXP_POLY), f4.mul(get(r), get(r))), get(r))), f4.sub(get(p2), fn.kf(1))),
  ];
}

/**
 * tanh by one formula: with y = e^{−2|x|} − 1 ∈ (−1, 0] (expm1NegV, |x| clamped to 10 where tanh
 * rounds to 1), tanh|x| = −y/(2 + y); the sign of x is put back on the magnitude. ~35 f32x4 ops
 * instead of exp + division + a separate small-|x| polynomial and select.
 */
export function tanhV(fn: Fn, xin: Code): Code {
  const x = fn.local(V128);
  const y = fn.local(V128);
  return [
    ...xin, ...set(x),
    // pmax(−2|x|, −20) lets a NaN through (first operand)
    ...expm1NegV(fn, f4.pmax(f4.mul(f4.abs(get(x)), fn.kf(-2)), fn.kf(-20))), ...set(y),
    ...v.or(v.and(f4.div(get(y), f4.add(get(y), fn.kf(2))), fn.ki(0x7fffffff)), v.and(get(x), fn.ki(-0x80000000))),
  ];
}

/** Logistic sigmoid of the v128 produced by `xin`. */
export function sigmoidV(fn: Fn, xin: Code): Code {
  const x = fn.local(V128);
  const e = fn.local(V128);
  return [
    ...xin, ...set(x),
    ...expV(fn, f4.neg(f4.abs(get(x)))), ...set(e),
    ...f4.div(v.select(get(e), fn.kf(1), f4.lt(get(x), fn.kf(0))), f4.add(get(e), fn.kf(1))),
  ];
}

/**
 * erf fits (float32 coefficients of a weighted least-squares fit at 4000 Chebyshev nodes, float64
 * numpy against Python's math.erf/erfc, iterated towards minimax): erf(x)/x = P(x²) on
 * [0, 0.921875] (fit error 4e-10) and log(erfc(x)) = L(x) on [0.921875, 4] (fit error 3e-9).
 */
const ERF_P = [8.398111822316423e-5, -8.149892673827708e-4, 5.201725289225578e-3, -2.68597062677145e-2, 1.1283701658248901e-1, -3.7612634897232056e-1, 1.128379225730896];
const ERFC_L = [
  -5.4730094234400894e-8, 1.306845433646231e-6, -1.209180845762603e-5, 3.741775071830489e-5, 2.717780298553407e-4, -3.913348540663719e-3, 2.4929668754339218e-2,
  -1.0832320898771286e-1, -6.331501007080078e-1, -1.1296566724777222, 2.0976662926841527e-4,
];

/** erf of the v128 produced by `xin`: x·P(x²) near 0, sign(x)·(1 − e^{L(|x|)}) beyond 0.921875. */
function erfV(fn: Fn, xin: Code): Code {
  const x = fn.local(V128);
  const z = fn.local(V128);
  const ax = fn.local(V128);
  const small = fn.local(V128);
  const r = fn.local(V128);
  return [
    ...xin, ...set(x),
    ...f4.mul(get(x), get(x)), ...set(z),
    // |x| clamped to 4 (erf(4) rounds to 1 in float32); NaN stays NaN through pmin
    ...f4.pmin(f4.abs(get(x)), fn.kf(4)), ...set(ax),
    ...f4.mul(get(x), horner(fn, z, ERF_P)), ...set(r),
    ...f4.lt(get(ax), fn.kf(0.921875)), ...tee(small),
    // The tail (and its exp) only when some lane needs it: typical activations are mostly small.
    ...simd(0xa3), I32_EQZ, 0x04, 0x40, // i32x4.all_true; if
    ...v.select(get(r), v.or(f4.sub(fn.kf(1), expV(fn, horner(fn, ax, ERFC_L))), v.and(get(x), fn.ki(-0x80000000))), get(small)), ...set(r),
    END,
    ...get(r),
  ];
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** Gelu, tanh form: x·sigmoid(2·√(2/π)·(x + 0.044715·x³)). */
function geluTanhV(fn: Fn, xin: Code): Code {
  const x = fn.local(V128);
  return [
    ...xin, ...set(x),
    ...f4.mul(get(x), sigmoidV(fn, f4.mul(fn.kf(2 * SQRT_2_OVER_PI), f4.add(get(x), f4.mul(fn.kf(0.044715), f4.mul(get(x), f4.mul(get(x), get(x)))))))),
  ];
}

/**
 * Softplus log(1 + e^x) = max(x, 0) + log1p(e^{−|x|}), with log1p(u) = log(w)·u/(w − 1), w = 1 + u
 * (Goldberg's trick: the rounding of w cancels between log(w) and w − 1); u itself when w = 1.
 */
function softplusV(fn: Fn, xin: Code): Code {
  const x = fn.local(V128);
  const u = fn.local(V128);
  const w = fn.local(V128);
  return [
    ...xin, ...set(x),
    ...expV(fn, f4.neg(f4.abs(get(x)))), ...set(u),
    ...f4.add(get(u), fn.kf(1)), ...set(w),
    // pmax(x, 0) passes a NaN x through
    ...f4.add(
      f4.pmax(get(x), fn.kf(0)),
      v.select(get(u), f4.mul(logV(fn, get(w)), f4.div(get(u), f4.sub(get(w), fn.kf(1)))), f4.eq(get(w), fn.kf(1))),
    ),
  ];
}

/**
 * erfc(z)·e^{z²}·z = R(u) on z ∈ [0.921875, 10.5], u = (1/z − GELU_MID)/GELU_HALF ∈ [−1, 1]: a
 * degree-12 Chebyshev least-squares fit (float64 numpy against mpmath's erfc at 40 digits, relative
 * fit error 5e-9, 3e-8 after rounding the coefficients to float32), converted to monomials in u.
 */
const ERFC_R = [-2.1776642824988812e-05, 3.169457704643719e-05, 4.794448250322603e-05, -0.0001482045481679961, 0.000213111488847062, -0.00026072972104884684, -3.2109743187902495e-05, 0.0015040484722703695, -0.005205132067203522, 0.010130845010280609, -0.002316180383786559, -0.08470987528562546, 0.49552688002586365];
const GELU_MID = 0.5899919289749798;
const GELU_HALF = 0.4947538337368846;

/**
 * Gelu, exact form: 0.5·x·(1 + erf(z)), z = x/√2, with 1 + erf(z) taken without cancellation:
 * 1 + z·P(z²) for |z| < 0.921875, else erfc(|z|) = e^{−x²/2}·R(u)/|z| for z < 0 and 2 − that for
 * z > 0. x²/2 is split exactly (x = xh + xl with xh's low 12 mantissa bits cleared, so xh² is
 * exact) and passed to exp as hi + lo, so the large exponent does not amplify a rounding of z².
 */
function geluErfV(fn: Fn, xin: Code): Code {
  const x = fn.local(V128);
  const z = fn.local(V128);
  const az = fn.local(V128);
  const xh = fn.local(V128);
  const lo = fn.local(V128);
  const inv = fn.local(V128);
  const u = fn.local(V128);
  const ec = fn.local(V128);
  const z2 = fn.local(V128);
  const xc = fn.local(V128);
  const small = fn.local(V128);
  const onePlusErf = fn.local(V128);
  return [
    ...xin, ...set(x),
    ...f4.mul(get(x), fn.kf(Math.SQRT1_2)), ...set(z),
    ...f4.mul(get(z), get(z)), ...set(z2),
    ...f4.abs(get(z)), ...set(az),
    ...f4.add(fn.kf(1), f4.mul(get(z), horner(fn, z2, ERF_P))), ...set(onePlusErf),
    ...f4.lt(get(az), fn.kf(0.921875)), ...tee(small),
    // The erfc tail (exp, division, degree-12 polynomial) only for vectors with a lane beyond it.
    ...simd(0xa3), I32_EQZ, 0x04, 0x40, // i32x4.all_true; if
    // x clamped to ±15 (|z| > 10.6: erfc < 1e-50, so e^{−x²/2} is 0 anyway) keeps the split finite
    ...f4.pmin(f4.pmax(get(x), fn.kf(-15)), fn.kf(15)), ...set(xc),
    ...v.and(get(xc), fn.ki(-4096)), ...set(xh),
    // lo = −(xc − xh)(xc + xh)/2, exact up to one rounding of a value ≤ 0.05
    ...f4.mul(f4.mul(f4.sub(get(xc), get(xh)), f4.add(get(xc), get(xh))), fn.kf(-0.5)), ...set(lo),
    ...f4.div(fn.kf(1), f4.pmin(get(az), fn.kf(10.5))), ...set(inv),
    ...f4.sub(f4.mul(get(inv), fn.kf(1 / GELU_HALF)), fn.kf(GELU_MID / GELU_HALF)), ...set(u),
    ...f4.mul(f4.mul(expV(fn, f4.mul(f4.mul(get(xh), get(xh)), fn.kf(-0.5)), get(lo), true), horner(fn, u, ERFC_R)), get(inv)), ...set(ec),
    ...v.select(get(onePlusErf), v.select(get(ec), f4.sub(fn.kf(2), get(ec)), f4.lt(get(x), fn.kf(0))), get(small)), ...set(onePlusErf),
    END,
    ...f4.mul(f4.mul(get(x), fn.kf(0.5)), get(onePlusErf)),
  ];
}

/**
 * Relu as the JS loop in activations.ts defines it: x where x > 0 or x is NaN (bits kept), +0
 * elsewhere (so −0 → +0). The mask-and is exact and branch-free.
 */
function reluV(fn: Fn, xin: Code): Code {
  const x = fn.local(V128);
  return [...xin, ...set(x), ...v.and(get(x), v.or(f4.gt(get(x), fn.kf(0)), f4.ne(get(x), get(x))))];
}

// ---- functions of the module ------------------------------------------------------------------

/** `(src, dst, n4)`: dst[i] = f(src[i]) for n4 vectors of 4 floats; src may equal dst. */
function mapFunc(exportName: string, body: (fn: Fn, xin: Code) => Code): WasmFunc {
  const [SRC, DST, N4] = [0, 1, 2];
  const fn = new Fn(3);
  const end = fn.local(I32);
  const inner = body(fn, [...get(SRC), ...v128Load(0)]);
  const code = [
    ...fn.prologue,
    ...BLOCK, ...get(N4), I32_EQZ, ...brIf(0),
    ...get(SRC), ...get(N4), ...i32c(4), I32_SHL, I32_ADD, ...set(end),
    ...LOOP,
    ...get(DST), ...inner, ...v128Store(0),
    ...get(SRC), ...i32c(16), I32_ADD, ...set(SRC),
    ...get(DST), ...i32c(16), I32_ADD, ...set(DST),
    ...get(SRC), ...get(end), I32_LT_U, ...brIf(0),
    END, END,
  ];
  return { params: [I32, I32, I32], results: [], locals: fn.locals, code, exportName };
}

/** All four lanes ← the max of the lanes (NaN-propagating). */
const hmax = (m: number): Code => [...f4.max(get(m), HIGH_TO_LOW(get(m))), ...set(m), ...f4.max(get(m), SWAP_PAIRS(get(m)))];

/**
 * hi = a − b rounded and lo = the exact rounding error (Knuth's TwoSum), so x − max keeps its full
 * value: rounding it alone would cost up to |x − max|·2^−24 relative error in e^(x − max).
 * lo is 0 where the difference is infinite or NaN (there hi already carries the answer).
 */
function twoDiff(fn: Fn, a: Code, b: Code, hi: number, lo: number): Code {
  const A = fn.local(V128);
  const B = fn.local(V128);
  const bp = fn.local(V128);
  return [
    ...a, ...set(A), ...b, ...set(B),
    ...f4.sub(get(A), get(B)), ...set(hi),
    ...f4.sub(get(hi), get(A)), ...set(bp),
    ...f4.sub(f4.sub(get(A), f4.sub(get(hi), get(bp))), f4.add(get(B), get(bp))), ...set(lo),
    ...v.and(get(lo), f4.eq(get(lo), get(lo))), ...set(lo),
  ];
}

/**
 * `(src, dst, rows, len4)`: Softmax (or LogSoftmax when `log`) of `rows` rows of 4·len4 floats
 * (callers pad rows with −∞, which adds e^−∞ = 0). Max-subtracted; the exp sum is in float64.
 */
function softmaxFunc(exportName: string, log: boolean): WasmFunc {
  const [SRC, DST, ROWS, LEN4] = [0, 1, 2, 3];
  const fn = new Fn(4);
  const p = fn.local(I32);
  const q = fn.local(I32);
  const end = fn.local(I32);
  const m = fn.local(V128);
  const a0 = fn.local(V128);
  const a1 = fn.local(V128);
  const e = fn.local(V128);
  const s = fn.local(F64);
  const k = fn.local(V128);
  const dh = fn.local(V128);
  const dl = fn.local(V128);
  const sumLanes = [...F64X2_ADD, ...tee(a0), ...simd(0x21, 0), ...get(a0), ...simd(0x21, 1), F64_ADD];
  const scale = log
    ? [
        // k = log(Σ) = log(float32(Σ)) + (Σ − float32(Σ))/Σ: rounding Σ ≈ 1 alone would cost
        // 2^−24 absolute, many ulps of a small log. out = ((x − m)hi − k) + (x − m)lo
        ...logV(fn, [...get(s), F32_DEMOTE_F64, ...simd(0x13)]),
        ...get(s), ...get(s), F32_DEMOTE_F64, F64_PROMOTE_F32, 0xa1, ...get(s), 0xa3, F32_DEMOTE_F64, ...simd(0x13),
        ...simd(0xe4), ...set(k),
        ...get(SRC), ...set(p), ...get(DST), ...set(q),
        ...LOOP,
        ...twoDiff(fn, [...get(p), ...v128Load(0)], get(m), dh, dl),
        ...get(q), ...f4.add(f4.sub(get(dh), get(k)), get(dl)), ...v128Store(0),
        ...get(p), ...i32c(16), I32_ADD, ...set(p),
        ...get(q), ...i32c(16), I32_ADD, ...set(q),
        ...get(p), ...get(end), I32_LT_U, ...brIf(0),
        END,
      ]
    : [
        // k = 1/Σ as float32; out = e · k
        ...f64c(1), ...get(s), 0xa3, F32_DEMOTE_F64, ...simd(0x13), ...set(k),
        ...get(DST), ...set(q),
        ...get(DST), ...get(LEN4), ...i32c(4), I32_SHL, I32_ADD, ...set(p), // p = end of the dst row
        ...LOOP,
        ...get(q), ...f4.mul([...get(q), ...v128Load(0)], get(k)), ...v128Store(0),
        ...get(q), ...i32c(16), I32_ADD, ...set(q),
        ...get(q), ...get(p), I32_LT_U, ...brIf(0),
        END,
      ];
  const code = [
    ...BLOCK, ...get(ROWS), I32_EQZ, ...brIf(0), ...get(LEN4), I32_EQZ, ...brIf(0),
    ...LOOP,
    ...get(SRC), ...get(LEN4), ...i32c(4), I32_SHL, I32_ADD, ...set(end),
    // m = row max
    ...f4.k(-Infinity), ...set(m), ...get(SRC), ...set(p),
    ...LOOP,
    // pmax(m, x) skips NaN x like the reference's `v > m`; the row still ends up all NaN via e^(NaN − m)
    ...f4.pmax(get(m), [...get(p), ...v128Load(0)]), ...set(m),
    ...get(p), ...i32c(16), I32_ADD, ...tee(p), ...get(end), I32_LT_U, ...brIf(0),
    END,
    ...hmax(m), ...set(m),
    // Σ e^(x − m) in float64 (two f64x2 accumulators); softmax stores e^(x − m) to dst on the way
    ...i32x4Const(0), ...set(a0), ...i32x4Const(0), ...set(a1),
    ...get(SRC), ...set(p), ...get(DST), ...set(q),
    ...LOOP,
    ...twoDiff(fn, [...get(p), ...v128Load(0)], get(m), dh, dl),
    ...expV(fn, get(dh), get(dl)), ...set(e),
    ...(log ? [] : [...get(q), ...get(e), ...v128Store(0)]),
    ...get(a0), ...get(e), ...F64X2_PROMOTE_LOW, ...F64X2_ADD, ...set(a0),
    ...get(a1), ...HIGH_TO_LOW(get(e)), ...F64X2_PROMOTE_LOW, ...F64X2_ADD, ...set(a1),
    ...get(p), ...i32c(16), I32_ADD, ...set(p),
    ...get(q), ...i32c(16), I32_ADD, ...set(q),
    ...get(p), ...get(end), I32_LT_U, ...brIf(0),
    END,
    ...get(a0), ...get(a1), ...sumLanes, ...set(s),
    ...scale,
    ...get(end), ...set(SRC),
    ...get(DST), ...get(LEN4), ...i32c(4), I32_SHL, I32_ADD, ...set(DST),
    ...get(ROWS), ...i32c(-1), I32_ADD, ...tee(ROWS), ...brIf(0),
    END, END,
  ];
  return { params: [I32, I32, I32, I32], results: [], locals: fn.locals, code: [...fn.prologue, ...code], exportName };
}

/**
 * `(src, out, rows, len)`: per row of `len` floats, out[row] = Σ as float64 (`max` false, 8-byte
 * outputs) or the NaN-propagating max as float32 (`max` true, 4-byte outputs). No padding needed:
 * the last len mod 4 elements are handled one at a time.
 */
function rowReduceFunc(exportName: string, max: boolean): WasmFunc {
  const [SRC, OUT, ROWS, LEN] = [0, 1, 2, 3];
  const fn = new Fn(4);
  const p = fn.local(I32);
  const vend = fn.local(I32);
  const end = fn.local(I32);
  const a0 = fn.local(V128);
  const a1 = fn.local(V128);
  const s = fn.local(max ? F32 : F64);
  const xv = fn.local(V128);
  const vecStep = max
    ? // pmax(acc, x) skips NaN x (the NaN-propagating f32x4.max is ~3× dearer in V8); a1 collects
      // "x is NaN" lanes instead and forces the row's result to NaN below
      [
        ...get(p), ...v128Load(0), ...set(xv),
        ...f4.pmax(get(a0), get(xv)), ...set(a0),
        ...v.or(get(a1), f4.ne(get(xv), get(xv))), ...set(a1),
      ]
    : [
        ...get(a0), ...get(p), ...V128_LOAD64_ZERO(0), ...F64X2_PROMOTE_LOW, ...F64X2_ADD, ...set(a0),
        ...get(a1), ...get(p), ...V128_LOAD64_ZERO(8), ...F64X2_PROMOTE_LOW, ...F64X2_ADD, ...set(a1),
      ];
  const horizontal = max
    ? [...v.select(fn.kf(NaN), get(a0), get(a1)), ...set(a0), ...hmax(a0), ...simd(0x1f, 0), ...set(s)]
    : [...get(a0), ...get(a1), ...F64X2_ADD, ...tee(a0), ...simd(0x21, 0), ...get(a0), ...simd(0x21, 1), F64_ADD, ...set(s)];
  const scalarStep = max ? [...get(s), ...get(p), ...f32Load(0), 0x97, ...set(s)] : [...get(s), ...get(p), ...f32Load(0), F64_PROMOTE_F32, F64_ADD, ...set(s)];
  const code = [
    ...BLOCK, ...get(ROWS), I32_EQZ, ...brIf(0),
    ...LOOP,
    ...get(SRC), ...get(LEN), ...i32c(2), I32_SHL, I32_ADD, ...set(end),
    ...get(SRC), ...get(LEN), ...i32c(-4), 0x71, ...i32c(2), I32_SHL, I32_ADD, ...set(vend), // i32.and
    ...(max ? f4.k(-Infinity) : i32x4Const(0)), ...set(a0), ...i32x4Const(0), ...set(a1),
    ...get(SRC), ...set(p),
    ...BLOCK, ...get(p), ...get(vend), I32_LT_U, I32_EQZ, ...brIf(0),
    ...LOOP, ...vecStep, ...get(p), ...i32c(16), I32_ADD, ...tee(p), ...get(vend), I32_LT_U, ...brIf(0), END,
    END,
    ...horizontal,
    ...BLOCK, ...get(p), ...get(end), I32_LT_U, I32_EQZ, ...brIf(0),
    ...LOOP, ...scalarStep, ...get(p), ...i32c(4), I32_ADD, ...tee(p), ...get(end), I32_LT_U, ...brIf(0), END,
    END,
    ...get(OUT), ...get(s), ...(max ? f32Store(0) : f64Store(0)),
    ...get(OUT), ...i32c(max ? 4 : 8), I32_ADD, ...set(OUT),
    ...get(end), ...set(SRC),
    ...get(ROWS), ...i32c(-1), I32_ADD, ...tee(ROWS), ...brIf(0),
    END, END,
  ];
  return { params: [I32, I32, I32, I32], results: [], locals: fn.locals, code: [...fn.prologue, ...code], exportName };
}

/** Elementwise float32 functions with a SIMD kernel. */
export type WasmUnaryOp = 'exp' | 'log' | 'tanh' | 'sigmoid' | 'erf' | 'geluErf' | 'geluTanh' | 'softplus' | 'relu';
const UNARY: Record<WasmUnaryOp, (fn: Fn, xin: Code) => Code> = {
  relu: reluV,
  exp: expV,
  log: logV,
  tanh: tanhV,
  sigmoid: sigmoidV,
  erf: erfV,
  geluErf: geluErfV,
  geluTanh: geluTanhV,
  softplus: softplusV,
};

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const funcs = [
    ...Object.entries(UNARY).map(([k, body]) => mapFunc(k, body)),
    softmaxFunc('softmax', false),
    softmaxFunc('logsoftmax', true),
    rowReduceFunc('rowsum', false),
    rowReduceFunc('rowmax', true),
  ];
  return assembleModule(funcs, 4);
}

type Kern4 = (a: number, b: number, c: number, d: number) => void;
interface MathExports {
  mem: WebAssembly.Memory;
  softmax: Kern4;
  logsoftmax: Kern4;
  rowsum: Kern4;
  rowmax: Kern4;
  [op: string]: unknown;
}

/** Floats per block copied into the module's memory (64 KiB: stays in L2 between copy and kernel). */
const CHUNK = 16384;

let cached: MathExports | null | undefined;
let f32view = new Float32Array(0);
let f64view = new Float64Array(0);

function kernels(): MathExports | undefined {
  if (cached === undefined) cached = (instantiateKernels(moduleBytes()) as MathExports | undefined) ?? null;
  return cached ?? undefined;
}

/** True when the SIMD math kernels are available (false: callers use their plain-JS loops). */
export function hasWasmMath(): boolean {
  return kernels() !== undefined;
}

/**
 * Grow the module's memory to at least `bytes` and refresh the views (growth detaches them).
 * False when the engine refuses to grow it (a row too long for the 4 GiB wasm32 space or for
 * the process): the caller then runs its plain-JS loop instead of surfacing a RangeError.
 */
function memoryFor(k: MathExports, bytes: number): boolean {
  const have = k.mem.buffer.byteLength;
  if (have < bytes) {
    try {
      k.mem.grow(Math.ceil((bytes - have) / 65536));
    } catch {
      return false;
    }
  }
  if (f32view.buffer !== k.mem.buffer) {
    f32view = new Float32Array(k.mem.buffer);
    f64view = new Float64Array(k.mem.buffer);
  }
  return true;
}

/** o[i] = op(x[i]) for float32 arrays of equal length (o may be x); false when SIMD is unavailable. */
export function wasmUnary(op: WasmUnaryOp, x: Float32Array, o: Float32Array): boolean {
  const k = kernels();
  if (!k || !memoryFor(k, CHUNK * 4)) return false;
  const f = k[op] as (src: number, dst: number, n4: number) => void;
  const n = x.length;
  for (let i = 0; i < n; i += CHUNK) {
    const c = Math.min(CHUNK, n - i);
    f32view.set(x.subarray(i, i + c), 0);
    f(0, 0, (c + 3) >> 2); // lanes past c compute on stale floats and are never copied out
    o.set(f32view.subarray(0, c), i);
  }
  return true;
}

/**
 * Softmax (or LogSoftmax when `log`) over contiguous rows of `len` floats: x and o hold rows·len
 * floats. False when SIMD is unavailable.
 */
export function wasmSoftmaxRows(x: Float32Array, o: Float32Array, len: number, log: boolean): boolean {
  const k = kernels();
  if (!k || len === 0) return !!k;
  const rows = x.length / len;
  const len4 = (len + 3) >> 2;
  const stride = len4 * 4;
  const per = Math.max(1, Math.floor(CHUNK / stride));
  if (!memoryFor(k, Math.max(CHUNK, per * stride) * 4)) return false;
  const f = log ? k.logsoftmax : k.softmax;
  for (let r = 0; r < rows; r += per) {
    const nr = Math.min(per, rows - r);
    if (stride === len) f32view.set(x.subarray(r * len, (r + nr) * len), 0);
    else {
      for (let j = 0; j < nr; j++) {
        f32view.set(x.subarray((r + j) * len, (r + j + 1) * len), j * stride);
        f32view.fill(-Infinity, j * stride + len, (j + 1) * stride);
      }
    }
    f(0, 0, nr, len4);
    if (stride === len) o.set(f32view.subarray(0, nr * len), r * len);
    else for (let j = 0; j < nr; j++) o.set(f32view.subarray(j * stride, j * stride + len), (r + j) * len);
  }
  return true;
}

/**
 * Per contiguous row of `len` floats of x, acc[row] = the float64 sum (`kind` 'sum') or the
 * NaN-propagating max ('max'). acc holds x.length / len entries. False when SIMD is unavailable.
 */
export function wasmRowReduce(kind: 'sum' | 'max', x: Float32Array, len: number, acc: Float64Array): boolean {
  const k = kernels();
  if (!k || len === 0 || !memoryFor(k, CHUNK * 4 + CHUNK * 8)) return false;
  const f = kind === 'sum' ? k.rowsum : k.rowmax;
  const rows = acc.length;
  const outAt = CHUNK * 4;
  if (len <= CHUNK) {
    const per = Math.floor(CHUNK / len);
    for (let r = 0; r < rows; r += per) {
      const nr = Math.min(per, rows - r);
      f32view.set(x.subarray(r * len, (r + nr) * len), 0);
      f(0, outAt, nr, len);
      if (kind === 'sum') acc.set(f64view.subarray(outAt / 8, outAt / 8 + nr), r);
      else for (let j = 0; j < nr; j++) acc[r + j] = f32view[outAt / 4 + j]!;
    }
    return true;
  }
  // Rows longer than a block: reduce block by block and combine the partial results.
  for (let r = 0; r < rows; r++) {
    let a = kind === 'sum' ? 0 : -Infinity;
    for (let i = 0; i < len; i += CHUNK) {
      const c = Math.min(CHUNK, len - i);
      f32view.set(x.subarray(r * len + i, r * len + i + c), 0);
      f(0, outAt, 1, c);
      if (kind === 'sum') a += f64view[outAt / 8]!;
      else {
        const m = f32view[outAt / 4]!;
        if (m > a || m !== m) a = m;
        if (a !== a) break;
      }
    }
    acc[r] = a;
  }
  return true;
}
