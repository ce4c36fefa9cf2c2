/**
 * A Keras-style training loop over any `Module` (src/nn models, or imported graphs through
 * `GraphModule`): `fit(model, x, y, { epochs, batchSize, optimizer, loss, metrics,
 * validationSplit, shuffle, callbacks })` returning a `History`, plus `evaluate`. It is the same
 * PyTorch-style step underneath (zeroGrad, forward, loss, backward, step), so both styles share one
 * runtime. Keras conventions kept: `validationSplit` takes the *last* fraction of the samples
 * before shuffling; metrics are averaged over batches weighted by batch size; one progress line
 * per epoch (`Epoch 3/10 - 4 steps - 0.21s - loss: 0.1234 - accuracy: 0.9000 - val_loss: …`).
 * Spec of the mirrored API: https://keras.io/api/models/model_training_apis/
 */
import { RosettaError } from '../ir/errors.js';
import { Tensor } from '../ir/tensor.js';
import { DataLoader, takeRows } from '../runtime/data.js';
import { Adagrad, Adam, AdamW, Optimizer, RMSprop, SGD, kerasDefaults } from '../runtime/optim.js';
import { BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss, binaryCrossentropy, categoricalCrossentropy, sparseCategoricalCrossentropy } from './loss.js';
import type { Module } from './module.js';
import type { Var } from './trace.js';

export type LossName =
  | 'mse'
  | 'mean_squared_error'
  | 'mae'
  | 'mean_absolute_error'
  | 'huber'
  | 'cross_entropy'
  | 'sparse_categorical_crossentropy'
  | 'categorical_crossentropy'
  | 'binary_crossentropy'
  | 'bce'
  | 'bce_with_logits';

export type OptimizerName = 'sgd' | 'adam' | 'adamw' | 'rmsprop' | 'adagrad';

export type LossFn = (pred: Var, target: Var) => Var;

/** The training loss for a name (Keras names use Keras semantics, PyTorch names PyTorch's). */
export function lossByName(name: LossName, opts: { fromLogits?: boolean } = {}): LossFn {
  switch (name) {
    case 'mse':
    case 'mean_squared_error':
      return (p, t) => new MSELoss().callVar(p, t);
    case 'mae':
    case 'mean_absolute_error':
      return (p, t) => new L1Loss().callVar(p, t);
    case 'huber':
      return (p, t) => new HuberLoss().callVar(p, t);
    case 'cross_entropy':
      return (p, t) => new CrossEntropyLoss().callVar(p, t);
    case 'sparse_categorical_crossentropy':
      return (p, t) => sparseCategoricalCrossentropy(t, p, opts);
    case 'categorical_crossentropy':
      return (p, t) => categoricalCrossentropy(t, p, opts);
    case 'binary_crossentropy':
      return (p, t) => binaryCrossentropy(t, p, opts);
    case 'bce':
      return (p, t) => new BCELoss().callVar(p, t);
    case 'bce_with_logits':
      return (p, t) => new BCEWithLogitsLoss().callVar(p, t);
  }
  throw new RosettaError('E_USAGE', `unknown loss '${String(name)}'`);
}

/** An optimizer by name, with PyTorch's (default) or Keras's defaults; `lr` overrides. */
export function optimizerByName(name: OptimizerName, model: Module, opts: { lr?: number; defaults?: 'pytorch' | 'keras' } = {}): Optimizer {
  const keras = opts.defaults === 'keras';
  const params = model.parameters();
  const lr = opts.lr;
  switch (name) {
    case 'sgd':
      return new SGD(params, { ...(keras ? kerasDefaults.sgd() : { lr: 0.01 }), ...(lr !== undefined ? { lr } : {}) });
    case 'adam':
      return new Adam(params, { ...(keras ? kerasDefaults.adam() : {}), ...(lr !== undefined ? { lr } : {}) });
    case 'adamw':
      return new AdamW(params, { ...(keras ? kerasDefaults.adamw() : {}), ...(lr !== undefined ? { lr } : {}) });
    case 'rmsprop':
      return new RMSprop(params, { ...(keras ? kerasDefaults.rmsprop() : {}), ...(lr !== undefined ? { lr } : {}) });
    case 'adagrad':
      return new Adagrad(params, { ...(keras ? kerasDefaults.adagrad() : {}), ...(lr !== undefined ? { lr } : {}) });
  }
  throw new RosettaError('E_USAGE', `unknown optimizer '${String(name)}'`, { hint: 'use sgd, adam, adamw, rmsprop or adagrad' });
}

/** Keras-style callback: return true from onEpochEnd to stop training. */
export interface Callback {
  onTrainBegin?(model: Module): void;
  onEpochEnd?(epoch: number, logs: Record<string, number>, model: Module): boolean | void | Promise<boolean | void>;
  onTrainEnd?(model: Module): void;
}

/** Stop when `monitor` has not improved by `minDelta` for `patience` epochs (optionally restoring the best weights). */
export class EarlyStopping implements Callback {
  private best = Infinity;
  private wait = 0;
  private bestState?: Map<string, Tensor>;
  stoppedEpoch = -1;

  constructor(readonly opts: { monitor?: string; patience?: number; minDelta?: number; mode?: 'min' | 'max'; restoreBestWeights?: boolean } = {}) {}

  onTrainBegin(): void {
    this.best = Infinity;
    this.wait = 0;
  }

  onEpochEnd(epoch: number, logs: Record<string, number>, model: Module): boolean {
    const key = this.opts.monitor ?? 'val_loss';
    const v = logs[key];
    if (v === undefined) throw new RosettaError('E_USAGE', `EarlyStopping monitors '${key}', which fit does not report`, { hint: `reported: ${Object.keys(logs).join(', ')}` });
    const score = this.opts.mode === 'max' ? -v : v;
    if (score < this.best - (this.opts.minDelta ?? 0)) {
      this.best = score;
      this.wait = 0;
      if (this.opts.restoreBestWeights) this.bestState = new Map([...model.stateDict()].map(([k, t]) => [k, new Tensor(t.dtype, t.shape, t.data.slice() as typeof t.data)]));
      return false;
    }
    if (++this.wait >= (this.opts.patience ?? 0)) {
      this.stoppedEpoch = epoch;
      if (this.bestState) model.loadStateDict(this.bestState);
      return true;
    }
    return false;
  }
}

/** Keep the weights of the best epoch by `monitor` (or every epoch), handing them to `save`. */
export class ModelCheckpoint implements Callback {
  private best = Infinity;

  constructor(readonly opts: { save: (stateDict: Map<string, Tensor>, epoch: number, logs: Record<string, number>) => void | Promise<void>; monitor?: string; saveBestOnly?: boolean; mode?: 'min' | 'max' }) {}

  async onEpochEnd(epoch: number, logs: Record<string, number>, model: Module): Promise<boolean> {
    const key = this.opts.monitor ?? 'val_loss';
    if (this.opts.saveBestOnly ?? true) {
      const v = logs[key];
      if (v === undefined) throw new RosettaError('E_USAGE', `ModelCheckpoint monitors '${key}', which fit does not report`, { hint: `reported: ${Object.keys(logs).join(', ')}` });
      const score = this.opts.mode === 'max' ? -v : v;
      if (!(score < this.best)) return false;
      this.best = score;
    }
    const copy = new Map([...model.stateDict()].map(([k, t]) => [k, new Tensor(t.dtype, t.shape, t.data.slice() as typeof t.data)]));
    await this.opts.save(copy, epoch, logs);
    return false;
  }
}

export interface FitOptions {
  epochs: number;
  batchSize?: number;
  shuffle?: boolean;
  seed?: number;
  optimizer: Optimizer | OptimizerName;
  lr?: number;
  /** Defaults for a named optimizer (default 'pytorch'). */
  defaults?: 'pytorch' | 'keras';
  loss: LossName | LossFn;
  fromLogits?: boolean;
  metrics?: 'accuracy'[];
  validationSplit?: number;
  validationData?: [Tensor | Tensor[], Tensor];
  callbacks?: Callback[];
  /** Receives one progress line per epoch (e.g. console.log); silent by default. */
  log?: (line: string) => void;
}

export interface History {
  epoch: number[];
  history: Record<string, number[]>;
}

/** Fraction of correct predictions: argmax for multi-class outputs, a threshold for one-unit ones. */
export function accuracy(pred: Tensor, target: Tensor, logits: boolean): number {
  const n = pred.shape[0] ?? 1;
  const per = pred.size / Math.max(n, 1);
  const p = pred.toNumbers();
  const t = target.toNumbers();
  let correct = 0;
  if (per === 1 || target.size === pred.size && per > 1 && !isOneHot(t, per)) {
    const thr = logits ? 0 : 0.5;
    for (let i = 0; i < p.length; i++) if ((p[i]! > thr ? 1 : 0) === (t[i]! > 0.5 ? 1 : 0)) correct++;
    return correct / p.length;
  }
  for (let r = 0; r < n; r++) {
    const row = p.slice(r * per, (r + 1) * per);
    const guess = row.indexOf(Math.max(...row));
    const label = target.size === pred.size ? t.slice(r * per, (r + 1) * per).indexOf(1) : t[r]!;
    if (guess === label) correct++;
  }
  return correct / n;
}

function isOneHot(t: number[], per: number): boolean {
  for (let r = 0; r < t.length / per; r++) {
    let s = 0;
    for (let c = 0; c < per; c++) {
      const v = t[r * per + c]!;
      if (v !== 0 && v !== 1) return false;
      s += v;
    }
    if (s !== 1) return false;
  }
  return true;
}

function asList(x: Tensor | Tensor[]): Tensor[] {
  return Array.isArray(x) ? x : [x];
}

function firstOutput(model: Module, xs: Tensor[]): Var {
  const out = model.call(...xs);
  const v = Array.isArray(out) ? out[0] : out;
  if (!v || Array.isArray(v)) throw new RosettaError('E_USAGE', 'fit needs a model whose first output is a tensor');
  return v;
}

/** Mean loss (and metrics) over `x`, `y` in eval mode, batch by batch. */
export async function evaluate(model: Module, x: Tensor | Tensor[], y: Tensor, opts: { loss: LossName | LossFn; fromLogits?: boolean; metrics?: 'accuracy'[]; batchSize?: number }): Promise<Record<string, number>> {
  const lossFn = typeof opts.loss === 'function' ? opts.loss : lossByName(opts.loss, { fromLogits: opts.fromLogits });
  const was = model.training;
  model.eval();
  try {
    const loader = new DataLoader([...asList(x), y], { batchSize: opts.batchSize ?? 32 });
    let n = 0;
    let loss = 0;
    let acc = 0;
    for (const batch of loader) {
      const target = batch.pop()!;
      const pred = firstOutput(model, batch);
      const l = lossFn(pred, pred.trace.input(target, 'target'));
      const b = target.shape[0] ?? 1;
      loss += l.item() * b;
      if (opts.metrics?.includes('accuracy')) acc += accuracy(pred.value, target, logitsLoss(opts)) * b;
      n += b;
    }
    const out: Record<string, number> = { loss: loss / n };
    if (opts.metrics?.includes('accuracy')) out.accuracy = acc / n;
    return out;
  } finally {
    model.train(was);
  }
}

function logitsLoss(opts: { loss: LossName | LossFn; fromLogits?: boolean }): boolean {
  return opts.loss === 'bce_with_logits' || opts.loss === 'cross_entropy' || !!opts.fromLogits;
}

/** Train `model` Keras-style. Returns the per-epoch History (loss, metrics, val_*). */
export async function fit(model: Module, x: Tensor | Tensor[], y: Tensor, opts: FitOptions): Promise<History> {
  if (!(opts.epochs >= 1)) throw new RosettaError('E_USAGE', 'fit needs epochs ≥ 1');
  const lossFn = typeof opts.loss === 'function' ? opts.loss : lossByName(opts.loss, { fromLogits: opts.fromLogits });
  const optimizer = opts.optimizer instanceof Optimizer ? opts.optimizer : optimizerByName(opts.optimizer, model, { lr: opts.lr, defaults: opts.defaults });
  let xs = asList(x);
  let yt = y;
  let val = opts.validationData ? ([asList(opts.validationData[0]), opts.validationData[1]] as [Tensor[], Tensor]) : undefined;
  const n = y.shape[0] ?? 0;
  if (opts.validationSplit) {
    const nVal = Math.floor(n * opts.validationSplit);
    if (nVal < 1 || nVal >= n) throw new RosettaError('E_USAGE', `validationSplit ${opts.validationSplit} leaves no training or no validation samples out of ${n}`);
    const trainIdx = Array.from({ length: n - nVal }, (_, i) => i);
    const valIdx = Array.from({ length: nVal }, (_, i) => n - nVal + i);
    val = [xs.map((t) => takeRows(t, valIdx)), takeRows(y, valIdx)];
    xs = xs.map((t) => takeRows(t, trainIdx));
    yt = takeRows(y, trainIdx);
  }
  const loader = new DataLoader([...xs, yt], { batchSize: opts.batchSize ?? 32, shuffle: opts.shuffle ?? true, seed: opts.seed ?? 0 });
  const history: History = { epoch: [], history: {} };
  const wantAcc = opts.metrics?.includes('accuracy') ?? false;
  const wasTraining = model.training;
  for (const cb of opts.callbacks ?? []) cb.onTrainBegin?.(model);
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    const t0 = performance.now();
    model.train();
    let seen = 0;
    let lossSum = 0;
    let accSum = 0;
    for (const batch of loader) {
      const target = batch.pop()!;
      optimizer.zeroGrad();
      const pred = firstOutput(model, batch);
      const loss = lossFn(pred, pred.trace.input(target, 'target'));
      await loss.backward();
      optimizer.step();
      const b = target.shape[0] ?? 1;
      lossSum += loss.item() * b;
      if (wantAcc) accSum += accuracy(pred.value, target, logitsLoss(opts)) * b;
      seen += b;
    }
    const logs: Record<string, number> = { loss: lossSum / seen };
    if (wantAcc) logs.accuracy = accSum / seen;
    if (val) {
      const v = await evaluate(model, val[0], val[1], { loss: lossFn, metrics: opts.metrics, batchSize: opts.batchSize, fromLogits: logitsLoss(opts) });
      for (const [k, value] of Object.entries(v)) logs[`val_${k}`] = value;
    }
    history.epoch.push(epoch);
    for (const [k, v] of Object.entries(logs)) (history.history[k] ??= []).push(v);
    opts.log?.(`Epoch ${epoch + 1}/${opts.epochs} - ${loader.length} steps - ${((performance.now() - t0) / 1000).toFixed(2)}s - ${Object.entries(logs).map(([k, v]) => `${k}: ${v.toFixed(4)}`).join(' - ')}`);
    let stop = false;
    for (const cb of opts.callbacks ?? []) if (await cb.onEpochEnd?.(epoch, logs, model)) stop = true;
    if (stop) break;
  }
  for (const cb of opts.callbacks ?? []) cb.onTrainEnd?.(model);
  model.train(wasTraining);
  return history;
}
