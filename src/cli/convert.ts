/**
 * `rosetta convert IN OUT` and `rosetta parity A B`.
 *
 * `convert` reads any registered format (magic bytes, then extension; `--from` overrides), writes
 * any registered exporter's format (`--to` or the output extension), prints every rewrite the
 * importer and exporter recorded, and with `--verify` re-reads the written file and runs source
 * and target on the same inputs (`--inputs X.npz` or seeded random ones fitting the declared
 * inputs), printing per-output errors and exiting 1 beyond tolerance. `parity` is the same
 * comparison for two existing files.
 */
import { RosettaError } from '../ir/errors.js';
import type { Model, RewriteRecord } from '../ir/graph.js';
import { optimizeGraph, type OptimizeReport } from '../ir/passes.js';
import type { Tensor } from '../ir/tensor.js';
import type { FormatName, WeightSet } from '../importers/types.js';
import { loadFile, loadModel, saveModel, saveWeights, writeFileAt } from '../node/model-io.js';
import { DEFAULT_TOLERANCE, compareOutputs, compareTensors, parityTable, runOnce, type OutputParity, type Tolerance } from './compare.js';
import { checkFeeds, randomFeeds, readFeeds } from './feeds.js';
import { table, type CliIo } from './io.js';

export interface ConvertOptions {
  from?: FormatName;
  to?: FormatName;
  opset?: number;
  verify?: boolean;
  rtol?: number;
  atol?: number;
  inputs?: string;
  report?: string;
  optimize?: boolean;
  seed?: number;
}

/** JSON written by `convert --report`. */
export interface ConvertReport {
  input: string;
  output: string;
  from: string;
  to: string;
  kind: 'model' | 'weights';
  files: string[];
  rewrites: RewriteRecord[];
  optimize?: OptimizeReport;
  verify?: { inputs: string; tolerance: Tolerance; outputs: OutputParity[]; ok: boolean };
}

function tolerance(opts: { rtol?: number; atol?: number }): Tolerance {
  return { rtol: opts.rtol ?? DEFAULT_TOLERANCE.rtol, atol: opts.atol ?? DEFAULT_TOLERANCE.atol };
}

function printRewrites(rewrites: RewriteRecord[], io: CliIo): void {
  if (rewrites.length === 0) {
    io.stdout('rewrites: none\n');
    return;
  }
  io.stdout(`rewrites (${rewrites.length}):\n`);
  io.stdout(table(['kind', 'scope', 'detail'], rewrites.map((r) => [r.kind, r.scope || '-', r.detail])));
}

/** Feeds for a comparison: the npz (checked against the model) or seeded random inputs. */
async function comparisonFeeds(model: Model, npz: string | undefined, seed: number): Promise<{ feeds: Record<string, Tensor>; source: string }> {
  if (npz) {
    const feeds = await readFeeds(npz, []);
    checkFeeds(model.graph, feeds, npz);
    return { feeds, source: npz };
  }
  return { feeds: randomFeeds(model.graph, seed), source: `random (seed ${seed})` };
}

/** Feeds for the second model: same tensors, matched by name or else by position. */
function feedsFor(target: Model, source: Model, feeds: Record<string, Tensor>): Record<string, Tensor> {
  const want = target.graph.inputs.filter((i) => !target.graph.initializers.has(i.name)).map((i) => i.name);
  if (want.every((n) => n in feeds)) return Object.fromEntries(want.map((n) => [n, feeds[n]!]));
  const have = source.graph.inputs.filter((i) => !source.graph.initializers.has(i.name)).map((i) => i.name);
  if (have.length !== want.length) throw new RosettaError('E_PARITY', `the models take different inputs: ${have.join(', ')} vs ${want.join(', ')}`);
  return Object.fromEntries(want.map((n, i) => [n, feeds[have[i]!]!]));
}

/** Run both models on the same feeds and compare every output. */
export async function compareModels(a: Model, b: Model, feeds: Record<string, Tensor>, tol: Tolerance): Promise<OutputParity[]> {
  const ra = await runOnce(a.graph, feeds);
  const rb = await runOnce(b.graph, feedsFor(b, a, feeds));
  return compareOutputs(ra, rb, tol);
}

function compareWeightSets(a: WeightSet, b: WeightSet, tol: Tolerance): OutputParity[] {
  const rows: OutputParity[] = [];
  for (const [name, t] of a.tensors) {
    const u = b.tensors.get(name);
    rows.push(u ? compareTensors(name, t, u, tol) : { name, dtype: t.dtype, shape: [...t.shape], maxAbsError: NaN, maxRelError: NaN, mismatches: t.size, ok: false, problem: 'missing in the output' });
  }
  return rows;
}

/** The `convert` command. */
export async function convertCommand(input: string, output: string, opts: ConvertOptions, io: CliIo): Promise<number> {
  const tol = tolerance(opts);
  const loaded = await loadFile(input, { format: opts.from });
  const report: ConvertReport = { input, output, from: '', to: '', kind: loaded.kind, files: [], rewrites: [] };
  let ok = true;
  if (loaded.kind === 'model') {
    const model = loaded.model;
    report.from = model.sourceFormat ?? opts.from ?? '?';
    if (opts.optimize) {
      report.optimize = await optimizeGraph(model.graph);
      io.stdout(`optimize: folded ${report.optimize.folded} node(s), removed ${report.optimize.transposesRemoved} transpose(s), swept ${report.optimize.deadRemoved} dead node(s)/initializer(s)\n`);
    }
    const saved = await saveModel(model, output, { format: opts.to, opset: opts.opset });
    report.to = saved.format;
    report.files = saved.paths;
    report.rewrites = [...model.rewrites, ...saved.rewrites];
    io.stdout(`${input} (${report.from}) → ${output} (${saved.format}), ${saved.paths.length} file(s)\n`);
    printRewrites(report.rewrites, io);
    if (opts.verify) {
      // A fresh read of the source: the optimised/exported copy must not be its own reference.
      const source = await loadModel(input, { format: opts.from });
      const target = await loadModel(output, { format: saved.format });
      const { feeds, source: feedSource } = await comparisonFeeds(source, opts.inputs, opts.seed ?? 0);
      const rows = await compareModels(source, target, feeds, tol);
      ok = rows.every((r) => r.ok);
      report.verify = { inputs: feedSource, tolerance: tol, outputs: rows, ok };
      io.stdout(`verify on ${feedSource}:\n${parityTable(rows, tol)}`);
    }
  } else {
    const w = loaded.weights;
    report.from = w.format;
    const saved = await saveWeights(w, output, { format: opts.to, opset: opts.opset });
    report.to = saved.format;
    report.files = saved.paths;
    report.rewrites = saved.rewrites;
    io.stdout(`${input} (${w.format}, ${w.tensors.size} tensors) → ${output} (${saved.format})\n`);
    printRewrites(report.rewrites, io);
    if (opts.verify) {
      const back = await loadFile(output, { format: saved.format });
      if (back.kind !== 'weights') throw new RosettaError('E_INTERNAL', `${output} did not read back as weights`);
      const rows = compareWeightSets(w, back.weights, tol);
      ok = rows.every((r) => r.ok);
      report.verify = { inputs: 'weights compared tensor by tensor', tolerance: tol, outputs: rows, ok };
      io.stdout(`verify (tensor by tensor):\n${parityTable(rows, tol)}`);
    }
  }
  if (opts.report) await writeFileAt(opts.report, new TextEncoder().encode(JSON.stringify(report, null, 2) + '\n'));
  if (!ok) io.stderr(`E_PARITY: outputs differ beyond tolerance (rtol ${tol.rtol}, atol ${tol.atol})\n`);
  return ok ? 0 : 1;
}

export interface ParityOptions {
  inputs?: string;
  rtol?: number;
  atol?: number;
  json?: boolean;
  seed?: number;
}

/** The `parity` command. */
export async function parityCommand(a: string, b: string, opts: ParityOptions, io: CliIo): Promise<number> {
  const tol = tolerance(opts);
  const ma = await loadModel(a);
  const mb = await loadModel(b);
  const { feeds, source } = await comparisonFeeds(ma, opts.inputs, opts.seed ?? 0);
  const rows = await compareModels(ma, mb, feeds, tol);
  const ok = rows.every((r) => r.ok);
  if (opts.json) io.stdout(JSON.stringify({ a, b, inputs: source, tolerance: tol, outputs: rows, ok }, null, 2) + '\n');
  else io.stdout(`${a} vs ${b} on ${source}:\n${parityTable(rows, tol)}`);
  if (!ok) io.stderr(`E_PARITY: outputs differ beyond tolerance (rtol ${tol.rtol}, atol ${tol.atol})\n`);
  return ok ? 0 : 1;
}
