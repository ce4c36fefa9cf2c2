/**
 * From an unpickled torch object to a flat state dict: dotted keys → IR tensors, the way PyTorch
 * names them (`features.0.weight`).
 *
 * Handles what people actually save: a bare state dict; checkpoints wrapping it
 * (`{'state_dict': …}`, `{'model_state_dict': …, 'epoch': …}`, `{'model': …}`), whose scalar
 * entries become metadata; nested dicts and lists (flattened with dots); and whole pickled
 * `nn.Module`s, whose `_parameters`, persistent `_buffers` and `_modules` are walked in
 * `state_dict()` order. `key` picks a nested entry explicitly (`optimizer_state_dict`, `model.ema`).
 */
import { RosettaError, type ErrorWhere } from '../../ir/errors.js';
import type { Tensor } from '../../ir/tensor.js';
import { PyObject, type PickleValue, describe } from '../../formats/pickle.js';
import { TorchDType, TorchTensorRef } from '../../formats/torch.js';

/** Flattened tensors plus metadata and remarks for the user. */
export interface FlatStateDict {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
  notes: string[];
}

/** Entries that wrap the real state dict in common training checkpoints, in preference order. */
const WRAPPER_KEYS = ['state_dict', 'model_state_dict', 'model', 'module', 'net', 'network', 'params', 'weights', 'ema'];

const MAX_DEPTH = 64;
/**
 * Most container entries visited while flattening. The memo lets a few hundred pickle bytes
 * describe a DAG with 2^n paths; this bound turns that into E_LIMIT instead of a hang.
 */
const MAX_VISITS = 2_000_000;

function isModule(v: PickleValue): v is PyObject {
  return v instanceof PyObject && v.className.startsWith('torch.nn.modules.');
}

/** Child entries of a container as (name, value) pairs; undefined for leaves. */
function children(v: PickleValue): [string, PickleValue][] | undefined {
  if (v instanceof Map) {
    const out: [string, PickleValue][] = [];
    for (const [k, x] of v) out.push([typeof k === 'string' ? k : typeof k === 'number' || typeof k === 'bigint' ? String(k) : `<${describe(k)}>`, x]);
    return out;
  }
  if (Array.isArray(v)) return (v as PickleValue[]).map((x, i) => [String(i), x]);
  if (isModule(v)) return moduleEntries(v);
  return undefined;
}

/** A pickled nn.Module's entries in `state_dict()` order: parameters, persistent buffers, then submodules. */
function moduleEntries(m: PyObject): [string, PickleValue][] {
  const st = m.state instanceof Map ? m.state : new Map<PickleValue, PickleValue>();
  const out: [string, PickleValue][] = [];
  const map = (k: string): Map<PickleValue, PickleValue> => {
    const v = st.get(k);
    return v instanceof Map ? v : new Map();
  };
  const nonPersistent = st.get('_non_persistent_buffers_set');
  for (const [k, v] of map('_parameters')) if (v !== null && typeof k === 'string') out.push([k, v]);
  for (const [k, v] of map('_buffers')) {
    if (v !== null && typeof k === 'string' && !(nonPersistent instanceof Set && nonPersistent.has(k))) out.push([k, v]);
  }
  for (const [k, v] of map('_modules')) if (v !== null && typeof k === 'string') out.push([k, v]);
  return out;
}

/** Whether any tensor is reachable; memoised so shared or cyclic containers cost one visit each. */
function hasTensors(v: PickleValue, seen = new Map<object, boolean>()): boolean {
  if (v instanceof TorchTensorRef) return true;
  if (typeof v !== 'object' || v === null) return false;
  const known = seen.get(v);
  if (known !== undefined) return known;
  seen.set(v, false);
  const c = children(v);
  const r = !!c && c.some(([, x]) => hasTensors(x, seen));
  seen.set(v, r);
  return r;
}

/** Resolve a dotted `key` inside the object; dict keys that themselves contain dots are matched whole first. */
function pick(root: PickleValue, key: string, where: ErrorWhere): PickleValue {
  const c = children(root);
  if (c) {
    const exact = c.find(([k]) => k === key);
    if (exact) return exact[1];
    // Longest matching prefix first, so 'model.ema' finds {'model.ema': …} before {'model': {'ema': …}}.
    const matches = c.filter(([k]) => key.startsWith(`${k}.`)).sort((a, b) => b[0].length - a[0].length);
    for (const [k, v] of matches) {
      try {
        return pick(v, key.slice(k.length + 1), where);
      } catch {
        // try a shorter prefix
      }
    }
  }
  const avail = c ? c.map(([k]) => k).slice(0, 20).join(', ') : `nothing (it is ${describe(root)})`;
  throw new RosettaError('E_USAGE', `checkpoint has no entry '${key}'`, { where, hint: `entries here: ${avail}` });
}

/**
 * Flatten an unpickled torch object into a state dict. Without `key`, a checkpoint whose top level
 * holds no tensors directly but wraps them under a well-known key is unwrapped.
 */
export function flattenStateDict(value: PickleValue, opts: { key?: string; where?: ErrorWhere } = {}): FlatStateDict {
  const where = opts.where ?? {};
  const tensors = new Map<string, Tensor>();
  const metadata: Record<string, string> = {};
  const notes: string[] = [];
  let root = value;
  if (opts.key !== undefined && opts.key !== '') {
    root = pick(value, opts.key, where);
    notes.push(`read checkpoint entry '${opts.key}'`);
  } else {
    const top = children(value);
    if (top && !top.some(([, v]) => v instanceof TorchTensorRef)) {
      const wrapper = WRAPPER_KEYS.map((k) => top.find(([n]) => n === k)).find((e) => e !== undefined && hasTensors(e[1]));
      if (wrapper) {
        root = wrapper[1];
        for (const [k, v] of top) {
          if (k === wrapper[0]) continue;
          const s = scalarText(v);
          if (s !== undefined) metadata[k] = s;
        }
        const others = top.filter(([k, v]) => k !== wrapper[0] && hasTensors(v)).map(([k]) => k);
        notes.push(`checkpoint: read the state dict under '${wrapper[0]}'${others.length ? `; also holds ${others.join(', ')} (pick one with --key ${others[0]} on the command line, or the 'key' import option)` : ''}`);
      }
    }
  }
  const modules: string[] = [];
  const onPath = new Set<object>();
  // One IR tensor per distinct view (storage, offset, shape, stride): tied weights, pickled as two
  // tensors on one storage, stay one shared Tensor instead of being copied per key.
  const materialized = new Map<TorchTensorRef['storage'], Map<string, Tensor>>();
  let visits = 0;
  const walk = (v: PickleValue, prefix: string, depth: number): void => {
    if (++visits > MAX_VISITS) throw new RosettaError('E_LIMIT', `checkpoint has more than ${MAX_VISITS} entries (shared containers expand to too many keys)`, { where });
    if (v instanceof TorchTensorRef) {
      const name = prefix.slice(0, -1);
      if (tensors.has(name)) throw new RosettaError('E_BAD_FORMAT', `two tensors flatten to the key '${name}'`, { where });
      const viewKey = `${v.offset}|${v.shape.join(',')}|${v.stride.join(',')}`;
      let views = materialized.get(v.storage);
      if (!views) materialized.set(v.storage, (views = new Map()));
      let t = views.get(viewKey);
      if (!t) {
        t = v.materialize({ ...where, entry: name });
        views.set(viewKey, t);
      }
      tensors.set(name, t);
      return;
    }
    const c = children(v);
    if (!c) {
      const s = scalarText(v);
      if (s !== undefined && prefix) metadata[prefix.slice(0, -1)] = s;
      return;
    }
    if (depth > MAX_DEPTH) throw new RosettaError('E_LIMIT', `checkpoint nests deeper than ${MAX_DEPTH} levels`, { where: { ...where, entry: prefix } });
    const obj = v as object;
    if (onPath.has(obj)) throw new RosettaError('E_BAD_FORMAT', `checkpoint contains itself at '${prefix.slice(0, -1)}'`, { where });
    onPath.add(obj);
    if (isModule(v)) modules.push(v.className);
    for (const [k, x] of c) walk(x, `${prefix}${k}.`, depth + 1);
    onPath.delete(obj);
  };
  if (root instanceof TorchTensorRef) {
    tensors.set(opts.key || 'tensor', root.materialize(where));
  } else {
    walk(root, '', 0);
  }
  if (modules.length) {
    notes.push(
      `the file pickles a whole nn.Module (${modules[0]}${modules.length > 1 ? ` and ${modules.length - 1} submodules` : ''}): its tensors were read as a state dict, but the architecture must come from elsewhere (define it with rosetta's nn API, or export the model to ONNX in PyTorch)`,
    );
  }
  return { tensors, metadata, notes };
}

function scalarText(v: PickleValue): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof TorchDType) return `torch.${v.dtype}`;
  return undefined;
}
