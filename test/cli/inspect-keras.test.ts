/**
 * `rosetta inspect` on Keras files prints a `model.summary()`-style table (layers, output shapes,
 * parameter counts, Total/Trainable/Non-trainable) and `--json` gives the same data under `keras`.
 * Oracle: tfjs-layers (@tensorflow/tfjs 4.22, Keras semantics in JS) built from the same file's
 * config and weights — each layer's `outputShape`, `countParams()` and trainable weight sizes,
 * which is what its own `model.summary()` prints. Covered: full legacy `.h5` files of the corpus,
 * a Keras JSON config, a weights-only `.h5`, the corpus tfjs `model.json`, and the `.keras` and
 * tfjs files Rosetta writes from a corpus `.h5`. Skipped visibly without the corpus.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { KerasSummary } from '../../src/cli/keras-summary.js';
import { withHdf5 } from '../../src/formats/hdf5.js';
import type { Tensor } from '../../src/ir/tensor.js';
import { HAS_CORPUS, corpusPath, readCorpus } from '../helpers/corpus.js';
import { tf, tfjsModel, tfjsTopology } from '../helpers/keras-oracle.js';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { stdout: (s) => void (out += s), stderr: (s) => void (err += s) });
  return { code, out, err };
}

async function summaryOf(file: string): Promise<{ keras: KerasSummary; text: string }> {
  const j = await cli('inspect', file, '--json');
  expect(j.code, j.err).toBe(0);
  const keras = (JSON.parse(j.out) as { keras?: KerasSummary }).keras;
  expect(keras, `${file}: no keras summary in --json`).toBeDefined();
  const t = await cli('inspect', file);
  return { keras: keras!, text: t.out };
}

/** What tfjs-layers' model.summary() shows, per layer. */
function tfjsRows(m: tf.LayersModel): { name: string; outputShape: unknown; params: number; trainable: number }[] {
  return m.layers.map((l) => ({ name: l.name, outputShape: l.outputShape, params: l.countParams(), trainable: l.trainableWeights.reduce((a, w) => a + (w.shape as number[]).reduce((x, d) => x * d, 1), 0) }));
}

function expectMatches(s: KerasSummary, m: tf.LayersModel, text: string, what: string): void {
  const want = tfjsRows(m).filter((r) => s.className !== 'Sequential' || r.name !== m.layers[0]?.name || m.layers[0]?.getClassName() !== 'InputLayer');
  expect(s.layers.map((r) => r.name), `${what}: layer names`).toEqual(want.map((r) => r.name));
  s.layers.forEach((r, i) => {
    expect(r.outputShape, `${what}: output shape of ${r.name}`).toEqual(want[i]!.outputShape);
    expect(r.params, `${what}: params of ${r.name}`).toBe(want[i]!.params);
    expect(r.trainableParams, `${what}: trainable params of ${r.name}`).toBe(want[i]!.trainable);
  });
  const total = want.reduce((a, r) => a + r.params, 0);
  const trainable = want.reduce((a, r) => a + r.trainable, 0);
  expect([s.totalParams, s.trainableParams, s.nonTrainableParams], `${what}: totals`).toEqual([total, trainable, total - trainable]);
  expect(text).toContain('Layer (type)');
  expect(text).toContain(`Total params: ${total.toLocaleString('en-US')}`);
  expect(text).toContain(`Non-trainable params: ${(total - trainable).toLocaleString('en-US')}`);
  for (const r of s.layers) expect(text).toContain(`${r.name} (${r.className})`);
}

/** tfjs-layers model from a legacy full-model .h5 of the corpus (its own config and weights). */
async function tfjsFromH5(file: string): Promise<tf.LayersModel> {
  const { config, weights } = await withHdf5(readCorpus('keras', file), file, (r) => {
    const w = new Map<string, Tensor[]>();
    for (const l of r.attrStrings('model_weights', 'layer_names') ?? []) {
      const names = r.attrStrings(`model_weights/${l}`, 'weight_names') ?? [];
      w.set(l, names.map((n) => r.readTensor(`model_weights/${l}/${n}`)));
    }
    // tfjs-layers has no SpatialDropout2D: Dropout has the same (no) weights and output shape.
    return { config: JSON.parse(r.attrString('/', 'model_config')!.replace(/"SpatialDropout2D"/g, '"Dropout"')), weights: w };
  });
  return tfjsModel(config, weights);
}

const H5_FILES = ['cnn_batch_norm.h5', 'simple_lstm_tf_keras_2_model.h5', 'tfkeras_mlp_0.h5', 'tfkeras_cnn2d_100.h5', 'tfkeras_rnn_0.h5', 'embedding_lstm_tensorflow_2.h5', 'tfkeras_misc_0.h5']; // tfkeras_permute/reshape hold TensorFlowOpLayers, refused by design (E_UNSUPPORTED_LAYER)

describe.skipIf(!HAS_CORPUS)('rosetta inspect on Keras files: model.summary() numbers agree with tfjs-layers', () => {
  for (const f of H5_FILES) {
    it(`legacy .h5 ${f}`, async () => {
      const { keras, text } = await summaryOf(corpusPath('keras', f));
      expectMatches(keras, await tfjsFromH5(f), text, f);
    });
  }

  it('Keras JSON config (model.to_json()) and its weights-only .h5', async () => {
    const json = corpusPath('keras', 'simple_lstm_tf_keras_2_config.json');
    const ref = await tf.models.modelFromJSON({ modelTopology: tfjsTopology(JSON.parse(readFileSync(json, 'utf8'))) as never });
    const { keras, text } = await summaryOf(json);
    expectMatches(keras, ref, text, 'config.json');
    // Weights only: no classes or shapes, but the same layers and parameter counts.
    const w = await summaryOf(corpusPath('keras', 'simple_lstm_tf_keras_2_weights.h5'));
    expect(w.keras.layers.map((r) => [r.name, r.params, r.trainableParams])).toEqual(tfjsRows(ref).map((r) => [r.name, r.params, r.trainable]));
    expect(w.text).toContain(`Total params: ${ref.countParams().toLocaleString('en-US')}`);
  });

  it('tfjs-layers model.json (corpus embedding_gru)', async () => {
    const dir = corpusPath('tfjs', 'embedding_gru');
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    const bin = readFileSync(join(dir, json.weightsManifest[0].paths[0]));
    const ref = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) }));
    const { keras, text } = await summaryOf(join(dir, 'model.json'));
    expectMatches(keras, ref, text, 'embedding_gru');
  });

  it('the .keras and tfjs files Rosetta writes from a corpus .h5 summarise like the original', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rosetta-inspect-'));
    const ref = await tfjsFromH5('cnn_batch_norm.h5');
    for (const out of ['m.keras', 'model.json']) {
      const c = await cli('convert', corpusPath('keras', 'cnn_batch_norm.h5'), join(dir, out));
      expect(c.code, c.err).toBe(0);
      const { keras, text } = await summaryOf(join(dir, out));
      expectMatches(keras, ref, text, out);
    }
  });
});
