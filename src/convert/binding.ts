/**
 * Weight binding: put the tensors of a weights-only file (a PyTorch state dict, safetensors, a
 * Keras weights-only `.h5`) into an architecture `Model` read from any full-model format.
 *
 * Binding is structural, never a silent guess:
 * 1. `--map 'regex=replacement'` rules rename source keys first (JS regex, `$1` references).
 * 2. A source tensor whose (renamed) key *is* the name of an architecture parameter, with the
 *    same shape, binds directly (PyTorch's ONNX export keeps state-dict names for most weights).
 * 3. Everything else binds layer by layer: the architecture's parameterised nodes (Conv, Gemm,
 *    MatMul+Add, BatchNormalization, LayerNormalization, Gather-embedding, LSTM, GRU) in
 *    topological order are matched against the source's layers in file order, by layer kind and
 *    by shape after the layout adapter of the source's naming world (PyTorch `features.0.weight`,
 *    `bn.running_var`, `lstm.weight_ih_l0`; Keras `conv2d/kernel:0`,
 *    `batch_normalization/moving_variance`, `lstm/lstm_cell/kernel`).
 * Each adapter (Linear [out,in] ⇄ Dense [in,out], HWIO → OIHW, depthwise [k…,C,M] → [C·M,1,k…],
 * LSTM/GRU gate orders, split/stacked RNN biases and directions incl. Keras Bidirectional
 * forward_/backward_ layers, MultiheadAttention packed in_proj ⇄ separate query/key/value,
 * the Flatten→Dense row order by data_format) is recorded as a transform. The
 * report lists applied, transformed, missing and unused tensors; anything missing is an
 * E_BINDING error (the report attached as `detail`) unless `partial` is set.
 * Gate orders: PyTorch LSTM (i,f,g,o), Keras (i,f,c,o), ONNX (i,o,f,c); GRU PyTorch (r,z,n),
 * Keras and ONNX (z,r,h). See docs/conversion.md and https://onnx.ai/onnx/operators/onnx__LSTM.html.
 */
import { isFloatDType } from '../ir/dtype.js';
import { RosettaError } from '../ir/errors.js';
import { topoSort, type Graph, type Model, type Node, type RewriteRecord } from '../ir/graph.js';
import { Tensor, sizeOf, toFloat32Array } from '../ir/tensor.js';
import type { WeightSet } from '../importers/types.js';
import { inferTypes } from '../ir/infer.js';
import { convPerm, convTransposePerm, depthwiseToIR, flattenRowOrder, LSTM_ORDER, permute, permuteColumns, reorderGates } from '../importers/keras/weight-layout.js';

/** One `--map` rule: keys matching `pattern` are rewritten with `replacement`. */
export interface MapRule {
  pattern: RegExp;
  replacement: string;
}

export interface BindOptions {
  /** Rename rules applied to source keys before anything else, in order. */
  map?: readonly (string | MapRule)[];
  /** Keep the architecture's own values for missing parameters instead of failing. */
  partial?: boolean;
  /**
   * `data_format` of the Keras model Keras-named weights come from, for an architecture not
   * imported from Keras (default `channels_last`): decides the Flatten→Dense row permutation.
   */
  kerasDataFormat?: 'channels_last' | 'channels_first';
}

/** A bound parameter whose values went through a layout adapter. */
export interface TransformedEntry {
  target: string;
  sources: string[];
  transform: string;
}

/** What binding did; the CLI prints it and `--report` stores it. */
export interface BindingReport {
  /** `--map` renames that fired: original key → new key. */
  renamed: { from: string; to: string }[];
  /** Bound unchanged (same values, same shape). */
  applied: { target: string; source: string }[];
  transformed: TransformedEntry[];
  /** Architecture parameters nothing was bound to. */
  missing: { target: string; layer: string; role: string; shape: number[] }[];
  /** Source tensors that were not used, with the reason when known. */
  unused: { source: string; shape: number[]; reason?: string }[];
}

/** Parse `regex=replacement` (split at the first `=` not preceded by a backslash). */
export function parseMapRule(text: string): MapRule {
  const m = /^((?:[^=\\]|\\.)+)=(.*)$/s.exec(text);
  if (!m) throw new RosettaError('E_USAGE', `--map expects 'regex=replacement', got '${text}'`, { hint: "for example --map '^model\\.=' to drop a 'model.' prefix" });
  try {
    return { pattern: new RegExp(m[1]!.replace(/\\=/g, '=')), replacement: m[2]! };
  } catch (e) {
    throw new RosettaError('E_USAGE', `--map pattern '${m[1]}' is not a valid regular expression: ${e instanceof Error ? e.message : String(e)}`);
  }
}

// ---- the architecture side ----------------------------------------------------------------------

type SlotKind = 'conv' | 'convT' | 'dense' | 'bn' | 'ln' | 'embedding' | 'lstm' | 'gru';

/** A parameterised node of the architecture, with its parameters by role. */
interface Slot {
  kind: SlotKind;
  node: Node;
  /** role → initializer name (roles: weight, bias, mean, var, W, R, B). */
  params: Map<string, string>;
  /** Gemm transB / MatMul: does the weight store [out, in]? */
  outIn?: boolean;
  /**
   * Dense after a Flatten of a [N, C, spatial…] map: its input features are in (c, spatial)
   * order, while a channels-last (Keras) source stores kernel rows in (spatial, c) order.
   */
  flattenOf?: { channels: number; spatial: number[] };
  /** Keras MultiHeadAttention projection this slot is (`query`, `key`, `value`, `attention_output`), from ParamInfo roles. */
  mhaPart?: string;
}

function isParam(g: Graph, name: string | undefined): name is string {
  if (!name) return false;
  const t = g.initializers.get(name);
  return t !== undefined && isFloatDType(t.dtype);
}

function intAttr(n: Node, name: string, dflt: number): number {
  const a = n.attrs[name];
  return a && a.type === 'int' ? a.value : dflt;
}

/**
 * Whose row order a Keras-world Dense kernel after a Flatten has. Keras flattens what its tensor
 * holds: `(h, w, c)` for a `channels_last` model, `(c, h, w)` for a `channels_first` one (a
 * `Flatten(data_format='channels_first')` transposes to channels-last first, so it is `(h, w, c)`
 * again). The IR flattens channels-first maps `(c, h, w)`.
 * - Architecture imported from Keras (`keras.config` metadata): the importer read every layer's
 *   `data_format` and permuted exactly the Dense kernels that needed it, recording a
 *   `flatten-row-permutation` rewrite on the layer; `permuted` holds those scopes, and only they
 *   get the permutation (a `channels_first` model's Dense binds unpermuted).
 * - Any other architecture: the weights' Keras model is assumed `channels_last` unless
 *   {@link BindOptions.kerasDataFormat} says otherwise (a weights-only file does not say).
 */
interface KerasRowOrder {
  permuted?: Set<string>;
  sourceDataFormat: 'channels_last' | 'channels_first';
}

function kerasRowOrder(arch: Model, opts: BindOptions): KerasRowOrder {
  const sourceDataFormat = opts.kerasDataFormat ?? 'channels_last';
  if (arch.metadata['keras.config'] === undefined) return { sourceDataFormat };
  return { sourceDataFormat, permuted: new Set(arch.rewrites.filter((r) => r.kind === 'flatten-row-permutation').map((r) => r.scope)) };
}

/** Parameterised nodes in topological order; a parameter belongs to its first consumer. */
function archSlots(g: Graph, keras: KerasRowOrder): Slot[] {
  const order = topoSort(g);
  const types = inferTypes(g);
  /**
   * [C, spatial…] of the map a Flatten(axis 1) feeding `input` flattens, when a Keras-world kernel
   * for `dense` stores its rows in another order than the architecture: see {@link KerasRowOrder}.
   */
  const flattenOf = (input: string | undefined, dense: Node): Slot['flattenOf'] => {
    if (keras.permuted && !keras.permuted.has(dense.scope)) return undefined;
    if (!keras.permuted && keras.sourceDataFormat === 'channels_first') return undefined;
    const p = input ? producer.get(input) : undefined;
    if (!p || p.opType !== 'Flatten' || intAttr(p, 'axis', 1) !== 1) return undefined;
    const t = types.get(p.inputs[0] ?? '');
    const shape = t?.kind === 'tensor' ? t.shape : undefined;
    if (!shape || shape.length < 3 || !shape.slice(1).every((d): d is number => typeof d === 'number')) return undefined;
    const [c, ...spatial] = shape.slice(1) as number[];
    return spatial.reduce((a, d) => a * d, 1) > 1 && c! > 1 ? { channels: c!, spatial } : undefined;
  };
  const taken = new Set<string>();
  const slots: Slot[] = [];
  const producer = new Map<string, Node>();
  for (const n of order) for (const o of n.outputs) producer.set(o, n);
  const mhaPart = (p: string | undefined): string | undefined => mhaPartOf(g, p);
  const add = (kind: SlotKind, node: Node, roles: [string, string | undefined][], extra: Partial<Slot> = {}): void => {
    const params = new Map<string, string>();
    for (const [role, name] of roles) if (isParam(g, name) && !taken.has(name)) params.set(role, name);
    if (params.size === 0) return;
    for (const name of params.values()) taken.add(name);
    slots.push({ kind, node, params, ...extra });
  };
  for (const n of order) {
    const i = n.inputs;
    switch (n.opType) {
      case 'Conv':
        add('conv', n, [['weight', i[1]], ['bias', i[2]]]);
        break;
      case 'ConvTranspose':
        add('convT', n, [['weight', i[1]], ['bias', i[2]]]);
        break;
      case 'Gemm':
        if (intAttr(n, 'transA', 0) === 0) add('dense', n, [['weight', i[1]], ['bias', i[2]]], { outIn: intAttr(n, 'transB', 0) === 1, flattenOf: flattenOf(i[0], n) });
        break;
      case 'MatMul':
        if (isParam(g, i[1]) && g.initializers.get(i[1])!.rank === 2) add('dense', n, [['weight', i[1]]], { outIn: false, flattenOf: flattenOf(i[0], n), mhaPart: mhaPart(i[1]) });
        break;
      case 'Add': {
        // MatMul + Add(bias): the bias joins the MatMul's slot.
        const [a, b] = [i[0] ?? '', i[1] ?? ''];
        const p = producer.get(a)?.opType === 'MatMul' ? producer.get(a)! : producer.get(b)?.opType === 'MatMul' ? producer.get(b)! : undefined;
        const biasName = p === producer.get(a) ? b : a;
        const slot = p && slots.find((s) => s.node === p);
        if (slot && !slot.params.has('bias') && isParam(g, biasName) && !taken.has(biasName) && g.initializers.get(biasName)!.rank === 1) {
          slot.params.set('bias', biasName);
          taken.add(biasName);
        }
        break;
      }
      case 'BatchNormalization':
        add('bn', n, [['weight', i[1]], ['bias', i[2]], ['mean', i[3]], ['var', i[4]]]);
        break;
      case 'LayerNormalization':
        add('ln', n, [['weight', i[1]], ['bias', i[2]]]);
        break;
      case 'Gather':
        if (isParam(g, i[0]) && g.initializers.get(i[0])!.rank === 2) add('embedding', n, [['weight', i[0]]]);
        break;
      case 'LSTM':
        add('lstm', n, [['W', i[1]], ['R', i[2]], ['B', i[3]]]);
        break;
      case 'GRU':
        add('gru', n, [['W', i[1]], ['R', i[2]], ['B', i[3]]]);
        break;
    }
  }
  return slots;
}

/** `query`/`key`/`value`/`attention_output` when the Keras importer named this parameter as a MultiHeadAttention projection. */
function mhaPartOf(g: Graph, param: string | undefined): string | undefined {
  const role = param ? g.params.get(param)?.role : undefined;
  const m = role ? /^(query|key|value|attention_output)\/kernel$/.exec(role) : null;
  return m ? m[1] : undefined;
}

// ---- the source side ----------------------------------------------------------------------------

type World = 'torch' | 'keras';

/** The tensors of one source layer (one RNN layer of a multi-layer PyTorch RNN). */
interface SourceLayer {
  name: string;
  world: World;
  /** role → source key. */
  keys: Map<string, string>;
}

/** Roles only Keras uses (`bias` is shared by both worlds). */
const KERAS_ROLES = new Set(['kernel', 'gamma', 'beta', 'moving_mean', 'moving_variance', 'embeddings', 'recurrent_kernel', 'depthwise_kernel', 'pointwise_kernel']);
const MHA_PARTS = ['query', 'key', 'value', 'attention_output'];
/** Keras 3 `.weights.h5` names the MultiHeadAttention projections' sub-layers differently. */
const KERAS3_MHA_PARTS: Record<string, string> = { query_dense: 'query', key_dense: 'key', value_dense: 'value', output_dense: 'attention_output' };
const TORCH_RNN = /^(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?$/;

/** Split a key into (layer, role); `/`-separated keys are Keras', dotted ones decided per layer. */
function splitKey(key: string): { layer: string; role: string; world?: World } {
  const k = key.replace(/:\d+$/, '');
  if (k.includes('/')) {
    const parts = k.split('/').filter(Boolean);
    const role = parts.pop() ?? k;
    // `lstm/lstm_cell/kernel`, `dense/dense/kernel`: the layer is the first component, except the
    // projections of a MultiHeadAttention (`mha/query/kernel`), which are layers of their own
    const base = parts[0] === 'layers' || parts[0] === 'model_weights' ? parts.slice(1) : parts;
    const sub = base.findIndex((p, i) => i > 0 && (MHA_PARTS.includes(p) || p in KERAS3_MHA_PARTS));
    const layer = sub > 0 ? `${base[0]}/${KERAS3_MHA_PARTS[base[sub]!] ?? base[sub]}` : (base[0] ?? '');
    // Bidirectional: `bidirectional/forward_lstm/lstm_cell/kernel` (tf.keras 2),
    // `layers/bidirectional/backward_layer/cell/vars/0` (Keras 3): one layer, the backward
    // direction's roles marked like PyTorch's (`kernel_reverse`)
    const backward = base.some((p, i) => i > 0 && /^backward_/.test(p)) && !base.some((p, i) => i > 0 && /^forward_/.test(p));
    return { layer, role: backward ? `${role}_reverse` : role, world: 'keras' };
  }
  const dot = k.lastIndexOf('.');
  const role = dot < 0 ? k : k.slice(dot + 1);
  const layer = dot < 0 ? '' : k.slice(0, dot);
  return { layer, role };
}

function sourceLayers(keys: string[], weights: Map<string, Tensor>): SourceLayer[] {
  const layers = new Map<string, SourceLayer>();
  // A dotted layer (`bn.gamma`, `bn.beta`) is Keras' when any of its roles is Keras-only.
  const split = keys.map((key) => ({ key, ...splitKey(key) }));
  const kerasDotted = new Set(split.filter((x) => !x.world && KERAS_ROLES.has(x.role)).map((x) => x.layer));
  for (const { key, layer, role, world: w } of split) {
    const world: World = w ?? (kerasDotted.has(layer) ? 'keras' : 'torch');
    let name = layer;
    let r = role;
    const m = world === 'torch' ? TORCH_RNN.exec(role) : null;
    if (m) {
      // one PyTorch RNN layer per ONNX LSTM/GRU node: split `gru` into `gru#l0`, `gru#l1`
      name = `${layer}#l${m[2]}`;
      r = `${m[1]}${m[3] ?? ''}`;
    }
    let l = layers.get(`${world}:${name}`);
    if (!l) layers.set(`${world}:${name}`, (l = { name, world, keys: new Map() }));
    l.keys.set(r, key);
  }
  const out = [...layers.values()];
  for (const l of out) if (l.world === 'keras' && [...l.keys.keys()].every((r) => /^\d+(_reverse)?$/.test(r))) nameKeras3Vars(l, weights);
  // Keras 3 `.weights.h5` lists layers alphabetically (conv2d_10 before conv2d_2): natural order
  // restores creation order within a kind, which is what structural matching relies on.
  if (keys.length && keys.every((k) => k.startsWith('layers/'))) out.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
  return out;
}

/**
 * Keras 3 `.weights.h5` stores a layer's variables by index (`layers/dense/vars/0`); the index
 * means a role per layer kind (keras/src/layers/*: `build` creation order). The kind is told from
 * the variables themselves; the adapters then check every shape.
 */
function nameKeras3Vars(l: SourceLayer, weights: Map<string, Tensor>): void {
  const all = [...l.keys.entries()];
  const backward = all.filter(([r]) => r.endsWith('_reverse'));
  if (backward.length) {
    // Bidirectional: each direction is one RNN layer's variables, named alike
    const fwd: SourceLayer = { ...l, keys: new Map(all.filter(([r]) => !r.endsWith('_reverse'))) };
    const bwd: SourceLayer = { ...l, keys: new Map(backward.map(([r, k]) => [r.slice(0, -'_reverse'.length), k])) };
    nameKeras3Vars(fwd, weights);
    nameKeras3Vars(bwd, weights);
    l.keys = new Map([...fwd.keys, ...[...bwd.keys].map(([r, k]): [string, string] => [`${r}_reverse`, k])]);
    return;
  }
  const vars = all.sort((a, b) => Number(a[0]) - Number(b[0])).map(([, k]) => k);
  const ranks = vars.map((k) => weights.get(k)?.rank ?? -1);
  let roles: string[] | undefined;
  if (vars.length === 4 && ranks.every((r) => r === 1)) roles = ['gamma', 'beta', 'moving_mean', 'moving_variance'];
  else if (vars.length === 3 && ranks[0] === 2 && ranks[1] === 2) roles = ['kernel', 'recurrent_kernel', 'bias'];
  else if (vars.length === 2 && ranks.every((r) => r === 1)) roles = ['gamma', 'beta'];
  else if (vars.length <= 2 && ranks[0]! >= 2) roles = [/embedding/.test(l.name) && ranks[0] === 2 && vars.length === 1 ? 'embeddings' : 'kernel', 'bias'];
  if (!roles) return;
  l.keys = new Map(vars.map((k, i) => [roles![i]!, k]));
}

// ---- adapters -----------------------------------------------------------------------------------

interface Bound {
  target: string;
  tensor: Tensor;
  sources: string[];
  /** '' when the values went in unchanged. */
  transform: string;
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

function concat0(parts: Tensor[], shape: number[]): Tensor {
  const total = parts.reduce((a, p) => a + p.size, 0);
  if (total !== sizeOf(shape)) throw new RosettaError('E_SHAPE_MISMATCH', `cannot join tensors of ${total} elements into [${shape.join(', ')}]`);
  const out = new Tensor('float32', shape);
  const d = out.data as Float32Array;
  let off = 0;
  for (const p of parts) {
    const src = toFloat32Array(p);
    d.set(src, off);
    off += src.length;
  }
  return out;
}

function f32(t: Tensor): Tensor {
  return t.dtype === 'float32' ? t : new Tensor('float32', t.shape, toFloat32Array(t));
}

function transpose2(t: Tensor): Tensor {
  return permute(t, [1, 0]);
}

/**
 * Try to bind one source layer to one slot; undefined when kinds or shapes do not fit.
 * `src(role)` returns the source tensor for a role.
 */
function adapt(slot: Slot, layer: SourceLayer, weights: Map<string, Tensor>, g: Graph): Bound[] | undefined {
  const get = (role: string): Tensor | undefined => {
    const k = layer.keys.get(role);
    return k === undefined ? undefined : weights.get(k);
  };
  const key = (role: string): string => layer.keys.get(role)!;
  const target = (role: string): { name: string; shape: readonly number[] } | undefined => {
    const name = slot.params.get(role);
    return name === undefined ? undefined : { name, shape: g.initializers.get(name)!.shape };
  };
  const out: Bound[] = [];
  /** Bind `t` to role `role` if the shape fits. */
  const put = (role: string, t: Tensor | undefined, sources: string[], transform: string): boolean => {
    const tg = target(role);
    if (!tg) return t === undefined;
    if (!t || !sameShape(t.shape, tg.shape)) return false;
    out.push({ target: tg.name, tensor: t, sources, transform });
    return true;
  };
  const roles = [...layer.keys.keys()];
  const only = (...allowed: string[]): boolean => roles.every((r) => allowed.includes(r));
  const torch = layer.world === 'torch';
  switch (slot.kind) {
    case 'conv':
    case 'convT': {
      const w = torch ? get('weight') : (get('kernel') ?? get('depthwise_kernel'));
      if (!w || w.rank < 3 || !only(...(torch ? ['weight', 'bias'] : ['kernel', 'depthwise_kernel', 'bias']))) return undefined;
      const r = w.rank - 2;
      let wt = w;
      let tr = '';
      const archW = target('weight')?.shape;
      // Keras 3 files name a depthwise kernel `kernel` too: the architecture tells (1 input channel per group)
      const depthwise = layer.keys.has('depthwise_kernel') || (!!archW && archW[1] === 1 && w.shape[r + 1]! * w.shape[r]! === archW[0] && w.shape[r]! > 1 && slot.kind === 'conv' && intAttr(slot.node, 'group', 1) === w.shape[r]);
      if (!torch) {
        if (depthwise) [wt, tr] = [depthwiseToIR(w), `depthwise [k…, C, M] → [C·M, 1, k…]`];
        else if (slot.kind === 'convT') [wt, tr] = [permute(w, convTransposePerm(r)), `conv-transpose kernel [k…, out, in] → [in, out, k…]`];
        else [wt, tr] = [permute(w, convPerm(r)), r === 2 ? 'HWIO → OIHW' : `conv kernel [k…, in, out] → [out, in, k…] (${r}-D)`];
      }
      const sources = [key(torch ? 'weight' : layer.keys.has('kernel') ? 'kernel' : 'depthwise_kernel')];
      if (!put('weight', wt, sources, tr)) return undefined;
      if (!put('bias', get('bias'), layer.keys.has('bias') ? [key('bias')] : [], '')) return undefined;
      return out;
    }
    case 'dense': {
      // nn.MultiheadAttention's packed projection is a Linear under other names
      const packed = torch && layer.keys.has('in_proj_weight');
      const wRole = torch ? (packed ? 'in_proj_weight' : 'weight') : 'kernel';
      const bRole = packed ? 'in_proj_bias' : 'bias';
      let w = get(wRole);
      if (!w || !only(wRole, bRole)) return undefined;
      let b = get(bRole);
      let mhaNote = packed ? 'packed in_proj (q, k, v rows) ' : '';
      if (!torch && w.rank === 3 && MHA_PARTS.some((p) => layer.name.endsWith(`/${p}`))) {
        // Keras MultiHeadAttention einsum kernels: [E, H, D] (query/key/value), [H, D, E] (output)
        const [a, c, d] = w.shape as [number, number, number];
        w = layer.name.endsWith('/attention_output') ? w.reshape([a * c, d]) : w.reshape([a, c * d]);
        if (b && b.rank === 2) b = b.reshape([b.size]);
        mhaNote = 'MultiHeadAttention kernel reshaped to 2-D; ';
      }
      if (w.rank !== 2) return undefined;
      // PyTorch Linear stores [out, in], Keras Dense [in, out]; Gemm(transB=1) wants [out, in].
      const srcOutIn = torch;
      let wt = srcOutIn === slot.outIn ? w : transpose2(w);
      let tr = srcOutIn === slot.outIn ? '' : srcOutIn ? 'Linear [out, in] → [in, out]' : 'Dense [in, out] → [out, in]';
      if (!torch && slot.flattenOf) {
        // Keras flattened a channels-last map: rows (spatial…, c) → the architecture's (c, spatial…)
        const { channels, spatial } = slot.flattenOf;
        const map = flattenRowOrder(spatial, channels);
        if (map.length === (slot.outIn ? wt.shape[1] : wt.shape[0])) {
          wt = slot.outIn ? permuteColumns(f32(wt), map, false) : transpose2(permuteColumns(f32(transpose2(wt)), map, false));
          tr = `${tr ? `${tr}; ` : ''}Flatten→Dense rows (${spatial.length === 2 ? 'h, w' : 'spatial…'}, c) → (c, ${spatial.length === 2 ? 'h, w' : 'spatial…'}) for a [${channels}, ${spatial.join(', ')}] map`;
        }
      }
      if (mhaNote) tr = `${mhaNote}${tr}`;
      if (!put('weight', wt, [key(wRole)], tr)) return undefined;
      if (!put('bias', b, layer.keys.has(bRole) ? [key(bRole)] : [], '')) return undefined;
      return out;
    }
    case 'bn': {
      const names = torch ? ['weight', 'bias', 'running_mean', 'running_var'] : ['gamma', 'beta', 'moving_mean', 'moving_variance'];
      if (!layer.keys.has(names[2]!) || !only(...names, 'num_batches_tracked')) return undefined;
      const ok = ['weight', 'bias', 'mean', 'var'].every((role, i) => put(role, get(names[i]!), [key(names[i]!)], ''));
      return ok ? out : undefined;
    }
    case 'ln': {
      const names = torch ? ['weight', 'bias'] : ['gamma', 'beta'];
      if (!only(...names) || !get(names[0]!) || get(names[0]!)!.rank !== 1) return undefined;
      const ok = ['weight', 'bias'].every((role, i) => put(role, get(names[i]!), layer.keys.has(names[i]!) ? [key(names[i]!)] : [], ''));
      return ok ? out : undefined;
    }
    case 'embedding': {
      const name = torch ? 'weight' : 'embeddings';
      if (!only(name)) return undefined;
      return put('weight', get(name), [key(name)], '') ? out : undefined;
    }
    case 'lstm':
    case 'gru':
      return adaptRnn(slot, layer, get, key, target, put) ? out : undefined;
  }
}

function adaptRnn(
  slot: Slot,
  layer: SourceLayer,
  get: (role: string) => Tensor | undefined,
  key: (role: string) => string,
  target: (role: string) => { name: string; shape: readonly number[] } | undefined,
  put: (role: string, t: Tensor | undefined, sources: string[], transform: string) => boolean,
): boolean {
  const lstm = slot.kind === 'lstm';
  const nGates = lstm ? 4 : 3;
  const W = target('W');
  if (!W || W.shape.length !== 3) return false;
  const [dirs, gh, inSize] = W.shape as [number, number, number];
  const h = gh / nGates;
  if (!Number.isInteger(h)) return false;
  const lbr = intAttr(slot.node, 'linear_before_reset', 0);
  if (layer.world === 'torch') {
    // ONNX block j comes from PyTorch block order[j]: LSTM (i,f,g,o) → (i,o,f,c); GRU (r,z,n) → (z,r,h)
    const order = lstm ? LSTM_ORDER : [1, 0, 2];
    if (!lstm && lbr !== 1) return false; // PyTorch's GRU applies the reset gate after the matmul
    const sfx = dirs === 2 ? ['', '_reverse'] : [''];
    const need = sfx.flatMap((s) => ['weight_ih', 'weight_hh', 'bias_ih', 'bias_hh'].map((r) => r + s));
    if ([...layer.keys.keys()].some((r) => !need.includes(r)) || !sfx.every((s) => layer.keys.has('weight_ih' + s))) return false;
    const parts = (role: string, shape: number[]): Tensor[] | undefined => {
      const ts: Tensor[] = [];
      for (const s of sfx) {
        const t = get(role + s);
        if (!t || !sameShape(t.shape, shape)) return undefined;
        ts.push(reorderGates(t.dtype === 'float32' ? t : new Tensor('float32', t.shape, toFloat32Array(t)), 0, h, order));
      }
      return ts;
    };
    const wi = parts('weight_ih', [gh, inSize]);
    const wh = parts('weight_hh', [gh, h]);
    const zeros = (): Tensor[] => sfx.map(() => new Tensor('float32', [gh]));
    const hasBias = sfx.every((s) => layer.keys.has('bias_ih' + s));
    const bi = hasBias ? parts('bias_ih', [gh]) : zeros();
    const bh = hasBias ? parts('bias_hh', [gh]) : zeros();
    if (!wi || !wh || !bi || !bh) return false;
    const gates = lstm ? 'PyTorch (i,f,g,o) → ONNX (i,o,f,c)' : 'PyTorch (r,z,n) → ONNX (z,r,h)';
    const dirNote = dirs === 2 ? ', forward and _reverse stacked' : '';
    const ks = (r: string): string[] => sfx.filter((s) => layer.keys.has(r + s)).map((s) => key(r + s));
    const bias = concat0(sfx.flatMap((_, d) => [bi[d]!, bh[d]!]), [dirs, 2 * gh]);
    return (
      put('W', concat0(wi, [dirs, gh, inSize]), ks('weight_ih'), `gates ${gates}${dirNote}`) &&
      put('R', concat0(wh, [dirs, gh, h]), ks('weight_hh'), `gates ${gates}${dirNote}`) &&
      (target('B') ? put('B', bias, [...ks('bias_ih'), ...ks('bias_hh')], `gates ${gates}; bias_ih ‖ bias_hh → B${dirNote}`) : !hasBias)
    );
  }
  // Keras: kernel [in, G·H], recurrent_kernel [H, G·H], bias [G·H] (or [2, 3H] for reset_after GRU);
  // a Bidirectional's backward layer under the same roles + `_reverse` (see splitKey)
  const sfx = dirs === 2 ? ['', '_reverse'] : [''];
  const allowed = sfx.flatMap((s) => ['kernel', 'recurrent_kernel', 'bias'].map((r) => r + s));
  if ([...layer.keys.keys()].some((r) => !allowed.includes(r))) return false;
  const order = lstm ? LSTM_ORDER : [0, 1, 2];
  const toIr = (t: Tensor): Tensor => reorderGates(transpose2(t.dtype === 'float32' ? t : new Tensor('float32', t.shape, toFloat32Array(t))), 0, h, order);
  const Ws: Tensor[] = [];
  const Rs: Tensor[] = [];
  const Bs: Tensor[] = [];
  const hasBias = layer.keys.has('bias');
  for (const s of sfx) {
    const k = get('kernel' + s);
    const rk = get('recurrent_kernel' + s);
    const b = get('bias' + s);
    if (!k || !rk || !sameShape(k.shape, [inSize, gh]) || !sameShape(rk.shape, [h, gh]) || !!b !== hasBias) return false;
    Ws.push(toIr(k));
    Rs.push(toIr(rk));
    if (b) {
      const bf = b.dtype === 'float32' ? b : new Tensor('float32', b.shape, toFloat32Array(b));
      if (!lstm && b.rank === 2) {
        if (lbr !== 1 || !sameShape(b.shape, [2, gh])) return false; // reset_after=True ⇔ linear_before_reset=1
        Bs.push(bf.reshape([2 * gh]));
      } else {
        if (!sameShape(b.shape, [gh])) return false;
        if (!lstm && lbr === 1) return false; // reset_after=False cannot become linear_before_reset=1
        Bs.push(concat0([reorderGates(bf, 0, h, order), new Tensor('float32', [gh])], [2 * gh]));
      }
    }
  }
  const gates = lstm ? 'Keras (i,f,c,o) → ONNX (i,o,f,c), kernel transposed' : 'Keras (z,r,h) = ONNX order, kernel transposed';
  const dirNote = dirs === 2 ? ', Bidirectional forward_ and backward_ layers stacked' : '';
  const ks = (r: string): string[] => sfx.filter((s) => layer.keys.has(r + s)).map((s) => key(r + s));
  const b0 = get('bias');
  const biasNote = lstm ? 'bias (i,f,c,o) → (i,o,f,c); recurrent bias zero' : b0?.rank === 2 ? 'bias [2, 3H] → [1, 6H]' : 'recurrent bias zero';
  return (
    put('W', concat0(Ws, [dirs, gh, inSize]), ks('kernel'), gates + dirNote) &&
    put('R', concat0(Rs, [dirs, gh, h]), ks('recurrent_kernel'), gates + dirNote) &&
    (target('B') ? put('B', hasBias ? concat0(Bs, [dirs, 2 * gh]) : undefined, ks('bias'), biasNote + dirNote) : !hasBias)
  );
}

/**
 * Keras MultiHeadAttention `…/query`, `…/key`, `…/value` at `li` merged into one Dense-like
 * layer whose kernel is [E, 3·H·D] (columns q | k | v) — PyTorch's packed in_proj, transposed.
 */
function mergeQkv(layers: SourceLayer[], li: number, src: Map<string, Tensor>): { layer: SourceLayer; parts: SourceLayer[]; kernels: string[]; biases: string[] } | undefined {
  const q = layers[li];
  if (!q || q.world !== 'keras' || !q.name.endsWith('/query')) return undefined;
  const prefix = q.name.slice(0, -'/query'.length);
  const k = layers.find((l) => l.name === `${prefix}/key`);
  const v = layers.find((l) => l.name === `${prefix}/value`);
  if (!k || !v) return undefined;
  const parts = [q, k, v];
  const kernels = parts.map((p) => src.get(p.keys.get('kernel') ?? ''));
  if (kernels.some((t) => !t || t.rank !== 3)) return undefined;
  const E = kernels[0]!.shape[0]!;
  if (kernels.some((t) => t!.shape[0] !== E)) return undefined;
  const cols = kernels.map((t) => t!.size / E);
  const total = cols.reduce((a, c) => a + c, 0);
  const kernel = new Tensor('float32', [E, total]);
  const kd = kernel.data as Float32Array;
  let off = 0;
  kernels.forEach((t, j) => {
    const d = toFloat32Array(t!);
    for (let r = 0; r < E; r++) kd.set(d.subarray(r * cols[j]!, (r + 1) * cols[j]!), r * total + off);
    off += cols[j]!;
  });
  const layer: SourceLayer = { name: `${prefix}/qkv`, world: 'keras', keys: new Map([['kernel', `${prefix}/qkv/kernel`]]) };
  src.set(`${prefix}/qkv/kernel`, kernel);
  const biases = parts.map((p) => src.get(p.keys.get('bias') ?? ''));
  const hasBias = biases.every((b, j) => b && b.size === cols[j]);
  if (hasBias) {
    src.set(`${prefix}/qkv/bias`, concat0(biases as Tensor[], [total]));
    layer.keys.set('bias', `${prefix}/qkv/bias`);
  }
  return { layer, parts, kernels: parts.map((p) => p.keys.get('kernel')!), biases: hasBias ? parts.map((p) => p.keys.get('bias')!) : [] };
}

/**
 * PyTorch `nn.MultiheadAttention`'s packed `in_proj_weight [3E, E]` (rows q, k, v) and
 * `in_proj_bias [3E]` at `layer`, split onto the separate `query`, `key`, `value` projections of a
 * Keras-imported MultiHeadAttention (`query` is `slot`; its siblings share the node scope). Each
 * third goes through the ordinary Linear adapter (transposed to the MatMul's `[E, H·D]`); all
 * three must fit, or nothing binds. Returns the bindings, sources naming the packed tensors.
 */
function splitInProj(slot: Slot, slots: Slot[], layer: SourceLayer, src: Map<string, Tensor>, g: Graph): Bound[] | undefined {
  if (layer.world !== 'torch' || !layer.keys.has('in_proj_weight') || [...layer.keys.keys()].some((r) => r !== 'in_proj_weight' && r !== 'in_proj_bias')) return undefined;
  const w = src.get(layer.keys.get('in_proj_weight')!);
  const bKey = layer.keys.get('in_proj_bias');
  const b = bKey === undefined ? undefined : src.get(bKey);
  if (!w || w.rank !== 2 || w.shape[0]! % 3 !== 0 || w.shape[0] === 0 || !isFloatDType(w.dtype)) return undefined;
  const E = w.shape[0]! / 3;
  if (b && (b.rank !== 1 || b.size !== 3 * E || !isFloatDType(b.dtype))) return undefined;
  const parts = ['query', 'key', 'value'].map((p) => slots.find((s) => s.kind === 'dense' && s.mhaPart === p && s.node.scope === slot.node.scope));
  if (parts.some((p) => !p)) return undefined;
  const third = (t: Tensor, j: number): Tensor => {
    const inner = t.size / (3 * E);
    return new Tensor('float32', [E, ...t.shape.slice(1)], toFloat32Array(t).slice(j * E * inner, (j + 1) * E * inner));
  };
  const out: Bound[] = [];
  for (const [j, part] of ['query', 'key', 'value'].entries()) {
    const wk = `${layer.name}#${part}.weight`;
    const bk = `${layer.name}#${part}.bias`;
    src.set(wk, third(w, j));
    if (b) src.set(bk, third(b, j));
    const synthetic: SourceLayer = { name: `${layer.name}#${part}`, world: 'torch', keys: new Map(b ? [['weight', wk], ['bias', bk]] : [['weight', wk]]) };
    const r = adapt(parts[j]!, synthetic, src, g);
    src.delete(wk); // synthetic: not source tensors
    src.delete(bk);
    if (!r) return undefined;
    for (const x of r) {
      const isBias = x.sources[0] === bk;
      x.sources = [layer.keys.get(isBias ? 'in_proj_bias' : 'in_proj_weight')!];
      x.transform = `packed in_proj ${isBias ? 'bias' : 'weight'} rows [${j}E, ${j + 1}E) (${part}) → Keras MultiHeadAttention ${part} projection${x.transform ? `; ${x.transform}` : ''}`;
    }
    out.push(...r);
  }
  return out;
}

/**
 * PyTorch's ONNX export merges parameters with equal values into one initializer and feeds the
 * others through `Identity` (an attention model's `norm.bias` may become `Identity(out_proj.bias)`).
 * Binding must be able to give them different values, so each such Identity becomes its own
 * initializer again (a copy, named by the Identity's output). Returns a new graph when it changes.
 */
function untieParameters(g: Graph, rewrites: RewriteRecord[]): Graph {
  const ties = g.nodes.filter((n) => n.opType === 'Identity' && isParam(g, n.inputs[0]) && n.outputs[0] && !g.initializers.has(n.outputs[0]) && !g.outputs.some((o) => o.name === n.outputs[0]));
  if (ties.length === 0) return g;
  const inits = new Map(g.initializers);
  for (const n of ties) {
    const t = g.initializers.get(n.inputs[0]!)!;
    inits.set(n.outputs[0]!, new Tensor(t.dtype, t.shape, t.data.slice() as typeof t.data));
    rewrites.push({ kind: 'untied-parameter', scope: n.scope || n.name, detail: `${n.outputs[0]} was Identity(${n.inputs[0]}) (equal values merged by the exporter): now its own parameter` });
  }
  const drop = new Set(ties);
  return { ...g, nodes: g.nodes.filter((n) => !drop.has(n)), initializers: inits };
}

// ---- binding ------------------------------------------------------------------------------------

/**
 * Bind `weights` to the parameters of `arch`. Returns a new model (the architecture's graph with
 * its parameter values replaced; `arch` itself is not modified) and the report.
 */
export function bindWeights(arch: Model, weights: WeightSet, opts: BindOptions = {}): { model: Model; report: BindingReport } {
  const untied: RewriteRecord[] = [];
  const g = untieParameters(arch.graph, untied);
  const rules = (opts.map ?? []).map((r) => (typeof r === 'string' ? parseMapRule(r) : r));
  const report: BindingReport = { renamed: [], applied: [], transformed: [], missing: [], unused: [] };
  // 1. rename
  const src = new Map<string, Tensor>();
  const originalKey = new Map<string, string>();
  for (const [k0, t] of weights.tensors) {
    let k = k0;
    for (const r of rules) k = k.replace(r.pattern, r.replacement);
    if (k !== k0) report.renamed.push({ from: k0, to: k });
    if (src.has(k)) throw new RosettaError('E_BINDING', `--map renames two tensors to '${k}' (${originalKey.get(k)} and ${k0})`, { hint: 'make the rules more specific' });
    src.set(k, t);
    originalKey.set(k, k0);
  }
  const slots = archSlots(g, kerasRowOrder(arch, opts));
  const bound = new Map<string, Bound>();
  const used = new Set<string>();
  // 2. exact names (same shape), for whole layers only: a layer matched in part goes structural
  for (const s of slots) {
    const names = [...s.params.values()];
    if (!names.every((name) => src.has(name) && sameShape(src.get(name)!.shape, g.initializers.get(name)!.shape))) continue;
    for (const name of names) {
      bound.set(name, { target: name, tensor: src.get(name)!, sources: [name], transform: '' });
      used.add(name);
    }
  }
  // 3. structural: remaining slots against remaining source layers, both in order
  const pending = slots.filter((s) => [...s.params.values()].some((n) => !bound.has(n)));
  const layers = sourceLayers([...src.keys()].filter((k) => !used.has(k)), src);
  const consumed = new Set<SourceLayer>();
  let cursor = 0;
  const take = (l: SourceLayer, r: Bound[], li: number): void => {
    for (const b of r) {
      bound.set(b.target, b);
      for (const k of b.sources) used.add(k);
    }
    for (const k of l.keys.values()) if (/num_batches_tracked$/.test(k)) used.add(k);
    consumed.add(l);
    cursor = li + 1;
  };
  for (const s of pending) {
    if ([...s.params.values()].every((n) => bound.has(n))) continue; // bound with its siblings (split in_proj)
    // in order from the last match first, then any unconsumed layer (file order may differ)
    const candidates = [...layers.keys()].slice(cursor).concat([...layers.keys()].slice(0, cursor));
    for (const li of candidates) {
      const l = layers[li]!;
      if (consumed.has(l)) continue;
      // the projections of one attention share their shapes: a named Keras part binds only to its own
      const torchPart = /(^|\.)out_proj$/.test(l.name) ? 'attention_output' : l.keys.has('in_proj_weight') ? 'query' : undefined;
      const part = l.world === 'keras' ? MHA_PARTS.find((p) => l.name.endsWith(`/${p}`)) : torchPart;
      if (s.mhaPart && part && part !== s.mhaPart) continue;
      const r = adapt(s, l, src, g);
      if (r) {
        take(l, r, li);
        break;
      }
      // PyTorch's packed in_proj onto a Keras MultiHeadAttention's separate query/key/value
      const split = s.mhaPart === 'query' ? splitInProj(s, slots, l, src, g) : undefined;
      if (split) {
        take(l, split, li);
        break;
      }
      // Keras MultiHeadAttention query/key/value onto one packed projection (PyTorch in_proj)
      const qkv = s.kind === 'dense' ? mergeQkv(layers, li, src) : undefined;
      const rq = qkv && adapt(s, qkv.layer, src, g);
      if (qkv && !rq) for (const k of qkv.layer.keys.values()) src.delete(k);
      if (qkv && rq) {
        for (const b of rq) {
          const bias = b.target === s.params.get('bias');
          b.sources = bias ? qkv.biases : qkv.kernels;
          b.transform = `Keras MultiHeadAttention query | key | value ${bias ? 'biases [H, D]' : 'kernels [E, H, D]'} → one packed projection (PyTorch in_proj)${b.transform ? `; ${b.transform}` : ''}`;
        }
        qkv.parts.forEach((p) => consumed.add(p));
        take(qkv.layer, rq, li + 2);
        for (const k of qkv.layer.keys.values()) src.delete(k); // synthetic: not a source tensor
        break;
      }
    }
  }
  // 3b. what is left of half-matched layers still binds by exact name
  for (const s of slots) {
    for (const name of s.params.values()) {
      const t = src.get(name);
      if (!bound.has(name) && !used.has(name) && t && sameShape(t.shape, g.initializers.get(name)!.shape)) {
        bound.set(name, { target: name, tensor: t, sources: [name], transform: '' });
        used.add(name);
      }
    }
  }
  // 4. values in the architecture's dtype; the report
  const inits = new Map(g.initializers);
  const rewrites: RewriteRecord[] = [];
  for (const s of slots) {
    for (const [role, name] of s.params) {
      const b = bound.get(name);
      const want = g.initializers.get(name)!;
      if (!b) {
        report.missing.push({ target: name, layer: s.node.scope || s.node.name, role, shape: [...want.shape] });
        continue;
      }
      let t = b.tensor;
      let transform = b.transform;
      if (t.dtype !== want.dtype) {
        if (want.dtype !== 'float32') throw new RosettaError('E_BINDING', `${b.sources.join(', ')} is ${t.dtype} but ${name} needs ${want.dtype}`, { where: { node: s.node.name } });
        t = new Tensor('float32', t.shape, toFloat32Array(t));
        transform = transform ? `${transform}; ${b.tensor.dtype} → float32` : `${b.tensor.dtype} → float32`;
      }
      inits.set(name, t);
      const sources = b.sources.map((k) => originalKey.get(k) ?? k);
      if (transform) {
        report.transformed.push({ target: name, sources, transform });
        rewrites.push({ kind: 'weight-binding', scope: s.node.scope || s.node.name, detail: `${sources.join(' + ')} → ${name}: ${transform}` });
      } else report.applied.push({ target: name, source: sources[0] ?? name });
    }
  }
  for (const [k, t] of src) {
    if (used.has(k)) continue;
    const reason = /num_batches_tracked$/.test(k) ? 'training counter, no role at inference' : 'no architecture parameter matched by name, kind or shape';
    report.unused.push({ source: originalKey.get(k) ?? k, shape: [...t.shape], reason });
  }
  if (report.missing.length && !opts.partial) {
    const list = report.missing.slice(0, 6).map((m) => `${m.target} [${m.shape.join(',')}] (${m.layer})`).join(', ');
    const unused = report.unused.filter((u) => !/num_batches_tracked$/.test(u.source)).slice(0, 6).map((u) => `${u.source} [${u.shape.join(',')}]`).join(', ');
    throw new RosettaError('E_BINDING', `${report.missing.length} architecture parameter(s) got no weights: ${list}${report.missing.length > 6 ? ', …' : ''}${unused ? `; unused source tensors: ${unused}` : ''}`, {
      hint: "rename keys with --map 'regex=replacement', or pass --partial to keep the architecture's values for the missing ones",
      detail: report,
    });
  }
  const graph: Graph = { ...g, initializers: inits };
  const model: Model = { ...arch, graph, rewrites: [...arch.rewrites, ...untied, ...rewrites], metadata: { ...arch.metadata } };
  return { model, report };
}
