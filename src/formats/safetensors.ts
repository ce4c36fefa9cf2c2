/**
 * safetensors read and write (bytes ⇄ named tensors + string metadata).
 *
 * Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": { str: str } }`, then the
 * tensor bytes (little-endian, C order), offsets relative to the end of the header.
 * Validation follows the reference implementation (huggingface/safetensors, `SafeTensors::read_metadata`
 * and `Metadata::validate`): header at most 100,000,000 bytes and starting with `{`, a JSON object,
 * no duplicate names, offsets ordered, contiguous from 0 and inside the buffer, byte length equal to
 * dtype size × element count, and no bytes after the last tensor.
 *
 * Spec: https://github.com/huggingface/safetensors#format
 */
import type { DType } from '../ir/dtype.js';
import { RosettaError, wrapError, type ErrorWhere } from '../ir/errors.js';
import { Tensor, checkedSize } from '../ir/tensor.js';
import { elementBytes, tensorFromLE, tensorToLE } from './tensor-bytes.js';

/** safetensors dtype tag ⇄ IR dtype. */
export const SAFETENSORS_DTYPES: Readonly<Record<string, DType>> = {
  BOOL: 'bool',
  U8: 'uint8',
  I8: 'int8',
  I16: 'int16',
  U16: 'uint16',
  I32: 'int32',
  U32: 'uint32',
  I64: 'int64',
  U64: 'uint64',
  F16: 'float16',
  BF16: 'bfloat16',
  F32: 'float32',
  F64: 'float64',
  F8_E5M2: 'float8e5m2',
  F8_E4M3: 'float8e4m3fn',
  C64: 'complex64',
};
const DTYPE_TAGS: Partial<Record<DType, string>> = Object.fromEntries(Object.entries(SAFETENSORS_DTYPES).map(([k, v]) => [v, k]));

/** The reference's limit on the JSON header. */
export const MAX_HEADER_SIZE = 100_000_000;

/** Contents of a safetensors file: tensors in file order and the `__metadata__` strings. */
export interface SafetensorsFile {
  tensors: Map<string, Tensor>;
  metadata: Map<string, string>;
}

/** Pure sniff: a plausible header length followed by `{`. */
export function isSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 10) return false;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = dv.getUint32(0, true) + dv.getUint32(4, true) * 2 ** 32;
  return n >= 2 && n <= MAX_HEADER_SIZE && n + 8 <= bytes.length && bytes[8] === 0x7b;
}

/**
 * The top-level keys of a JSON object in source order, so duplicates can be refused (JSON.parse
 * silently keeps the last). Assumes `text` already parsed as JSON.
 */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) {
        keys.push(JSON.parse(text.slice(i, j + 1)) as string);
        expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      if (depth === 1 && c === '{') expectKey = true;
    } else if (c === '}' || c === ']') depth--;
    else if (c === ',' && depth === 1) expectKey = true;
  }
  return keys;
}

/** Parse and validate a safetensors file. Tensors are copied out of `bytes`. */
export function readSafetensors(bytes: Uint8Array, file?: string): SafetensorsFile {
  try {
    return readUnguarded(bytes, file);
  } catch (e) {
    throw wrapError(e, 'E_BAD_FORMAT', 'cannot read this safetensors file', { file });
  }
}

function readUnguarded(bytes: Uint8Array, file?: string): SafetensorsFile {
  const where: ErrorWhere = { file };
  if (bytes.length < 8) throw new RosettaError('E_TRUNCATED', `safetensors file of ${bytes.length} bytes has no header length`, { where });
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = dv.getUint32(0, true) + dv.getUint32(4, true) * 2 ** 32;
  if (n > MAX_HEADER_SIZE) throw new RosettaError('E_TOO_LARGE', `safetensors header declares ${n} bytes, above the limit of ${MAX_HEADER_SIZE}`, { where });
  if (8 + n > bytes.length) throw new RosettaError('E_TRUNCATED', `safetensors header declares ${n} bytes but the file has ${bytes.length - 8} after the length`, { where });
  if (bytes[8] !== 0x7b) throw new RosettaError('E_BAD_FORMAT', 'safetensors header does not start with {', { where: { ...where, offset: 8 } });
  let text: string;
  let header: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
    header = JSON.parse(text);
  } catch (e) {
    throw new RosettaError('E_BAD_FORMAT', `safetensors header is not valid UTF-8 JSON: ${e instanceof Error ? e.message : String(e)}`, { where: { ...where, offset: 8 } });
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new RosettaError('E_BAD_FORMAT', 'safetensors header is not a JSON object', { where });
  const keys = topLevelKeys(text);
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k)) throw new RosettaError('E_BAD_FORMAT', `safetensors header names '${k}' twice`, { where });
    seen.add(k);
  }
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const metadata = new Map<string, string>();
  type Info = { name: string; dtype: DType; shape: number[]; begin: number; end: number };
  const infos: Info[] = [];
  const h = header as Record<string, unknown>;
  for (const name of keys) {
    const v = h[name];
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RosettaError('E_BAD_FORMAT', '__metadata__ is not an object of strings', { where });
      for (const [mk, mv] of Object.entries(v as Record<string, unknown>)) {
        if (typeof mv !== 'string') throw new RosettaError('E_BAD_FORMAT', `__metadata__ value for '${mk}' is not a string`, { where });
        metadata.set(mk, mv);
      }
      continue;
    }
    const at = { ...where, entry: name };
    if (typeof v !== 'object' || v === null) throw new RosettaError('E_BAD_FORMAT', 'tensor entry is not an object', { where: at });
    const info = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = typeof info.dtype === 'string' ? SAFETENSORS_DTYPES[info.dtype] : undefined;
    if (!dtype || !Object.hasOwn(SAFETENSORS_DTYPES, info.dtype as string)) {
      throw new RosettaError('E_UNSUPPORTED_DTYPE', `safetensors dtype ${JSON.stringify(info.dtype)} is not supported`, { where: at, hint: `known: ${Object.keys(SAFETENSORS_DTYPES).join(', ')}` });
    }
    if (!Array.isArray(info.shape) || !info.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw new RosettaError('E_BAD_FORMAT', `shape ${JSON.stringify(info.shape)} is not a list of non-negative integers`, { where: at });
    }
    const off = info.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && (d as number) >= 0) || off[0] > off[1]) {
      throw new RosettaError('E_BAD_FORMAT', `data_offsets ${JSON.stringify(off)} is not an ordered pair of offsets`, { where: at });
    }
    infos.push({ name, dtype, shape: info.shape as number[], begin: off[0] as number, end: off[1] as number });
  }
  // Offsets must tile the data exactly, in order: no gaps, overlaps, or trailing bytes.
  const sorted = [...infos].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expectAt = 0;
  for (const t of sorted) {
    const at = { ...where, entry: t.name };
    if (t.begin !== expectAt) {
      throw new RosettaError('E_BAD_FORMAT', `tensor data starts at ${t.begin} but the previous one ends at ${expectAt} (offsets must be contiguous)`, { where: at });
    }
    const count = checkedSize(t.shape, `tensor '${t.name}'`);
    const size = count * elementBytes(t.dtype, at);
    if (t.end - t.begin !== size) {
      throw new RosettaError('E_BAD_FORMAT', `${t.dtype} tensor of shape [${t.shape.join(', ')}] needs ${size} bytes, its offsets span ${t.end - t.begin}`, { where: at });
    }
    if (t.end > dataLen) throw new RosettaError('E_TRUNCATED', `tensor data [${t.begin}, ${t.end}) runs past the ${dataLen} data bytes`, { where: at });
    expectAt = t.end;
  }
  if (expectAt !== dataLen) {
    throw new RosettaError('E_BAD_FORMAT', `${dataLen - expectAt} bytes follow the last tensor`, { where, hint: 'the file is corrupt or was written by a non-conforming tool' });
  }
  const tensors = new Map<string, Tensor>();
  for (const t of sorted) {
    tensors.set(t.name, tensorFromLE(t.dtype, t.shape, bytes.subarray(dataStart + t.begin, dataStart + t.end), { ...where, entry: t.name }));
  }
  return { tensors, metadata };
}

/**
 * Write tensors (in the map's order) and string metadata. The header is padded with spaces to a
 * multiple of 8 bytes, as the reference writer does, so data starts 8-aligned.
 */
export function writeSafetensors(tensors: ReadonlyMap<string, Tensor>, metadata?: ReadonlyMap<string, string> | Readonly<Record<string, string>>): Uint8Array {
  const header: Record<string, unknown> = {};
  const meta = metadata instanceof Map ? Object.fromEntries(metadata) : (metadata ?? {});
  if (Object.keys(meta).length) header.__metadata__ = meta;
  const parts: Uint8Array[] = [];
  let off = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__') throw new RosettaError('E_USAGE', "a tensor cannot be named '__metadata__' in safetensors");
    const tag = DTYPE_TAGS[t.dtype];
    if (!tag) throw new RosettaError('E_UNSUPPORTED_DTYPE', `safetensors cannot hold ${t.dtype} tensors`, { where: { entry: name } });
    const data = tensorToLE(t, { entry: name });
    Object.defineProperty(header, name, { value: { dtype: tag, shape: [...t.shape], data_offsets: [off, off + data.length] }, enumerable: true, configurable: true, writable: true });
    parts.push(data);
    off += data.length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) {
    const padded = new Uint8Array(json.length + pad).fill(0x20);
    padded.set(json);
    json = padded;
  }
  const out = new Uint8Array(8 + json.length + off);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, json.length, true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const d of parts) {
    out.set(d, p);
    p += d.length;
  }
  return out;
}

/** `model.safetensors.index.json`: which shard holds each tensor. */
export interface SafetensorsIndex {
  metadata: Record<string, unknown>;
  weightMap: Map<string, string>;
}

/** Parse a sharded-checkpoint index; shard names must be plain relative file names. */
export function readSafetensorsIndex(bytes: Uint8Array, file?: string): SafetensorsIndex {
  const where: ErrorWhere = { file };
  let j: unknown;
  try {
    j = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new RosettaError('E_BAD_FORMAT', `index is not valid JSON: ${e instanceof Error ? e.message : String(e)}`, { where });
  }
  const wm = (j as { weight_map?: unknown } | null)?.weight_map;
  if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) throw new RosettaError('E_BAD_FORMAT', 'index has no weight_map object', { where });
  const weightMap = new Map<string, string>();
  for (const [k, v] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof v !== 'string' || v.length === 0) throw new RosettaError('E_BAD_FORMAT', `weight_map entry for '${k}' is not a file name`, { where });
    if (v.includes('..') || v.startsWith('/') || v.includes('\\')) throw new RosettaError('E_PATH_ESCAPE', `shard name '${v}' leaves the checkpoint folder`, { where });
    weightMap.set(k, v);
  }
  const md = (j as { metadata?: unknown }).metadata;
  return { metadata: typeof md === 'object' && md !== null ? (md as Record<string, unknown>) : {}, weightMap };
}
