/**
 * `npm run conformance`: the ONNX backend-test suites from Debian's libonnx-testdata (`node`,
 * `pytorch-converted`, `pytorch-operator`, `simple`) run in Rosetta and, in the same run, in
 * onnxruntime-node, with per-suite `passed/total` printed side by side.
 *
 * Each Rosetta case runs in a worker thread with a time limit (a stuck kernel is terminated, the
 * case fails with a timeout and the run goes on). Percentages are over all cases; excluded cases
 * (test/conformance/exclusions.json, each with its reason) count as not passed and are reported
 * separately. Writes `conformance-failures.txt` (case and reason per line) and
 * `conformance-summary.json`. Exits 0 unless the runner itself breaks: the pass-rate floors are
 * asserted by test/conformance/conformance.test.ts.
 *
 * Options: --filter REGEX (case names, case-insensitive), --suite NAME (repeatable or comma list),
 * --quiet, --list-failures, --no-ort, --timeout SECONDS (default 20), --jobs N (default 1),
 * --in-process (no worker: easier debugging, no hard timeout), --out DIR (default: cwd).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Command } from 'commander';
import { Tensor } from '../src/ir/tensor.js';
import type { DType } from '../src/ir/dtype.js';
import { isTensor } from '../src/runtime/value.js';
import { compareValues, listCases, loadCase, runRosettaCase, SUITES, TESTDATA_DIR, type CaseResult } from './conformance-case.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const EXCLUSIONS_FILE = resolve(HERE, '..', 'test', 'conformance', 'exclusions.json');

export interface ConformanceOptions {
  suites?: string[];
  filter?: RegExp;
  ort?: boolean;
  timeoutMs?: number;
  jobs?: number;
  inProcess?: boolean;
  /** Called once per finished case (progress output). */
  onCase?: (suite: string, name: string, rosetta: CaseResult | 'excluded', ort: CaseResult | undefined) => void;
}

export interface SuiteSummary {
  total: number;
  excluded: number;
  rosetta: number;
  ort: number | null;
}

export interface ConformanceSummary {
  suites: Record<string, SuiteSummary>;
  failures: { suite: string; name: string; status: string; reason: string }[];
  ortFailures: { suite: string; name: string; reason: string }[];
  exclusions: Record<string, string>;
  ms: number;
}

export function loadExclusions(): Record<string, string> {
  return JSON.parse(readFileSync(EXCLUSIONS_FILE, 'utf8')) as Record<string, string>;
}

/* ----------------------------------------------------------------------------------------------
 * Rosetta cases in worker threads, with a hard time limit
 * -------------------------------------------------------------------------------------------- */

class CaseWorker {
  private worker!: Worker;
  private ready!: Promise<void>;
  private next = 0;
  private pending = new Map<number, (r: CaseResult) => void>();

  constructor() {
    this.spawn();
  }

  private spawn(): void {
    this.worker = new Worker(new URL('./conformance-worker-boot.mjs', import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: 3072 } });
    this.ready = new Promise((res, rej) => {
      const onMsg = (m: { ready?: boolean }): void => {
        if (m.ready) {
          this.worker.off('message', onMsg);
          res();
        }
      };
      this.worker.on('message', onMsg);
      this.worker.once('error', rej);
    });
    this.worker.on('message', (m: { id?: number; result?: CaseResult }) => {
      if (m.id === undefined) return;
      const cb = this.pending.get(m.id);
      this.pending.delete(m.id);
      cb?.(m.result!);
    });
    const w = this.worker;
    const fail = (reason: string): void => {
      if (w !== this.worker) return;
      for (const cb of this.pending.values()) cb({ status: 'error', reason, ms: 0 });
      this.pending.clear();
    };
    w.on('error', (e) => fail(`worker crashed: ${e instanceof Error ? e.message : String(e)}`.slice(0, 300)));
    w.on('exit', (code) => fail(`worker exited with code ${code}`));
  }

  async run(dir: string, timeoutMs: number): Promise<CaseResult> {
    try {
      await this.ready;
    } catch (e) {
      this.spawn();
      return { status: 'error', reason: `worker failed to start: ${String(e)}`, ms: 0 };
    }
    const id = this.next++;
    let timer: NodeJS.Timeout | undefined;
    const result = await new Promise<CaseResult>((res) => {
      this.pending.set(id, res);
      timer = setTimeout(() => {
        this.pending.delete(id);
        res({ status: 'error', reason: `timeout: no result within ${timeoutMs / 1000} s`, ms: timeoutMs });
      }, timeoutMs);
      this.worker.postMessage({ id, dir });
    });
    clearTimeout(timer);
    if (result.reason?.startsWith('timeout') || result.reason?.startsWith('worker ')) {
      const old = this.worker;
      this.spawn();
      void old.terminate();
    }
    return result;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined as unknown as Worker;
    await w.terminate();
  }
}

/* ----------------------------------------------------------------------------------------------
 * onnxruntime-node on the same cases
 * -------------------------------------------------------------------------------------------- */

type Ort = typeof import('onnxruntime-node');
let ortModule: Promise<Ort | undefined> | undefined;

export function loadOrt(): Promise<Ort | undefined> {
  ortModule ??= import('onnxruntime-node').then(
    (m) => ((m as unknown as { default?: Ort }).default ?? m) as Ort,
    () => undefined,
  );
  return ortModule;
}

const ORT_TYPES: Partial<Record<DType, string>> = {
  float32: 'float32', float64: 'float64', float16: 'float16', int8: 'int8', int16: 'int16', int32: 'int32', int64: 'int64',
  uint8: 'uint8', uint16: 'uint16', uint32: 'uint32', uint64: 'uint64', bool: 'bool', string: 'string',
};

export function toOrtTensor(ort: Ort, t: Tensor): import('onnxruntime-node').Tensor {
  const type = ORT_TYPES[t.dtype];
  if (!type) throw new Error(`onnxruntime-node JS API has no ${t.dtype} tensors`);
  return new ort.Tensor(type as 'float32', t.data as Float32Array, t.shape.slice());
}

export function fromOrtTensor(o: import('onnxruntime-node').Tensor): Tensor {
  const back = Object.entries(ORT_TYPES).find(([, v]) => v === o.type)?.[0] as DType | undefined;
  if (!back) throw new Error(`onnxruntime-node returned a ${o.type} tensor`);
  let data = o.data as Tensor['data'];
  if (back === 'float16' && !(data instanceof Uint16Array)) data = new Uint16Array((data as unknown as { buffer: ArrayBuffer }).buffer);
  if (back === 'bool' && !(data instanceof Uint8Array)) data = Uint8Array.from(data as unknown as ArrayLike<number>, (v) => (v ? 1 : 0));
  return new Tensor(back, o.dims.map(Number), data);
}

export async function runOrtCase(dir: string): Promise<CaseResult> {
  const t0 = performance.now();
  const ort = await loadOrt();
  if (!ort) return { status: 'error', reason: 'onnxruntime-node is not installed', ms: 0 };
  try {
    const c = await loadCase(dir);
    const session = await ort.InferenceSession.create(join(dir, 'model.onnx'), { logSeverityLevel: 4 });
    try {
      for (const ds of c.dataSets) {
        const feeds: Record<string, import('onnxruntime-node').Tensor> = {};
        for (const [name, v] of Object.entries(ds.inputs)) {
          if (!isTensor(v)) throw new Error(`input '${name}' is a ${v.kind}; onnxruntime-node's JS API feeds tensors only`);
          feeds[name] = toOrtTensor(ort, v);
        }
        const out = await session.run(feeds);
        for (let i = 0; i < ds.outputs.length; i++) {
          const name = session.outputNames[i]!;
          const o = out[name];
          const r = compareValues(o ? fromOrtTensor(o) : undefined, ds.outputs[i]!, `output '${name}'`);
          if (r) return { status: 'fail', reason: r, ms: performance.now() - t0 };
        }
      }
    } finally {
      await session.release();
    }
    return { status: 'pass', ms: performance.now() - t0 };
  } catch (e) {
    return { status: 'error', reason: (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 300), ms: performance.now() - t0 };
  }
}

/* ----------------------------------------------------------------------------------------------
 * The run
 * -------------------------------------------------------------------------------------------- */

export async function runConformance(opts: ConformanceOptions = {}): Promise<ConformanceSummary> {
  const t0 = performance.now();
  const exclusions = loadExclusions();
  const suites = opts.suites ?? [...SUITES];
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const useOrt = opts.ort ?? true;
  const jobs = Math.max(1, opts.jobs ?? 1);
  const workers = opts.inProcess ? [] : Array.from({ length: jobs }, () => new CaseWorker());
  const summary: ConformanceSummary = { suites: {}, failures: [], ortFailures: [], exclusions: {}, ms: 0 };
  try {
    for (const suite of suites) {
      const cases = listCases(suite).filter((c) => !opts.filter || opts.filter.test(c));
      const s: SuiteSummary = { total: cases.length, excluded: 0, rosetta: 0, ort: useOrt ? 0 : null };
      summary.suites[suite] = s;
      let nextIndex = 0;
      const lane = async (w: CaseWorker | undefined): Promise<void> => {
        while (nextIndex < cases.length) {
          const name = cases[nextIndex++]!;
          const dir = join(TESTDATA_DIR, suite, name);
          const reasonExcluded = exclusions[name] ?? exclusions[`${suite}/${name}`];
          const [rosetta, ort] = await Promise.all([
            reasonExcluded ? Promise.resolve('excluded' as const) : w ? w.run(dir, timeoutMs) : runRosettaCase(dir),
            useOrt ? runOrtCase(dir) : Promise.resolve(undefined),
          ]);
          if (rosetta === 'excluded') {
            s.excluded++;
            summary.exclusions[`${suite}/${name}`] = reasonExcluded!;
          } else if (rosetta.status === 'pass') s.rosetta++;
          else summary.failures.push({ suite, name, status: rosetta.status, reason: rosetta.reason ?? '' });
          if (ort?.status === 'pass') s.ort!++;
          else if (ort) summary.ortFailures.push({ suite, name, reason: ort.reason ?? '' });
          opts.onCase?.(suite, name, rosetta, ort);
        }
      };
      await Promise.all(opts.inProcess ? [lane(undefined)] : workers.map((w) => lane(w)));
    }
  } finally {
    await Promise.all(workers.map((w) => w.close()));
  }
  summary.ms = performance.now() - t0;
  return summary;
}

const pct = (a: number, b: number): string => (b ? `${((100 * a) / b).toFixed(1)}%` : '-');

export function summaryLines(summary: ConformanceSummary): string[] {
  const lines: string[] = [];
  for (const [suite, s] of Object.entries(summary.suites)) {
    const r = `rosetta ${s.rosetta}/${s.total} (${pct(s.rosetta, s.total)})`;
    const o = s.ort === null ? 'onnxruntime-node not run' : `onnxruntime-node ${s.ort}/${s.total} (${pct(s.ort, s.total)})`;
    lines.push(`${suite.padEnd(18)} ${r.padEnd(30)} ${o.padEnd(38)} excluded ${s.excluded}`);
  }
  return lines;
}

async function main(): Promise<void> {
  const program = new Command()
    .name('conformance')
    .description('Run the ONNX backend-test suites in Rosetta and onnxruntime-node')
    .option('--filter <regex>', 'only cases whose name matches (case-insensitive)')
    .option('--suite <names...>', `suites to run (${SUITES.join(', ')})`)
    .option('--quiet', 'print only the summary')
    .option('--list-failures', 'print every failing case with its reason')
    .option('--no-ort', 'do not run onnxruntime-node')
    .option('--timeout <seconds>', 'time limit per case', '20')
    .option('--jobs <n>', 'worker threads', '1')
    .option('--in-process', 'run cases in this thread (debugging; no hard timeout)')
    .option('--out <dir>', 'where to write conformance-failures.txt and conformance-summary.json', process.cwd());
  program.parse();
  const o = program.opts<{ filter?: string; suite?: string[]; quiet?: boolean; listFailures?: boolean; ort: boolean; timeout: string; jobs: string; inProcess?: boolean; out: string }>();
  const suites = o.suite?.flatMap((s) => s.split(',')).filter(Boolean);
  for (const s of suites ?? []) if (!(SUITES as readonly string[]).includes(s)) throw new Error(`unknown suite '${s}' (known: ${SUITES.join(', ')})`);
  const summary = await runConformance({
    suites,
    filter: o.filter ? new RegExp(o.filter, 'i') : undefined,
    ort: o.ort,
    timeoutMs: Number(o.timeout) * 1000,
    jobs: Number(o.jobs),
    inProcess: o.inProcess,
    onCase: (suite, name, r) => {
      if (o.quiet || r === 'excluded' || r.status === 'pass') return;
      if (!o.listFailures) process.stdout.write(`  ${r.status.toUpperCase().padEnd(5)} ${suite}/${name}: ${r.reason}\n`);
    },
  });
  const failLines = summary.failures.map((f) => `${f.suite}/${f.name}\t${f.status}\t${f.reason}`);
  writeFileSync(join(o.out, 'conformance-failures.txt'), failLines.join('\n') + (failLines.length ? '\n' : ''));
  writeFileSync(join(o.out, 'conformance-summary.json'), JSON.stringify(summary, null, 2) + '\n');
  if (o.listFailures) for (const l of failLines) console.log(l);
  console.log(`ONNX backend tests (${TESTDATA_DIR}), rtol 1e-3 atol 1e-7, ${(summary.ms / 1000).toFixed(1)} s`);
  for (const l of summaryLines(summary)) console.log(l);
  console.log(`failures: ${join(o.out, 'conformance-failures.txt')} (${summary.failures.length}); excluded cases: ${Object.keys(summary.exclusions).length} (test/conformance/exclusions.json)`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.stack ?? e.message : String(e));
    process.exit(2);
  });
}
