/**
 * `rosetta bench MODEL [--inputs X.npz] [--iterations N] [--warmup N] [--backend cpu]`: time the
 * forward pass of one model in Rosetta (median, min, mean over N runs after warm-up). The
 * comparison with onnxruntime lives in `npm run bench` (bench/run.ts), because onnxruntime is a
 * development dependency only.
 */
import { RosettaError } from '../ir/errors.js';
import type { FormatName } from '../importers/types.js';
import { backendNames } from '../runtime/backend.js';
import { Session } from '../runtime/session.js';
import { loadModel } from '../node/model-io.js';
import { checkFeeds, randomFeeds, readFeeds } from './feeds.js';
import type { CliIo } from './io.js';

export interface BenchOptions {
  inputs?: string;
  iterations?: number;
  warmup?: number;
  backend?: string;
  from?: FormatName;
  json?: boolean;
}

/** The `bench` command. */
export async function benchCommand(modelPath: string, opts: BenchOptions, io: CliIo): Promise<number> {
  const backend = opts.backend ?? 'cpu';
  if (!backendNames().includes(backend)) throw new RosettaError('E_USAGE', `unknown backend '${backend}'`, { hint: `available: ${backendNames().join(', ')}` });
  const iterations = opts.iterations ?? 20;
  const warmup = opts.warmup ?? 3;
  const model = await loadModel(modelPath, { format: opts.from });
  let feeds;
  let source: string;
  if (opts.inputs) {
    feeds = await readFeeds(opts.inputs, []);
    checkFeeds(model.graph, feeds, opts.inputs);
    source = opts.inputs;
  } else {
    feeds = randomFeeds(model.graph, 0);
    source = 'random inputs (seed 0, symbolic dims = 1)';
  }
  const session = await Session.create(model, { backend });
  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const ms: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  const result = { model: modelPath, backend, inputs: source, iterations, warmup, medianMs: ms[Math.floor(ms.length / 2)]!, minMs: ms[0]!, meanMs: ms.reduce((s, x) => s + x, 0) / ms.length };
  if (opts.json) io.stdout(JSON.stringify(result, null, 2) + '\n');
  else io.stdout(`${modelPath} on ${backend}, ${source}: median ${result.medianMs.toFixed(3)} ms, min ${result.minMs.toFixed(3)} ms, mean ${result.meanMs.toFixed(3)} ms over ${iterations} runs (${warmup} warm-up)\n`);
  return 0;
}
