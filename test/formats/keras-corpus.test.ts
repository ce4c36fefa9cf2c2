/**
 * Evidence for the Keras readers on real files (../shared/corpus, written by Keras 1.2.2–2.3.1,
 * tf.keras 2.2.4-tf and tfjs-layers; see the corpus README):
 * 1. every `*_model.h5` with an `*_inputs_and_outputs.h5` twin holding `predictions` reproduces
 *    them from the recorded `inputs` through Session (rtol 1e-4, atol 1e-5);
 * 2. the other full-model `.h5` files match tfjs-layers (@tensorflow/tfjs 4.22, the same topology
 *    via `tf.models.modelFromJSON` and the same weights) on seeded random inputs;
 * 3. files with TensorFlowOpLayer fail with E_UNSUPPORTED_LAYER naming the layer;
 * 4. corpus/tfjs/embedding_gru matches tfjs-layers' own `loadLayersModel`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withHdf5 } from '../../src/formats/hdf5.js';
import { detectFormat, importFile } from '../../src/importers/index.js';
import { kerasModelFromJsonAndWeights, readKerasH5, tfjsImporter } from '../../src/importers/keras/index.js';
import type { Model } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { Session } from '../../src/runtime/session.js';
import { CORPUS_DIR, HAS_CORPUS, corpusPath, readCorpus } from '../helpers/corpus.js';
import { expectClose, seededTensor, tf, tfjsModel, tfjsPredict } from '../helpers/keras-oracle.js';

const KERAS_DIR = join(CORPUS_DIR, 'keras');
const files = HAS_CORPUS ? readdirSync(KERAS_DIR).filter((f) => f.endsWith('.h5')) : [];
const twins = files.filter((f) => f.endsWith('_model.h5') && files.includes(f.replace('_model.h5', '_inputs_and_outputs.h5')));

async function readIo(file: string): Promise<{ inputs: Map<string, Tensor>; predictions?: Map<string, Tensor> }> {
  return withHdf5(readCorpus('keras', file), file, (r) => {
    const inputs = new Map(r.keys('inputs').map((k) => [k, r.readTensor(`inputs/${k}`)]));
    const predictions = r.has('predictions') ? new Map(r.keys('predictions').map((k) => [k, r.readTensor(`predictions/${k}`)])) : undefined;
    return { inputs, predictions };
  });
}

async function loadH5(file: string): Promise<Model> {
  const r = await readKerasH5(readCorpus('keras', file), file);
  expect(r.kind).toBe('model');
  return r.model!;
}

async function run(model: Model, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const s = await Session.create(model);
  return (await s.run(feeds)).outputs as Record<string, Tensor>;
}

/** Keras-order weights per layer straight from the file (what Keras' own loader reads). */
async function h5Weights(file: string): Promise<{ config: unknown; weights: Map<string, Tensor[]>; backend?: string }> {
  return withHdf5(readCorpus('keras', file), file, (r) => {
    const config = JSON.parse(r.attrString('/', 'model_config')!);
    const weights = new Map<string, Tensor[]>();
    for (const l of r.attrStrings('model_weights', 'layer_names') ?? []) {
      const names = r.attrStrings(`model_weights/${l}`, 'weight_names') ?? [];
      weights.set(l, names.map((n) => r.readTensor(`model_weights/${l}/${n}`)));
    }
    return { config, weights, backend: r.attrString('/', 'backend') };
  });
}

/** tfjs-layers lacks SpatialDropout2D; at inference it is the identity, exactly like Dropout. */
function tfjsCompatible(config: unknown): unknown {
  return JSON.parse(JSON.stringify(config).replaceAll('"SpatialDropout2D"', '"Dropout"'));
}

/** Theano-backend kernels: Keras' loader flips the spatial axes of conv kernels (convert_kernel). */
function flipHw(t: Tensor): Tensor {
  const [h, w, i, o] = t.shape as [number, number, number, number];
  const out = new Float32Array(t.size);
  const src = t.data as Float32Array;
  for (let a = 0; a < h; a++) for (let b = 0; b < w; b++) for (let c = 0; c < i * o; c++) out[(a * w + b) * i * o + c] = src[((h - 1 - a) * w + (w - 1 - b)) * i * o + c]!;
  return new Tensor('float32', t.shape, out);
}

describe.skipIf(!HAS_CORPUS)('Keras corpus: recorded predictions', () => {
  it('finds the twins', () => expect(twins.length).toBeGreaterThanOrEqual(9));
  for (const f of twins) {
    const io = f.replace('_model.h5', '_inputs_and_outputs.h5');
    it(`${f} reproduces ${io}`, async () => {
      const { inputs, predictions } = await readIo(io);
      if (!predictions) {
        // simple_lstm_tf_keras_2 stores training targets under `outputs`, not predictions: it is
        // checked against tfjs-layers below instead.
        expect(f).toBe('simple_lstm_tf_keras_2_model.h5');
        return;
      }
      const model = await loadH5(f);
      const out = await run(model, Object.fromEntries(inputs));
      for (const [k, want] of predictions) expectClose(out[k]!, want, 1e-4, 1e-5, `${f} ${k}`);
    });
  }
});

const TFJS_CHECKED = ['cnn_batch_norm.h5', 'conv2d_theano_2.h5', 'embedding_lstm_tensorflow_2.h5', 'simple_lstm_tf_keras_2_model.h5', 'tfkeras_cnn2d_100.h5', 'tfkeras_misc_0.h5', 'tfkeras_mlp_0.h5', 'tfkeras_rnn_0.h5'];

describe.skipIf(!HAS_CORPUS)('Keras corpus: other .h5 files match tfjs-layers', () => {
  for (const f of TFJS_CHECKED) {
    it(f, async () => {
      const model = await loadH5(f);
      const { config, weights, backend } = await h5Weights(f);
      if (backend === 'theano') for (const [k, ws] of weights) if (ws.length && ws[0]!.rank === 4) weights.set(k, [flipHw(ws[0]!), ...ws.slice(1)]);
      const ref = await tfjsModel(tfjsCompatible(config), weights);
      const feeds: Record<string, Tensor> = {};
      const tfIn: Tensor[] = [];
      model.graph.inputs.forEach((inp, i) => {
        const shape = (inp.type as { shape: (number | string | null)[] }).shape.map((d, j) => (typeof d === 'number' ? d : j === 0 ? 3 : 5));
        // Embedding inputs are token ids.
        const isIds = /embedding/.test(f) || f === 'tfkeras_misc_0.h5';
        const t = seededTensor(shape, 17 + i, isIds ? 0 : -1, isIds ? 4 : 1, isIds);
        feeds[inp.name] = t;
        tfIn.push(t);
      });
      const want = tfjsPredict(ref, tfIn);
      const got = await run(model, feeds);
      model.graph.outputs.forEach((o, i) => expectClose(got[o.name]!, want[i]!, 1e-4, 1e-5, `${f} ${o.name}`));
    });
  }
  it('lstm_tensorflow_1.h5 (Keras 1.2.2 split gates) matches tfjs-layers with the gates concatenated as Keras 2 does', async () => {
    const model = await loadH5('lstm_tensorflow_1.h5');
    const { weights } = await h5Weights('lstm_tensorflow_1.h5');
    // Keras 1 order W_i U_i b_i W_c U_c b_c W_f U_f b_f W_o U_o b_o → Keras 2 (i, f, c, o) blocks.
    const w = weights.get('lstm_1')!;
    const cat = (idx: number[]): Tensor => {
      const parts = idx.map((i) => w[i]!);
      const rows = parts[0]!.rank === 1 ? 1 : parts[0]!.shape[0]!;
      const width = parts[0]!.shape[parts[0]!.rank - 1]!;
      const out = new Float32Array(rows * width * parts.length);
      for (let r = 0; r < rows; r++) parts.forEach((p, k) => out.set((p.data as Float32Array).subarray(r * width, (r + 1) * width), r * width * parts.length + k * width));
      return new Tensor('float32', parts[0]!.rank === 1 ? [width * parts.length] : [rows, width * parts.length], out);
    };
    const keras2 = { class_name: 'Sequential', config: [{ class_name: 'LSTM', config: { name: 'lstm_1', batch_input_shape: [null, 4, 1], units: 6, activation: 'tanh', recurrent_activation: 'hard_sigmoid', return_sequences: false } }] };
    const ref = await tfjsModel(keras2, new Map([['lstm_1', [cat([0, 6, 3, 9]), cat([1, 7, 4, 10]), cat([2, 8, 5, 11])]]]));
    const x = seededTensor([3, 4, 1], 5);
    const got = await run(model, { [model.graph.inputs[0]!.name]: x });
    expectClose(got[model.graph.outputs[0]!.name]!, tfjsPredict(ref, [x])[0]!, 1e-4, 1e-5, 'lstm_tensorflow_1');
  });
  it('simple_lstm_tf_keras_2: config.json + weights-only .h5 (by order and by name) equal the full model', async () => {
    const full = await loadH5('simple_lstm_tf_keras_2_model.h5');
    const cfg = readFileSync(corpusPath('keras', 'simple_lstm_tf_keras_2_config.json'), 'utf8');
    const x = seededTensor([4, 1, 1], 3, 0, 10);
    const want = await run(full, { lstm_1_input: x });
    for (const byName of [false, true]) {
      const m = await kerasModelFromJsonAndWeights(cfg, readCorpus('keras', 'simple_lstm_tf_keras_2_weights.h5'), 'simple_lstm_tf_keras_2_weights.h5', { byName });
      const got = await run(m, { lstm_1_input: x });
      expectClose(got.dense_1!, want.dense_1!, 0, 0, `byName=${byName}`);
    }
  });
});

describe.skipIf(!HAS_CORPUS)('Keras formats are detected by content, not extension', () => {
  it('HDF5 named .keras, tfjs model.json, model JSON', async () => {
    const h5 = readCorpus('keras', 'cnn_batch_norm.h5');
    expect(await detectFormat(h5, 'model.keras')).toBe('keras-h5');
    expect(await detectFormat(readCorpus('tfjs', 'embedding_gru', 'model.json'), 'model.json')).toBe('tfjs');
    expect(await detectFormat(readCorpus('keras', 'simple_lstm_tf_keras_2_config.json'), 'config.json')).toBe('keras-json');
    const r = await importFile({ name: 'model.keras', bytes: h5 });
    expect(r.kind).toBe('model');
  });
});

describe.skipIf(!HAS_CORPUS)('Keras corpus: TensorFlowOpLayer is refused', () => {
  for (const [f, layer] of [
    ['tfkeras_permute.h5', 'transpose_1'],
    ['tfkeras_reshape.h5', 'Reshape'],
  ] as const) {
    it(f, async () => {
      await expect(readKerasH5(readCorpus('keras', f), f)).rejects.toMatchObject({ code: 'E_UNSUPPORTED_LAYER', where: { layer } });
    });
  }
});

describe.skipIf(!HAS_CORPUS)('tfjs corpus: embedding_gru', () => {
  it('matches tfjs-layers loadLayersModel', async () => {
    const dir = corpusPath('tfjs', 'embedding_gru');
    const bytes = readCorpus('tfjs', 'embedding_gru', 'model.json');
    const src = { name: join(dir, 'model.json'), bytes, readSibling: async (p: string) => new Uint8Array(readFileSync(join(dirname(join(dir, 'model.json')), p))) };
    expect(tfjsImporter.match(bytes, 'model.json')).toBe(true);
    const res = await tfjsImporter.open(src);
    expect(res.kind).toBe('model');
    const model = (res as { model: Model }).model;
    const json = JSON.parse(new TextDecoder().decode(bytes));
    const weightData = readFileSync(join(dir, 'weights.bin'));
    const ref = await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength) }),
    );
    const x = seededTensor([3, 10], 9, 0, 100, true);
    const got = await run(model, { [model.graph.inputs[0]!.name]: x });
    expectClose(got[model.graph.outputs[0]!.name]!, tfjsPredict(ref, [x])[0]!, 1e-4, 1e-5, 'embedding_gru');
  });
});
