/**
 * One normal form for every Keras model JSON dialect, so lowering handles a single shape:
 * - Sequential (Keras 1/2.0 bare list, Keras 2.2+ `{name, layers}`) becomes a chain with an
 *   explicit InputLayer built from `batch_input_shape` / `batch_shape` / Keras 1 `input_dim`;
 * - Functional `inbound_nodes` (Keras 2 nested lists, Keras 3 `{args, kwargs}` with
 *   `__keras_tensor__` history) become `{layer, node, tensor}` references;
 * - Keras 1 class and argument names (Convolution2D, nb_filter, border_mode, output_dim,
 *   dim_ordering…) are renamed to Keras 2 ones, and Keras 3 `DTypePolicy` objects to dtype names.
 * Layer configs are otherwise passed through untouched (the lowering reads them by name).
 *
 * Reference: Keras 2 `keras/legacy/layers.py` and `keras/engine/saving.py` (the Keras 1
 * conversions), Keras 3 `keras/src/models/functional.py` (the node format).
 */
import { RosettaError } from '../../ir/errors.js';
import type { KerasLayerJson, KerasModelJson } from './config-types.js';

export interface TensorRef {
  layer: string;
  node: number;
  tensor: number;
}

export interface NormLayer {
  name: string;
  className: string;
  config: Record<string, unknown>;
  /** One entry per call of the layer; each lists the tensors it was called on. */
  calls: { inputs: TensorRef[]; kwargs: Record<string, unknown> }[];
  /** Nested model (a Sequential/Functional used as a layer). */
  inner?: NormModel;
  /** Name to look weights up by when `name` was prefixed with an enclosing model's scope. */
  weightKey?: string;
}

export interface NormModel {
  name: string;
  className: string;
  layers: NormLayer[];
  inputs: TensorRef[];
  outputs: TensorRef[];
}

const MODEL_CLASSES = new Set(['Sequential', 'Model', 'Functional']);

/** Depth limit for nested models (hostile JSON could nest without end). */
const MAX_NESTING = 16;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Normalise a parsed model JSON (any Keras version). */
export function normalizeModel(json: unknown, where: string, depth = 0): NormModel {
  if (depth > MAX_NESTING) throw new RosettaError('E_LIMIT', `models nested deeper than ${MAX_NESTING} levels`, { where: { file: where } });
  if (!isObj(json) || typeof json.class_name !== 'string') throw new RosettaError('E_BAD_FORMAT', 'model config is not a {class_name, config} object', { where: { file: where } });
  const m = json as unknown as KerasModelJson;
  if (m.class_name === 'Sequential') return normalizeSequential(m.config, where, depth);
  if (m.class_name === 'Model' || m.class_name === 'Functional') return normalizeFunctional(m.config, m.class_name, where, depth);
  throw new RosettaError('E_UNSUPPORTED_LAYER', `top-level model class '${m.class_name}' is not Sequential or Functional`, { where: { file: where }, hint: 'subclassed models have no config to rebuild; export them as Functional' });
}

/** Most layers one model may list (hostile JSON could list millions). */
const MAX_LAYERS = 100_000;

function layerList(cfg: unknown, where: string): { name?: string; layers: KerasLayerJson[] } {
  const n = Array.isArray(cfg) ? cfg.length : isObj(cfg) && Array.isArray(cfg.layers) ? cfg.layers.length : 0;
  if (n > MAX_LAYERS) throw new RosettaError('E_LIMIT', `model lists ${n} layers, above the limit of ${MAX_LAYERS}`, { where: { file: where } });
  if (Array.isArray(cfg)) return { layers: cfg as KerasLayerJson[] };
  if (isObj(cfg) && Array.isArray(cfg.layers)) return { name: typeof cfg.name === 'string' ? cfg.name : undefined, layers: cfg.layers as KerasLayerJson[] };
  throw new RosettaError('E_BAD_FORMAT', 'model config has no layer list', { where: { file: where } });
}

function checkLayerJson(l: unknown, where: string, i: number): asserts l is KerasLayerJson {
  if (!isObj(l) || typeof l.class_name !== 'string' || !isObj(l.config)) throw new RosettaError('E_BAD_FORMAT', `layer #${i} is not a {class_name, config} object`, { where: { file: where } });
}

function normalizeSequential(cfg: unknown, where: string, depth: number): NormModel {
  const { name, layers } = layerList(cfg, where);
  const out: NormLayer[] = [];
  let prev: TensorRef | undefined;
  const inputs: TensorRef[] = [];
  layers.forEach((l, i) => {
    checkLayerJson(l, where, i);
    const layer = normalizeLayer(l, where, depth, i);
    if (layer.className === 'InputLayer') {
      if (prev) throw new RosettaError('E_BAD_FORMAT', `InputLayer '${layer.name}' in the middle of a Sequential model`, { where: { file: where, layer: layer.name } });
      out.push(layer);
      prev = { layer: layer.name, node: 0, tensor: 0 };
      inputs.push(prev);
      return;
    }
    if (!prev) {
      const shape = batchShapeOf(layer.config) ?? (layer.inner ? innerInputShape(layer.inner) : undefined);
      if (!shape) throw new RosettaError('E_BAD_FORMAT', `the first layer '${layer.name}' of a Sequential model declares no input shape`, { where: { file: where, layer: layer.name }, hint: 'build the model (or pass input_shape) before saving it' });
      const inName = uniqueName(`${layer.name}_input`, layers);
      out.push({ name: inName, className: 'InputLayer', config: { name: inName, batch_input_shape: shape, dtype: dtypeName(layer.config.dtype) ?? 'float32' }, calls: [] });
      prev = { layer: inName, node: 0, tensor: 0 };
      inputs.push(prev);
    }
    layer.calls = [{ inputs: [prev], kwargs: {} }];
    out.push(layer);
    prev = { layer: layer.name, node: 0, tensor: 0 };
  });
  if (!prev) throw new RosettaError('E_BAD_FORMAT', 'Sequential model has no layers', { where: { file: where } });
  return { name: name ?? 'sequential', className: 'Sequential', layers: out, inputs, outputs: [prev] };
}

function innerInputShape(m: NormModel): (number | null)[] | undefined {
  const first = m.layers.find((l) => l.className === 'InputLayer');
  return first ? batchShapeOf(first.config) : undefined;
}

function uniqueName(base: string, layers: KerasLayerJson[]): string {
  const names = new Set(layers.map((l) => String(l.config?.name ?? l.name ?? '')));
  let n = base;
  for (let i = 1; names.has(n); i++) n = `${base}_${i}`;
  return n;
}

function refList(v: unknown, what: string, where: string): TensorRef[] {
  // Keras 2: [[name, node, tensor], ...]; a single output may be stored unnested.
  if (!Array.isArray(v)) throw new RosettaError('E_BAD_FORMAT', `${what} is not a list`, { where: { file: where } });
  const list = typeof v[0] === 'string' ? [v] : v;
  return list.map((r) => {
    if (!Array.isArray(r) || typeof r[0] !== 'string') throw new RosettaError('E_BAD_FORMAT', `${what} entry is not [layer, node, tensor]`, { where: { file: where } });
    return { layer: r[0], node: Number(r[1] ?? 0), tensor: Number(r[2] ?? 0) };
  });
}

function normalizeFunctional(cfg: unknown, className: string, where: string, depth: number): NormModel {
  if (!isObj(cfg) || !Array.isArray(cfg.layers)) throw new RosettaError('E_BAD_FORMAT', 'functional model config has no layers', { where: { file: where } });
  layerList(cfg, where);
  const layers = (cfg.layers as unknown[]).map((l, i) => {
    checkLayerJson(l, where, i);
    const n = normalizeLayer(l, where, depth, i);
    const nodes = l.inbound_nodes ?? [];
    if (!Array.isArray(nodes)) throw new RosettaError('E_BAD_FORMAT', 'inbound_nodes is not a list', { where: { file: where, layer: n.name } });
    n.calls = nodes.map((node) => parseInboundNode(node, n.name, where));
    return n;
  });
  return {
    name: typeof cfg.name === 'string' ? cfg.name : 'model',
    className,
    layers,
    inputs: refList(cfg.input_layers, 'input_layers', where),
    outputs: refList(cfg.output_layers, 'output_layers', where),
  };
}

function parseInboundNode(node: unknown, layer: string, where: string): { inputs: TensorRef[]; kwargs: Record<string, unknown> } {
  const bad = (): never => {
    throw new RosettaError('E_BAD_FORMAT', 'unreadable inbound_nodes entry', { where: { file: where, layer } });
  };
  if (Array.isArray(node)) {
    // Keras 2: a list of [name, node_index, tensor_index, kwargs]
    const inputs: TensorRef[] = [];
    let kwargs: Record<string, unknown> = {};
    for (const r of node) {
      if (!Array.isArray(r) || typeof r[0] !== 'string') bad();
      inputs.push({ layer: r[0] as string, node: Number(r[1] ?? 0), tensor: Number(r[2] ?? 0) });
      if (isObj(r[3])) kwargs = { ...r[3] };
    }
    // tf.keras ≥ 2.4 serialises tensor-valued call kwargs (MultiHeadAttention value=/key=) as
    // [layer, node, tensor]: they become extra inputs, in order.
    for (const [k, v] of Object.entries(kwargs)) {
      if (Array.isArray(v) && v.length >= 3 && typeof v[0] === 'string' && typeof v[1] === 'number' && typeof v[2] === 'number') {
        inputs.push({ layer: v[0], node: v[1], tensor: v[2] });
        kwargs[k] = { __input_index: inputs.length - 1 };
      }
    }
    return { inputs, kwargs };
  }
  if (isObj(node) && Array.isArray(node.args)) {
    // Keras 3: args may hold tensors, lists of tensors (merge layers) or plain values.
    const inputs: TensorRef[] = [];
    const collect = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(collect);
      else if (isObj(v) && v.class_name === '__keras_tensor__' && isObj(v.config) && Array.isArray(v.config.keras_history)) {
        const h = v.config.keras_history as unknown[];
        if (typeof h[0] !== 'string') bad();
        inputs.push({ layer: h[0] as string, node: Number(h[1] ?? 0), tensor: Number(h[2] ?? 0) });
      }
    };
    node.args.forEach(collect);
    const kwargs: Record<string, unknown> = isObj(node.kwargs) ? { ...node.kwargs } : {};
    // Tensor-valued kwargs (e.g. MultiHeadAttention value=/key=) are extra inputs, in order.
    for (const [k, v] of Object.entries(kwargs)) {
      if (isObj(v) && v.class_name === '__keras_tensor__') {
        collect(v);
        kwargs[k] = { __input_index: inputs.length - 1 };
      }
    }
    return { inputs, kwargs };
  }
  return bad();
}

/** Keras 3 dtype policies and tf.keras dtype strings to a plain dtype name. */
export function dtypeName(d: unknown): string | undefined {
  if (typeof d === 'string') return d.startsWith('mixed_') ? d.slice(6) : d;
  if (isObj(d) && isObj(d.config) && typeof d.config.name === 'string') return dtypeName(d.config.name);
  return undefined;
}

/** The batch shape a layer declares (Keras 1/2 `batch_input_shape`, Keras 3 `batch_shape`, …). */
export function batchShapeOf(cfg: Record<string, unknown>): (number | null)[] | undefined {
  const shp = (v: unknown): (number | null)[] | undefined => (Array.isArray(v) && v.every((x) => x === null || (typeof x === 'number' && Number.isInteger(x) && x >= 0)) ? (v as (number | null)[]) : undefined);
  const b = shp(cfg.batch_input_shape) ?? shp(cfg.batch_shape);
  if (b) return b;
  const s = shp(cfg.input_shape);
  if (s) return [null, ...s];
  // Keras 1 recurrent/dense layers: input_dim (+ input_length)
  if (typeof cfg.input_dim === 'number' && cfg.class_hint !== 'Embedding') {
    return cfg.input_length !== undefined ? [null, (cfg.input_length as number | null) ?? null, cfg.input_dim] : [null, cfg.input_dim];
  }
  return undefined;
}

/** Keras 1 class names → Keras 2 ones. */
const KERAS1_CLASSES: Record<string, string> = {
  Convolution1D: 'Conv1D',
  Convolution2D: 'Conv2D',
  Convolution3D: 'Conv3D',
  AtrousConvolution1D: 'Conv1D',
  AtrousConvolution2D: 'Conv2D',
  Deconvolution2D: 'Conv2DTranspose',
  SeparableConvolution2D: 'SeparableConv2D',
};

function normalizeLayer(l: KerasLayerJson, where: string, depth: number, index: number): NormLayer {
  const className = KERAS1_CLASSES[l.class_name] ?? l.class_name;
  const config: Record<string, unknown> = { ...l.config };
  const name = typeof config.name === 'string' ? config.name : typeof l.name === 'string' ? l.name : `${className.toLowerCase()}_${index}`;
  config.name = name;
  const dt = dtypeName(config.dtype);
  if (dt !== undefined) config.dtype = dt;
  if (MODEL_CLASSES.has(className)) {
    const inner = normalizeModel({ class_name: className, config: l.config }, where, depth + 1);
    inner.name = name;
    return { name, className, config, calls: [], inner };
  }
  if (className === 'Embedding' && config.batch_input_shape === undefined && config.input_length !== undefined && config.input_length !== null) {
    // Keras 1 Embedding: input_dim is the vocabulary, not a feature size.
    config.batch_input_shape = [null, config.input_length];
  }
  if (className === 'Embedding') config.class_hint = 'Embedding';
  renameKeras1(className, l.class_name, config);
  return { name, className, config, calls: [] };
}

function mv(c: Record<string, unknown>, from: string, to: string, f: (v: unknown) => unknown = (v) => v): void {
  if (c[from] !== undefined && c[to] === undefined) c[to] = f(c[from]);
}

/** Keras 1 argument names → Keras 2 (as keras/legacy/interfaces.py converts them). */
function renameKeras1(cls: string, original: string, c: Record<string, unknown>): void {
  const order = (v: unknown): unknown => (v === 'th' ? 'channels_first' : v === 'tf' ? 'channels_last' : v);
  mv(c, 'dim_ordering', 'data_format', order);
  mv(c, 'border_mode', 'padding');
  mv(c, 'bias', 'use_bias');
  mv(c, 'output_dim', cls === 'Embedding' ? 'output_dim' : 'units');
  if (cls === 'Dense' || cls === 'LSTM' || cls === 'GRU' || cls === 'SimpleRNN') mv(c, 'output_dim', 'units');
  mv(c, 'inner_activation', 'recurrent_activation');
  mv(c, 'nb_filter', 'filters');
  mv(c, 'filter_length', 'kernel_size', (v) => [v]);
  mv(c, 'subsample_length', 'strides', (v) => [v]);
  mv(c, 'subsample', 'strides');
  mv(c, 'atrous_rate', 'dilation_rate', (v) => (Array.isArray(v) ? v : [v]));
  mv(c, 'pool_length', 'pool_size', (v) => [v]);
  if (cls.endsWith('Pooling1D')) mv(c, 'stride', 'strides', (v) => (v === null ? null : [v]));
  if (c.nb_row !== undefined && c.kernel_size === undefined) c.kernel_size = c.nb_col !== undefined ? [c.nb_row, c.nb_col] : [c.nb_row];
  if (cls === 'Conv3D' && c.kernel_dim1 !== undefined && c.kernel_size === undefined) c.kernel_size = [c.kernel_dim1, c.kernel_dim2, c.kernel_dim3];
  if (original !== cls) c.keras1_class = original;
  if (cls === 'Dropout' || cls.startsWith('SpatialDropout')) mv(c, 'p', 'rate');
  if (cls === 'LeakyReLU') mv(c, 'alpha', 'negative_slope');
}
