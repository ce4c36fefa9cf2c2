/**
 * tfjs-layers `model.json` + binary weight shards. The topology is a Keras model JSON (directly,
 * or under `model_config` for converter output); `weightsManifest` groups list shard paths
 * (read through `FileSource.readSibling`, so path containment stays in the node layer; shards
 * often have no extension) and the weights stored back to back across a group's shards.
 * Quantised weights (uint8/uint16 with scale+min, float16) are dequantised to float32.
 * Format: https://www.tensorflow.org/js/guide/save_load#format,
 * tfjs-core/src/io/io_utils.ts (decodeWeights).
 */
import { RosettaError } from '../../ir/errors.js';
import { f16ToF32 } from '../../ir/float-bits.js';
import { checkedSize, Tensor } from '../../ir/tensor.js';
import type { FileSource } from '../types.js';
import type { TfjsModelJson, TfjsWeightEntry } from './config-types.js';
import type { WeightSource } from './context.js';
import { parseJson } from './h5.js';

/** Does this JSON text look like a tfjs-layers model? (pure sniff on the first bytes) */
export function looksLikeTfjs(bytes: Uint8Array): boolean {
  const head = new TextDecoder().decode(bytes.subarray(0, Math.min(bytes.length, 4096)));
  return /^\s*\{/.test(head) && head.includes('"modelTopology"');
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, float16: 2, uint8: 1, uint16: 2 };

/** Decode the weights of a manifest from its shards. */
export async function readTfjsWeights(json: TfjsModelJson, src: FileSource): Promise<Map<string, Tensor>> {
  const out = new Map<string, Tensor>();
  const groups = json.weightsManifest ?? [];
  if (!Array.isArray(groups)) throw new RosettaError('E_BAD_FORMAT', 'weightsManifest is not a list', { where: { file: src.name } });
  for (const [gi, g] of groups.entries()) {
    if (!g || !Array.isArray(g.paths) || !Array.isArray(g.weights)) throw new RosettaError('E_BAD_FORMAT', `weightsManifest[${gi}] lacks paths/weights`, { where: { file: src.name } });
    // Sizes first: a manifest declaring more than the shards hold fails before allocation.
    const sizes = g.weights.map((w: TfjsWeightEntry) => {
      if (!w || typeof w.name !== 'string' || !Array.isArray(w.shape)) throw new RosettaError('E_BAD_FORMAT', `weightsManifest[${gi}] has an entry without name/shape`, { where: { file: src.name } });
      const stored = w.quantization?.dtype ?? w.dtype;
      const per = BYTES[stored];
      if (per === undefined) throw new RosettaError('E_UNSUPPORTED_DTYPE', `weight dtype '${String(stored)}' is not supported`, { where: { file: src.name, entry: w.name } });
      return checkedSize(w.shape, `weight ${w.name}`) * per;
    });
    const need = sizes.reduce((a, s) => a + s, 0);
    if (!src.readSibling) throw new RosettaError('E_USAGE', 'tfjs weights live in separate shard files, but no folder access was given', { where: { file: src.name }, hint: 'open the model.json from disk (the shards must sit next to it)' });
    const parts: Uint8Array[] = [];
    let have = 0;
    for (const p of g.paths) {
      if (typeof p !== 'string') throw new RosettaError('E_BAD_FORMAT', 'shard path is not a string', { where: { file: src.name } });
      const bytes = await src.readSibling(p);
      parts.push(bytes);
      have += bytes.length;
    }
    if (have < need) throw new RosettaError('E_TRUNCATED', `weight shards of group ${gi} hold ${have} bytes, the manifest declares ${need}`, { where: { file: src.name, entry: g.paths.join(',') }, hint: 'a shard is missing or truncated' });
    const buf = new Uint8Array(have);
    let off = 0;
    for (const p of parts) {
      buf.set(p, off);
      off += p.length;
    }
    off = 0;
    g.weights.forEach((w: TfjsWeightEntry, i: number) => {
      const n = sizes[i]!;
      out.set(w.name, decodeWeight(w, buf.slice(off, off + n), src.name));
      off += n;
    });
  }
  return out;
}

function decodeWeight(w: TfjsWeightEntry, raw: Uint8Array, file: string): Tensor {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const n = checkedSize(w.shape, `weight ${w.name}`);
  const q = w.quantization;
  if (q) {
    const out = new Float32Array(n);
    if (q.dtype === 'float16') for (let i = 0; i < n; i++) out[i] = f16ToF32(dv.getUint16(2 * i, true));
    else {
      const scale = Number(q.scale);
      const min = Number(q.min);
      if (!Number.isFinite(scale) || !Number.isFinite(min)) throw new RosettaError('E_BAD_FORMAT', 'quantised weight lacks scale/min', { where: { file, entry: w.name } });
      for (let i = 0; i < n; i++) out[i] = (q.dtype === 'uint8' ? dv.getUint8(i) : dv.getUint16(2 * i, true)) * scale + min;
    }
    if (w.dtype === 'int32') return new Tensor('int32', w.shape, Int32Array.from(out, Math.round));
    return new Tensor('float32', w.shape, out);
  }
  switch (w.dtype) {
    case 'float32': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
      return new Tensor('float32', w.shape, out);
    }
    case 'int32': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getInt32(4 * i, true);
      return new Tensor('int32', w.shape, out);
    }
    case 'float16': {
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getUint16(2 * i, true);
      return new Tensor('float16', w.shape, out);
    }
    case 'bool':
      return new Tensor('bool', w.shape, raw.slice(0, n));
    default:
      throw new RosettaError('E_UNSUPPORTED_DTYPE', `weight dtype '${String(w.dtype)}' is not supported`, { where: { file, entry: w.name } });
  }
}

/** The Keras model JSON inside a tfjs model.json. */
export function tfjsTopology(json: TfjsModelJson, file: string): { model: unknown; kerasVersion?: string; backend?: string } {
  const t = json.modelTopology as Record<string, unknown> | undefined;
  if (!t || typeof t !== 'object') throw new RosettaError('E_BAD_FORMAT', 'model.json has no modelTopology', { where: { file } });
  if (t.model_config) return { model: t.model_config, kerasVersion: t.keras_version as string | undefined, backend: t.backend as string | undefined };
  return { model: t, kerasVersion: t.keras_version as string | undefined, backend: t.backend as string | undefined };
}

export function parseTfjs(bytes: Uint8Array, file: string): TfjsModelJson {
  const json = parseJson(new TextDecoder().decode(bytes), 'model.json', file);
  if (!json || typeof json !== 'object' || !('modelTopology' in json)) throw new RosettaError('E_BAD_FORMAT', 'not a tfjs-layers model.json (no modelTopology)', { where: { file } });
  return json as TfjsModelJson;
}

/** Weights of a layer: manifest entries named `<layer path>/…`, in manifest order. */
export function tfjsWeightSource(weights: Map<string, Tensor>): WeightSource {
  const find = (prefix: string): { name: string; tensor: Tensor }[] => {
    const out = [];
    for (const [name, tensor] of weights) if (name.startsWith(prefix)) out.push({ name, tensor });
    return out;
  };
  // Layers inside nested models: full path first, then the inner layer's own name (tfjs style).
  return (path) => {
    const full = find(`${path.join('/')}/`);
    return full.length || path.length === 1 ? full : find(`${path[path.length - 1]}/`);
  };
}
