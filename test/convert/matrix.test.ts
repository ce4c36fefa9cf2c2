/**
 * The conversion matrix (issue 5). Each model starts from a file a real framework wrote:
 * - four PyTorch 1.13 models (fixtures/convert/make_fixtures.py: the seed ImageClassifier, the
 *   house-price SimpleLinearModel, Conv+BatchNorm+depthwise, Embedding→LSTM→GRU→LayerNorm→Linear),
 *   starting as a weights-only `.pt` bound to the PyTorch-exported `.onnx` architecture, and
 *   checked against PyTorch's recorded outputs (`NAME.outputs.npz`);
 * - two Keras 2.x models of the corpus: `conv1d_k2_s1_d1_cl_same` ('same' padding with an even
 *   kernel, i.e. asymmetric pads), checked against the predictions Keras recorded in its
 *   `_inputs_and_outputs.h5` twin, and `cnn_batch_norm.h5` (Conv2D, BatchNormalization, Flatten,
 *   Dense), checked against tfjs-layers (@tensorflow/tfjs) running the file's own config and weights.
 * Every directed pair of writable formats A → B is run as: start → A (write, read back) → B
 * (write, read back), and the result must reproduce the framework's outputs (rtol 1e-4,
 * atol 1e-5). Weights-only results (.pt, .safetensors) are read back by binding them onto the
 * architecture they were written from, exactly as `convert --verify` does. Pairs that cannot work
 * yet (a Keras writer refusing a model that did not come from Keras) are probed before the tests
 * are declared, named "not yet" with the writer's own error in the test title, and asserted to
 * fail with that typed error; once the writer accepts a model, its pairs get the full check.
 * Outside the matrix: the exported `.onnx` runs in onnxruntime-node, the exported `.pt` loads
 * into the torch.nn models in real PyTorch (/usr/bin/python3, skipped visibly without torch), the
 * generated `src/nn` module loads the exported state dict, and the Keras rows' tfjs export (after
 * a trip through the PyTorch state dict) loads in tfjs-layers — each with the reference outputs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bindWeights } from '../../src/convert/binding.js';
import { getExporter } from '../../src/exporters/index.js';
import { importFile } from '../../src/importers/index.js';
import type { FormatName } from '../../src/importers/types.js';
import { isRosettaError } from '../../src/ir/errors.js';
import type { Model } from '../../src/ir/graph.js';
import type { Tensor } from '../../src/ir/tensor.js';
import { readNpz } from '../../src/formats/npy.js';
import { withHdf5 } from '../../src/formats/hdf5.js';
import { Session } from '../../src/runtime/session.js';
import { HAS_CORPUS, PROJECT_ROOT, SYSTEM_PYTHON, readCorpus } from '../helpers/corpus.js';
import { seededTensor, tf, tfjsModel, tfjsPredict } from '../helpers/keras-oracle.js';

const FIX = join(PROJECT_ROOT, 'fixtures', 'convert');
const TOL = { rtol: 1e-4, atol: 1e-5 };

interface Fmt {
  id: string;
  format: FormatName;
  file: string;
  keras: boolean;
}
const FORMATS: Fmt[] = [
  { id: 'onnx', format: 'onnx', file: 'model.onnx', keras: false },
  { id: 'pt', format: 'pytorch', file: 'model.pt', keras: false },
  { id: 'safetensors', format: 'safetensors', file: 'model.safetensors', keras: false },
  { id: 'h5', format: 'keras-h5', file: 'model.h5', keras: true },
  { id: 'keras', format: 'keras', file: 'model.keras', keras: true },
  { id: 'tfjs', format: 'tfjs', file: 'model.json', keras: true },
];

function src(name: string, files: Map<string, Uint8Array>) {
  return {
    name,
    bytes: files.get(name)!,
    readSibling: async (p: string) => {
      const b = files.get(p);
      if (!b) throw new Error(`no sibling ${p}`);
      return b;
    },
  };
}

async function write(model: Model, f: Fmt): Promise<Map<string, Uint8Array>> {
  const ex = await getExporter(f.format);
  return (await ex.exportModel!(model, f.file)).files;
}

/** Read files back as a model; a weights-only file is bound onto `arch`. */
async function read(files: Map<string, Uint8Array>, f: Fmt, arch: Model): Promise<Model> {
  const r = await importFile(src(f.file, files), { format: f.format });
  if (r.kind === 'model') return r.model;
  return bindWeights(arch, r.weights).model;
}

async function through(model: Model, f: Fmt): Promise<Model> {
  return read(await write(model, f), f, model);
}

async function run(model: Model, feeds: Record<string, Tensor>): Promise<Tensor> {
  const s = await Session.create(model);
  // A Keras file names its input after the layer (`linear_input`): match by position then.
  const names = s.inputNames;
  const given = Object.values(feeds);
  const byName = names.every((n) => n in feeds);
  expect(byName || names.length === given.length, `inputs ${names.join(', ')} vs ${Object.keys(feeds).join(', ')}`).toBe(true);
  const out = (await s.run(byName ? feeds : Object.fromEntries(names.map((n, i) => [n, given[i]!])))).outputs;
  return out[model.graph.outputs[0]!.name] as Tensor;
}

function expectClose(got: Tensor, want: Tensor, what: string): void {
  expect([...got.shape], `${what}: shape`).toEqual([...want.shape]);
  const a = got.toNumbers();
  const b = want.toNumbers();
  let worst = 0;
  let bad = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    worst = Math.max(worst, d);
    if (!(d <= TOL.atol + TOL.rtol * Math.abs(b[i]!))) bad++;
  }
  expect(bad, `${what}: ${bad} elements beyond rtol ${TOL.rtol}/atol ${TOL.atol} (max abs err ${worst})`).toBe(0);
}

interface Case {
  name: string;
  origin: 'pytorch' | 'keras';
  start: () => Promise<Model>;
  feeds: () => Promise<Record<string, Tensor>>;
  expected: () => Promise<Tensor>;
}

const manifest = JSON.parse(readFileSync(join(FIX, 'manifest.json'), 'utf8')) as { torch: string; models: Record<string, { class: string; weights: string }> };

async function npz(file: string): Promise<Map<string, Tensor>> {
  return readNpz(new Uint8Array(readFileSync(join(FIX, file))), file);
}

function pytorchCase(name: string): Case {
  return {
    name,
    origin: 'pytorch',
    start: async () => {
      const arch = await importFile(src(`${name}.onnx`, new Map([[`${name}.onnx`, new Uint8Array(readFileSync(join(FIX, `${name}.onnx`)))]])));
      const weights = await importFile(src('w.pt', new Map([['w.pt', new Uint8Array(readFileSync(join(PROJECT_ROOT, manifest.models[name]!.weights)))]])));
      if (arch.kind !== 'model' || weights.kind !== 'weights') throw new Error('fixture kinds');
      // Zero the architecture's own values: every parameter must come from the .pt.
      for (const t of arch.model.graph.initializers.values()) if (t.dtype === 'float32') (t.data as Float32Array).fill(0);
      return bindWeights(arch.model, weights.weights).model;
    },
    feeds: async () => Object.fromEntries(await npz(`${name}.inputs.npz`)),
    expected: async () => (await npz(`${name}.outputs.npz`)).get('output')!,
  };
}

const KERAS_FILE = 'conv1d_k2_s1_d1_cl_same';
async function kerasIo(): Promise<{ inputs: Map<string, Tensor>; predictions: Map<string, Tensor> }> {
  const f = `${KERAS_FILE}_inputs_and_outputs.h5`;
  return withHdf5(readCorpus('keras', f), f, (r) => ({
    inputs: new Map(r.keys('inputs').map((k) => [k, r.readTensor(`inputs/${k}`)])),
    predictions: new Map(r.keys('predictions').map((k) => [k, r.readTensor(`predictions/${k}`)])),
  }));
}
const kerasCase: Case = {
  name: `keras:${KERAS_FILE}`,
  origin: 'keras',
  start: async () => {
    const f = `${KERAS_FILE}_model.h5`;
    const r = await importFile(src(f, new Map([[f, readCorpus('keras', f)]])));
    if (r.kind !== 'model') throw new Error('not a model');
    return r.model;
  },
  feeds: async () => {
    const { inputs } = await kerasIo();
    return Object.fromEntries(inputs);
  },
  expected: async () => [...(await kerasIo()).predictions.values()][0]!,
};

/**
 * A second Keras file, with Conv2D + BatchNormalization + Flatten + Dense (so the channels-last
 * Flatten→Dense row order and Keras BatchNorm reach every format). It has no recorded
 * predictions, so the reference is tfjs-layers (@tensorflow/tfjs, Keras semantics in JS) built
 * from the file's own config and weights, on seeded inputs.
 */
const KERAS_BN_FILE = 'cnn_batch_norm.h5';
let kerasBnFeeds: Promise<Record<string, Tensor>> | undefined;
const kerasBnCase: Case = {
  name: `keras:${KERAS_BN_FILE}`,
  origin: 'keras',
  start: async () => {
    const r = await importFile(src(KERAS_BN_FILE, new Map([[KERAS_BN_FILE, readCorpus('keras', KERAS_BN_FILE)]])));
    if (r.kind !== 'model') throw new Error('not a model');
    return r.model;
  },
  feeds: () =>
    (kerasBnFeeds ??= kerasBnCase.start().then((m) => {
      const inp = m.graph.inputs[0]!;
      const shape = (inp.type as { shape: (number | string | null)[] }).shape.map((d) => (typeof d === 'number' ? d : 2));
      return { [inp.name]: seededTensor(shape, 7, -1, 1, false) };
    })),
  expected: async () => {
    const { config, weights } = kerasBnWeights!;
    const m = await tfjsModel(config, weights);
    const x = Object.values(await kerasBnCase.feeds())[0]!;
    return tfjsPredict(m, [x])[0]!;
  },
};
let kerasBnWeights: { config: unknown; weights: Map<string, Tensor[]> } | undefined;
async function loadKerasBnWeights(): Promise<void> {
  kerasBnWeights = await withHdf5(readCorpus('keras', KERAS_BN_FILE), KERAS_BN_FILE, (r) => {
    const config = JSON.parse(r.attrString('/', 'model_config')!);
    const weights = new Map<string, Tensor[]>();
    for (const l of r.attrStrings('model_weights', 'layer_names') ?? []) {
      const names = r.attrStrings(`model_weights/${l}`, 'weight_names') ?? [];
      weights.set(l, names.map((n) => r.readTensor(`model_weights/${l}/${n}`)));
    }
    return { config, weights };
  });
}

/**
 * Which Keras writers can take which model today: probed once, before the tests are declared, so
 * a pair whose writer refuses is declared (and named) as "not yet: <the writer's own error>" and
 * asserts that refusal, and a pair whose writer accepts gets the full output check. IR → Keras
 * layers for models that did not come from Keras is being written in src/exporters/keras.
 */
async function probeKerasWriters(cases: Case[]): Promise<Map<string, string>> {
  const refusals = new Map<string, string>();
  for (const c of cases) {
    if (c.origin !== 'pytorch') continue;
    const m = await c.start();
    for (const f of FORMATS.filter((x) => x.keras)) {
      try {
        await write(m, f);
      } catch (e) {
        refusals.set(`${c.name}:${f.id}`, isRosettaError(e) ? e.message : `unexpected ${String(e)}`);
      }
    }
  }
  return refusals;
}

/** Why a pair cannot work yet (undefined: it must work). */
function blocked(refusals: Map<string, string>, c: Case, a: Fmt, b: Fmt): { format: Fmt; why: string } | undefined {
  for (const f of [a, b]) {
    const why = refusals.get(`${c.name}:${f.id}`);
    if (why) return { format: f, why };
  }
  return undefined;
}

const CASES: Case[] = [...Object.keys(manifest.models).map(pytorchCase), ...(HAS_CORPUS ? [kerasCase, kerasBnCase] : [])];
if (HAS_CORPUS) await loadKerasBnWeights();
const REFUSALS = await probeKerasWriters(CASES);
if (!HAS_CORPUS) console.warn(`[matrix] corpus absent: the Keras-origin row (${KERAS_FILE}) is skipped`);

describe('conversion matrix', () => {
  it('has the four PyTorch fixture models', () => expect(Object.keys(manifest.models).sort()).toEqual(['conv_bn_dw', 'house_price', 'image_classifier', 'rnn_model']));

  for (const c of CASES) {
    describe(c.name, () => {
      const cache = new Map<string, Promise<Model>>();
      const startP = (() => {
        let p: Promise<Model> | undefined;
        return () => (p ??= c.start());
      })();
      const inFormat = (f: Fmt): Promise<Model> => {
        let p = cache.get(f.id);
        if (!p) cache.set(f.id, (p = startP().then((m) => through(m, f))));
        return p;
      };

      it('the starting model reproduces the framework outputs', async () => {
        expectClose(await run(await startP(), await c.feeds()), await c.expected(), `${c.name} start`);
      });

      for (const a of FORMATS) {
        for (const b of FORMATS) {
          if (a === b) continue;
          const block = blocked(REFUSALS, c, a, b);
          if (block) {
            it(`${a.id} → ${b.id}: not yet — the ${block.format.id} writer refuses this model: ${block.why}`, async () => {
              const err = await write(await startP(), block.format).then(
                () => undefined,
                (e: unknown) => e,
              );
              // a typed refusal naming what is missing, never a crash or a silently wrong file
              expect(isRosettaError(err) && /^E_UNSUPPORTED/.test(err.code), String(err)).toBe(true);
            });
            continue;
          }
          it(`${a.id} → ${b.id}`, async () => {
            const mb = await through(await inFormat(a), b);
            expectClose(await run(mb, await c.feeds()), await c.expected(), `${c.name} ${a.id} → ${b.id}`);
          });
        }
      }
    });
  }
});

describe('exported files in the reference runtimes', () => {
  for (const name of Object.keys(manifest.models)) {
    const c = pytorchCase(name);
    it(`${name}: the exported .onnx runs in onnxruntime-node with PyTorch's outputs`, async () => {
      const ort = await import('onnxruntime-node');
      const files = await write(await c.start(), FORMATS[0]!);
      const session = await ort.InferenceSession.create(files.get('model.onnx')!);
      const x = (await c.feeds()).input!;
      const feed = x.dtype === 'int64' ? new ort.Tensor('int64', x.data as BigInt64Array, [...x.shape]) : new ort.Tensor('float32', x.data as Float32Array, [...x.shape]);
      const out = await session.run({ [session.inputNames[0]!]: feed });
      const y = out[session.outputNames[0]!]!;
      const { Tensor } = await import('../../src/ir/tensor.js');
      expectClose(new Tensor('float32', y.dims as number[], y.data as Float32Array), await c.expected(), `${name} onnxruntime`);
    });
  }

  for (const c of CASES) {
    const refused = REFUSALS.get(`${c.name}:tfjs`);
    if (refused) {
      it(`${c.name}: tfjs-layers load — not yet: the tfjs writer refuses this model (${refused})`, () => expect(refused).toMatch(/^E_UNSUPPORTED/));
      continue;
    }
    it(`${c.name}: after → pt → tfjs, the model.json loads in tfjs-layers with the reference outputs`, async () => {
      // via the PyTorch state dict (weights bound back onto the Keras architecture), then tfjs
      const viaPt = await through(await c.start(), FORMATS[1]!);
      const files = await write(viaPt, FORMATS[5]!);
      const json = JSON.parse(new TextDecoder().decode(files.get('model.json'))) as { modelTopology: object; weightsManifest: { paths: string[]; weights: object[] }[] };
      const shard = files.get(json.weightsManifest[0]!.paths[0]!)!;
      const m = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0]!.weights as never, weightData: shard.slice().buffer }));
      const x = Object.values(await c.feeds())[0]!;
      expectClose(tfjsPredict(m, [x])[0]!, await c.expected(), `${c.name} tfjs-layers`);
    });
  }

  const hasTorch = existsSync(SYSTEM_PYTHON) && spawnSync(SYSTEM_PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
  if (!hasTorch) console.warn(`[matrix] ${SYSTEM_PYTHON} with torch not found: the real-PyTorch load of exported .pt files is skipped`);
  describe.skipIf(!hasTorch)('exported .pt in real PyTorch (python3-torch)', () => {
    for (const name of Object.keys(manifest.models)) {
      it(`${name}: load_state_dict(strict=True) into the torch.nn model and run`, async () => {
        // Start from the ONNX export path (onnx → pt), so the state dict really is rebuilt from IR.
        const c = pytorchCase(name);
        const viaOnnx = await through(await c.start(), FORMATS[0]!);
        const files = await write(viaOnnx, FORMATS[1]!);
        const dir = mkdtempSync(join(tmpdir(), 'rosetta-matrix-'));
        const pt = join(dir, `${name}.pt`);
        writeFileSync(pt, files.get('model.pt')!);
        const script = [
          'import sys, json, numpy as np, torch',
          `sys.path.insert(0, ${JSON.stringify(FIX)})`,
          'from make_fixtures import MODELS',
          'name, pt = sys.argv[1], sys.argv[2]',
          'model = MODELS[name][0]()',
          'model.load_state_dict(torch.load(pt), strict=True)',
          'model.eval()',
          `x = torch.from_numpy(np.load(${JSON.stringify(FIX)} + "/" + name + ".inputs.npz")["input"])`,
          `want = np.load(${JSON.stringify(FIX)} + "/" + name + ".outputs.npz")["output"]`,
          'with torch.no_grad(): y = model(x).numpy()',
          'print(json.dumps({"max_abs": float(np.abs(y - want).max()), "allclose": bool(np.allclose(y, want, rtol=1e-4, atol=1e-5))}))',
        ].join('\n');
        const r = spawnSync(SYSTEM_PYTHON, ['-c', script, name, pt], { encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(0);
        const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { max_abs: number; allclose: boolean };
        expect(res.allclose, `max abs error ${res.max_abs}`).toBe(true);
      }, 60_000);
    }
  });

  describe('the generated TypeScript module (src/nn) loads the exported state dict', () => {
    for (const c of CASES) {
      const name = c.name;
      it(`${name}: new ConvertedModel().loadStateDict(.pt) reproduces ${c.origin === 'pytorch' ? 'PyTorch' : 'the Keras reference'}`, async () => {
        const viaOnnx = await through(await c.start(), FORMATS[0]!);
        const { toPyTorch } = await import('../../src/exporters/typescript/index.js');
        const form = toPyTorch(viaOnnx, { imports: { nn: join(PROJECT_ROOT, 'src/nn/index.ts'), tensor: join(PROJECT_ROOT, 'src/ir/tensor.ts') } });
        const dir = mkdtempSync(join(tmpdir(), 'rosetta-ts-'));
        const file = join(dir, `${name.replace(/[^\w.]/g, '_')}.ts`);
        writeFileSync(file, form.source);
        const files = await write(viaOnnx, FORMATS[1]!);
        const back = await importFile(src('model.pt', files));
        if (back.kind !== 'weights') throw new Error('expected weights');
        const mod = (await import(/* @vite-ignore */ file)) as { ConvertedModel: new () => { eval(): { loadStateDict(sd: Map<string, Tensor>): unknown; run(x: Tensor): Promise<unknown> } } };
        const m = new mod.ConvertedModel().eval();
        m.loadStateDict(back.weights.tensors);
        const y = (await m.run(Object.values(await c.feeds())[0]!)) as Tensor;
        expectClose(y, await c.expected(), `${name} generated module`);
      });
    }
  });
});
