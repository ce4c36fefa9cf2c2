/**
 * Keras-style training: `compile({ optimizer, loss, metrics })`, `fit(x, y, { epochs, batchSize,
 * validationSplit, shuffle, callbacks, verbose })` returning a `History`, and `evaluate`.
 *
 * Built on the runtime, not beside it: the model's IR graph becomes a `GraphModule` (src/nn) whose
 * parameters *are* the IR initializers (shared tensors), each batch is traced in training mode
 * (Dropout active), the Keras losses of src/nn/loss.ts give the loss, autograd the gradients, and
 * the runtime optimizers with Keras defaults (Adam ε 1e-7 with TF's ε placement, RMSprop ρ 0.9…)
 * the update. Keras semantics kept: `validation_split` takes the *last* samples before shuffling;
 * the epoch's loss and metrics are sample-weighted means over its batches (training mode);
 * `val_*` are computed in inference mode after the epoch.
 * Spec: https://keras.io/api/models/model_training_apis/
 */
import { attrInt } from '../ir/attrs.js';
import { RosettaError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';
import { Tensor, tensorsBitEqual } from '../ir/tensor.js';
import { GraphModule } from '../nn/graph-module.js';
import { binaryCrossentropy, categoricalCrossentropy, huber, meanAbsoluteError, meanSquaredError, sparseCategoricalCrossentropy } from '../nn/loss.js';
import { Var } from '../nn/trace.js';
import { Adagrad, Adam, AdamW, type AdamOptions, type Optimizer as RuntimeOptimizer, RMSprop, type RMSpropOptions, SGD, type SGDOptions, type Trainable, kerasDefaults } from '../runtime/optim.js';
import type { Backend } from '../runtime/backend.js';
import { seededRandom } from '../runtime/session.js';
import { takeRows } from '../runtime/data.js';
import { asList, type Model, sliceRows } from './model.js';
import type { Callback } from './callbacks.js';

/** A loss: a Keras name, or a function of (y_true, y_pred) on the training trace. */
export type LossSpec = string | ((yTrue: Tensor, yPred: Var) => Var);

/** An optimizer: a Keras name ('adam', 'sgd', 'rmsprop', 'adagrad', 'adamw') or `optimizers.*(...)`. */
export type OptimizerSpec = string | KerasOptimizer;

/** A Keras optimizer configuration, made into a runtime optimizer at compile time. */
export interface KerasOptimizer {
  readonly name: string;
  create(params: Trainable[]): RuntimeOptimizer;
}

/** Keras optimizers with Keras argument names and defaults (tf.keras 2.x). */
export const optimizers = {
  SGD(o: { learningRate?: number; momentum?: number; nesterov?: boolean } = {}): KerasOptimizer {
    const opts: SGDOptions = { ...kerasDefaults.sgd(), ...(o.learningRate !== undefined ? { lr: o.learningRate } : {}), momentum: o.momentum ?? 0, nesterov: o.nesterov ?? false };
    return { name: 'SGD', create: (p) => new SGD(p, opts) };
  },
  Adam(o: { learningRate?: number; beta1?: number; beta2?: number; epsilon?: number; amsgrad?: boolean } = {}): KerasOptimizer {
    const d = kerasDefaults.adam();
    const opts: AdamOptions = { ...d, lr: o.learningRate ?? d.lr, betas: [o.beta1 ?? 0.9, o.beta2 ?? 0.999], eps: o.epsilon ?? d.eps, amsgrad: o.amsgrad ?? false };
    return { name: 'Adam', create: (p) => new Adam(p, opts) };
  },
  AdamW(o: { learningRate?: number; weightDecay?: number; beta1?: number; beta2?: number; epsilon?: number } = {}): KerasOptimizer {
    const d = kerasDefaults.adamw();
    const opts: AdamOptions = { ...d, lr: o.learningRate ?? d.lr, betas: [o.beta1 ?? 0.9, o.beta2 ?? 0.999], eps: o.epsilon ?? d.eps, weightDecay: o.weightDecay ?? d.weightDecay };
    return { name: 'AdamW', create: (p) => new AdamW(p, opts) };
  },
  RMSprop(o: { learningRate?: number; rho?: number; momentum?: number; epsilon?: number; centered?: boolean } = {}): KerasOptimizer {
    const d = kerasDefaults.rmsprop();
    const opts: RMSpropOptions = { ...d, lr: o.learningRate ?? d.lr, alpha: o.rho ?? d.alpha, eps: o.epsilon ?? d.eps, momentum: o.momentum ?? 0, centered: o.centered ?? false };
    return { name: 'RMSprop', create: (p) => new RMSprop(p, opts) };
  },
  Adagrad(o: { learningRate?: number; initialAccumulatorValue?: number; epsilon?: number } = {}): KerasOptimizer {
    const d = kerasDefaults.adagrad();
    const opts = { ...d, lr: o.learningRate ?? d.lr, initialAccumulatorValue: o.initialAccumulatorValue ?? d.initialAccumulatorValue, eps: o.epsilon ?? d.eps };
    return { name: 'Adagrad', create: (p) => new Adagrad(p, opts) };
  },
};

function optimizerFrom(spec: OptimizerSpec): KerasOptimizer {
  if (typeof spec !== 'string') return spec;
  switch (spec.toLowerCase()) {
    case 'sgd':
      return optimizers.SGD();
    case 'adam':
      return optimizers.Adam();
    case 'adamw':
      return optimizers.AdamW();
    case 'rmsprop':
      return optimizers.RMSprop();
    case 'adagrad':
      return optimizers.Adagrad();
    default:
      throw new RosettaError('E_USAGE', `unknown optimizer '${spec}'`, { hint: "use 'sgd', 'adam', 'adamw', 'rmsprop', 'adagrad' or optimizers.*(...)" });
  }
}

type LossFn = (yTrue: Tensor, yPred: Var) => Var;

const LOSSES: Record<string, LossFn> = {
  mean_squared_error: (y, p) => meanSquaredError(y, p),
  mean_absolute_error: (y, p) => meanAbsoluteError(y, p),
  sparse_categorical_crossentropy: (y, p) => sparseCategoricalCrossentropy(y, p),
  categorical_crossentropy: (y, p) => categoricalCrossentropy(y, p),
  binary_crossentropy: (y, p) => binaryCrossentropy(y, p),
  // keras.losses.huber: mean over the last axis, then over the batch (delta 1).
  huber: (y, p) => huber(p, p.trace.constant(y, 'y_true'), 1).mean([p.shape.length - 1]).mean(),
};
const LOSS_ALIASES: Record<string, string> = { mse: 'mean_squared_error', mae: 'mean_absolute_error', huber_loss: 'huber' };

function canonicalLoss(name: string): string {
  const snake = name.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
  return LOSS_ALIASES[snake] ?? snake;
}

function lossFrom(spec: LossSpec): { name: string; fn: LossFn } {
  if (typeof spec === 'function') return { name: spec.name || 'loss', fn: spec };
  const key = canonicalLoss(spec);
  const fn = LOSSES[key];
  if (!fn) throw new RosettaError('E_USAGE', `unknown loss '${spec}'`, { hint: `use one of: ${Object.keys(LOSSES).join(', ')}, mse, mae, or a function` });
  return { name: key, fn };
}

/** A metric computed on the host from (y_true, y_pred): the batch's mean. */
type MetricFn = (yTrue: Tensor, yPred: Tensor) => number;

function argmaxRows(t: Tensor): number[] {
  const c = t.shape[t.shape.length - 1]!;
  const rows = t.size / c;
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let k = 1; k < c; k++) if (t.get(r * c + k) > t.get(r * c + best)) best = k;
    out.push(best);
  }
  return out;
}

const METRICS: Record<string, MetricFn> = {
  sparse_categorical_accuracy: (y, p) => {
    const am = argmaxRows(p);
    return am.reduce((a, k, i) => a + (k === Math.trunc(y.get(i)) ? 1 : 0), 0) / am.length;
  },
  categorical_accuracy: (y, p) => {
    const a = argmaxRows(p);
    const b = argmaxRows(y);
    return a.reduce((s, k, i) => s + (k === b[i] ? 1 : 0), 0) / a.length;
  },
  binary_accuracy: (y, p) => {
    let s = 0;
    for (let i = 0; i < p.size; i++) s += (p.get(i) > 0.5 ? 1 : 0) === y.get(i) ? 1 : 0;
    return s / p.size;
  },
  mean_squared_error: (y, p) => {
    let s = 0;
    for (let i = 0; i < p.size; i++) s += (p.get(i) - y.get(i)) ** 2;
    return s / p.size;
  },
  mean_absolute_error: (y, p) => {
    let s = 0;
    for (let i = 0; i < p.size; i++) s += Math.abs(p.get(i) - y.get(i));
    return s / p.size;
  },
};

/** Keras resolves 'accuracy' by the loss (and the label shape), as compile_utils does. */
function metricFrom(name: string, lossName: string): { name: string; fn: MetricFn } {
  const key = canonicalLoss(name);
  if (key === 'accuracy' || key === 'acc') {
    const fn = (y: Tensor, p: Tensor): number => {
      if (lossName === 'binary_crossentropy' || p.shape[p.shape.length - 1] === 1) return METRICS.binary_accuracy!(y, p);
      const sparse = y.shape.length < p.shape.length || (y.shape[y.shape.length - 1] === 1 && p.shape[p.shape.length - 1] !== 1);
      return (sparse ? METRICS.sparse_categorical_accuracy! : METRICS.categorical_accuracy!)(y, p);
    };
    return { name, fn };
  }
  const fn = METRICS[key];
  if (!fn) throw new RosettaError('E_USAGE', `unknown metric '${name}'`, { hint: `use accuracy or one of: ${Object.keys(METRICS).join(', ')}, mse, mae` });
  return { name, fn };
}

/** What `compile` stores on the model. */
export interface CompiledState {
  /** Trains: BatchNormalization in training mode (batch statistics, moving averages updated). */
  module: GraphModule;
  /** Evaluates: the model's own graph, sharing the training module's parameter tensors. */
  evalModule: GraphModule;
  /** Per BatchNormalization: where its updated moving mean / variance go (graph outputs past the model's). */
  movingStats: { mean: string; variance: string }[];
  modelOutputs: number;
  optimizer: RuntimeOptimizer;
  optimizerName: string;
  loss: { name: string; fn: LossFn };
  metrics: { name: string; fn: MetricFn }[];
}

export interface CompileArgs {
  optimizer: OptimizerSpec;
  loss: LossSpec;
  metrics?: string[];
}

/**
 * model.compile. The IR graph's float initializers become the trainable parameters of a
 * GraphModule, and the graph keeps those very tensors, so `predict` and the exporters see every
 * update.
 */
export function compileModel(model: Model, args: CompileArgs): void {
  const ir = model.irModel;
  const tied = tiedCopies(ir.graph);
  const { graph: trainGraph, movingStats } = trainingGraph(ir.graph, tied);
  const module = new GraphModule(trainGraph);
  // Training-mode BatchNormalization is decided per node here (a frozen layer keeps inference
  // mode, as in Keras), so GraphModule must not switch the remaining ones on by itself.
  module.batchNorm = 'frozen';
  module.assignPaths();
  const shared = new Map([...module.namedParameters(), ...module.namedBuffers()]);
  // The model's graph (and so predict and the exporters) reads the very tensors training updates.
  for (const [name, p] of shared) ir.graph.initializers.set(name, p.data);
  for (const [copy, canon] of tied) ir.graph.initializers.set(copy, shared.get(canon)!.data);
  const evalModule = new GraphModule(ir.graph);
  evalModule.assignPaths();
  for (const [name, p] of [...evalModule.namedParameters(), ...evalModule.namedBuffers()]) p.data = shared.get(tied.get(name) ?? name)?.data ?? p.data;
  const loss = lossFrom(args.loss);
  const opt = optimizerFrom(args.optimizer);
  model.compiled = {
    module,
    evalModule,
    movingStats,
    modelOutputs: ir.graph.outputs.length,
    optimizer: opt.create(module.parameters()),
    optimizerName: opt.name,
    loss,
    metrics: (args.metrics ?? []).map((m) => metricFrom(m, loss.name)),
  } satisfies CompiledState;
}

/**
 * The graph `fit` traces: every BatchNormalization in ONNX training mode (batch statistics;
 * running = running · momentum + batch · (1 − momentum), Keras' momentum convention, with the
 * biased batch variance as Keras 3 and tf.keras' non-fused path compute it), its updated
 * moving statistics exposed as extra graph outputs. Nodes are copied; tensors are shared.
 */
function trainingGraph(g: Graph, tied: ReadonlyMap<string, string>): { graph: Graph; movingStats: { mean: string; variance: string }[] } {
  const movingStats: { mean: string; variance: string }[] = [];
  const extra: string[] = [];
  const initializers = new Map([...g.initializers].filter(([k]) => !tied.has(k)));
  const nodes = g.nodes.map((n0) => {
    const n = n0.inputs.some((i) => tied.has(i)) ? { ...n0, inputs: n0.inputs.map((i) => tied.get(i) ?? i) } : n0;
    if (n.opType !== 'BatchNormalization' || n.domain !== '' || !g.params.has(n.inputs[3] ?? '')) return n;
    // A frozen BatchNormalization (trainable = false) runs in inference mode, as in Keras 2.x.
    if (g.params.get(n.inputs[1] ?? '')?.trainable === false) return n;
    const outs = [n.outputs[0]!, `${n.name}::moving_mean_out`, `${n.name}::moving_variance_out`];
    movingStats.push({ mean: n.inputs[3]!, variance: n.inputs[4]! });
    extra.push(outs[1]!, outs[2]!);
    return { ...n, outputs: outs, attrs: { ...n.attrs, training_mode: attrInt(1) } };
  });
  return { graph: { ...g, nodes, initializers, outputs: [...g.outputs, ...extra.map((name) => ({ name }))] }, movingStats };
}

/**
 * A shared layer called several times is lowered once per call, each call with its own copy of
 * the layer's weights (same scope, role and source name, bit-identical values). Keras trains one
 * set: map every later copy to the first so training updates a single tensor.
 */
function tiedCopies(g: Graph): Map<string, string> {
  const first = new Map<string, string>();
  const tied = new Map<string, string>();
  for (const [name, info] of g.params) {
    const t = g.initializers.get(name);
    if (!t) continue;
    const key = `${info.scope}\u0000${info.role ?? ''}\u0000${info.sourceName ?? ''}`;
    const canon = first.get(key);
    if (canon === undefined) first.set(key, name);
    else if (tensorsBitEqual(g.initializers.get(canon)!, t)) tied.set(name, canon);
  }
  return tied;
}

function state(model: Model): CompiledState {
  const s = model.compiled;
  if (!s) throw new RosettaError('E_USAGE', 'the model must be compiled before training or evaluation', { hint: "model.compile({ optimizer: 'adam', loss: 'mse' })" });
  return s;
}

/** Per-epoch logs, as Keras' History records them. */
export type Logs = Record<string, number>;

/** keras.callbacks.History: `history.loss[epoch]`, `history.val_accuracy[epoch]`… */
export class History {
  readonly epoch: number[] = [];
  readonly history: Record<string, number[]> = {};

  record(epoch: number, logs: Logs): void {
    this.epoch.push(epoch);
    for (const [k, v] of Object.entries(logs)) (this.history[k] ??= []).push(v);
  }
}

export interface FitArgs {
  epochs?: number;
  batchSize?: number;
  /** Fraction of the samples (the last ones, before shuffling) held out for validation. */
  validationSplit?: number;
  validationData?: [Tensor | Tensor[], Tensor | Tensor[]];
  shuffle?: boolean;
  /** Seed of the per-epoch shuffles (Keras takes it from the global seed). */
  seed?: number;
  callbacks?: Callback[];
  /** 0 silent, 1 or 2: one line per epoch. */
  verbose?: 0 | 1 | 2;
  initialEpoch?: number;
  /** Where progress lines go (default console.log). */
  printFn?: (line: string) => void;
  /** Backend for each step's backward graph (e.g. 'webgpu'; default the CPU). */
  backend?: string | Backend;
}

const fmt4 = (v: number): string => v.toFixed(4);

/** One pass over batches; training updates weights, evaluation only measures. */
async function runBatches(model: Model, s: CompiledState, xs: Tensor[], ys: Tensor[], order: number[], batchSize: number, train: boolean, onBatch?: (i: number, logs: Logs) => Promise<void>, backend?: string | Backend): Promise<Logs> {
  const sums: Record<string, number> = {};
  let seen = 0;
  const steps = Math.ceil(order.length / batchSize);
  for (let b = 0; b < steps; b++) {
    const idx = order.slice(b * batchSize, Math.min(order.length, (b + 1) * batchSize));
    const xb = xs.map((t) => takeRows(t, idx));
    const yb = ys.map((t) => takeRows(t, idx));
    const module = train ? s.module : s.evalModule;
    module.train(train);
    if (train) s.optimizer.zeroGrad();
    const out = module.call(...xb);
    const all = out instanceof Var ? [out] : (out as Var[]);
    const outs = all.slice(0, s.modelOutputs);
    if (outs.length !== yb.length) throw new RosettaError('E_USAGE', `the model has ${outs.length} output(s), got ${yb.length} target(s)`);
    let loss = s.loss.fn(yb[0]!, outs[0]!);
    for (let k = 1; k < outs.length; k++) loss = loss.add(s.loss.fn(yb[k]!, outs[k]!));
    if (train) {
      await loss.backward({ backend });
      s.optimizer.step();
      s.movingStats.forEach((m, k) => {
        const g = model.irModel.graph;
        (g.initializers.get(m.mean)!.data as Float32Array).set(all[s.modelOutputs + 2 * k]!.value.data as Float32Array);
        (g.initializers.get(m.variance)!.data as Float32Array).set(all[s.modelOutputs + 2 * k + 1]!.value.data as Float32Array);
      });
    }
    const logs: Logs = { loss: loss.item() };
    for (const m of s.metrics) logs[m.name] = m.fn(yb[0]!, outs[0]!.value);
    for (const [k, v] of Object.entries(logs)) sums[k] = (sums[k] ?? 0) + v * idx.length;
    seen += idx.length;
    if (onBatch) await onBatch(b, logs);
  }
  const mean: Logs = {};
  for (const [k, v] of Object.entries(sums)) mean[k] = v / Math.max(1, seen);
  return mean;
}

/** model.fit. */
export async function fitModel(model: Model, x: Tensor | Tensor[], y: Tensor | Tensor[], args: FitArgs = {}): Promise<History> {
  const s = state(model);
  let xs = asList(x);
  let ys = asList(y);
  const n = xs[0]!.shape[0] ?? 0;
  for (const t of [...xs, ...ys]) if (t.shape[0] !== n) throw new RosettaError('E_SHAPE_MISMATCH', `x and y disagree on the number of samples (${n} vs ${t.shape[0]})`);
  const epochs = args.epochs ?? 1;
  const batchSize = args.batchSize ?? 32;
  if (!(batchSize >= 1) || !Number.isInteger(batchSize)) throw new RosettaError('E_USAGE', 'batchSize must be a positive integer');
  let val: { xs: Tensor[]; ys: Tensor[] } | undefined;
  if (args.validationData) val = { xs: asList(args.validationData[0]), ys: asList(args.validationData[1]) };
  else if (args.validationSplit) {
    const vs = args.validationSplit;
    if (!(vs > 0 && vs < 1)) throw new RosettaError('E_USAGE', `validationSplit must be in (0, 1), got ${vs}`);
    // Keras: split_at = floor(n · (1 − validation_split)); validation is the tail, taken before shuffling.
    const at = Math.floor(n * (1 - vs));
    if (at === 0 || at === n) throw new RosettaError('E_USAGE', `validationSplit ${vs} of ${n} samples leaves an empty ${at === 0 ? 'training' : 'validation'} set`);
    val = { xs: xs.map((t) => sliceRows(t, at, n)), ys: ys.map((t) => sliceRows(t, at, n)) };
    xs = xs.map((t) => sliceRows(t, 0, at));
    ys = ys.map((t) => sliceRows(t, 0, at));
  }
  const nTrain = xs[0]!.shape[0]!;
  const steps = Math.ceil(nTrain / batchSize);
  const print = args.printFn ?? ((l: string) => console.log(l));
  const verbose = args.verbose ?? 1;
  const random = seededRandom(args.seed ?? model.seed);
  const history = new History();
  const callbacks = args.callbacks ?? [];
  for (const c of callbacks) c.setModel(model);
  model.stopTraining = false;
  for (const c of callbacks) await c.onTrainBegin?.();
  for (let epoch = args.initialEpoch ?? 0; epoch < epochs; epoch++) {
    for (const c of callbacks) await c.onEpochBegin?.(epoch);
    const order = Array.from({ length: nTrain }, (_, i) => i);
    if (args.shuffle ?? true) {
      for (let i = nTrain - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
    }
    const t0 = Date.now();
    const logs = await runBatches(
      model, s, xs, ys, order, batchSize, true,
      async (b, l) => {
        for (const c of callbacks) await c.onBatchEnd?.(b, l);
      },
      args.backend,
    );
    if (val) {
      const v = await evaluateLogs(model, val.xs, val.ys, batchSize);
      for (const [k, value] of Object.entries(v)) logs[`val_${k}`] = value;
    }
    history.record(epoch, logs);
    if (verbose > 0) {
      const ms = Date.now() - t0;
      print(`Epoch ${epoch + 1}/${epochs}`);
      print(`${steps}/${steps} - ${Math.round(ms / 1000)}s - ${Object.entries(logs).map(([k, v]) => `${k}: ${fmt4(v)}`).join(' - ')} - ${Math.round(ms / steps)}ms/step`);
    }
    for (const c of callbacks) await c.onEpochEnd?.(epoch, logs);
    if (model.stopTraining) break;
  }
  for (const c of callbacks) await c.onTrainEnd?.();
  return history;
}

async function evaluateLogs(model: Model, xs: Tensor[], ys: Tensor[], batchSize: number): Promise<Logs> {
  const s = state(model);
  const n = xs[0]!.shape[0] ?? 0;
  return runBatches(model, s, xs, ys, Array.from({ length: n }, (_, i) => i), batchSize, false);
}

/** model.evaluate: the loss (and metrics) in inference mode; a number when there are no metrics. */
export async function evaluateModel(model: Model, x: Tensor | Tensor[], y: Tensor | Tensor[], args: { batchSize?: number; returnDict?: boolean } = {}): Promise<number | number[] | Logs> {
  const logs = await evaluateLogs(model, asList(x), asList(y), args.batchSize ?? 32);
  if (args.returnDict) return logs;
  const values = Object.values(logs);
  return values.length === 1 ? values[0]! : values;
}
