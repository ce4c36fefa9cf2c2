/**
 * Learning-rate schedules (PyTorch's closed forms): step, exponential, cosine annealing, linear
 * warm-up, and a warm-up wrapper around any other schedule. Call `step()` once per epoch (or per
 * iteration, as in PyTorch) after `optimizer.step()`; each sets `optimizer.lr`.
 * Spec: https://pytorch.org/docs/1.13/optim.html#how-to-adjust-learning-rate
 */
import { RosettaError } from '../ir/errors.js';
import type { Optimizer } from './optim.js';

export abstract class LRScheduler {
  /** Number of `step()` calls so far (PyTorch's last_epoch). */
  epoch = 0;
  readonly baseLr: number;

  constructor(readonly optimizer: Optimizer) {
    this.baseLr = optimizer.initialLr;
  }

  /** Learning rate for `epoch`. */
  abstract lrAt(epoch: number): number;

  step(): void {
    this.epoch++;
    this.optimizer.lr = this.lrAt(this.epoch);
  }

  get lr(): number {
    return this.optimizer.lr;
  }
}

/** lr = base · gamma^floor(epoch / stepSize). */
export class StepLR extends LRScheduler {
  constructor(optimizer: Optimizer, readonly stepSize: number, readonly gamma = 0.1) {
    super(optimizer);
    if (!(stepSize > 0)) throw new RosettaError('E_USAGE', 'StepLR needs stepSize > 0');
  }
  lrAt(e: number): number {
    return this.baseLr * this.gamma ** Math.floor(e / this.stepSize);
  }
}

/** lr = base · gamma^epoch. */
export class ExponentialLR extends LRScheduler {
  constructor(optimizer: Optimizer, readonly gamma: number) {
    super(optimizer);
  }
  lrAt(e: number): number {
    return this.baseLr * this.gamma ** e;
  }
}

/** lr = etaMin + (base − etaMin)(1 + cos(π·epoch/tMax))/2 (SGDR without restarts). */
export class CosineAnnealingLR extends LRScheduler {
  constructor(optimizer: Optimizer, readonly tMax: number, readonly etaMin = 0) {
    super(optimizer);
    if (!(tMax > 0)) throw new RosettaError('E_USAGE', 'CosineAnnealingLR needs tMax > 0');
  }
  lrAt(e: number): number {
    return this.etaMin + ((this.baseLr - this.etaMin) * (1 + Math.cos((Math.PI * e) / this.tMax))) / 2;
  }
}

/** torch.optim.lr_scheduler.LinearLR: factor goes linearly from startFactor to endFactor over totalIters. */
export class LinearLR extends LRScheduler {
  constructor(optimizer: Optimizer, readonly startFactor = 1 / 3, readonly endFactor = 1, readonly totalIters = 5) {
    super(optimizer);
    optimizer.lr = this.lrAt(0);
  }
  lrAt(e: number): number {
    const k = Math.min(e, this.totalIters) / this.totalIters;
    return this.baseLr * (this.startFactor + (this.endFactor - this.startFactor) * k);
  }
}

/** Linear warm-up from 0 (exclusive) to the base rate over `warmup` steps, then `after` (shifted by `warmup`). */
export class WarmupLR extends LRScheduler {
  constructor(optimizer: Optimizer, readonly warmup: number, readonly after?: LRScheduler) {
    super(optimizer);
    optimizer.lr = this.lrAt(0);
  }
  lrAt(e: number): number {
    if (e < this.warmup) return (this.baseLr * (e + 1)) / (this.warmup + 1);
    return this.after ? this.after.lrAt(e - this.warmup) : this.baseLr;
  }
}
