/**
 * Element types of the IR: every ONNX TensorProto.DataType, named in lower case.
 *
 * Storage conventions (the one place they are defined):
 * - float16, bfloat16 and the float8 types are stored as their raw bit patterns (Uint16Array /
 *   Uint8Array); use `src/ir/float-bits.ts` to convert. Node 20 has no Float16Array.
 * - int64/uint64 use BigInt64Array/BigUint64Array so values round-trip exactly.
 * - bool is a Uint8Array of 0/1.
 * - int4/uint4 are stored unpacked, one element per byte (Int8Array/Uint8Array); packing is a
 *   serialisation concern of the ONNX reader/writer.
 * - complex64/complex128 are interleaved (re, im) Float32Array/Float64Array of twice the length.
 * - string is a plain `string[]`.
 * Spec: https://onnx.ai/onnx/intro/concepts.html#element-type
 */

import { pooledArray } from './buffer-pool.js';

export type DType =
  | 'float32'
  | 'uint8'
  | 'int8'
  | 'uint16'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'string'
  | 'bool'
  | 'float16'
  | 'float64'
  | 'uint32'
  | 'uint64'
  | 'complex64'
  | 'complex128'
  | 'bfloat16'
  | 'float8e4m3fn'
  | 'float8e4m3fnuz'
  | 'float8e5m2'
  | 'float8e5m2fnuz'
  | 'uint4'
  | 'int4';

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export type TensorData = TypedArray | string[];

/** ONNX TensorProto.DataType code ⇄ DType. Field numbers from onnx.proto. */
export const ONNX_DTYPE_CODES: Readonly<Record<DType, number>> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  string: 8,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
  complex64: 14,
  complex128: 15,
  bfloat16: 16,
  float8e4m3fn: 17,
  float8e4m3fnuz: 18,
  float8e5m2: 19,
  float8e5m2fnuz: 20,
  uint4: 21,
  int4: 22,
};

const CODE_TO_DTYPE = new Map<number, DType>(Object.entries(ONNX_DTYPE_CODES).map(([k, v]) => [v, k as DType]));

export function dtypeFromOnnx(code: number): DType | undefined {
  return CODE_TO_DTYPE.get(code);
}

export function dtypeToOnnx(dtype: DType): number {
  return ONNX_DTYPE_CODES[dtype];
}

/** Bytes per element in the *serialised* little-endian form (int4/uint4: 0.5, string: 0 = variable). */
export function dtypeByteSize(dtype: DType): number {
  switch (dtype) {
    case 'float64':
    case 'int64':
    case 'uint64':
    case 'complex64':
      return 8;
    case 'complex128':
      return 16;
    case 'float32':
    case 'int32':
    case 'uint32':
      return 4;
    case 'float16':
    case 'bfloat16':
    case 'int16':
    case 'uint16':
      return 2;
    case 'int8':
    case 'uint8':
    case 'bool':
    case 'float8e4m3fn':
    case 'float8e4m3fnuz':
    case 'float8e5m2':
    case 'float8e5m2fnuz':
      return 1;
    case 'int4':
    case 'uint4':
      return 0.5;
    case 'string':
      return 0;
  }
}

export function isFloatDType(d: DType): boolean {
  return d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16' || d.startsWith('float8');
}

export function isIntDType(d: DType): boolean {
  return d === 'int8' || d === 'int16' || d === 'int32' || d === 'int64' || d === 'uint8' || d === 'uint16' || d === 'uint32' || d === 'uint64' || d === 'int4' || d === 'uint4';
}

export function isBigIntDType(d: DType): boolean {
  return d === 'int64' || d === 'uint64';
}

/** Dtypes whose storage holds raw bits rather than values (convert via float-bits.ts). */
export function isBitsDType(d: DType): boolean {
  return d === 'float16' || d === 'bfloat16' || d.startsWith('float8');
}

/**
 * Allocate storage for `n` elements of `dtype`, zero-filled unless `zeroed` is false (then the
 * caller must write every element before anything reads it). Caller must have validated `n`.
 */
export function allocData(dtype: DType, n: number, zeroed = true): TensorData {
  // Large numeric buffers come from the pool (buffer-pool.ts), which the executor refills with
  // intermediate values it knows to be dead.
  switch (dtype) {
    case 'float32':
      return pooledArray(Float32Array, n, zeroed);
    case 'float64':
      return pooledArray(Float64Array, n, zeroed);
    case 'float16':
    case 'bfloat16':
    case 'uint16':
      return new Uint16Array(n);
    case 'int8':
    case 'int4':
      return new Int8Array(n);
    case 'int16':
      return new Int16Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'int64':
      return pooledArray(BigInt64Array, n, zeroed);
    case 'uint64':
      return new BigUint64Array(n);
    case 'uint32':
      return new Uint32Array(n);
    case 'bool':
      return pooledArray(Uint8Array, n, zeroed);
    case 'uint8':
    case 'uint4':
    case 'float8e4m3fn':
    case 'float8e4m3fnuz':
    case 'float8e5m2':
    case 'float8e5m2fnuz':
      return new Uint8Array(n);
    case 'complex64':
      return new Float32Array(2 * n);
    case 'complex128':
      return new Float64Array(2 * n);
    case 'string':
      return new Array<string>(n).fill('');
  }
}
