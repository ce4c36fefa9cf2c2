/**
 * Keras layers tfjs-layers cannot check (GRU reset_after=True, MultiHeadAttention incl. causal,
 * Attention with a learned scale) against PyTorch 1.13 computing the same functions:
 * fixtures/keras/torch_goldens.json, written by fixtures/keras/make_torch_goldens.py (which
 * also documents the weight conversions into the Keras layouts).
 */
import { describe, expect, it } from 'vitest';
import { exportTfjs, exportKerasZip } from '../../src/exporters/keras/index.js';
import { kerasZipImporter } from '../../src/importers/keras/index.js';
import type { Model } from '../../src/ir/graph.js';
import { tensorsBitEqual } from '../../src/ir/tensor.js';
import { expectClose } from '../helpers/keras-oracle.js';
import { TORCH_GOLDENS as goldens, buildGoldenModel, goldenTensor as tensor, runModel as run, type TorchGoldenCase } from '../helpers/torch-goldens.js';

function build(c: TorchGoldenCase): Model {
  const model = buildGoldenModel(c);
  model.metadata['keras.version'] = '2.15.0';
  return model;
}

describe(`Keras layers vs PyTorch ${goldens.torch} goldens`, () => {
  for (const c of goldens.cases) {
    it(c.name, async () => {
      const got = await run(build(c), c.inputs.map(tensor));
      expect(got.length).toBe(c.outputs.length);
      got.forEach((g, i) => expectClose(g, tensor(c.outputs[i]!), 1e-4, 1e-5, c.name));
    });
  }
  it('MultiHeadAttention and GRU(reset_after) survive .keras round trips bit-identically; tfjs takes MHA and refuses GRU(reset_after), which tfjs-layers cannot load', async () => {
    for (const c of goldens.cases.filter((x) => x.name === 'mha_cross' || x.name === 'gru_reset_after')) {
      const m = build(c);
      const zip = await exportKerasZip(m, 'm.keras');
      const back = ((await kerasZipImporter.open({ name: 'm.keras', bytes: zip.files.get('m.keras')! })) as { model: Model }).model;
      for (const [name, info] of m.graph.params) {
        const other = [...back.graph.params].find(([, i]) => i.scope === info.scope && i.role === info.role);
        expect(other, `${c.name} ${info.role}`).toBeDefined();
        expect(tensorsBitEqual(m.graph.initializers.get(name)!, back.graph.initializers.get(other![0])!)).toBe(true);
      }
      // tfjs-layers' GRUCell throws on reset_after=True, so the tfjs writer refuses that model
      // (src/exporters/keras/index.ts adaptForTfjs) instead of writing a file tfjs cannot load.
      if (c.name === 'gru_reset_after') await expect(exportTfjs(m, 'model.json')).rejects.toMatchObject({ code: 'E_UNSUPPORTED', message: expect.stringMatching(/reset_after=True/) });
      else await expect(exportTfjs(m, 'model.json')).resolves.toBeDefined();
    }
  });
});
