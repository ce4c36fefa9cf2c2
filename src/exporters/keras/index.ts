/**
 * Keras writers: tfjs-layers (`model.json` + one binary shard), Keras 3 `.keras` zip, legacy
 * Keras 2 `.h5` (full model), and weights-only `.weights.h5` (Keras 3 layout).
 *
 * The IR → Keras layer mapping comes from the Keras config the importer recorded in
 * `model.metadata['keras.config']`: layers are rebuilt from it and their weights recovered from
 * the IR parameters through the importer's own lowering (see weights.ts). Models that did not
 * come from Keras are refused with E_UNSUPPORTED (rebuilding layers from arbitrary IR patterns
 * is future work; export those to ONNX). See docs/decisions.md.
 * Formats: https://www.tensorflow.org/js/guide/save_load, keras/src/saving/saving_lib.py,
 * keras/src/legacy/saving/legacy_h5_format.py.
 */
import { RosettaError } from '../../ir/errors.js';
import type { Model } from '../../ir/graph.js';
import type { Tensor } from '../../ir/tensor.js';
import { h5group, type H5WriteGroup, writeHdf5 } from '../../formats/hdf5.js';
import { writeZip } from '../../formats/zip.js';
import { isKeras3 } from '../../importers/keras/activations.js';
import { normalizeModel, type NormModel } from '../../importers/keras/normalize.js';
import type { WeightSet } from '../../importers/types.js';
import type { ExportResult, Exporter } from '../types.js';
import { layerNames, modelJson } from './config.js';
import { rebuildSequential } from './rebuild.js';
import { type LayerWeights, recoverKerasWeights } from './weights.js';

/** Keras version written into Keras 2 style files. */
const KERAS2_VERSION = '2.15.0';
const KERAS3_VERSION = '3.6.0';

interface Prepared {
  norm: NormModel;
  weights: LayerWeights[];
  kerasVersion?: string;
  /** Rank of each layer's (first) input, by layer scope. */
  inputRanks: Map<string, number>;
}

function prepare(model: Model): Prepared {
  const text = model.metadata['keras.config'];
  if (!text) {
    // Not from Keras: rebuild layers from IR node patterns (a chain of common ops; see rebuild.ts).
    const { layers, inputShape } = rebuildSequential(model);
    const json = { class_name: 'Sequential', config: { name: 'sequential', layers: layers.map((l, i) => ({ class_name: l.class_name, config: i === 0 ? { ...l.config, batch_input_shape: inputShape } : l.config })) } };
    const norm = normalizeModel(json, 'rebuilt');
    const weights: LayerWeights[] = layers.filter((l) => l.weights.length).map((l) => ({ path: [String(l.config.name)], specs: l.weights.map((w) => ({ role: w.role, shape: w.tensor.shape.slice() })), tensors: l.weights.map((w) => w.tensor) }));
    return { norm, weights, inputRanks: new Map(layers.map((l) => [String(l.config.name), l.inputRank])) };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new RosettaError('E_BAD_FORMAT', "model.metadata['keras.config'] is not valid JSON");
  }
  const norm = normalizeModel(json, 'keras.config');
  const kerasVersion = model.metadata['keras.version'];
  const inputRanks = new Map<string, number>();
  const weights = recoverKerasWeights(model, norm, kerasVersion, (scope, _cls, shapes) => inputRanks.set(scope, shapes[0]?.length ?? 0));
  return { norm, weights, kerasVersion, inputRanks };
}

/** Every layer (nested models and wrapped layers included) with its config. */
function allLayers(m: NormModel): { name: string; className: string; config: Record<string, unknown> }[] {
  const out: { name: string; className: string; config: Record<string, unknown> }[] = [];
  for (const l of m.layers) {
    if (l.inner) out.push(...allLayers(l.inner));
    else {
      out.push(l);
      const w = l.config.layer as { class_name?: string; config?: Record<string, unknown> } | undefined;
      if (w && typeof w.class_name === 'string' && w.config) out.push({ name: l.name, className: w.class_name, config: w.config });
    }
  }
  return out;
}

/**
 * `hard_sigmoid` is 0.2x+0.5 up to Keras 2 (and in tfjs-layers) but relu6(x+3)/6 in Keras 3:
 * writing a model across that boundary would silently change its outputs, so refuse.
 */
function checkHardSigmoid(p: Prepared, targetKeras3: boolean, format: string): void {
  if (isKeras3(p.kerasVersion) === targetKeras3) return;
  for (const l of allLayers(p.norm)) {
    if (l.config.activation === 'hard_sigmoid' || l.config.recurrent_activation === 'hard_sigmoid') {
      throw new RosettaError('E_UNSUPPORTED', `layer ${l.name} uses hard_sigmoid, which ${targetKeras3 ? 'Keras 3 defines as relu6(x+3)/6 (this model uses Keras 2\'s 0.2x+0.5)' : 'Keras 2 and tfjs-layers define as 0.2x+0.5 (this model uses Keras 3\'s relu6(x+3)/6)'}; ${format} cannot hold this model without changing its outputs`, { where: { layer: l.name }, hint: targetKeras3 ? 'save as legacy .h5 or tfjs instead, or to ONNX' : 'save as .keras instead, or to ONNX' });
    }
  }
}

/** tfjs-layers gaps: SpatialDropout2D/3D → Dropout (same at inference); ELU needs alpha = 1. */
function adaptForTfjs(p: Prepared): { kind: string; scope: string; detail: string }[] {
  const rewrites: { kind: string; scope: string; detail: string }[] = [];
  const walk = (m: NormModel): void => {
    for (const l of m.layers.slice()) {
      if (l.inner) walk(l.inner);
      if (l.className === 'SpatialDropout2D' || l.className === 'SpatialDropout3D') {
        rewrites.push({ kind: 'layer-substituted', scope: l.name, detail: `${l.className} written as Dropout (tfjs-layers has no ${l.className}; identical at inference, not in training)` });
        l.className = 'Dropout';
      }
      if (l.className === 'BatchNormalization') {
        // tfjs-layers 4.x broadcasts BatchNormalization parameters along the last axis whatever
        // `axis` says (wrong values for axis 1 of a 4-D input): refuse unless axis is the last.
        const rank = p.inputRanks.get(l.name);
        const raw = Array.isArray(l.config.axis) ? (l.config.axis as number[])[0] : l.config.axis;
        const ax = typeof raw === 'number' ? raw : -1;
        if (rank !== undefined && ax !== -1 && ax !== rank - 1) {
          if (ax < 1 || ax >= rank) throw new RosettaError('E_UNSUPPORTED', `layer ${l.name}: BatchNormalization on axis ${ax} of a rank-${rank} input`, { where: { layer: l.name }, hint: 'save as .keras or .h5, or to ONNX' });
          // Move the axis last around the layer (Permute, BatchNormalization(axis=-1), Permute
          // back): the same values, in the one form tfjs-layers computes correctly.
          wrapInPermutes(m, l, ax, rank);
          rewrites.push({ kind: 'layer-substituted', scope: l.name, detail: `BatchNormalization(axis=${ax}) written as Permute → BatchNormalization(axis=-1) → Permute (tfjs-layers broadcasts its parameters over the last axis whatever axis says)` });
        }
      }
      const gru = l.className === 'GRU' ? l.config : l.className === 'Bidirectional' && (l.config.layer as { class_name?: string } | undefined)?.class_name === 'GRU' ? (l.config.layer as { config?: Record<string, unknown> }).config : undefined;
      if (gru && gru.reset_after === true) {
        // tfjs-layers' GRUCell throws "does not support reset_after parameter set to true"; the
        // other form (reset before the recurrent matmul) computes something else.
        throw new RosettaError('E_UNSUPPORTED', `layer ${l.name}: tfjs-layers has no GRU with reset_after=True (PyTorch's GRU, ONNX linear_before_reset=1), and reset_after=False computes different outputs`, { where: { layer: l.name }, hint: 'save as .keras or .h5, or to ONNX' });
      }
      if (l.className === 'InputLayer' && l.config.dtype === 'int64') {
        // tfjs has no int64 tensors; integer ids travel as int32 there (same values).
        rewrites.push({ kind: 'dtype-narrowed', scope: l.name, detail: 'int64 input declared as int32 (tfjs has no int64)' });
        l.config.dtype = 'int32';
      }
      if (l.className === 'ELU' && typeof l.config.alpha === 'number' && l.config.alpha !== 1) {
        throw new RosettaError('E_UNSUPPORTED', `layer ${l.name}: tfjs-layers' ELU supports only alpha = 1, this one has alpha = ${l.config.alpha}`, { where: { layer: l.name }, hint: 'save as .keras or .h5, or to ONNX' });
      }
    }
  };
  walk(p.norm);
  return rewrites;
}

/**
 * Put Permute layers around `l` so that its axis `ax` (of a rank-`rank` input, batch included)
 * is last inside: `<l>_to_last` before, `<l>_from_last` after; every use of `l`'s output is
 * redirected to the second Permute.
 */
function wrapInPermutes(m: NormModel, l: NormModel['layers'][number], ax: number, rank: number): void {
  const dims = [...Array.from({ length: rank - 1 }, (_, k) => k + 1).filter((d) => d !== ax), ax];
  const back = dims.map((_, k) => dims.indexOf(k + 1) + 1);
  const pre: NormModel['layers'][number] = { name: `${l.name}_to_last`, className: 'Permute', config: { name: `${l.name}_to_last`, trainable: false, dtype: 'float32', dims }, calls: l.calls.map((c) => ({ inputs: c.inputs, kwargs: {} })) };
  const post: NormModel['layers'][number] = { name: `${l.name}_from_last`, className: 'Permute', config: { name: `${l.name}_from_last`, trainable: false, dtype: 'float32', dims: back }, calls: l.calls.map((_, k) => ({ inputs: [{ layer: l.name, node: k, tensor: 0 }], kwargs: {} })) };
  for (const other of m.layers) for (const c of other.calls) c.inputs = c.inputs.map((r) => (r.layer === l.name ? { ...r, layer: post.name } : r));
  m.outputs = m.outputs.map((r) => (r.layer === l.name ? { ...r, layer: post.name } : r));
  l.calls = l.calls.map((c, k) => ({ inputs: [{ layer: pre.name, node: k, tensor: 0 }], kwargs: c.kwargs }));
  l.config = { ...l.config, axis: -1 };
  const at = m.layers.indexOf(l);
  m.layers.splice(at, 1, pre, l, post);
}

/** Keras weight names for a layer: `layer/role` (Bidirectional: `layer/forward_inner/role`). */
function weightNames(lw: LayerWeights, norm: NormModel): string[] {
  const last = lw.path[lw.path.length - 1]!;
  const layer = findLayer(norm, lw.path);
  if (layer?.className === 'Bidirectional') {
    const inner = String((layer.config.layer as { config?: { name?: string } })?.config?.name ?? 'rnn');
    const half = lw.specs.length / 2;
    return lw.specs.map((s, i) => `${last}/${i < half ? 'forward' : 'backward'}_${inner}/${s.role}`);
  }
  return lw.specs.map((s) => `${last}/${s.role}`);
}

function findLayer(norm: NormModel, path: string[]): NormModel['layers'][number] | undefined {
  let m: NormModel | undefined = norm;
  let found: NormModel['layers'][number] | undefined;
  for (const p of path) {
    found = m?.layers.find((l) => l.name === p);
    m = found?.inner;
  }
  return found;
}

function f32Bytes(t: Tensor): Uint8Array {
  const d = t.data as Float32Array;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** tfjs-layers: model.json + `group1-shard1of1.bin`. */
export async function exportTfjs(model: Model, mainName: string): Promise<ExportResult> {
  const p = prepare(model);
  checkHardSigmoid(p, false, 'tfjs-layers');
  const rewrites = adaptForTfjs(p);
  const shardName = 'group1-shard1of1.bin';
  const entries: { name: string; shape: number[]; dtype: 'float32' }[] = [];
  const parts: Uint8Array[] = [];
  for (const lw of p.weights) {
    // tfjs-layers names weights of layers inside nested models by the inner layer alone.
    weightNames(lw, p.norm).forEach((n, i) => {
      entries.push({ name: n, shape: lw.tensors[i]!.shape.slice(), dtype: 'float32' });
      parts.push(f32Bytes(lw.tensors[i]!));
    });
  }
  const total = parts.reduce((a, x) => a + x.length, 0);
  const shard = new Uint8Array(total);
  let off = 0;
  for (const x of parts) {
    shard.set(x, off);
    off += x.length;
  }
  const json = {
    modelTopology: { ...modelJson(p.norm, false, true), keras_version: `tfjs-layers 4.22.0`, backend: 'tensor_flow.js' },
    weightsManifest: [{ paths: [shardName], weights: entries }],
    format: 'layers-model',
    generatedBy: 'rosetta',
    convertedBy: null,
  };
  const base = mainName.split('/').pop() ?? mainName;
  return { files: new Map([[base, new TextEncoder().encode(JSON.stringify(json))], [shardName, shard]]), mainName: base, rewrites };
}

/** Split `a/b/c:0` into nested groups under `root` and put the dataset at the leaf. */
function putDataset(root: H5WriteGroup, path: string, t: Tensor): void {
  const parts = path.split('/');
  let g = root;
  for (const part of parts.slice(0, -1)) {
    let next = g.children.find(([n, v]) => n === part && !('dtype' in v))?.[1] as H5WriteGroup | undefined;
    if (!next) {
      next = h5group();
      g.children.push([part, next]);
    }
    g = next;
  }
  g.children.push([parts[parts.length - 1]!, t]);
}

/** Legacy Keras 2 full-model HDF5. */
export async function exportKerasH5(model: Model, mainName: string): Promise<ExportResult> {
  if (mainName.toLowerCase().endsWith('.weights.h5')) return exportKerasWeightsH5(model, mainName);
  const p = prepare(model);
  checkHardSigmoid(p, false, 'a Keras 2 .h5 file');
  const version = p.kerasVersion && /^2\./.test(p.kerasVersion) ? p.kerasVersion : KERAS2_VERSION;
  const names = layerNames(p.norm);
  const mw = h5group([
    ['backend', 'tensorflow'],
    ['keras_version', version],
    ['layer_names', names],
  ]);
  const byTop = new Map<string, LayerWeights[]>();
  for (const lw of p.weights) byTop.set(lw.path[0]!, [...(byTop.get(lw.path[0]!) ?? []), lw]);
  for (const l of names) {
    const g = h5group();
    const wn: string[] = [];
    for (const lw of byTop.get(l) ?? []) {
      weightNames(lw, p.norm).forEach((n, i) => {
        const full = `${n}:0`;
        wn.push(full);
        putDataset(g, full, lw.tensors[i]!);
      });
    }
    g.attrs.push(['weight_names', wn]);
    mw.children.push([l, g]);
  }
  const root = h5group(
    [
      ['backend', 'tensorflow'],
      ['keras_version', version],
      ['model_config', JSON.stringify(modelJson(p.norm, false))],
    ],
    [['model_weights', mw]],
  );
  const base = mainName.split('/').pop() ?? mainName;
  return { files: new Map([[base, await writeHdf5(root, base)]]), mainName: base, rewrites: [] };
}

/** Keras 3 weights layout: `layers/<name>/vars/<i>` (RNN cells and wrappers one level down). */
function keras3WeightsTree(p: Prepared): H5WriteGroup {
  const layersGroup = (m: NormModel): H5WriteGroup => {
    const g = h5group();
    for (const l of m.layers) {
      const lg = h5group();
      if (l.inner) lg.children.push(['layers', layersGroup(l.inner)]);
      g.children.push([l.name, lg]);
    }
    return g;
  };
  const root = h5group([], [['layers', layersGroup(p.norm)], ['vars', h5group()]]);
  for (const lw of p.weights) {
    let g = root;
    for (const part of lw.path) g = (g.children.find(([n]) => n === 'layers')![1] as H5WriteGroup).children.find(([n]) => n === part)![1] as H5WriteGroup;
    const layer = findLayer(p.norm, lw.path);
    const cls = layer?.className ?? '';
    const vars = (group: H5WriteGroup, ts: Tensor[]): void => {
      const v = h5group();
      ts.forEach((t, i) => v.children.push([String(i), t]));
      group.children.push(['vars', v]);
    };
    const sub = (group: H5WriteGroup, name: string): H5WriteGroup => {
      const s = h5group();
      group.children.push([name, s]);
      return s;
    };
    if (cls === 'LSTM' || cls === 'GRU' || cls === 'SimpleRNN') {
      vars(g, []);
      vars(sub(g, 'cell'), lw.tensors);
    } else if (cls === 'Bidirectional') {
      const half = lw.tensors.length / 2;
      vars(g, []);
      const f = sub(g, 'forward_layer');
      vars(f, []);
      vars(sub(f, 'cell'), lw.tensors.slice(0, half));
      const b = sub(g, 'backward_layer');
      vars(b, []);
      vars(sub(b, 'cell'), lw.tensors.slice(half));
    } else if (cls === 'MultiHeadAttention') {
      vars(g, []);
      const per = layer?.config.use_bias === false ? 1 : 2;
      ['query_dense', 'key_dense', 'value_dense', 'output_dense'].forEach((n, k) => vars(sub(g, n), lw.tensors.slice(k * per, (k + 1) * per)));
    } else if (cls === 'TimeDistributed') {
      vars(g, []);
      vars(sub(g, 'layer'), lw.tensors);
    } else vars(g, lw.tensors);
  }
  // Layers without weights still get an empty vars group, as Keras 3 writes them.
  const fill = (g: H5WriteGroup): void => {
    const layers = g.children.find(([n]) => n === 'layers')?.[1] as H5WriteGroup | undefined;
    for (const [, lg] of layers?.children ?? []) {
      const lgg = lg as H5WriteGroup;
      if (!lgg.children.some(([n]) => n === 'vars')) lgg.children.push(['vars', h5group()]);
      fill(lgg);
    }
  };
  fill(root);
  return root;
}

/** Weights-only Keras 3 `.weights.h5`. */
export async function exportKerasWeightsH5(model: Model, mainName: string): Promise<ExportResult> {
  // Weights only: activations live in whatever config the user pairs them with.
  const p = prepare(model);
  const base = mainName.split('/').pop() ?? mainName;
  return { files: new Map([[base, await writeHdf5(keras3WeightsTree(p), base)]]), mainName: base, rewrites: [] };
}

/** Keras 3 `.keras` zip. */
export async function exportKerasZip(model: Model, mainName: string): Promise<ExportResult> {
  const p = prepare(model);
  checkHardSigmoid(p, true, 'a Keras 3 .keras file');
  const version = p.kerasVersion && isKeras3(p.kerasVersion) ? p.kerasVersion : KERAS3_VERSION;
  const enc = new TextEncoder();
  const weights = await writeHdf5(keras3WeightsTree(p), 'model.weights.h5');
  const zip = writeZip([
    { name: 'metadata.json', data: enc.encode(JSON.stringify({ keras_version: version, date_saved: '1970-01-01@00:00:00' })) },
    { name: 'config.json', data: enc.encode(JSON.stringify(modelJson(p.norm, true))) },
    { name: 'model.weights.h5', data: weights },
  ]);
  const base = mainName.split('/').pop() ?? mainName;
  return { files: new Map([[base, zip]]), mainName: base, rewrites: [] };
}

/** Legacy weights-only layout from a WeightSet whose keys are `layer/weight_name`. */
async function exportWeightSetH5(ws: WeightSet, mainName: string): Promise<ExportResult> {
  const root = h5group();
  const layers: string[] = [];
  const wn = new Map<string, string[]>();
  for (const [key, t] of ws.tensors) {
    const slash = key.indexOf('/');
    const layer = slash > 0 ? key.slice(0, slash) : key;
    const name = slash > 0 ? key.slice(slash + 1) : key;
    if (!wn.has(layer)) {
      wn.set(layer, []);
      layers.push(layer);
    }
    wn.get(layer)!.push(name);
    putDataset(root, `${layer}/${name}`, t);
  }
  for (const [n, g] of root.children) (g as H5WriteGroup).attrs.push(['weight_names', wn.get(n) ?? []]);
  root.attrs.push(['backend', 'tensorflow'], ['keras_version', KERAS2_VERSION], ['layer_names', layers]);
  const base = mainName.split('/').pop() ?? mainName;
  return { files: new Map([[base, await writeHdf5(root, base)]]), mainName: base, rewrites: [] };
}

export const tfjsExporter: Exporter = { format: 'tfjs', extensions: ['model.json'], exportModel: exportTfjs };
export const kerasH5Exporter: Exporter = { format: 'keras-h5', extensions: ['.weights.h5', '.h5', '.hdf5'], exportModel: exportKerasH5, exportWeights: exportWeightSetH5 };
export const kerasZipExporter: Exporter = { format: 'keras', extensions: ['.keras'], exportModel: exportKerasZip };
