/** CPU kernels: ai.onnx.preview.training ops (placeholder table; filled in by its owner). */
import type { KernelTable } from './kernel.js';

export const trainingKernels: KernelTable = {};
