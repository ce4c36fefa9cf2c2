/**
 * HDF5 container access through h5wasm (libhdf5 compiled to WebAssembly, so it also runs in a
 * browser). Bytes in, plain JS out: groups, attributes and datasets as `Tensor`s; no Keras logic.
 *
 * Why a wrapper: h5wasm reports many failures only on stderr and returns `null`/`undefined` or a
 * negative id instead of throwing (a file that is not HDF5 "opens" with file_id -1). Every call
 * here checks its result and throws `RosettaError` naming the path inside the file, so the Keras
 * readers never see a foreign exception. Files live in h5wasm's in-memory FS under a unique name
 * and are always closed and unlinked, also on error.
 *
 * Spec: https://docs.hdfgroup.org/hdf5/develop/_f_m_t3.html (file format), h5wasm API:
 * https://github.com/usnistgov/h5wasm
 */
import h5wasm, { type Dataset, type File as H5File, type Group as H5Group, type Metadata } from 'h5wasm';
import type { DType } from '../ir/dtype.js';
import { RosettaError, wrapError } from '../ir/errors.js';
import { checkedSize, Tensor } from '../ir/tensor.js';
import { swapBytes, typedFromBytes } from './tensor-bytes.js';

/** The 8-byte HDF5 signature; it sits at offset 0, 512, 1024, 2048… (user block). */
const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** HDF5 type classes (H5T_class_t) as h5wasm reports them in `Metadata.type`. */
const H5T_INTEGER = 0;
const H5T_FLOAT = 1;
const H5T_STRING = 3;

/** deflate cannot expand data by more than ~1032:1, so a dataset larger than this is a lie. */
const MAX_EXPANSION = 1032;

/** True when the bytes carry the HDF5 signature at offset 0 or at a user-block offset. */
export function isHdf5(bytes: Uint8Array): boolean {
  for (let off = 0; off + 8 <= bytes.length && off <= 1 << 16; off = off === 0 ? 512 : off * 2) {
    let ok = true;
    for (let i = 0; i < 8 && ok; i++) ok = bytes[off + i] === SIGNATURE[i];
    if (ok) return true;
  }
  return false;
}

type H5Module = Awaited<typeof h5wasm.ready>;
let modulePromise: Promise<H5Module> | undefined;
let counter = 0;

async function h5(): Promise<H5Module> {
  modulePromise ??= h5wasm.ready;
  return modulePromise;
}

/**
 * Close `file` (if still open) and delete its in-memory path. Errors are swallowed: this runs in
 * `finally`, where closing a half-open file or unlinking a path already gone must not hide the
 * real error.
 */
function release(mod: H5Module, name: string, file: H5File | undefined): void {
  try {
    file?.close();
  } catch {
    /* half-open file: the real error is already on its way */
  }
  try {
    mod.FS!.unlink(name);
  } catch {
    /* already gone */
  }
}

function uniqueName(): string {
  counter = (counter + 1) % 1e9;
  return `/rosetta-${Date.now().toString(36)}-${counter}-${Math.random().toString(36).slice(2, 8)}.h5`;
}

/** An attribute value decoded to plain JS. */
export type H5AttrValue = string | string[] | number | number[] | bigint | Tensor | null;

/** A read-only view of an open HDF5 file. Obtain through `withHdf5`; valid only inside it. */
export class Hdf5Reader {
  constructor(
    private readonly file: H5File,
    private readonly mod: H5Module,
    /** Display name for messages. */
    readonly fileName: string,
    private readonly fileBytes: number,
  ) {}

  private fail(message: string, path: string, hint?: string): never {
    throw new RosettaError('E_BAD_FORMAT', message, { where: { file: this.fileName, entry: path }, hint });
  }

  private entity(path: string): ReturnType<H5Group['get']> {
    if (path === '/' || path === '') return this.file;
    try {
      return this.file.get(path);
    } catch (e) {
      throw wrapError(e, 'E_BAD_FORMAT', `cannot open HDF5 object`, { file: this.fileName, entry: path });
    }
  }

  private group(path: string): H5Group {
    const g = this.entity(path);
    if (!g || (g as { type?: string }).type !== 'Group') this.fail(`expected an HDF5 group`, path, 'the file is incomplete or not the kind of file expected');
    return g as H5Group;
  }

  /** Does an object (group or dataset) exist at `path`? */
  has(path: string): boolean {
    try {
      return this.entity(path) != null;
    } catch {
      return false;
    }
  }

  isGroup(path: string): boolean {
    const e = this.has(path) ? this.entity(path) : null;
    return !!e && (e as { type?: string }).type === 'Group';
  }

  isDataset(path: string): boolean {
    const e = this.has(path) ? this.entity(path) : null;
    return !!e && (e as { type?: string }).type === 'Dataset';
  }

  /** Child names of a group, in the file's order. */
  keys(path: string): string[] {
    const g = this.group(path);
    try {
      const k = g.keys();
      if (!Array.isArray(k)) this.fail('cannot list group', path);
      return k;
    } catch (e) {
      throw wrapError(e, 'E_BAD_FORMAT', 'cannot list HDF5 group', { file: this.fileName, entry: path });
    }
  }

  /** Names of the attributes of an object. */
  attrNames(path: string): string[] {
    const e = this.entity(path);
    if (!e) this.fail('no such HDF5 object', path);
    try {
      return Object.keys((e as H5Group).attrs ?? {});
    } catch (err) {
      throw wrapError(err, 'E_BAD_FORMAT', 'cannot list HDF5 attributes', { file: this.fileName, entry: path });
    }
  }

  /** Read an attribute (undefined when absent). Strings decode to string / string[]. */
  attr(path: string, name: string): H5AttrValue | undefined {
    const e = this.entity(path);
    if (!e) this.fail('no such HDF5 object', path);
    let a;
    try {
      a = (e as H5Group).attrs?.[name];
    } catch (err) {
      throw wrapError(err, 'E_BAD_FORMAT', `cannot read HDF5 attribute '${name}'`, { file: this.fileName, entry: path });
    }
    if (!a) return undefined;
    const where = `${path}@${name}`;
    const meta = a.metadata;
    if (!meta) this.fail('attribute has no type information', where);
    let v: unknown;
    try {
      v = a.value;
    } catch (err) {
      throw wrapError(err, 'E_BAD_FORMAT', `cannot decode HDF5 attribute '${name}'`, { file: this.fileName, entry: where });
    }
    if (v === null || v === undefined) return null;
    if (meta.type === H5T_STRING) {
      if (typeof v === 'string') return v;
      if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[];
      this.fail('string attribute decoded to a non-string', where);
    }
    if (typeof v === 'number' || typeof v === 'bigint') return v;
    if (ArrayBuffer.isView(v)) {
      const arr = v as unknown as ArrayLike<number | bigint>;
      if (arr.length === 0) return [];
      if (typeof arr[0] === 'bigint') return Array.from(arr as ArrayLike<bigint>, Number);
      return Array.from(arr as ArrayLike<number>);
    }
    if (typeof v === 'boolean') return v ? 1 : 0;
    this.fail(`attribute has an unsupported type (class ${meta.type})`, where);
  }

  /** A string attribute, or a string array attribute, or undefined. Bytes decode as UTF-8. */
  attrString(path: string, name: string): string | undefined {
    const v = this.attr(path, name);
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return v;
    if (Array.isArray(v) && v.length === 1 && typeof v[0] === 'string') return v[0];
    this.fail(`attribute '${name}' should be a string`, `${path}@${name}`);
  }

  /** A string-array attribute (`layer_names`, `weight_names`); a scalar string becomes [s]. */
  attrStrings(path: string, name: string): string[] | undefined {
    const v = this.attr(path, name);
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return [v];
    if (Array.isArray(v) && v.length === 0) return [];
    if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[];
    this.fail(`attribute '${name}' should be a list of strings`, `${path}@${name}`);
  }

  /** Dataset shape and element type without reading the data. */
  datasetInfo(path: string): { shape: number[]; dtype: DType } {
    const d = this.dataset(path);
    const meta = this.meta(d, path);
    return { shape: (meta.shape ?? []).slice(), dtype: dtypeOf(meta, () => this.fail(`dataset has an unsupported element type (class ${meta.type}, ${meta.size} bytes)`, path)) };
  }

  private dataset(path: string): Dataset {
    const d = this.entity(path);
    if (!d) this.fail('missing HDF5 dataset', path, 'the file is incomplete');
    if ((d as { type?: string }).type !== 'Dataset') this.fail('expected an HDF5 dataset', path);
    return d as Dataset;
  }

  private meta(d: Dataset, path: string): Metadata {
    let meta: Metadata | undefined;
    try {
      meta = d.metadata;
    } catch (e) {
      throw wrapError(e, 'E_BAD_FORMAT', 'cannot read dataset type', { file: this.fileName, entry: path });
    }
    if (!meta) this.fail('dataset has no type information', path);
    return meta;
  }

  /**
   * Read a numeric dataset into a Tensor (float16 kept as raw bits). The declared shape is checked
   * against limits and against the file size before anything is allocated.
   */
  readTensor(path: string): Tensor {
    const d = this.dataset(path);
    const meta = this.meta(d, path);
    if (meta.shape === null) this.fail('dataset has no dataspace (null shape)', path);
    const shape = meta.shape.slice();
    const dtype = dtypeOf(meta, () => this.fail(`dataset has an unsupported element type (class ${meta.type}, ${meta.size} bytes)`, path));
    let n: number;
    try {
      n = checkedSize(shape, `dataset ${path}`);
    } catch (e) {
      const code = e instanceof RosettaError ? e.code : 'E_TOO_LARGE';
      throw new RosettaError(code, `dataset shape [${shape.join(', ')}] rejected: ${e instanceof Error ? e.message.replace(/^E_[A-Z_]+: /, '') : String(e)}`, { where: { file: this.fileName, entry: path }, cause: e });
    }
    if (meta.total_size !== n) this.fail(`dataset declares ${meta.total_size} elements but its shape [${shape.join(', ')}] holds ${n}`, path);
    const nbytes = n * meta.size;
    if (nbytes > MAX_EXPANSION * this.fileBytes + 65536) {
      throw new RosettaError('E_TOO_LARGE', `dataset declares ${nbytes} bytes, far beyond what a ${this.fileBytes}-byte file can hold`, { where: { file: this.fileName, entry: path }, hint: 'the file is corrupt or crafted' });
    }
    if (n === 0) return new Tensor(dtype, shape);
    const raw = this.readRaw(path, nbytes); // a fresh copy at offset 0: ours to swap and view
    if (!meta.littleEndian) swapBytes(raw, meta.size);
    return new Tensor(dtype, shape, typedFromBytes(dtype, raw));
  }

  /** Read a string dataset (fixed or variable length) as string[]. */
  readStrings(path: string): string[] {
    const d = this.dataset(path);
    const meta = this.meta(d, path);
    if (meta.type !== H5T_STRING) this.fail('expected a string dataset', path);
    let v: unknown;
    try {
      v = d.value;
    } catch (e) {
      throw wrapError(e, 'E_BAD_FORMAT', 'cannot read string dataset', { file: this.fileName, entry: path });
    }
    if (typeof v === 'string') return [v];
    if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[];
    this.fail('string dataset decoded to a non-string', path);
  }

  /** Raw native bytes of a whole dataset (h5wasm's own reader rejects float16). */
  private readRaw(path: string, nbytes: number): Uint8Array {
    const m = this.mod as unknown as {
      _malloc(n: number): number;
      _free(p: number): void;
      HEAPU8: Uint8Array;
      get_dataset_data(fileId: bigint, path: string, count: null, offset: null, strides: null, ptr: bigint): number;
    };
    const ptr = m._malloc(nbytes);
    if (!ptr) throw new RosettaError('E_TOO_LARGE', `cannot allocate ${nbytes} bytes for the dataset`, { where: { file: this.fileName, entry: path } });
    try {
      const status = m.get_dataset_data(this.file.file_id, path, null, null, null, BigInt(ptr));
      if (typeof status === 'number' && status < 0) this.fail('libhdf5 could not read the dataset', path, 'the file is corrupt');
      return m.HEAPU8.slice(ptr, ptr + nbytes);
    } catch (e) {
      throw wrapError(e, 'E_BAD_FORMAT', 'cannot read dataset', { file: this.fileName, entry: path }, 'the file is corrupt');
    } finally {
      m._free(ptr);
    }
  }
}

function dtypeOf(meta: Metadata, fail: () => never): DType {
  if (meta.type === H5T_FLOAT) {
    if (meta.size === 4) return 'float32';
    if (meta.size === 8) return 'float64';
    if (meta.size === 2) return 'float16';
  }
  if (meta.type === H5T_INTEGER) {
    switch (meta.size) {
      case 1:
        return meta.signed ? 'int8' : 'uint8';
      case 2:
        return meta.signed ? 'int16' : 'uint16';
      case 4:
        return meta.signed ? 'int32' : 'uint32';
      case 8:
        return meta.signed ? 'int64' : 'uint64';
    }
  }
  // h5py stores numpy bool as an enum over int8; h5wasm reports class 8 (H5T_ENUM).
  if (meta.type === 8 && meta.size === 1) return 'bool';
  return fail();
}

/**
 * Open HDF5 bytes read-only, run `fn`, and always close and unlink. Corrupt bytes give
 * E_BAD_FORMAT naming `fileName`; nothing from libhdf5 escapes as a raw exception.
 */
export async function withHdf5<T>(bytes: Uint8Array, fileName: string, fn: (r: Hdf5Reader) => T | Promise<T>): Promise<T> {
  if (!isHdf5(bytes)) throw new RosettaError('E_BAD_FORMAT', 'not an HDF5 file (no HDF5 signature)', { where: { file: fileName }, hint: 'expected a Keras .h5 file' });
  const mod = await h5();
  const name = uniqueName();
  let file: H5File | undefined;
  try {
    mod.FS!.writeFile(name, bytes);
    try {
      file = new h5wasm.File(name, 'r');
    } catch (e) {
      throw wrapError(e, 'E_BAD_FORMAT', 'libhdf5 cannot open the file', { file: fileName }, 'the file is corrupt or truncated');
    }
    if (!file || typeof file.file_id !== 'bigint' || file.file_id < 0n) {
      file = undefined;
      throw new RosettaError('E_BAD_FORMAT', 'libhdf5 cannot open the file', { where: { file: fileName }, hint: 'the file is corrupt or truncated' });
    }
    return await fn(new Hdf5Reader(file, mod, fileName, bytes.length));
  } catch (e) {
    throw wrapError(e, 'E_BAD_FORMAT', 'cannot read HDF5 file', { file: fileName });
  } finally {
    release(mod, name, file);
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Attribute values the writer accepts. */
export type H5WriteAttr = string | string[] | number | number[];

/** A group to write: attributes (in order) and children (groups or datasets, in order). */
export interface H5WriteGroup {
  attrs: [string, H5WriteAttr][];
  children: [string, H5WriteGroup | Tensor][];
}

export function h5group(attrs: [string, H5WriteAttr][] = [], children: [string, H5WriteGroup | Tensor][] = []): H5WriteGroup {
  return { attrs, children };
}

const WRITE_DTYPE: Partial<Record<DType, string>> = {
  float32: '<f4',
  float64: '<f8',
  float16: '<e',
  int8: '<b',
  uint8: '<B',
  int16: '<h',
  uint16: '<H',
  int32: '<i',
  uint32: '<I',
  int64: '<q',
  uint64: '<Q',
  bool: '<B',
};

/** Serialise a tree of groups, attributes and datasets to HDF5 bytes. */
export async function writeHdf5(root: H5WriteGroup, fileName = 'output.h5'): Promise<Uint8Array> {
  const mod = await h5();
  const name = uniqueName();
  let file: H5File | undefined;
  try {
    file = new h5wasm.File(name, 'w');
    if (!file || file.file_id < 0n) throw new RosettaError('E_INTERNAL', 'libhdf5 could not create a file', { where: { file: fileName } });
    writeGroup(file, root, '', fileName);
    file.flush();
    file.close();
    file = undefined;
    const out = mod.FS!.readFile(name);
    return new Uint8Array(out);
  } catch (e) {
    throw wrapError(e, 'E_INTERNAL', 'cannot write HDF5', { file: fileName });
  } finally {
    release(mod, name, file);
  }
}

function writeAttrs(target: H5Group | Dataset, attrs: [string, H5WriteAttr][], path: string, fileName: string): void {
  for (const [k, v] of attrs) {
    try {
      if (Array.isArray(v) && v.length === 0) {
        // h5wasm cannot guess a type for []: Keras writes empty name lists as float64[0] too.
        target.create_attribute(k, new Float64Array(0), [0], '<f8');
      } else if (typeof v === 'number') {
        target.create_attribute(k, Number.isInteger(v) ? new BigInt64Array([BigInt(v)]) : new Float64Array([v]), [], Number.isInteger(v) ? '<q' : '<f8');
      } else if (Array.isArray(v) && typeof v[0] === 'number') {
        target.create_attribute(k, new Float64Array(v as number[]), [v.length], '<f8');
      } else {
        target.create_attribute(k, v as string | string[]);
      }
    } catch (e) {
      throw wrapError(e, 'E_INTERNAL', `cannot write attribute '${k}'`, { file: fileName, entry: path || '/' });
    }
  }
}

function writeGroup(g: H5Group, spec: H5WriteGroup, path: string, fileName: string): void {
  writeAttrs(g, spec.attrs, path, fileName);
  for (const [child, value] of spec.children) {
    const p = `${path}/${child}`;
    if (value instanceof Tensor) {
      const dt = WRITE_DTYPE[value.dtype];
      if (!dt) throw new RosettaError('E_UNSUPPORTED_DTYPE', `cannot write ${value.dtype} datasets to HDF5`, { where: { file: fileName, entry: p } });
      let ds: Dataset | undefined;
      try {
        ds = g.create_dataset({ name: child, data: value.data as never, shape: value.shape.slice(), dtype: dt });
      } catch (e) {
        throw wrapError(e, 'E_INTERNAL', 'cannot write dataset', { file: fileName, entry: p });
      }
      if (!ds) throw new RosettaError('E_INTERNAL', 'libhdf5 did not create the dataset', { where: { file: fileName, entry: p } });
    } else {
      // h5wasm returns null (and prints to stderr) for nested paths in one call: one level at a time.
      if (child.includes('/')) throw new RosettaError('E_INTERNAL', `group name '${child}' contains '/'`, { where: { file: fileName, entry: p } });
      let sub: H5Group | null | undefined;
      try {
        sub = g.create_group(child);
      } catch (e) {
        throw wrapError(e, 'E_INTERNAL', 'cannot create group', { file: fileName, entry: p });
      }
      if (!sub) throw new RosettaError('E_INTERNAL', 'libhdf5 did not create the group', { where: { file: fileName, entry: p } });
      writeGroup(sub, value, p, fileName);
    }
  }
}
