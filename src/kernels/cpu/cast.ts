/**
 * CPU kernels: Cast and CastLike between every IR dtype — plain numbers, bool, the narrow floats
 * (float16, bfloat16, float8 with the `saturate` attribute of opset 19), int64/uint64 as bigints,
 * int4/uint4, and strings (both directions).
 *
 * Conversions follow the ONNX spec and its numpy-based reference: float → int truncates toward
 * zero and wraps to the target width (int4/uint4 round half away from zero first, as onnxruntime); anything non-zero (NaN included) is `true`; float → string
 * writes the shortest decimal that round-trips in the source precision, numpy style ('0.5',
 * '1e-05', 'nan', 'inf'); string → number accepts 'NaN', 'INF', '+INF', '-INF' in any case.
 * Spec: https://onnx.ai/onnx/operators/onnx__Cast.html
 */
import { allocData, dtypeFromOnnx, isBigIntDType, isBitsDType, type DType } from '../../ir/dtype.js';
import { RosettaError } from '../../ir/errors.js';
import { f32ToBf16, f32ToF16, f32ToF8, type Float8Kind } from '../../ir/float-bits.js';
import { Tensor } from '../../ir/tensor.js';
import { encodeBits, valuesOf, type BigArray, type NumArray } from './elementwise-core.js';
import type { CpuKernel, KernelContext, KernelTable } from './kernel.js';
import { dtypeError, tensorIn } from './util.js';

/** Shortest decimal string that rounds back to the same value in the source precision. */
function shortest(x: number, from: DType): string {
  const same = (y: number): boolean => {
    switch (from) {
      case 'float16':
        return f32ToF16(y) === f32ToF16(x);
      case 'bfloat16':
        return f32ToBf16(y) === f32ToBf16(x);
      case 'float32':
        return Math.fround(y) === x;
      default:
        return isBitsDType(from) ? f32ToF8(y, from as Float8Kind) === f32ToF8(x, from as Float8Kind) : y === x;
    }
  };
  if (from === 'float64') return String(x);
  for (let p = 1; p < 9; p++) {
    const s = x.toPrecision(p);
    if (same(Number(s))) return String(Number(s));
  }
  return String(Number(x.toPrecision(9)));
}

/**
 * numpy's str() of a float of dtype `from`: the shortest digits that round-trip in that dtype,
 * positional for 1e-4 ≤ |x| < 1e16 (with '.0' on integers), else scientific ('1e-05').
 */
export function formatFloat(x: number, from: DType): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const digits = shortest(x, from);
  const v = Number(digits);
  // numpy picks the notation from the exact value (float32 0.0001 is 9.99…e-05 → '1e-04').
  const a = Math.abs(x);
  if (a >= 1e-4 && a < 1e16) {
    let s = String(v);
    if (!s.includes('.') && !s.includes('e')) s += '.0';
    return s;
  }
  // Scientific: mantissa digits of the shortest repr, exponent with sign and at least 2 digits.
  const [m, e] = v.toExponential().split('e') as [string, string];
  const sign = e.startsWith('-') ? '-' : '+';
  const ed = e.replace(/^[+-]/, '').padStart(2, '0');
  return `${m}e${sign}${ed}`;
}

/** Parse a numeric string (spec: 'NaN', 'INF', '+INF', '-INF' accepted, any case). */
export function parseNumber(s: string): number {
  const t = s.trim().toLowerCase();
  if (t === 'nan' || t === '+nan' || t === '-nan') return NaN;
  if (t === 'inf' || t === '+inf' || t === 'infinity' || t === '+infinity') return Infinity;
  if (t === '-inf' || t === '-infinity') return -Infinity;
  return t === '' ? NaN : Number(t);
}

function parseBigInt(s: string): bigint {
  const t = s.trim();
  if (/^[+-]?\d+$/.test(t)) return BigInt(t);
  const v = parseNumber(t);
  return Number.isFinite(v) ? BigInt(Math.trunc(v)) : 0n;
}

// int4/uint4: round half away from zero, then wrap to 4 bits — what onnxruntime does and what the
// ONNX ≥ 1.17 backend tests expect for out-of-range integers (ml_dtypes casts, -9 → 7). ONNX
// 1.15–1.16's reference saturated instead (np.rint(np.clip(x))); we follow the current behaviour.
const round4 = (x: number): number => (x !== x ? 0 : Math.sign(x) * Math.floor(Math.abs(x) + 0.5));
const toUint4 = (x: number): number => ((round4(x) % 16) + 16) % 16;
const toInt4 = (x: number): number => {
  const v = toUint4(x);
  return v >= 8 ? v - 16 : v;
};

/** Convert tensor `t` to `to` (saturate applies to float8 targets only). */
export function castTensor(t: Tensor, to: DType, saturate: boolean, ctx: KernelContext): Tensor {
  const from = t.dtype;
  if (from === 'complex64' || from === 'complex128' || to === 'complex64' || to === 'complex128') {
    if (from === to) return new Tensor(to, t.shape, t.data.slice());
    throw dtypeError(ctx, from === 'complex64' || from === 'complex128' ? from : to);
  }
  if (from === to && !(to === 'float8e4m3fn' || to === 'float8e4m3fnuz' || to === 'float8e5m2' || to === 'float8e5m2fnuz')) {
    return new Tensor(to, t.shape, t.data.slice());
  }
  const n = t.size;

  // → string
  if (to === 'string') {
    const out = new Array<string>(n);
    if (isBigIntDType(from)) {
      const x = t.data as BigArray;
      for (let i = 0; i < n; i++) out[i] = String(x[i]);
    } else if (from === 'bool') {
      const x = t.data as Uint8Array;
      for (let i = 0; i < n; i++) out[i] = x[i] ? 'True' : 'False';
    } else {
      const x = valuesOf(t) as NumArray;
      const isFloat = from === 'float64' || from === 'float32' || isBitsDType(from);
      for (let i = 0; i < n; i++) out[i] = isFloat ? formatFloat(x[i]!, from) : String(x[i]);
    }
    return new Tensor('string', t.shape, out);
  }

  // string →
  if (from === 'string') {
    const x = t.data as string[];
    if (isBigIntDType(to)) {
      const out = allocData(to, n) as BigArray;
      for (let i = 0; i < n; i++) out[i] = parseBigInt(x[i]!);
      return new Tensor(to, t.shape, out);
    }
    const vals = new Float64Array(n);
    for (let i = 0; i < n; i++) vals[i] = parseNumber(x[i]!);
    return fromNumbers(vals, to, t.shape, saturate);
  }

  // bigint →
  if (isBigIntDType(from)) {
    const x = t.data as BigArray;
    if (isBigIntDType(to)) {
      const out = allocData(to, n) as BigArray;
      for (let i = 0; i < n; i++) out[i] = x[i]!;
      return new Tensor(to, t.shape, out);
    }
    if (to === 'bool') {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = x[i] !== 0n ? 1 : 0;
      return new Tensor('bool', t.shape, out);
    }
    if (to === 'int32' || to === 'uint32' || to === 'int16' || to === 'uint16' || to === 'int8' || to === 'uint8') {
      // Wrap exactly through the low 32 bits (a double would lose them above 2^53).
      const out = allocData(to, n) as NumArray;
      for (let i = 0; i < n; i++) out[i] = Number(BigInt.asIntN(32, x[i]!));
      return new Tensor(to, t.shape, out);
    }
    const vals = new Float64Array(n);
    for (let i = 0; i < n; i++) vals[i] = Number(x[i]!);
    return fromNumbers(vals, to, t.shape, saturate);
  }

  // numbers (plain, bool, narrow floats) →
  return fromNumbers(valuesOf(t) as NumArray, to, t.shape, saturate);
}

/** Store JS numbers as `to`: truncation and wrapping by the typed array, bool as `!= 0`, narrow floats encoded. */
function fromNumbers(x: ArrayLike<number>, to: DType, shape: readonly number[], saturate: boolean): Tensor {
  const n = x.length;
  if (isBitsDType(to)) return new Tensor(to, shape, encodeBits(to, x, saturate));
  if (isBigIntDType(to)) {
    const out = allocData(to, n) as BigArray;
    for (let i = 0; i < n; i++) {
      const v = x[i]!;
      out[i] = Number.isFinite(v) ? BigInt(Math.trunc(v)) : to === 'int64' ? -(2n ** 63n) : 0n;
    }
    return new Tensor(to, shape, out);
  }
  const out = allocData(to, n) as NumArray;
  if (to === 'bool') for (let i = 0; i < n; i++) out[i] = x[i] !== 0 ? 1 : 0;
  else if (to === 'int4') for (let i = 0; i < n; i++) out[i] = toInt4(x[i]!);
  else if (to === 'uint4') for (let i = 0; i < n; i++) out[i] = toUint4(x[i]!);
  else if (to === 'float32' || to === 'float64') for (let i = 0; i < n; i++) out[i] = x[i]!;
  else for (let i = 0; i < n; i++) out[i] = Math.trunc(x[i]!);
  return new Tensor(to, shape, out);
}

const castKernel: CpuKernel = (inputs, ctx) => {
  const x = tensorIn(inputs, 0, ctx);
  const code = ctx.attrs.int('to');
  const to = dtypeFromOnnx(code);
  if (!to) throw new RosettaError('E_INVALID_ATTR', `Cast 'to' = ${code} is not an ONNX element type`, { where: { node: ctx.node.name }, hint: 'Use a TensorProto.DataType code (1 = FLOAT, 7 = INT64, …)' });
  return [castTensor(x, to, ctx.attrs.int('saturate', 1) !== 0, ctx)];
};

const castLikeKernel: CpuKernel = (inputs, ctx) => {
  const x = tensorIn(inputs, 0, ctx);
  const like = tensorIn(inputs, 1, ctx);
  return [castTensor(x, like.dtype, ctx.attrs.int('saturate', 1) !== 0, ctx)];
};

export const castKernels: KernelTable = {
  Cast: castKernel,
  CastLike: castLikeKernel,
};
