/**
 * Conv / ConvTranspose (src/kernels/cpu/conv.ts: im2col/col2im + blocked GEMM) against naive
 * reference loops written straight from the ONNX definitions, on odd sizes with groups, depthwise,
 * dilations, strides, asymmetric pads, auto_pad, 1-D/2-D/3-D, the 1×1 direct path, float64 and
 * float16. The conformance suite covers few of these combinations; the references here are the
 * spec's formulas, not outputs of the code under test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttrReader, attrInts, attrString, attrInt } from '../../src/ir/attrs.js';
import type { Attr } from '../../src/ir/graph.js';
import { f16ToF32 } from '../../src/ir/float-bits.js';
import { Tensor } from '../../src/ir/tensor.js';
import { setGemmKernel } from '../../src/kernels/cpu/gemm.js';
import { CPU_KERNELS } from '../../src/kernels/cpu/index.js';
import type { KernelContext } from '../../src/kernels/cpu/kernel.js';

function ctxFor(opType: string, attrs: Record<string, Attr>, nOut = 1): KernelContext {
  const node = { name: `${opType}_test`, opType, domain: '', inputs: [], outputs: Array.from({ length: nOut }, (_, i) => `y${i}`), attrs, scope: '' };
  return { node, attrs: new AttrReader(attrs, node), training: false, random: Math.random, runSubgraph: async () => [] };
}

function rand(shape: number[], seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    d[i] = s / 2 ** 32 - 0.5;
  }
  return new Tensor('float32', shape, d);
}

function unravel(i: number, shape: number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d]!;
    i = Math.floor(i / shape[d]!);
  }
  return idx;
}
function ravel(idx: number[], shape: number[]): number {
  let o = 0;
  for (let d = 0; d < shape.length; d++) o = o * shape[d]! + idx[d]!;
  return o;
}

interface ConvCase {
  name: string;
  x: number[];
  w: number[];
  group?: number;
  strides?: number[];
  dilations?: number[];
  pads?: number[];
  bias?: boolean;
}

/** y[n, m, o...] = b[m] + Σ_{c in group, k...} x[n, c, o·s − pb + k·d] · w[m, c', k...] (zero outside). */
function naiveConv(x: Tensor, w: Tensor, b: Tensor | undefined, group: number, s: number[], d: number[], pads: number[]): { shape: number[]; data: Float64Array } {
  const nd = x.rank - 2;
  const [N, C] = x.shape as number[];
  const M = w.shape[0]!;
  const k = w.shape.slice(2);
  const out = x.shape.slice(2).map((n, i) => Math.floor((n + pads[i]! + pads[i + nd]! - (k[i]! - 1) * d[i]! - 1) / s[i]!) + 1);
  const shape = [N!, M, ...out];
  const y = new Float64Array(shape.reduce((p, q) => p * q, 1));
  const Cg = C! / group;
  const Mg = M / group;
  const kSize = k.reduce((p, q) => p * q, 1);
  for (let i = 0; i < y.length; i++) {
    const [n, m, ...o] = unravel(i, shape) as [number, number, ...number[]];
    const g = Math.floor(m / Mg);
    let acc = b ? b.data[m] as number : 0;
    for (let c = 0; c < Cg; c++) {
      for (let t = 0; t < kSize; t++) {
        const kk = unravel(t, k);
        const pos = o.map((ov, j) => ov * s[j]! - pads[j]! + kk[j]! * d[j]!);
        if (pos.some((p, j) => p < 0 || p >= x.shape[2 + j]!)) continue;
        acc += (x.data[ravel([n, g * Cg + c, ...pos], x.shape as number[])] as number) * (w.data[ravel([m, c, ...kk], w.shape as number[])] as number);
      }
    }
    y[i] = acc;
  }
  return { shape, data: y };
}

const convCases: ConvCase[] = [
  { name: '2-D 3×3 pad 1', x: [2, 3, 9, 7], w: [5, 3, 3, 3], pads: [1, 1, 1, 1], bias: true },
  { name: '2-D stride 2, asymmetric pads', x: [1, 4, 11, 10], w: [6, 4, 3, 2], strides: [2, 3], pads: [0, 1, 2, 0] },
  { name: '2-D dilated', x: [1, 2, 12, 13], w: [3, 2, 3, 3], dilations: [2, 3], pads: [2, 1, 2, 1], bias: true },
  { name: '2-D groups', x: [2, 6, 8, 8], w: [9, 2, 3, 3], group: 3, pads: [1, 1, 1, 1], bias: true },
  { name: '2-D depthwise', x: [1, 8, 10, 9], w: [8, 1, 3, 3], group: 8, strides: [2, 2], pads: [1, 1, 1, 1] },
  { name: '2-D depthwise with multiplier', x: [1, 4, 7, 7], w: [8, 1, 5, 5], group: 4, pads: [2, 2, 2, 2] },
  { name: '1-D depthwise dilated, asymmetric pads', x: [2, 5, 19], w: [5, 1, 4], group: 5, strides: [2], dilations: [3], pads: [4, 1], bias: true },
  { name: '2-D depthwise dilated, kernel wider than input', x: [1, 3, 4, 3], w: [3, 1, 3, 5], group: 3, dilations: [2, 1], pads: [2, 3, 1, 2], bias: true },
  { name: '1×1 direct path', x: [3, 7, 5, 6], w: [11, 7, 1, 1], bias: true },
  { name: '1×1 strided (im2col)', x: [1, 5, 9, 9], w: [4, 5, 1, 1], strides: [2, 2] },
  { name: '1-D', x: [2, 3, 17], w: [4, 3, 5], strides: [2], pads: [2, 1], dilations: [1], bias: true },
  { name: '3-D', x: [1, 2, 5, 6, 7], w: [3, 2, 3, 2, 3], strides: [1, 2, 1], pads: [1, 0, 1, 1, 1, 0], bias: true },
  { name: '3-D grouped dilated', x: [1, 4, 7, 7, 6], w: [4, 2, 2, 3, 2], group: 2, dilations: [2, 1, 2] },
  // < 64 output positions per image and batch > 1: one GEMM over every image's columns (the form
  // autograd's weight gradients take: kernel as large as the input, a few output taps)
  { name: 'batched columns: weight-gradient shape', x: [5, 4, 9, 8], w: [6, 4, 9, 8], pads: [1, 1, 1, 1], bias: true },
  { name: 'batched columns: strides, dilations, asymmetric pads', x: [3, 2, 11, 12], w: [4, 2, 4, 3], strides: [2, 3], dilations: [2, 3], pads: [0, 2, 1, 1] },
  { name: 'batched columns: 1-D', x: [4, 3, 20], w: [2, 3, 15], pads: [2, 0], bias: true },
  { name: 'batched columns: 3-D', x: [2, 2, 4, 5, 6], w: [3, 2, 3, 4, 4], pads: [0, 1, 0, 1, 0, 1], bias: true },
  { name: 'large GEMM (crosses blocks)', x: [1, 40, 20, 20], w: [70, 40, 3, 3], pads: [1, 1, 1, 1], bias: true },
  // conv-gather.ts (SIMD kernel only; the JS kernel runs the same cases through im2col):
  // tap form (stride 1, C·taps ≥ 32) and window form (< 64 outputs, dilation 1)
  { name: 'tap form: dilation, asymmetric pads, odd width', x: [3, 8, 9, 11], w: [5, 8, 3, 2], dilations: [2, 1], pads: [1, 0, 2, 1], bias: true },
  { name: 'tap form: 1-D dilated', x: [2, 16, 23], w: [7, 16, 3], dilations: [2], pads: [1, 2] },
  { name: 'tap form: images across column blocks, M not a multiple of 4', x: [9, 12, 10, 10], w: [70, 12, 3, 3], pads: [1, 1, 1, 1], bias: true },
  { name: 'window form: one image, strides, asymmetric pads', x: [1, 6, 13, 12], w: [4, 6, 11, 9], strides: [1, 2], pads: [1, 1, 0, 2], bias: true },
  { name: 'window form: window longer than one K block, K mod 4 ≠ 0', x: [2, 2, 22, 21], w: [3, 2, 19, 19], bias: true },
];

describe.each(['wasm', 'js'] as const)('Conv matches the naive definition (%s GEMM kernel)', (kernel) => {
  // The SIMD kernel path packs im2col straight into GEMM panels; the JS path materialises it.
  beforeAll(() => setGemmKernel(kernel));
  afterAll(() => setGemmKernel('wasm'));

  it.each(convCases)('$name', (c) => {
    const nd = c.x.length - 2;
    const x = rand(c.x, 1);
    const w = rand(c.w, 2);
    const b = c.bias ? rand([c.w[0]!], 3) : undefined;
    const strides = c.strides ?? new Array<number>(nd).fill(1);
    const dil = c.dilations ?? new Array<number>(nd).fill(1);
    const pads = c.pads ?? new Array<number>(2 * nd).fill(0);
    const attrs: Record<string, Attr> = { strides: attrInts(strides), dilations: attrInts(dil), pads: attrInts(pads), group: attrInt(c.group ?? 1) };
    const [y] = CPU_KERNELS.Conv!([x, w, b], ctxFor('Conv', attrs)) as Tensor[];
    const ref = naiveConv(x, w, b, c.group ?? 1, strides, dil, pads);
    expect(y!.shape).toEqual(ref.shape);
    for (let i = 0; i < ref.data.length; i++) expect(Math.abs((y!.data[i] as number) - ref.data[i]!)).toBeLessThan(1e-5);
  });

  it('auto_pad SAME_UPPER and SAME_LOWER put the odd pad at the end / start', () => {
    const x = rand([1, 2, 6, 6], 4);
    const w = rand([3, 2, 4, 4], 5);
    for (const mode of ['SAME_UPPER', 'SAME_LOWER']) {
      const [y] = CPU_KERNELS.Conv!([x, w], ctxFor('Conv', { auto_pad: attrString(mode), strides: attrInts([2, 2]) })) as Tensor[];
      // out = ceil(6/2) = 3; total pad = (3−1)·2 + 4 − 6 = 2 → 1 + 1 (even: both modes agree)
      const ref = naiveConv(x, w, undefined, 1, [2, 2], [1, 1], [1, 1, 1, 1]);
      expect(y!.shape).toEqual([1, 3, 3, 3]);
      ref.data.forEach((v, i) => expect(y!.data[i]).toBeCloseTo(v, 5));
    }
    const w3 = rand([3, 2, 3, 3], 6);
    const upper = CPU_KERNELS.Conv!([x, w3], ctxFor('Conv', { auto_pad: attrString('SAME_UPPER'), strides: attrInts([2, 2]) })) as Tensor[];
    const lower = CPU_KERNELS.Conv!([x, w3], ctxFor('Conv', { auto_pad: attrString('SAME_LOWER'), strides: attrInts([2, 2]) })) as Tensor[];
    // total pad = (3−1)·2 + 3 − 6 = 1: SAME_UPPER pads the end, SAME_LOWER the start
    const refU = naiveConv(x, w3, undefined, 1, [2, 2], [1, 1], [0, 0, 1, 1]);
    const refL = naiveConv(x, w3, undefined, 1, [2, 2], [1, 1], [1, 1, 0, 0]);
    refU.data.forEach((v, i) => expect(upper[0]!.data[i]).toBeCloseTo(v, 5));
    refL.data.forEach((v, i) => expect(lower[0]!.data[i]).toBeCloseTo(v, 5));
  });

  it('float64 and float16 inputs keep their dtype', () => {
    const x = rand([1, 3, 6, 5], 7);
    const w = rand([4, 3, 3, 3], 8);
    const ref = naiveConv(x, w, undefined, 1, [1, 1], [1, 1], [1, 1, 1, 1]);
    const x64 = new Tensor('float64', x.shape, Float64Array.from(x.data as Float32Array));
    const w64 = new Tensor('float64', w.shape, Float64Array.from(w.data as Float32Array));
    const [y64] = CPU_KERNELS.Conv!([x64, w64], ctxFor('Conv', { pads: attrInts([1, 1, 1, 1]) })) as Tensor[];
    expect(y64!.dtype).toBe('float64');
    ref.data.forEach((v, i) => expect(y64!.data[i]).toBeCloseTo(v, 12));
    const x16 = Tensor.from('float16', x.shape, Array.from(x.data as Float32Array));
    const w16 = Tensor.from('float16', w.shape, Array.from(w.data as Float32Array));
    const ref16 = naiveConv(new Tensor('float32', x.shape, Float32Array.from(x16.toNumbers())), new Tensor('float32', w.shape, Float32Array.from(w16.toNumbers())), undefined, 1, [1, 1], [1, 1], [1, 1, 1, 1]);
    const [y16] = CPU_KERNELS.Conv!([x16, w16], ctxFor('Conv', { pads: attrInts([1, 1, 1, 1]) })) as Tensor[];
    expect(y16!.dtype).toBe('float16');
    ref16.data.forEach((v, i) => expect(Math.abs(f16ToF32(y16!.data[i] as number) - v)).toBeLessThan(2e-3));
  });

  it('huge pads with a huge stride (one output window, all padding) give zeros, not a RangeError from padded planes', () => {
    const x = rand([2, 3, 4, 4], 1);
    const w = rand([5, 3, 3, 3], 2);
    for (const p of [1e6, 3e8]) {
      const attrs: Record<string, Attr> = { pads: attrInts([p, p, p, p]), strides: attrInts([1e9, 1e9]) };
      const [y] = CPU_KERNELS.Conv!([x, w], ctxFor('Conv', attrs)) as Tensor[];
      expect(y!.shape).toEqual([2, 5, 1, 1]);
      expect(Array.from(y!.data as Float32Array)).toEqual(new Array<number>(10).fill(0));
    }
  });

  it('a non-finite input reaches only the outputs whose windows hold it (window form falls back)', () => {
    const x = rand([2, 3, 8, 8], 1);
    // image 1, channel 0, row 0, last column: in the windows of output (0, 5) only; the window form's
    // zero-padded kernel rows would also touch it from outputs (0, 0..4)
    (x.data as Float32Array)[3 * 64 + 7] = Infinity;
    const w = rand([4, 3, 3, 3], 2);
    const attrs: Record<string, Attr> = { pads: attrInts([0, 0, 0, 0]) };
    const [y] = CPU_KERNELS.Conv!([x, w], ctxFor('Conv', attrs)) as Tensor[];
    const ref = naiveConv(x, w, undefined, 1, [1, 1], [1, 1], [0, 0, 0, 0]);
    for (let i = 0; i < ref.data.length; i++) {
      if (Number.isFinite(ref.data[i]!)) expect(Math.abs((y!.data[i] as number) - ref.data[i]!)).toBeLessThan(1e-5);
      else expect(y!.data[i]).toBe(ref.data[i]);
    }
  });

  it('float64 through the batched-columns form (batch > 1, few outputs, bias)', () => {
    const x = rand([3, 2, 7, 6], 17);
    const w = rand([4, 2, 6, 5], 18);
    const b = rand([4], 19);
    const ref = naiveConv(x, w, b, 1, [1, 1], [1, 1], [1, 1, 1, 1]);
    const f64 = (t: Tensor) => new Tensor('float64', t.shape, Float64Array.from(t.data as Float32Array));
    const [y] = CPU_KERNELS.Conv!([f64(x), f64(w), f64(b)], ctxFor('Conv', { pads: attrInts([1, 1, 1, 1]) })) as Tensor[];
    expect(y!.shape).toEqual([3, 4, 4, 4]);
    ref.data.forEach((v, i) => expect(y!.data[i]).toBeCloseTo(v, 12));
  });

  it('rejects a weight whose channels do not match the input', () => {
    expect(() => CPU_KERNELS.Conv!([rand([1, 3, 5, 5], 1), rand([2, 2, 3, 3], 2)], ctxFor('Conv', {}))).toThrow(/E_SHAPE_MISMATCH/);
    expect(() => CPU_KERNELS.Conv!([rand([1, 3, 5, 5], 1), rand([2, 3, 3, 3], 2)], ctxFor('Conv', { auto_pad: attrString('BOGUS') }))).toThrow(/E_INVALID_ATTR/);
  });
});

interface TCase {
  name: string;
  x: number[];
  w: number[];
  group?: number;
  strides?: number[];
  dilations?: number[];
  pads?: number[];
  outputPadding?: number[];
  bias?: boolean;
}

/** y[n, g·Mg + m, i·s − pb + k·d] += x[n, g·Cg + c, i] · w[g·Cg + c, m, k] (the adjoint of Conv). */
function naiveConvTranspose(x: Tensor, w: Tensor, b: Tensor | undefined, group: number, s: number[], d: number[], pads: number[], op: number[]): { shape: number[]; data: Float64Array } {
  const nd = x.rank - 2;
  const [N, C] = x.shape as number[];
  const Mg = w.shape[1]!;
  const M = Mg * group;
  const Cg = C! / group;
  const k = w.shape.slice(2);
  const inSp = x.shape.slice(2);
  const out = inSp.map((n, i) => s[i]! * (n - 1) + op[i]! + (k[i]! - 1) * d[i]! + 1 - pads[i]! - pads[i + nd]!);
  const shape = [N!, M, ...out];
  const y = new Float64Array(shape.reduce((p, q) => p * q, 1));
  if (b) for (let i = 0; i < y.length; i++) y[i] = b.data[unravel(i, shape)[1]!] as number;
  const kSize = k.reduce((p, q) => p * q, 1);
  for (let i = 0; i < x.size; i++) {
    const [n, c, ...pos] = unravel(i, x.shape as number[]) as [number, number, ...number[]];
    const g = Math.floor(c / Cg);
    for (let m = 0; m < Mg; m++) {
      for (let t = 0; t < kSize; t++) {
        const kk = unravel(t, k);
        const o = pos.map((p, j) => p * s[j]! - pads[j]! + kk[j]! * d[j]!);
        if (o.some((v, j) => v < 0 || v >= out[j]!)) continue;
        y[ravel([n, g * Mg + m, ...o], shape)] += (x.data[i] as number) * (w.data[ravel([c, m, ...kk], w.shape as number[])] as number);
      }
    }
  }
  return { shape, data: y };
}

const tCases: TCase[] = [
  { name: '2-D stride 2', x: [1, 3, 5, 4], w: [3, 2, 3, 3], strides: [2, 2], bias: true },
  { name: '2-D pads + output_padding', x: [2, 2, 4, 5], w: [2, 3, 3, 2], strides: [3, 2], pads: [1, 0, 1, 1], outputPadding: [1, 1] },
  { name: '2-D groups + dilations', x: [1, 4, 5, 5], w: [4, 3, 3, 3], group: 2, dilations: [2, 2], bias: true },
  { name: '1-D', x: [1, 3, 7], w: [3, 4, 4], strides: [3], pads: [1, 2] },
  { name: '3-D', x: [1, 2, 3, 4, 3], w: [2, 2, 2, 3, 2], strides: [2, 1, 2], bias: true },
  // stride 1 runs as a Conv with the flipped kernel (conv.ts flipTransposed → conv-gather.ts)
  { name: '2-D stride 1, asymmetric pads (flipped-kernel Conv)', x: [2, 8, 6, 7], w: [8, 5, 3, 3], pads: [1, 0, 2, 1], bias: true },
  { name: '2-D stride 1, groups, dilation, output_padding', x: [1, 6, 5, 5], w: [6, 2, 3, 2], group: 3, dilations: [2, 1], pads: [1, 0, 0, 1], outputPadding: [1, 0] },
  { name: '2-D stride 1, pads beyond the kernel (col2im path)', x: [1, 3, 6, 6], w: [3, 2, 2, 2], pads: [2, 1, 1, 2] },
];

describe('ConvTranspose matches the naive definition', () => {
  it.each(tCases)('$name', (c) => {
    const nd = c.x.length - 2;
    const x = rand(c.x, 11);
    const w = rand(c.w, 12);
    const group = c.group ?? 1;
    const b = c.bias ? rand([c.w[1]! * group], 13) : undefined;
    const s = c.strides ?? new Array<number>(nd).fill(1);
    const d = c.dilations ?? new Array<number>(nd).fill(1);
    const pads = c.pads ?? new Array<number>(2 * nd).fill(0);
    const op = c.outputPadding ?? new Array<number>(nd).fill(0);
    const attrs: Record<string, Attr> = { strides: attrInts(s), dilations: attrInts(d), pads: attrInts(pads), output_padding: attrInts(op), group: attrInt(group) };
    const [y] = CPU_KERNELS.ConvTranspose!([x, w, b], ctxFor('ConvTranspose', attrs)) as Tensor[];
    const ref = naiveConvTranspose(x, w, b, group, s, d, pads, op);
    expect(y!.shape).toEqual(ref.shape);
    for (let i = 0; i < ref.data.length; i++) expect(Math.abs((y!.data[i] as number) - ref.data[i]!)).toBeLessThan(1e-5);
  });

  it('output_shape chooses the pads (odd total: extra pad at the start unless SAME_UPPER)', () => {
    const x = rand([1, 1, 3, 3], 14);
    const w = rand([1, 2, 3, 3], 15);
    // full size = 2·(3−1) + 3 = 7; asking for 6 leaves a total pad of 1
    const [y] = CPU_KERNELS.ConvTranspose!([x, w], ctxFor('ConvTranspose', { strides: attrInts([2, 2]), output_shape: attrInts([6, 6]) })) as Tensor[];
    const ref = naiveConvTranspose(x, w, undefined, 1, [2, 2], [1, 1], [1, 1, 0, 0], [0, 0]);
    expect(y!.shape).toEqual([1, 2, 6, 6]);
    ref.data.forEach((v, i) => expect(y!.data[i]).toBeCloseTo(v, 5));
  });
});
