/**
 * The binder's Flatten→Dense row rule follows the architecture's data_format
 * (src/convert/binding.ts `KerasRowOrder`): a Keras weights file of a `channels_first` model stores
 * the Dense kernel rows after a Flatten in (c, h, w) order — already the IR's order — and must not
 * be permuted; a `channels_last` one stores (h, w, c) and must be.
 *
 * Oracle: tfjs-layers (@tensorflow/tfjs 4.22, the JavaScript implementation of Keras) running the
 * same Keras JSON with the same seeded weights. The Keras architecture is lowered by the Keras
 * importer, its parameters zeroed, and the weights bound back by their Keras names.
 */
import { describe, expect, it } from 'vitest';
import { bindWeights } from '../../src/convert/binding.js';
import { lowerKerasModel } from '../../src/importers/keras/lower.js';
import { normalizeModel } from '../../src/importers/keras/normalize.js';
import type { WeightSet } from '../../src/importers/types.js';
import type { Model } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { Session, seededRandom } from '../../src/runtime/session.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { loadModel, saveModel } from '../../src/node/index.js';
import { expectClose, seededTensor, tf, tfjsPredict } from '../helpers/keras-oracle.js';

function config(dataFormat: 'channels_first' | 'channels_last'): unknown {
  const shape = dataFormat === 'channels_first' ? [null, 2, 5, 4] : [null, 5, 4, 2];
  return {
    class_name: 'Sequential',
    config: {
      name: 'seq',
      layers: [
        { class_name: 'Conv2D', config: { name: 'conv', filters: 3, kernel_size: [3, 2], padding: 'valid', data_format: dataFormat, activation: 'relu', batch_input_shape: shape } },
        { class_name: 'Flatten', config: { name: 'flat' } },
        { class_name: 'Dense', config: { name: 'dense', units: 2 } },
      ],
    },
  };
}

/** tfjs-layers model with seeded weights, and the same weights as a Keras-named weight set. */
async function reference(cfg: unknown): Promise<{ ref: tf.LayersModel; keras: WeightSet; byLayer: Map<string, { name: string; tensor: Tensor }[]> }> {
  const ref = await tf.models.modelFromJSON({ modelTopology: cfg as never });
  const rand = seededRandom(7);
  const keras: WeightSet = { format: 'keras-h5', tensors: new Map(), metadata: {}, notes: [] };
  const byLayer = new Map<string, { name: string; tensor: Tensor }[]>();
  for (const l of ref.layers) {
    const ws = l.getWeights();
    if (!ws.length) continue;
    const fresh = ws.map((w) => new Tensor('float32', w.shape, Float32Array.from({ length: w.size }, () => rand() - 0.5)));
    l.setWeights(fresh.map((t) => tf.tensor(Array.from(t.data as Float32Array), t.shape.slice())));
    const names = l.weights.map((w) => w.originalName);
    byLayer.set(l.name, fresh.map((tensor, k) => ({ name: names[k]!, tensor })));
    fresh.forEach((t, k) => keras.tensors.set(`${l.name}/${names[k]}:0`, t));
  }
  return { ref, keras, byLayer };
}

function lower(cfg: unknown, byLayer: Map<string, { name: string; tensor: Tensor }[]>): Model {
  const m = lowerKerasModel(normalizeModel(cfg, 'case'), { file: 'case', kerasVersion: 'tfjs-layers 4.22.0', // copies: the architecture's parameters are zeroed in place later
    weights: (path) => (byLayer.get(path[path.length - 1]!) ?? []).map((w) => ({ name: w.name, tensor: new Tensor('float32', w.tensor.shape, (w.tensor.data as Float32Array).slice()) })),
  });
  m.metadata['keras.config'] = JSON.stringify(cfg); // as every Keras importer records it
  return m;
}

describe('Flatten→Dense row order follows the Keras architecture data_format', () => {
  for (const df of ['channels_first', 'channels_last'] as const) {
    it(`${df}: Keras weights bind back onto the zeroed architecture; outputs match tfjs-layers`, async () => {
      const cfg = config(df);
      const { ref, keras, byLayer } = await reference(cfg);
      const full = lower(cfg, byLayer);
      const arch = lower(cfg, byLayer);
      for (const name of arch.graph.params.keys()) (arch.graph.initializers.get(name)!.data as Float32Array).fill(0);
      const { model, report } = bindWeights(arch, keras);
      expect(report.missing).toEqual([]);
      expect(report.unused).toEqual([]);
      const dense = report.transformed.find((t) => t.sources[0] === 'dense/dense/kernel:0')?.transform;
      if (df === 'channels_first') expect(dense).toBe('Dense [in, out] → [out, in]');
      else expect(dense).toMatch(/^Dense \[in, out\] → \[out, in\]; Flatten→Dense rows \(h, w, c\) → \(c, h, w\)/);
      for (const name of full.graph.params.keys()) {
        expect(Array.from(model.graph.initializers.get(name)!.data as Float32Array), name).toEqual(Array.from(full.graph.initializers.get(name)!.data as Float32Array));
      }
      const x = seededTensor(df === 'channels_first' ? [2, 2, 5, 4] : [2, 5, 4, 2], 11);
      const want = tfjsPredict(ref, [x])[0]!;
      const s = await Session.create(model);
      const got = (await s.run({ [model.graph.inputs[0]!.name]: x })).outputs[model.graph.outputs[0]!.name] as Tensor;
      expectClose(got, want, 1e-4, 1e-5, df);
    });
  }

  it('a non-Keras architecture with kerasDataFormat: channels_first binds the kernel rows unpermuted', async () => {
    // the channels_first Keras model's own architecture, stripped of its Keras origin (as if read from ONNX)
    const cfg = config('channels_first');
    const { ref, keras, byLayer } = await reference(cfg);
    const arch = lower(cfg, byLayer);
    delete arch.metadata['keras.config'];
    for (const name of arch.graph.params.keys()) (arch.graph.initializers.get(name)!.data as Float32Array).fill(0);
    // default (channels_last assumed): the rows get permuted, which is wrong for this file
    const assumed = bindWeights(arch, keras).report.transformed.find((t) => t.sources[0] === 'dense/dense/kernel:0')?.transform;
    expect(assumed).toMatch(/Flatten→Dense rows/);
    const { model, report } = bindWeights(arch, keras, { kerasDataFormat: 'channels_first' });
    expect(report.transformed.find((t) => t.sources[0] === 'dense/dense/kernel:0')?.transform).toBe('Dense [in, out] → [out, in]');
    const x = seededTensor([2, 2, 5, 4], 12);
    const s = await Session.create(model);
    const got = (await s.run({ [model.graph.inputs[0]!.name]: x })).outputs[model.graph.outputs[0]!.name] as Tensor;
    expectClose(got, tfjsPredict(ref, [x])[0]!, 1e-4, 1e-5, 'kerasDataFormat');
  });

  it('rosetta convert --keras-data-format channels_first: a Keras weights file onto an ONNX architecture', async () => {
    const cfg = config('channels_first');
    const { ref, byLayer } = await reference(cfg);
    const dir = mkdtempSync(join(tmpdir(), 'rosetta-df-'));
    await saveModel(lower(cfg, byLayer), join(dir, 'w.weights.h5')); // Keras-named weights of the channels_first model
    const arch = lower(cfg, byLayer);
    delete arch.metadata['keras.config'];
    for (const name of arch.graph.params.keys()) (arch.graph.initializers.get(name)!.data as Float32Array).fill(0);
    await saveModel(arch, join(dir, 'arch.onnx'));
    const x = seededTensor([2, 2, 5, 4], 13);
    const want = tfjsPredict(ref, [x])[0]!;
    const outputOf = async (file: string): Promise<Tensor> => {
      const m = await loadModel(file);
      return (await (await Session.create(m)).run({ [m.graph.inputs[0]!.name]: x })).outputs[m.graph.outputs[0]!.name] as Tensor;
    };
    const quiet = { stdout: () => undefined, stderr: () => undefined };
    const convert = (out: string, ...extra: string[]) => main(['convert', join(dir, 'w.weights.h5'), join(dir, out), '--arch', join(dir, 'arch.onnx'), ...extra], quiet);
    expect(await convert('flag.onnx', '--keras-data-format', 'channels_first')).toBe(0);
    expectClose(await outputOf(join(dir, 'flag.onnx')), want, 1e-4, 1e-5, '--keras-data-format channels_first');
    // without the flag the binder assumes channels_last and permutes the rows: different outputs
    expect(await convert('default.onnx')).toBe(0);
    const wrong = await outputOf(join(dir, 'default.onnx'));
    const diff = Math.max(...Array.from(wrong.data as Float32Array, (v, i) => Math.abs(v - (want.data as Float32Array)[i]!)));
    expect(diff).toBeGreaterThan(1e-3);
  });
});
