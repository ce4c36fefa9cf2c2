/**
 * Losses, written as IR on a trace so they differentiate like any other op.
 *
 * PyTorch-style modules (`criterion.callVar(output, target)`): MSELoss, L1Loss, HuberLoss,
 * SmoothL1Loss, CrossEntropyLoss (class indices or probabilities, label smoothing, class weights),
 * NLLLoss, BCELoss, BCEWithLogitsLoss. Keras-style functions: sparseCategoricalCrossentropy,
 * categoricalCrossentropy, binaryCrossentropy (`fromLogits` both ways; probabilities are clipped
 * to [1e-7, 1 - 1e-7] as Keras does), meanSquaredError, meanAbsoluteError.
 * Spec: https://pytorch.org/docs/1.13/nn.html#loss-functions, https://keras.io/api/losses/
 */
import { RosettaError } from '../ir/errors.js';
import { Tensor } from '../ir/tensor.js';
import { Module } from './module.js';
import { Var } from './trace.js';

const int = (value: number) => ({ type: 'int' as const, value });

export type Reduction = 'mean' | 'sum' | 'none';

function reduce(x: Var, r: Reduction): Var {
  return r === 'mean' ? x.mean() : r === 'sum' ? x.sum() : x;
}

function asVar(like: Var, t: Var | Tensor): Var {
  return t instanceof Var ? t : like.trace.constant(t, 'target');
}

/** Base of the loss modules: `forward(input, target)`. */
abstract class Loss extends Module {
  constructor(readonly reduction: Reduction = 'mean') {
    super();
  }
  abstract override forward(input: Var, target: Var): Var;
}

export class MSELoss extends Loss {
  forward(input: Var, target: Var): Var {
    const d = input.sub(target);
    return reduce(d.mul(d), this.reduction);
  }
}

export class L1Loss extends Loss {
  forward(input: Var, target: Var): Var {
    return reduce(input.sub(target).abs(), this.reduction);
  }
}

/** 0.5 d² where |d| < delta, else delta (|d| - 0.5 delta). */
export function huber(input: Var, target: Var, delta: number): Var {
  const t = input.trace;
  const ad = input.sub(target).abs();
  const quad = ad.mul(ad).mul(0.5);
  const lin = ad.sub(0.5 * delta).mul(delta);
  return t.op('Where', [t.op('Less', [ad, t.scalar(delta, ad.dtype)]), quad, lin]);
}

export class HuberLoss extends Loss {
  constructor(
    reduction: Reduction = 'mean',
    readonly delta = 1,
  ) {
    super(reduction);
  }
  forward(input: Var, target: Var): Var {
    return reduce(huber(input, target, this.delta), this.reduction);
  }
}

/** SmoothL1 = Huber / beta. */
export class SmoothL1Loss extends Loss {
  constructor(
    reduction: Reduction = 'mean',
    readonly beta = 1,
  ) {
    super(reduction);
  }
  forward(input: Var, target: Var): Var {
    return reduce(huber(input, target, this.beta).div(this.beta), this.reduction);
  }
}

/** Per-sample -w[y] logp[y] and the class-weight of each sample, from log-probabilities [N, C, ...]. */
function nllParts(logp: Var, target: Var, weight?: Tensor): { nll: Var; w?: Var } {
  const t = logp.trace;
  if (target.dtype !== 'int64' && target.dtype !== 'int32') throw new RosettaError('E_DTYPE_MISMATCH', `class-index targets must be int64, got ${target.dtype}`);
  const idx = t.op('Unsqueeze', [target, t.ints([1])]);
  let picked = t.op('GatherElements', [logp, idx], { axis: int(1) });
  picked = t.op('Squeeze', [picked, t.ints([1])]);
  if (!weight) return { nll: picked.neg() };
  const w = t.op('Gather', [t.constant(weight, 'class_weight'), target], { axis: int(0) });
  return { nll: picked.mul(w).neg(), w };
}

/** Move the class axis of a per-class weight to axis 1 of a [N, C, ...] value. */
function classWeight(like: Var, weight: Tensor): Var {
  const shape = [1, weight.size, ...new Array<number>(like.shape.length - 2).fill(1)];
  return like.trace.constant(weight.reshape(shape), 'class_weight');
}

export interface CrossEntropyOptions {
  reduction?: Reduction;
  labelSmoothing?: number;
  /** Per-class weights [C]. */
  weight?: Tensor;
}

/**
 * nn.CrossEntropyLoss on logits [N, C] or [N, C, d...]. Targets: class indices (int64 [N, d...])
 * or probabilities (float, same shape as the input). Label smoothing mixes in the uniform
 * distribution: loss = (1-ε)·nll + ε·mean_c(−log p_c), exactly PyTorch 1.13's formula.
 */
export class CrossEntropyLoss extends Module {
  readonly reduction: Reduction;
  readonly labelSmoothing: number;
  readonly weight?: Tensor;

  constructor(opts: CrossEntropyOptions = {}) {
    super();
    this.reduction = opts.reduction ?? 'mean';
    this.labelSmoothing = opts.labelSmoothing ?? 0;
    this.weight = opts.weight;
  }

  forward(input: Var, target: Var): Var {
    const t = input.trace;
    const logp = t.op('LogSoftmax', [input], { axis: int(1) });
    const C = input.shape[1]!;
    const eps = this.labelSmoothing;
    if (target.dtype === 'float32' || target.dtype === 'float64') {
      // Probabilities: -Σ_c w_c y'_c log p_c per sample, mean over samples.
      let y = target;
      if (eps > 0) y = y.mul(1 - eps).add(eps / C);
      let prod = logp.mul(y);
      if (this.weight) prod = prod.mul(classWeight(input, this.weight));
      const per = prod.sum([1]).neg();
      return reduce(per, this.reduction);
    }
    const { nll, w } = nllParts(logp, target, this.weight);
    let per = nll;
    if (eps > 0) {
      let lw = logp;
      if (this.weight) lw = lw.mul(classWeight(input, this.weight));
      const smooth = lw.sum([1]).neg().div(C);
      per = nll.mul(1 - eps).add(smooth.mul(eps));
    }
    if (this.reduction === 'mean' && w) return per.sum().div(w.sum());
    return reduce(per, this.reduction);
  }
}

/** nn.NLLLoss on log-probabilities with class-index targets. */
export class NLLLoss extends Module {
  constructor(readonly opts: { reduction?: Reduction; weight?: Tensor } = {}) {
    super();
  }
  forward(input: Var, target: Var): Var {
    const { nll, w } = nllParts(input, target, this.opts.weight);
    const r = this.opts.reduction ?? 'mean';
    if (r === 'mean' && w) return nll.sum().div(w.sum());
    return reduce(nll, r);
  }
}

/** nn.BCELoss on probabilities; logs are clamped at -100 like PyTorch. */
export class BCELoss extends Loss {
  forward(input: Var, target: Var): Var {
    const t = input.trace;
    const clampLog = (v: Var): Var => t.op('Max', [v.log(), t.scalar(-100, v.dtype)]);
    const one = t.scalar(1, input.dtype);
    const l = target.mul(clampLog(input)).add(t.op('Sub', [one, target]).mul(clampLog(t.op('Sub', [one, input]))));
    return reduce(l.neg(), this.reduction);
  }
}

/** Numerically stable max(x,0) − x·y + log(1 + e^(−|x|)), with optional pos_weight. */
export function bceWithLogits(x: Var, y: Var, posWeight?: Var): Var {
  const t = x.trace;
  const softplusNegAbs = t.op('Log', [x.abs().neg().exp().add(1)]);
  if (!posWeight) return t.op('Relu', [x]).sub(x.mul(y)).add(softplusNegAbs);
  // (1 − y)·x + (1 + (pw − 1)·y)·(log(1 + e^(−|x|)) + max(−x, 0))
  const lw = posWeight.sub(1).mul(y).add(1);
  const one = t.scalar(1, x.dtype);
  return t.op('Sub', [one, y]).mul(x).add(lw.mul(softplusNegAbs.add(t.op('Relu', [x.neg()]))));
}

export class BCEWithLogitsLoss extends Module {
  constructor(readonly opts: { reduction?: Reduction; posWeight?: Tensor } = {}) {
    super();
  }
  forward(input: Var, target: Var): Var {
    const pw = this.opts.posWeight ? input.trace.constant(this.opts.posWeight, 'pos_weight') : undefined;
    return reduce(bceWithLogits(input, target, pw), this.opts.reduction ?? 'mean');
  }
}

// ---- Keras-style losses (y_true first, mean over the batch) ----------------------------------

const KERAS_EPSILON = 1e-7;

function kerasClip(p: Var): Var {
  const t = p.trace;
  return t.op('Clip', [p, t.scalar(KERAS_EPSILON, p.dtype), t.scalar(1 - KERAS_EPSILON, p.dtype)]);
}

/** keras.losses.sparse_categorical_crossentropy: integer labels, class axis last. */
export function sparseCategoricalCrossentropy(yTrue: Var | Tensor, yPred: Var, opts: { fromLogits?: boolean } = {}): Var {
  const t = yPred.trace;
  const axis = yPred.shape.length - 1;
  let logp: Var;
  if (opts.fromLogits) logp = t.op('LogSoftmax', [yPred], { axis: int(axis) });
  else logp = kerasClip(yPred.div(yPred.sum([axis], true))).log();
  let y = asVar(yPred, yTrue);
  if (y.dtype !== 'int64') y = t.op('Cast', [y], { to: int(7) });
  if (y.shape.length === yPred.shape.length) y = t.op('Squeeze', [y, t.ints([axis])]);
  const picked = t.op('GatherElements', [logp, t.op('Unsqueeze', [y, t.ints([axis])])], { axis: int(axis) });
  return picked.neg().mean();
}

/** keras.losses.categorical_crossentropy: one-hot (or soft) labels, class axis last. */
export function categoricalCrossentropy(yTrue: Var | Tensor, yPred: Var, opts: { fromLogits?: boolean; labelSmoothing?: number } = {}): Var {
  const t = yPred.trace;
  const axis = yPred.shape.length - 1;
  let y = asVar(yPred, yTrue);
  const eps = opts.labelSmoothing ?? 0;
  if (eps > 0) y = y.mul(1 - eps).add(eps / yPred.shape[axis]!);
  const logp = opts.fromLogits ? t.op('LogSoftmax', [yPred], { axis: int(axis) }) : kerasClip(yPred.div(yPred.sum([axis], true))).log();
  return y.mul(logp).sum([axis]).neg().mean();
}

/** keras.losses.binary_crossentropy: mean over the last axis, then over the batch. */
export function binaryCrossentropy(yTrue: Var | Tensor, yPred: Var, opts: { fromLogits?: boolean } = {}): Var {
  const t = yPred.trace;
  const y = asVar(yPred, yTrue);
  const axis = yPred.shape.length - 1;
  let per: Var;
  if (opts.fromLogits) per = bceWithLogits(yPred, y);
  else {
    const p = kerasClip(yPred);
    const one = t.scalar(1, p.dtype);
    per = y.mul(p.log()).add(t.op('Sub', [one, y]).mul(t.op('Sub', [one, p]).log())).neg();
  }
  return per.mean([axis]).mean();
}

export function meanSquaredError(yTrue: Var | Tensor, yPred: Var): Var {
  const d = yPred.sub(asVar(yPred, yTrue));
  return d.mul(d).mean([yPred.shape.length - 1]).mean();
}

export function meanAbsoluteError(yTrue: Var | Tensor, yPred: Var): Var {
  return yPred.sub(asVar(yPred, yTrue)).abs().mean([yPred.shape.length - 1]).mean();
}
