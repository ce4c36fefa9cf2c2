/**
 * Host tensors: a dtype, a shape and flat row-major (C order) storage.
 * This is the value type every format reader produces and the CPU backend computes on.
 * See `dtype.ts` for how each dtype is stored.
 */
import { allocData, type DType, type TensorData, isBitsDType, isBigIntDType } from './dtype.js';
import { RosettaError } from './errors.js';
import { bf16ToF32, f16ToF32, f8ToF32, f32ToBf16, f32ToF16, f32ToF8, type Float8Kind } from './float-bits.js';

/** Largest element count we are willing to allocate from declared (untrusted) sizes: 2^31-1. */
export const MAX_ELEMENTS = 0x7fffffff;

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Validate a shape coming from untrusted input; returns its element count. */
export function checkedSize(shape: readonly number[], what = 'tensor'): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RosettaError('E_BAD_FORMAT', `${what} has invalid dimension ${d} in shape [${shape.join(', ')}]`);
    n *= d;
    if (n > MAX_ELEMENTS) throw new RosettaError('E_TOO_LARGE', `${what} declares ${shape.join('×')} elements, above the limit of ${MAX_ELEMENTS}`);
  }
  return n;
}

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export class Tensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: TensorData;

  constructor(dtype: DType, shape: readonly number[], data?: TensorData) {
    this.dtype = dtype;
    this.shape = shape.slice();
    const n = sizeOf(shape);
    if (data === undefined) {
      this.data = allocData(dtype, n);
    } else {
      const expect = dtype === 'complex64' || dtype === 'complex128' ? 2 * n : n;
      if (data.length !== expect) {
        throw new RosettaError('E_SHAPE_MISMATCH', `${dtype} tensor of shape [${shape.join(', ')}] needs ${expect} elements, got ${data.length}`);
      }
      this.data = data;
    }
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Same storage, new shape (element count must match). */
  reshape(shape: readonly number[]): Tensor {
    return new Tensor(this.dtype, shape, this.data);
  }

  /** Element `i` as a JS number (bigints converted, narrow floats decoded). For tests and small tensors. */
  get(i: number): number {
    return elementToNumber(this, i);
  }

  /** Whole tensor as float64 numbers (decodes narrow floats, converts bigints). */
  toNumbers(): number[] {
    const out = new Array<number>(this.size);
    for (let i = 0; i < out.length; i++) out[i] = elementToNumber(this, i);
    return out;
  }

  static scalar(dtype: DType, value: number | bigint | string | boolean): Tensor {
    return Tensor.from(dtype, [], [value]);
  }

  /** Build a tensor from JS values of any kind, encoding narrow floats and bigints as needed. */
  static from(dtype: DType, shape: readonly number[], values: ArrayLike<number | bigint | string | boolean>): Tensor {
    const t = new Tensor(dtype, shape);
    if (values.length !== t.size) throw new RosettaError('E_SHAPE_MISMATCH', `Tensor.from: ${values.length} values for shape [${shape.join(', ')}]`);
    for (let i = 0; i < values.length; i++) setElement(t, i, values[i]!);
    return t;
  }
}

export function elementToNumber(t: Tensor, i: number): number {
  const v = (t.data as ArrayLike<unknown>)[i];
  switch (t.dtype) {
    case 'float16':
      return f16ToF32(v as number);
    case 'bfloat16':
      return bf16ToF32(v as number);
    case 'float8e4m3fn':
    case 'float8e4m3fnuz':
    case 'float8e5m2':
    case 'float8e5m2fnuz':
      return f8ToF32(v as number, t.dtype);
    case 'int64':
    case 'uint64':
      return Number(v as bigint);
    case 'string':
      return Number(v);
    default:
      return v as number;
  }
}

export function setElement(t: Tensor, i: number, v: number | bigint | string | boolean): void {
  const d = t.data as unknown as { [k: number]: unknown };
  if (t.dtype === 'string') {
    d[i] = String(v);
    return;
  }
  if (isBigIntDType(t.dtype)) {
    d[i] = typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)));
    return;
  }
  const x = typeof v === 'boolean' ? (v ? 1 : 0) : Number(v);
  if (isBitsDType(t.dtype)) {
    d[i] = t.dtype === 'float16' ? f32ToF16(x) : t.dtype === 'bfloat16' ? f32ToBf16(x) : f32ToF8(x, t.dtype as Float8Kind);
    return;
  }
  d[i] = t.dtype === 'bool' ? (x ? 1 : 0) : x;
}

/** Float32 copy of a numeric tensor's values (decoding float16/bfloat16/float8, converting ints). */
export function toFloat32Array(t: Tensor): Float32Array {
  if (t.dtype === 'float32') return t.data as Float32Array;
  const out = new Float32Array(t.size);
  for (let i = 0; i < out.length; i++) out[i] = elementToNumber(t, i);
  return out;
}

/** Bitwise equality of two tensors (dtype, shape, every stored element; NaN payloads compared as bits). */
export function tensorsBitEqual(a: Tensor, b: Tensor): boolean {
  if (a.dtype !== b.dtype || a.shape.length !== b.shape.length) return false;
  for (let i = 0; i < a.shape.length; i++) if (a.shape[i] !== b.shape[i]) return false;
  if (Array.isArray(a.data) || Array.isArray(b.data)) {
    const x = a.data as string[];
    const y = b.data as string[];
    return x.length === y.length && x.every((s, i) => s === y[i]);
  }
  const x = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const y = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}
