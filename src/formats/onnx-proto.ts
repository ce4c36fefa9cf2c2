/**
 * ONNX protobuf container: bytes ⇄ plain decoded messages, no IR. The schema is
 * `proto/onnx.proto` (embedded via the generated `onnx-schema.ts`) parsed once with protobufjs 8.
 *
 * Why this layer exists: protobufjs throws plain `Error`/`RangeError` on bad bytes and decodes
 * int64 as `Long`; here every failure becomes a `RosettaError` naming the file and every int64 can
 * be read exactly (`longToBigInt`) or as a checked number (`longToNumber`).
 * Nesting depth is bounded by protobufjs' recursion limit (100 messages, like protoc); the importer
 * adds its own, tighter subgraph-depth limit.
 * Spec: https://onnx.ai/onnx/repo-docs/IR.html
 */
import protobuf from 'protobufjs';
import { RosettaError, wrapError } from '../ir/errors.js';
import { ONNX_PROTO_TEXT } from './onnx-schema.js';

/** An int64 as protobufjs hands it over: a Long when `long` is installed, else a number. */
export type Int64Like = number | protobuf.Long | string | bigint;

/* Decoded message shapes (snake_case, as in onnx.proto). Only fields Rosetta reads are typed. */

export interface StringStringEntry {
  key?: string;
  value?: string;
}
export interface OperatorSetIdPb {
  domain?: string;
  version?: Int64Like;
}
export interface TensorShapeDimPb {
  dim_value?: Int64Like;
  dim_param?: string;
  denotation?: string;
  value?: 'dim_value' | 'dim_param';
}
export interface TypeProtoPb {
  tensor_type?: { elem_type?: number; shape?: { dim?: TensorShapeDimPb[] } };
  sequence_type?: { elem_type?: TypeProtoPb };
  map_type?: { key_type?: number; value_type?: TypeProtoPb };
  optional_type?: { elem_type?: TypeProtoPb };
  sparse_tensor_type?: { elem_type?: number; shape?: { dim?: TensorShapeDimPb[] } };
  value?: string;
  denotation?: string;
}
export interface ValueInfoPb {
  name?: string;
  type?: TypeProtoPb;
  doc_string?: string;
}
export interface TensorPb {
  dims?: Int64Like[];
  data_type?: number;
  segment?: unknown;
  float_data?: number[];
  int32_data?: number[];
  string_data?: Uint8Array[];
  int64_data?: Int64Like[];
  name?: string;
  doc_string?: string;
  raw_data?: Uint8Array;
  external_data?: StringStringEntry[];
  data_location?: number;
  double_data?: number[];
  uint64_data?: Int64Like[];
}
export interface SparseTensorPb {
  values?: TensorPb;
  indices?: TensorPb;
  dims?: Int64Like[];
}
export interface AttributePb {
  name?: string;
  ref_attr_name?: string;
  doc_string?: string;
  type?: number;
  f?: number;
  i?: Int64Like;
  s?: Uint8Array;
  t?: TensorPb;
  g?: GraphPb;
  sparse_tensor?: SparseTensorPb;
  tp?: TypeProtoPb;
  floats?: number[];
  ints?: Int64Like[];
  strings?: Uint8Array[];
  tensors?: TensorPb[];
  graphs?: GraphPb[];
  sparse_tensors?: SparseTensorPb[];
  type_protos?: TypeProtoPb[];
}
export interface NodePb {
  input?: string[];
  output?: string[];
  name?: string;
  op_type?: string;
  domain?: string;
  overload?: string;
  attribute?: AttributePb[];
  doc_string?: string;
}
export interface GraphPb {
  node?: NodePb[];
  name?: string;
  initializer?: TensorPb[];
  sparse_initializer?: SparseTensorPb[];
  doc_string?: string;
  input?: ValueInfoPb[];
  output?: ValueInfoPb[];
  value_info?: ValueInfoPb[];
}
export interface FunctionPb {
  name?: string;
  input?: string[];
  output?: string[];
  attribute?: string[];
  attribute_proto?: AttributePb[];
  node?: NodePb[];
  doc_string?: string;
  opset_import?: OperatorSetIdPb[];
  domain?: string;
  overload?: string;
  value_info?: ValueInfoPb[];
}
export interface ModelPb {
  ir_version?: Int64Like;
  opset_import?: OperatorSetIdPb[];
  producer_name?: string;
  producer_version?: string;
  domain?: string;
  model_version?: Int64Like;
  doc_string?: string;
  graph?: GraphPb;
  metadata_props?: StringStringEntry[];
  functions?: FunctionPb[];
}
export interface SequencePb {
  name?: string;
  elem_type?: number;
  tensor_values?: TensorPb[];
  sparse_tensor_values?: SparseTensorPb[];
  sequence_values?: SequencePb[];
  map_values?: unknown[];
  optional_values?: OptionalPb[];
}
export interface OptionalPb {
  name?: string;
  elem_type?: number;
  tensor_value?: TensorPb;
  sparse_tensor_value?: SparseTensorPb;
  sequence_value?: SequencePb;
  map_value?: unknown;
  optional_value?: OptionalPb;
}

/** Message names this module decodes/encodes. */
export type OnnxMessage = 'ModelProto' | 'TensorProto' | 'SequenceProto' | 'OptionalProto' | 'MapProto' | 'GraphProto' | 'NodeProto';

let root: protobuf.Root | undefined;

/** The parsed schema (parsed once, lazily). */
export function onnxSchema(): protobuf.Root {
  if (!root) {
    root = protobuf.parse(ONNX_PROTO_TEXT, { keepCase: true }).root;
    root.resolveAll();
  }
  return root;
}

export function onnxType(name: OnnxMessage): protobuf.Type {
  return onnxSchema().lookupType(`onnx.${name}`);
}

/**
 * Decode `bytes` as an ONNX message. Every protobufjs failure (truncation, wrong wire type,
 * nesting over the recursion limit) becomes a RosettaError naming `file`.
 */
export function decodeOnnxMessage<T>(name: OnnxMessage, bytes: Uint8Array, file = '<bytes>'): T {
  try {
    return onnxType(name).decode(bytes) as unknown as T;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (/max depth/.test(msg)) {
      throw new RosettaError('E_LIMIT', `${name} nests messages deeper than the limit of ${protobuf.Reader.recursionLimit}`, { where: { file }, hint: 'the file is malformed or hostile; a real model does not nest this deep', cause: e });
    }
    if (/index out of range|premature|truncat/i.test(msg)) {
      throw new RosettaError('E_TRUNCATED', `${name} ends before its declared data (${msg})`, { where: { file }, hint: 'the file is incomplete: download or copy it again', cause: e });
    }
    throw wrapError(e, 'E_BAD_FORMAT', `not a valid ONNX ${name}`, { file }, 'check that this is an ONNX file');
  }
}

/** Encode a plain object (snake_case fields; int64 as number, string, bigint or Long) to bytes. */
export function encodeOnnxMessage(name: OnnxMessage, obj: object): Uint8Array {
  const t = onnxType(name);
  try {
    return t.encode(t.fromObject(normaliseBigInts(obj) as Record<string, unknown>)).finish();
  } catch (e) {
    throw wrapError(e, 'E_INTERNAL', `cannot encode ONNX ${name}`);
  }
}

/** protobufjs does not accept bigint for int64 fields: turn them into Longs, recursively. */
function normaliseBigInts(v: unknown): unknown {
  if (typeof v === 'bigint') return bigIntToLong(v);
  if (v instanceof Uint8Array || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.some((x) => typeof x === 'bigint' || (typeof x === 'object' && x !== null)) ? v.map(normaliseBigInts) : v;
  if (protobuf.util.Long && v instanceof protobuf.util.Long) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = normaliseBigInts(x);
  return out;
}

export function bigIntToLong(b: bigint): protobuf.Long {
  const u = BigInt.asUintN(64, b);
  const Long = protobuf.util.Long as unknown as { fromBits(lo: number, hi: number, unsigned?: boolean): protobuf.Long };
  return Long.fromBits(Number(u & 0xffffffffn) | 0, Number(u >> 32n) | 0, b > 0x7fffffffffffffffn);
}

/** Exact int64 value (signed unless the Long says unsigned). */
export function longToBigInt(v: Int64Like | undefined): bigint {
  if (v === undefined || v === null) return 0n;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  if (typeof v === 'string') return BigInt(v);
  const lo = BigInt(v.low >>> 0);
  const hi = BigInt(v.high >>> 0);
  const u = (hi << 32n) | lo;
  return v.unsigned ? u : BigInt.asIntN(64, u);
}

/** Exact uint64 value (protobufjs may mark uint64 fields' Longs unsigned or not). */
export function longToBigUint(v: Int64Like | undefined): bigint {
  return BigInt.asUintN(64, longToBigInt(v));
}

/**
 * int64 as a JS number. Values beyond ±2^53 lose precision; callers that need exactness use
 * `longToBigInt`. This is what attributes (axes, pads, INT64_MAX sentinels in Slice) need.
 */
export function longToNumber(v: Int64Like | undefined): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string' || typeof v === 'bigint') return Number(v);
  return v.high * 4294967296 + (v.low >>> 0);
}

/** Whether a proto2 optional field was present on the wire. */
export function hasField(msg: object | undefined, field: string): boolean {
  return !!msg && Object.prototype.hasOwnProperty.call(msg, field);
}

const utf8 = new TextDecoder('utf-8');
const utf8enc = new TextEncoder();

export function bytesToString(b: Uint8Array | undefined): string {
  return b ? utf8.decode(b) : '';
}

export function stringToBytes(s: string): Uint8Array {
  return utf8enc.encode(s);
}
