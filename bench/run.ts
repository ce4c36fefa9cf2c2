/**
 * `npm run bench`: forward-pass time of the fixture models (fixtures/models, written by
 * make_models.py) in Rosetta's CPU runtime and, in the same run, in onnxruntime-node and
 * onnxruntime-web (wasm backend, 1 thread). Prints per-case medians and the ratios
 * rosetta/ort-node and rosetta/ort-web (lower is better for Rosetta), plus the largest output
 * difference against ort-node as a sanity check that all three computed the same thing.
 * A WebGPU column times the same sessions on Rosetta's WebGPU backend when this machine has an
 * adapter (without a usable GPU driver, SwiftShader from Debian's chromium when installed), 'n/a' otherwise.
 *
 * A benchmark, not a test: nothing here asserts speed. Options:
 *   --iterations N   timed runs per case (default 50)
 *   --warmup N       untimed runs first (default 30: steady state, after every engine's JIT and
 *                    allocator have settled; the same for all peers)
 *   --only NAME      run only cases whose name contains NAME
 *   --threads N      intra-op threads for ort-node (default 1, like ort-web and Rosetta)
 * After the forward table: one training step of the seed CNN beside PyTorch (bench/train.ts),
 * skipped when --only is given and 'train' is not part of it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { Tensor } from '../src/ir/tensor.js';
import { Session } from '../src/runtime/session.js';
import { loadModel } from '../src/node/model-io.js';
import { seededRandom } from '../src/runtime/session.js';
import { table } from '../src/cli/io.js';
import { createNodeWebGpuBackend } from '../src/node/webgpu-env.js';
import { TRAIN_BENCH_DEFAULTS, benchTrain, trainTable } from './train.js';

const MODELS = fileURLToPath(new URL('../fixtures/models/', import.meta.url));

interface Case {
  name: string;
  file: string;
  input: string;
  shape: number[];
}

const CASES: Case[] = [
  { name: 'mnist-cnn b1', file: 'mnist-cnn.onnx', input: 'input', shape: [1, 1, 28, 28] },
  { name: 'mnist-cnn b32', file: 'mnist-cnn.onnx', input: 'input', shape: [32, 1, 28, 28] },
  { name: 'mlp b32', file: 'mlp.onnx', input: 'input', shape: [32, 784] },
  { name: 'lstm b8', file: 'lstm.onnx', input: 'input', shape: [8, 20, 16] },
];

function arg(name: string, def: number): number;
function arg(name: string, def: string | undefined): string | undefined;
function arg(name: string, def: number | string | undefined): number | string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) return def;
  return typeof def === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}

const iterations = arg('iterations', 50);
const warmup = arg('warmup', 30);
const only = arg('only', undefined);
const threads = arg('threads', 1);

async function time(f: () => Promise<unknown>, runs = iterations, warm = warmup): Promise<number> {
  for (let i = 0; i < warm; i++) await f();
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await f();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)]!;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function main(): Promise<void> {
  ortWeb.env.wasm.numThreads = 1;
  ortWeb.env.logLevel = 'error';
  const rows: (string | number)[][] = [];
  const gpu = await createNodeWebGpuBackend().catch((e: unknown) => {
    process.stderr.write(`webgpu column n/a: ${e instanceof Error ? e.message : String(e)}\n`);
    return undefined;
  });
  if (gpu) process.stderr.write(`webgpu adapter: ${gpu.adapter}\n`);
  for (const c of CASES.filter((x) => !only || x.name.includes(only))) {
    const path = join(MODELS, c.file);
    const rnd = seededRandom(42);
    const data = Float32Array.from({ length: c.shape.reduce((a, b) => a * b, 1) }, () => rnd() * 2 - 1);

    const model = await loadModel(path);
    const session = await Session.create(model);
    const feeds = { [c.input]: new Tensor('float32', c.shape, data) };
    let ours: Float32Array | undefined;
    const tRosetta = await time(async () => {
      const r = await session.run(feeds);
      ours = (Object.values(r.outputs)[0] as Tensor).data as Float32Array;
    });

    const nodeSession = await ortNode.InferenceSession.create(path, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' });
    const nodeFeeds = { [c.input]: new ortNode.Tensor('float32', data, c.shape) };
    let theirs: Float32Array | undefined;
    const tNode = await time(async () => {
      const r = await nodeSession.run(nodeFeeds);
      theirs = r[nodeSession.outputNames[0]!]!.data as Float32Array;
    });

    const webSession = await ortWeb.InferenceSession.create(new Uint8Array(readFileSync(path)), { executionProviders: ['wasm'] });
    const webFeeds = { [c.input]: new ortWeb.Tensor('float32', data, c.shape) };
    const tWeb = await time(async () => {
      await webSession.run(webFeeds);
    });

    let gpuCols = ['n/a', 'n/a'];
    if (gpu) {
      const gpuSession = await Session.create(model, { backend: gpu });
      let gpuOut: Float32Array | undefined;
      // fewer runs: on SwiftShader (software Vulkan) one batch-32 CNN pass takes about a second
      const tGpu = await time(async () => {
        const r = await gpuSession.run(feeds);
        gpuOut = (Object.values(r.outputs)[0] as Tensor).data as Float32Array;
      }, Math.min(iterations, 10), Math.min(warmup, 3));
      gpuCols = [tGpu.toFixed(3), maxDiff(gpuOut!, theirs!).toExponential(1)];
    }

    rows.push([c.name, tRosetta.toFixed(3), tNode.toFixed(3), tWeb.toFixed(3), (tRosetta / tNode).toFixed(2), (tRosetta / tWeb).toFixed(2), maxDiff(ours!, theirs!).toExponential(1), ...gpuCols]);
    process.stderr.write(`done: ${c.name}\n`);
  }
  process.stdout.write(`forward pass, median of ${iterations} runs after ${warmup} warm-up (ms; WebGPU: ${Math.min(iterations, 10)} after ${Math.min(warmup, 3)}); ort-node intra-op threads ${threads}, ort-web wasm 1 thread\n`);
  process.stdout.write(table(['case', 'rosetta', 'ort-node', 'ort-web', 'rosetta/ort-node', 'rosetta/ort-web', 'max |diff| vs ort-node', 'rosetta-webgpu', 'webgpu max |diff|'], rows));
  if (!only || 'train'.includes(only) || only.includes('train')) {
    const o = { ...TRAIN_BENCH_DEFAULTS, batch: 32 };
    process.stdout.write(`\n${trainTable(o, await benchTrain(o))}`);
    const r = { ...TRAIN_BENCH_DEFAULTS, batch: 16, model: 'rnn' as const };
    process.stdout.write(`\n${trainTable(r, await benchTrain(r))}`);
  }
}

await main();
