/**
 * MatMul (numpy matmul semantics: 1-D promotion, broadcast batch dims), Gemm (transA/transB,
 * alpha, beta, unidirectionally broadcast C) and MatMulInteger, all on the shared GEMM kernels.
 * Spec: https://onnx.ai/onnx/operators/onnx__MatMul.html, https://onnx.ai/onnx/operators/onnx__Gemm.html,
 * https://onnx.ai/onnx/operators/onnx__MatMulInteger.html
 */
import { Tensor } from '../../ir/tensor.js';
import type { Value } from '../../runtime/value.js';
import { dgemm, sgemm, type GemmFn } from './gemm.js';
import type { KernelContext, KernelTable } from './kernel.js';
import { type FloatArr, floatAlloc, floatData, floatTensor, numData, numTensor, shapeError, sizeChecked } from './nn-util.js';
import { broadcastIndex, broadcastShapes, dtypeError, optTensorIn, tensorIn } from './util.js';

/** Geometry of a (batched, broadcast) matmul. */
export interface MatmulPlan {
  M: number;
  N: number;
  K: number;
  outShape: number[];
  batch: number;
  /** Per output batch: offset (in matrices) into A and B. */
  aBatch: Int32Array;
  bBatch: Int32Array;
}

/** Validate MatMul operand shapes (numpy rules: 1-D promotion, broadcast batch dims) and plan the batches. */
export function matmulPlan(aShape: readonly number[], bShape: readonly number[], ctx: KernelContext): MatmulPlan {
  if (aShape.length === 0 || bShape.length === 0) throw shapeError(ctx, 'MatMul inputs must have rank ≥ 1');
  const a = aShape.length === 1 ? [1, aShape[0]!] : aShape.slice();
  const b = bShape.length === 1 ? [bShape[0]!, 1] : bShape.slice();
  const M = a[a.length - 2]!;
  const K = a[a.length - 1]!;
  const K2 = b[b.length - 2]!;
  const N = b[b.length - 1]!;
  if (K !== K2) throw shapeError(ctx, `inner dimensions differ: [${aShape.join(', ')}] × [${bShape.join(', ')}]`);
  const aB = a.slice(0, -2);
  const bB = b.slice(0, -2);
  const batchShape = broadcastShapes([aB, bB], ctx);
  const outShape = [...batchShape];
  if (aShape.length !== 1) outShape.push(M);
  if (bShape.length !== 1) outShape.push(N);
  sizeChecked(outShape, ctx);
  return { M, N, K, outShape, batch: batchShape.reduce((x, y) => x * y, 1), aBatch: broadcastIndex(aB, batchShape), bBatch: broadcastIndex(bB, batchShape) };
}

/** out[batch] = A[batch] · B[batch] for every broadcast batch; `out` is overwritten. */
export function runMatmul<T extends FloatArr>(p: MatmulPlan, A: T, B: T, out: T, gemm: GemmFn<T>): void {
  const { M, N, K, batch } = p;
  // One shared B and a contiguous A batch: fold the batch into M so the GEMM sees one tall matrix.
  let shared = true;
  for (let i = 0; i < batch; i++) if (p.bBatch[i] !== p.bBatch[0] || p.aBatch[i] !== i) { shared = false; break; }
  if (shared && batch > 1) {
    gemm(false, false, batch * M, N, K, 1, A, 0, K, B, (p.bBatch[0] ?? 0) * K * N, N, 0, out, 0, N);
    return;
  }
  for (let i = 0; i < batch; i++) {
    gemm(false, false, M, N, K, 1, A, p.aBatch[i]! * M * K, K, B, p.bBatch[i]! * K * N, N, 0, out, i * M * N, N);
  }
}

function MatMul(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const a = tensorIn(inputs, 0, ctx);
  const b = tensorIn(inputs, 1, ctx);
  if (a.dtype !== b.dtype) throw shapeError(ctx, `input dtypes differ (${a.dtype} vs ${b.dtype})`);
  const p = matmulPlan(a.shape, b.shape, ctx);
  const n = p.batch * p.M * p.N;
  switch (a.dtype) {
    case 'float32':
    case 'float16':
    case 'bfloat16': {
      const out = floatAlloc('float32', n, false) as Float32Array; // sgemm with beta = 0 writes every element
      runMatmul(p, floatData(a, ctx) as Float32Array, floatData(b, ctx) as Float32Array, out, sgemm);
      return [floatTensor(a.dtype, p.outShape, out)];
    }
    case 'float64':
    case 'int32':
    case 'int64':
    case 'uint32':
    case 'uint64': {
      // Integer matmul is computed in float64: exact while partial sums stay below 2^53.
      const out = new Float64Array(n);
      runMatmul(p, numData(a), numData(b), out, dgemm);
      return [numTensor(a.dtype, p.outShape, out)];
    }
    default:
      throw dtypeError(ctx, a.dtype);
  }
}

function Gemm(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const a = tensorIn(inputs, 0, ctx);
  const b = tensorIn(inputs, 1, ctx);
  const c = optTensorIn(inputs, 2);
  const transA = ctx.attrs.int('transA', 0) !== 0;
  const transB = ctx.attrs.int('transB', 0) !== 0;
  const alpha = ctx.attrs.float('alpha', 1);
  const beta = ctx.attrs.float('beta', 1);
  if (a.rank !== 2 || b.rank !== 2) throw shapeError(ctx, `A and B must be 2-D, got [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
  const M = transA ? a.shape[1]! : a.shape[0]!;
  const K = transA ? a.shape[0]! : a.shape[1]!;
  const K2 = transB ? b.shape[1]! : b.shape[0]!;
  const N = transB ? b.shape[0]! : b.shape[1]!;
  if (K !== K2) throw shapeError(ctx, `inner dimensions differ: op(A) is ${M}×${K}, op(B) is ${K2}×${N}`);
  const outShape = [M, N];
  const size = sizeChecked(outShape, ctx);
  const isF64 = a.dtype === 'float64';
  const isFloat = a.dtype === 'float32' || a.dtype === 'float16' || a.dtype === 'bfloat16' || isF64;
  const isInt = a.dtype === 'int32' || a.dtype === 'int64' || a.dtype === 'uint32' || a.dtype === 'uint64';
  if (!isFloat && !isInt) throw dtypeError(ctx, a.dtype);
  const useF32 = isFloat && !isF64;
  const out: FloatArr = useF32 ? new Float32Array(size) : new Float64Array(size);
  let g = 0;
  if (c && beta !== 0) {
    const cShape = broadcastShapes([c.shape, outShape], ctx);
    if (cShape.length !== 2 || cShape[0] !== M || cShape[1] !== N) throw shapeError(ctx, `C of shape [${c.shape.join(', ')}] does not broadcast to [${M}, ${N}]`);
    const cd = useF32 ? floatData(c, ctx) : numData(c);
    const idx = broadcastIndex(c.shape, outShape);
    for (let i = 0; i < size; i++) out[i] = beta * cd[idx[i]!]!;
    g = 1;
  }
  if (useF32) sgemm(transA, transB, M, N, K, alpha, floatData(a, ctx) as Float32Array, 0, a.shape[1]!, floatData(b, ctx) as Float32Array, 0, b.shape[1]!, g, out as Float32Array, 0, N);
  else dgemm(transA, transB, M, N, K, alpha, numData(a), 0, a.shape[1]!, numData(b), 0, b.shape[1]!, g, out as Float64Array, 0, N);
  return [useF32 ? floatTensor(a.dtype, outShape, out) : numTensor(a.dtype, outShape, out as Float64Array)];
}

/**
 * Zero points (or scales) of the integer/quantised ops: a scalar, or a 1-D tensor with one value per
 * row of A / column of B / output channel, expanded to `n` float64 values (zeros when absent).
 */
export function zeroPoints(t: Tensor | undefined, n: number, ctx: KernelContext, what: string): Float64Array {
  const out = new Float64Array(n);
  if (!t) return out;
  const v = numData(t);
  if (v.length === 1) out.fill(v[0]!);
  else if (v.length === n) out.set(v);
  else throw shapeError(ctx, `${what} has ${v.length} values, expected 1 or ${n}`);
  return out;
}

function MatMulInteger(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const a = tensorIn(inputs, 0, ctx);
  const b = tensorIn(inputs, 1, ctx);
  for (const t of [a, b]) if (t.dtype !== 'uint8' && t.dtype !== 'int8') throw dtypeError(ctx, t.dtype);
  const p = matmulPlan(a.shape, b.shape, ctx);
  // a_zero_point may be per row of A (length M), b_zero_point per column of B (length N).
  const azp = zeroPoints(optTensorIn(inputs, 2), p.M, ctx, 'a_zero_point');
  const bzp = zeroPoints(optTensorIn(inputs, 3), p.N, ctx, 'b_zero_point');
  const ad = numData(a).slice();
  const bd = numData(b).slice();
  for (let i = 0; i < ad.length; i++) ad[i] -= azp[Math.floor(i / p.K) % p.M]!;
  for (let i = 0; i < bd.length; i++) bd[i] -= bzp[i % p.N]!;
  const out = new Float64Array(p.batch * p.M * p.N);
  runMatmul(p, ad, bd, out, dgemm);
  return [numTensor('int32', p.outShape, out)];
}

export const matmulKernels: KernelTable = { MatMul, Gemm, MatMulInteger };
