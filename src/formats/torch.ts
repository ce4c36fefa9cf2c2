/**
 * `torch.save` files, read and written without PyTorch and without executing anything.
 *
 * Two layouts exist:
 * - the zip format (torch ≥ 1.6): one root folder (any name) holding `data.pkl` (the pickled object,
 *   storages as persistent ids `('storage', torch.FloatStorage, key, location, numel)`),
 *   `data/<key>` (raw storage bytes), `byteorder` (`little`/`big`), `version`, and optional
 *   `.format_version`, `.storage_alignment`, `.data/serialization_id` records;
 * - the legacy format (`_use_new_zipfile_serialization=False`): pickles back to back — the magic
 *   number 0x1950a86a20f9469cfc6c, the protocol version 1001, a sys-info dict, the object, a list of
 *   storage keys — then each storage as an 8-byte element count followed by its bytes.
 *
 * Globals resolve through `torchGlobals`, an allowlist modelled on `torch.load(weights_only=True)`
 * (torch/_weights_only_unpickler.py): the `torch._utils._rebuild_*` tensor builders, storage and
 * dtype types, `torch.Size`, OrderedDict and a few builtins. Classes under `torch.nn.modules.` (a
 * pickled whole `nn.Module`) become inert `PyObject` placeholders whose state is kept so their
 * tensors can be collected. Everything else is refused with E_UNSAFE_CONTENT.
 *
 * Spec: torch/serialization.py (`_save`, `_legacy_save`, `_load`, `_legacy_load`),
 * caffe2/serialize/inline_container.h (the archive layout).
 */
import type { DType } from '../ir/dtype.js';
import { RosettaError, wrapError, type ErrorWhere } from '../ir/errors.js';
import { Tensor, checkedSize, stridesOf } from '../ir/tensor.js';
import { PickleWriter } from './pickle-writer.js';
import { PickleOpaque, PyGlobal, PyObject, type PickleValue, describe, safeBuiltins, unpickle } from './pickle.js';
import { elementBytes, swapBytes, swapUnit, tensorToLE, typedFromBytes } from './tensor-bytes.js';
import { isZip, readZip, writeZip, type ZipArchive } from './zip.js';

/** torch storage class name (`torch.FloatStorage`) ⇄ IR dtype. */
export const STORAGE_DTYPES: Readonly<Record<string, DType>> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  ComplexFloatStorage: 'complex64',
  ComplexDoubleStorage: 'complex128',
  UInt16Storage: 'uint16',
  UInt32Storage: 'uint32',
  UInt64Storage: 'uint64',
  Float8_e5m2Storage: 'float8e5m2',
  Float8_e4m3fnStorage: 'float8e4m3fn',
  Float8_e5m2fnuzStorage: 'float8e5m2fnuz',
  Float8_e4m3fnuzStorage: 'float8e4m3fnuz',
};

/** torch dtype attribute names (`torch.float32`) ⇄ IR dtype, for dtypes pickled as values. */
const TORCH_DTYPE_NAMES: Readonly<Record<string, DType>> = {
  float32: 'float32', float: 'float32', float64: 'float64', double: 'float64', float16: 'float16', half: 'float16',
  bfloat16: 'bfloat16', int64: 'int64', long: 'int64', int32: 'int32', int: 'int32', int16: 'int16', short: 'int16',
  int8: 'int8', uint8: 'uint8', bool: 'bool', complex64: 'complex64', complex128: 'complex128',
  uint16: 'uint16', uint32: 'uint32', uint64: 'uint64',
  float8_e5m2: 'float8e5m2', float8_e4m3fn: 'float8e4m3fn', float8_e5m2fnuz: 'float8e5m2fnuz', float8_e4m3fnuz: 'float8e4m3fnuz',
};

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

/** A torch dtype pickled as a value (e.g. inside an optimizer state). */
export class TorchDType extends PickleOpaque {
  constructor(readonly dtype: DType) {
    super();
  }
}

/** One storage: dtype, element count and a lazy reader of its little-endian bytes. */
export class TorchStorage extends PickleOpaque {
  private cached?: Uint8Array;
  constructor(
    readonly key: string,
    readonly dtype: DType,
    readonly numel: number,
    readonly location: string,
    private readonly load: () => Uint8Array,
    /** The file stores elements big-endian (`byteorder` = big). */
    readonly bigEndian: boolean,
  ) {
    super();
  }
  /** Raw storage bytes, checked to hold `numel` elements. */
  bytes(where: ErrorWhere): Uint8Array {
    if (!this.cached) {
      const b = this.load();
      const need = this.numel * elementBytes(this.dtype, where);
      if (b.length < need) {
        throw new RosettaError('E_TRUNCATED', `storage '${this.key}' declares ${this.numel} ${this.dtype} elements (${need} bytes) but holds ${b.length} bytes`, { where });
      }
      this.cached = b;
    }
    return this.cached;
  }
}

/**
 * A tensor as pickled: a view (offset, shape, strides in elements) into a storage. Nothing is
 * copied until `materialize`, so shared storages cost nothing and only wanted tensors are read.
 */
export class TorchTensorRef extends PickleOpaque {
  /** True for `nn.Parameter`s. */
  isParameter = false;
  constructor(
    readonly storage: TorchStorage,
    readonly offset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
    readonly requiresGrad: boolean,
  ) {
    super();
  }
  /** Tensor subclasses and `_rebuild_parameter_with_state` attach Python attributes; none carry data we need. */
  override setState(): void {}

  get dtype(): DType {
    return this.storage.dtype;
  }

  /** Copy the viewed elements into a fresh C-ordered IR tensor (big-endian storages byte-swapped, bools 0/1). */
  materialize(where: ErrorWhere = {}): Tensor {
    const { shape, stride, offset } = this;
    const dtype = this.storage.dtype;
    const n = checkedSize(shape, 'tensor');
    const es = elementBytes(dtype, where);
    if (n === 0) return new Tensor(dtype, shape);
    let last = offset;
    for (let i = 0; i < shape.length; i++) last += (shape[i]! - 1) * stride[i]!;
    if (last >= this.storage.numel) {
      throw new RosettaError('E_BAD_FORMAT', `tensor view (offset ${offset}, shape [${shape.join(', ')}], stride [${stride.join(', ')}]) reaches element ${last} of a storage of ${this.storage.numel}`, { where });
    }
    const src = this.storage.bytes(where);
    const out = new Uint8Array(n * es);
    const contiguous = stridesOf(shape).every((s, i) => shape[i] === 1 || s === stride[i]);
    if (contiguous) {
      out.set(src.subarray(offset * es, (offset + n) * es));
    } else {
      copyStrided(src, out, shape, stride, offset, es);
    }
    if (this.storage.bigEndian) swapBytes(out, swapUnit(dtype));
    if (dtype === 'bool') for (let i = 0; i < out.length; i++) out[i] = out[i] ? 1 : 0;
    return new Tensor(dtype, shape, typedFromBytes(dtype, out));
  }
}

/**
 * Gather a strided view into C order. Elements move as 1/2/4-byte words through typed views when
 * the source is aligned (an 8-byte element is two 4-byte words, so NaN payloads are never
 * touched by float conversions); otherwise byte by byte. The innermost dimension is a tight loop.
 */
function copyStrided(src: Uint8Array, out: Uint8Array, shape: readonly number[], stride: readonly number[], offset: number, es: number): void {
  const unit = es >= 4 ? 4 : es;
  const aligned = src.byteOffset % unit === 0;
  const w = aligned ? unit : 1;
  const per = es / w;
  const view = (b: Uint8Array): Uint8Array | Uint16Array | Uint32Array =>
    w === 4 ? new Uint32Array(b.buffer, b.byteOffset, Math.floor(b.byteLength / 4)) : w === 2 ? new Uint16Array(b.buffer, b.byteOffset, Math.floor(b.byteLength / 2)) : b;
  const s = view(src);
  const o = view(out);
  const rank = shape.length;
  const inner = shape[rank - 1]!;
  const innerStride = stride[rank - 1]! * per;
  const idx = new Array<number>(rank).fill(0);
  let k = 0;
  let base = offset * per;
  const outer = out.length / es / inner;
  for (let r = 0; r < outer; r++) {
    let p = base;
    if (per === 1) {
      for (let j = 0; j < inner; j++, p += innerStride) o[k++] = s[p]!;
    } else {
      for (let j = 0; j < inner; j++, p += innerStride) for (let c = 0; c < per; c++) o[k++] = s[p + c]!;
    }
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]!++;
      base += stride[d]! * per;
      if (idx[d]! < shape[d]!) break;
      base -= stride[d]! * per * shape[d]!;
      idx[d] = 0;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The allowlist

function ints(v: PickleValue, what: string, where: ErrorWhere): number[] {
  if (!Array.isArray(v)) throw new RosettaError('E_BAD_FORMAT', `${what} is ${describe(v)}, not a tuple of ints`, { where });
  return (v as PickleValue[]).map((x) => {
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) throw new RosettaError('E_BAD_FORMAT', `${what} holds ${String(x)}, not a non-negative integer`, { where });
    return x;
  });
}

/** `_rebuild_tensor(storage, storage_offset, size, stride)` and its v2 form (extra args ignored). */
function rebuildTensor(args: readonly PickleValue[], where: ErrorWhere, v2: boolean): TorchTensorRef {
  const [storage, off, size, stride, requiresGrad] = args;
  if (!(storage instanceof TorchStorage)) throw new RosettaError('E_BAD_FORMAT', `tensor rebuild expects a storage, got ${describe(storage)}`, { where });
  if (typeof off !== 'number' || !Number.isSafeInteger(off) || off < 0) throw new RosettaError('E_BAD_FORMAT', `tensor storage offset ${String(off)} is invalid`, { where });
  const shape = ints(size!, 'tensor size', where);
  const strides = ints(stride!, 'tensor stride', where);
  if (shape.length !== strides.length) throw new RosettaError('E_BAD_FORMAT', `tensor size [${shape.join(', ')}] and stride [${strides.join(', ')}] differ in rank`, { where });
  checkedSize(shape, 'tensor');
  return new TorchTensorRef(storage, off, shape, strides, v2 && requiresGrad === true);
}

function asParameter(t: PickleValue, where: ErrorWhere): TorchTensorRef {
  if (!(t instanceof TorchTensorRef)) throw new RosettaError('E_BAD_FORMAT', `nn.Parameter wraps ${describe(t)}, not a tensor`, { where });
  t.isParameter = true;
  return t;
}

/** Type tokens that may appear as arguments (e.g. `_rebuild_from_type_v2`'s new type) but are never called. */
const TYPE_TOKENS = new Set(['torch._tensor.Tensor', 'torch.Tensor', 'torch.nn.parameter.Parameter', 'torch.nn.parameter.Buffer']);

/**
 * The torch allowlist (modelled on torch/_weights_only_unpickler.py), falling back to
 * `safeBuiltins`. Classes under `torch.nn.modules.` are admitted as inert `PyObject` placeholders.
 */
export function torchGlobals(module: string, name: string): PyGlobal | undefined {
  const q = `${module}.${name}`;
  switch (q) {
    case 'torch._utils._rebuild_tensor':
      return new PyGlobal(module, name, (a, w) => rebuildTensor(a, w, false));
    case 'torch._utils._rebuild_tensor_v2':
    case 'torch._utils._rebuild_tensor_v3':
      return new PyGlobal(module, name, (a, w) => rebuildTensor(a, w, true));
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state':
      return new PyGlobal(module, name, (a, w) => asParameter(a[0] ?? null, w));
    case 'torch._tensor._rebuild_from_type_v2':
      // (func, new_type, args, state): rebuild with an allowlisted func; the subclass type is a token.
      return new PyGlobal(module, name, (a, w) => {
        const [fn, type, args] = a;
        if (!(fn instanceof PyGlobal) || !fn.call) throw new RosettaError('E_BAD_FORMAT', `_rebuild_from_type_v2 with ${describe(fn ?? null)}`, { where: w });
        if (!(type instanceof PyGlobal) || !TYPE_TOKENS.has(type.qualname)) {
          throw new RosettaError('E_UNSAFE_CONTENT', `_rebuild_from_type_v2 asks for tensor type ${describe(type ?? null)}, which is not allowlisted`, { where: w });
        }
        if (!Array.isArray(args)) throw new RosettaError('E_BAD_FORMAT', '_rebuild_from_type_v2 arguments are not a tuple', { where: w });
        const t = fn.call(args as PickleValue[], w);
        return type.name === 'Parameter' ? asParameter(t, w) : t;
      });
    case 'torch.device':
      // torch.device('cuda:0') inside checkpoints: inert data, like in weights_only's allowlist.
      return new PyGlobal(module, name, (a) => new PyObject(q, a));
    case 'torch.Size':
      return new PyGlobal(module, name, (a, w) => Object.freeze(ints(a[0] ?? Object.freeze([]), 'torch.Size', w)));
    case 'torch._utils._rebuild_qtensor':
    case 'torch._utils._rebuild_sparse_tensor':
    case 'torch._utils._rebuild_sparse_csr_tensor':
    case 'torch._utils._rebuild_nested_tensor':
    case 'torch._utils._rebuild_meta_tensor_no_storage':
    case 'torch._utils._rebuild_wrapper_subclass':
      return new PyGlobal(module, name, (_a, w) => {
        throw new RosettaError('E_UNSUPPORTED', `${q}: quantized, sparse, nested and meta tensors are not supported`, { where: w, hint: 'convert them to dense tensors (t.to_dense() / t.dequantize()) before saving' });
      });
  }
  if (TYPE_TOKENS.has(q)) return new PyGlobal(module, name);
  if (module === 'torch') {
    if (name in STORAGE_DTYPES) return new PyGlobal(module, name); // referenced by persistent ids only
    if (name in TORCH_DTYPE_NAMES) {
      const dt = TORCH_DTYPE_NAMES[name]!;
      return new PyGlobal(module, name, () => new TorchDType(dt));
    }
    if (name.endsWith('Storage')) {
      return new PyGlobal(module, name, (_a, w) => {
        throw new RosettaError('E_UNSUPPORTED_DTYPE', `storage type torch.${name} is not supported`, { where: w });
      });
    }
  }
  if (module === 'torch.storage' && (name === 'UntypedStorage' || name === 'TypedStorage' || name === '_TypedStorage')) return new PyGlobal(module, name);
  if (module.startsWith('torch.nn.modules.') && /^[A-Z][A-Za-z0-9_]*$/.test(name)) {
    // A pickled whole nn.Module: an inert placeholder that keeps BUILD's state; no code of it runs.
    return new PyGlobal(module, name, (a) => new PyObject(q, a));
  }
  return safeBuiltins(module, name);
}

/** Dtype of a storage type token, or a typed error. */
function storageDType(t: PickleValue, where: ErrorWhere): DType {
  if (t instanceof PyGlobal && t.module === 'torch' && t.name in STORAGE_DTYPES) return STORAGE_DTYPES[t.name]!;
  if (t instanceof TorchDType) return t.dtype; // torch ≥ 2 may pickle the dtype itself
  if (t instanceof PyGlobal && t.module === 'torch' && t.name.endsWith('Storage')) {
    throw new RosettaError('E_UNSUPPORTED_DTYPE', `storage type torch.${t.name} (quantized or otherwise unsupported) cannot be read`, { where, hint: 'dequantize or cast the tensors before saving' });
  }
  throw new RosettaError('E_BAD_FORMAT', `persistent id names storage type ${describe(t)}`, { where });
}

// ---------------------------------------------------------------------------------------------
// Reading

/** What a torch file holds: the unpickled object (tensors as `TorchTensorRef`) and how it was stored. */
export interface TorchFile {
  layout: 'zip' | 'legacy' | 'pickle';
  value: PickleValue;
  /** Remarks for the user (e.g. big-endian storages, ignored records). */
  notes: string[];
}

/** Legacy torch.save: starts with a protocol-2 LONG1 of the 10-byte magic number. */
export function isTorchLegacy(bytes: Uint8Array): boolean {
  const m = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
  return bytes.length >= m.length && m.every((x, i) => bytes[i] === x);
}

/** A bare pickle (protocol 2–5 header), e.g. `pickle.dump` output or a crafted `.pt`. */
export function isPickle(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x80 && bytes[1]! >= 2 && bytes[1]! <= 5;
}

/** Sniff: a zip whose entries look like a torch archive can only be confirmed on open; this checks magic only. */
export function looksLikeTorch(bytes: Uint8Array): boolean {
  return isZip(bytes) || isTorchLegacy(bytes) || isPickle(bytes);
}

/** Read any torch.save file (zip or legacy) or a bare pickle, never executing anything. */
export function readTorch(bytes: Uint8Array, file?: string): TorchFile {
  try {
    return readTorchUnguarded(bytes, file);
  } catch (e) {
    // Safety net: whatever slipped past the checks leaves as a typed error, never a raw RangeError.
    throw wrapError(e, 'E_BAD_FORMAT', 'cannot read this PyTorch file', { file });
  }
}

function readTorchUnguarded(bytes: Uint8Array, file?: string): TorchFile {
  const where: ErrorWhere = { file };
  if (bytes.length === 0) throw new RosettaError('E_TRUNCATED', 'file is empty', { where });
  if (isZip(bytes)) return readTorchZip(readZip(bytes, { file }), file);
  if (bytes.length > 262 && new TextDecoder('latin1').decode(bytes.subarray(257, 262)) === 'ustar') {
    throw new RosettaError('E_UNSUPPORTED', 'this is a tar archive (torch.save before PyTorch 0.4), which is not supported', { where, hint: 'load and re-save it with a current PyTorch' });
  }
  if (bytes[0] !== 0x80 && bytes[0] !== 0x28 && bytes[0] !== 0x63 && bytes[0] !== 0x7d && bytes[0] !== 0x5d) {
    throw new RosettaError('E_BAD_FORMAT', 'not a PyTorch file: neither a zip archive nor a pickle', { where, hint: 'expected a file written by torch.save' });
  }
  return readTorchLegacy(bytes, file);
}

function readTorchZip(z: ZipArchive, file?: string): TorchFile {
  const where: ErrorWhere = { file };
  const names = z.names();
  if (names.some((n) => /(^|\/)constants\.pkl$/.test(n) || /(^|\/)code\//.test(n))) {
    throw new RosettaError('E_UNSUPPORTED', 'this is a TorchScript archive (torch.jit.save); its code is never run', {
      where,
      hint: 'in PyTorch, save the weights with torch.save(model.state_dict(), path) or export to ONNX, and convert that',
    });
  }
  const pkls = names.filter((n) => /^([^/]+\/)?data\.pkl$/.test(n));
  if (pkls.length !== 1) {
    throw new RosettaError('E_BAD_FORMAT', pkls.length ? `zip holds ${pkls.length} data.pkl records` : 'zip archive has no data.pkl: not a torch.save file', { where, hint: 'expected an archive written by torch.save' });
  }
  const root = pkls[0]!.slice(0, -'data.pkl'.length);
  const notes: string[] = [];
  let bigEndian = false;
  if (z.has(`${root}byteorder`)) {
    const bo = new TextDecoder().decode(z.read(`${root}byteorder`)).trim();
    if (bo === 'big') {
      bigEndian = true;
      notes.push('storages are big-endian; converted to little-endian');
    } else if (bo !== 'little') throw new RosettaError('E_BAD_FORMAT', `byteorder record says '${bo.slice(0, 20)}'`, { where: { ...where, entry: `${root}byteorder` } });
  }
  const storages = new Map<string, TorchStorage>();
  const persistentLoad = (pid: PickleValue, w: ErrorWhere): PickleValue => {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) throw new RosettaError('E_BAD_FORMAT', `unknown persistent id ${describe(pid)}`, { where: w });
    const [, type, key, location, numel] = pid as PickleValue[];
    if (typeof key !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(key) || key === '..') throw new RosettaError('E_BAD_FORMAT', `storage key ${describe(key ?? null)} is not a simple name`, { where: w });
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) throw new RosettaError('E_BAD_FORMAT', `storage '${key}' has an invalid element count`, { where: w });
    const dtype = storageDType(type ?? null, w);
    const prev = storages.get(key);
    if (prev) {
      if (prev.dtype !== dtype) throw new RosettaError('E_BAD_FORMAT', `storage '${key}' is referenced as ${prev.dtype} and ${dtype}`, { where: w });
      return prev;
    }
    const entry = `${root}data/${key}`;
    if (!z.has(entry)) throw new RosettaError('E_BAD_FORMAT', `storage record ${entry} is missing from the archive`, { where: { ...w, entry } });
    const s = new TorchStorage(key, dtype, numel, typeof location === 'string' ? location : 'cpu', () => z.read(entry), bigEndian);
    storages.set(key, s);
    return s;
  };
  const { value } = unpickle(z.read(pkls[0]!), { resolveGlobal: torchGlobals, persistentLoad, file: file ? `${file}:${pkls[0]}` : pkls[0] });
  return { layout: 'zip', value, notes };
}

function readTorchLegacy(bytes: Uint8Array, file?: string): TorchFile {
  const where: ErrorWhere = { file };
  const first = unpickle(bytes, { resolveGlobal: torchGlobals, file });
  if (first.value !== Number(LEGACY_MAGIC) && first.value !== LEGACY_MAGIC) {
    if (first.end === bytes.length) return { layout: 'pickle', value: first.value, notes: ['a bare pickle, not a torch.save file'] };
    throw new RosettaError('E_BAD_FORMAT', 'not a PyTorch file: a pickle without the torch.save magic number', { where, hint: 'expected a file written by torch.save' });
  }
  const proto = unpickle(bytes, { offset: first.end, file });
  if (proto.value !== LEGACY_PROTOCOL) throw new RosettaError('E_UNSUPPORTED', `legacy torch protocol ${String(proto.value)} (expected ${LEGACY_PROTOCOL})`, { where: { ...where, offset: first.end } });
  const sys = unpickle(bytes, { offset: proto.end, file });
  let bigEndian = false;
  if (sys.value instanceof Map && sys.value.get('little_endian') === false) bigEndian = true;

  type Pending = { storage: TorchStorage; bytes?: Uint8Array };
  const roots = new Map<string, Pending>();
  const views = new Map<string, TorchStorage>();
  const persistentLoad = (pid: PickleValue, w: ErrorWhere): PickleValue => {
    if (!Array.isArray(pid) || pid.length < 5) throw new RosettaError('E_BAD_FORMAT', `unknown persistent id ${describe(pid)}`, { where: w });
    const kind = pid[0];
    if (kind === 'module') return null; // source code of a pickled module class: ignored, never run
    if (kind !== 'storage') throw new RosettaError('E_BAD_FORMAT', `unknown persistent id kind ${describe(kind ?? null)}`, { where: w });
    const [, type, key, location, numel, view] = pid as PickleValue[];
    if (typeof key !== 'string' || key.length > 64) throw new RosettaError('E_BAD_FORMAT', 'storage key is not a short string', { where: w });
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) throw new RosettaError('E_BAD_FORMAT', `storage '${key}' has an invalid element count`, { where: w });
    const dtype = storageDType(type ?? null, w);
    let root = roots.get(key);
    if (!root) {
      const p: Pending = {} as Pending;
      p.storage = new TorchStorage(key, dtype, numel, typeof location === 'string' ? location : 'cpu', () => {
        if (!p.bytes) throw new RosettaError('E_BAD_FORMAT', `storage '${key}' is used but its data is not in the file`, { where });
        return p.bytes;
      }, bigEndian);
      roots.set(key, p);
      root = p;
    } else if (root.storage.dtype !== dtype) throw new RosettaError('E_BAD_FORMAT', `storage '${key}' is referenced as ${root.storage.dtype} and ${dtype}`, { where: w });
    if (view === null || view === undefined) return root.storage;
    // Pre-1.0 storage views: (view_key, offset, size) into the root storage, shared by view_key.
    if (!Array.isArray(view) || view.length !== 3 || typeof view[0] !== 'string') throw new RosettaError('E_BAD_FORMAT', 'storage view metadata is malformed', { where: w });
    const viewKey = view[0] as string;
    const [off, size] = ints(Object.freeze((view as PickleValue[]).slice(1)), 'storage view', w) as [number, number];
    if (off + size > numel) throw new RosettaError('E_BAD_FORMAT', `storage view [${off}, ${off + size}) exceeds storage '${key}' of ${numel}`, { where: w });
    const known = views.get(viewKey);
    if (known) return known;
    const es = elementBytes(dtype, w);
    const rs = root.storage;
    const v = new TorchStorage(`${key}[${off}:${off + size}]`, dtype, size, rs.location, () => rs.bytes(w).subarray(off * es, (off + size) * es), bigEndian);
    views.set(viewKey, v);
    return v;
  };
  const main = unpickle(bytes, { offset: sys.end, resolveGlobal: torchGlobals, persistentLoad, file });
  const keysP = unpickle(bytes, { offset: main.end, file });
  if (!Array.isArray(keysP.value)) throw new RosettaError('E_BAD_FORMAT', 'legacy storage key list is missing', { where: { ...where, offset: main.end } });
  let pos = keysP.end;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keysP.value as PickleValue[]) {
    if (typeof key !== 'string') throw new RosettaError('E_BAD_FORMAT', 'legacy storage key is not a string', { where: { ...where, offset: pos } });
    const p = roots.get(key);
    if (!p) throw new RosettaError('E_BAD_FORMAT', `legacy file stores data for storage '${key}' that no tensor uses`, { where: { ...where, offset: pos } });
    if (pos + 8 > bytes.length) throw new RosettaError('E_TRUNCATED', `legacy storage '${key}' has no length prefix`, { where: { ...where, offset: pos } });
    const count = Number(bigEndian ? dv.getBigInt64(pos, false) : dv.getBigInt64(pos, true));
    pos += 8;
    if (count !== p.storage.numel) throw new RosettaError('E_BAD_FORMAT', `legacy storage '${key}' holds ${count} elements, the pickle says ${p.storage.numel}`, { where: { ...where, offset: pos - 8 } });
    const n = count * elementBytes(p.storage.dtype, where);
    if (pos + n > bytes.length) throw new RosettaError('E_TRUNCATED', `legacy storage '${key}' needs ${n} bytes, ${bytes.length - pos} remain`, { where: { ...where, offset: pos } });
    p.bytes = bytes.subarray(pos, pos + n);
    pos += n;
  }
  const notes = bigEndian ? ['storages are big-endian; converted to little-endian'] : [];
  if (pos !== bytes.length) notes.push(`${bytes.length - pos} bytes after the last storage were ignored`);
  return { layout: 'legacy', value: main.value, notes };
}

// ---------------------------------------------------------------------------------------------
// Writing

const DTYPE_STORAGE: Partial<Record<DType, string>> = Object.fromEntries(
  Object.entries(STORAGE_DTYPES)
    // torch 1.13 (the oldest reader we target) has no unsigned >8-bit or float8 storages.
    .filter(([, d]) => !d.startsWith('uint') || d === 'uint8')
    .filter(([, d]) => !d.startsWith('float8'))
    .map(([k, d]) => [d, k]),
);

/**
 * Write tensors as a torch.save zip archive holding an `OrderedDict` state dict, the way
 * `torch.save(sd, path)` lays it out: root folder `archive/`, `data.pkl` (protocol 2),
 * one storage per distinct Tensor object at `data/<i>` aligned to 64 bytes, `byteorder`, `version`.
 */
export function writeTorch(tensors: ReadonlyMap<string, Tensor>, root = 'archive'): Uint8Array {
  return writeTorchObject({ ordered: tensors }, root);
}

/**
 * What `writeTorchObject` pickles: a Tensor, a number (an int when integral, else a float), a
 * bigint, a string, a boolean, null (None), an array (a list), `{ tuple: [...] }`, a Map (a dict;
 * string or integer keys) or `{ ordered: Map }` (a collections.OrderedDict, as state dicts are).
 */
export type TorchObject =
  | Tensor
  | number
  | bigint
  | string
  | boolean
  | null
  | TorchObject[]
  | { tuple: TorchObject[] }
  | { ordered: ReadonlyMap<string, TorchObject> }
  | ReadonlyMap<string | number, TorchObject>;

/**
 * Write any checkpoint-shaped value as a torch.save zip archive (a training checkpoint:
 * `{'model_state_dict': …, 'optimizer_state_dict': {'state': {0: {...}}, 'param_groups': [...]},
 * 'epoch': 3}`), laid out as `torch.save` does: root folder `archive/`, `data.pkl` (protocol 2),
 * one storage per distinct Tensor object at `data/<i>` aligned to 64 bytes, `byteorder`, `version`.
 * Opcodes are those torch.save emits. PyTorch 1.13's `weights_only=True` unpickler has no float
 * opcode (BINFLOAT), so there a checkpoint holding floats (an lr) loads with plain `torch.load`, as
 * torch.save's own do; a state dict (tensors only) loads either way.
 */
export function writeTorchObject(value: TorchObject, root = 'archive'): Uint8Array {
  const p = new PickleWriter(2);
  const storages: { name: string; data: Uint8Array; align: number }[] = [];
  // The same Tensor object under two names (tied weights) is written once and shared, as torch does.
  const keys = new Map<Tensor, string>();
  const tensor = (t: Tensor, where: string): void => {
    const st = DTYPE_STORAGE[t.dtype];
    if (!st) throw new RosettaError('E_UNSUPPORTED_DTYPE', `PyTorch 1.13 files cannot hold ${t.dtype} tensors`, { where: { entry: where }, hint: 'cast it (e.g. to int64/float32) or write .safetensors' });
    const known = keys.get(t);
    const key = known ?? String(keys.size);
    keys.set(t, key);
    p.global('torch._utils', '_rebuild_tensor_v2');
    p.mark();
    p.mark().str('storage').global('torch', st).str(key).str('cpu').int(t.size).tuple().persId();
    p.int(0).intTuple(t.shape).intTuple(stridesOf(t.shape)).bool(false);
    p.global('collections', 'OrderedDict').emptyTuple().reduce();
    p.tuple().reduce();
    if (!known) storages.push({ name: `${root}/data/${key}`, data: tensorToLE(t, { entry: where }), align: 64 });
  };
  const emit = (v: TorchObject, where: string, depth: number): void => {
    if (depth > 64) throw new RosettaError('E_LIMIT', `checkpoint nested deeper than 64 levels at ${where}`);
    if (v instanceof Tensor) tensor(v, where);
    else if (v === null) p.none();
    else if (typeof v === 'boolean') p.bool(v);
    else if (typeof v === 'bigint') p.int(v);
    else if (typeof v === 'number') {
      if (Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER) p.int(v);
      else p.float(v);
    } else if (typeof v === 'string') p.str(v);
    else if (Array.isArray(v)) {
      p.emptyList();
      if (v.length) {
        p.mark();
        v.forEach((x, i) => emit(x, `${where}[${i}]`, depth + 1));
        p.appends();
      }
    } else if ('tuple' in v) {
      p.mark();
      (v.tuple as TorchObject[]).forEach((x, i) => emit(x, `${where}(${i})`, depth + 1));
      p.tuple();
    } else {
      const ordered = 'ordered' in v;
      const m = (ordered ? (v as { ordered: ReadonlyMap<string, TorchObject> }).ordered : v) as ReadonlyMap<string | number, TorchObject>;
      if (ordered) p.global('collections', 'OrderedDict').emptyTuple().reduce();
      else p.emptyDict();
      if (m.size) {
        p.mark();
        for (const [k, x] of m) {
          if (typeof k === 'number') p.int(k);
          else p.str(k);
          emit(x, where ? `${where}.${k}` : String(k), depth + 1);
        }
        p.setItems();
      }
    }
  };
  emit(value, '', 0);
  const enc = new TextEncoder();
  return writeZip([
    { name: `${root}/data.pkl`, data: p.finish(), align: 64 },
    { name: `${root}/byteorder`, data: enc.encode('little'), align: 64 },
    ...storages,
    { name: `${root}/version`, data: enc.encode('3\n'), align: 64 },
  ]);
}
