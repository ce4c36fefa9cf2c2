/**
 * The WebGPU kernel registry: ONNX op name → kernel object. `supports()` of the backend is derived
 * from this table, never maintained beside it.
 */
import { convPoolKernels } from './conv-pool.js';
import { elementwiseKernels } from './elementwise.js';
import type { WebGpuKernel } from './kernel.js';
import { matmulKernels } from './matmul.js';
import { normReduceKernels } from './norm-reduce.js';
import { shapeKernels } from './shape.js';

export const WEBGPU_KERNELS: Readonly<Record<string, WebGpuKernel>> = {
  ...elementwiseKernels,
  ...matmulKernels,
  ...convPoolKernels,
  ...normReduceKernels,
  ...shapeKernels,
};

/** Ops with a WebGPU kernel (others run on the CPU per node). */
export function webgpuSupportedOps(): string[] {
  return Object.keys(WEBGPU_KERNELS).sort();
}
