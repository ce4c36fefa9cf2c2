/**
 * fixtures/keras/torch_goldens.json (written by fixtures/keras/make_torch_goldens.py with Debian's
 * PyTorch 1.13): Keras layer configs with Keras-layout weights, inputs and PyTorch's outputs for
 * the same functions. Loaded once here for the tests that check Keras layers against it
 * (test/formats/keras-torch-goldens.test.ts) and bind PyTorch weights onto them
 * (test/convert/binding-attention.test.ts).
 */
import { readFileSync } from 'node:fs';
import { lowerKerasModel } from '../../src/importers/keras/lower.js';
import { normalizeModel } from '../../src/importers/keras/normalize.js';
import type { Model } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { Session } from '../../src/runtime/session.js';
import { PROJECT_ROOT } from './corpus.js';

/** A float32 tensor as the golden file stores it. */
export type GoldenTensor = { shape: number[]; data: number[] };

/** One golden case: a Keras model config, its weights by layer name (Keras order), inputs, PyTorch's outputs. */
export interface TorchGoldenCase {
  name: string;
  config: unknown;
  weights: Record<string, GoldenTensor[]>;
  inputs: GoldenTensor[];
  outputs: GoldenTensor[];
}

/** The parsed golden file: the PyTorch version that wrote it and its cases. */
export const TORCH_GOLDENS = JSON.parse(readFileSync(`${PROJECT_ROOT}/fixtures/keras/torch_goldens.json`, 'utf8')) as { torch: string; cases: TorchGoldenCase[] };

export const goldenTensor = (t: GoldenTensor): Tensor => new Tensor('float32', t.shape, Float32Array.from(t.data));

/** Lower a case's Keras config with its weights (as Keras 2.15), keeping the config in the metadata as the importers do. */
export function buildGoldenModel(c: TorchGoldenCase): Model {
  const model = lowerKerasModel(normalizeModel(c.config, c.name), {
    file: c.name,
    kerasVersion: '2.15.0',
    weights: (path) => (c.weights[path[path.length - 1]!] ?? []).map((w, i) => ({ name: `${path.join('/')}/${i}`, tensor: goldenTensor(w) })),
  });
  model.metadata['keras.config'] = JSON.stringify(c.config);
  return model;
}

/** Run `m` on `xs` (in graph-input order) and return its outputs in graph-output order. */
export async function runModel(m: Model, xs: Tensor[]): Promise<Tensor[]> {
  const s = await Session.create(m);
  const out = (await s.run(Object.fromEntries(m.graph.inputs.map((inp, i) => [inp.name, xs[i]!])))).outputs;
  return m.graph.outputs.map((o) => out[o.name] as Tensor);
}
