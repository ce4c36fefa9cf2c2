/**
 * CPU kernels: the neural-network families (issue 2), assembled from one module per family so
 * each stays small — GEMM-based ops (matmul.ts, conv.ts), pooling (pool.ts), normalisation and
 * Dropout (norm.ts), image ops (resize.ts, grid-sample.ts) and detection ops (detection.ts).
 * RNNs live in rnn.ts and quantised ops in quant.ts, each with its own table.
 */
import { convKernels } from './conv.js';
import { detectionKernels } from './detection.js';
import type { KernelTable } from './kernel.js';
import { matmulKernels } from './matmul.js';
import { normKernels } from './norm.js';
import { poolKernels } from './pool.js';
import { resizeKernels } from './resize.js';

export const nnKernels: KernelTable = {
  ...matmulKernels,
  ...convKernels,
  ...poolKernels,
  ...normKernels,
  ...resizeKernels,
  ...detectionKernels,
};
