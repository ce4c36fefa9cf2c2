/**
 * The blocked float32 GEMM (src/kernels/cpu/gemm.ts) against a naive triple loop on odd sizes that
 * cross every blocking edge (MR/NR = 4, MC = 64, KC = 256), all transpose combinations, alpha/beta,
 * offsets and leading dimensions larger than the matrix. The reference is the definition of GEMM,
 * computed in float64; tolerance covers float32 accumulation order. Both micro-kernels are checked:
 * the WebAssembly SIMD one (wasm-gemm.ts) and the plain-JS one. MatMul (1-D promotion, batch
 * broadcasting, float16/float64/int32) and Gemm (C broadcasting) are checked against naive loops too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activeGemmKernel, dgemm, setGemmKernel, sgemm, type GemmKernel } from '../../src/kernels/cpu/gemm.js';
import { wasmGemm } from '../../src/kernels/cpu/wasm-gemm.js';
import { AttrReader, attrFloat, attrInt } from '../../src/ir/attrs.js';
import type { Attr } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { CPU_KERNELS } from '../../src/kernels/cpu/index.js';
import type { KernelContext } from '../../src/kernels/cpu/kernel.js';

function rand(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 32 - 0.5;
  }
  return a;
}

interface Case { M: number; N: number; K: number; tA: boolean; tB: boolean; alpha: number; beta: number }

function naive(c: Case, A: ArrayLike<number>, aOff: number, lda: number, B: ArrayLike<number>, bOff: number, ldb: number, C: Float64Array, cOff: number, ldc: number): void {
  for (let i = 0; i < c.M; i++) {
    for (let j = 0; j < c.N; j++) {
      let s = 0;
      for (let k = 0; k < c.K; k++) {
        const a = c.tA ? A[aOff + k * lda + i]! : A[aOff + i * lda + k]!;
        const b = c.tB ? B[bOff + j * ldb + k]! : B[bOff + k * ldb + j]!;
        s += a * b;
      }
      const o = cOff + i * ldc + j;
      C[o] = c.alpha * s + (c.beta === 0 ? 0 : c.beta * C[o]!);
    }
  }
}

const sizes: [number, number, number][] = [
  [1, 1, 1], [3, 5, 7], [4, 4, 4], [17, 9, 33], [65, 7, 3], [5, 70, 257], [130, 67, 300], [1, 513, 40], [64, 1, 520], [13, 2100, 37],
];
const cases: Case[] = [];
for (const [M, N, K] of sizes) {
  for (const tA of [false, true]) for (const tB of [false, true]) cases.push({ M, N, K, tA, tB, alpha: 1, beta: 0 });
  cases.push({ M, N, K, tA: false, tB: false, alpha: 0.5, beta: 2 });
}

const kernels: GemmKernel[] = ['js', 'wasm'];

describe.each(kernels)('sgemm (%s micro-kernel) matches the naive definition', (kernel) => {
  beforeAll(() => setGemmKernel(kernel));
  afterAll(() => setGemmKernel('wasm'));

  it('uses the requested kernel', () => {
    // Node ≥ 16.4 has WebAssembly SIMD on by default: a module that fails to validate is a bug here.
    if (kernel === 'wasm' && Number(process.versions.node.split('.')[0]) >= 20) expect(wasmGemm(), 'SIMD module validates and instantiates').toBeDefined();
    expect(activeGemmKernel()).toBe(kernel === 'wasm' && !wasmGemm() ? 'js' : kernel);
  });

  it.each(cases)('M=$M N=$N K=$K tA=$tA tB=$tB alpha=$alpha beta=$beta', (c) => {
    const padA = 3, padB = 2, padC = 5, offA = 7, offB = 11, offC = 13;
    const lda = (c.tA ? c.M : c.K) + padA;
    const ldb = (c.tB ? c.K : c.N) + padB;
    const ldc = c.N + padC;
    const A = rand(offA + (c.tA ? c.K : c.M) * lda, 1);
    const B = rand(offB + (c.tB ? c.N : c.K) * ldb, 2);
    const C0 = rand(offC + c.M * ldc, 3);
    const C = C0.slice();
    const ref = Float64Array.from(C0);
    sgemm(c.tA, c.tB, c.M, c.N, c.K, c.alpha, A, offA, lda, B, offB, ldb, c.beta, C, offC, ldc);
    naive(c, A, offA, lda, B, offB, ldb, ref, offC, ldc);
    let maxErr = 0;
    for (let i = 0; i < C.length; i++) {
      const inside = i >= offC && (i - offC) % ldc < c.N && i < offC + c.M * ldc;
      if (!inside) expect(C[i]).toBe(C0[i]); // nothing outside the C window is touched
      else maxErr = Math.max(maxErr, Math.abs(C[i]! - ref[i]!));
    }
    expect(maxErr).toBeLessThan(1e-4 * Math.max(1, Math.sqrt(c.K)));
  });

  it('beta = 0 overwrites NaN in C', () => {
    const C = new Float32Array([NaN, NaN, NaN, NaN]);
    sgemm(false, false, 2, 2, 1, 1, new Float32Array([1, 2]), 0, 1, new Float32Array([3, 4]), 0, 2, 0, C, 0, 2);
    expect(Array.from(C)).toEqual([3, 4, 6, 8]);
  });

});

describe('dgemm', () => {
  it('dgemm matches the naive definition (transposed B, alpha, beta)', () => {
    const c: Case = { M: 9, N: 11, K: 13, tA: true, tB: true, alpha: 1.5, beta: -1 };
    const A = Float64Array.from(rand(c.K * c.M, 4));
    const B = Float64Array.from(rand(c.N * c.K, 5));
    const C = Float64Array.from(rand(c.M * c.N, 6));
    const ref = C.slice();
    dgemm(true, true, c.M, c.N, c.K, c.alpha, A, 0, c.M, B, 0, c.K, c.beta, C, 0, c.N);
    naive(c, A, 0, c.M, B, 0, c.K, ref, 0, c.N);
    for (let i = 0; i < C.length; i++) expect(C[i]).toBeCloseTo(ref[i]!, 12);
  });
});

/** Naive numpy-matmul over broadcast batches, in float64, from the definition. */
function naiveMatmul(a: Tensor, b: Tensor): { shape: number[]; data: number[] } {
  const as = a.rank === 1 ? [1, a.shape[0]!] : a.shape.slice();
  const bs = b.rank === 1 ? [b.shape[0]!, 1] : b.shape.slice();
  const [M, K] = as.slice(-2) as [number, number];
  const N = bs[bs.length - 1]!;
  const ab = as.slice(0, -2);
  const bb = bs.slice(0, -2);
  const rank = Math.max(ab.length, bb.length);
  const pa = [...new Array<number>(rank - ab.length).fill(1), ...ab];
  const pb = [...new Array<number>(rank - bb.length).fill(1), ...bb];
  const batch = pa.map((d, i) => Math.max(d, pb[i]!));
  const nb = batch.reduce((x, y) => x * y, 1);
  const av = a.toNumbers();
  const bv = b.toNumbers();
  const out: number[] = [];
  for (let i = 0; i < nb; i++) {
    let r = i;
    let ao = 0;
    let bo = 0;
    let sa = 1;
    let sb = 1;
    for (let d = rank - 1; d >= 0; d--) {
      const idx = r % batch[d]!;
      r = Math.floor(r / batch[d]!);
      ao += (pa[d] === 1 ? 0 : idx) * sa;
      bo += (pb[d] === 1 ? 0 : idx) * sb;
      sa *= pa[d]!;
      sb *= pb[d]!;
    }
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += av[ao * M * K + m * K + k]! * bv[bo * K * N + k * N + n]!;
      out.push(s);
    }
  }
  const shape = [...batch, ...(a.rank === 1 ? [] : [M]), ...(b.rank === 1 ? [] : [N])];
  return { shape, data: out };
}

function randT(dtype: 'float32' | 'float16' | 'float64' | 'int32', shape: number[], seed: number): Tensor {
  const v = Array.from(rand(shape.reduce((x, y) => x * y, 1), seed), (x) => (dtype === 'int32' ? Math.round(x * 20) : x));
  return Tensor.from(dtype, shape, v);
}

function ctx(opType: string, attrs: Record<string, Attr> = {}): KernelContext {
  const node = { name: `${opType}_t`, opType, domain: '', inputs: [], outputs: ['y'], attrs, scope: '' };
  return { node, attrs: new AttrReader(attrs, node), training: false, random: Math.random, runSubgraph: async () => [] };
}

describe('MatMul: 1-D promotion, batch broadcasting, dtypes (naive reference)', () => {
  const shapes: [number[], number[]][] = [
    [[7], [7, 5]], [[6, 7], [7]], [[9], [9]], [[2, 1, 3, 4], [5, 4, 2]], [[3, 20, 17], [17, 13]], [[4, 9], [2, 3, 9, 11]], [[1, 70, 33], [2, 33, 40]],
  ];
  for (const dtype of ['float32', 'float16', 'float64', 'int32'] as const) {
    it.each(shapes)(`${dtype} %j × %j`, (sa, sb) => {
      const a = randT(dtype, sa, 1);
      const b = randT(dtype, sb, 2);
      const [y] = CPU_KERNELS.MatMul!([a, b], ctx('MatMul')) as Tensor[];
      const ref = naiveMatmul(a, b);
      expect(y!.dtype).toBe(dtype);
      expect(y!.shape).toEqual(ref.shape);
      const got = y!.toNumbers();
      const tol = dtype === 'float16' ? 2e-2 : dtype === 'float32' ? 1e-4 : 1e-9;
      ref.data.forEach((v, i) => expect(Math.abs(got[i]! - v)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(v))));
    });
  }

  it('rejects mismatched inner dimensions with E_SHAPE_MISMATCH', () => {
    expect(() => CPU_KERNELS.MatMul!([randT('float32', [2, 3], 1), randT('float32', [4, 2], 2)], ctx('MatMul'))).toThrow(/E_SHAPE_MISMATCH/);
  });
});

describe('Gemm: transposes, alpha/beta and C broadcasting (naive reference)', () => {
  const cShapes: number[][] = [[], [1], [11], [13, 1], [13, 11]];
  it.each(cShapes.map((cShape) => ({ cShape })))('C of shape $cShape', ({ cShape }) => {
    const a = randT('float32', [17, 13], 3); // transA: op(A) is 13×17
    const b = randT('float32', [11, 17], 4); // transB: op(B) is 17×11
    const c = randT('float32', cShape, 5);
    const [y] = CPU_KERNELS.Gemm!([a, b, c], ctx('Gemm', { transA: attrInt(1), transB: attrInt(1), alpha: attrFloat(0.5), beta: attrFloat(-2) })) as Tensor[];
    expect(y!.shape).toEqual([13, 11]);
    const av = a.toNumbers(), bv = b.toNumbers(), cv = c.toNumbers();
    for (let m = 0; m < 13; m++) for (let n = 0; n < 11; n++) {
      let s = 0;
      for (let k = 0; k < 17; k++) s += av[k * 13 + m]! * bv[n * 17 + k]!;
      const [cm, cn] = [...new Array<number>(2 - cShape.length).fill(1), ...cShape] as [number, number];
      const ci = (cm === 1 ? 0 : m) * cn + (cn === 1 ? 0 : n);
      expect(y!.data[m * 11 + n]).toBeCloseTo(0.5 * s - 2 * cv[ci]!, 4);
    }
  });
});
