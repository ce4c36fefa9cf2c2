/**
 * The Keras model JSON (`model.to_json()`, the `model_config` attribute of `.h5`, `config.json`
 * inside `.keras`, `modelTopology` of tfjs-layers) mirrored with its exact snake_case field names,
 * as tfjs-layers does (tfjs-layers/src/keras_format). Every field is optional because ten years of
 * Keras versions disagree on which exist; `normalize.ts` is the one place that reconciles them.
 *
 * Reference: https://keras.io/api/models/model_saving_apis/ and tfjs-layers' keras_format types.
 */

/** `{class_name, config}` wrapper used for layers, models, initializers, dtype policies. */
export interface KerasSerialized<C = Record<string, unknown>> {
  class_name: string;
  config: C;
  /** Keras 3: module and registered name of the class. */
  module?: string | null;
  registered_name?: string | null;
  /** Keras 3: build config with the input shape. */
  build_config?: { input_shape?: (number | null)[] | null } | null;
}

/**
 * An inbound reference. Keras 2 form: `[layer_name, node_index, tensor_index, kwargs]`.
 * Keras 3 form: `{class_name: '__keras_tensor__', config: {keras_history: [layer, node, tensor]}}`
 * inside `{args: [...], kwargs: {...}}`.
 */
export type KerasInboundRef = [string, number, number, Record<string, unknown>?] | [string, number, number];

export interface KerasKeras3Tensor {
  class_name: '__keras_tensor__';
  config: { shape?: (number | null)[]; dtype?: string; keras_history: [string, number, number] };
}

export interface KerasKeras3Node {
  args: unknown[];
  kwargs?: Record<string, unknown>;
}

/** One layer entry in a model config. */
export interface KerasLayerJson extends KerasSerialized<KerasLayerConfig> {
  /** Functional models: the layer's own name (repeated from config.name). */
  name?: string;
  /** Functional models: one entry per call of the layer (shared layers have several). */
  inbound_nodes?: (KerasInboundRef[] | KerasKeras3Node)[];
}

/** Fields common to layer configs; layer-specific ones are read by name in the lowering. */
export interface KerasLayerConfig {
  name?: string;
  trainable?: boolean;
  dtype?: string | KerasSerialized<{ name?: string }> | null;
  batch_input_shape?: (number | null)[] | null;
  batch_shape?: (number | null)[] | null;
  input_shape?: (number | null)[] | null;
  /** Keras 1. */
  input_dim?: number | null;
  input_length?: number | null;
  input_dtype?: string;
  [key: string]: unknown;
}

/** Sequential config: Keras 1/2.0 bare list, or `{name, layers}` from Keras 2.2 on. */
export type KerasSequentialConfig = KerasLayerJson[] | { name?: string; layers: KerasLayerJson[]; build_input_shape?: unknown };

/** Functional config. Refs are `[name, node_index, tensor_index]` (Keras 3 may drop nesting). */
export interface KerasFunctionalConfig {
  name?: string;
  layers: KerasLayerJson[];
  input_layers: [string, number, number][] | [string, number, number];
  output_layers: [string, number, number][] | [string, number, number];
}

/** Top of `model.to_json()`. */
export interface KerasModelJson {
  class_name: string;
  config: KerasSequentialConfig | KerasFunctionalConfig;
  keras_version?: string;
  backend?: string;
}

/** tfjs-layers `model.json`. */
export interface TfjsModelJson {
  modelTopology: KerasModelJson | { model_config: KerasModelJson; keras_version?: string; backend?: string };
  weightsManifest?: TfjsWeightsGroup[];
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  trainingConfig?: unknown;
  userDefinedMetadata?: unknown;
}

export interface TfjsWeightsGroup {
  paths: string[];
  weights: TfjsWeightEntry[];
}

export interface TfjsWeightEntry {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool' | 'string' | 'float16' | 'complex64';
  quantization?: { dtype: 'uint8' | 'uint16' | 'float16'; scale?: number; min?: number; original_dtype?: string };
  group?: string;
}
