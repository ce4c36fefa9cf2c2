/**
 * Rebuilding Keras layers from IR node patterns, for models that did not come from Keras (a
 * PyTorch or ONNX import): a single-input, single-output chain of Gemm / MatMul(+Add) / Conv /
 * BatchNormalization / pooling / Flatten / activations / Dropout becomes a Keras Sequential model
 * in PyTorch's own layout (`data_format='channels_first'`, so no data is transposed), with
 * weights converted to Keras layouts (Gemm weight [out, in] → kernel [in, out], OIHW → HWIO,
 * explicit conv pads → ZeroPadding layers). Anything else (branches, other ops, padded pooling,
 * grouped convs) is refused with E_UNSUPPORTED naming the node, never approximated.
 */
import { AttrReader } from '../../ir/attrs.js';
import { RosettaError } from '../../ir/errors.js';
import { type Model, type Node, topoSort } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';
import { permute } from '../../importers/keras/weight-layout.js';

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

/** Rebuild a Sequential layer list from a chain-shaped IR graph. */
export function rebuildSequential(model: Model): { layers: RebuiltLayer[]; inputShape: (number | null)[] } {
  const g = model.graph;
  const inputs = g.inputs.filter((i) => !g.initializers.has(i.name));
  if (inputs.length !== 1 || g.outputs.length !== 1) throw new RosettaError('E_UNSUPPORTED', `rebuilding Keras layers needs one input and one output (this graph has ${inputs.length} and ${g.outputs.length})`, { hint: 'export to ONNX instead' });
  const inType = inputs[0]!.type;
  if (!inType || inType.kind !== 'tensor' || !inType.shape) throw new RosettaError('E_UNSUPPORTED', 'the graph input has no known shape', { hint: 'export to ONNX instead' });
  const inputShape: (number | null)[] = [null, ...inType.shape.slice(1).map((d) => (typeof d === 'number' ? d : null))];
  const init = (n: string, node: Node): Tensor => {
    const t = g.initializers.get(n);
    if (!t) throw new RosettaError('E_UNSUPPORTED', `node ${node.name} (${node.opType}) takes a computed value where Keras needs a weight`, { where: { node: node.name } });
    return f32(t);
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
  let current = inputs[0]!.name;
  let rank = inputShape.length;
  const order = topoSort(g);
  for (let i = 0; i < order.length; i++) {
    const node = order[i]!;
    const a = new AttrReader(node.attrs, node);
    const bad = (why: string): never => {
      throw new RosettaError('E_UNSUPPORTED', `node ${node.name} (${node.opType}) has no Keras layer: ${why}`, { where: { node: node.name }, hint: 'export to ONNX instead' });
    };
    if (node.inputs[0] !== current) bad('the graph is not a single chain');
    const name = nameFor(node);
    const push = (class_name: string, config: Record<string, unknown>, weights: RebuiltLayer['weights'] = []): void => {
      layers.push({ class_name, config: { name, trainable: true, dtype: 'float32', ...config }, weights, inputRank: rank });
    };
    switch (node.opType) {
      case 'Identity':
        break;
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
        const next = order[i + 1];
        const weights = [{ role: 'kernel', tensor: kernel }];
        const out = node.outputs[0]!;
        if (next && next.opType === 'Add' && next.inputs[0] === out && g.initializers.has(next.inputs[1]!) && g.initializers.get(next.inputs[1]!)!.size === units) {
          weights.push({ role: 'bias', tensor: init(next.inputs[1]!, next).reshape([units]) });
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
        if (a.int('group', 1) !== 1) bad('grouped convolution');
        if (a.has('auto_pad') && a.string('auto_pad') !== 'NOTSET') bad('auto_pad');
        const pads = a.ints('pads', new Array<number>(2 * r).fill(0));
        if (pads.some((p) => p !== 0)) {
          const pairs = Array.from({ length: r }, (_, k) => [pads[k]!, pads[k + r]!]);
          layers.push({ class_name: `ZeroPadding${r}D`, config: { name: `${name}_pad`, trainable: true, dtype: 'float32', padding: r === 1 ? pairs[0] : pairs, ...(r > 1 ? { data_format: 'channels_first' } : {}) }, weights: [], inputRank: rank });
          if (r === 1) bad('padded 1-D convolution in channels-first layout (ZeroPadding1D is channels-last)');
        }
        const kernel = permute(W, [...Array.from({ length: r }, (_, k) => k + 2), 1, 0]);
        const weights = [{ role: 'kernel', tensor: kernel }];
        if (node.inputs[2]) weights.push({ role: 'bias', tensor: init(node.inputs[2], node) });
        push(`Conv${r}D`, { filters: W.shape[0]!, kernel_size: W.shape.slice(2), strides: a.ints('strides', new Array<number>(r).fill(1)), dilation_rate: a.ints('dilations', new Array<number>(r).fill(1)), padding: 'valid', data_format: 'channels_first', activation: 'linear', use_bias: weights.length === 2 }, weights);
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
        push('Dropout', { rate: node.inputs[1] && g.initializers.has(node.inputs[1]) ? g.initializers.get(node.inputs[1])!.get(0) : a.float('ratio', 0.5) });
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
  if (current !== g.outputs[0]!.name) throw new RosettaError('E_UNSUPPORTED', 'the chain does not end at the graph output', { hint: 'export to ONNX instead' });
  if (!layers.length) throw new RosettaError('E_UNSUPPORTED', 'the graph has no layers to rebuild');
  return { layers, inputShape };
}
