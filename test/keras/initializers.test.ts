/**
 * Keras initialisers: the distributions keras/src/initializers define (glorot/he/lecun limits and
 * standard deviations from `compute_fans`, orthogonal rows/columns orthonormal, LSTM forget bias),
 * seeded reproducibility, and `trainable: false` layers that stay frozen in `fit` and count as
 * non-trainable in `summary()`.
 */
import { describe, expect, it } from 'vitest';
import { Tensor, tensorsBitEqual } from '../../src/ir/tensor.js';
import { RandomSource, Sequential, computeFans, initialize, layers } from '../../src/keras/index.js';

const stats = (t: Tensor): { mean: number; sd: number; maxAbs: number } => {
  const v = t.toNumbers();
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  return { mean, sd, maxAbs: Math.max(...v.map(Math.abs)) };
};

describe('Keras initialisers', () => {
  it('compute_fans follows Keras (dense, conv receptive field)', () => {
    expect(computeFans([20, 30])).toEqual([20, 30]);
    expect(computeFans([3, 3, 16, 32])).toEqual([144, 288]);
    expect(computeFans([5])).toEqual([5, 5]);
  });

  it('glorot_uniform stays within ±√(6/(fan_in+fan_out)) and has the uniform variance', () => {
    const t = initialize('glorot_uniform', [200, 300], new RandomSource(1));
    const lim = Math.sqrt(6 / 500);
    const s = stats(t);
    expect(s.maxAbs).toBeLessThanOrEqual(lim);
    expect(s.maxAbs).toBeGreaterThan(lim * 0.99);
    expect(Math.abs(s.sd - lim / Math.sqrt(3))).toBeLessThan(0.01 * lim);
    expect(Math.abs(s.mean)).toBeLessThan(0.01 * lim);
  });

  it('he_normal: truncated normal with stddev √(2/fan_in) after truncation', () => {
    const t = initialize('HeNormal', [3, 3, 64, 64], new RandomSource(2));
    const want = Math.sqrt(2 / (9 * 64));
    const s = stats(t);
    expect(Math.abs(s.sd - want)).toBeLessThan(0.02 * want);
    // Truncated at two (pre-scaling) standard deviations.
    expect(s.maxAbs).toBeLessThanOrEqual((2 * want) / 0.8796256610342398 + 1e-6);
  });

  it('orthogonal gives orthonormal rows (wide) or columns (tall)', () => {
    for (const shape of [[8, 32], [32, 8]]) {
      const t = initialize('orthogonal', shape, new RandomSource(3));
      const [r, c] = shape as [number, number];
      const wide = r <= c;
      const n = wide ? r : c;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          let dot = 0;
          for (let k = 0; k < (wide ? c : r); k++) dot += wide ? t.get(i * c + k) * t.get(j * c + k) : t.get(k * c + i) * t.get(k * c + j);
          expect(dot).toBeCloseTo(i === j ? 1 : 0, 5);
        }
      }
    }
  });

  it('the same seed gives the same model weights; another seed different ones', () => {
    const make = (seed: number): Sequential => new Sequential([layers.Dense(4, { inputShape: [3] })], { seed });
    const a = make(5).getWeights();
    const b = make(5).getWeights();
    const c = make(6).getWeights();
    expect(tensorsBitEqual(a[0]!, b[0]!)).toBe(true);
    expect(tensorsBitEqual(a[0]!, c[0]!)).toBe(false);
  });

  it('trainable: false freezes a layer in fit and counts as non-trainable in summary()', async () => {
    const m = new Sequential([layers.Dense(4, { inputShape: [3], trainable: false }), layers.Dense(1)], { seed: 8 });
    const rows = m.layerSummaries();
    expect(rows.map((r) => [r.params, r.trainableParams])).toEqual([
      [16, 0],
      [5, 5],
    ]);
    expect(m.summary({ printFn: () => {} })).toContain('Non-trainable params: 16');
    const before = m.getWeights();
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    const x = new Tensor('float32', [8, 3], Float32Array.from({ length: 24 }, (_, i) => Math.sin(i)));
    const y = new Tensor('float32', [8, 1], Float32Array.from({ length: 8 }, (_, i) => i / 8));
    await m.fit(x, y, { epochs: 3, verbose: 0 });
    const after = m.getWeights();
    expect(tensorsBitEqual(after[0]!, before[0]!)).toBe(true);
    expect(tensorsBitEqual(after[1]!, before[1]!)).toBe(true);
    expect(tensorsBitEqual(after[2]!, before[2]!)).toBe(false);
  });
});
