/**
 * `rosetta demo`: the two seed programs end to end, on nothing but the installed package.
 *
 * 1. House prices (`SimpleLinearModel`, one Linear(1, 1)) on the seed program's ten sizes and prices
 *    (the same data fixtures/pytorch/make_fixtures.py trains PyTorch 1.13 on): fitted Keras-style
 *    (`Sequential([Dense(1)])`, `compile({ optimizer: Adam(0.01), loss: 'mse' })`, `fit` for 500
 *    full-batch epochs), exported to `.pt`, reloaded PyTorch-style (the state dict bound
 *    structurally to `SimpleLinearModel`, so `dense` becomes `linear`) and trained further with the
 *    seed's loop (zeroGrad, forward, MSELoss, backward, Adam step).
 * 2. The seed CNN (`ImageClassifier`: Conv2d 1→32→64, MaxPool, Flatten, Linear 3136→128→10,
 *    Dropout) trained with the seed's PyTorch-style loop (5 epochs, DataLoader with shuffling,
 *    Adam 0.001) on synthetic MNIST-shaped data (each class is a bright square at its own place plus
 *    noise), its training accuracy measured in eval mode, exported to
 *    `.keras`, `.onnx` and `.safetensors`, reloaded from each and run on the same images; the
 *    maximum absolute difference to the trained model's own outputs is printed per format.
 *
 * Files go to a temporary folder (or `--out DIR`, kept). Exit 1 when any parity is beyond
 * tolerance. Kept fast on purpose: the whole demo runs in seconds (see the test's timing).
 */
import { join } from 'node:path';
import { bindWeights } from '../convert/binding.js';
import { Sequential as KerasSequential, layers, optimizers } from '../keras/index.js';
import { RosettaError } from '../ir/errors.js';
import { Tensor, toFloat32Array } from '../ir/tensor.js';
import * as nn from '../nn/index.js';
import type { Var } from '../nn/index.js';
import { seededRandom } from '../runtime/session.js';
import { isTensor } from '../runtime/value.js';
import { withTempDir } from '../node/files.js';
import { loadFile, loadModel, saveModel } from '../node/model-io.js';
import { runOnce } from './compare.js';
import { formatBytes, table, type CliIo } from './io.js';

/** The seed program's CNN, written like its PyTorch original. */
export class ImageClassifier extends nn.Module {
  features = new nn.Sequential(
    new nn.Conv2d(1, 32, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(32, 64, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
  );
  classifier = new nn.Sequential(new nn.Flatten(), new nn.Linear(3136, 128), new nn.ReLU(), new nn.Dropout(0.5), new nn.Linear(128, 10));

  forward(x: Var): Var {
    return this.classifier.callVar(this.features.callVar(x));
  }
}

/** The seed program's house-price model. */
export class SimpleLinearModel extends nn.Module {
  linear = new nn.Linear(1, 1);

  forward(x: Var): Var {
    return this.linear.callVar(x);
  }
}

/** The seed program's ten house sizes (sq ft) and prices (k$): price ≈ 0.2 · size. */
export const HOUSE_SIZES = [650, 785, 1200, 720, 975, 1450, 1800, 2100, 2500, 3000];
export const HOUSE_PRICES = [130, 157, 240, 144, 195, 290, 360, 420, 500, 600];

/**
 * Synthetic MNIST-shaped data: `n` images [n, 1, 28, 28] in [0, 1] and int64 labels [n]. Class c
 * is a 6×6 bright square at its own place (two rows of five) over uniform noise.
 */
export function syntheticDigits(n: number, seed: number): { x: Tensor; y: Tensor } {
  const r = seededRandom(seed);
  const x = new Float32Array(n * 784);
  const labels: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const c = Math.floor(r() * 10);
    labels.push(BigInt(c));
    const top = 3 + 13 * Math.floor(c / 5);
    const left = 1 + 5 * (c % 5);
    for (let p = 0; p < 784; p++) x[i * 784 + p] = 0.3 * r();
    for (let dy = 0; dy < 6; dy++) for (let dx = 0; dx < 6; dx++) x[i * 784 + (top + dy) * 28 + left + dx] = 0.8 + 0.2 * r();
  }
  return { x: new Tensor('float32', [n, 1, 28, 28], x), y: Tensor.from('int64', [n], labels) };
}

/** One row of the parity table. */
export interface DemoParity {
  format: string;
  file: string;
  bytes: number;
  maxAbsError: number;
  ok: boolean;
}

export interface DemoResult {
  house: { kerasLoss: [number, number]; kerasSlope: number; torchLoss: [number, number]; slope: number; bias: number };
  cnn: { losses: number[]; parity: DemoParity[] };
  seconds: number;
  ok: boolean;
}

/** Tolerance of the reload parity (float32 outputs of the same weights through another format). */
export const DEMO_ATOL = 1e-4;

/** The `demo` command. */
export async function demoCommand(opts: { out?: string }, io: CliIo): Promise<number> {
  const r = await demo(opts, io);
  return r.ok ? 0 : 1;
}

/** Run the demo, printing as it goes; returns the numbers (tests check them). */
export async function demo(opts: { out?: string; cnnImages?: number; cnnEpochs?: number }, io: CliIo): Promise<DemoResult> {
  const t0 = performance.now();
  const run = async (dir: string): Promise<Omit<DemoResult, 'seconds' | 'ok'>> => ({ house: await housePrices(dir, io), cnn: await imageClassifier(dir, io, opts.cnnImages ?? 320, opts.cnnEpochs ?? 5) });
  const r = opts.out ? await run(opts.out) : await withTempDir('rosetta-demo', run);
  const ok = r.cnn.parity.every((p) => p.ok);
  const seconds = (performance.now() - t0) / 1000;
  io.stdout(`\n${ok ? 'demo: OK' : 'demo: PARITY FAILED'} in ${seconds.toFixed(1)}s${opts.out ? ` (files in ${opts.out})` : ''}\n`);
  return { ...r, seconds, ok };
}

async function housePrices(dir: string, io: CliIo): Promise<DemoResult['house']> {
  io.stdout('== 1. house prices: Keras-style fit → .pt → PyTorch-style training ==\n');
  const n = HOUSE_SIZES.length;
  const X = Tensor.from('float32', [n, 1], HOUSE_SIZES);
  const Y = Tensor.from('float32', [n, 1], HOUSE_PRICES);

  const keras = new KerasSequential([layers.Dense(1, { inputShape: [1] })], { seed: 0 });
  keras.compile({ optimizer: optimizers.Adam({ learningRate: 0.01 }), loss: 'mse' });
  const h = await keras.fit(X, Y, { epochs: 500, batchSize: n, shuffle: false, verbose: 0 });
  const kl = h.history.loss!;
  const kerasSlope = keras.getWeights()[0]!.get(0);
  io.stdout(`Keras-style  Dense(1), Adam(0.01), mse, 500 epochs: loss ${kl[0]!.toFixed(1)} → ${kl.at(-1)!.toFixed(3)}, slope ${kerasSlope.toFixed(4)}, bias ${keras.getWeights()[1]!.get(0).toFixed(4)}\n`);

  const pt = join(dir, 'house_price.pt');
  const saved = await saveModel(keras.irModel, pt);
  io.stdout(`exported     ${saved.paths.join(', ')}\n`);

  // Reload PyTorch-style: the .pt's tensors bound by layer kind and shape to SimpleLinearModel.
  const loaded = await loadFile(pt);
  const model = new SimpleLinearModel();
  const tensors = loaded.kind === 'weights' ? loaded.weights : { format: 'pytorch' as const, tensors: loaded.model.graph.initializers, metadata: {}, notes: [] };
  const { model: bound, report } = bindWeights(model.toModel([[1, 1]]), tensors);
  model.loadStateDict(new Map([...model.stateDict().keys()].map((k) => [k, bound.graph.initializers.get(k)!])));
  io.stdout(`reloaded     SimpleLinearModel ← ${[...report.applied.map((a) => `${a.target} ← ${a.source}`), ...report.transformed.map((t) => `${t.target} ← ${t.sources.join('+')} (${t.transform})`)].join(', ')}\n`);

  const criterion = new nn.MSELoss();
  const optimizer = new nn.Adam(model.parameters(), { lr: 0.01 });
  const losses: number[] = [];
  model.train();
  for (let epoch = 0; epoch < 200; epoch++) {
    optimizer.zeroGrad();
    const outputs = model.callVar(X);
    const loss = criterion.callVar(outputs, Y);
    await loss.backward();
    optimizer.step();
    losses.push(loss.item());
  }
  const slope = model.linear.weight.data.get(0);
  const bias = model.linear.bias!.data.get(0);
  model.eval();
  const p2000 = ((await model.run(Tensor.from('float32', [1, 1], [2000]))) as Tensor).get(0);
  io.stdout(`PyTorch-style 200 more epochs (Adam 0.01, MSELoss): loss ${losses[0]!.toFixed(3)} → ${losses.at(-1)!.toFixed(3)}, slope ${slope.toFixed(4)}, bias ${bias.toFixed(4)}; 2000 sq ft → ${p2000.toFixed(1)}k\n`);
  return { kerasLoss: [kl[0]!, kl.at(-1)!], kerasSlope, torchLoss: [losses[0]!, losses.at(-1)!], slope, bias };
}

async function imageClassifier(dir: string, io: CliIo, images: number, epochs: number): Promise<DemoResult['cnn']> {
  io.stdout('\n== 2. ImageClassifier: PyTorch-style training → .keras / .onnx / .safetensors → reload → parity ==\n');
  nn.initSeed(0);
  nn.manualSeed(0);
  const model = new ImageClassifier();
  const batch = 32;
  const train = syntheticDigits(images, 1);
  const criterion = new nn.CrossEntropyLoss();
  const optimizer = new nn.Adam(model.parameters(), { lr: 0.001 });
  const loader = new nn.DataLoader([train.x, train.y], { batchSize: batch, shuffle: true, seed: 0 });
  // The seed's loop: per epoch model.train(), then zeroGrad / forward / loss / backward / step per batch.
  const losses: number[] = [];
  const t0 = performance.now();
  for (let epoch = 0; epoch < epochs; epoch++) {
    model.train();
    let running = 0;
    for (const [x, y] of loader) {
      optimizer.zeroGrad();
      const outputs = model.callVar(x!);
      const loss = criterion.callVar(outputs, y!);
      await loss.backward();
      optimizer.step();
      running += loss.item();
    }
    losses.push(running / loader.length);
  }
  const seconds = (performance.now() - t0) / 1000;
  model.eval();
  const accuracy = argmaxAccuracy((await model.run(train.x)) as Tensor, train.y);
  io.stdout(`trained      ${epochs} epochs × ${loader.length} batches of ${batch} (Adam 0.001, CrossEntropyLoss) in ${seconds.toFixed(1)}s: epoch loss ${losses.map((l) => l.toFixed(3)).join(' → ')}; training accuracy ${(100 * accuracy).toFixed(1)}%\n`);

  model.eval();
  const test = syntheticDigits(8, 2);
  const want = (await model.run(test.x)) as Tensor;
  const ir = model.toModel([test.x.shape], { inputNames: ['input'] });
  const parity: DemoParity[] = [];
  for (const ext of ['keras', 'onnx', 'safetensors']) {
    const path = join(dir, `image_classifier.${ext}`);
    const saved = await saveModel(ir, path);
    const { statSync } = await import('node:fs');
    let got: Tensor;
    if (ext === 'safetensors') {
      // PyTorch-style reload: the state dict straight into a fresh ImageClassifier.
      const r = await loadFile(path);
      if (r.kind !== 'weights') throw new RosettaError('E_INTERNAL', `${path} did not read back as weights`);
      const again = new ImageClassifier().eval();
      again.loadWeights(r.weights);
      got = (await again.run(test.x)) as Tensor;
    } else {
      const m = await loadModel(path);
      got = firstTensor(await runOnce(m.graph, { [m.graph.inputs[0]!.name]: layoutFor(m.graph.inputs[0]!.type, test.x) }));
    }
    const err = maxAbs(want, got);
    parity.push({ format: ext, file: saved.paths[0]!, bytes: statSync(saved.paths[0]!).size, maxAbsError: err, ok: err <= DEMO_ATOL });
  }
  io.stdout(table(['format', 'file', 'size', 'max abs error', 'ok'], parity.map((p) => [p.format, p.file, formatBytes(p.bytes), p.maxAbsError.toExponential(2), p.ok ? 'yes' : `NO (> ${DEMO_ATOL})`])));
  return { losses, parity };
}

/** Share of rows of `logits` [n, classes] whose largest entry is at the label. */
function argmaxAccuracy(logits: Tensor, labels: Tensor): number {
  const [n, k] = logits.shape as [number, number];
  const v = toFloat32Array(logits);
  let right = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (v[i * k + j]! > v[i * k + best]!) best = j;
    if (best === Number(labels.get(i))) right++;
  }
  return right / n;
}

function firstTensor(out: Record<string, unknown>): Tensor {
  const v = Object.values(out)[0];
  if (!v || !isTensor(v as never)) throw new RosettaError('E_INTERNAL', 'the reloaded model returned no tensor');
  return v as Tensor;
}

/** The images in the reloaded model's layout: NHWC when its input is declared [N, 28, 28, 1]. */
function layoutFor(type: unknown, x: Tensor): Tensor {
  const shape = (type as { shape?: unknown[] } | undefined)?.shape;
  if (!shape || shape.length !== 4 || shape[3] !== 1 || shape[1] !== 28) return x;
  return x.reshape([x.shape[0]!, 28, 28, 1]); // one channel: NCHW and NHWC hold the same bytes
}

function maxAbs(a: Tensor, b: Tensor): number {
  const x = toFloat32Array(a);
  const y = toFloat32Array(b);
  if (x.length !== y.length) return Infinity;
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i]! - y[i]!);
    if (!(d <= m)) m = d; // NaN propagates as a failure
  }
  return m;
}
