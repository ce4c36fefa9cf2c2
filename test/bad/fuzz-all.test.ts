/**
 * Cross-format hostile-input fuzzing through the public entry points the CLI uses.
 *
 * Rosetta's rule (docs/decisions.md, GUIDE "untrusted input"): every reader returns a model or
 * throws a `RosettaError` with a stable code and a message naming the file. Each format's own
 * tests build targeted hostile cases; this file instead takes real seed files of every format
 * (third-party corpus, the project's fixtures, a sample of Debian's ONNX conformance models),
 * applies seeded mutations (truncation at every power-of-two length and at random lengths, byte
 * flips, zeroed ranges, 32-bit fields set to 0xFFFFFFFF, duplicated chunks, appended garbage) and
 * feeds each result through `detectFormat` + `importFile`, with a `readSibling` that serves
 * mutated sidecars (tfjs shards) too. A successful import goes on through `Session.create`, one
 * `run` on seeded inputs fitting the declared shapes, and the ONNX exporter.
 *
 * Asserted per case: any failure is a RosettaError whose code is in the `ErrorCode` list (read
 * from src/ir/errors.ts so the list cannot drift) and, for import failures, whose message names
 * the file; nothing else escapes; each case stays inside a time budget and below an RSS growth
 * bound. Seeds are kept small (< 2 MB) so the whole file runs in well under a minute on the
 * 2-core machine. The mutation stream is deterministic (mulberry32), so a failure reproduces with
 * the printed case label.
 */
import { appendFileSync, readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectFormat, importFile } from '../../src/importers/index.js';
import type { FileSource, ImportResult } from '../../src/importers/types.js';
import { readNpy, readNpz } from '../../src/formats/npy.js';
import { isRosettaError } from '../../src/ir/errors.js';
import { Session, seededRandom } from '../../src/runtime/session.js';
import { randomFeeds } from '../../src/cli/feeds.js';
import { getExporter } from '../../src/exporters/index.js';
import { CORPUS_DIR, HAS_CORPUS, PROJECT_ROOT } from '../helpers/corpus.js';

/** Mutated variants generated per seed file (the total is reported by the last test). */
export const MUTATIONS_PER_SEED = Number(process.env.FUZZ_MUTATIONS ?? 24);
/** Wall-clock budget for one case (import + run + export), in ms. */
const CASE_BUDGET_MS = 5_000;
/** RSS growth allowed for one case, in bytes: far below what an unchecked declared size would ask. */
const RSS_GROWTH_LIMIT = 512 * 1024 * 1024;
/** Seeds bigger than this are skipped so the file stays fast. */
const MAX_SEED_BYTES = 2 * 1024 * 1024;
/** How many Debian ONNX conformance models to sample (evenly spaced over the sorted list). */
const ONNX_SUITE_SAMPLE = 24;
const ONNX_SUITE_DIR = '/usr/share/libonnx-testdata/data/node';

/** The codes of the ErrorCode union, parsed from its source so a new code is picked up. */
const ERROR_CODES: ReadonlySet<string> = new Set(
  [...readFileSync(join(PROJECT_ROOT, 'src/ir/errors.ts'), 'utf8').split('export type ErrorCode')[1]!.split(';')[0]!.matchAll(/'(E_[A-Z_]+)'/g)].map((m) => m[1]!),
);

interface Seed {
  /** Display name (also used as the FileSource name that messages must include). */
  name: string;
  bytes: Uint8Array;
  /** Sidecar files served by readSibling (relative name → bytes). */
  siblings: Map<string, Uint8Array>;
  /** How to read it: the model registry, or the npy/npz readers the CLI uses for feeds. */
  kind: 'model' | 'npy' | 'npz';
}

function read(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path));
}

function filesIn(dir: string, exts: string[]): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => exts.some((e) => f.endsWith(e)))
    .map((f) => join(dir, f))
    .filter((p) => statSync(p).isFile() && statSync(p).size <= MAX_SEED_BYTES)
    .sort();
}

function modelSeed(path: string, label: string): Seed {
  return { name: label, bytes: read(path), siblings: new Map(), kind: 'model' };
}

function collectSeeds(): Seed[] {
  const seeds: Seed[] = [];
  for (const p of filesIn(join(PROJECT_ROOT, 'fixtures/models'), ['.onnx'])) seeds.push(modelSeed(p, `fixtures/${basename(p)}`));
  for (const p of filesIn(join(PROJECT_ROOT, 'fixtures/pytorch'), ['.pt'])) seeds.push(modelSeed(p, `fixtures/${basename(p)}`));
  const npy = filesIn(join(PROJECT_ROOT, 'fixtures/npy'), ['.npy']).filter((_, i) => i % 4 === 0);
  for (const p of npy) seeds.push({ name: `fixtures/${basename(p)}`, bytes: read(p), siblings: new Map(), kind: 'npy' });
  for (const p of filesIn(join(PROJECT_ROOT, 'fixtures/npy'), ['.npz'])) seeds.push({ name: `fixtures/${basename(p)}`, bytes: read(p), siblings: new Map(), kind: 'npz' });
  if (existsSync(ONNX_SUITE_DIR)) {
    const dirs = readdirSync(ONNX_SUITE_DIR).sort();
    const step = Math.max(1, Math.floor(dirs.length / ONNX_SUITE_SAMPLE));
    for (let i = 0; i < dirs.length && seeds.length < 1000; i += step) {
      const p = join(ONNX_SUITE_DIR, dirs[i]!, 'model.onnx');
      if (existsSync(p)) seeds.push(modelSeed(p, `onnx-suite/${dirs[i]}.onnx`));
    }
  }
  if (HAS_CORPUS) {
    const pt = filesIn(join(CORPUS_DIR, 'pytorch'), ['.pt', '.pth']).filter((p) => !p.endsWith('mnist.pt'));
    for (const p of pt) seeds.push(modelSeed(p, `corpus/${basename(p)}`));
    for (const p of filesIn(join(CORPUS_DIR, 'safetensors'), ['.safetensors'])) seeds.push(modelSeed(p, `corpus/${basename(p)}`));
    const h5 = filesIn(join(CORPUS_DIR, 'keras'), ['_model.h5', 'tfkeras_mlp_0.h5', 'tfkeras_rnn_0.h5', 'cnn_batch_norm.h5']).filter((_, i) => i % 2 === 0);
    for (const p of h5) seeds.push(modelSeed(p, `corpus/${basename(p)}`));
    const cfg = join(CORPUS_DIR, 'keras/simple_lstm_tf_keras_2_config.json');
    if (existsSync(cfg)) seeds.push(modelSeed(cfg, 'corpus/simple_lstm_tf_keras_2_config.json'));
    const tfjs = join(CORPUS_DIR, 'tfjs/embedding_gru');
    if (existsSync(join(tfjs, 'model.json'))) {
      seeds.push({ name: 'corpus/embedding_gru/model.json', bytes: read(join(tfjs, 'model.json')), siblings: new Map([['weights.bin', read(join(tfjs, 'weights.bin'))]]), kind: 'model' });
    }
  }
  return seeds;
}

/** One mutated input: label, main bytes, sidecars. */
interface Case {
  label: string;
  seed: Seed;
  bytes: Uint8Array;
  siblings: Map<string, Uint8Array>;
}

function mutate(bytes: Uint8Array, rnd: () => number, i: number): { what: string; out: Uint8Array } {
  const n = bytes.length;
  const at = (): number => Math.floor(rnd() * Math.max(1, n));
  // First every power-of-two truncation below the length, then random mutations.
  const pows: number[] = [];
  for (let p = 1; p < n; p *= 2) pows.push(p);
  if (i < pows.length) return { what: `truncate@${pows[i]}`, out: bytes.slice(0, pows[i]) };
  const kind = Math.floor(rnd() * 6);
  const out = new Uint8Array(bytes);
  switch (kind) {
    case 0: {
      const len = at();
      return { what: `truncate@${len}`, out: bytes.slice(0, len) };
    }
    case 1: {
      const k = 1 + Math.floor(rnd() * 8);
      const where: number[] = [];
      for (let j = 0; j < k && n > 0; j++) {
        const p = at();
        out[p] = out[p]! ^ (1 << Math.floor(rnd() * 8));
        where.push(p);
      }
      return { what: `flip@${where.join(',')}`, out };
    }
    case 2: {
      const s = at();
      const len = 1 + Math.floor(rnd() * 64);
      out.fill(0, s, Math.min(n, s + len));
      return { what: `zero@${s}+${len}`, out };
    }
    case 3: {
      const p = Math.max(0, Math.min(n - 4, at() & ~3));
      if (n >= 4) new DataView(out.buffer).setUint32(p, 0xffffffff, true);
      return { what: `ffffffff@${p}`, out };
    }
    case 4: {
      const s = at();
      const len = 1 + Math.floor(rnd() * 256);
      const chunk = bytes.slice(s, Math.min(n, s + len));
      const d = at();
      const r = new Uint8Array(n + chunk.length);
      r.set(bytes.subarray(0, d), 0);
      r.set(chunk, d);
      r.set(bytes.subarray(d), d + chunk.length);
      return { what: `dup@${s}+${chunk.length}->${d}`, out: r };
    }
    default: {
      const len = 1 + Math.floor(rnd() * 64);
      const r = new Uint8Array(n + len);
      r.set(bytes, 0);
      for (let j = n; j < r.length; j++) r[j] = Math.floor(rnd() * 256);
      return { what: `garbage+${len}`, out: r };
    }
  }
}

function makeCases(seeds: Seed[]): Case[] {
  const cases: Case[] = [];
  seeds.forEach((seed, si) => {
    const rnd = seededRandom(1000 + si);
    for (let i = 0; i < MUTATIONS_PER_SEED; i++) {
      const siblings = new Map(seed.siblings);
      // Every third case of a seed with sidecars mutates a sidecar instead of the main file.
      if (siblings.size > 0 && i % 3 === 2) {
        const [k, v] = [...siblings][0]!;
        const m = mutate(v, rnd, i + 64);
        siblings.set(k, m.out);
        cases.push({ label: `${seed.name} sidecar ${k} ${m.what}`, seed, bytes: seed.bytes, siblings });
        continue;
      }
      const m = mutate(seed.bytes, rnd, i);
      cases.push({ label: `${seed.name} ${m.what}`, seed, bytes: m.out, siblings });
    }
  });
  return cases;
}

function source(c: Case): FileSource {
  return {
    name: c.seed.name,
    bytes: c.bytes,
    readSibling: async (rel: string) => {
      const b = c.siblings.get(rel);
      if (!b) throw Object.assign(new Error(`no sibling ${rel}`), { fuzzMissing: true });
      return b;
    },
  };
}

interface Outcome {
  stage: 'import' | 'run' | 'export' | 'ok';
  code?: string;
}

/** Run one case; returns how far it got. Throws (failing the test) on anything but a RosettaError. */
async function runCase(c: Case): Promise<Outcome> {
  const name = c.seed.name;
  let stage: Outcome['stage'] = 'import';
  try {
    if (c.seed.kind === 'npy') {
      readNpy(c.bytes, name);
      return { stage: 'ok' };
    }
    if (c.seed.kind === 'npz') {
      readNpz(c.bytes, name);
      return { stage: 'ok' };
    }
    const src = source(c);
    const format = await detectFormat(src.bytes, name);
    const result: ImportResult = await importFile(src, { format });
    if (result.kind === 'weights') return { stage: 'ok' };
    stage = 'run';
    const model = result.model;
    const session = await Session.create(model);
    let feeds;
    try {
      feeds = randomFeeds(model.graph, 7);
    } catch (e) {
      // E_USAGE: no declared shape; the model imported, nothing more to run.
      if (isRosettaError(e) && e.code === 'E_USAGE') return { stage: 'ok' };
      throw e;
    }
    if (Object.values(feeds).some((t) => t.size > 1 << 20)) return { stage: 'ok' };
    await session.run(feeds);
    stage = 'export';
    const onnx = await getExporter('onnx');
    await onnx.exportModel!(model, 'fuzz.onnx');
    return { stage: 'ok' };
  } catch (e) {
    if ((e as { fuzzMissing?: boolean }).fuzzMissing) return { stage, code: 'missing-sibling' };
    if (!isRosettaError(e)) {
      throw new Error(`[${c.label}] ${stage} threw ${(e as Error)?.name ?? typeof e}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
    if (!ERROR_CODES.has(e.code)) throw new Error(`[${c.label}] unknown error code ${e.code}: ${e.message}`);
    if (!e.message.startsWith(`${e.code}: `)) throw new Error(`[${c.label}] message does not start with the code: ${e.message}`);
    if (stage === 'import' && !e.message.includes(name)) throw new Error(`[${c.label}] import error does not name the file: ${e.message}`);
    return { stage, code: e.code };
  }
}

/**
 * Known hangs, skipped by label until fixed (see the skipped regression test below): libhdf5
 * (inside h5wasm) loops forever on this corrupted object header, so no JS-side check can stop it.
 */
const KNOWN_HANGS = new Set(['corpus/act_ELU_0_model.h5 zero@2116+42', 'corpus/act_Softmax_0_model.h5 dup@6177+242->2870']);

/** FUZZ_SEEDS=regex limits a long exploratory run (FUZZ_MUTATIONS=300) to some seeds. */
const SEEDS = collectSeeds().filter((s) => !process.env.FUZZ_SEEDS || new RegExp(process.env.FUZZ_SEEDS).test(s.name));
const CASES = makeCases(SEEDS).filter((c) => !KNOWN_HANGS.has(c.label));

describe('cross-format fuzzing through detectFormat + importFile', () => {
  if (!HAS_CORPUS) it.skip('corpus seeds (pytorch, safetensors, keras, tfjs): corpus absent, only fixture and ONNX-suite seeds run', () => {});
  if (!existsSync(ONNX_SUITE_DIR)) it.skip('Debian ONNX suite seeds: libonnx-testdata not installed', () => {});

  // Found by this file with FUZZ_MUTATIONS=300: import never returns (wasm loop inside libhdf5's
  // object-header decoder). The bytes-level `importFile` used here cannot interrupt a synchronous
  // wasm loop, so these two cases are left out of this loop; the Node entry points (`loadFile`, the
  // CLI) bound HDF5 imports with a worker-thread time limit, proven on the first case by
  // test/bad/hdf5-hang.test.ts (E_LIMIT).
  it.skip('known hang at the bytes level (bounded in src/node/hdf5-guard.ts, see hdf5-hang.test.ts): act_ELU_0_model.h5 with bytes 2116..2157 zeroed', () => {});
  it.skip('known hang at the bytes level (bounded in src/node/hdf5-guard.ts): act_Softmax_0_model.h5 with bytes 6177..6418 duplicated at 2870', () => {});

  // Regression (found by this file, FUZZ_MUTATIONS=300): a flipped byte in a tfjs GRU layer name
  // left it with no weights and the Keras 1 regrouping read w[0].name of an empty list (TypeError).
  it.skipIf(!HAS_CORPUS)('tfjs GRU whose name matches no weights: E_MISSING_WEIGHT naming the file, not a TypeError', async () => {
    const tfjs = join(CORPUS_DIR, 'tfjs/embedding_gru');
    const bytes = read(join(tfjs, 'model.json'));
    bytes[1213]! ^= 0x20;
    bytes.fill(0xff, 1208, 1212);
    const weights = read(join(tfjs, 'weights.bin'));
    const err = await importFile({ name: 'fuzz/model.json', bytes, readSibling: async () => weights }).then(() => undefined, (e: unknown) => e);
    expect(isRosettaError(err), String(err)).toBe(true);
    expect((err as Error).message).toMatch(/^E_MISSING_WEIGHT: .*fuzz\/model\.json/);
  });

  // Regression (found by this file): Keras layer-lowering errors carried only `where.layer`, so
  // e.g. an unknown recurrent activation in a to_json() file did not name the file.
  it.skipIf(!HAS_CORPUS)('keras-json with an unknown recurrent activation: E_UNSUPPORTED_LAYER naming the file', async () => {
    const text = readFileSync(join(CORPUS_DIR, 'keras/simple_lstm_tf_keras_2_config.json'), 'utf8').replace(/"hard_sigmoid"/g, '"xard_sigmoid"');
    const err = await importFile({ name: 'fuzz/lstm.json', bytes: new TextEncoder().encode(text) }).then(() => undefined, (e: unknown) => e);
    expect(isRosettaError(err), String(err)).toBe(true);
    expect((err as Error).message).toMatch(/^E_UNSUPPORTED_LAYER: recurrent activation 'xard_sigmoid'.*fuzz\/lstm\.json/);
  });

  it('has seeds of every format', async () => {
    const formats = new Set<string>();
    for (const s of SEEDS) formats.add(s.kind === 'model' ? await detectFormat(s.bytes, s.name) : s.kind);
    if (process.env.FUZZ_SEEDS) return; // a filtered exploratory run need not cover every format
    const want = ['onnx', 'pytorch', 'npy', 'npz', ...(HAS_CORPUS ? ['safetensors', 'keras-h5', 'keras-json', 'tfjs'] : [])];
    for (const f of want) expect(formats, `seed format ${f}`).toContain(f);
  });

  it(`every mutated case (${CASES.length}) imports, or fails with a RosettaError naming the file`, async () => {
    const failures: string[] = [];
    const stats = { cases: 0, ok: 0, import: 0, run: 0, export: 0 };
    const codes = new Map<string, number>();
    for (const c of CASES) {
      // FUZZ_TRACE=file logs each label before it runs, so a hang names its case.
      if (process.env.FUZZ_TRACE) appendFileSync(process.env.FUZZ_TRACE, `${c.label}\n`);
      const rss0 = process.memoryUsage().rss;
      const t0 = performance.now();
      try {
        const o = await runCase(c);
        stats.cases++;
        if (o.stage === 'ok') stats.ok++;
        else {
          stats[o.stage]++;
          codes.set(o.code!, (codes.get(o.code!) ?? 0) + 1);
        }
      } catch (e) {
        failures.push((e as Error).message.slice(0, 400));
      }
      const ms = performance.now() - t0;
      const grew = process.memoryUsage().rss - rss0;
      if (ms > CASE_BUDGET_MS) failures.push(`[${c.label}] took ${ms.toFixed(0)} ms (budget ${CASE_BUDGET_MS})`);
      if (grew > RSS_GROWTH_LIMIT) failures.push(`[${c.label}] RSS grew by ${(grew / 2 ** 20).toFixed(0)} MB`);
    }
    console.log(`[fuzz-all] ${SEEDS.length} seeds, ${CASES.length} cases: ${JSON.stringify(stats)}; codes ${JSON.stringify(Object.fromEntries(codes))}`);
    expect(failures, failures.join('\n')).toEqual([]);
    expect(stats.cases).toBe(CASES.length);
  }, 240_000);
});
