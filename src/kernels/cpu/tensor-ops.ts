/** CPU kernels: tensor-ops (placeholder table; filled in by its owner). */
import type { KernelTable } from './kernel.js';

export const tensor_opsKernels: KernelTable = {};
