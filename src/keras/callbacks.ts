/**
 * Keras callbacks for `fit`: the `Callback` base, `EarlyStopping`, `ModelCheckpoint` and
 * `LearningRateScheduler`, with
 * tf.keras 2.15's rules (EarlyStopping's `min_delta` sign by mode, `patience` counted from the
 * last improvement, `restore_best_weights`; ModelCheckpoint's `{epoch:02d}` / `{val_loss:.2f}`
 * file-name templates and `save_best_only`). ModelCheckpoint stays browser-safe: it hands the
 * files of each save to a `write` function (src/node/keras.ts supplies one that writes to disk).
 * Spec: https://keras.io/api/callbacks/
 */
import { RosettaError } from '../ir/errors.js';
import type { Tensor } from '../ir/tensor.js';
import type { Model } from './model.js';
import type { Logs } from './training.js';

/** keras.callbacks.Callback: override the hooks you need. */
export class Callback {
  model?: Model;

  setModel(model: Model): void {
    this.model = model;
  }

  onTrainBegin?(): void | Promise<void>;
  onTrainEnd?(): void | Promise<void>;
  onEpochBegin?(epoch: number): void | Promise<void>;
  onEpochEnd?(epoch: number, logs: Logs): void | Promise<void>;
  onBatchEnd?(batch: number, logs: Logs): void | Promise<void>;
}

type Mode = 'auto' | 'min' | 'max';

/** Keras' `auto` mode: maximise accuracy-like and AUC-like quantities, minimise the rest. */
function isMax(mode: Mode, monitor: string): boolean {
  if (mode === 'auto') return /acc|auc|fmeasure/.test(monitor);
  return mode === 'max';
}

/** Copies of every IR parameter (for restore_best_weights). */
function snapshot(model: Model): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  const g = model.irModel.graph;
  for (const name of g.params.keys()) {
    const t = g.initializers.get(name) as Tensor | undefined;
    if (t && t.dtype === 'float32') out.set(name, (t.data as Float32Array).slice());
  }
  return out;
}

function restore(model: Model, snap: Map<string, Float32Array>): void {
  const g = model.irModel.graph;
  for (const [name, data] of snap) (g.initializers.get(name)!.data as Float32Array).set(data);
}

export interface EarlyStoppingArgs {
  monitor?: string;
  minDelta?: number;
  patience?: number;
  verbose?: number;
  mode?: Mode;
  baseline?: number | null;
  restoreBestWeights?: boolean;
  startFromEpoch?: number;
}

/** keras.callbacks.EarlyStopping. */
export class EarlyStopping extends Callback {
  readonly monitor: string;
  readonly patience: number;
  readonly baseline: number | null;
  readonly restoreBestWeights: boolean;
  readonly startFromEpoch: number;
  private readonly maximize: boolean;
  private readonly minDelta: number;
  wait = 0;
  stoppedEpoch = 0;
  best = Infinity;
  bestEpoch = 0;
  private bestWeights: Map<string, Float32Array> | null = null;

  constructor(args: EarlyStoppingArgs = {}) {
    super();
    this.monitor = args.monitor ?? 'val_loss';
    this.patience = args.patience ?? 0;
    this.baseline = args.baseline ?? null;
    this.restoreBestWeights = args.restoreBestWeights ?? false;
    this.startFromEpoch = args.startFromEpoch ?? 0;
    this.maximize = isMax(args.mode ?? 'auto', this.monitor);
    this.minDelta = Math.abs(args.minDelta ?? 0) * (this.maximize ? 1 : -1);
  }

  override onTrainBegin(): void {
    this.wait = 0;
    this.stoppedEpoch = 0;
    this.best = this.maximize ? -Infinity : Infinity;
    this.bestWeights = null;
    this.bestEpoch = 0;
  }

  private improved(value: number, reference: number): boolean {
    return this.maximize ? value - this.minDelta > reference : value - this.minDelta < reference;
  }

  override onEpochEnd(epoch: number, logs: Logs): void {
    const current = logs[this.monitor];
    if (current === undefined || epoch < this.startFromEpoch) return;
    const model = this.model!;
    if (this.restoreBestWeights && this.bestWeights === null) this.bestWeights = snapshot(model);
    this.wait += 1;
    if (this.improved(current, this.best)) {
      this.best = current;
      this.bestEpoch = epoch;
      if (this.restoreBestWeights) this.bestWeights = snapshot(model);
      if (this.baseline === null || this.improved(current, this.baseline)) {
        this.wait = 0;
        return;
      }
    }
    if (this.wait >= this.patience && epoch > 0) {
      this.stoppedEpoch = epoch;
      model.stopTraining = true;
      if (this.restoreBestWeights && this.bestWeights) restore(model, this.bestWeights);
    }
  }
}

/** Receives the files of one save (main file first) under the formatted path. */
export type CheckpointWriter = (path: string, files: Map<string, Uint8Array>) => Promise<void>;

export interface ModelCheckpointArgs {
  /** Template such as `ckpt/model-{epoch:02d}-{val_loss:.2f}.keras`; the extension picks the format. */
  filepath: string;
  monitor?: string;
  saveBestOnly?: boolean;
  mode?: Mode;
  /** Write through this function; without one the files stay in `saved`. */
  write?: CheckpointWriter;
}

/** Keras' file-name template: `{epoch}` is 1-based; `{name:02d}`, `{name:.4f}` formats. */
export function formatCheckpointPath(template: string, epoch: number, logs: Logs): string {
  return template.replace(/\{([a-zA-Z_]+)(?::([^}]*))?\}/g, (all, key: string, spec: string | undefined) => {
    const v = key === 'epoch' ? epoch + 1 : logs[key];
    if (v === undefined) throw new RosettaError('E_USAGE', `checkpoint path ${template} names '${key}', which the logs do not have`, { hint: `available: epoch, ${Object.keys(logs).join(', ')}` });
    if (!spec) return String(v);
    const fixed = /^\.(\d+)f$/.exec(spec);
    if (fixed) return v.toFixed(Number(fixed[1]));
    const padded = /^0(\d+)d$/.exec(spec);
    if (padded) return String(Math.trunc(v)).padStart(Number(padded[1]), '0');
    if (spec === 'd') return String(Math.trunc(v));
    return all;
  });
}

/** keras.callbacks.ModelCheckpoint (format by extension, through the exporters). */
export class ModelCheckpoint extends Callback {
  readonly filepath: string;
  readonly monitor: string;
  readonly saveBestOnly: boolean;
  private readonly maximize: boolean;
  private readonly write?: CheckpointWriter;
  best: number;
  /** Paths saved so far, with their files when no writer was given. */
  readonly saved: { path: string; epoch: number; files?: Map<string, Uint8Array> }[] = [];

  constructor(args: ModelCheckpointArgs) {
    super();
    this.filepath = args.filepath;
    this.monitor = args.monitor ?? 'val_loss';
    this.saveBestOnly = args.saveBestOnly ?? false;
    this.maximize = isMax(args.mode ?? 'auto', this.monitor);
    this.best = this.maximize ? -Infinity : Infinity;
    this.write = args.write;
  }

  override async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    if (this.saveBestOnly) {
      const current = logs[this.monitor];
      if (current === undefined) return;
      if (!(this.maximize ? current > this.best : current < this.best)) return;
      this.best = current;
    }
    const path = formatCheckpointPath(this.filepath, epoch, logs);
    const files = await this.model!.toFiles(path.split('/').pop()!);
    if (this.write) {
      await this.write(path, files);
      this.saved.push({ path, epoch });
    } else this.saved.push({ path, epoch, files });
  }
}

/** keras.callbacks.LearningRateScheduler: `schedule(epoch, lr)` sets the learning rate before each epoch. */
export class LearningRateScheduler extends Callback {
  /** Learning rate used in each epoch so far. */
  readonly rates: number[] = [];

  constructor(private readonly schedule: (epoch: number, lr: number) => number) {
    super();
  }

  override onEpochBegin(epoch: number): void {
    const opt = this.model?.compiled?.optimizer;
    if (!opt) throw new RosettaError('E_USAGE', 'LearningRateScheduler needs a compiled model');
    const lr = this.schedule(epoch, opt.lr);
    if (!(typeof lr === 'number' && Number.isFinite(lr) && lr >= 0)) throw new RosettaError('E_USAGE', `the learning-rate schedule returned ${String(lr)} for epoch ${epoch}`);
    opt.lr = lr;
    this.rates.push(lr);
  }
}
