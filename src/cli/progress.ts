/**
 * Training progress for the CLI (`rosetta finetune`, `rosetta demo`): epoch, step, loss, metric
 * and ETA on stderr. On a terminal one line is redrawn in place (`\r`, a bar of block characters);
 * elsewhere (pipes, CI logs, tests) plain lines are printed — at most about ten per epoch plus one
 * at each epoch's end — so logs stay readable and never contain control characters.
 */
import type { CliIo } from './io.js';

/** What one training step reports. */
export interface StepReport {
  /** 0-based epoch. */
  epoch: number;
  /** 0-based step within the epoch. */
  step: number;
  loss: number;
  /** The metric's value for this batch (accuracy or MAE), when there is one. */
  metric?: number;
}

export interface ProgressOptions {
  epochs: number;
  stepsPerEpoch: number;
  /** Name printed before the metric value (`accuracy`, `mae`). */
  metricName?: string;
  /** Redraw one line in place (stderr is a terminal). */
  tty: boolean;
  /** Bar width in characters (terminal mode). */
  width?: number;
  /** Clock in milliseconds (tests inject one). */
  now?: () => number;
}

/** Seconds as `1m05s` / `12.3s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds - 60 * m);
  return `${m}m${String(s).padStart(2, '0')}s`;
}

/** Progress display over a fixed number of epochs and steps. */
export class Progress {
  private readonly start: number;
  private readonly now: () => number;
  private done = 0;
  private lossSum = 0;
  private metricSum = 0;
  private seen = 0;
  private lastWidth = 0;

  constructor(
    private readonly io: CliIo,
    private readonly opts: ProgressOptions,
  ) {
    this.now = opts.now ?? (() => performance.now());
    this.start = this.now();
  }

  get totalSteps(): number {
    return this.opts.epochs * this.opts.stepsPerEpoch;
  }

  /** Seconds since the progress started. */
  get elapsed(): number {
    return (this.now() - this.start) / 1000;
  }

  /** Record one step and redraw (terminal) or print a line when it is due (plain). */
  step(r: StepReport): void {
    this.done++;
    this.lossSum += r.loss;
    this.seen++;
    if (r.metric !== undefined) this.metricSum += r.metric;
    const line = this.line(r);
    if (this.opts.tty) {
      const pad = Math.max(0, this.lastWidth - line.length);
      this.lastWidth = line.length;
      this.io.stderr(`\r${line}${' '.repeat(pad)}`);
      return;
    }
    const every = Math.max(1, Math.ceil(this.opts.stepsPerEpoch / 10));
    if ((r.step + 1) % every === 0 && r.step + 1 !== this.opts.stepsPerEpoch) this.io.stderr(`${line}\n`);
  }

  /** End of an epoch: the epoch's mean loss/metric and any validation values, on their own line. */
  epochEnd(epoch: number, extra: Record<string, number> = {}): Record<string, number> {
    const logs: Record<string, number> = { loss: this.lossSum / Math.max(1, this.seen) };
    if (this.opts.metricName) logs[this.opts.metricName] = this.metricSum / Math.max(1, this.seen);
    Object.assign(logs, extra);
    const text = `epoch ${epoch + 1}/${this.opts.epochs} done in ${formatDuration(this.elapsed)} - ${Object.entries(logs).map(([k, v]) => `${k} ${fmt(v)}`).join(' - ')}`;
    this.io.stderr(this.opts.tty ? `\r${text}${' '.repeat(Math.max(0, this.lastWidth - text.length))}\n` : `${text}\n`);
    this.lastWidth = 0;
    this.lossSum = 0;
    this.metricSum = 0;
    this.seen = 0;
    return logs;
  }

  private line(r: StepReport): string {
    const total = this.totalSteps;
    const eta = this.done > 0 ? (this.elapsed / this.done) * (total - this.done) : NaN;
    const metric = r.metric !== undefined && this.opts.metricName ? ` ${this.opts.metricName} ${fmt(r.metric)}` : '';
    const head = `epoch ${r.epoch + 1}/${this.opts.epochs} step ${r.step + 1}/${this.opts.stepsPerEpoch}`;
    const tail = `loss ${fmt(r.loss)}${metric} ETA ${formatDuration(eta)}`;
    if (!this.opts.tty) return `${head} ${tail}`;
    const width = this.opts.width ?? 24;
    const filled = Math.round((width * this.done) / Math.max(1, total));
    return `${head} [${'█'.repeat(filled)}${'·'.repeat(width - filled)}] ${tail}`;
  }
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(3) : x.toFixed(4);
}
