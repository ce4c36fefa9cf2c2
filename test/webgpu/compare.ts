/**
 * Runs one-node graphs on the CPU backend (the reference, itself checked against onnxruntime and
 * PyTorch in test/ops and test/conformance) and on the WebGPU backend, and compares the outputs.
 */
import { expect } from 'vitest';
import type { DType } from '../../src/ir/dtype.js';
import { emptyGraph, makeNode, type AttrMap, type Graph } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import type { WebGpuBackend } from '../../src/kernels/webgpu/index.js';
import { Session } from '../../src/runtime/session.js';

/** Relative tolerance of the brief; `ATOL` only matters for values near zero (float32 rounding). */
export const RTOL = 1e-4;
export const ATOL = 1e-5;

/** Deterministic data in [lo, hi) (LCG), so failures reproduce. */
export function rand(shape: number[], seed: number, lo = -1, hi = 1, dtype: DType = 'float32'): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  let s = seed >>> 0;
  const vals = Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const v = lo + (s / 2 ** 32) * (hi - lo);
    return dtype === 'int32' ? Math.floor(v) : v;
  });
  return Tensor.from(dtype, shape, vals);
}

export function i64(values: number[]): Tensor {
  return Tensor.from('int64', [values.length], values.map(BigInt));
}

/** One case: `feeds` become graph inputs, `consts` initializers (input order = feeds then consts unless `order` says otherwise). */
export interface OpCase {
  name: string;
  op: string;
  inputs: (Tensor | undefined)[];
  /** Indices of inputs passed as initializers (weights, shapes, axes) rather than feeds. */
  consts?: number[];
  attrs?: AttrMap;
}

export function caseGraph(c: OpCase): { graph: Graph; feeds: Record<string, Tensor> } {
  const g = emptyGraph(c.name);
  const feeds: Record<string, Tensor> = {};
  const names = c.inputs.map((t, i) => (t ? `in${i}` : ''));
  c.inputs.forEach((t, i) => {
    if (!t) return;
    if (c.consts?.includes(i)) g.initializers.set(names[i]!, t);
    else {
      g.inputs.push({ name: names[i]!, type: { kind: 'tensor', dtype: t.dtype } });
      feeds[names[i]!] = t;
    }
  });
  g.nodes.push(makeNode(c.op, names, ['y'], c.attrs ?? {}, { name: c.name }));
  g.outputs.push({ name: 'y' });
  return { graph: g, feeds };
}

/** Largest violation of |a − b| ≤ ATOL + RTOL·|b| (≤ 0 when within tolerance), NaN-aware. */
export function expectClose(got: Tensor, want: Tensor, what: string): void {
  expect(got.dtype, `${what}: dtype`).toBe(want.dtype);
  expect(got.shape, `${what}: shape`).toEqual(want.shape);
  let worst = { i: -1, excess: 0 };
  for (let i = 0; i < want.size; i++) {
    const a = got.get(i);
    const b = want.get(i);
    if (Number.isNaN(b) && Number.isNaN(a)) continue;
    if (a === b) continue;
    const excess = Math.abs(a - b) - (ATOL + RTOL * Math.abs(b));
    if (!(excess <= worst.excess)) worst = { i, excess: Number.isNaN(excess) ? Infinity : excess };
  }
  expect(worst.i, worst.i >= 0 ? `${what}: element ${worst.i} is ${got.get(worst.i)}, CPU says ${want.get(worst.i)}` : what).toBe(-1);
}

/** Run `c` on the CPU and on `gpu`; the GPU must run the node itself, not fall back. */
export async function compareOnBackends(c: OpCase, gpu: WebGpuBackend): Promise<void> {
  const { graph, feeds } = caseGraph(c);
  const node = graph.nodes[0]!;
  const dtypes = c.inputs.map((t) => t?.dtype);
  expect(gpu.supports(node, dtypes), `${c.name}: WebGPU should run ${c.op} itself`).toBe(true);
  const want = (await (await Session.create(graph)).run(feeds)).outputs['y'] as Tensor;
  const fallbacks = gpu.counters.cpuFallbacks;
  const got = (await (await Session.create(graph, { backend: gpu })).run(feeds)).outputs['y'] as Tensor;
  expect(gpu.counters.cpuFallbacks, `${c.name}: ran on the CPU at run time`).toBe(fallbacks);
  expectClose(got, want, c.name);
}
