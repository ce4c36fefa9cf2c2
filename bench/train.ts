/**
 * Training-step benchmark: one step (zeroGrad, forward, CrossEntropyLoss, backward, Adam update)
 * of the seed CNN (`ImageClassifier`, src/cli/demo.ts) at batch 32 in Rosetta and, in the same
 * run, in PyTorch when Debian's /usr/bin/python3 has torch (bench/train_step_torch.py: same model,
 * shapes, optimizer and loss, torch.set_num_threads(1); Rosetta's CPU kernels are single-threaded).
 * Prints the medians and the ratio rosetta/pytorch (issue 6's bar: ≤ 3×).
 *
 * Run alone: `node --import tsx bench/train.ts [--iterations N] [--warmup N] [--batch N] [--model cnn|rnn]`
 * (`--model rnn`: the fixtures' RnnModel at batch 16, 20 tokens, Embedding → LSTM → GRU);
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

/**
 * 30 timed steps (10 per round) after 5 untimed ones on each side: with 2 warm-up steps the JS
 * engine's tier-up still fell into Rosetta's first round (medians 44–67 ms on a quiet machine).
 */
export const TRAIN_BENCH_DEFAULTS = { iterations: 30, warmup: 5 };

export interface TrainBenchOptions {
  iterations: number;
  warmup: number;
  batch: number;
  /** 'cnn' (default): the seed ImageClassifier on [batch, 1, 28, 28]; 'rnn': the fixtures'
   * RnnModel (Embedding → bidirectional LSTM → 2-layer GRU → LayerNorm → Linear) on [batch, 20] tokens. */
  model?: 'cnn' | 'rnn';
}

/** fixtures/seed_models.py RnnModel on src/nn (the PyTorch side imports that file). */
class RnnModel extends nn.Module {
  emb = new nn.Embedding(20, 8);
  lstm = new nn.LSTM(8, 6, { batchFirst: true, bidirectional: true });
  gru = new nn.GRU(12, 5, { numLayers: 2, batchFirst: true });
  norm = new nn.LayerNorm(5);
  head = new nn.Linear(5, 3);

  forward(tokens: nn.Var): nn.Var {
    const [h1] = this.lstm.call(this.emb.callVar(tokens)) as [nn.Var, unknown];
    const [h2] = this.gru.call(h1) as [nn.Var, unknown];
    return this.head.callVar(this.norm.callVar(h2.select(1, -1)));
  }
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

/** A Rosetta training step of the seed CNN, set up once; `times(n)` runs n steps and returns their ms. */
export function rosettaTrainStep(o: TrainBenchOptions): { times(n: number): Promise<number[]> } {
  nn.initSeed(0);
  nn.manualSeed(0);
  const rnn = o.model === 'rnn';
  const model = (rnn ? new RnnModel() : new ImageClassifier()).train();
  const optimizer = new nn.Adam(model.parameters(), { lr: 1e-3 });
  const criterion = new nn.CrossEntropyLoss();
  const r = seededRandom(42);
  const x = rnn
    ? Tensor.from('int64', [o.batch, 20], Array.from({ length: o.batch * 20 }, () => BigInt(Math.floor(r() * 20))))
    : new Tensor('float32', [o.batch, 1, 28, 28], Float32Array.from({ length: o.batch * 784 }, () => r() * 2 - 1));
  const y = Tensor.from('int64', [o.batch], Array.from({ length: o.batch }, () => BigInt(Math.floor(r() * (rnn ? 3 : 10)))));
  return {
    async times(n: number): Promise<number[]> {
      const ts: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        optimizer.zeroGrad();
        const loss = criterion.callVar(model.callVar(x), y);
        await loss.backward();
        optimizer.step();
        ts.push(performance.now() - t0);
      }
      return ts;
    },
  };
}

/** PyTorch's per-step times for the same step, through the committed python script. */
export function torchTrainStep(o: TrainBenchOptions, iterations: number): { times: number[]; version: string } | { missing: string } {
  if (!existsSync(PYTHON)) return { missing: `${PYTHON} not found` };
  const p = spawnSync(PYTHON, [SCRIPT, '--batch', String(o.batch), '--iterations', String(iterations), '--warmup', String(o.warmup), '--model', o.model ?? 'cnn'], { encoding: 'utf8', timeout: 600_000 });
  if (p.status !== 0) return { missing: `PyTorch not available (${(p.stderr || p.error?.message || '').trim().split('\n').at(-1)})` };
  const j = JSON.parse(p.stdout.trim().split('\n').at(-1)!) as { times_ms: number[]; torch: string };
  return { times: j.times_ms, version: j.torch };
}

/**
 * Both sides, alternating in `rounds` rounds (machines shared with other work drift in load; taking
 * turns gives both the same conditions), each round `iterations / rounds` timed steps per side.
 */
export async function benchTrain(o: TrainBenchOptions, rounds = 3): Promise<TrainBenchResult> {
  const per = Math.max(1, Math.ceil(o.iterations / rounds));
  const ours = rosettaTrainStep(o);
  await ours.times(o.warmup);
  const rosetta: number[] = [];
  const torch: number[] = [];
  let version = '';
  let missing: string | undefined;
  for (let k = 0; k < rounds; k++) {
    rosetta.push(...(await ours.times(per)));
    if (missing) continue;
    const t = torchTrainStep(o, per);
    if ('missing' in t) missing = t.missing;
    else {
      torch.push(...t.times);
      version = t.version;
    }
  }
  return { rosettaMs: median(rosetta), torch: missing ? { missing } : { ms: median(torch), version } };
}

/** The table `npm run bench` prints. */
export function trainTable(o: TrainBenchOptions, r: TrainBenchResult): string {
  const torch = 'ms' in r.torch ? r.torch : undefined;
  const what = o.model === 'rnn' ? 'RnnModel (LSTM + GRU, 20 steps)' : 'seed CNN';
  const head = `training step (forward, backward, Adam) of the ${what} at batch ${o.batch}, median of ~${o.iterations} steps in 3 alternating rounds after ${o.warmup} warm-up (ms); 1 thread each${torch ? `, PyTorch ${torch.version}` : ''}\n`;
  const note = 'missing' in r.torch ? `pytorch column n/a: ${r.torch.missing}\n` : '';
  return head + note + table(['case', 'rosetta', 'pytorch', 'rosetta/pytorch'], [[`${o.model === 'rnn' ? 'RnnModel' : 'seed CNN'} train step b${o.batch}`, r.rosettaMs.toFixed(1), torch ? torch.ms.toFixed(1) : 'n/a', torch ? (r.rosettaMs / torch.ms).toFixed(2) : 'n/a']]);
}

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 || i + 1 >= process.argv.length ? def : Number(process.argv[i + 1]);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const m = process.argv.indexOf('--model');
  const model = m > 0 && process.argv[m + 1] === 'rnn' ? 'rnn' : 'cnn';
  const o = { iterations: arg('iterations', TRAIN_BENCH_DEFAULTS.iterations), warmup: arg('warmup', TRAIN_BENCH_DEFAULTS.warmup), batch: arg('batch', model === 'rnn' ? 16 : 32), model } as const;
  process.stdout.write(trainTable(o, await benchTrain(o)));
}
