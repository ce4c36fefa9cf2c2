/**
 * Keras built-in activations (by their serialised names, Keras 1 to 3) as IR ops.
 * Semantics from keras/src/activations/activations.py; where Keras versions differ (hard_sigmoid
 * is 0.2x+0.5 up to Keras 2 and relu6(x+3)/6 in Keras 3) the caller passes the version.
 */
import { attrFloat, attrInt } from '../../ir/attrs.js';
import { RosettaError } from '../../ir/errors.js';
import { Tensor } from '../../ir/tensor.js';
import type { GraphBuilder } from './builder.js';

/** True for Keras 3 (activations changed definitions there). */
export const isKeras3 = (version: string | undefined): boolean => !!version && /^3\./.test(version);

function scalar(b: GraphBuilder, v: number, scope: string): string {
  return b.constant(Tensor.from('float32', [], [v]), scope, 'scalar');
}

/** Apply activation `name` to value `x`; `axis` is the storage axis for softmax-like ones. */
export function applyActivation(b: GraphBuilder, x: string, name: unknown, scope: string, axis: number, kerasVersion?: string): string {
  let act = name;
  if (act === null || act === undefined) return x;
  if (typeof act === 'object' && act !== null && typeof (act as { class_name?: unknown }).class_name === 'string') {
    // Keras 3 may serialise a built-in as {class_name: 'function', config: 'relu'}
    const cfg = (act as { config?: unknown }).config;
    act = typeof cfg === 'string' ? cfg : (act as { class_name: string }).class_name;
  }
  if (typeof act !== 'string') throw new RosettaError('E_UNSUPPORTED_LAYER', `activation is not a built-in name`, { where: { layer: scope } });
  const k3 = isKeras3(kerasVersion);
  switch (act) {
    case 'linear':
    case '':
      return x;
    case 'relu':
      return b.op1('Relu', [x], {}, scope);
    case 'relu6':
      return b.op1('Clip', [x, scalar(b, 0, scope), scalar(b, 6, scope)], {}, scope);
    case 'sigmoid':
      return b.op1('Sigmoid', [x], {}, scope);
    case 'tanh':
      return b.op1('Tanh', [x], {}, scope);
    case 'softmax':
      return b.op1('Softmax', [x], { axis: attrInt(axis) }, scope);
    case 'log_softmax':
      return b.op1('LogSoftmax', [x], { axis: attrInt(axis) }, scope);
    case 'softplus':
      return b.op1('Softplus', [x], {}, scope);
    case 'softsign':
      return b.op1('Softsign', [x], {}, scope);
    case 'elu':
      return b.op1('Elu', [x], { alpha: attrFloat(1) }, scope);
    case 'selu':
      return b.op1('Selu', [x], { alpha: attrFloat(1.6732632423543772), gamma: attrFloat(1.0507009873554805) }, scope);
    case 'exponential':
      return b.op1('Exp', [x], {}, scope);
    case 'hard_sigmoid':
      return b.op1('HardSigmoid', [x], k3 ? { alpha: attrFloat(1 / 6), beta: attrFloat(0.5) } : { alpha: attrFloat(0.2), beta: attrFloat(0.5) }, scope);
    case 'hard_silu':
    case 'hard_swish':
      return b.op1('HardSwish', [x], {}, scope);
    case 'swish':
    case 'silu':
      return b.op1('Mul', [x, b.op1('Sigmoid', [x], {}, scope)], {}, scope);
    case 'gelu': {
      // keras.activations.gelu defaults to the exact erf form: 0.5·x·(1 + erf(x/√2))
      const e = b.op1('Erf', [b.op1('Mul', [x, scalar(b, Math.SQRT1_2, scope)], {}, scope)], {}, scope);
      const one = b.op1('Add', [e, scalar(b, 1, scope)], {}, scope);
      return b.op1('Mul', [b.op1('Mul', [x, one], {}, scope), scalar(b, 0.5, scope)], {}, scope);
    }
    case 'mish':
      return b.op1('Mul', [x, b.op1('Tanh', [b.op1('Softplus', [x], {}, scope)], {}, scope)], {}, scope);
    case 'leaky_relu':
      return b.op1('LeakyRelu', [x], { alpha: attrFloat(0.2) }, scope);
    case 'tanh_shrink':
      return b.op1('Sub', [x, b.op1('Tanh', [x], {}, scope)], {}, scope);
    case 'softmax_v2':
      return b.op1('Softmax', [x], { axis: attrInt(axis) }, scope);
    default:
      throw new RosettaError('E_UNSUPPORTED_LAYER', `activation '${act}' is not a Keras built-in Rosetta knows`, { where: { layer: scope }, hint: 'custom activations cannot be loaded; replace them with a built-in' });
  }
}

/** ONNX RNN activation names (+ alpha/beta) for a Keras recurrent activation. */
export function rnnActivation(name: unknown, scope: string, kerasVersion?: string): { op: string; alpha?: number; beta?: number } {
  switch (name) {
    case 'tanh':
      return { op: 'Tanh' };
    case 'sigmoid':
      return { op: 'Sigmoid' };
    case 'relu':
      return { op: 'Relu' };
    case 'hard_sigmoid':
      return isKeras3(kerasVersion) ? { op: 'HardSigmoid', alpha: 1 / 6, beta: 0.5 } : { op: 'HardSigmoid', alpha: 0.2, beta: 0.5 };
    case 'linear':
      return { op: 'Affine', alpha: 1, beta: 0 };
    case 'softsign':
      return { op: 'Softsign' };
    case 'softplus':
      return { op: 'Softplus' };
    case 'elu':
      return { op: 'Elu', alpha: 1 };
    default:
      throw new RosettaError('E_UNSUPPORTED_LAYER', `recurrent activation '${String(name)}' has no ONNX RNN equivalent`, { where: { layer: scope } });
  }
}
