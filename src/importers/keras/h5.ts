/**
 * Legacy Keras HDF5 files:
 * - full model (`model.save('m.h5')`): root attribute `model_config` (JSON) + group
 *   `model_weights` with `layer_names`, one group per layer listing `weight_names`;
 * - weights only (`save_weights('w.h5')`): `layer_names` on the root;
 * - Keras 3 weights (`model.weights.h5`, also inside `.keras`): `layers/<name>/vars/<i>`.
 * Weight names are used with or without the `:0` suffix, as stored. Keras 1 files (split LSTM
 * gates) and Theano-backend files (flipped conv kernels, `backend` attribute) are handled by the
 * lowering, which receives the file's `keras_version` and `backend`.
 * Reference: keras/src/legacy/saving/legacy_h5_format.py (Keras 3), keras/engine/saving.py (2.x).
 */
import { RosettaError } from '../../ir/errors.js';
import type { Model } from '../../ir/graph.js';
import type { Tensor } from '../../ir/tensor.js';
import { type Hdf5Reader, withHdf5 } from '../../formats/hdf5.js';
import type { KerasWeight, WeightSource } from './context.js';
import { lowerKerasModel } from './lower.js';
import { normalizeModel, type NormModel } from './normalize.js';

/** Parse JSON from an untrusted attribute with a typed error. */
export function parseJson(text: string, what: string, file: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new RosettaError('E_BAD_FORMAT', `${what} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`, { where: { file } });
  }
}

/** Legacy layout (`layer_names` + `weight_names`) under `root` ('' or 'model_weights'). */
export function legacyWeightSource(r: Hdf5Reader, root: string): WeightSource {
  const cache = new Map<string, KerasWeight[]>();
  return (path) => {
    const key = path.join('/');
    const hit = cache.get(key);
    if (hit) return hit;
    const group = root ? `${root}/${path[0]}` : path[0]!;
    if (!r.isGroup(group)) return [];
    let names = r.attrStrings(group, 'weight_names') ?? [];
    if (path.length > 1) {
      // Nested model: its group lists every inner weight as `inner_layer/…`.
      const prefix = `${path[path.length - 1]}/`;
      names = names.filter((n) => n.startsWith(prefix));
    }
    const out = names.map((n) => ({ name: n, tensor: r.readTensor(`${group}/${n}`) }));
    cache.set(key, out);
    return out;
  };
}

/** Keras 3 layout: `layers/<name>/vars/<i>` (nested: `layers/<outer>/layers/<inner>/vars`). */
export function keras3WeightSource(r: Hdf5Reader): WeightSource {
  // tf.keras 2.13–2.15 wrote the same layout under `_layer_checkpoint_dependencies`.
  const key = !r.isGroup('layers') && r.isGroup('_layer_checkpoint_dependencies') ? '_layer_checkpoint_dependencies' : 'layers';
  return (path) => {
    let g = '';
    for (const p of path) g += `${g ? '/' : ''}${key}/${p}`;
    // Keras 3 may store wrapped layers (Bidirectional, TimeDistributed) one level down.
    const collect = (group: string, depth: number): KerasWeight[] => {
      const out: KerasWeight[] = [];
      if (r.isGroup(`${group}/vars`)) {
        const keys = r.keys(`${group}/vars`).sort((a, b) => Number(a) - Number(b));
        for (const k of keys) out.push({ name: `${group}/vars/${k}`, tensor: r.readTensor(`${group}/vars/${k}`) });
      }
      // Sub-layers (LSTM `cell`, Bidirectional `forward_layer`/`backward_layer`, MultiHeadAttention
      // `query_dense`…`output_dense`) in call order.
      const ORDER = ['forward_layer', 'backward_layer', 'query_dense', 'key_dense', 'value_dense', 'output_dense'];
      const rank = (k: string): number => (ORDER.includes(k) ? ORDER.indexOf(k) : ORDER.length);
      const subs = r.keys(group).filter((k) => k !== 'vars' && r.isGroup(`${group}/${k}`));
      subs.sort((a, b) => rank(a) - rank(b));
      for (const sub of subs) if (depth < 8) out.push(...collect(`${group}/${sub}`, depth + 1));
      return out;
    };
    if (!r.isGroup(g)) return [];
    return collect(g, 0);
  };
}

export interface H5Contents {
  kind: 'model' | 'weights';
  model?: Model;
  weights?: Map<string, Tensor>;
  metadata: Record<string, string>;
}

function modelFromConfig(configText: string, file: string, source: WeightSource | undefined, kerasVersion: string | undefined, backend: string | undefined): Model {
  const json = parseJson(configText, 'model_config', file);
  const norm = normalizeModel(json, file);
  const model = lowerKerasModel(norm, { file, kerasVersion, backend, weights: source });
  model.metadata['keras.config'] = configText;
  if (kerasVersion) model.metadata['keras.version'] = kerasVersion;
  if (backend) model.metadata['keras.backend'] = backend;
  return model;
}

/** Read any Keras HDF5 file: a full model, or a weight set when there is no architecture. */
export async function readKerasH5(bytes: Uint8Array, file: string): Promise<H5Contents> {
  return withHdf5(bytes, file, (r) => {
    const kerasVersion = r.attrString('/', 'keras_version') ?? (r.has('model_weights') ? r.attrString('model_weights', 'keras_version') : undefined);
    const backend = r.attrString('/', 'backend') ?? (r.has('model_weights') ? r.attrString('model_weights', 'backend') : undefined);
    const metadata: Record<string, string> = {};
    if (kerasVersion) metadata['keras.version'] = kerasVersion;
    if (backend) metadata['keras.backend'] = backend;
    const config = r.attrString('/', 'model_config');
    if (config !== undefined) {
      const source = r.isGroup('model_weights') ? legacyWeightSource(r, 'model_weights') : r.isGroup('layers') || r.isGroup('_layer_checkpoint_dependencies') ? keras3WeightSource(r) : undefined;
      if (!source) throw new RosettaError('E_MISSING_WEIGHT', 'the file has a model_config but no model_weights group', { where: { file }, hint: 'the file is incomplete' });
      return { kind: 'model', model: modelFromConfig(config, file, source, kerasVersion, backend), metadata };
    }
    return { kind: 'weights', weights: readAllWeights(r), metadata };
  });
}

/** Every weight of a weights-only file, keyed `layer/weight_name` (legacy) or by path (Keras 3). */
function readAllWeights(r: Hdf5Reader): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const layers = r.attrStrings('/', 'layer_names');
  if (layers) {
    for (const l of layers) {
      const names = r.isGroup(l) ? (r.attrStrings(l, 'weight_names') ?? []) : [];
      for (const n of names) out.set(`${l}/${n}`, r.readTensor(`${l}/${n}`));
    }
    return out;
  }
  // Keras 3 / generic: walk every dataset (bounded depth).
  const walk = (g: string, depth: number): void => {
    if (depth > 32) throw new RosettaError('E_LIMIT', 'HDF5 groups nested deeper than 32 levels', { where: { entry: g } });
    for (const k of r.keys(g || '/')) {
      const p = g ? `${g}/${k}` : k;
      if (r.isDataset(p)) out.set(p, r.readTensor(p));
      else if (r.isGroup(p)) walk(p, depth + 1);
    }
  };
  walk('', 0);
  return out;
}

/**
 * Build a model from a Keras JSON config plus a weights-only HDF5 file, matching layers by name
 * (Keras' `by_name=True`) or by order of the layers that have weights (the default).
 */
export async function modelFromJsonAndWeights(configText: string, weightsBytes: Uint8Array, file: string, opts: { byName?: boolean } = {}): Promise<Model> {
  return withHdf5(weightsBytes, file, (r) => {
    const kerasVersion = r.attrString('/', 'keras_version');
    const backend = r.attrString('/', 'backend');
    let source: WeightSource;
    if ((r.isGroup('layers') || r.isGroup('_layer_checkpoint_dependencies')) && !r.attrStrings('/', 'layer_names')) source = keras3WeightSource(r);
    else {
      const base = legacyWeightSource(r, '');
      if (opts.byName) source = base;
      else {
        const json = parseJson(configText, 'model config', file);
        const order = layersWithWeights(normalizeModel(json, file));
        const stored = (r.attrStrings('/', 'layer_names') ?? []).filter((l) => (r.isGroup(l) ? (r.attrStrings(l, 'weight_names') ?? []).length > 0 : false));
        if (stored.length !== order.length) {
          throw new RosettaError('E_BINDING', `the weights file has ${stored.length} layers with weights, the model ${order.length}`, { where: { file }, hint: 'load by name, or use the weights saved from this architecture' });
        }
        const map = new Map(order.map((l, i) => [l, stored[i]!]));
        source = (path, specs) => base([map.get(path[0]!) ?? path[0]!, ...path.slice(1)], specs);
      }
    }
    return modelFromConfig(configText, file, source, kerasVersion, backend);
  });
}

const WEIGHTLESS = new Set(['InputLayer', 'Activation', 'Dropout', 'Flatten', 'Reshape', 'Permute', 'RepeatVector', 'Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Concatenate', 'Dot', 'ReLU', 'LeakyReLU', 'ELU', 'ThresholdedReLU', 'Softmax', 'Masking']);

function layersWithWeights(m: NormModel): string[] {
  return m.layers.filter((l) => !WEIGHTLESS.has(l.className) && !/Pooling|Padding|Cropping|UpSampling|Dropout|Noise/.test(l.className)).map((l) => l.name);
}
