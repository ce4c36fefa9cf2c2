/**
 * Training-step benchmark: one step (zeroGrad, forward, CrossEntropyLoss, backward, Adam update)
 * of the seed CNN (`ImageClassifier`, src/cli/demo.ts) at batch 32 in Rosetta and, in the same
 * run, in PyTorch when Debian's /usr/bin/python3 has torch (bench/train_step_torch.py: same model,
 * shapes, optimizer and loss, torch.set_num_threads(1); Rosetta's CPU kernels are single-threaded).
 * Prints the medians and the ratio rosetta/pytorch (issue 6's bar: ≤ 3×).
 *
 * Run alone: `node --import tsx bench/train.ts [--iterations N] [--warmup N] [--batch N]`;
 * `npm run bench` (bench/run.ts) adds its row after the forward-pass table.
 * A benchmark, not a test: nothing here asserts speed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ImageClassifier } from '../src/cli/demo.js';
import { table } from '../src/cli/io.js';
import { Tensor } from '../src/ir/tensor.js';
import * as nn from '../src/nn/index.js';
import { seededRandom } from '../src/runtime/session.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./train_step_torch.py', import.meta.url));

export interface TrainBenchOptions {
  iterations: number;
  warmup: number;
  batch: number;
}

export interface TrainBenchResult {
  rosettaMs: number;
  /** PyTorch's median, or the reason it is missing. */
  torch: { ms: number; version: string } | { missing: string };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median time of one Rosetta training step of the seed CNN. */
export async function rosettaTrainStep(o: TrainBenchOptions): Promise<number> {
  nn.initSeed(0);
  nn.manualSeed(0);
  const model = new ImageClassifier().train();
  const optimizer = new nn.Adam(model.parameters(), { lr: 1e-3 });
  const criterion = new nn.CrossEntropyLoss();
  const r = seededRandom(42);
  const x = new Tensor('float32', [o.batch, 1, 28, 28], Float32Array.from({ length: o.batch * 784 }, () => r() * 2 - 1));
  const y = Tensor.from('int64', [o.batch], Array.from({ length: o.batch }, () => BigInt(Math.floor(r() * 10))));
  const step = async (): Promise<void> => {
    optimizer.zeroGrad();
    const loss = criterion.callVar(model.callVar(x), y);
    await loss.backward();
    optimizer.step();
  };
  for (let i = 0; i < o.warmup; i++) await step();
  const ts: number[] = [];
  for (let i = 0; i < o.iterations; i++) {
    const t0 = performance.now();
    await step();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

/** PyTorch's median for the same step, through the committed python script. */
export function torchTrainStep(o: TrainBenchOptions): TrainBenchResult['torch'] {
  if (!existsSync(PYTHON)) return { missing: `${PYTHON} not found` };
  const p = spawnSync(PYTHON, [SCRIPT, '--batch', String(o.batch), '--iterations', String(o.iterations), '--warmup', String(o.warmup)], { encoding: 'utf8', timeout: 600_000 });
  if (p.status !== 0) return { missing: `PyTorch not available (${(p.stderr || p.error?.message || '').trim().split('\n').at(-1)})` };
  const j = JSON.parse(p.stdout.trim().split('\n').at(-1)!) as { median_ms: number; torch: string };
  return { ms: j.median_ms, version: j.torch };
}

/** Both sides, in this order (PyTorch runs while Node is idle). */
export async function benchTrain(o: TrainBenchOptions): Promise<TrainBenchResult> {
  const rosettaMs = await rosettaTrainStep(o);
  return { rosettaMs, torch: torchTrainStep(o) };
}

/** The table `npm run bench` prints. */
export function trainTable(o: TrainBenchOptions, r: TrainBenchResult): string {
  const torch = 'ms' in r.torch ? r.torch : undefined;
  const head = `training step (forward, backward, Adam) of the seed CNN at batch ${o.batch}, median of ${o.iterations} after ${o.warmup} warm-up (ms); 1 thread each${torch ? `, PyTorch ${torch.version}` : ''}\n`;
  const note = 'missing' in r.torch ? `pytorch column n/a: ${r.torch.missing}\n` : '';
  return head + note + table(['case', 'rosetta', 'pytorch', 'rosetta/pytorch'], [[`seed CNN train step b${o.batch}`, r.rosettaMs.toFixed(1), torch ? torch.ms.toFixed(1) : 'n/a', torch ? (r.rosettaMs / torch.ms).toFixed(2) : 'n/a']]);
}

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 || i + 1 >= process.argv.length ? def : Number(process.argv[i + 1]);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const o = { iterations: arg('iterations', 10), warmup: arg('warmup', 2), batch: arg('batch', 32) };
  process.stdout.write(trainTable(o, await benchTrain(o)));
}
