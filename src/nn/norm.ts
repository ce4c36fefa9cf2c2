/**
 * Normalisation modules: BatchNorm1d/2d, LayerNorm, GroupNorm.
 *
 * BatchNorm in eval mode (or without running stats) is one ONNX BatchNormalization node. In
 * training mode it is written in primitives (batch mean, biased batch variance), and the running
 * statistics are updated on the host with PyTorch's convention, which differs from ONNX's:
 *   running = (1 - momentum) * running + momentum * batch, with the *unbiased* batch variance,
 *   momentum = None meaning a cumulative average (1 / num_batches_tracked);
 * ONNX writes momentum the other way round (0.9 ≙ PyTorch 0.1) and uses the biased variance.
 * Spec: https://pytorch.org/docs/1.13/generated/torch.nn.BatchNorm2d.html
 */
import { RosettaError } from '../ir/errors.js';
import { Tensor } from '../ir/tensor.js';
import { Module } from './module.js';
import { Buffer, Parameter, fill } from './parameter.js';
import type { Var } from './trace.js';

const float = (value: number) => ({ type: 'float' as const, value });
const int = (value: number) => ({ type: 'int' as const, value });

export interface BatchNormOptions {
  eps?: number;
  /** PyTorch convention (0.1 default); null = cumulative moving average. */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
}

class BatchNormBase extends Module {
  weight: Parameter | null;
  bias: Parameter | null;
  running_mean: Buffer | null;
  running_var: Buffer | null;
  num_batches_tracked: Buffer | null;
  readonly eps: number;
  readonly momentum: number | null;

  constructor(
    readonly numFeatures: number,
    private readonly ranks: number[],
    opts: BatchNormOptions = {},
  ) {
    super();
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    const affine = opts.affine ?? true;
    this.weight = affine ? new Parameter(fill([numFeatures], 1)) : null;
    this.bias = affine ? new Parameter(fill([numFeatures], 0)) : null;
    const track = opts.trackRunningStats ?? true;
    this.running_mean = track ? new Buffer(fill([numFeatures], 0)) : null;
    this.running_var = track ? new Buffer(fill([numFeatures], 1)) : null;
    this.num_batches_tracked = track ? new Buffer(new Tensor('int64', [], new BigInt64Array(1))) : null;
  }

  forward(x: Var): Var {
    const t = x.trace;
    const rank = x.shape.length;
    if (!this.ranks.includes(rank)) throw new RosettaError('E_SHAPE_MISMATCH', `${this.constructor.name} expects a rank ${this.ranks.join(' or ')} input, got [${x.shape.join(', ')}]`, { where: { layer: t.scope } });
    const C = this.numFeatures;
    const scale = this.weight ? t.param(this.weight, 'weight', true) : t.constant(fill([C], 1, x.dtype), 'ones');
    const shift = this.bias ? t.param(this.bias, 'bias', true) : t.constant(fill([C], 0, x.dtype), 'zeros');
    const useBatch = this.training || !this.running_mean;
    if (!useBatch) {
      const rm = t.param(this.running_mean!, 'running_mean', false);
      const rv = t.param(this.running_var!, 'running_var', false);
      return t.op('BatchNormalization', [x, scale, shift, rm, rv], { epsilon: float(this.eps), momentum: float(1 - (this.momentum ?? 0.1)) });
    }
    const axes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
    const bshape = [1, C, ...new Array<number>(rank - 2).fill(1)];
    const mean = x.mean(axes, true);
    const d = x.sub(mean);
    const variance = d.mul(d).mean(axes, true);
    const inv = t.op('Reciprocal', [t.op('Sqrt', [variance.add(this.eps)])]);
    const y = d.mul(inv).mul(scale.reshape(...bshape)).add(shift.reshape(...bshape));
    if (this.training && this.running_mean) this.updateRunningStats(mean.value, variance.value, x.value.size / C);
    return y;
  }

  private updateRunningStats(mean: Tensor, variance: Tensor, n: number): void {
    const nbt = this.num_batches_tracked!.data.data as BigInt64Array;
    nbt[0]! += 1n;
    const m = this.momentum ?? 1 / Number(nbt[0]);
    const rm = this.running_mean!.data.data as Float32Array;
    const rv = this.running_var!.data.data as Float32Array;
    const unbias = n > 1 ? n / (n - 1) : 1;
    for (let c = 0; c < rm.length; c++) {
      rm[c] = (1 - m) * rm[c]! + m * mean.get(c);
      rv[c] = (1 - m) * rv[c]! + m * variance.get(c) * unbias;
    }
  }
}

/** BatchNorm1d: input [N, C] or [N, C, L]. */
export class BatchNorm1d extends BatchNormBase {
  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super(numFeatures, [2, 3], opts);
  }
}

/** BatchNorm2d: input [N, C, H, W]. */
export class BatchNorm2d extends BatchNormBase {
  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super(numFeatures, [4], opts);
  }
}

/** LayerNorm over the trailing `normalizedShape` dims: one LayerNormalization node. */
export class LayerNorm extends Module {
  weight: Parameter | null;
  bias: Parameter | null;
  readonly normalizedShape: number[];

  constructor(
    normalizedShape: number | number[],
    readonly opts: { eps?: number; elementwiseAffine?: boolean } = {},
  ) {
    super();
    this.normalizedShape = Array.isArray(normalizedShape) ? normalizedShape.slice() : [normalizedShape];
    const affine = opts.elementwiseAffine ?? true;
    this.weight = affine ? new Parameter(fill(this.normalizedShape, 1)) : null;
    this.bias = affine ? new Parameter(fill(this.normalizedShape, 0)) : null;
  }

  forward(x: Var): Var {
    const t = x.trace;
    const scale = this.weight ? t.param(this.weight, 'weight', true) : t.constant(fill(this.normalizedShape, 1, x.dtype), 'ones');
    const bias = this.bias ? t.param(this.bias, 'bias', true) : undefined;
    return t.op('LayerNormalization', [x, scale, bias], { axis: int(-this.normalizedShape.length), epsilon: float(this.opts.eps ?? 1e-5) });
  }
}

/**
 * GroupNorm: statistics per (sample, group) over the group's channels and all positions, then a
 * per-channel affine. Written in primitives (ONNX GroupNormalization changed its scale semantics
 * between opsets 18 and 21), the same decomposition torch.onnx uses.
 */
export class GroupNorm extends Module {
  weight: Parameter | null;
  bias: Parameter | null;

  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    readonly opts: { eps?: number; affine?: boolean } = {},
  ) {
    super();
    if (numChannels % numGroups) throw new RosettaError('E_INVALID_ATTR', `GroupNorm: ${numChannels} channels are not divisible into ${numGroups} groups`);
    const affine = opts.affine ?? true;
    this.weight = affine ? new Parameter(fill([numChannels], 1)) : null;
    this.bias = affine ? new Parameter(fill([numChannels], 0)) : null;
  }

  forward(x: Var): Var {
    const t = x.trace;
    const shape = x.shape;
    const g = x.reshape(shape[0]!, this.numGroups, -1);
    const mean = g.mean([2], true);
    const d = g.sub(mean);
    const variance = d.mul(d).mean([2], true);
    const inv = t.op('Reciprocal', [t.op('Sqrt', [variance.add(this.opts.eps ?? 1e-5)])]);
    let y = d.mul(inv).reshape(...shape);
    const bshape = [1, this.numChannels, ...new Array<number>(shape.length - 2).fill(1)];
    if (this.weight) y = y.mul(t.param(this.weight, 'weight', true).reshape(...bshape));
    if (this.bias) y = y.add(t.param(this.bias, 'bias', true).reshape(...bshape));
    return y;
  }
}
