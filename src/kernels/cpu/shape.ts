/** CPU kernels: shape (placeholder table; filled in by its owner). */
import type { KernelTable } from './kernel.js';

export const shapeKernels: KernelTable = {};
