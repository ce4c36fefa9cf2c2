/**
 * Keras writers: every loadable corpus `.h5` model goes IR → tfjs-layers / `.keras` / legacy
 * `.h5` / `.weights.h5` → IR, keeping every parameter bit-identical (matched by layer scope and
 * role) and the outputs identical. The tfjs-layers export is also loaded by @tensorflow/tfjs 4.22
 * itself (`tf.loadLayersModel` over `tf.io.fromMemory`) and must agree with the IR model: an
 * independent check of the written topology and weight manifest.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportKerasH5, exportKerasWeightsH5, exportKerasZip, exportTfjs } from '../../src/exporters/keras/index.js';
import { formatForOutput } from '../../src/exporters/index.js';
import { kerasH5Importer, kerasModelFromJsonAndWeights, kerasZipImporter, lowerKerasModel, normalizeModel, readKerasH5, tfjsImporter } from '../../src/importers/keras/index.js';
import type { Model } from '../../src/ir/graph.js';
import { type Tensor, tensorsBitEqual } from '../../src/ir/tensor.js';
import { Session } from '../../src/runtime/session.js';
import { CORPUS_DIR, HAS_CORPUS, readCorpus } from '../helpers/corpus.js';
import { expectClose, seededTensor, tf, tfjsPredict } from '../helpers/keras-oracle.js';

const MODELS = HAS_CORPUS ? readdirSync(join(CORPUS_DIR, 'keras')).filter((f) => f.endsWith('.h5') && !f.includes('inputs_and_outputs') && !f.endsWith('_weights.h5') && !f.startsWith('tfkeras_permute') && !f.startsWith('tfkeras_reshape')) : [];

function paramsByRole(m: Model): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, info] of m.graph.params) out.set(`${info.scope}|${info.role}`, m.graph.initializers.get(name)!);
  return out;
}

function expectSameParams(a: Model, b: Model, what: string): void {
  const pa = paramsByRole(a);
  const pb = paramsByRole(b);
  expect([...pb.keys()].sort(), `${what}: parameter set`).toEqual([...pa.keys()].sort());
  expect(pa.size).toBeGreaterThan(0);
  for (const [k, t] of pa) expect(tensorsBitEqual(t, pb.get(k)!), `${what}: ${k} bit-identical`).toBe(true);
}

function feedsFor(m: Model, file: string): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  m.graph.inputs.forEach((inp, i) => {
    const shape = (inp.type as { shape: (number | string | null)[] }).shape.map((d, j) => (typeof d === 'number' ? d : j === 0 ? 2 : 5));
    const ids = /embedding|misc/.test(file);
    feeds[inp.name] = seededTensor(shape, 31 + i, ids ? 0 : -1, ids ? 4 : 1, ids);
  });
  return feeds;
}

async function run(m: Model, feeds: Record<string, Tensor>): Promise<Tensor[]> {
  const s = await Session.create(m);
  const out = (await s.run(feeds)).outputs;
  return m.graph.outputs.map((o) => out[o.name] as Tensor);
}

const src = (name: string, files: Map<string, Uint8Array>) => ({ name, bytes: files.get(name)!, readSibling: async (p: string) => files.get(p) ?? new Uint8Array() });

describe('Keras exporters are registered by extension', () => {
  it('picks the format from the output name', () => {
    expect(formatForOutput('out/model.json')).toBe('tfjs');
    expect(formatForOutput('m.keras')).toBe('keras');
    expect(formatForOutput('m.h5')).toBe('keras-h5');
    expect(formatForOutput('m.weights.h5')).toBe('keras-h5');
  });
});

describe.skipIf(!HAS_CORPUS)('Keras round trips keep weights bit-identical', () => {
  for (const f of MODELS) {
    describe(f, () => {
      const load = async (): Promise<Model> => (await readKerasH5(readCorpus('keras', f), f)).model!;

      it('tfjs-layers: re-import is bit-identical, and tfjs loadLayersModel agrees', async () => {
        const m = await load();
        if (/"ELU"/.test(m.metadata['keras.config']!) && !/"alpha": 1\.0/.test(m.metadata['keras.config']!)) {
          // tfjs-layers' ELU throws for alpha != 1: the exporter must refuse, naming the layer.
          await expect(exportTfjs(m, 'model.json')).rejects.toMatchObject({ code: 'E_UNSUPPORTED', where: { layer: 'elu_1' } });
          return;
        }
        const res = await exportTfjs(m, 'model.json');
        const back = await tfjsImporter.open(src('model.json', res.files));
        const m2 = (back as { model: Model }).model;
        expectSameParams(m, m2, 'tfjs');
        const feeds = feedsFor(m, f);
        const want = await run(m, feeds);
        const got = await run(m2, feeds);
        want.forEach((w, i) => expectClose(got[i]!, w, 0, 0, 'tfjs re-import'));
        const json = JSON.parse(new TextDecoder().decode(res.files.get('model.json')));
        const shard = res.files.get(json.weightsManifest[0].paths[0])!;
        const ref = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: shard.slice().buffer }));
        const tfOut = tfjsPredict(ref, m.graph.inputs.map((i) => feeds[i.name]!));
        want.forEach((w, i) => expectClose(w, tfOut[i]!, 1e-4, 1e-5, 'tfjs-layers on the exported files'));
      });

      it('.keras: re-import is bit-identical', async () => {
        const m = await load();
        if (/hard_sigmoid/.test(m.metadata['keras.config']!)) {
          // Keras 3 redefined hard_sigmoid; writing this Keras 2 model as .keras would change it.
          await expect(exportKerasZip(m, 'm.keras')).rejects.toMatchObject({ code: 'E_UNSUPPORTED' });
          return;
        }
        const res = await exportKerasZip(m, 'm.keras');
        const bytes = res.files.get('m.keras')!;
        expect(kerasZipImporter.match(bytes, 'm.keras')).toBe(true);
        const m2 = ((await kerasZipImporter.open({ name: 'm.keras', bytes })) as { model: Model }).model;
        expectSameParams(m, m2, '.keras');
        const feeds = feedsFor(m, f);
        const [want, got] = [await run(m, feeds), await run(m2, feeds)];
        want.forEach((w, i) => expectClose(got[i]!, w, 0, 0, '.keras re-import'));
      });

      it('legacy .h5: re-import is bit-identical', async () => {
        const m = await load();
        const res = await exportKerasH5(m, 'm.h5');
        const m2 = ((await kerasH5Importer.open({ name: 'm.h5', bytes: res.files.get('m.h5')! })) as { model: Model }).model;
        expectSameParams(m, m2, '.h5');
      });

      it('.weights.h5 + the model JSON: re-import is bit-identical', async () => {
        const m = await load();
        const res = await exportKerasWeightsH5(m, 'm.weights.h5');
        const m2 = await kerasModelFromJsonAndWeights(m.metadata['keras.config']!, res.files.get('m.weights.h5')!, 'm.weights.h5');
        expectSameParams(m, m2, '.weights.h5');
      });
    });
  }
});

describe('a nested Sequential inside a functional model round-trips through every writer', () => {
  const inner = { class_name: 'Sequential', config: { name: 'inner', layers: [{ class_name: 'Dense', config: { name: 'in_d1', units: 3, activation: 'relu', batch_input_shape: [null, 4] } }, { class_name: 'Dense', config: { name: 'in_d2', units: 2 } }] } };
  const cfg = {
    class_name: 'Model',
    config: {
      name: 'outer',
      layers: [
        { class_name: 'InputLayer', name: 'x', config: { name: 'x', batch_input_shape: [null, 4] }, inbound_nodes: [] },
        { ...inner, name: 'inner', inbound_nodes: [[['x', 0, 0, {}]]] },
        { class_name: 'Dense', name: 'head', config: { name: 'head', units: 1 }, inbound_nodes: [[['inner', 0, 0, {}]]] },
      ],
      input_layers: [['x', 0, 0]],
      output_layers: [['head', 0, 0]],
    },
  };
  const build = (): Model => {
    let seed = 50;
    const m = lowerKerasModel(normalizeModel(cfg, 'nested'), { file: 'nested', kerasVersion: '2.15.0', weights: (_path, specs) => specs.map((s) => ({ name: s.role, tensor: seededTensor(s.shape, seed++) })) });
    m.metadata['keras.config'] = JSON.stringify(cfg);
    m.metadata['keras.version'] = '2.15.0';
    return m;
  };
  it('tfjs (and tfjs-layers loads it), .keras, .h5', async () => {
    const m = build();
    const x = seededTensor([3, 4], 1);
    const [want] = await run(m, { x });
    const t = await exportTfjs(m, 'model.json');
    const fromTfjs = ((await tfjsImporter.open(src('model.json', t.files))) as { model: Model }).model;
    expectSameParams(m, fromTfjs, 'tfjs');
    const json = JSON.parse(new TextDecoder().decode(t.files.get('model.json')));
    const ref = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: t.files.get('group1-shard1of1.bin')!.slice().buffer }));
    expectClose(want!, tfjsPredict(ref, [x])[0]!, 1e-4, 1e-5, 'tfjs-layers on the nested export');
    const z = await exportKerasZip(m, 'm.keras');
    expectSameParams(m, ((await kerasZipImporter.open({ name: 'm.keras', bytes: z.files.get('m.keras')! })) as { model: Model }).model, '.keras');
    const h = await exportKerasH5(m, 'm.h5');
    expectSameParams(m, ((await kerasH5Importer.open({ name: 'm.h5', bytes: h.files.get('m.h5')! })) as { model: Model }).model, '.h5');
  });
});

describe('Keras exporter refuses models it cannot map', () => {
  it('a model without a Keras config', async () => {
    const m: Model = { graph: { name: 'g', nodes: [], inputs: [], outputs: [], initializers: new Map(), valueInfo: new Map(), params: new Map() }, sourceOpsets: {}, metadata: {}, rewrites: [] };
    await expect(exportTfjs(m, 'model.json')).rejects.toMatchObject({ code: 'E_UNSUPPORTED' });
  });
});
