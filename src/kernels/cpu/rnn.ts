/** CPU kernels: rnn (placeholder table; filled in by its owner). */
import type { KernelTable } from './kernel.js';

export const rnnKernels: KernelTable = {};
