/**
 * MatMul (numpy semantics: 1-D operands promoted, batch dims broadcast) and Gemm (transA/transB,
 * alpha, beta, unidirectionally broadcast C) as one tiled GEMM: each 16×16 workgroup computes a
 * (16·T)² output tile, staging (16·T)×16 of A and 16×(16·T) of B in workgroup memory per step
 * along K; with T = 4 each thread accumulates a 4×4 block in registers, so every staged element is
 * reused 4 times per thread and each barrier pair serves 16 outputs per thread. Spec: https://onnx.ai/onnx/operators/onnx__MatMul.html,
 * https://onnx.ai/onnx/operators/onnx__Gemm.html
 */
import type { DType } from '../../ir/dtype.js';
import { shapeError } from '../cpu/nn-util.js';
import { broadcastShapes } from '../cpu/util.js';
import { dtypesIn, type GpuKernelContext, type GpuTensor, type WebGpuKernel } from './kernel.js';
import { MAX_GROUPS, Params, type Indexer } from './wgsl.js';

/** Threads per workgroup side; each thread computes a T×T block of a (16·T)×(16·T) output tile. */
const TILE = 16;
/** K step staged in workgroup memory. */
const BK = 16;
const SIMPLE_TILES = `var<workgroup> tA: array<array<f32, ${TILE}>, ${TILE}>;\nvar<workgroup> tB: array<array<f32, ${TILE}>, ${TILE}>;\n`;
/**
 * Register blocking T: 4 for outputs of at least 64×64, else 1. Measured with SwiftShader (the
 * only adapter here): 256³ takes ~0.8 s with T=4 against ~1.4 s with T=1, but a 1×3136×128 Gemm
 * ~0.9 s against ~0.5 s, since 64-row tiles waste work and parallelism on small M.
 */
function blocking(M: number, N: number): 1 | 4 {
  return M >= 64 && N >= 64 ? 4 : 1;
}
const F32: readonly DType[] = ['float32'];

interface GemmSpec {
  a: GpuTensor;
  b: GpuTensor;
  c?: GpuTensor;
  outShape: number[];
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  alpha: number;
  beta: number;
  /** Batch shapes of A, B and the output (MatMul only; empty for Gemm). */
  aBatch: number[];
  bBatch: number[];
  outBatch: number[];
}

/** Emit the tiled GEMM; null (run on the CPU) when the grid exceeds a dispatch dimension. */
function emitGemm(ctx: GpuKernelContext, s: GemmSpec, op: string): GpuTensor[] | null {
  const batch = s.outBatch.reduce((x, y) => x * y, 1);
  const T = blocking(s.M, s.N);
  const [TM, TN, BM, BN] = [T, T, TILE * T, TILE * T];
  const gx = Math.ceil(s.N / BN);
  const gy = Math.ceil(s.M / BM);
  if (batch > MAX_GROUPS || gx > MAX_GROUPS || gy > MAX_GROUPS) return null;
  const out = ctx.alloc('float32', s.outShape);
  const p = new Params();
  const M = p.u32(s.M);
  const N = p.u32(s.N);
  const K = p.u32(s.K);
  const alpha = p.f32(s.alpha);
  const beta = p.f32(s.beta);
  const ob = p.tensor('ob', s.outBatch);
  const ab = p.tensor('ab', s.aBatch);
  const bb = p.tensor('bb', s.bBatch);
  let ci: Indexer | undefined;
  if (s.c) ci = p.tensor('c', s.c.shape);
  const aAt = s.transA ? `k * ${M} + row` : `row * ${K} + k`;
  const bAt = s.transB ? `col * ${K} + k` : `k * ${N} + col`;
  const key = `${op}:${T}:${s.transA ? 1 : 0}${s.transB ? 1 : 0}:${ob.rank}:${ab.rank}:${bb.rank}:${ci ? ci.rank : '-'}`;
  const cLine = (ind: string): string => (ci ? `${ind}v += ${beta} * in2[c_bcast(array<u32, 2>(row, col))];\n` : '');
  // T = 1: one output per thread, 16×16 tiles (private arrays of one element measured ~2× slower on SwiftShader).
  const simpleMain = (): string => `@compute @workgroup_size(${TILE}, ${TILE}, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.y * ${TILE}u + lid.y;
  let col = wid.x * ${TILE}u + lid.x;
  let bIdx = ob_indices(wid.z);
  let aBase = ab_bcast(bIdx) * ${M} * ${K};
  let bBase = bb_bcast(bIdx) * ${K} * ${N};
  var acc = 0.0;
  let steps = (${K} + ${BK - 1}u) / ${BK}u;
  for (var t = 0u; t < steps; t++) {
    tA[lid.y][lid.x] = loadA(aBase, row, t * ${TILE}u + lid.x);
    tB[lid.y][lid.x] = loadB(bBase, t * ${TILE}u + lid.y, col);
    workgroupBarrier();
    for (var k = 0u; k < ${TILE}u; k++) { acc += tA[lid.y][k] * tB[k][lid.x]; }
    workgroupBarrier();
  }
  if (row < ${M} && col < ${N}) {
    var v = ${alpha} * acc;
${cLine('    ')}    out0[wid.z * ${M} * ${N} + row * ${N} + col] = v;
  }
}
`;
  const blockedMain = (): string => `@compute @workgroup_size(${TILE}, ${TILE}, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let tid = lid.y * ${TILE}u + lid.x;
  let bIdx = ob_indices(wid.z);
  let aBase = ab_bcast(bIdx) * ${M} * ${K};
  let bBase = bb_bcast(bIdx) * ${K} * ${N};
  var acc: array<f32, ${TM * TN}>;
  let steps = (${K} + ${BK - 1}u) / ${BK}u;
  for (var t = 0u; t < steps; t++) {
    // ${BM}×${BK} of A and ${BK}×${BN} of B, ${(BM * BK) / (TILE * TILE)} elements per thread each
    for (var r = 0u; r < ${(BM * BK) / (TILE * TILE)}u; r++) {
      let e = tid + r * ${TILE * TILE}u;
      tA[e] = loadA(aBase, wid.y * ${BM}u + e / ${BK}u, t * ${BK}u + e % ${BK}u);
      tB[e] = loadB(bBase, t * ${BK}u + e / ${BN}u, wid.x * ${BN}u + e % ${BN}u);
    }
    workgroupBarrier();
    for (var k = 0u; k < ${BK}u; k++) {
      var a: array<f32, ${TM}>;
      var b: array<f32, ${TN}>;
      for (var i = 0u; i < ${TM}u; i++) { a[i] = tA[(lid.y * ${TM}u + i) * ${BK}u + k]; }
      for (var j = 0u; j < ${TN}u; j++) { b[j] = tB[k * ${BN}u + lid.x * ${TN}u + j]; }
      for (var i = 0u; i < ${TM}u; i++) {
        for (var j = 0u; j < ${TN}u; j++) { acc[i * ${TN}u + j] += a[i] * b[j]; }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < ${TM}u; i++) {
    let row = wid.y * ${BM}u + lid.y * ${TM}u + i;
    for (var j = 0u; j < ${TN}u; j++) {
      let col = wid.x * ${BN}u + lid.x * ${TN}u + j;
      if (row < ${M} && col < ${N}) {
        var v = ${alpha} * acc[i * ${TN}u + j];
${cLine('        ')}        out0[wid.z * ${M} * ${N} + row * ${N} + col] = v;
      }
    }
  }
}
`;
  ctx.run({
    key,
    shader: () => `${ob.fns()}${ab.fns(ob.rank)}${bb.fns(ob.rank)}${ci ? ci.fns(2) : ''}
${T === 1 ? SIMPLE_TILES : `var<workgroup> tA: array<f32, ${BM * BK}>;\nvar<workgroup> tB: array<f32, ${BK * BN}>;\n`}fn loadA(base: u32, row: u32, k: u32) -> f32 {
  if (row >= ${M} || k >= ${K}) { return 0.0; }
  return in0[base + ${aAt}];
}
fn loadB(base: u32, k: u32, col: u32) -> f32 {
  if (k >= ${K} || col >= ${N}) { return 0.0; }
  return in1[base + ${bAt}];
}
${T === 1 ? simpleMain() : blockedMain()}
`,
    inputs: s.c ? [s.a, s.b, s.c] : [s.a, s.b],
    outputs: [out],
    params: p,
    dispatch: [Math.max(1, gx), Math.max(1, gy), Math.max(1, batch)],
  });
  return [out];
}

const MatMul: WebGpuKernel = {
  name: 'MatMul',
  supports: (_node, dtypes) => dtypes[0] === 'float32' && dtypes[1] === 'float32',
  run(ctx) {
    const a = ctx.input(0);
    const b = ctx.input(1);
    if (a.shape.length === 0 || b.shape.length === 0) throw shapeError(ctx.cpu, 'MatMul inputs must have rank ≥ 1');
    const as = a.shape.length === 1 ? [1, a.shape[0]!] : a.shape.slice();
    const bs = b.shape.length === 1 ? [b.shape[0]!, 1] : b.shape.slice();
    const [M, K] = as.slice(-2) as [number, number];
    const [K2, N] = bs.slice(-2) as [number, number];
    if (K !== K2) throw shapeError(ctx.cpu, `inner dimensions differ: [${a.shape.join(', ')}] × [${b.shape.join(', ')}]`);
    const aBatch = as.slice(0, -2);
    const bBatch = bs.slice(0, -2);
    const outBatch = broadcastShapes([aBatch, bBatch], ctx.cpu);
    const outShape = [...outBatch];
    if (a.shape.length !== 1) outShape.push(M);
    if (b.shape.length !== 1) outShape.push(N);
    return emitGemm(ctx, { a, b, outShape, M, N, K, transA: false, transB: false, alpha: 1, beta: 0, aBatch, bBatch, outBatch }, 'MatMul');
  },
};

const Gemm: WebGpuKernel = {
  name: 'Gemm',
  supports: (_node, dtypes) => dtypes[0] === 'float32' && dtypes[1] === 'float32' && dtypesIn(dtypes, [2], F32),
  run(ctx) {
    const a = ctx.input(0);
    const b = ctx.input(1);
    const c = ctx.has(2) ? ctx.input(2) : undefined;
    if (a.shape.length !== 2 || b.shape.length !== 2) throw shapeError(ctx.cpu, `Gemm needs 2-D A and B, got [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
    const transA = ctx.attrs.int('transA', 0) !== 0;
    const transB = ctx.attrs.int('transB', 0) !== 0;
    const [M, K] = transA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
    const [K2, N] = transB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
    if (K !== K2) throw shapeError(ctx.cpu, `Gemm inner dimensions differ: A' is ${M}×${K}, B' is ${K2}×${N}`);
    if (c) {
      const bc = broadcastShapes([c.shape, [M, N]], ctx.cpu);
      if (bc.length !== 2 || bc[0] !== M || bc[1] !== N) throw shapeError(ctx.cpu, `Gemm C [${c.shape.join(', ')}] does not broadcast to [${M}, ${N}]`);
    }
    const spec = { a, b, c, outShape: [M, N], M, N, K, transA, transB, alpha: ctx.attrs.float('alpha', 1), beta: ctx.attrs.float('beta', 1), aBatch: [], bBatch: [], outBatch: [] };
    return emitGemm(ctx, spec, 'Gemm');
  },
};

export const matmulKernels: Record<string, WebGpuKernel> = { MatMul, Gemm };
