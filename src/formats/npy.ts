/**
 * NumPy `.npy` and `.npz` files: bytes ⇄ `Tensor`, no IR, no file system.
 *
 * Format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
 * magic `\x93NUMPY`, a major/minor version byte pair, a little-endian header length (2 bytes in
 * version 1, 4 bytes in versions 2 and 3), then a Python dict literal
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces and a newline,
 * then the raw array data. `.npz` is a zip of `.npy` files (`np.savez`, `np.savez_compressed`).
 *
 * The header is untrusted: it is read by a tiny literal parser (strings, ints, booleans, tuples,
 * lists, dicts; nothing is ever evaluated), the declared shape goes through `checkedSize`, and the
 * data length is checked before anything is allocated. Object arrays (`|O`, which need pickle) and
 * structured dtypes are refused. Fortran-order arrays are materialised in C order on read, and
 * big-endian data is byte-swapped, so every `Tensor` here is little-endian C order.
 */
import type { DType, TensorData } from '../ir/dtype.js';
import { RosettaError, check, wrapError } from '../ir/errors.js';
import { Tensor, checkedSize, stridesOf } from '../ir/tensor.js';
import { swapBytes, swapUnit, typedFromBytes } from './tensor-bytes.js';
import { readZip, writeZip } from './zip.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const MAX_HEADER = 1 << 20;

/** numpy type code (without byte order) ⇄ IR dtype, for fixed-size numeric types. */
const NUMERIC: Readonly<Record<string, DType>> = {
  f2: 'float16',
  f4: 'float32',
  f8: 'float64',
  i1: 'int8',
  i2: 'int16',
  i4: 'int32',
  i8: 'int64',
  u1: 'uint8',
  u2: 'uint16',
  u4: 'uint32',
  u8: 'uint64',
  b1: 'bool',
  c8: 'complex64',
  c16: 'complex128',
};

const DTYPE_TO_CODE = new Map<DType, string>(Object.entries(NUMERIC).map(([k, v]) => [v, k]));

/** True when `bytes` start with the `.npy` magic. Pure; never throws. */
export function isNpy(bytes: Uint8Array): boolean {
  return bytes.length >= 6 && MAGIC.every((b, i) => bytes[i] === b);
}

/** A parsed `.npy` header. */
export interface NpyHeader {
  /** numpy dtype string as written (`<f4`, `>i8`, `<U5`). */
  descr: string;
  fortranOrder: boolean;
  shape: number[];
  /** [major, minor] format version. */
  version: [number, number];
  /** Byte offset of the array data. */
  dataOffset: number;
}

/** Read the header of a `.npy` file (validates magic, version, dict). */
export function readNpyHeader(bytes: Uint8Array, name = 'array.npy'): NpyHeader {
  const where = { file: name };
  check(isNpy(bytes), 'E_BAD_FORMAT', 'not a .npy file (missing the \\x93NUMPY magic)', where, 'write it with numpy.save');
  check(bytes.length >= 10, 'E_TRUNCATED', '.npy header ends early', where);
  const major = bytes[6]!;
  const minor = bytes[7]!;
  check(major >= 1 && major <= 3, 'E_UNSUPPORTED', `.npy format version ${major}.${minor} is not supported (only 1.0, 2.0, 3.0)`, where);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = bytes[8]! | (bytes[9]! << 8);
    start = 10;
  } else {
    check(bytes.length >= 12, 'E_TRUNCATED', '.npy header ends early', where);
    headerLen = (bytes[8]! | (bytes[9]! << 8) | (bytes[10]! << 16)) + bytes[11]! * 0x1000000;
    start = 12;
  }
  // numpy itself refuses headers above 10,000 bytes by default; a megabyte is generous.
  check(headerLen <= MAX_HEADER, 'E_LIMIT', `.npy header declares ${headerLen} bytes, above the limit of ${MAX_HEADER}`, { file: name, offset: start });
  check(start + headerLen <= bytes.length, 'E_TRUNCATED', `.npy header declares ${headerLen} bytes but the file has ${bytes.length - start} after the preamble`, { file: name, offset: start });
  const raw = bytes.subarray(start, start + headerLen);
  // Versions 1 and 2 are latin-1, version 3 is UTF-8 (only field names of structured dtypes can differ).
  const text = major === 3 ? new TextDecoder('utf-8', { fatal: false }).decode(raw) : latin1(raw);
  const dict = parseLiteral(text, name);
  check(isDict(dict), 'E_BAD_FORMAT', '.npy header is not a dict literal', where);
  const keys = [...dict.keys()].sort().join(',');
  check(keys === 'descr,fortran_order,shape', 'E_BAD_FORMAT', `.npy header must hold exactly descr, fortran_order and shape, found: ${keys || 'nothing'}`, where);
  const descr = dict.get('descr');
  if (typeof descr !== 'string') {
    throw new RosettaError('E_UNSUPPORTED_DTYPE', 'structured (record) .npy arrays are not supported', { where, hint: 'save each field as its own array' });
  }
  const fortran = dict.get('fortran_order');
  check(typeof fortran === 'boolean', 'E_BAD_FORMAT', `.npy 'fortran_order' must be True or False`, where);
  const shape = dict.get('shape');
  check(Array.isArray(shape) && shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0), 'E_BAD_FORMAT', `.npy 'shape' must be a tuple of non-negative integers`, where);
  return { descr, fortranOrder: fortran, shape: shape as number[], version: [major, minor], dataOffset: start + headerLen };
}

interface ParsedDescr {
  dtype: DType;
  /** Bytes per element (for `U`: 4 × characters; for `S`: characters). */
  itemSize: number;
  bigEndian: boolean;
  /** 'U' (UTF-32 code points), 'S' (bytes), or undefined for numeric. */
  text?: 'U' | 'S';
}

function parseDescr(descr: string, name: string): ParsedDescr {
  const where = { file: name };
  const m = /^([<>|=]?)([a-zA-Z]+)(\d*)$/.exec(descr);
  if (!m) throw new RosettaError('E_UNSUPPORTED_DTYPE', `.npy dtype '${descr}' is not supported`, { where });
  const [, order, kind, digits] = m as unknown as [string, string, string, string];
  const bigEndian = order === '>';
  if (kind === 'O') {
    throw new RosettaError('E_UNSAFE_CONTENT', '.npy object arrays hold pickled Python objects and are refused', { where, hint: 'save a numeric or string array instead' });
  }
  if (kind === 'U' || kind === 'S') {
    const chars = Number(digits || '0');
    return { dtype: 'string', itemSize: kind === 'U' ? 4 * chars : chars, bigEndian, text: kind };
  }
  const dtype = NUMERIC[kind + digits];
  if (!dtype) throw new RosettaError('E_UNSUPPORTED_DTYPE', `.npy dtype '${descr}' is not supported`, { where, hint: 'supported: f2 f4 f8 i1-i8 u1-u8 b1 c8 c16 U S' });
  return { dtype, itemSize: Number(digits), bigEndian };
}

/** Read a `.npy` file into a C-order tensor. */
export function readNpy(bytes: Uint8Array, name = 'array.npy'): Tensor {
  const h = readNpyHeader(bytes, name);
  const d = parseDescr(h.descr, name);
  const n = checkedSize(h.shape, `.npy array in ${name}`);
  const need = n * d.itemSize;
  const have = bytes.length - h.dataOffset;
  if (need > have) {
    throw new RosettaError('E_TRUNCATED', `.npy data is ${have} bytes but shape [${h.shape.join(', ')}] of ${h.descr} needs ${need}`, { where: { file: name, offset: h.dataOffset }, hint: 'the file is cut short; write it again' });
  }
  const raw = bytes.subarray(h.dataOffset, h.dataOffset + need);
  try {
    let data = d.text ? decodeText(raw, n, d, name) : decodeNumeric(raw, d);
    if (h.fortranOrder && h.shape.length > 1) data = fortranToC(data, h.shape, d.dtype === 'complex64' || d.dtype === 'complex128' ? 2 : 1);
    return new Tensor(d.dtype, h.shape, data);
  } catch (e) {
    throw wrapError(e, 'E_BAD_FORMAT', `.npy data could not be decoded`, { file: name });
  }
}

function decodeNumeric(raw: Uint8Array, d: ParsedDescr): TensorData {
  // Copy into a fresh, aligned buffer (the source offset need not be aligned). `new Uint8Array(x)`
  // always copies; `slice()` would not on a Node Buffer, whose slice is a view into a shared pool.
  const buf = new Uint8Array(raw);
  if (d.bigEndian) swapBytes(buf, swapUnit(d.dtype));
  // numpy bools are 0/1, but a hostile file may hold other bytes: normalise.
  if (d.dtype === 'bool') for (let i = 0; i < buf.length; i++) buf[i] = buf[i] ? 1 : 0;
  return typedFromBytes(d.dtype, buf);
}

function decodeText(raw: Uint8Array, n: number, d: ParsedDescr, name: string): string[] {
  const out = new Array<string>(n);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let i = 0; i < n; i++) {
    const base = i * d.itemSize;
    let s = '';
    if (d.text === 'U') {
      const chars = d.itemSize / 4;
      for (let c = 0; c < chars; c++) {
        const cp = dv.getUint32(base + 4 * c, !d.bigEndian);
        if (cp === 0) break; // numpy pads with NULs; trailing NULs are not part of the string
        check(cp <= 0x10ffff, 'E_BAD_FORMAT', `.npy unicode element ${i} holds invalid code point ${cp}`, { file: name });
        s += String.fromCodePoint(cp);
      }
    } else {
      for (let c = 0; c < d.itemSize; c++) {
        const b = raw[base + c]!;
        if (b === 0) break;
        s += String.fromCharCode(b);
      }
    }
    out[i] = s;
  }
  return out;
}

/** Reorder column-major data of `shape` into row-major; `lanes` values per element (2 for complex). */
function fortranToC(data: TensorData, shape: readonly number[], lanes: number): TensorData {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = (Array.isArray(data) ? new Array<string>(data.length) : new (data.constructor as new (k: number) => typeof data)(data.length)) as TensorData;
  const cStrides = stridesOf(shape);
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  let cOff = 0;
  // Walk the source in Fortran order (first axis fastest), tracking the C offset incrementally.
  for (let k = 0; k < n; k++) {
    for (let l = 0; l < lanes; l++) (out as unknown as unknown[])[cOff * lanes + l] = (data as unknown as unknown[])[k * lanes + l];
    for (let a = 0; a < rank; a++) {
      idx[a]!++;
      cOff += cStrides[a]!;
      if (idx[a]! < shape[a]!) break;
      cOff -= cStrides[a]! * idx[a]!;
      idx[a] = 0;
    }
  }
  return out;
}

/** Options for `writeNpy`. */
export interface WriteNpyOptions {
  /** Write a Fortran-order file (default false: C order, as `np.save` does for C arrays). */
  fortranOrder?: boolean;
}

/**
 * Write a tensor as a `.npy` file (little-endian, version 1.0 unless the header needs more).
 * Strings become `<U{longest}`. float16 is written as `<f2` from its bits; bfloat16, float8 and
 * int4 have no numpy dtype and are refused with E_UNSUPPORTED_DTYPE.
 */
export function writeNpy(t: Tensor, opts: WriteNpyOptions = {}): Uint8Array {
  const fortran = opts.fortranOrder === true && t.shape.length > 1;
  let descr: string;
  let body: Uint8Array;
  if (t.dtype === 'string') {
    const strs = (fortran ? cToFortran(t.data, t.shape, 1) : t.data) as string[];
    const cps = strs.map((s) => Array.from(s, (c) => c.codePointAt(0)!));
    let chars = 1;
    for (const c of cps) if (c.length > chars) chars = c.length;
    descr = `<U${chars}`;
    body = new Uint8Array(strs.length * chars * 4);
    const dv = new DataView(body.buffer);
    cps.forEach((c, i) => c.forEach((cp, j) => dv.setUint32((i * chars + j) * 4, cp, true)));
  } else {
    const code = DTYPE_TO_CODE.get(t.dtype);
    if (!code) {
      throw new RosettaError('E_UNSUPPORTED_DTYPE', `numpy has no dtype for ${t.dtype}`, { hint: 'cast to float32 (or float16) before saving as .npy' });
    }
    descr = code === 'b1' || code === 'i1' || code === 'u1' ? `|${code}` : `<${code}`;
    const lanes = t.dtype === 'complex64' || t.dtype === 'complex128' ? 2 : 1;
    const data = (fortran ? cToFortran(t.data, t.shape, lanes) : t.data) as Exclude<TensorData, string[]>;
    body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  const shapeText = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  // numpy pads so the data starts on a 64-byte boundary and ends the header with a newline.
  let pre = 10;
  let total = pre + dict.length + 1;
  let major = 1;
  if (Math.ceil(total / 64) * 64 - pre > 0xffff) {
    major = 2;
    pre = 12;
    total = pre + dict.length + 1;
  }
  const padded = Math.ceil(total / 64) * 64;
  const headerLen = padded - pre;
  const out = new Uint8Array(padded + body.length);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  if (major === 1) {
    out[8] = headerLen & 0xff;
    out[9] = headerLen >> 8;
  } else {
    new DataView(out.buffer).setUint32(8, headerLen, true);
  }
  for (let i = 0; i < dict.length; i++) out[pre + i] = dict.charCodeAt(i);
  out.fill(0x20, pre + dict.length, padded - 1);
  out[padded - 1] = 0x0a;
  out.set(body, padded);
  return out;
}

function cToFortran(data: TensorData, shape: readonly number[], lanes: number): TensorData {
  // C order of `shape` is Fortran order of the reversed shape (and vice versa), so the reverse
  // permutation is fortranToC over the reversed axes.
  return fortranToC(data, shape.slice().reverse(), lanes);
}

/** Read a `.npz` archive: array name (without `.npy`) → tensor, in archive order. */
export function readNpz(bytes: Uint8Array, name = 'arrays.npz'): Map<string, Tensor> {
  const zip = readZip(bytes, { file: name });
  const out = new Map<string, Tensor>();
  for (const entry of zip.names()) {
    if (entry.endsWith('/')) continue;
    check(entry.endsWith('.npy'), 'E_BAD_FORMAT', `.npz entry '${entry}' is not a .npy file`, { file: name, entry });
    out.set(entry.slice(0, -4), readNpy(zip.read(entry), `${name}/${entry}`));
  }
  return out;
}

/** Options for `writeNpz`. */
export interface WriteNpzOptions {
  /** Deflate entries like `np.savez_compressed` (default false, like `np.savez`). */
  compress?: boolean;
}

/** Write tensors as a `.npz` archive (`name` → `name.npy`). */
export function writeNpz(tensors: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>, opts: WriteNpzOptions = {}): Uint8Array {
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors as Record<string, Tensor>);
  return writeZip(list.map(([k, t]) => ({ name: `${k}.npy`, data: writeNpy(t), compress: opts.compress ?? false })));
}

// ---------------------------------------------------------------------------------------------
// A literal parser for the header dict: Python literals only (str, int, True/False/None, tuple,
// list, dict). Nesting is bounded; anything else is E_BAD_FORMAT. Nothing is evaluated.

type Lit = string | number | boolean | null | Lit[] | Map<string, Lit>;

function isDict(v: Lit): v is Map<string, Lit> {
  return v instanceof Map;
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}

const MAX_DEPTH = 16;

function parseLiteral(text: string, name: string): Lit {
  let i = 0;
  const fail = (what: string): never => {
    throw new RosettaError('E_BAD_FORMAT', `.npy header is not a valid literal: ${what} at character ${i}`, { where: { file: name }, hint: 'the header must look like {\'descr\': \'<f4\', \'fortran_order\': False, \'shape\': (2, 3), }' });
  };
  const ws = (): void => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const value = (depth: number): Lit => {
    if (depth > MAX_DEPTH) fail('nesting too deep');
    ws();
    const c = text[i];
    if (c === undefined) return fail('unexpected end');
    if (c === "'" || c === '"') {
      const q = c;
      let s = '';
      i++;
      while (i < text.length && text[i] !== q) {
        if (text[i] === '\\') {
          const e = text[i + 1];
          s += e === 'n' ? '\n' : e === 't' ? '\t' : (e ?? '');
          i += 2;
        } else s += text[i++];
      }
      if (text[i] !== q) fail('unterminated string');
      i++;
      return s;
    }
    if (c === '{') {
      i++;
      const m = new Map<string, Lit>();
      for (;;) {
        ws();
        if (text[i] === '}') {
          i++;
          return m;
        }
        const k = value(depth + 1);
        if (typeof k !== 'string') fail('dict key is not a string');
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        if (m.has(k as string)) fail(`duplicate key '${k as string}'`);
        m.set(k as string, value(depth + 1));
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== '}') fail("expected ',' or '}'");
      }
    }
    if (c === '(' || c === '[') {
      const close = c === '(' ? ')' : ']';
      i++;
      const arr: Lit[] = [];
      for (;;) {
        ws();
        if (text[i] === close) {
          i++;
          return arr;
        }
        arr.push(value(depth + 1));
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== close) fail(`expected ',' or '${close}'`);
      }
    }
    const m = /^(-?\d+)L?|^(True|False|None)/.exec(text.slice(i, i + 32));
    if (!m) return fail(`unexpected '${c}'`);
    i += m[0].length;
    if (m[2] === 'True') return true;
    if (m[2] === 'False') return false;
    if (m[2] === 'None') return null;
    const v = Number(m[1]);
    if (!Number.isSafeInteger(v)) fail(`integer ${m[1]} is too large`);
    return v;
  };
  const v = value(0);
  ws();
  if (i !== text.length) fail('trailing characters');
  return v;
}
