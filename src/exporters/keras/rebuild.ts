/**
 * Rebuilding Keras layers from IR node patterns, for models that did not come from Keras (a
 * PyTorch or ONNX import): a single-input, single-output chain of Gemm / MatMul(+Add) / Conv
 * (plain and depthwise) / BatchNormalization / LayerNormalization / pooling / Flatten /
 * activations / Dropout / Gather-as-Embedding / LSTM / GRU becomes a Keras Sequential model in
 * PyTorch's own layout (`data_format='channels_first'`, so no data is transposed), with weights
 * converted to Keras layouts (Gemm weight [out, in] → kernel [in, out], OIHW → HWIO, depthwise
 * [C·M, 1, k…] → [k…, C, M], explicit conv pads → ZeroPadding layers, ONNX LSTM gates
 * (i, o, f, c) → Keras (i, f, c, o), GRU `linear_before_reset=1` → `reset_after=True`).
 *
 * Side computations are not layers: nodes that do not depend on the input's values (Constant,
 * and the Shape → Gather → Concat → Expand chains PyTorch's exporter emits to build zero initial
 * RNN states) are skipped, and their values are only read where a layer needs a constant (a
 * Reshape target, Squeeze axes, a Gather index) or must prove a state is zero.
 * PyTorch's `batch_first` RNN export (Transpose [1,0,2] → LSTM/GRU → Squeeze or
 * Transpose [0,2,1,3] + Reshape → … → Transpose [1,0,2]) is tracked as a layout of the running
 * value, not emitted; `h[:, -1]` after a unidirectional RNN becomes `return_sequences=False`.
 * Anything else (branches, other ops, padded pooling, general grouped convs) is refused with
 * E_UNSUPPORTED naming the node, never approximated.
 * ONNX LSTM/GRU: https://onnx.ai/onnx/operators/onnx__LSTM.html, onnx__GRU.html; Keras layers:
 * https://keras.io/api/layers/recurrent_layers/.
 */
import { AttrReader } from '../../ir/attrs.js';
import { RosettaError } from '../../ir/errors.js';
import { type Model, type Node, topoSort } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';
import { LSTM_ORDER_INV, depthwiseFromIR, permute, reorderGates } from '../../importers/keras/weight-layout.js';

export interface RebuiltLayer {
  class_name: string;
  config: Record<string, unknown>;
  /** Keras-order weights with their roles. */
  weights: { role: string; tensor: Tensor }[];
  /** Rank of the layer's input. */
  inputRank: number;
}

const ACTIVATIONS: Record<string, string> = { Relu: 'relu', Sigmoid: 'sigmoid', Tanh: 'tanh', Softplus: 'softplus', Softsign: 'softsign', Exp: 'exponential' };

function f32(t: Tensor): Tensor {
  return t.dtype === 'float32' ? t : new Tensor('float32', t.shape, Float32Array.from(t.toNumbers()));
}

/**
 * Where the running value stands relative to the Keras tensor the layers so far compute:
 * `keras` (the same), `tb` (time-major: Keras [B, T, F] transposed to [T, B, F]), `rnnY` (an
 * ONNX RNN output [T, dirs, B, H]) and `tbdh` (that, transposed to [T, B, dirs, H]).
 */
type Layout = { kind: 'keras' } | { kind: 'tb' } | { kind: 'rnnY'; dirs: number; hidden: number } | { kind: 'tbdh'; dirs: number; hidden: number };

/** Block `d` of the leading axis of `t` (one RNN direction). */
function leading(t: Tensor, d: number): Tensor {
  const inner = t.shape.slice(1);
  const n = inner.reduce((a, x) => a * x, 1);
  return new Tensor('float32', inner, (t.data as Float32Array).slice(d * n, (d + 1) * n));
}

function addF32(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! + b[i]!;
  return out;
}

/** Rebuild a Sequential layer list from a chain-shaped IR graph. */
export function rebuildSequential(model: Model): { layers: RebuiltLayer[]; inputShape: (number | null)[] } {
  const g = model.graph;
  const inputs = g.inputs.filter((i) => !g.initializers.has(i.name));
  if (inputs.length !== 1 || g.outputs.length !== 1) throw new RosettaError('E_UNSUPPORTED', `rebuilding Keras layers needs one input and one output (this graph has ${inputs.length} and ${g.outputs.length})`, { hint: 'export to ONNX instead' });
  const inType = inputs[0]!.type;
  if (!inType || inType.kind !== 'tensor' || !inType.shape) throw new RosettaError('E_UNSUPPORTED', 'the graph input has no known shape', { hint: 'export to ONNX instead' });
  const inputShape: (number | null)[] = [null, ...inType.shape.slice(1).map((d) => (typeof d === 'number' ? d : null))];
  const order = topoSort(g);
  const producer = new Map<string, Node>();
  for (const n of order) for (const o of n.outputs) if (o) producer.set(o, n);
  const consumers = new Map<string, number>();
  for (const n of order) for (const x of n.inputs) if (x) consumers.set(x, (consumers.get(x) ?? 0) + 1);
  // Values that depend on the input's values (Shape only reads the shape, which is fixed here).
  const dataDep = new Set<string>([inputs[0]!.name]);
  for (const n of order) if (n.opType !== 'Shape' && n.opType !== 'Size' && n.inputs.some((x) => x && dataDep.has(x))) n.outputs.forEach((o) => o && dataDep.add(o));
  /** A constant value: an initializer or a Constant node's tensor (undefined otherwise). */
  const constOf = (n: string): Tensor | undefined => {
    const t = g.initializers.get(n);
    if (t) return t;
    const p = producer.get(n);
    return p && p.opType === 'Constant' ? new AttrReader(p.attrs, p).tensor('value') : undefined;
  };
  const init = (n: string, node: Node): Tensor => {
    const t = constOf(n);
    if (!t) throw new RosettaError('E_UNSUPPORTED', `node ${node.name} (${node.opType}) takes a computed value where Keras needs a weight`, { where: { node: node.name } });
    return f32(t);
  };
  /** A value that is all zeros whatever its shape: a zero constant, or Expand of one. */
  const isZero = (n: string | undefined): boolean => {
    if (!n) return true;
    const c = constOf(n);
    if (c) return c.toNumbers().every((v) => v === 0);
    const p = producer.get(n);
    return !!p && p.opType === 'Expand' && !dataDep.has(n) && isZero(p.inputs[0]);
  };
  const used = new Set<string>();
  const nameFor = (node: Node): string => {
    const base = (node.scope || node.opType.toLowerCase()).replace(/[^A-Za-z0-9_]/g, '_').replace(/^_+/, '') || 'layer';
    let n = base;
    for (let i = 1; used.has(n); i++) n = `${base}_${i}`;
    used.add(n);
    return n;
  };
  const layers: RebuiltLayer[] = [];
  if (inType.dtype !== 'float32') {
    // Integer ids (an Embedding first): say so in an explicit InputLayer, as Keras writes it.
    const name = nameFor({ scope: 'input', opType: 'InputLayer' } as Node);
    layers.push({ class_name: 'InputLayer', config: { name, batch_input_shape: inputShape, dtype: inType.dtype, sparse: false }, weights: [], inputRank: inputShape.length });
  }
  let current = inputs[0]!.name;
  let rank = inputShape.length;
  let layout: Layout = { kind: 'keras' };
  const main = order.filter((n) => n.outputs.some((o) => o && dataDep.has(o)));
  for (let i = 0; i < main.length; i++) {
    const node = main[i]!;
    const a = new AttrReader(node.attrs, node);
    const bad = (why: string): never => {
      throw new RosettaError('E_UNSUPPORTED', `node ${node.name} (${node.opType}) has no Keras layer: ${why}`, { where: { node: node.name }, hint: 'export to ONNX instead' });
    };
    const dataIn = node.inputs.filter((x) => x && dataDep.has(x));
    if (dataIn.length !== 1 || dataIn[0] !== current) bad('the graph is not a single chain');
    // Named on first use, so nodes that emit no layer (pattern transposes) do not take names.
    let named: string | undefined;
    const layerName = (): string => (named ??= nameFor(node));
    const push = (class_name: string, config: Record<string, unknown>, weights: RebuiltLayer['weights'] = []): void => {
      layers.push({ class_name, config: { name: layerName(), trainable: true, dtype: 'float32', ...config }, weights, inputRank: rank });
    };
    const ints = (n: string | undefined): number[] | undefined => {
      const t = n ? constOf(n) : undefined;
      return t ? t.toNumbers() : undefined;
    };
    if (layout.kind !== 'keras') {
      // Inside PyTorch's batch_first RNN pattern: only the ops of that pattern are expected.
      const rnn = handleTimeMajor(node, a, layout, bad, ints);
      if (rnn === 'rnn') {
        // An LSTM / GRU on the time-major value.
        const r = recurrentLayer(node, a, bad, init, isZero, consumers, g.outputs.map((o) => o.name));
        push(r.class_name, r.config, r.weights);
        layout = { kind: 'rnnY', dirs: r.dirs, hidden: r.hidden };
        rank = 3;
      } else if (rnn === 'last') {
        // h[:, -1] on the time-major value: the last step of the RNN just emitted.
        lastStep(layers, bad);
        layout = { kind: 'keras' };
        rank = 2;
      } else layout = rnn;
      current = node.outputs[0]!;
      continue;
    }
    switch (node.opType) {
      case 'Identity':
        break;
      case 'Transpose': {
        const perm = a.ints('perm', []);
        if (rank === 3 && perm.join() === '1,0,2') layout = { kind: 'tb' };
        else bad(`permutation [${perm.join(', ')}] outside a batch_first RNN pattern`);
        break;
      }
      case 'Gather': {
        const idx = ints(node.inputs[1]);
        if (node.inputs[1] === current) {
          // Gather(table, ids) along axis 0: an embedding lookup.
          if (a.int('axis', 0) !== 0) bad('a lookup along an axis other than 0');
          const table = init(node.inputs[0]!, node);
          if (table.rank !== 2) bad('the table is not 2-D');
          push('Embedding', { input_dim: table.shape[0]!, output_dim: table.shape[1]!, mask_zero: false }, [{ role: 'embeddings', tensor: table }]);
          rank += 1;
        } else if (idx && idx.length === 1 && rank === 3 && a.int('axis', 0) === 1 && idx[0] === -1 && constOf(node.inputs[1]!)!.rank === 0) {
          lastStep(layers, bad);
          rank = 2;
        } else bad('only an embedding lookup or the last step of an RNN output');
        break;
      }
      case 'LayerNormalization': {
        const ax = a.int('axis', -1);
        if (ax !== -1 && ax !== rank - 1) bad('normalization over more than the last axis');
        const gamma = init(node.inputs[1]!, node);
        const weights = [{ role: 'gamma', tensor: gamma }];
        if (node.inputs[2]) weights.push({ role: 'beta', tensor: init(node.inputs[2], node) });
        if (node.outputs.slice(1).some((o) => o && consumers.has(o))) bad('its mean / inverse deviation outputs are used');
        push('LayerNormalization', { axis: [rank - 1], epsilon: a.float('epsilon', 1e-5), center: weights.length === 2, scale: true }, weights);
        break;
      }
      case 'Gemm': {
        if (a.int('transA', 0) !== 0 || a.float('alpha', 1) !== 1 || a.float('beta', 1) !== 1) bad('only alpha = beta = 1 without transA');
        const W = init(node.inputs[1]!, node);
        const kernel = a.int('transB', 0) === 1 ? permute(W, [1, 0]) : W;
        const units = kernel.shape[1]!;
        const weights = [{ role: 'kernel', tensor: kernel }];
        if (node.inputs[2]) weights.push({ role: 'bias', tensor: init(node.inputs[2], node).reshape([units]) });
        push('Dense', { units, activation: 'linear', use_bias: weights.length === 2 }, weights);
        break;
      }
      case 'MatMul': {
        const kernel = init(node.inputs[1]!, node);
        if (kernel.rank !== 2) bad('only a 2-D weight');
        const units = kernel.shape[1]!;
        const next = main[i + 1];
        const weights = [{ role: 'kernel', tensor: kernel }];
        const out = node.outputs[0]!;
        const bias = next && next.opType === 'Add' && next.inputs[0] === out ? constOf(next.inputs[1]!) : undefined;
        if (next && bias && bias.size === units) {
          weights.push({ role: 'bias', tensor: f32(bias).reshape([units]) });
          i++;
          current = next.outputs[0]!;
          push('Dense', { units, activation: 'linear', use_bias: true }, weights);
          continue;
        }
        push('Dense', { units, activation: 'linear', use_bias: false }, weights);
        break;
      }
      case 'Conv': {
        const W = init(node.inputs[1]!, node);
        const r = W.rank - 2;
        if (r < 1 || r > 3) bad('only 1-D to 3-D convolutions');
        const group = a.int('group', 1);
        // Depthwise (every input channel its own group, M outputs each) is DepthwiseConv2D with
        // depth_multiplier M; other groupings would need Conv2D(groups=…), which tfjs-layers lacks.
        if (!(group >= 1) || W.shape[0]! % group !== 0) bad(`group = ${group} does not fit the weight [${W.shape.join(', ')}]`);
        const depthwise = group !== 1 && W.shape[1] === 1 && W.shape[0]! % group === 0;
        if (group !== 1 && !depthwise) bad(`grouped convolution with ${group} groups of ${W.shape[1]} input channels (only depthwise convolutions, one input channel per group, have a Keras layer every Keras target reads)`);
        if (depthwise && r !== 2) bad(`${r}-D depthwise convolution (Keras has DepthwiseConv2D only in every target)`);
        if (a.has('auto_pad') && a.string('auto_pad') !== 'NOTSET') bad('auto_pad');
        const pads = a.ints('pads', new Array<number>(2 * r).fill(0));
        if (pads.some((p) => p !== 0)) {
          if (r === 1) bad('padded 1-D convolution in channels-first layout (ZeroPadding1D is channels-last)');
          const pairs = Array.from({ length: r }, (_, k) => [pads[k]!, pads[k + r]!]);
          layers.push({ class_name: `ZeroPadding${r}D`, config: { name: `${layerName()}_pad`, trainable: true, dtype: 'float32', padding: pairs, data_format: 'channels_first' }, weights: [], inputRank: rank });
        }
        const common = { kernel_size: W.shape.slice(2), strides: a.ints('strides', new Array<number>(r).fill(1)), dilation_rate: a.ints('dilations', new Array<number>(r).fill(1)), padding: 'valid', data_format: 'channels_first', activation: 'linear' };
        if (depthwise) {
          const weights = [{ role: 'depthwise_kernel', tensor: depthwiseFromIR(W, W.shape[0]! / group) }];
          if (node.inputs[2]) weights.push({ role: 'bias', tensor: init(node.inputs[2], node) });
          push('DepthwiseConv2D', { ...common, depth_multiplier: W.shape[0]! / group, use_bias: weights.length === 2 }, weights);
          break;
        }
        const kernel = permute(W, [...Array.from({ length: r }, (_, k) => k + 2), 1, 0]);
        const weights = [{ role: 'kernel', tensor: kernel }];
        if (node.inputs[2]) weights.push({ role: 'bias', tensor: init(node.inputs[2], node) });
        push(`Conv${r}D`, { filters: W.shape[0]!, ...common, use_bias: weights.length === 2 }, weights);
        break;
      }
      case 'BatchNormalization': {
        if (a.int('training_mode', 0) !== 0) bad('training_mode');
        const [, s, bb, m, v] = node.inputs;
        push('BatchNormalization', { axis: 1, epsilon: a.float('epsilon', 1e-5), momentum: a.float('momentum', 0.9), center: true, scale: true }, [
          { role: 'gamma', tensor: init(s!, node) },
          { role: 'beta', tensor: init(bb!, node) },
          { role: 'moving_mean', tensor: init(m!, node) },
          { role: 'moving_variance', tensor: init(v!, node) },
        ]);
        break;
      }
      case 'MaxPool':
      case 'AveragePool': {
        const k = a.ints('kernel_shape');
        const r = k.length;
        if (a.ints('pads', new Array<number>(2 * r).fill(0)).some((p) => p !== 0) || a.int('ceil_mode', 0) !== 0 || (a.has('auto_pad') && a.string('auto_pad') !== 'NOTSET')) bad('padded or ceil-mode pooling');
        if (a.ints('dilations', new Array<number>(r).fill(1)).some((d) => d !== 1)) bad('dilated pooling');
        push(`${node.opType === 'MaxPool' ? 'Max' : 'Average'}Pooling${r}D`, { pool_size: k, strides: a.ints('strides', new Array<number>(r).fill(1)), padding: 'valid', data_format: 'channels_first' });
        break;
      }
      case 'GlobalAveragePool':
      case 'GlobalMaxPool': {
        const r = rank - 2;
        push(`Global${node.opType === 'GlobalMaxPool' ? 'Max' : 'Average'}Pooling${r}D`, { data_format: 'channels_first', keepdims: true });
        break;
      }
      case 'Flatten':
        if (a.int('axis', 1) !== 1) bad('Flatten axis other than 1');
        // Keras' default Flatten does not permute: it flattens the stored (C, H, W) order, as PyTorch.
        push('Flatten', { data_format: 'channels_last' });
        rank = 2;
        break;
      case 'Dropout':
        push('Dropout', { rate: node.inputs[1] && constOf(node.inputs[1]) ? constOf(node.inputs[1])!.get(0) : a.float('ratio', 0.5) });
        break;
      case 'LeakyRelu':
        push('LeakyReLU', { alpha: a.float('alpha', 0.01) });
        break;
      case 'Elu':
        push('ELU', { alpha: a.float('alpha', 1) });
        break;
      case 'Softmax': {
        const ax = a.int('axis', -1);
        push('Softmax', { axis: ax });
        break;
      }
      default: {
        const act = ACTIVATIONS[node.opType];
        if (!act) bad('no rule for this op');
        push('Activation', { activation: act });
      }
    }
    current = node.outputs[0]!;
  }
  if (layout.kind !== 'keras') throw new RosettaError('E_UNSUPPORTED', 'the graph ends inside a time-major RNN pattern', { hint: 'export to ONNX instead' });
  if (current !== g.outputs[0]!.name) throw new RosettaError('E_UNSUPPORTED', 'the chain does not end at the graph output', { hint: 'export to ONNX instead' });
  if (!layers.length) throw new RosettaError('E_UNSUPPORTED', 'the graph has no layers to rebuild');
  return { layers, inputShape };
}

type Bad = (why: string) => never;

/** One step of PyTorch's batch_first RNN pattern on a time-major value (see the module header). */
function handleTimeMajor(node: Node, a: AttrReader, layout: Layout, bad: Bad, ints: (n: string | undefined) => number[] | undefined): 'rnn' | 'last' | Layout {
  const perm = node.opType === 'Transpose' ? a.ints('perm', []).join() : '';
  if (layout.kind === 'tb') {
    if (perm === '1,0,2') return { kind: 'keras' };
    if (node.opType === 'LSTM' || node.opType === 'GRU') return 'rnn';
    if (node.opType === 'Gather' && a.int('axis', 0) === 0 && ints(node.inputs[1])?.join() === '-1') return 'last';
    return bad('a time-major value (inside a batch_first RNN pattern) is used by an op outside that pattern');
  }
  if (layout.kind === 'rnnY') {
    if (node.opType === 'Squeeze' && layout.dirs === 1 && (ints(node.inputs[1]) ?? a.ints('axes', [])).join() === '1') return { kind: 'tb' };
    if (perm === '0,2,1,3') return { kind: 'tbdh', dirs: layout.dirs, hidden: layout.hidden };
    return bad('an RNN output is used other than as PyTorch exports batch_first sequences');
  }
  if (layout.kind === 'tbdh' && node.opType === 'Reshape') {
    const shape = ints(node.inputs[1]);
    if (shape && shape.length === 3 && shape[0]! >= 0 && shape[1]! >= 0 && (shape[2] === -1 || shape[2] === layout.dirs * layout.hidden)) return { kind: 'tb' };
  }
  return bad('an RNN output is used other than as PyTorch exports batch_first sequences');
}

/** `h[:, -1]`: the layer just emitted must be a unidirectional RNN, which then returns its last step. */
function lastStep(layers: RebuiltLayer[], bad: Bad): void {
  const last = layers[layers.length - 1];
  if (!last || (last.class_name !== 'LSTM' && last.class_name !== 'GRU') || last.config.return_sequences !== true) {
    bad('the last time step of something other than the unidirectional LSTM/GRU just before it (Keras has no layer for that; a bidirectional RNN\'s last step differs from Keras return_sequences=False)');
  }
  last!.config.return_sequences = false;
}

/** ONNX LSTM / GRU (zero initial state, default activations) → Keras LSTM / GRU / Bidirectional. */
function recurrentLayer(
  node: Node,
  a: AttrReader,
  bad: Bad,
  init: (n: string, node: Node) => Tensor,
  isZero: (n: string | undefined) => boolean,
  consumers: Map<string, number>,
  graphOutputs: string[],
): { class_name: string; config: Record<string, unknown>; weights: RebuiltLayer['weights']; dirs: number; hidden: number } {
  const lstm = node.opType === 'LSTM';
  const gates = lstm ? 4 : 3;
  const hidden = a.int('hidden_size', 0);
  const direction = a.string('direction', 'forward');
  if (direction !== 'forward' && direction !== 'bidirectional') bad(`direction '${direction}' (a reverse-only RNN has no plain Keras form here)`);
  const dirs = direction === 'bidirectional' ? 2 : 1;
  if (a.int('layout', 0) !== 0) bad('layout = 1');
  if (a.has('clip')) bad('cell clipping (Keras has none)');
  if (lstm && a.int('input_forget', 0) !== 0) bad('input_forget (coupled gates; Keras has none)');
  const defaults = lstm ? ['sigmoid', 'tanh', 'tanh'] : ['sigmoid', 'tanh'];
  const acts = a.strings('activations', []).map((s) => s.toLowerCase());
  if (acts.length && acts.join() !== Array.from({ length: dirs }, () => defaults).flat().join()) bad(`activations ${acts.join(', ')} (only the defaults map to Keras' tanh / sigmoid)`);
  if (node.inputs[4]) bad('sequence_lens (variable-length sequences)');
  if (!isZero(node.inputs[5]) || (lstm && !isZero(node.inputs[6]))) bad('a non-zero initial state (Keras layers start from zeros)');
  if (lstm && node.inputs[7]) bad('peephole weights (Keras LSTM has none)');
  if (node.outputs.slice(1).some((o) => o && (consumers.has(o) || graphOutputs.includes(o)))) bad('its final states are used (only the sequence output maps to a Sequential layer)');
  const W = init(node.inputs[1]!, node);
  const R = init(node.inputs[2]!, node);
  const fits = (t: Tensor, shape: number[]): boolean => t.shape.join() === shape.join();
  // Shapes first: hidden_size is only trusted once real weight data agrees with it.
  if (hidden <= 0 || W.rank !== 3 || W.shape[0] !== dirs || W.shape[1] !== gates * hidden || !fits(R, [dirs, gates * hidden, hidden])) bad('weights whose shapes do not fit hidden_size / direction');
  const B = node.inputs[3] ? init(node.inputs[3], node) : new Tensor('float32', [dirs, 2 * gates * hidden]);
  if (!fits(B, [dirs, 2 * gates * hidden])) bad('a bias whose shape does not fit hidden_size / direction');
  const lbr = !lstm && a.int('linear_before_reset', 0) === 1;
  const weights: RebuiltLayer['weights'] = [];
  for (let d = 0; d < dirs; d++) {
    const w = leading(W, d);
    const r = leading(R, d);
    const b = leading(B, d).data as Float32Array;
    const n = gates * hidden;
    const wb = b.subarray(0, n);
    const rb = b.subarray(n, 2 * n);
    if (lstm) {
      // ONNX gates (i, o, f, c) → Keras (i, f, c, o); Keras has one bias, ONNX two (summed).
      weights.push({ role: 'kernel', tensor: permute(reorderGates(w, 0, hidden, LSTM_ORDER_INV), [1, 0]) });
      weights.push({ role: 'recurrent_kernel', tensor: permute(reorderGates(r, 0, hidden, LSTM_ORDER_INV), [1, 0]) });
      weights.push({ role: 'bias', tensor: reorderGates(new Tensor('float32', [n], addF32(wb, rb)), 0, hidden, LSTM_ORDER_INV) });
    } else {
      // GRU gates (z, r, h) are the same in both; reset_after keeps the two biases apart.
      weights.push({ role: 'kernel', tensor: permute(w, [1, 0]) });
      weights.push({ role: 'recurrent_kernel', tensor: permute(r, [1, 0]) });
      const bias = lbr ? new Tensor('float32', [2, n], Float32Array.from([...wb, ...rb])) : new Tensor('float32', [n], addF32(wb, rb));
      weights.push({ role: 'bias', tensor: bias });
    }
  }
  const kind = lstm ? 'LSTM' : 'GRU';
  const cell: Record<string, unknown> = {
    units: hidden,
    activation: 'tanh',
    recurrent_activation: 'sigmoid',
    use_bias: true,
    return_sequences: true,
    return_state: false,
    go_backwards: false,
    stateful: false,
    unroll: false,
    dropout: 0,
    recurrent_dropout: 0,
    ...(lstm ? { unit_forget_bias: true } : { reset_after: lbr }),
  };
  if (dirs === 1) return { class_name: kind, config: cell, weights, dirs, hidden };
  return { class_name: 'Bidirectional', config: { layer: { class_name: kind, config: { name: kind.toLowerCase(), trainable: true, dtype: 'float32', ...cell } }, merge_mode: 'concat' }, weights, dirs, hidden };
}
