/**
 * `rosetta finetune MODEL --data TRAIN.npz --epochs N --batch-size B --lr X --optimizer O --loss L --out OUT`.
 *
 * Any importable model trains on the IR: the file is read like `convert` reads it (a weights-only
 * file — a PyTorch state dict, safetensors — is bound to `--arch` structurally), the graph becomes
 * an `nn.GraphModule` (src/nn/graph-module.ts) whose parameters carry the initializer names, and a
 * PyTorch-style loop (zeroGrad, forward, loss, backward, step over a seeded `DataLoader`) runs
 * through the runtime's autograd. `--freeze REGEX` sets `requiresGrad = false` on matching
 * parameters (matched against the IR name and, for a bound weights file, the source key).
 *
 * Data: TRAIN.npz holds `y` and either `x` (single-input models) or one array per model input,
 * named like the inputs. Targets are shaped for the loss: class indices become int64 for
 * `cross_entropy`, regression targets with as many elements as the prediction take its shape.
 *
 * Output: OUT's extension (or `--to`) picks the exporter. A weights-only target (`.safetensors`,
 * or any weights-capable format when the source itself was a weights file) gets just the tuned
 * tensors under the *source's* names. For a model file those are its initializer names (ONNX: the
 * file's own; Keras: the importer's `layer/kernel`, in the IR's layout — write `.weights.h5` for
 * Keras names and layouts, which the Keras exporter produces from the model). For a bound weights file the binding is
 * inverted exactly by binding a copy whose values are element indices (every adapter the binder
 * applies is a permutation: transposes, HWIO→OIHW, gate reorders), so a `.pt` tuned through
 * `--arch` comes back with its PyTorch keys and layouts. Other targets get the whole model.
 *
 * Progress (epoch, step, loss, metric, ETA) goes to stderr (src/cli/progress.ts), the summary to
 * stdout, and `--log FILE.csv` receives one row per step.
 */
import { bindWeights, type BindingReport } from '../convert/binding.js';
import { isFloatDType } from '../ir/dtype.js';
import { RosettaError } from '../ir/errors.js';
import type { Model } from '../ir/graph.js';
import { Tensor, setElement, toFloat32Array } from '../ir/tensor.js';
import { formatForOutput, getExporter } from '../exporters/index.js';
import type { FormatName, WeightSet } from '../importers/types.js';
import { accuracy, evaluate, lossByName, optimizerByName, type LossName, type OptimizerName } from '../nn/fit.js';
import { GraphModule } from '../nn/graph-module.js';
import type { Var } from '../nn/trace.js';
import { DataLoader } from '../runtime/data.js';
import { loadFile, loadModel, readTensorsFile, saveModel, saveWeights, writeFileAt, type SaveResult } from '../node/model-io.js';
import { formatNumber, table, type CliIo } from './io.js';
import { Progress, formatDuration } from './progress.js';

/** Losses `--loss` accepts (PyTorch names use PyTorch semantics, Keras names Keras's). */
export const FINETUNE_LOSSES = ['mse', 'mae', 'huber', 'cross_entropy', 'bce', 'bce_with_logits', 'sparse_categorical_crossentropy', 'categorical_crossentropy', 'binary_crossentropy'] as const;
/** Optimizers `--optimizer` accepts (PyTorch defaults; `--lr` overrides the learning rate). */
export const FINETUNE_OPTIMIZERS = ['sgd', 'adam', 'adamw', 'rmsprop', 'adagrad'] as const;

const CLASSIFICATION = new Set<string>(['cross_entropy', 'sparse_categorical_crossentropy', 'categorical_crossentropy', 'binary_crossentropy', 'bce', 'bce_with_logits']);

export interface FinetuneOptions {
  arch?: string;
  map?: string[];
  partial?: boolean;
  /** `--keras-data-format`: see BindOptions.kerasDataFormat. */
  kerasDataFormat?: 'channels_last' | 'channels_first';
  /** Backend for the backward graph (`--backend`, default cpu). */
  backend?: string;
  from?: FormatName;
  /** Entry of a checkpoint to take the weights from. */
  key?: string;
  to?: FormatName;
  data: string;
  val?: string;
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: OptimizerName;
  loss: LossName;
  /** Commander's `--no-shuffle` sets this false. */
  shuffle?: boolean;
  seed?: number;
  freeze?: string;
  log?: string;
  out: string;
  /** Draw the progress bar in place (default: whether the CLI's stderr is a terminal). */
  tty?: boolean;
}

/** What `finetune` did (also returned to in-process callers such as the demo and tests). */
export interface FinetuneResult {
  /** Mean training loss per epoch. */
  epochLoss: number[];
  /** Loss of every step, in order. */
  stepLoss: number[];
  /** Validation loss per epoch (when --val is given). */
  valLoss: number[];
  frozen: string[];
  trainable: string[];
  saved: SaveResult;
  /** 'weights' when only the tuned tensors were written. */
  wrote: 'model' | 'weights';
  seconds: number;
}

/** The `finetune` command. */
export async function finetuneCommand(modelPath: string, opts: FinetuneOptions, io: CliIo): Promise<number> {
  await finetune(modelPath, opts, io);
  return 0;
}

/** Load, train and save; prints progress and a summary through `io`. */
export async function finetune(modelPath: string, opts: FinetuneOptions, io: CliIo): Promise<FinetuneResult> {
  if (!FINETUNE_LOSSES.includes(opts.loss as (typeof FINETUNE_LOSSES)[number])) throw new RosettaError('E_USAGE', `unknown --loss '${opts.loss}'`, { hint: `use one of ${FINETUNE_LOSSES.join(', ')}` });
  if (!FINETUNE_OPTIMIZERS.includes(opts.optimizer as (typeof FINETUNE_OPTIMIZERS)[number])) throw new RosettaError('E_USAGE', `unknown --optimizer '${opts.optimizer}'`, { hint: `use one of ${FINETUNE_OPTIMIZERS.join(', ')}` });
  const t0 = performance.now();

  // 1. The model: a full model file, or a weights file bound to --arch.
  const loaded = await loadFile(modelPath, { format: opts.from, key: opts.key });
  let model: Model;
  let source: WeightSet | undefined;
  let binding: BindingReport | undefined;
  if (loaded.kind === 'model') model = loaded.model;
  else {
    if (!opts.arch) throw new RosettaError('E_USAGE', `${modelPath} holds weights only (${loaded.weights.format}): give the architecture with --arch FILE`, { where: { file: modelPath }, hint: 'any full model file with the same layers works: .onnx, a Keras model, tfjs model.json' });
    source = loaded.weights;
    const arch = await loadModel(opts.arch);
    const bound = bindWeights(arch, source, { map: opts.map, partial: opts.partial, kerasDataFormat: opts.kerasDataFormat });
    model = bound.model;
    binding = bound.report;
    io.stdout(`binding: ${binding.applied.length} applied, ${binding.transformed.length} transformed, ${binding.missing.length} missing, ${binding.unused.length} unused\n`);
  }
  const gm = GraphModule.fromModel(model);
  const named = gm.namedParameters();
  if (named.length === 0) throw new RosettaError('E_USAGE', `${modelPath} has no float weights to train`, { where: { file: modelPath } });

  // 2. Frozen parameters.
  const frozen: string[] = [];
  if (opts.freeze !== undefined) {
    let re: RegExp;
    try {
      re = new RegExp(opts.freeze);
    } catch (e) {
      throw new RosettaError('E_USAGE', `--freeze '${opts.freeze}' is not a valid regular expression: ${e instanceof Error ? e.message : String(e)}`);
    }
    const sourceNames = binding ? sourceKeysByTarget(binding) : new Map<string, string[]>();
    for (const [k, p] of named) {
      const names = [k, ...(sourceNames.get(k) ?? []), model.graph.params.get(k)?.sourceName ?? ''];
      if (names.some((n) => n && re.test(n))) {
        p.requiresGrad = false;
        frozen.push(k);
      }
    }
    if (frozen.length === 0) throw new RosettaError('E_USAGE', `--freeze '${opts.freeze}' matches no parameter`, { hint: `parameters: ${named.slice(0, 12).map(([k]) => k).join(', ')}${named.length > 12 ? ', …' : ''}` });
  }
  const trainable = named.filter(([, p]) => p.requiresGrad).map(([k]) => k);
  if (trainable.length === 0) throw new RosettaError('E_USAGE', 'every parameter is frozen: nothing to train', { hint: 'narrow --freeze' });

  // 3. Data.
  const train = await readDataset(opts.data, gm, model, opts.loss);
  const val = opts.val ? await readDataset(opts.val, gm, model, opts.loss) : undefined;
  const loader = new DataLoader([...train.x, train.y], { batchSize: opts.batchSize, shuffle: opts.shuffle ?? true, seed: opts.seed ?? 0 });

  // 4. Training.
  const lossFn = lossByName(opts.loss);
  const optimizer = optimizerByName(opts.optimizer, gm, { lr: opts.lr });
  const metricName = CLASSIFICATION.has(opts.loss) ? 'accuracy' : 'mae';
  const logits = opts.loss === 'cross_entropy' || opts.loss === 'bce_with_logits';
  const nSamples = train.y.shape[0] ?? 0;
  io.stdout(
    `finetune: ${named.length} tensors (${trainable.length} trainable, ${frozen.length} frozen), ${nSamples} samples, ${loader.length} steps/epoch × ${opts.epochs} epochs, ${opts.optimizer} lr ${opts.lr}, loss ${opts.loss}\n`,
  );
  const progress = new Progress(io, { epochs: opts.epochs, stepsPerEpoch: loader.length, metricName, tty: opts.tty ?? io.isTTY ?? false });
  const stepLoss: number[] = [];
  const epochLoss: number[] = [];
  const valLoss: number[] = [];
  const csv: string[] = [`epoch,step,global_step,loss,${metricName}`];
  gm.train();
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    let step = 0;
    for (const batch of loader) {
      let target = batch.pop()!;
      optimizer.zeroGrad();
      const pred = firstOutput(gm.call(...batch));
      target = shapeTarget(target, pred, opts.loss);
      const loss = lossFn(pred, pred.trace.input(target, 'target'));
      const value = loss.item();
      if (!Number.isFinite(value)) {
        throw new RosettaError('E_USAGE', `the loss became ${value} at epoch ${epoch + 1}, step ${step + 1}`, { hint: 'lower --lr, check the data for NaN/Inf, or pick a loss that fits the outputs (e.g. cross_entropy expects logits)' });
      }
      await loss.backward({ backend: opts.backend });
      optimizer.step();
      const metric = metricName === 'accuracy' ? accuracy(pred.value, target, logits) : meanAbs(pred.value, target);
      stepLoss.push(value);
      csv.push(`${epoch + 1},${step + 1},${stepLoss.length},${value},${metric}`);
      progress.step({ epoch, step, loss: value, metric });
      step++;
    }
    const extra: Record<string, number> = {};
    if (val) {
      const v = await evaluate(gm, val.x, val.y, { loss: (p: Var, t: Var) => lossFn(p, sameShape(t.shape, p.shape) || !reshapable(t.shape, p, opts.loss) ? t : t.reshape(...p.shape)), metrics: metricName === 'accuracy' ? ['accuracy'] : [], batchSize: opts.batchSize, fromLogits: logits });
      for (const [k, x] of Object.entries(v)) extra[`val_${k}`] = x;
      valLoss.push(v.loss!);
      gm.train();
    }
    epochLoss.push(progress.epochEnd(epoch, extra).loss!);
  }
  const trainSeconds = progress.elapsed;

  // 5. Output.
  const tuned = gm.stateDict();
  const format = opts.to ?? formatForOutput(opts.out);
  const exporter = await getExporter(format);
  // A model source written as `.weights.h5` goes through the Keras exporter's model path, which
  // writes Keras names and layouts; `.safetensors` of a model source keeps the graph's names.
  const weightsOnly = !exporter.exportModel || format === 'safetensors' || (source !== undefined && exporter.exportWeights !== undefined);
  let saved: SaveResult;
  if (weightsOnly) {
    const tensors = source && binding ? countBatches(invertBinding(opts.arch!, await loadModel(opts.arch!), source, tuned, { map: opts.map, partial: opts.partial, kerasDataFormat: opts.kerasDataFormat }), source, stepLoss.length) : new Map(tuned);
    const ws: WeightSet = { format, tensors, metadata: { producer: 'rosetta finetune', source: modelPath }, notes: [] };
    saved = await saveWeights(ws, opts.out, { format });
  } else {
    saved = await saveModel(withWeights(model, tuned), opts.out, { format });
  }
  if (opts.log) await writeFileAt(opts.log, new TextEncoder().encode(`${csv.join('\n')}\n`));

  // 6. Summary.
  const rows: (string | number)[][] = [
    ['epochs', opts.epochs],
    ['steps', stepLoss.length],
    ['train time', formatDuration(trainSeconds)],
    ['loss (first → last epoch)', `${formatNumber(epochLoss[0]!)} → ${formatNumber(epochLoss.at(-1)!)}`],
  ];
  if (valLoss.length) rows.push(['val loss (first → last epoch)', `${formatNumber(valLoss[0]!)} → ${formatNumber(valLoss.at(-1)!)}`]);
  rows.push(['frozen tensors', frozen.length], ['written', `${saved.paths[0]} (${saved.format}, ${weightsOnly ? `${source ? 'source' : 'graph'} weight names` : opts.out.toLowerCase().endsWith('.weights.h5') ? 'weights, Keras names and layouts' : 'whole model'})`]);
  if (opts.log) rows.push(['step log', opts.log]);
  io.stdout(table(['summary', ''], rows));
  return { epochLoss, stepLoss, valLoss, frozen, trainable, saved, wrote: weightsOnly ? 'weights' : 'model', seconds: (performance.now() - t0) / 1000 };
}

function firstOutput(out: Var | Var[] | unknown): Var {
  const v = Array.isArray(out) ? out[0] : out;
  if (!v || Array.isArray(v)) throw new RosettaError('E_USAGE', 'finetune needs a model whose first output is a tensor');
  return v as Var;
}

/** Source keys per bound architecture parameter (for --freeze on PyTorch names). */
function sourceKeysByTarget(r: BindingReport): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const a of r.applied) m.set(a.target, [a.source]);
  for (const t of r.transformed) m.set(t.target, t.sources);
  return m;
}

/** The dataset's inputs (in the graph's input order, converted to the declared dtypes) and targets. */
async function readDataset(path: string, gm: GraphModule, model: Model, loss: LossName): Promise<{ x: Tensor[]; y: Tensor }> {
  const arrays = await readTensorsFile(path);
  const names = gm.inputNames;
  const y = arrays.get('y');
  if (!y) throw new RosettaError('E_MISSING_INPUT', `${path} has no array 'y' (the targets)`, { where: { file: path }, hint: `arrays found: ${[...arrays.keys()].join(', ') || 'none'}` });
  let x: Tensor[];
  if (names.every((n) => arrays.has(n))) x = names.map((n) => arrays.get(n)!);
  else if (names.length === 1 && arrays.has('x')) x = [arrays.get('x')!];
  else throw new RosettaError('E_MISSING_INPUT', `${path} must hold ${names.length === 1 ? `'x' or '${names[0]}'` : `one array per model input (${names.join(', ')})`}`, { where: { file: path }, hint: `arrays found: ${[...arrays.keys()].join(', ')}` });
  const n = y.shape[0];
  x = x.map((t, i) => {
    const info = model.graph.inputs.find((v) => v.name === names[i]);
    const want = info?.type?.kind === 'tensor' ? info.type.dtype : 'float32';
    if (t.shape[0] !== n) throw new RosettaError('E_SHAPE_MISMATCH', `${path}: input '${names[i]}' has ${t.shape[0]} samples, 'y' has ${n}`, { where: { file: path } });
    if (t.dtype === want) return t;
    if (want === 'float32' && t.dtype !== 'string') return new Tensor('float32', t.shape, Float32Array.from(toFloat32Array(t)));
    if (want === 'int64' || want === 'int32') return Tensor.from(want, t.shape, Array.from(toFloat32Array(t), (v) => (want === 'int64' ? BigInt(Math.round(v)) : Math.round(v))));
    throw new RosettaError('E_DTYPE_MISMATCH', `${path}: input '${names[i]}' is ${t.dtype}, the model takes ${want}`, { where: { file: path } });
  });
  if (y.dtype === 'string') throw new RosettaError('E_DTYPE_MISMATCH', `${path}: 'y' holds strings`, { where: { file: path } });
  const outInfo = model.graph.outputs[0]?.type;
  const outRank = outInfo?.kind === 'tensor' ? outInfo.shape?.length : undefined;
  // cross_entropy takes class indices (int64) unless y is a probability table shaped like the output.
  const indices = loss === 'cross_entropy' && !(isFloatDType(y.dtype) && outRank !== undefined && y.shape.length === outRank);
  const yt = indices ? Tensor.from('int64', y.shape, Array.from(toFloat32Array(y), (v) => BigInt(Math.round(v)))) : y.dtype === 'float32' ? y : new Tensor('float32', y.shape, Float32Array.from(toFloat32Array(y)));
  return { x, y: yt };
}

/** Give a regression/binary target the prediction's shape when only the shape differs ([N] vs [N,1]). */
function shapeTarget(t: Tensor, pred: Var, loss: LossName): Tensor {
  return !sameShape(t.shape, pred.shape) && reshapable(t.shape, pred, loss) ? t.reshape(pred.shape) : t;
}

function reshapable(shape: readonly number[], pred: Var, loss: LossName): boolean {
  if (loss === 'cross_entropy' || loss === 'sparse_categorical_crossentropy') return false;
  return shape.reduce((a, b) => a * b, 1) === pred.shape.reduce((a, b) => a * b, 1);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function meanAbs(pred: Tensor, target: Tensor): number {
  const p = toFloat32Array(pred);
  const t = toFloat32Array(target);
  if (p.length !== t.length || p.length === 0) return NaN;
  let s = 0;
  for (let i = 0; i < p.length; i++) s += Math.abs(p[i]! - t[i]!);
  return s / p.length;
}

/** `model` with its float initializers replaced by the tuned tensors (the original is untouched). */
export function withWeights(model: Model, tuned: ReadonlyMap<string, Tensor>): Model {
  const initializers = new Map(model.graph.initializers);
  for (const [k, t] of tuned) if (initializers.has(k)) initializers.set(k, t);
  return { ...model, graph: { ...model.graph, initializers } };
}

/**
 * PyTorch's BatchNorm counts training forwards in `num_batches_tracked`; every step updated the
 * running statistics (GraphModule's 'batch' mode), so a counter whose `running_mean` changed
 * advances by the number of steps, as it would have in PyTorch.
 */
function countBatches(out: Map<string, Tensor>, source: WeightSet, steps: number): Map<string, Tensor> {
  for (const [k, t] of out) {
    if (!k.endsWith('num_batches_tracked') || t.size !== 1 || isFloatDType(t.dtype)) continue;
    const mean = k.replace(/num_batches_tracked$/, 'running_mean');
    const before = source.tensors.get(mean);
    const after = out.get(mean);
    if (!before || !after || toFloat32Array(before).every((v, i) => Object.is(v, toFloat32Array(after)[i]))) continue;
    const next = new Tensor(t.dtype, t.shape);
    setElement(next, 0, t.dtype === 'int64' || t.dtype === 'uint64' ? BigInt(Math.trunc(toFloat32Array(t)[0]!)) + BigInt(steps) : toFloat32Array(t)[0]! + steps);
    out.set(k, next);
  }
  return out;
}

/**
 * Tuned architecture tensors → the source weight file's tensors (names, shapes, layouts, dtypes).
 * Binds a copy of the source whose float values are global element indices; each bound element then
 * says which source element it came from. A binding adapter that is not a permutation (or more than
 * 2^24 elements, beyond float32's exact integers) cannot be inverted and is refused.
 */
function invertBinding(archPath: string, arch: Model, source: WeightSet, tuned: ReadonlyMap<string, Tensor>, opts: { map?: string[]; partial?: boolean; kerasDataFormat?: 'channels_last' | 'channels_first' }): Map<string, Tensor> {
  const keys: string[] = [];
  const starts: number[] = [];
  let total = 0;
  const codes = new Map<string, Tensor>();
  for (const [k, t] of source.tensors) {
    if (!isFloatDType(t.dtype)) {
      codes.set(k, t);
      continue;
    }
    keys.push(k);
    starts.push(total);
    const c = new Float32Array(t.size);
    for (let i = 0; i < c.length; i++) c[i] = total + i;
    total += t.size;
    codes.set(k, new Tensor('float32', t.shape, c));
  }
  if (total > 1 << 24) throw new RosettaError('E_UNSUPPORTED', `cannot map ${total} tuned values back to the source's names (limit 2^24)`, { hint: 'write a model format (.onnx, .keras) instead' });
  const { model: coded, report } = bindWeights(arch, { ...source, tensors: codes }, { map: opts.map, partial: opts.partial, kerasDataFormat: opts.kerasDataFormat });
  const out = new Map<string, Tensor>();
  for (const [k, t] of source.tensors) out.set(k, isFloatDType(t.dtype) ? new Tensor(t.dtype, t.shape, t.data.slice() as typeof t.data) : t);
  const targets = [...report.applied.map((a) => a.target), ...report.transformed.map((t) => t.target)];
  for (const target of targets) {
    const code = coded.graph.initializers.get(target);
    const value = tuned.get(target);
    if (!code || !value) continue;
    const c = toFloat32Array(code);
    const v = toFloat32Array(value);
    for (let j = 0; j < c.length; j++) {
      const g = c[j]!;
      if (!Number.isInteger(g) || g < 0 || g >= total) {
        throw new RosettaError('E_UNSUPPORTED', `the binding of '${target}' (architecture ${archPath}) is not a permutation of source elements, so tuned values cannot be written under the source's names`, { hint: 'write a model format (.onnx, .keras) instead' });
      }
      // Binary search for the source tensor holding global index g.
      let lo = 0;
      let hi = starts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (starts[mid]! <= g) lo = mid;
        else hi = mid - 1;
      }
      setElement(out.get(keys[lo]!)!, g - starts[lo]!, v[j]!);
    }
  }
  return out;
}
