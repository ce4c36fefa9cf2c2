/**
 * `rosetta convert IN OUT` and `rosetta parity A B`.
 *
 * `convert` reads any registered format (magic bytes, then extension; `--from` overrides), writes
 * any registered exporter's format (`--to` or the output extension), prints every rewrite the
 * importer and exporter recorded, and with `--verify` re-reads the written file and runs source
 * and target on the same inputs (`--inputs X.npz` or seeded random ones fitting the declared
 * inputs), printing per-output errors and exiting 1 beyond tolerance. `parity` is the same
 * comparison for two existing files.
 *
 * A weights-only input (state dict, safetensors, weights-only `.h5`) is bound to `--arch FILE`
 * structurally (src/convert/binding.ts, `--map` rules first, `--partial` to allow missing ones)
 * and the binding report is printed and stored. `--per-layer` also compares the intermediate
 * outputs of layers matched by scope and names the first that diverges.
 */
import { bindWeights, type BindingReport } from '../convert/binding.js';
import { compareLayers, type LayerReport } from '../convert/per-layer.js';
import { RosettaError } from '../ir/errors.js';
import type { Model, RewriteRecord } from '../ir/graph.js';
import { optimizeGraph, type OptimizeReport } from '../ir/passes.js';
import type { Tensor } from '../ir/tensor.js';
import type { FormatName, ImportResult, WeightSet } from '../importers/types.js';
import { loadFile, loadModel, saveModel, saveWeights, writeFileAt } from '../node/model-io.js';
import { DEFAULT_TOLERANCE, compareOutputs, compareTensors, parityTable, runOnce, type OutputParity, type Tolerance } from './compare.js';
import { isTensor } from '../runtime/value.js';
import { checkFeeds, randomFeeds, readFeeds } from './feeds.js';
import { formatNumber, table, type CliIo } from './io.js';

export interface ConvertOptions {
  from?: FormatName;
  /** Entry of a checkpoint to take the weights from (`state_dict`, `model.ema`). */
  key?: string;
  to?: FormatName;
  opset?: number;
  verify?: boolean;
  rtol?: number;
  atol?: number;
  inputs?: string;
  report?: string;
  optimize?: boolean;
  seed?: number;
  /** Architecture for a weights-only input. */
  arch?: string;
  /** `regex=replacement` key renames applied before binding. */
  map?: string[];
  /** Allow architecture parameters without weights (they keep the architecture's values). */
  partial?: boolean;
  /** `--keras-data-format`: see BindOptions.kerasDataFormat. */
  kerasDataFormat?: 'channels_last' | 'channels_first';
  /** Fall back to documented generic forms where the target lacks a layer. */
  allowCustom?: boolean;
  /** With --verify: compare intermediate layer outputs matched by scope. */
  perLayer?: boolean;
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
  /** How a weights-only input was bound to `--arch`. */
  binding?: BindingReport;
  verify?: { inputs: string; tolerance: Tolerance; outputs: OutputParity[]; ok: boolean; perLayer?: LayerReport; targetBinding?: BindingReport };
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

/** Binding summary lines (the full lists go to --report). */
function printBinding(r: BindingReport, io: CliIo): void {
  io.stdout(`binding: ${r.applied.length} applied, ${r.transformed.length} transformed, ${r.missing.length} missing, ${r.unused.length} unused${r.renamed.length ? `, ${r.renamed.length} renamed by --map` : ''}\n`);
  if (r.transformed.length) io.stdout(table(['parameter', 'from', 'transform'], r.transformed.map((t) => [t.target, t.sources.join(' + '), t.transform])));
  if (r.missing.length) io.stdout(table(['missing parameter', 'layer', 'shape'], r.missing.map((m) => [m.target, m.layer, `[${m.shape.join(',')}]`])));
  if (r.unused.length) io.stdout(table(['unused tensor', 'shape', 'reason'], r.unused.map((u) => [u.source, `[${u.shape.join(',')}]`, u.reason ?? ''])));
}

/** Options that turn a weights-only file into a model. */
interface ArchOptions {
  format?: FormatName;
  arch?: string;
  map?: string[];
  partial?: boolean;
  /** `--keras-data-format`: see BindOptions.kerasDataFormat. */
  kerasDataFormat?: 'channels_last' | 'channels_first';
}

/**
 * Read `path` as a model. A weights-only file is bound to `--arch` or, failing that, to
 * `fallbackArch` (the other model of a comparison); without either it is a usage error.
 */
export async function loadAsModel(path: string, opts: ArchOptions, fallbackArch?: Model): Promise<{ model: Model; binding?: BindingReport }> {
  const r = await loadFile(path, { format: opts.format });
  if (r.kind === 'model') return { model: r.model };
  const arch = opts.arch ? await loadModel(opts.arch) : fallbackArch;
  if (!arch) throw new RosettaError('E_USAGE', `${path} holds weights only (${r.weights.format}): give the architecture with --arch FILE`, { where: { file: path }, hint: 'any full model file with the same layers works: .onnx, a Keras model, tfjs model.json' });
  const { model, report } = bindWeights(arch, r.weights, { map: opts.map, partial: opts.partial, kerasDataFormat: opts.kerasDataFormat });
  model.sourceFormat = r.weights.format;
  return { model, binding: report };
}

/** Run both models on the same feeds and compare every output. */
export async function compareModels(a: Model, b: Model, feeds: Record<string, Tensor>, tol: Tolerance, explicit: { rtol?: number; atol?: number } = tol): Promise<OutputParity[]> {
  const ra = await runOnce(a.graph, feeds);
  const rb = await runOnce(b.graph, feedsFor(b, a, feeds));
  const rows = compareOutputs(ra, rb, tol);
  // Without --rtol/--atol the tolerance follows each output's dtype (float16 looser, ints exact).
  return rows.map((row) => {
    const t = { rtol: explicit.rtol ?? dtypeTolerance(row.dtype).rtol, atol: explicit.atol ?? dtypeTolerance(row.dtype).atol };
    const x = ra[row.name];
    const y = rb[row.otherName ?? row.name];
    if ((t.rtol === tol.rtol && t.atol === tol.atol) || !x || !y || !isTensor(x) || !isTensor(y)) return row;
    const again = compareTensors(row.name, x, y, t);
    return { ...(row.otherName ? { ...again, otherName: row.otherName } : again), tolerance: t };
  });
}

/**
 * Default tolerance by dtype: float32 reordering noise passes (1e-4/1e-5), half precision gets
 * its ~3 significant digits, float64 its ~15, and integers, bools and strings must be exact.
 */
export function dtypeTolerance(dtype: string): Tolerance {
  if (dtype === 'float32' || dtype === 'complex64') return DEFAULT_TOLERANCE;
  if (dtype === 'float64' || dtype === 'complex128') return { rtol: 1e-7, atol: 1e-9 };
  if (dtype === 'float16' || dtype === 'bfloat16') return { rtol: 1e-2, atol: 1e-3 };
  if (dtype.startsWith('float8')) return { rtol: 1.25e-1, atol: 1e-2 };
  return { rtol: 0, atol: 0 };
}

/** Rows checked with a dtype tolerance other than the table's: say so under the table. */
function toleranceNotes(rows: (OutputParity & { tolerance?: Tolerance })[]): string {
  return rows
    .filter((r) => r.tolerance)
    .map((r) => `  ${r.name}: ${r.dtype} tolerance rtol ${r.tolerance!.rtol}, atol ${r.tolerance!.atol}\n`)
    .join('');
}

function compareWeightSets(a: WeightSet, b: WeightSet, tol: Tolerance): OutputParity[] {
  const rows: OutputParity[] = [];
  for (const [name, t] of a.tensors) {
    const u = b.tensors.get(name);
    rows.push(u ? compareTensors(name, t, u, tol) : { name, dtype: t.dtype, shape: [...t.shape], maxAbsError: NaN, maxRelError: NaN, mismatches: t.size, ok: false, problem: 'missing in the output' });
  }
  return rows;
}

function printLayers(r: LayerReport, tol: Tolerance, io: CliIo): void {
  io.stdout(`per layer (${r.layers.length} matched by scope, ${r.notCompared.length} not comparable):\n`);
  io.stdout(table(['layer', 'shape', 'max abs err', 'max rel err', `ok (rtol ${tol.rtol}, atol ${tol.atol})`], r.layers.map((l) => [l.scope, `[${l.shape.join(',')}]`, formatNumber(l.maxAbsError), formatNumber(l.maxRelError), l.ok ? 'yes' : `NO (${l.mismatches} elements)`])));
  io.stdout(r.firstDivergence === undefined ? 'per layer: no layer diverges\n' : `per layer: first divergence at layer '${r.firstDivergence}'\n`);
}

/** The `convert` command. */
export async function convertCommand(input: string, output: string, opts: ConvertOptions, io: CliIo): Promise<number> {
  const tol = tolerance(opts);
  const file = await loadFile(input, { format: opts.from, key: opts.key });
  const archOpts: ArchOptions = { format: opts.from, arch: opts.arch, map: opts.map, partial: opts.partial, kerasDataFormat: opts.kerasDataFormat };
  let binding: BindingReport | undefined;
  let loaded: ImportResult = file;
  if (file.kind === 'weights' && opts.arch) {
    const bound = await loadAsModel(input, archOpts);
    binding = bound.binding;
    loaded = { kind: 'model', model: bound.model };
    io.stdout(`${input}: ${file.weights.tensors.size} tensors bound to the architecture of ${opts.arch}\n`);
    printBinding(binding!, io);
  }
  const report: ConvertReport = { input, output, from: '', to: '', kind: loaded.kind, files: [], rewrites: [], binding };
  let ok = true;
  if (loaded.kind === 'model') {
    const model = loaded.model;
    report.from = model.sourceFormat ?? opts.from ?? '?';
    if (opts.optimize) {
      report.optimize = await optimizeGraph(model.graph);
      io.stdout(`optimize: folded ${report.optimize.folded} node(s), removed ${report.optimize.transposesRemoved} transpose(s), swept ${report.optimize.deadRemoved} dead node(s)/initializer(s)\n`);
    }
    const saved = await saveModel(model, output, { format: opts.to, opset: opts.opset, allowCustom: opts.allowCustom });
    report.to = saved.format;
    report.files = saved.paths;
    report.rewrites = [...model.rewrites, ...saved.rewrites];
    io.stdout(`${input} (${report.from}) → ${output} (${saved.format}), ${saved.paths.length} file(s)\n`);
    printRewrites(report.rewrites, io);
    if (opts.verify) {
      // A fresh read of the source: the optimised/exported copy must not be its own reference.
      const { model: source } = await loadAsModel(input, archOpts);
      // A weights-only output (.pt, .safetensors) is checked on the source's own architecture.
      const { model: target, binding: targetBinding } = await loadAsModel(output, { format: saved.format }, source);
      if (targetBinding) io.stdout(`verify: ${output} holds weights only; bound back onto the source architecture (${targetBinding.applied.length} applied, ${targetBinding.transformed.length} transformed)\n`);
      const { feeds, source: feedSource } = await comparisonFeeds(source, opts.inputs, opts.seed ?? 0);
      const rows = await compareModels(source, target, feeds, tol, opts);
      ok = rows.every((r) => r.ok);
      report.verify = { inputs: feedSource, tolerance: tol, outputs: rows, ok, targetBinding };
      io.stdout(`verify on ${feedSource}:\n${parityTable(rows, tol)}${toleranceNotes(rows)}`);
      if (opts.perLayer) {
        const layers = await compareLayers(source.graph, target.graph, feeds, feedsFor(target, source, feeds), tol);
        report.verify.perLayer = layers;
        printLayers(layers, tol, io);
      }
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
  arch?: string;
  map?: string[];
  partial?: boolean;
  /** `--keras-data-format`: see BindOptions.kerasDataFormat. */
  kerasDataFormat?: 'channels_last' | 'channels_first';
  perLayer?: boolean;
  inputs?: string;
  rtol?: number;
  atol?: number;
  json?: boolean;
  seed?: number;
}

/** The `parity` command. */
export async function parityCommand(a: string, b: string, opts: ParityOptions, io: CliIo): Promise<number> {
  const tol = tolerance(opts);
  const archOpts: ArchOptions = { arch: opts.arch, map: opts.map, partial: opts.partial, kerasDataFormat: opts.kerasDataFormat };
  // Either side may be a weights file: it takes --arch, or else the other side's architecture.
  const fa = await loadFile(a);
  let ma: Model;
  let mb: Model;
  if (fa.kind === 'weights' && !opts.arch) {
    mb = (await loadAsModel(b, archOpts)).model;
    ma = (await loadAsModel(a, archOpts, mb)).model;
  } else {
    ma = (await loadAsModel(a, archOpts)).model;
    mb = (await loadAsModel(b, archOpts, ma)).model;
  }
  const { feeds, source } = await comparisonFeeds(ma, opts.inputs, opts.seed ?? 0);
  const rows = await compareModels(ma, mb, feeds, tol, opts);
  const ok = rows.every((r) => r.ok);
  const perLayer = opts.perLayer ? await compareLayers(ma.graph, mb.graph, feeds, feedsFor(mb, ma, feeds), tol) : undefined;
  if (opts.json) io.stdout(JSON.stringify({ a, b, inputs: source, tolerance: tol, outputs: rows, ok, perLayer }, null, 2) + '\n');
  else {
    io.stdout(`${a} vs ${b} on ${source}:\n${parityTable(rows, tol)}${toleranceNotes(rows)}`);
    if (perLayer) printLayers(perLayer, tol, io);
  }
  if (!ok) io.stderr(`E_PARITY: outputs differ beyond tolerance (rtol ${tol.rtol}, atol ${tol.atol})\n`);
  return ok ? 0 : 1;
}
