/** CPU kernels: misc (placeholder table; filled in by its owner). */
import type { KernelTable } from './kernel.js';

export const miscKernels: KernelTable = {};
