/** CPU kernels: elementwise (placeholder table; filled in by its owner). */
import type { KernelTable } from './kernel.js';

export const elementwiseKernels: KernelTable = {};
