/**
 * Random generators (RandomNormal, RandomUniform, *Like, Multinomial, Bernoulli). Their ONNX
 * conformance cases compare against numpy's RNG stream and are excluded
 * (test/conformance/exclusions.json); here we check what the spec does define: output shape and
 * dtype, the distribution's moments and support (with bounds loose enough to fail only on a real
 * bug: 6 standard errors), and that a `seed` attribute makes the draw reproducible.
 */
import { describe, expect, it } from 'vitest';
import type { Attr } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { runOp } from './tensor-goldens.js';

const int = (value: number): Attr => ({ type: 'int', value });
const float = (value: number): Attr => ({ type: 'float', value });
const ints = (value: number[]): Attr => ({ type: 'ints', value });

function moments(t: Tensor): { mean: number; std: number; min: number; max: number } {
  const v = t.toNumbers();
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  return { mean, std, min: Math.min(...v), max: Math.max(...v) };
}

const N = 20000;

describe('random generators', () => {
  it('RandomNormal: shape, dtype, mean and scale', async () => {
    const [y] = (await runOp('RandomNormal', { shape: ints([100, 200]), mean: float(1), scale: float(2) }, [], 1)) as Tensor[];
    expect(y!.dtype).toBe('float32');
    expect(y!.shape).toEqual([100, 200]);
    const m = moments(y!);
    expect(Math.abs(m.mean - 1)).toBeLessThan((6 * 2) / Math.sqrt(N));
    expect(Math.abs(m.std - 2)).toBeLessThan(0.1);
  });
  it('RandomUniform: float16 output inside [low, high)', async () => {
    const [y] = (await runOp('RandomUniform', { shape: ints([N]), low: float(-1), high: float(3), dtype: int(10) }, [], 1)) as Tensor[];
    expect(y!.dtype).toBe('float16');
    const m = moments(y!);
    expect(m.min).toBeGreaterThanOrEqual(-1);
    expect(m.max).toBeLessThanOrEqual(3);
    expect(Math.abs(m.mean - 1)).toBeLessThan((6 * 4) / Math.sqrt(12 * N));
  });
  it('RandomNormalLike / RandomUniformLike take shape and dtype from the input', async () => {
    const x = new Tensor('float64', [3, 4]);
    const [a] = (await runOp('RandomNormalLike', {}, [x], 1)) as Tensor[];
    const [b] = (await runOp('RandomUniformLike', { dtype: int(1) }, [x], 1)) as Tensor[];
    expect([a!.dtype, a!.shape]).toEqual(['float64', [3, 4]]);
    expect([b!.dtype, b!.shape]).toEqual(['float32', [3, 4]]);
  });
  it('a seed attribute makes the draw reproducible', async () => {
    const run = async (seed: number) => ((await runOp('RandomUniform', { shape: ints([16]), seed: float(seed) }, [], 1))[0] as Tensor).toNumbers();
    expect(await run(3)).toEqual(await run(3));
    expect(await run(3)).not.toEqual(await run(4));
  });
  it('Multinomial: class frequencies follow softmax of the logits', async () => {
    const p = [0.1, 0.6, 0.3];
    const logits = Tensor.from('float32', [2, 3], [...p.map(Math.log), ...p.map((q) => Math.log(q) + 5)]);
    const [y] = (await runOp('Multinomial', { sample_size: int(N), dtype: int(7) }, [logits], 1)) as Tensor[];
    expect(y!.dtype).toBe('int64');
    expect(y!.shape).toEqual([2, N]);
    const v = y!.toNumbers();
    for (let b = 0; b < 2; b++) {
      for (let k = 0; k < 3; k++) {
        const freq = v.slice(b * N, (b + 1) * N).filter((c) => c === k).length / N;
        expect(Math.abs(freq - p[k]!)).toBeLessThan(6 * Math.sqrt((p[k]! * (1 - p[k]!)) / N));
      }
    }
    const [d] = (await runOp('Multinomial', {}, [logits], 1)) as Tensor[];
    expect([d!.dtype, d!.shape]).toEqual(['int32', [2, 1]]);
  });
  it('Bernoulli: p = 0 and 1 are certain, p = 0.25 has the right frequency', async () => {
    const probs = Tensor.from('float64', [3, N], [...new Array(N).fill(0), ...new Array(N).fill(1), ...new Array(N).fill(0.25)]);
    const [y] = (await runOp('Bernoulli', {}, [probs], 1)) as Tensor[];
    expect(y!.dtype).toBe('float64');
    const v = y!.toNumbers();
    expect(v.slice(0, N).every((x) => x === 0)).toBe(true);
    expect(v.slice(N, 2 * N).every((x) => x === 1)).toBe(true);
    const freq = v.slice(2 * N).reduce((a, b) => a + b, 0) / N;
    expect(Math.abs(freq - 0.25)).toBeLessThan(6 * Math.sqrt((0.25 * 0.75) / N));
    const [b] = (await runOp('Bernoulli', { dtype: int(9) }, [Tensor.from('float32', [2], [0, 1])], 1)) as Tensor[];
    expect([b!.dtype, b!.toNumbers()]).toEqual(['bool', [0, 1]]);
  });
  it('integer outputs are rejected with a typed error', async () => {
    await expect(runOp('RandomNormal', { shape: ints([2]), dtype: int(6) }, [], 1)).rejects.toMatchObject({ code: 'E_UNSUPPORTED_DTYPE' });
  });
});
