/**
 * What every layer lowering receives: the builder, the file's Keras version/backend, and the
 * layer's weights in Keras order, checked against the shapes the layer's config implies (so a
 * weight that does not fit its layer is a typed error naming both, never a kernel crash).
 */
import { RosettaError } from '../../ir/errors.js';
import { Tensor, checkedSize } from '../../ir/tensor.js';
import type { GraphBuilder, KValue } from './builder.js';
import type { NormLayer } from './normalize.js';

/** One stored Keras weight (h5 dataset, tfjs manifest entry, `.keras` var). */
export interface KerasWeight {
  /** Name as stored (`dense_1/kernel:0`, `lstm_1_W_i:0`, `vars/0`). */
  name: string;
  tensor: Tensor;
}

/**
 * Weights of a layer in Keras order, or undefined when the source has no weights (JSON).
 * `specs` are the roles and shapes the layer's config implies (the exporter uses them to
 * generate index-encoded weights, see src/exporters/keras/weights.ts).
 */
export type WeightSource = (layerPath: string[], specs: readonly WeightSpec[]) => KerasWeight[] | undefined;

export interface LowerCtx {
  b: GraphBuilder;
  kerasVersion?: string;
  backend?: string;
  file: string;
  weights?: WeightSource;
  /** Path of enclosing nested models (for weight lookup), outermost first. */
  path: string[];
  /** Names of layers whose every consumer is a Dense (Flatten row-permutation rewrite). */
  feedsOnlyDense: Set<string>;
  /** Elements still allowed for zero-filled parameters (architecture-only JSON); shared. */
  placeholderBudget: { left: number };
  /** Nesting depth of wrapper layers (TimeDistributed) being lowered. */
  wrapDepth?: number;
  /** Observer of each layer call (scope, class, Keras input shapes); see LowerOptions.onLayer. */
  onLayer?: (scope: string, className: string, inputShapes: (number | null)[][]) => void;
  /** Observer of each layer call's Keras output shapes; see LowerOptions.onLayerOutput. */
  onLayerOutput?: (layer: string, className: string, outputShapes: (number | null)[][], depth: number) => void;
}

/** Most parameter elements an architecture-only model may zero-fill (2^28 = 1 GiB of float32). */
export const PLACEHOLDER_LIMIT = 1 << 28;

/** The shape a weight must have, with its Keras role name. */
export interface WeightSpec {
  role: string;
  shape: number[];
}

/**
 * Fetch a layer's weights and check count and shapes against `specs`. Without a weight source
 * (architecture-only JSON) the parameters are zero-filled so the graph is complete.
 */
export function takeWeights(ctx: LowerCtx, layer: NormLayer, specs: WeightSpec[], scope: string, pre?: (w: KerasWeight[]) => KerasWeight[]): { tensors: Tensor[]; names: string[] } {
  void scope;
  const raw = ctx.weights?.([...ctx.path, layer.weightKey ?? layer.name], specs);
  const got = raw && pre ? pre(raw) : raw;
  if (!got) {
    // Architecture only: zero parameters, within a budget (the sizes come from untrusted JSON).
    const sizes = specs.map((s) => checkedSize(s.shape, `weight ${s.role} of layer ${layer.name}`));
    const need = sizes.reduce((a, n) => a + n, 0);
    if (need > ctx.placeholderBudget.left) {
      throw new RosettaError('E_TOO_LARGE', `the architecture declares more than ${PLACEHOLDER_LIMIT} parameters to zero-fill (layer ${layer.name} alone needs ${need})`, { where: { file: ctx.file, layer: layer.name }, hint: 'load the model together with its weights file' });
    }
    ctx.placeholderBudget.left -= need;
    const tensors = specs.map((s, i) => new Tensor('float32', s.shape, new Float32Array(sizes[i]!)));
    return { tensors, names: specs.map((s) => `${layer.name}/${s.role}:0`) };
  }
  if (got.length === 0 && specs.length > 0) {
    throw new RosettaError('E_MISSING_WEIGHT', `layer ${layer.name} (${layer.className}) needs weights ${specs.map((s) => s.role).join(', ')}, the file has none for it`, { where: { file: ctx.file, layer: layer.name }, hint: 'the weights file is incomplete or belongs to another model' });
  }
  if (got.length !== specs.length) {
    throw new RosettaError('E_SHAPE_MISMATCH', `layer ${layer.name} (${layer.className}) needs ${specs.length} weights (${specs.map((s) => s.role).join(', ')}), the file has ${got.length}${got.length ? ` (${got.map((w) => w.name).join(', ')})` : ''}`, { where: { file: ctx.file, layer: layer.name }, hint: 'the weights do not belong to this architecture' });
  }
  const tensors: Tensor[] = [];
  specs.forEach((s, i) => {
    const w = got[i]!;
    const ok = w.tensor.shape.length === s.shape.length && w.tensor.shape.every((d, k) => d === s.shape[k]);
    if (!ok) {
      throw new RosettaError('E_SHAPE_MISMATCH', `weight ${w.name} of layer ${layer.name} (${layer.className}) has shape [${w.tensor.shape.join(', ')}], the layer's config needs ${s.role} of shape [${s.shape.join(', ')}]`, { where: { file: ctx.file, layer: layer.name, entry: w.name }, hint: 'the weights do not belong to this architecture' });
    }
    if (w.tensor.dtype !== 'float32') {
      // Keras weights are float32 unless a mixed policy saved float16/float64; compute in float32.
      const f = new Float32Array(w.tensor.size);
      for (let k = 0; k < f.length; k++) f[k] = w.tensor.get(k);
      tensors.push(new Tensor('float32', w.tensor.shape, f));
    } else tensors.push(w.tensor);
  });
  return { tensors, names: got.map((w) => w.name) };
}

/** A config field as a number (or a default), rejecting non-numbers with a typed error. */
export function num(cfg: Record<string, unknown>, key: string, def: number | undefined, layer: string): number {
  const v = cfg[key];
  if (v === undefined || v === null) {
    if (def === undefined) throw new RosettaError('E_INVALID_ATTR', `layer config lacks '${key}'`, { where: { layer } });
    return def;
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new RosettaError('E_INVALID_ATTR', `'${key}' should be a number, got ${JSON.stringify(v)}`, { where: { layer } });
  return v;
}

/** Positive integer config field. */
export function posInt(cfg: Record<string, unknown>, key: string, def: number | undefined, layer: string, max = 1 << 24): number {
  const v = num(cfg, key, def, layer);
  if (!Number.isInteger(v) || v < 1 || v > max) throw new RosettaError('E_INVALID_ATTR', `'${key}' should be a positive integer ≤ ${max}, got ${v}`, { where: { layer } });
  return v;
}

/** An int or a tuple config field expanded to `n` entries (kernel_size, strides, …). */
export function tuple(cfg: Record<string, unknown>, key: string, n: number, def: number | undefined, layer: string): number[] {
  const v = cfg[key];
  if (v === undefined || v === null) {
    if (def === undefined) throw new RosettaError('E_INVALID_ATTR', `layer config lacks '${key}'`, { where: { layer } });
    return new Array<number>(n).fill(def);
  }
  const arr = Array.isArray(v) ? v : [v];
  const out = arr.length === 1 && n > 1 ? new Array<unknown>(n).fill(arr[0]) : arr;
  if (out.length !== n || !out.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 1 << 24)) {
    throw new RosettaError('E_INVALID_ATTR', `'${key}' should be ${n} non-negative integers, got ${JSON.stringify(v)}`, { where: { layer } });
  }
  return out as number[];
}

export type Lowering = (ctx: LowerCtx, layer: NormLayer, inputs: KValue[], kwargs: Record<string, unknown>) => KValue[];
