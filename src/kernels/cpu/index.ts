/**
 * The CPU kernel table: every op the reference backend implements, merged from one module per
 * family. The supported-op list is derived from this table, never maintained by hand.
 */
import { gradientKernels } from '../../runtime/gradient-op.js';
import { controlKernels } from './control.js';
import { elementwiseKernels } from './elementwise.js';
import type { KernelTable } from './kernel.js';
import { miscKernels } from './misc.js';
import { nnKernels } from './nn.js';
import { quantKernels } from './quant.js';
import { reduceKernels } from './reduce.js';
import { rnnKernels } from './rnn.js';
import { shapeKernels } from './shape.js';
import { tensor_opsKernels } from './tensor-ops.js';
import { trainingKernels } from './training.js';

export type { CpuKernel, KernelContext, KernelTable } from './kernel.js';

export const CPU_KERNELS: KernelTable = Object.assign(
  Object.create(null) as KernelTable,
  elementwiseKernels,
  reduceKernels,
  shapeKernels,
  tensor_opsKernels,
  nnKernels,
  rnnKernels,
  controlKernels,
  quantKernels,
  miscKernels,
  trainingKernels,
  gradientKernels,
);

export function cpuSupportedOps(): string[] {
  return Object.keys(CPU_KERNELS).sort();
}

export { CpuBackend } from './backend.js';
