/**
 * Bit-exact conversions between float32 and the narrow float formats the IR stores as bits:
 * IEEE float16, bfloat16, and the OCP/ONNX float8 variants (E4M3FN, E4M3FNUZ, E5M2, E5M2FNUZ).
 * Rounding is round-to-nearest-even, as in ONNX's reference implementation.
 * Spec: https://onnx.ai/onnx/technical/float8.html
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function float32Bits(x: number): number {
  f32[0] = x;
  return u32[0]!;
}

export function bitsToFloat32(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0]!;
}

/** float16 bits → number. */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** number → float16 bits, round to nearest even (via float32 first, like numpy's astype chain). */
export function f32ToF16(x: number): number {
  const b = float32Bits(x);
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

export function bf16ToF32(h: number): number {
  return bitsToFloat32((h & 0xffff) << 16);
}

/** number → bfloat16 bits, round to nearest even; NaN stays NaN. */
export function f32ToBf16(x: number): number {
  const b = float32Bits(x);
  if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) | 0x40) & 0xffff;
  const rounded = b + 0x7fff + ((b >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

export type Float8Kind = 'float8e4m3fn' | 'float8e4m3fnuz' | 'float8e5m2' | 'float8e5m2fnuz';

interface F8Spec {
  expBits: number;
  manBits: number;
  bias: number;
  /** NaN encoding handling: 'fn' = only S.1111.111 is NaN (no inf); 'fnuz' = 0x80 is NaN; 'ieee' = e5m2 IEEE-like. */
  mode: 'fn' | 'fnuz' | 'ieee';
  maxVal: number;
}

const F8: Record<Float8Kind, F8Spec> = {
  float8e4m3fn: { expBits: 4, manBits: 3, bias: 7, mode: 'fn', maxVal: 448 },
  float8e4m3fnuz: { expBits: 4, manBits: 3, bias: 8, mode: 'fnuz', maxVal: 240 },
  float8e5m2: { expBits: 5, manBits: 2, bias: 15, mode: 'ieee', maxVal: 57344 },
  float8e5m2fnuz: { expBits: 5, manBits: 2, bias: 16, mode: 'fnuz', maxVal: 57344 },
};

export function f8ToF32(bits: number, kind: Float8Kind): number {
  const s = F8[kind];
  const b = bits & 0xff;
  if (s.mode === 'fnuz' && b === 0x80) return NaN;
  const sign = b & 0x80 ? -1 : 1;
  const e = (b >> s.manBits) & ((1 << s.expBits) - 1);
  const m = b & ((1 << s.manBits) - 1);
  if (s.mode === 'fn' && e === (1 << s.expBits) - 1 && m === (1 << s.manBits) - 1) return NaN;
  if (s.mode === 'ieee' && e === (1 << s.expBits) - 1) return m ? NaN : sign * Infinity;
  if (e === 0) return sign * m * 2 ** (1 - s.bias - s.manBits);
  return sign * (1 + m / (1 << s.manBits)) * 2 ** (e - s.bias);
}

/**
 * number → float8 bits with round-to-nearest-even. `saturate` (ONNX Cast default) clamps
 * out-of-range finite values (and ±inf for the fn/fnuz types) to ±max instead of inf/NaN.
 */
export function f32ToF8(x: number, kind: Float8Kind, saturate = true): number {
  const s = F8[kind];
  const xf = Math.fround(x);
  if (Number.isNaN(xf)) return s.mode === 'fnuz' ? 0x80 : s.mode === 'fn' ? 0x7f : 0x7f;
  const signBit = xf < 0 || Object.is(xf, -0) ? 0x80 : 0;
  const a = Math.abs(xf);
  const maxBits = s.mode === 'fn' ? 0x7e : s.mode === 'fnuz' ? 0x7f : 0x7b;
  if (!Number.isFinite(a)) {
    if (saturate) return signBit | maxBits;
    return s.mode === 'ieee' ? signBit | 0x7c : s.mode === 'fnuz' ? 0x80 : signBit | 0x7f;
  }
  // Enumerate by rounding against the representable grid: exact and simple for 8-bit formats.
  const minExp = 1 - s.bias;
  let e = a === 0 ? minExp : Math.max(minExp, Math.floor(Math.log2(a)));
  if (a !== 0 && 2 ** e > a) e--; // guard log2 rounding
  if (e < minExp) e = minExp;
  const step = 2 ** (e - s.manBits);
  let q = a / step;
  let qi = Math.floor(q);
  const frac = q - qi;
  if (frac > 0.5 || (frac === 0.5 && qi & 1)) qi++;
  let val = qi * step;
  if (val > s.maxVal) {
    if (saturate) return signBit | maxBits;
    return s.mode === 'ieee' ? signBit | 0x7c : s.mode === 'fnuz' ? 0x80 : signBit | 0x7f;
  }
  if (val === 0) return s.mode === 'fnuz' ? 0 : signBit;
  // encode val
  let ee = Math.floor(Math.log2(val));
  if (2 ** ee > val) ee--;
  if (2 ** (ee + 1) <= val) ee++;
  let biased = ee + s.bias;
  let mant: number;
  if (biased <= 0) {
    biased = 0;
    mant = Math.round(val / 2 ** (1 - s.bias - s.manBits));
  } else {
    mant = Math.round((val / 2 ** ee - 1) * (1 << s.manBits));
  }
  void q;
  return signBit | (biased << s.manBits) | mant;
}
