/**
 * tfjs-layers as the independent Keras oracle for tests: build a model from a Keras model JSON
 * (`tf.models.modelFromJSON`), set each layer's weights in Keras order, and predict. Also seeded
 * inputs and a tolerance check shared by the Keras tests.
 */
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { Tensor } from '../../src/ir/tensor.js';
import { seededRandom } from '../../src/runtime/session.js';

export { tf };

/** Wrap an old bare-list Sequential config the way tfjs-layers expects a Keras 2.2+ one. */
export function tfjsTopology(config: unknown): Record<string, unknown> {
  const c = config as { class_name: string; config: unknown };
  if (c.class_name === 'Sequential' && Array.isArray(c.config)) return { class_name: 'Sequential', config: { name: 'sequential', layers: c.config } };
  return c as Record<string, unknown>;
}

/** Build a tfjs-layers model from a Keras JSON and give every layer its Keras-order weights. */
export async function tfjsModel(config: unknown, weights: Map<string, Tensor[]>): Promise<tf.LayersModel> {
  const m = await tf.models.modelFromJSON({ modelTopology: tfjsTopology(config) as never });
  for (const layer of m.layers) {
    const w = weights.get(layer.name);
    if (!w || w.length === 0) continue;
    layer.setWeights(w.map((t) => tf.tensor(Array.from(t.toNumbers()), t.shape.slice())));
  }
  return m;
}

/** Run tfjs and return plain Tensors. */
export function tfjsPredict(m: tf.LayersModel, inputs: Tensor[]): Tensor[] {
  const xs = inputs.map((t) => tf.tensor(Array.from(t.toNumbers()), t.shape.slice(), 'float32'));
  const y = m.predict(xs.length === 1 ? xs[0]! : xs);
  const ys = Array.isArray(y) ? y : [y];
  const out = ys.map((t) => new Tensor('float32', t.shape, Float32Array.from(t.dataSync())));
  xs.forEach((x) => x.dispose());
  ys.forEach((t) => t.dispose());
  return out;
}

/** Seeded uniform floats in [lo, hi) (integers when `int`). */
export function seededTensor(shape: number[], seed: number, lo = -1, hi = 1, int = false): Tensor {
  const r = seededRandom(seed);
  const n = shape.reduce((a, d) => a * d, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = int ? Math.floor(lo + r() * (hi - lo)) : lo + r() * (hi - lo);
  return new Tensor('float32', shape, d);
}

/** |got - want| ≤ atol + rtol·|want| elementwise, with a readable failure. */
export function expectClose(got: Tensor, want: Tensor, rtol = 1e-4, atol = 1e-5, what = 'output'): void {
  expect(got.shape, `${what} shape`).toEqual(want.shape);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.size; i++) {
    const g = got.get(i);
    const w = want.get(i);
    const excess = Math.abs(g - w) - (atol + rtol * Math.abs(w));
    if (!(excess <= worst)) {
      worst = Number.isNaN(excess) ? Infinity : excess;
      at = i;
    }
  }
  expect(at, `${what}: element ${at} got ${at >= 0 ? got.get(at) : ''}, want ${at >= 0 ? want.get(at) : ''}`).toBe(-1);
}
