/**
 * Test helpers for the src/nn, autograd and training tests: PyTorch 1.13 fixtures written by
 * fixtures/pytorch/make_fixtures.py (see its docstring for the array names) and a tolerance check
 * that reports the worst element.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { readNpz } from '../../src/formats/npy.js';
import { Tensor } from '../../src/ir/tensor.js';

export const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'pytorch');

export function loadFixture(name: string): Map<string, Tensor> {
  // A plain Uint8Array copy: readNpy decodes with `raw.slice()`, which is a view (not a copy) when
  // the bytes are a Node Buffer, so its `.buffer` offset would be wrong.
  return readNpz(new Uint8Array(readFileSync(join(FIXTURES, `${name}.npz`))), `${name}.npz`);
}

/** Arrays with a prefix (`sd.`, `grad.`…) as a key → tensor map without the prefix. */
export function withPrefix(arrays: Map<string, Tensor>, prefix: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [k, v] of arrays) if (k.startsWith(prefix) && !k.endsWith('.sum')) out.set(k.slice(prefix.length), v);
  return out;
}

/** Worst |a−e| − (atol + rtol·|e|) over all elements; ≤ 0 means within tolerance. */
export function expectClose(actual: Tensor, expected: Tensor, opts: { rtol?: number; atol?: number; what?: string } = {}): void {
  const rtol = opts.rtol ?? 1e-4;
  const atol = opts.atol ?? 1e-5;
  expect(actual.size, `${opts.what ?? 'tensor'}: element count`).toBe(expected.size);
  let worst = -Infinity;
  let at = -1;
  for (let i = 0; i < expected.size; i++) {
    const a = actual.get(i);
    const e = expected.get(i);
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (excess > worst || Number.isNaN(excess)) {
      worst = Number.isNaN(excess) ? Infinity : excess;
      at = i;
    }
  }
  if (worst > 0) {
    expect.fail(`${opts.what ?? 'tensor'}: element ${at} is ${actual.get(at)}, expected ${expected.get(at)} (rtol ${rtol}, atol ${atol})`);
  }
}

/** Values of `full` at the flat indices `idx` (fixtures store big tensors sampled). */
export function sampled(full: Tensor, idx: Tensor): Tensor {
  const out = new Float32Array(idx.size);
  for (let i = 0; i < idx.size; i++) out[i] = full.get(idx.get(i));
  return new Tensor('float32', [idx.size], out);
}

/** Compare a parameter against a fixture array that may be sampled (`sample.<key>` present). */
export function expectParamClose(arrays: Map<string, Tensor>, prefix: string, key: string, actual: Tensor, opts: { rtol?: number; atol?: number } = {}): void {
  const expected = arrays.get(prefix + key);
  if (!expected) throw new Error(`fixture has no ${prefix}${key}`);
  const idx = arrays.get(`sample.${key}`);
  if (idx && expected.size !== actual.size) {
    expectClose(sampled(actual, idx), expected, { ...opts, what: `${prefix}${key} (sampled)` });
    const sum = arrays.get(`${prefix}${key}.sum`)!.get(0);
    const mine = actual.toNumbers().reduce((a, b) => a + b, 0);
    expect(Math.abs(mine - sum), `${prefix}${key}: sum ${mine} vs ${sum}`).toBeLessThanOrEqual(1e-3 * Math.max(1, Math.abs(sum)) + 1e-3);
  } else {
    expectClose(actual, expected, { ...opts, what: `${prefix}${key}` });
  }
}
