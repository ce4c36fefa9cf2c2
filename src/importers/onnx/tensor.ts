/**
 * ONNX `TensorProto` / `SparseTensorProto` ⇄ IR `Tensor`, for every element type.
 *
 * Reading trusts nothing: dims are validated with `checkedSize` before anything is allocated, and
 * the data actually present (raw_data, the typed field, or external bytes) must match the declared
 * element count exactly (E_TRUNCATED when short, E_BAD_FORMAT when long).
 * Storage follows src/ir/dtype.ts: narrow floats as bits, int64 exact, int4/uint4 unpacked.
 * Spec: https://onnx.ai/onnx/repo-docs/IR.html#tensor-definition and onnx.proto's TensorProto
 * comments (which typed field holds which element type).
 */
import { allocData, dtypeByteSize, dtypeFromOnnx, dtypeToOnnx, type DType, type TensorData } from '../../ir/dtype.js';
import { RosettaError, type ErrorWhere } from '../../ir/errors.js';
import { Tensor, checkedSize } from '../../ir/tensor.js';
import {
  bytesToString,
  hasField,
  longToBigInt,
  longToBigUint,
  longToNumber,
  stringToBytes,
  type SparseTensorPb,
  type TensorPb,
} from '../../formats/onnx-proto.js';

/** Where external data comes from: `location` → the file's bytes (already read, already checked). */
export type ExternalFiles = ReadonlyMap<string, Uint8Array>;

export interface TensorReadContext {
  file: string;
  external?: ExternalFiles;
}

const EXTERNAL = 1;

/** Bytes the serialised (raw, little-endian) form of `n` elements of `dtype` occupies. */
export function rawByteLength(dtype: DType, n: number): number {
  if (dtype === 'int4' || dtype === 'uint4') return Math.ceil(n / 2);
  return n * dtypeByteSize(dtype);
}

function where(ctx: TensorReadContext, name: string | undefined): ErrorWhere {
  return { file: ctx.file, entry: name ? `tensor '${name}'` : undefined };
}

/** The `key → value` map of a tensor's `external_data` entries. */
export function externalDataInfo(pb: TensorPb): Record<string, string> {
  const info: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const e of pb.external_data ?? []) if (e.key) info[e.key] = e.value ?? '';
  return info;
}

export function isExternal(pb: TensorPb): boolean {
  return pb.data_location === EXTERNAL;
}

/** Decode one TensorProto. */
export function tensorFromProto(pb: TensorPb, ctx: TensorReadContext): Tensor {
  const name = pb.name;
  const code = pb.data_type ?? 0;
  const dtype = dtypeFromOnnx(code);
  if (!dtype) {
    throw new RosettaError('E_UNSUPPORTED_DTYPE', `tensor element type ${code} is ${code === 0 ? 'UNDEFINED' : 'not supported'}`, { where: where(ctx, name), hint: code === 23 || code === 24 ? 'FLOAT4E2M1/FLOAT8E8M0 tensors are not supported yet' : 'the file may be corrupt' });
  }
  const dims = (pb.dims ?? []).map((d) => longToNumber(d));
  const n = checkedSizeAt(dims, ctx, name);
  if (isExternal(pb)) return fromRaw(dtype, dims, n, externalBytes(pb, ctx), ctx, name);
  if (hasField(pb, 'raw_data') && dtype !== 'string') return fromRaw(dtype, dims, n, pb.raw_data!, ctx, name);
  return fromTypedFields(pb, dtype, dims, n, ctx);
}

function checkedSizeAt(dims: number[], ctx: TensorReadContext, name?: string): number {
  try {
    return checkedSize(dims, name ? `tensor '${name}'` : 'tensor');
  } catch (e) {
    const re = e as RosettaError;
    throw new RosettaError(re.code, re.message.replace(/^E_[A-Z_]+: /, ''), { where: where(ctx, name), hint: 'the file is corrupt or hostile' });
  }
}

function externalBytes(pb: TensorPb, ctx: TensorReadContext): Uint8Array {
  const info = externalDataInfo(pb);
  const loc = info['location'];
  if (!loc) throw new RosettaError('E_BAD_FORMAT', `external tensor has no 'location'`, { where: where(ctx, pb.name) });
  const file = ctx.external?.get(loc);
  if (!file) throw new RosettaError('E_IO', `external data file '${loc}' was not loaded`, { where: where(ctx, pb.name), hint: 'import the model through a FileSource with readSibling' });
  const offset = info['offset'] !== undefined ? Number(info['offset']) : 0;
  const hasLen = info['length'] !== undefined;
  const length = hasLen ? Number(info['length']) : file.length - offset;
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new RosettaError('E_BAD_FORMAT', `external data offset/length '${info['offset']}'/'${info['length']}' are not valid byte counts`, { where: where(ctx, pb.name) });
  }
  if (offset + length > file.length) {
    throw new RosettaError('E_TRUNCATED', `external data '${loc}' has ${file.length} bytes but the tensor needs bytes ${offset}..${offset + length}`, { where: where(ctx, pb.name), hint: 'the external data file is incomplete or does not belong to this model' });
  }
  return file.subarray(offset, offset + length);
}

/** Copy into a fresh, aligned buffer (Node Buffers may be pooled and unaligned). */
function alignedCopy(raw: Uint8Array): ArrayBuffer {
  const out = new Uint8Array(raw.length);
  out.set(raw);
  return out.buffer;
}

function fromRaw(dtype: DType, dims: number[], n: number, raw: Uint8Array, ctx: TensorReadContext, name?: string): Tensor {
  if (dtype === 'string') throw new RosettaError('E_BAD_FORMAT', 'string tensors cannot use raw_data or external data', { where: where(ctx, name) });
  const need = rawByteLength(dtype, n);
  if (raw.length < need) {
    throw new RosettaError('E_TRUNCATED', `${dtype} tensor of shape [${dims.join(', ')}] needs ${need} bytes of data but has ${raw.length}`, { where: where(ctx, name), hint: 'the file is truncated or corrupt' });
  }
  if (raw.length > need) {
    throw new RosettaError('E_BAD_FORMAT', `${dtype} tensor of shape [${dims.join(', ')}] needs ${need} bytes of data but has ${raw.length}`, { where: where(ctx, name), hint: 'the declared shape does not match the data' });
  }
  if (dtype === 'int4' || dtype === 'uint4') return new Tensor(dtype, dims, unpack4(raw, n, dtype === 'int4'));
  if (dtype === 'bool') {
    const d = new Uint8Array(n);
    for (let i = 0; i < n; i++) d[i] = raw[i] ? 1 : 0;
    return new Tensor(dtype, dims, d);
  }
  const buf = alignedCopy(raw);
  const data = viewAs(dtype, buf);
  return new Tensor(dtype, dims, data);
}

/** A typed view over little-endian bytes, as the storage class of `dtype`. */
function viewAs(dtype: DType, buf: ArrayBuffer): TensorData {
  const proto = allocData(dtype, 0);
  const Ctor = proto.constructor as new (b: ArrayBuffer) => TensorData;
  return new Ctor(buf);
}

function unpack4(raw: Uint8Array | ArrayLike<number>, n: number, signed: boolean): Int8Array | Uint8Array {
  const out = signed ? new Int8Array(n) : new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const byte = raw[i >> 1]! & 0xff;
    let v = i & 1 ? byte >> 4 : byte & 0x0f;
    if (signed && v & 0x8) v -= 16;
    out[i] = v;
  }
  return out;
}

function countError(ctx: TensorReadContext, pb: TensorPb, dtype: DType, field: string, have: number, need: number): RosettaError {
  const short = have < need;
  return new RosettaError(short ? 'E_TRUNCATED' : 'E_BAD_FORMAT', `${dtype} tensor of shape [${(pb.dims ?? []).map((d) => longToNumber(d)).join(', ')}] needs ${need} values in ${field} but has ${have}`, { where: where(ctx, pb.name), hint: 'the declared shape does not match the data' });
}

function fromTypedFields(pb: TensorPb, dtype: DType, dims: number[], n: number, ctx: TensorReadContext): Tensor {
  const take = <T>(field: keyof TensorPb, arr: T[] | undefined, need: number): T[] => {
    const a = arr ?? [];
    if (a.length !== need) throw countError(ctx, pb, dtype, field, a.length, need);
    return a;
  };
  switch (dtype) {
    case 'float32':
      return new Tensor(dtype, dims, Float32Array.from(take('float_data', pb.float_data, n)));
    case 'complex64':
      return new Tensor(dtype, dims, Float32Array.from(take('float_data', pb.float_data, 2 * n)));
    case 'float64':
      return new Tensor(dtype, dims, Float64Array.from(take('double_data', pb.double_data, n)));
    case 'complex128':
      return new Tensor(dtype, dims, Float64Array.from(take('double_data', pb.double_data, 2 * n)));
    case 'int64':
      return new Tensor(dtype, dims, BigInt64Array.from(take('int64_data', pb.int64_data, n), (v) => longToBigInt(v)));
    case 'uint64':
      return new Tensor(dtype, dims, BigUint64Array.from(take('uint64_data', pb.uint64_data, n), (v) => longToBigUint(v)));
    case 'uint32':
      return new Tensor(dtype, dims, Uint32Array.from(take('uint64_data', pb.uint64_data, n), (v) => Number(longToBigUint(v) & 0xffffffffn)));
    case 'string':
      return new Tensor(dtype, dims, take('string_data', pb.string_data, n).map((b) => bytesToString(b)));
    case 'int4':
    case 'uint4':
      return new Tensor(dtype, dims, unpack4(take('int32_data', pb.int32_data, Math.ceil(n / 2)), n, dtype === 'int4'));
    case 'bool': {
      const src = take('int32_data', pb.int32_data, n);
      return new Tensor(dtype, dims, Uint8Array.from(src, (v) => (v ? 1 : 0)));
    }
    default: {
      // int8/16/32, uint8/16, float16/bfloat16/float8 bits: one int32_data entry per element.
      const src = take('int32_data', pb.int32_data, n);
      const out = allocData(dtype, n) as Int8Array | Int16Array | Int32Array | Uint8Array | Uint16Array;
      for (let i = 0; i < n; i++) out[i] = src[i]!;
      return new Tensor(dtype, dims, out);
    }
  }
}

/**
 * Decode a COO SparseTensorProto into a dense tensor. Indices are either [NNZ, rank] coordinates
 * or [NNZ] linear positions; every index is bounds-checked.
 */
export function sparseToDense(sp: SparseTensorPb, ctx: TensorReadContext): Tensor {
  const dims = (sp.dims ?? []).map((d) => longToNumber(d));
  const n = checkedSizeAt(dims, ctx, sp.values?.name);
  if (!sp.values) throw new RosettaError('E_BAD_FORMAT', 'sparse tensor has no values', { where: { file: ctx.file } });
  const values = tensorFromProto(sp.values, ctx);
  const nnz = values.size;
  const out = new Tensor(values.dtype, dims);
  const name = sp.values.name;
  if (nnz === 0) return out;
  if (!sp.indices) throw new RosettaError('E_BAD_FORMAT', 'sparse tensor has values but no indices', { where: where(ctx, name) });
  const idx = tensorFromProto(sp.indices, ctx);
  const rank = dims.length;
  const linear = idx.rank === 1;
  if (linear ? idx.size !== nnz : idx.rank !== 2 || idx.shape[0] !== nnz || idx.shape[1] !== rank) {
    throw new RosettaError('E_BAD_FORMAT', `sparse indices of shape [${idx.shape.join(', ')}] do not fit ${nnz} values of rank ${rank}`, { where: where(ctx, name) });
  }
  const strides = new Array<number>(rank);
  let acc = 1;
  for (let r = rank - 1; r >= 0; r--) {
    strides[r] = acc;
    acc *= dims[r]!;
  }
  const iv = idx.toNumbers();
  const src = values.data as unknown as ArrayLike<unknown>;
  const dst = out.data as unknown as { [k: number]: unknown };
  for (let k = 0; k < nnz; k++) {
    let pos = 0;
    if (linear) pos = iv[k]!;
    else {
      for (let r = 0; r < rank; r++) {
        const c = iv[k * rank + r]!;
        if (c < 0 || c >= dims[r]!) pos = -1;
        if (pos >= 0) pos += c * strides[r]!;
      }
    }
    if (!(pos >= 0 && pos < n)) throw new RosettaError('E_BAD_FORMAT', `sparse index ${k} is outside the dense shape [${dims.join(', ')}]`, { where: where(ctx, name) });
    if (values.dtype === 'complex64' || values.dtype === 'complex128') {
      dst[2 * pos] = src[2 * k];
      dst[2 * pos + 1] = src[2 * k + 1];
    } else dst[pos] = src[k];
  }
  return out;
}

/* ----------------------------------------------------------------------------------------------
 * Writing
 * -------------------------------------------------------------------------------------------- */

/**
 * Little-endian raw bytes of a (non-string) tensor, int4/uint4 packed two per byte, low nibble
 * first. A view of the tensor's storage where no packing is needed (callers only serialise it).
 */
export function tensorRawBytes(t: Tensor): Uint8Array {
  if (t.dtype === 'int4' || t.dtype === 'uint4') {
    const src = t.data as Int8Array | Uint8Array;
    const out = new Uint8Array(Math.ceil(src.length / 2));
    for (let i = 0; i < src.length; i++) out[i >> 1]! |= (src[i]! & 0x0f) << (i & 1 ? 4 : 0);
    return out;
  }
  const d = t.data as Exclude<TensorData, string[]>;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** A plain TensorProto object ready for `encodeOnnxMessage` (raw_data for all but strings). */
export function tensorToProto(t: Tensor, name: string): TensorPb & Record<string, unknown> {
  const pb: TensorPb & Record<string, unknown> = { name, dims: t.shape.map((d) => d), data_type: dtypeToOnnx(t.dtype) };
  if (t.dtype === 'string') pb.string_data = (t.data as string[]).map((s) => stringToBytes(s));
  else pb.raw_data = tensorRawBytes(t);
  return pb;
}
