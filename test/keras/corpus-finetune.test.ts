/**
 * A real Keras file (../shared/corpus/keras/cnn_batch_norm.h5, written by Keras 2: Conv2D →
 * BatchNormalization → Activation → Conv2D → Flatten → Dense) loaded with the Keras-style API,
 * fine-tuned with `compile`/`fit` (its loss falls, BatchNormalization's moving statistics move),
 * then saved as `.keras` and reloaded with the tuned weights bit-identical.
 */
import { describe, expect, it } from 'vitest';
import { Tensor, tensorsBitEqual } from '../../src/ir/tensor.js';
import { Model } from '../../src/keras/index.js';
import { HAS_CORPUS, readCorpus } from '../helpers/corpus.js';
import { seededTensor } from '../helpers/keras-oracle.js';

describe.skipIf(!HAS_CORPUS)('fine-tuning a corpus Keras model Keras-style (skipped: ../shared/corpus absent)', () => {
  it('cnn_batch_norm.h5: loss falls, moving statistics update, .keras round trip keeps the tuned weights', async () => {
    const name = 'cnn_batch_norm.h5';
    const m = await Model.fromFiles(new Map([[name, readCorpus('keras', name)]]), name);
    const x = seededTensor([32, 10, 10, 3], 4);
    // A learnable target: a fixed linear function of the input's channel means.
    const y = new Tensor('float32', [32, 1], Float32Array.from({ length: 32 }, (_, i) => {
      let s = 0;
      for (let k = 0; k < 300; k++) s += x.get(i * 300 + k) * (k % 3 === 0 ? 1 : -0.5);
      return s / 30;
    }));
    const before = m.getWeights();
    m.compile({ optimizer: 'adam', loss: 'mse' });
    const h = await m.fit(x, y, { epochs: 20, batchSize: 8, verbose: 0 });
    const loss = h.history.loss!;
    expect(loss[19]!).toBeLessThan(loss[0]! * 0.7);
    const after = m.getWeights();
    // Keras order for the BatchNormalization layer: gamma, beta, moving_mean, moving_variance (indices 2..5).
    expect(tensorsBitEqual(after[4]!, before[4]!)).toBe(false);
    expect(tensorsBitEqual(after[0]!, before[0]!)).toBe(false);
    const files = await m.toFiles('tuned.keras');
    const back = await Model.fromFiles(files, 'tuned.keras');
    back.getWeights().forEach((w, i) => expect(tensorsBitEqual(w, after[i]!), `weight ${i}`).toBe(true));
  }, 60_000);
});
