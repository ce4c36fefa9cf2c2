/**
 * Matrix multiply kernels shared by MatMul, Gemm, Conv (im2col), ConvTranspose (col2im), the RNNs
 * and the quantised ops.
 *
 * `sgemm` is the hot path: float32, cache-blocked in the Goto/BLIS style (pack a KC×NC block of B
 * into NR-wide column panels and an MC×KC block of A into MR-high row panels, then a register-tiled
 * MR×NR micro-kernel walks both packed buffers linearly). Packing buffers are module-level and grow
 * on demand, so nothing is allocated inside the loops.
 *
 * When the engine has WebAssembly SIMD, the same blocking drives the 4×8 f32x4 micro-kernel of
 * wasm-gemm.ts instead (panels and the C block live in the module's memory, moved with memcpy-speed
 * `set`); the plain-JS 4×4 kernel (`microKernel`) is the fallback, and the tests run both
 * (`setGemmKernel`). Callers only ever see `sgemm`'s BLAS-style signature.
 *
 * `dgemm` is the straightforward reference-quality kernel used for float64 and for integer ops
 * computed exactly in float64 (MatMulInteger, ConvInteger: |products sums| < 2^53).
 *
 * Both compute C = alpha·op(A)·op(B) + beta·C on row-major storage with leading dimensions, like
 * BLAS: op(A) is M×K, op(B) is K×N, C is M×N. Spec context: https://onnx.ai/onnx/operators/onnx__Gemm.html
 */

import { type WasmGemm, wasmGemm } from './wasm-gemm.js';

const MR = 4;
const NR = 4;
const KC = 256;
const MC = 64;
const NC = 2048;

/** Which micro-kernel `sgemm` uses: 'wasm' (SIMD, when available) or 'js'. */
export type GemmKernel = 'wasm' | 'js';
let kernelChoice: GemmKernel = 'wasm';

/** Select the float32 micro-kernel (tests compare both; 'wasm' falls back to 'js' when unavailable). */
export function setGemmKernel(k: GemmKernel): void {
  kernelChoice = k;
}

/** The micro-kernel `sgemm` will actually use. */
export function activeGemmKernel(): GemmKernel {
  return kernelChoice === 'wasm' && wasmGemm() ? 'wasm' : 'js';
}

let packA = new Float32Array(MC * KC);
let packB = new Float32Array(KC * NC);

/**
 * C[M×N] = alpha · op(A) · op(B) + beta · C, float32. `transA`/`transB` select op(X) = Xᵀ; the
 * leading dimensions are those of the stored (untransposed) matrices. beta = 0 overwrites C
 * (NaN/Inf already in C do not leak, as BLAS specifies).
 */
export function sgemm(
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: Float32Array,
  aOff: number,
  lda: number,
  B: Float32Array,
  bOff: number,
  ldb: number,
  beta: number,
  C: Float32Array,
  cOff: number,
  ldc: number,
): void {
  if (M === 0 || N === 0) return;
  const w = kernelChoice === 'wasm' && K > 0 && alpha !== 0 && !(M <= SMALL_M && !transA) ? wasmGemm() : undefined;
  if (w) {
    // C's old values matter only when beta ≠ 0; the SIMD drivers zero their copy of C otherwise.
    if (beta !== 0) scaleC(M, N, beta, C, cOff, ldc);
    const a = stridedA(transA, M, K, A, aOff, lda);
    const b: GatherB = transB
      ? { kind: 'cols', src: B, lo: bOff, hi: bOff + (N - 1) * ldb + K, off: (j) => bOff + j * ldb }
      : { kind: 'rows', src: B, lo: bOff, hi: bOff + (K - 1) * ldb + N, off: (k) => bOff + k * ldb };
    if (!sgemmGather(M, N, K, alpha, a, b, beta === 0, C, cOff, ldc)) sgemmWasm(w, transA, transB, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, C, cOff, ldc, undefined, undefined, beta === 0);
    return;
  }
  scaleC(M, N, beta, C, cOff, ldc);
  if (K === 0 || alpha === 0) return;
  if (M <= SMALL_M && !transA) {
    // A few rows (batch-1 Linear, RNN steps): packing B would cost as much as the multiply.
    const ws = transB && kernelChoice === 'wasm' && K >= 16 ? wasmGemm() : undefined;
    if (ws) smallMDotWasm(ws, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, C, cOff, ldc);
    else if (transB) smallMDot(M, N, K, alpha, A, aOff, lda, B, bOff, ldb, C, cOff, ldc);
    else smallMAxpy(M, N, K, alpha, A, aOff, lda, B, bOff, ldb, C, cOff, ldc);
    return;
  }
  if (packB.length < KC * Math.min(N + NR, NC + NR)) packB = new Float32Array(KC * (Math.min(N, NC) + NR));
  if (packA.length < (MC + MR) * KC) packA = new Float32Array((MC + MR) * KC);
  const pa = packA;
  const pb = packB;
  for (let jc = 0; jc < N; jc += NC) {
    const nc = Math.min(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = Math.min(KC, K - pc);
      // op(B)[pc.., jc..] packed into NR-wide panels is op(B)ᵀ[jc.., pc..] packed into MR-high ones (MR = NR).
      packPanelsA(!transB, B, bOff, ldb, jc, pc, nc, kc, pb, 0);
      for (let ic = 0; ic < M; ic += MC) {
        const mc = Math.min(MC, M - ic);
        packPanelsA(transA, A, aOff, lda, ic, pc, mc, kc, pa, 0);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = Math.min(NR, nc - jr);
          const bp = jr * kc;
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = Math.min(MR, mc - ir);
            microKernel(kc, alpha, pa, ir * kc, pb, bp, C, cOff + (ic + ir) * ldc + jc + jr, ldc, mr, nr);
          }
        }
      }
    }
  }
}

function scaleC(M: number, N: number, beta: number, C: Float32Array | Float64Array, cOff: number, ldc: number): void {
  if (beta === 1) return;
  for (let i = 0; i < M; i++) {
    const row = cOff + i * ldc;
    if (beta === 0) C.fill(0, row, row + N);
    else for (let j = 0; j < N; j++) C[row + j] *= beta;
  }
}

/**
 * Pack op(A)[ic:ic+mc, pc:pc+kc] into MR-high panels, each kc×MR (k-major), zero-padded. Also packs
 * B for the 4×4 kernel: NR-wide panels of op(B) are MR-high panels of op(B)ᵀ, since MR = NR.
 */
function packPanelsA(trans: boolean, A: Float32Array, off: number, ld: number, ic: number, pc: number, mc: number, kc: number, out: Float32Array, outOff: number): void {
  for (let ir = 0; ir < mc; ir += MR) {
    const mr = Math.min(MR, mc - ir);
    let o = outOff + ir * kc;
    if (!trans && mr === MR) {
      let r0 = off + (ic + ir) * ld + pc;
      let r1 = r0 + ld;
      let r2 = r1 + ld;
      let r3 = r2 + ld;
      for (let p = 0; p < kc; p++) {
        out[o] = A[r0++]!;
        out[o + 1] = A[r1++]!;
        out[o + 2] = A[r2++]!;
        out[o + 3] = A[r3++]!;
        o += MR;
      }
      continue;
    }
    if (trans && mr === MR) {
      let src = off + pc * ld + ic + ir;
      for (let p = 0; p < kc; p++) {
        out[o] = A[src]!;
        out[o + 1] = A[src + 1]!;
        out[o + 2] = A[src + 2]!;
        out[o + 3] = A[src + 3]!;
        o += MR;
        src += ld;
      }
      continue;
    }
    for (let p = 0; p < kc; p++) {
      for (let i = 0; i < MR; i++) {
        out[o + i] = i < mr ? (trans ? A[off + (pc + p) * ld + ic + ir + i]! : A[off + (ic + ir + i) * ld + pc + p]!) : 0;
      }
      o += MR;
    }
  }
}

/**
 * The register tile: C[mr×nr] += alpha · Apanel(kc×MR) · Bpanel(kc×NR). Sixteen accumulators in
 * locals; the packed panels make both reads sequential. Edge tiles (mr, nr < 4) compute the full
 * tile on zero padding and store only the valid part.
 */
function microKernel(kc: number, alpha: number, a: Float32Array, ao: number, b: Float32Array, bo: number, C: Float32Array, co: number, ldc: number, mr: number, nr: number): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  const end = ao + kc * MR;
  for (; ao < end; ao += MR, bo += NR) {
    const a0 = a[ao]!, a1 = a[ao + 1]!, a2 = a[ao + 2]!, a3 = a[ao + 3]!;
    const b0 = b[bo]!, b1 = b[bo + 1]!, b2 = b[bo + 2]!, b3 = b[bo + 3]!;
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
  }
  if (mr === MR && nr === NR) {
    let o = co;
    C[o] += alpha * c00; C[o + 1] += alpha * c01; C[o + 2] += alpha * c02; C[o + 3] += alpha * c03;
    o += ldc;
    C[o] += alpha * c10; C[o + 1] += alpha * c11; C[o + 2] += alpha * c12; C[o + 3] += alpha * c13;
    o += ldc;
    C[o] += alpha * c20; C[o + 1] += alpha * c21; C[o + 2] += alpha * c22; C[o + 3] += alpha * c23;
    o += ldc;
    C[o] += alpha * c30; C[o + 1] += alpha * c31; C[o + 2] += alpha * c32; C[o + 3] += alpha * c33;
    return;
  }
  const t = tile;
  t[0] = c00; t[1] = c01; t[2] = c02; t[3] = c03;
  t[4] = c10; t[5] = c11; t[6] = c12; t[7] = c13;
  t[8] = c20; t[9] = c21; t[10] = c22; t[11] = c23;
  t[12] = c30; t[13] = c31; t[14] = c32; t[15] = c33;
  for (let i = 0; i < mr; i++) {
    for (let j = 0; j < nr; j++) C[co + i * ldc + j] += alpha * t[i * NR + j]!;
  }
}

const tile = new Float64Array(MR * NR);

const WNR = 8;
const WNC = 1024;

/** Pack op(B)[pc:pc+kc, jc:jc+nc] into 8-wide panels (kc×8, k-major, zero-padded) at out[outOff]. */
function packPanelsB8(trans: boolean, B: Float32Array, off: number, ld: number, pc: number, jc: number, kc: number, nc: number, out: Float32Array, outOff: number): void {
  for (let jr = 0; jr < nc; jr += WNR) {
    const nr = Math.min(WNR, nc - jr);
    let o = outOff + jr * kc;
    if (!trans && nr === WNR) {
      let src = off + pc * ld + jc + jr;
      for (let p = 0; p < kc; p++) {
        for (let j = 0; j < WNR; j++) out[o + j] = B[src + j]!;
        o += WNR;
        src += ld;
      }
      continue;
    }
    if (trans && nr === WNR) {
      // column j of op(B) is row (jc + jr + j) of B: walk each row once
      for (let j = 0; j < WNR; j++) {
        let src = off + (jc + jr + j) * ld + pc;
        for (let p = 0; p < kc; p++) out[o + p * WNR + j] = B[src++]!;
      }
      continue;
    }
    for (let p = 0; p < kc; p++) {
      for (let j = 0; j < WNR; j++) out[o + j] = j < nr ? (trans ? B[off + (jc + jr + j) * ld + pc + p]! : B[off + (pc + p) * ld + jc + jr + j]!) : 0;
      o += WNR;
    }
  }
}

/** op(B) packed once into the WebAssembly kernel's panel layout, for repeated products (RNN steps). */
export interface PackedB {
  K: number;
  N: number;
  data: Float32Array;
}

/**
 * A multiplier by a fixed right operand: returns f(M, A, aOff, lda, C, cOff, ldc) computing
 * C[M×N] = A[M×K] · op(B). With the SIMD kernel, op(B) is packed once here and each call only
 * copies the packed panels; otherwise each call is a plain `sgemm`.
 */
export function fixedRightOperand(transB: boolean, K: number, N: number, B: Float32Array, bOff: number, ldb: number): (M: number, A: Float32Array, aOff: number, lda: number, C: Float32Array, cOff: number, ldc: number) => void {
  const w = kernelChoice === 'wasm' ? wasmGemm() : undefined;
  if (!w || K === 0 || N === 0) return (M, A, aOff, lda, C, cOff, ldc) => sgemm(false, transB, M, N, K, 1, A, aOff, lda, B, bOff, ldb, 0, C, cOff, ldc);
  let total = 0;
  for (let jc = 0; jc < N; jc += WNC) total += K * Math.ceil(Math.min(WNC, N - jc) / WNR) * WNR;
  const data = new Float32Array(total);
  let off = 0;
  for (let jc = 0; jc < N; jc += WNC) {
    const nc = Math.min(WNC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = Math.min(KC, K - pc);
      packPanelsB8(transB, B, bOff, ldb, pc, jc, kc, nc, data, off);
      off += kc * Math.ceil(nc / WNR) * WNR;
    }
  }
  const pre: PackedB = { K, N, data };
  return (M, A, aOff, lda, C, cOff, ldc) => {
    if (M === 0) return;
    sgemmWasm(w, false, transB, M, N, K, 1, A, aOff, lda, B, bOff, ldb, C, cOff, ldc, pre, undefined, true);
  };
}

/**
 * Writes op(B)[pc:pc+kc, jc:jc+nc] into `out` from `off` in the SIMD kernel's panel layout: element
 * (k, n) at off + ⌊(n−jc)/8⌋·kc·8 + (k−pc)·8 + (n−jc) mod 8. Lanes past nc may be left as they are.
 */
export type PanelPacker = (pc: number, jc: number, kc: number, nc: number, out: Float32Array, off: number) => void;

/**
 * C = alpha·A·B + beta·C with B never materialised: `packB` writes each block straight into the
 * kernel's panels (Conv's implicit im2col). Returns false, doing nothing, when the SIMD kernel is
 * not in use; the caller then builds B and calls `sgemm`.
 */
export function sgemmImplicitB(M: number, N: number, K: number, alpha: number, A: Float32Array, aOff: number, lda: number, packB: PanelPacker, beta: number, C: Float32Array, cOff: number, ldc: number): boolean {
  const w = kernelChoice === 'wasm' ? wasmGemm() : undefined;
  if (!w) return false;
  if (M === 0 || N === 0) return true;
  if (K === 0 || alpha === 0 || beta !== 0) scaleC(M, N, beta, C, cOff, ldc);
  if (K === 0 || alpha === 0) return true;
  sgemmWasm(w, false, false, M, N, K, alpha, A, aOff, lda, C, 0, 0, C, cOff, ldc, undefined, packB, beta === 0);
  return true;
}

/** Floats of C kept in the kernel's memory at once (bounds the column block for tall products). */
const C_BLOCK_FLOATS = 1 << 20;

/**
 * sgemm's blocking with the WebAssembly SIMD micro-kernel. Per column block, C[:, jc:jc+nc] is
 * copied into the module memory, accumulated there by the kernel over every K block, and copied
 * back: only memcpy-speed `set` calls touch C from JS. Packed panels live in the module memory too.
 * `pre` supplies op(B) already packed (`fixedRightOperand`), in WNC-wide column blocks.
 */
function sgemmWasm(w: WasmGemm, transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: Float32Array, aOff: number, lda: number, B: Float32Array, bOff: number, ldb: number, C: Float32Array, cOff: number, ldc: number, pre?: PackedB, packer?: PanelPacker, zeroC = false): void {
  const mPad = Math.ceil(M / MR) * MR;
  const ncMax = pre ? WNC : Math.max(WNR, Math.min(WNC, Math.floor(C_BLOCK_FLOATS / mPad / WNR) * WNR));
  // Layout in floats: [packed A (MC+MR)·KC][packed B KC·ncMax][C block mPad·ncMax]
  const aF = 0;
  const bF = (MC + MR) * KC;
  const cF = bF + KC * ncMax;
  const needBytes = (cF + mPad * ncMax) * 4;
  if (w.memory.buffer.byteLength < needBytes) w.memory.grow(Math.ceil((needBytes - w.memory.buffer.byteLength) / 65536));
  const heap = new Float32Array(w.memory.buffer);
  let preOff = 0;
  for (let jc = 0; jc < N; jc += ncMax) {
    const nc = Math.min(ncMax, N - jc);
    const nPanels = Math.ceil(nc / WNR);
    const ldcW = nPanels * WNR;
    if (zeroC) heap.fill(0, cF, cF + M * ldcW);
    else for (let i = 0; i < M; i++) heap.set(C.subarray(cOff + i * ldc + jc, cOff + i * ldc + jc + nc), cF + i * ldcW);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = Math.min(KC, K - pc);
      if (pre) {
        const len = kc * ldcW;
        heap.set(pre.data.subarray(preOff, preOff + len), bF);
        preOff += len;
      } else if (packer) {
        packer(pc, jc, kc, nc, heap, bF);
      } else {
        packPanelsB8(transB, B, bOff, ldb, pc, jc, kc, nc, heap, bF);
      }
      for (let ic = 0; ic < M; ic += MC) {
        const mc = Math.min(MC, M - ic);
        packPanelsA(transA, A, aOff, lda, ic, pc, mc, kc, heap, aF);
        for (let ir = 0; ir < mc; ir += MR) w.panels(kc, (aF + ir * kc) * 4, 4, 16, bF * 4, (cF + (ic + ir) * ldcW) * 4, nPanels, ldcW * 4, alpha);
      }
    }
    if (ldcW === nc && ldc === nc) C.set(heap.subarray(cF, cF + M * nc), cOff + jc); // both sides dense: one copy
    else for (let i = 0; i < M; i++) C.set(heap.subarray(cF + i * ldcW, cF + i * ldcW + nc), cOff + i * ldc + jc);
  }
}

/** op(A) read in place: op(A)[i, k] = A[base + i·rs + k·ks], all reads within A[lo, hi). */
export interface StridedA {
  A: Float32Array;
  lo: number;
  hi: number;
  base: number;
  rs: number;
  ks: number;
}

/** op(A) of a BLAS-style operand (row-major, leading dimension lda) as a strided view. */
export function stridedA(transA: boolean, M: number, K: number, A: Float32Array, aOff: number, lda: number): StridedA {
  return transA ? { A, lo: aOff, hi: aOff + (K - 1) * lda + M, base: aOff, rs: 1, ks: lda } : { A, lo: aOff, hi: aOff + (M - 1) * lda + K, base: aOff, rs: lda, ks: 1 };
}

/**
 * op(B) as rows or columns gathered from one source array, for `sgemmGather`:
 * - 'rows': op(B)[k, j] = src[off(k) + j] (a row-major B, or a convolution's shifted input planes);
 * - 'cols': op(B)[k, j] = src[off(j) + k] (Bᵀ of a row-major B, or a convolution's windows).
 * With `block` L, the free index (j for rows, k for cols) is split into runs of L: the element
 * index becomes (index mod L) plus ⌊index / L⌋ · `blockShift` (one image after another, each in its
 * own place in src). Every read lies in src[lo, hi).
 */
export interface GatherB {
  kind: 'rows' | 'cols';
  src: Float32Array;
  lo: number;
  hi: number;
  off: (i: number) => number;
  block?: number;
  blockShift?: number;
}

/** Floats of kernel memory the gather driver may use for its operand copies (else: sgemmWasm). */
const GATHER_MAX_FLOATS = 1 << 24;

/**
 * C[M×N] = alpha · op(A) · op(B) (+ C when `zeroC` is false) on the SIMD kernel, with both operands
 * copied into the kernel memory as they are (one memcpy each) and B packed there by the module's
 * own `packrows`/`packcols`; A is never packed (the tile reads it with strides). `store`, when
 * given, replaces the copy of each finished column block of C (heap floats from `cF`, rows `ldcW`
 * apart, columns jc..jc+nc) — convolutions use it to scatter into their NCHW output.
 * Returns false, doing nothing, when SIMD is off or the operands are too large for one copy.
 */
export function sgemmGather(
  M: number,
  N: number,
  K: number,
  alpha: number,
  a: StridedA,
  b: GatherB,
  zeroC: boolean,
  C: Float32Array | undefined,
  cOff: number,
  ldc: number,
  store?: (heap: Float32Array, cF: number, ldcW: number, jc: number, nc: number) => void,
): boolean {
  const w = kernelChoice === 'wasm' ? wasmGemm() : undefined;
  if (!w || a.hi - a.lo + b.hi - b.lo > GATHER_MAX_FLOATS) return false;
  if (M === 0 || N === 0) return true;
  const L = b.block ?? 0;
  if (L && (b.kind === 'rows' ? L % WNR !== 0 : false)) return false;
  const mPad = Math.ceil(M / MR) * MR;
  let ncMax = Math.max(WNR, Math.min(WNC, Math.floor(C_BLOCK_FLOATS / mPad / WNR) * WNR));
  if (L && b.kind === 'rows') ncMax = Math.max(L, Math.floor(ncMax / L) * L);
  // Layout in floats: [A copy + overrun][B source + 8][packed B KC·ncMax][C block mPad·ncMax][address table]
  // The tile reads rows up to mPad − 1 and packrows up to 7 floats past a row: those land in the
  // next region, harmless garbage that only reaches C rows/columns that are never stored.
  const aLast = a.base + (mPad - 1) * a.rs + (K - 1) * a.ks;
  const aF = 0;
  const bF = Math.max(a.hi, aLast + 1) - a.lo + 8;
  const pF = bF + (b.hi - b.lo) + WNR;
  const cF = pF + KC * ncMax;
  const tF = cF + mPad * ncMax;
  const needBytes = (tF + Math.max(KC, ncMax) + WNR) * 4;
  if (w.memory.buffer.byteLength < needBytes) w.memory.grow(Math.ceil((needBytes - w.memory.buffer.byteLength) / 65536));
  const heap = new Float32Array(w.memory.buffer);
  const heapI = new Int32Array(w.memory.buffer);
  heap.set(a.A.subarray(a.lo, a.hi), aF);
  heap.set(b.src.subarray(b.lo, b.hi), bF);
  const srcF = bF - b.lo; // heap index of src[0]
  const aByte = (aF + a.base - a.lo) * 4;
  for (let jc = 0; jc < N; jc += ncMax) {
    const nc = Math.min(ncMax, N - jc);
    const nPanels = Math.ceil(nc / WNR);
    const ldcW = nPanels * WNR;
    if (zeroC || !C) heap.fill(0, cF, cF + mPad * ldcW);
    else for (let i = 0; i < M; i++) heap.set(C.subarray(cOff + i * ldc + jc, cOff + i * ldc + jc + nc), cF + i * ldcW);
    if (b.kind === 'cols') {
      // one table entry per column of the block; padding columns repeat the first (their lanes are never stored)
      for (let j = 0; j < ldcW; j++) heapI[tF + j] = (srcF + b.off(jc + (j < nc ? j : 0))) * 4;
    }
    for (let pc = 0; pc < K; ) {
      const kb = L && b.kind === 'cols' ? Math.floor(pc / L) : 0;
      const kc = Math.min(KC, K - pc, L && b.kind === 'cols' ? (kb + 1) * L - pc : KC);
      if (b.kind === 'rows') {
        for (let k = 0; k < kc; k++) heapI[tF + k] = (srcF + b.off(pc + k)) * 4;
        if (!L) w.packrows(pF * 4, tF * 4, kc, nPanels, jc * 4);
        else {
          for (let j0 = 0; j0 < nc; j0 += L) {
            const jb = Math.floor((jc + j0) / L);
            w.packrows((pF + (j0 / WNR) * kc * WNR) * 4, tF * 4, kc, Math.ceil(Math.min(L, nc - j0) / WNR), (jb * (b.blockShift ?? 0)) * 4);
          }
        }
      } else {
        const shift = kb * (b.blockShift ?? 0) + (pc - kb * L);
        w.packcols(pF * 4, tF * 4, kc, nPanels, shift * 4);
        for (let k = kc & ~3; k < kc; k++) {
          for (let j = 0; j < ldcW; j++) heap[pF + (j >> 3) * kc * WNR + k * WNR + (j & 7)] = heap[heapI[tF + j]! / 4 + shift + k]!;
        }
      }
      for (let ir = 0; ir < mPad; ir += MR) w.panels(kc, aByte + (ir * a.rs + pc * a.ks) * 4, a.rs * 4, a.ks * 4, pF * 4, (cF + ir * ldcW) * 4, nPanels, ldcW * 4, alpha);
      pc += kc;
    }
    if (store) store(heap, cF, ldcW, jc, nc);
    else if (C && ldcW === nc && ldc === nc) C.set(heap.subarray(cF, cF + M * nc), cOff + jc);
    else if (C) for (let i = 0; i < M; i++) C.set(heap.subarray(cF + i * ldcW, cF + i * ldcW + nc), cOff + i * ldc + jc);
  }
  return true;
}

/** Row count up to which the unpacked small-M kernels beat packing. */
const SMALL_M = 8;

/** C[i, j] += alpha · A[i, :]·B[j, :] (B transposed: both operands contiguous along K); 4 columns at a time. */
function smallMDot(M: number, N: number, K: number, alpha: number, A: Float32Array, aOff: number, lda: number, B: Float32Array, bOff: number, ldb: number, C: Float32Array, cOff: number, ldc: number): void {
  for (let i = 0; i < M; i++) {
    const ar = aOff + i * lda;
    const cr = cOff + i * ldc;
    let j = 0;
    for (; j + 4 <= N; j += 4) {
      const b0 = bOff + j * ldb, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let k = 0; k < K; k++) {
        const a = A[ar + k]!;
        s0 += a * B[b0 + k]!;
        s1 += a * B[b1 + k]!;
        s2 += a * B[b2 + k]!;
        s3 += a * B[b3 + k]!;
      }
      C[cr + j] += alpha * s0;
      C[cr + j + 1] += alpha * s1;
      C[cr + j + 2] += alpha * s2;
      C[cr + j + 3] += alpha * s3;
    }
    for (; j < N; j++) {
      const b0 = bOff + j * ldb;
      let s = 0;
      for (let k = 0; k < K; k++) s += A[ar + k]! * B[b0 + k]!;
      C[cr + j] += alpha * s;
    }
  }
}

/** B floats copied into the kernel memory at once by `smallMDotWasm` (bounds its memory). */
const DOT_CHUNK_FLOATS = 1 << 22;

/**
 * `smallMDot` on the SIMD kernel: rows of A and a chunk of B rows are copied into the module memory
 * (memcpy), `rowdots` does four dot products at a time, and JS adds the K % 4 tail and the last
 * N % 4 rows.
 */
function smallMDotWasm(w: WasmGemm, M: number, N: number, K: number, alpha: number, A: Float32Array, aOff: number, lda: number, B: Float32Array, bOff: number, ldb: number, C: Float32Array, cOff: number, ldc: number): void {
  const chunk = Math.max(4, Math.floor(DOT_CHUNK_FLOATS / K / 4) * 4);
  const aF = 0;
  const bF = Math.ceil((M * K) / 4) * 4;
  const oF = bF + Math.min(chunk, N) * K;
  const need = (oF + M * Math.min(chunk, N)) * 4;
  if (w.memory.buffer.byteLength < need) w.memory.grow(Math.ceil((need - w.memory.buffer.byteLength) / 65536));
  const heap = new Float32Array(w.memory.buffer);
  for (let i = 0; i < M; i++) heap.set(A.subarray(aOff + i * lda, aOff + i * lda + K), aF + i * K);
  const k4 = K >> 2;
  const kTail = k4 * 4;
  for (let j0 = 0; j0 < N; j0 += chunk) {
    const nc = Math.min(chunk, N - j0);
    if (ldb === K) heap.set(B.subarray(bOff + j0 * K, bOff + (j0 + nc) * K), bF);
    else for (let j = 0; j < nc; j++) heap.set(B.subarray(bOff + (j0 + j) * ldb, bOff + (j0 + j) * ldb + K), bF + j * K);
    const groups = nc >> 2;
    for (let i = 0; i < M; i++) w.rowdots(k4, (aF + i * K) * 4, bF * 4, groups, K * 4, (oF + i * nc) * 4);
    for (let i = 0; i < M; i++) {
      const ar = aF + i * K;
      const cr = cOff + i * ldc + j0;
      for (let j = 0; j < nc; j++) {
        const br = bF + j * K;
        let s = j < groups * 4 ? heap[oF + i * nc + j]! : 0;
        for (let k = j < groups * 4 ? kTail : 0; k < K; k++) s += heap[ar + k]! * heap[br + k]!;
        C[cr + j] += alpha * s;
      }
    }
  }
}

/** C[i, :] += alpha · Σ_k A[i, k]·B[k, :] (B not transposed: rows of B are contiguous); 4 k at a time. */
function smallMAxpy(M: number, N: number, K: number, alpha: number, A: Float32Array, aOff: number, lda: number, B: Float32Array, bOff: number, ldb: number, C: Float32Array, cOff: number, ldc: number): void {
  for (let i = 0; i < M; i++) {
    const ar = aOff + i * lda;
    const cr = cOff + i * ldc;
    let k = 0;
    for (; k + 4 <= K; k += 4) {
      const a0 = alpha * A[ar + k]!, a1 = alpha * A[ar + k + 1]!, a2 = alpha * A[ar + k + 2]!, a3 = alpha * A[ar + k + 3]!;
      const b0 = bOff + k * ldb, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb;
      for (let j = 0; j < N; j++) C[cr + j] += a0 * B[b0 + j]! + a1 * B[b1 + j]! + a2 * B[b2 + j]! + a3 * B[b3 + j]!;
    }
    for (; k < K; k++) {
      const a = alpha * A[ar + k]!;
      const b0 = bOff + k * ldb;
      for (let j = 0; j < N; j++) C[cr + j] += a * B[b0 + j]!;
    }
  }
}

/**
 * Reference-quality GEMM on float64 storage (same contract as `sgemm`). Used for float64 tensors and
 * for exact integer arithmetic; i-k-j loop order keeps the inner loop contiguous in B and C.
 */
export function dgemm(
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: Float64Array,
  aOff: number,
  lda: number,
  B: Float64Array,
  bOff: number,
  ldb: number,
  beta: number,
  C: Float64Array,
  cOff: number,
  ldc: number,
): void {
  if (M === 0 || N === 0) return;
  scaleC(M, N, beta, C, cOff, ldc);
  if (K === 0 || alpha === 0) return;
  for (let i = 0; i < M; i++) {
    const crow = cOff + i * ldc;
    for (let k = 0; k < K; k++) {
      const av = alpha * (transA ? A[aOff + k * lda + i]! : A[aOff + i * lda + k]!);
      if (!transB) {
        const brow = bOff + k * ldb;
        for (let j = 0; j < N; j++) C[crow + j] += av * B[brow + j]!;
      } else {
        for (let j = 0; j < N; j++) C[crow + j] += av * B[bOff + j * ldb + k]!;
      }
    }
  }
}

/** The signature shared by `sgemm` and `dgemm`, so drivers (conv, matmul) are written once. */
export type GemmFn<T extends Float32Array | Float64Array> = (
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: T,
  aOff: number,
  lda: number,
  B: T,
  bOff: number,
  ldb: number,
  beta: number,
  C: T,
  cOff: number,
  ldc: number,
) => void;
