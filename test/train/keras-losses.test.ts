/**
 * Keras-style losses (`fromLogits` both ways, Keras's 1e-7 clipping) against tfjs, the JS
 * implementation of Keras's formulas: tf.metrics.* (tfjs-layers' Keras losses, per sample) and
 * tf.losses.softmaxCrossEntropy / sigmoidCrossEntropy (TF's from-logits forms), batch-averaged.
 */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { Tensor } from '../../src/ir/tensor.js';
import * as nn from '../../src/nn/index.js';
import { seededRandom } from '../../src/runtime/session.js';

const rnd = seededRandom(5);
const N = 6;
const C = 4;
const logits = Array.from({ length: N * C }, () => rnd() * 4 - 2);
const probs = logits.map((_, i) => {
  const r = Math.floor(i / C);
  const row = logits.slice(r * C, r * C + C).map(Math.exp);
  return row[i % C]! / row.reduce((a, b) => a + b, 0);
});
const labels = Array.from({ length: N }, () => Math.floor(rnd() * C));
const onehot = labels.flatMap((l) => Array.from({ length: C }, (_, c) => (c === l ? 1 : 0)));
const bin = Array.from({ length: N * C }, () => (rnd() > 0.5 ? 1 : 0));

function ours(f: (t: nn.Trace) => nn.Var): number {
  return f(new nn.Trace()).item();
}
const f32 = (t: nn.Trace, v: number[]): nn.Var => t.input(Tensor.from('float32', [N, C], v), `v${Math.floor(rnd() * 1e9)}`);
const mean = (x: tf.Tensor): number => x.mean().dataSync()[0]!;

describe('Keras-style losses match tfjs', () => {
  const cases: [string, () => number, () => number][] = [
    ['categorical_crossentropy', () => ours((t) => nn.categoricalCrossentropy(f32(t, onehot), f32(t, probs))), () => mean(tf.metrics.categoricalCrossentropy(tf.tensor2d(onehot, [N, C]), tf.tensor2d(probs, [N, C])))],
    [
      'sparse_categorical_crossentropy',
      () => ours((t) => nn.sparseCategoricalCrossentropy(Tensor.from('int64', [N], labels.map(BigInt)), f32(t, probs))),
      () => mean(tf.metrics.categoricalCrossentropy(tf.tensor2d(onehot, [N, C]), tf.tensor2d(probs, [N, C]))),
    ],
    ['categorical_crossentropy fromLogits', () => ours((t) => nn.categoricalCrossentropy(f32(t, onehot), f32(t, logits), { fromLogits: true })), () => tf.losses.softmaxCrossEntropy(tf.tensor2d(onehot, [N, C]), tf.tensor2d(logits, [N, C])).dataSync()[0]!],
    [
      'sparse_categorical_crossentropy fromLogits',
      () => ours((t) => nn.sparseCategoricalCrossentropy(Tensor.from('int64', [N], labels.map(BigInt)), f32(t, logits), { fromLogits: true })),
      () => tf.losses.softmaxCrossEntropy(tf.tensor2d(onehot, [N, C]), tf.tensor2d(logits, [N, C])).dataSync()[0]!,
    ],
    ['binary_crossentropy', () => ours((t) => nn.binaryCrossentropy(f32(t, bin), f32(t, probs))), () => mean(tf.metrics.binaryCrossentropy(tf.tensor2d(bin, [N, C]), tf.tensor2d(probs, [N, C])))],
    ['binary_crossentropy fromLogits', () => ours((t) => nn.binaryCrossentropy(f32(t, bin), f32(t, logits), { fromLogits: true })), () => tf.losses.sigmoidCrossEntropy(tf.tensor2d(bin, [N, C]), tf.tensor2d(logits, [N, C])).dataSync()[0]!],
    ['mean_squared_error', () => ours((t) => nn.meanSquaredError(f32(t, probs), f32(t, logits))), () => mean(tf.metrics.meanSquaredError(tf.tensor2d(probs, [N, C]), tf.tensor2d(logits, [N, C])))],
    ['mean_absolute_error', () => ours((t) => nn.meanAbsoluteError(f32(t, probs), f32(t, logits))), () => mean(tf.metrics.meanAbsoluteError(tf.tensor2d(probs, [N, C]), tf.tensor2d(logits, [N, C])))],
  ];
  for (const [name, mine, ref] of cases) {
    it(name, () => {
      const a = mine();
      const b = ref();
      expect(Math.abs(a - b), `${a} vs tfjs ${b}`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(b)));
    });
  }
});
