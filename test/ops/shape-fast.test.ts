/**
 * The strided-copy fast path (src/kernels/cpu/copy.ts: dim merging, row `set`, broadcast fill,
 * 64×64 tiles, multi-word elements) against a plain per-element reference written here, over
 * seeded random shapes, permutations, slices, tilings and pads, for every storage width
 * (uint8/bool, float16, float32, int64, complex64, string). The references use only index
 * arithmetic from the ONNX op definitions, so a disagreement is a bug in the fast path.
 */
import { describe, expect, it } from 'vitest';
import type { DType } from '../../src/ir/dtype.js';
import { stridesOf, Tensor } from '../../src/ir/tensor.js';
import { runOp } from './tensor-goldens.js';

let seed = 12345;
const rnd = (n: number): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed >>> 8) % n;
};

function randomTensor(dtype: DType, shape: number[]): Tensor {
  const t = new Tensor(dtype, shape);
  const d = t.data as unknown as Record<number, unknown>;
  const len = Array.isArray(t.data) ? t.data.length : t.data.length;
  for (let i = 0; i < len; i++) {
    if (dtype === 'string') d[i] = `s${rnd(1000)}`;
    else if (dtype === 'int64') d[i] = BigInt(rnd(1 << 30)) * 2n ** 33n + BigInt(i);
    else if (dtype === 'bool') d[i] = rnd(2);
    else if (dtype === 'float16') d[i] = rnd(0x7c00);
    else d[i] = rnd(100000) / 7;
  }
  return t;
}

/** Element `flat` of `t` as comparable raw words (complex: both parts). */
function elem(t: Tensor, flat: number): unknown {
  const w = t.dtype === 'complex64' ? 2 : 1;
  const d = t.data as unknown as ArrayLike<unknown>;
  return w === 1 ? d[flat] : `${String(d[flat * 2])},${String(d[flat * 2 + 1])}`;
}

/** Naive reference: out[idx] = x[map(idx)], map returning a flat source index or -1 for `pad`. */
function reference(x: Tensor, outShape: number[], map: (idx: number[]) => number, pad: unknown = undefined): unknown[] {
  const n = outShape.reduce((a, b) => a * b, 1);
  const out: unknown[] = [];
  const os = stridesOf(outShape);
  for (let f = 0; f < n; f++) {
    const idx = outShape.map((_, d) => Math.floor(f / os[d]!) % outShape[d]!);
    const s = map(idx);
    out.push(s < 0 ? pad : elem(x, s));
  }
  return out;
}

const all = (t: Tensor): unknown[] => Array.from({ length: t.size }, (_, i) => elem(t, i));
const DTYPES: DType[] = ['uint8', 'bool', 'float16', 'float32', 'int64', 'complex64', 'string'];
const i64 = (v: number[]): Tensor => Tensor.from('int64', [v.length], v.map(BigInt));

describe('strided fast path agrees with a per-element reference', () => {
  it.each(DTYPES)('Transpose, random ranks 1–5 and permutations (%s)', async (dtype) => {
    for (let trial = 0; trial < 25; trial++) {
      const rank = 1 + rnd(5);
      const shape = Array.from({ length: rank }, () => 1 + rnd(rank <= 2 ? 90 : 7));
      const perm = [...Array(rank).keys()].sort(() => rnd(3) - 1);
      const x = randomTensor(dtype, shape);
      const [y] = (await runOp('Transpose', { perm: { type: 'ints', value: perm } }, [x], 1)) as Tensor[];
      const xs = stridesOf(shape);
      const expected = reference(x, perm.map((p) => shape[p]!), (idx) => idx.reduce((a, v, d) => a + v * xs[perm[d]!]!, 0));
      expect(y!.shape, `perm ${perm} of ${shape}`).toEqual(perm.map((p) => shape[p]!));
      expect(all(y!), `perm ${perm} of ${shape}`).toEqual(expected);
    }
  });

  it.each(DTYPES)('Slice with random starts, ends and (negative) steps (%s)', async (dtype) => {
    for (let trial = 0; trial < 25; trial++) {
      const rank = 1 + rnd(4);
      const shape = Array.from({ length: rank }, () => 1 + rnd(9));
      const x = randomTensor(dtype, shape);
      const axes = [...Array(rank).keys()].filter(() => rnd(2) === 0);
      const starts = axes.map((a) => rnd(shape[a]! * 2 + 1) - shape[a]!);
      const ends = axes.map((a) => rnd(shape[a]! * 2 + 3) - shape[a]! - 1);
      const steps = axes.map(() => (rnd(2) ? 1 : -1) * (1 + rnd(3)));
      const [y] = (await runOp('Slice', {}, [x, i64(starts), i64(ends), i64(axes), i64(steps)], 1)) as Tensor[];
      // Reference: python-style index lists per axis with ONNX clamping.
      const picks = shape.map((dim, a) => {
        const k = axes.indexOf(a);
        if (k < 0) return [...Array(dim).keys()];
        const st = steps[k]!;
        let s = starts[k]! < 0 ? starts[k]! + dim : starts[k]!;
        let e = ends[k]! < 0 ? ends[k]! + dim : ends[k]!;
        s = st > 0 ? Math.min(Math.max(s, 0), dim) : Math.min(Math.max(s, 0), dim - 1);
        e = st > 0 ? Math.min(Math.max(e, 0), dim) : Math.min(Math.max(e, -1), dim - 1);
        const out: number[] = [];
        for (let i = s; st > 0 ? i < e : i > e; i += st) out.push(i);
        return out;
      });
      const xs = stridesOf(shape);
      const expected = reference(x, picks.map((p) => p.length), (idx) => idx.reduce((acc, v, d) => acc + picks[d]![v]! * xs[d]!, 0));
      expect(y!.shape).toEqual(picks.map((p) => p.length));
      expect(all(y!)).toEqual(expected);
    }
  });

  it.each(DTYPES)('Tile and Expand (%s)', async (dtype) => {
    for (let trial = 0; trial < 20; trial++) {
      const rank = 1 + rnd(4);
      const shape = Array.from({ length: rank }, () => 1 + rnd(5));
      const reps = shape.map(() => 1 + rnd(3));
      const x = randomTensor(dtype, shape);
      const xs = stridesOf(shape);
      const [t] = (await runOp('Tile', {}, [x, i64(reps)], 1)) as Tensor[];
      expect(all(t!)).toEqual(reference(x, shape.map((d, i) => d * reps[i]!), (idx) => idx.reduce((a, v, d) => a + (v % shape[d]!) * xs[d]!, 0)));
      const small = shape.map((d) => (rnd(2) ? 1 : d));
      const xsm = randomTensor(dtype, small);
      const ss = stridesOf(small);
      const target = [1 + rnd(3), ...shape];
      const [e] = (await runOp('Expand', {}, [xsm, i64(target)], 1)) as Tensor[];
      expect(all(e!)).toEqual(reference(xsm, target, (idx) => idx.slice(1).reduce((a, v, d) => a + (small[d] === 1 ? 0 : v * ss[d]!), 0)));
    }
  });

  it.each(DTYPES.filter((d) => d !== 'complex64'))('constant Pad with growing and cropping pads (%s)', async (dtype) => {
    for (let trial = 0; trial < 20; trial++) {
      const rank = 1 + rnd(4);
      const shape = Array.from({ length: rank }, () => 5 + rnd(4));
      const before = shape.map(() => rnd(5) - 2);
      const after = shape.map(() => rnd(5) - 2);
      const x = randomTensor(dtype, shape);
      const value = randomTensor(dtype, []);
      const [y] = (await runOp('Pad', {}, [x, i64([...before, ...after]), value], 1)) as Tensor[];
      const xs = stridesOf(shape);
      const outShape = shape.map((d, i) => d + before[i]! + after[i]!);
      const expected = reference(x, outShape, (idx) => {
        let off = 0;
        for (let d = 0; d < rank; d++) {
          const s = idx[d]! - before[d]!;
          if (s < 0 || s >= shape[d]!) return -1;
          off += s * xs[d]!;
        }
        return off;
      }, elem(value, 0));
      expect(all(y!)).toEqual(expected);
    }
  });
});
