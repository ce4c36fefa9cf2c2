/**
 * The blocked float32 GEMM (src/kernels/cpu/gemm.ts) against a naive triple loop on odd sizes that
 * cross every blocking edge (MR/NR = 4, MC = 64, KC = 256), all transpose combinations, alpha/beta,
 * offsets and leading dimensions larger than the matrix. The reference is the definition of GEMM,
 * computed in float64; tolerance covers float32 accumulation order. Both micro-kernels are checked:
 * the WebAssembly SIMD one (wasm-gemm.ts) and the plain-JS one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activeGemmKernel, dgemm, setGemmKernel, sgemm, type GemmKernel } from '../../src/kernels/cpu/gemm.js';
import { wasmGemm } from '../../src/kernels/cpu/wasm-gemm.js';

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
  [1, 1, 1], [3, 5, 7], [4, 4, 4], [17, 9, 33], [65, 7, 3], [5, 70, 257], [130, 67, 300], [1, 513, 40], [64, 1, 520],
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
    if (kernel === 'wasm' && !wasmGemm()) console.warn('[rosetta tests] no WebAssembly SIMD here: the wasm case runs the JS kernel');
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
