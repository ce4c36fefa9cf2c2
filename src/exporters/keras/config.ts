/**
 * Serialising a normalised Keras model (src/importers/keras/normalize.ts) back to model JSON:
 * - Keras 2 form (legacy `.h5` `model_config`, tfjs-layers `modelTopology`): Sequential as
 *   `{name, layers}` with `batch_input_shape` on the first layer, Functional as class `Model`
 *   with nested-list `inbound_nodes`;
 * - Keras 3 form (`config.json` in `.keras`): `module`/`registered_name` on every object,
 *   InputLayer with `batch_shape`, `inbound_nodes` as `{args, kwargs}` with `__keras_tensor__`.
 * Keras 1 argument names kept alongside their Keras 2 renames are dropped here.
 * References: keras/src/saving/serialization_lib.py, keras/src/models/functional.py (Keras 3);
 * keras/engine/network.py get_config (Keras 2).
 */
import type { NormLayer, NormModel, TensorRef } from '../../importers/keras/normalize.js';
import { batchShapeOf } from '../../importers/keras/normalize.js';

/** Keras 1 spellings (and importer notes) that must not reach a Keras 2/3 loader. */
const KERAS1_KEYS = ['keras1_class', 'class_hint', 'dim_ordering', 'border_mode', 'bias', 'inner_activation', 'nb_filter', 'filter_length', 'subsample_length', 'subsample', 'atrous_rate', 'pool_length', 'nb_row', 'nb_col', 'kernel_dim1', 'kernel_dim2', 'kernel_dim3', 'init', 'inner_init', 'forget_bias_init', 'W_regularizer', 'b_regularizer', 'U_regularizer', 'W_constraint', 'b_constraint', 'U_constraint', 'dropout_W', 'dropout_U', 'consume_less', 'input_dtype', 'p'];

function cleanConfig(layer: NormLayer, keras3: boolean): Record<string, unknown> {
  const c: Record<string, unknown> = { ...layer.config };
  const keras1 = typeof c.keras1_class === 'string' || c.dim_ordering !== undefined || c.output_dim !== undefined || c.inner_activation !== undefined;
  for (const k of KERAS1_KEYS) delete c[k];
  if (keras1 || layer.className !== 'Embedding') {
    if (layer.className !== 'Embedding') {
      delete c.output_dim;
      delete c.input_dim;
      delete c.input_length;
    }
    if (layer.className.endsWith('Pooling1D')) delete c.stride;
  }
  if (layer.className === 'Embedding') delete c.batch_input_shape;
  if (layer.className === 'LeakyReLU') {
    if (keras3) delete c.alpha;
    else {
      c.alpha ??= c.negative_slope;
      delete c.negative_slope;
    }
  }
  delete c.input_shape;
  delete c.batch_input_shape;
  delete c.batch_shape;
  if (keras3) {
    delete c.implementation;
    delete c.time_major;
  }
  if (typeof c.dtype !== 'string') delete c.dtype;
  return c;
}

function inputLayerConfig(l: NormLayer, keras3: boolean): Record<string, unknown> {
  const shape = batchShapeOf(l.config) ?? [null];
  const dtype = typeof l.config.dtype === 'string' ? l.config.dtype : 'float32';
  return keras3 ? { batch_shape: shape, dtype, sparse: false, name: l.name } : { batch_input_shape: shape, dtype, sparse: false, name: l.name };
}

function layerJson(l: NormLayer, keras3: boolean, tfjs = false): Record<string, unknown> {
  if (l.inner) {
    const inner = modelJson(l.inner, keras3, tfjs);
    return inner;
  }
  const config = l.className === 'InputLayer' ? inputLayerConfig(l, keras3) : cleanConfig(l, keras3);
  // Wrappers (Bidirectional, TimeDistributed) hold a layer config of their own.
  if (config.layer && typeof config.layer === 'object') {
    const inner = config.layer as { class_name: string; config: Record<string, unknown> };
    const innerNorm: NormLayer = { name: String(inner.config?.name ?? ''), className: inner.class_name, config: inner.config ?? {}, calls: [] };
    config.layer = keras3 ? { module: 'keras.layers', class_name: inner.class_name, config: cleanConfig(innerNorm, true), registered_name: null } : { class_name: inner.class_name, config: cleanConfig(innerNorm, false) };
  }
  return keras3 ? { module: 'keras.layers', class_name: l.className, config, registered_name: null } : { class_name: l.className, config };
}

function isSequentialChain(m: NormModel): boolean {
  return m.className === 'Sequential';
}

/**
 * Node-index base of calls to nested models: Keras numbers them from 0 in saved configs,
 * tfjs-layers from 1 (its node 0 is the nested model's own construction). 1 when `m` uses the
 * tfjs convention (a ref beyond the listed calls).
 */
function nestedBase(m: NormModel, l: NormLayer): number {
  let max = -1;
  for (const c of m.layers.flatMap((x) => x.calls)) for (const r of c.inputs) if (r.layer === l.name) max = Math.max(max, r.node);
  for (const r of m.outputs) if (r.layer === l.name) max = Math.max(max, r.node);
  return max >= l.calls.length ? 1 : 0;
}

/** Keras 2 (`keras3 = false`) or Keras 3 model JSON for `m`; `tfjs` numbers nested calls from 1. */
export function modelJson(m: NormModel, keras3: boolean, tfjs = false): Record<string, unknown> {
  const shift = new Map<string, number>();
  for (const l of m.layers) if (l.inner) shift.set(l.name, (tfjs ? 1 : 0) - nestedBase(m, l));
  const refArr = (r: TensorRef): [string, number, number] => [r.layer, r.node + (shift.get(r.layer) ?? 0), r.tensor];
  if (isSequentialChain(m)) {
    const body = m.layers.filter((l) => l.className !== 'InputLayer');
    const input = m.layers.find((l) => l.className === 'InputLayer');
    const layers = body.map((l) => layerJson(l, keras3, tfjs));
    if (keras3) {
      if (input) layers.unshift({ module: 'keras.layers', class_name: 'InputLayer', config: inputLayerConfig(input, true), registered_name: null });
      return { module: 'keras', class_name: 'Sequential', config: { name: m.name, trainable: true, dtype: 'float32', layers }, registered_name: null };
    }
    if (input && typeof input.config.dtype === 'string' && !/^float/.test(input.config.dtype)) {
      // Integer ids: an explicit InputLayer first (as tf.keras 2.4+ writes it). Copying the dtype
      // onto the first layer would make Keras 2 and tfjs-layers create that layer's weights (an
      // Embedding table) with the integer dtype.
      layers.unshift({ class_name: 'InputLayer', config: inputLayerConfig(input, false) });
      return { class_name: 'Sequential', config: { name: m.name, layers } };
    }
    if (input && layers[0]) {
      const cfg = layers[0].config as Record<string, unknown>;
      cfg.batch_input_shape = batchShapeOf(input.config);
      if (typeof input.config.dtype === 'string') cfg.dtype = input.config.dtype;
    }
    return { class_name: 'Sequential', config: { name: m.name, layers } };
  }
  const layers = m.layers.map((l) => {
    const j = layerJson(l, keras3, tfjs);
    j.name = l.name;
    if (l.inner) (j.config as Record<string, unknown>).name = l.name;
    // Tensor-valued call kwargs (MultiHeadAttention value=/key=) go back into kwargs.
    const split = (c: NormLayer['calls'][number]): { args: TensorRef[]; kwargs: Record<string, unknown>; kwRefs: [string, TensorRef][] } => {
      const kwRefs: [string, TensorRef][] = [];
      const kwargs: Record<string, unknown> = {};
      const used = new Set<number>();
      for (const [k, v] of Object.entries(c.kwargs)) {
        const idx = (v as { __input_index?: unknown } | null)?.__input_index;
        if (typeof idx === 'number' && c.inputs[idx]) {
          kwRefs.push([k, c.inputs[idx]!]);
          used.add(idx);
        } else kwargs[k] = v;
      }
      return { args: c.inputs.filter((_, i) => !used.has(i)), kwargs, kwRefs };
    };
    if (keras3) {
      const kt = (r: TensorRef): unknown => ({ class_name: '__keras_tensor__', config: { shape: null, dtype: 'float32', keras_history: refArr(r) } });
      j.inbound_nodes = l.calls.map((c) => {
        const { args, kwargs, kwRefs } = split(c);
        const tensors = args.map(kt);
        for (const [k, r] of kwRefs) kwargs[k] = kt(r);
        return { args: tensors.length === 1 ? tensors : [tensors], kwargs };
      });
    } else {
      j.inbound_nodes = l.calls.map((c) => {
        const { args, kwargs, kwRefs } = split(c);
        for (const [k, r] of kwRefs) kwargs[k] = refArr(r);
        return args.map((r, i) => [...refArr(r), i === 0 ? kwargs : {}]);
      });
    }
    return j;
  });
  const config = { name: m.name, layers, input_layers: m.inputs.map(refArr), output_layers: m.outputs.map(refArr) };
  return keras3 ? { module: 'keras', class_name: 'Functional', config: { ...config, trainable: true }, registered_name: null } : { class_name: 'Model', config };
}

/** Names of all layers in order (what legacy `.h5` lists in `layer_names`). */
export function layerNames(m: NormModel): string[] {
  if (m.className === 'Sequential') return m.layers.filter((l) => l.className !== 'InputLayer').map((l) => l.name);
  return m.layers.map((l) => l.name);
}
