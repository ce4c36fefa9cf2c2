/**
 * Raw little-endian element bytes ⇄ IR tensors, for the formats that store tensors as plain
 * buffers (torch storages, safetensors). One copy in, one copy out; the copy also fixes
 * alignment, since an entry inside an archive may start at any byte.
 * Storage conventions: see src/ir/dtype.ts.
 */
import { dtypeByteSize, type DType, type TensorData } from '../ir/dtype.js';
import { RosettaError, type ErrorWhere } from '../ir/errors.js';
import { Tensor, checkedSize } from '../ir/tensor.js';

/** Element size in bytes for dtypes stored as whole bytes (refuses int4/uint4/string). */
export function elementBytes(dtype: DType, where: ErrorWhere = {}): number {
  const s = dtypeByteSize(dtype);
  if (!Number.isInteger(s) || s === 0) throw new RosettaError('E_UNSUPPORTED_DTYPE', `${dtype} has no fixed byte size in this format`, { where });
  return s;
}

/** A typed array of `dtype` over a fresh, aligned buffer holding `bytes` (which it takes ownership of). */
export function typedFromBytes(dtype: DType, bytes: Uint8Array): TensorData {
  const buf = bytes.buffer as ArrayBuffer;
  const o = bytes.byteOffset;
  const len = bytes.byteLength;
  switch (dtype) {
    case 'float32':
    case 'complex64':
      return new Float32Array(buf, o, len / 4);
    case 'float64':
    case 'complex128':
      return new Float64Array(buf, o, len / 8);
    case 'float16':
    case 'bfloat16':
    case 'uint16':
      return new Uint16Array(buf, o, len / 2);
    case 'int16':
      return new Int16Array(buf, o, len / 2);
    case 'int32':
      return new Int32Array(buf, o, len / 4);
    case 'uint32':
      return new Uint32Array(buf, o, len / 4);
    case 'int64':
      return new BigInt64Array(buf, o, len / 8);
    case 'uint64':
      return new BigUint64Array(buf, o, len / 8);
    case 'int8':
      return new Int8Array(buf, o, len);
    case 'uint8':
    case 'bool':
    case 'float8e4m3fn':
    case 'float8e4m3fnuz':
    case 'float8e5m2':
    case 'float8e5m2fnuz':
      return new Uint8Array(buf, o, len);
    default:
      throw new RosettaError('E_UNSUPPORTED_DTYPE', `cannot hold ${dtype} as raw bytes`);
  }
}

/** Reverse the byte order of each `unit`-byte word in place (big-endian storages). */
export function swapBytes(b: Uint8Array, unit: number): void {
  if (unit <= 1) return;
  for (let i = 0; i + unit <= b.length; i += unit) {
    for (let x = i, y = i + unit - 1; x < y; x++, y--) {
      const t = b[x]!;
      b[x] = b[y]!;
      b[y] = t;
    }
  }
}

/** Word size for byte swapping: complex numbers swap each component. */
export function swapUnit(dtype: DType): number {
  const s = dtypeByteSize(dtype);
  return dtype === 'complex64' || dtype === 'complex128' ? s / 2 : s;
}

/** Tensor from exactly `size × elementBytes` little-endian bytes (copied). Bools are normalised to 0/1. */
export function tensorFromLE(dtype: DType, shape: readonly number[], bytes: Uint8Array, where: ErrorWhere = {}): Tensor {
  const n = checkedSize(shape, 'tensor');
  const es = elementBytes(dtype, where);
  if (bytes.length !== n * es) {
    throw new RosettaError('E_BAD_FORMAT', `${dtype} tensor of shape [${shape.join(', ')}] needs ${n * es} bytes, found ${bytes.length}`, { where });
  }
  // `new Uint8Array(x)` always copies into a fresh, aligned buffer; `slice()` would not on a Node
  // Buffer (its slice is a view into a shared pool, possibly at an unaligned offset).
  const copy = new Uint8Array(bytes);
  if (dtype === 'bool') for (let i = 0; i < copy.length; i++) copy[i] = copy[i] ? 1 : 0;
  return new Tensor(dtype, shape, typedFromBytes(dtype, copy));
}

/** The tensor's elements as little-endian bytes (a view when possible, never modified). */
export function tensorToLE(t: Tensor, where: ErrorWhere = {}): Uint8Array {
  elementBytes(t.dtype, where);
  if (Array.isArray(t.data)) throw new RosettaError('E_UNSUPPORTED_DTYPE', 'string tensors have no raw byte form', { where });
  const d = t.data;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}
