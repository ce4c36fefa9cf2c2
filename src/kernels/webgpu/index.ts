/**
 * Public surface of the WebGPU backend. Importing this module registers the backend under
 * 'webgpu' (`Session.create(model, { backend: 'webgpu' })`, `rosetta run --backend webgpu`); the
 * device is only requested when a session first asks for it, so importing is free everywhere.
 */
import { registerBackend } from '../../runtime/backend.js';
import { WebGpuBackend } from './backend.js';

registerBackend('webgpu', () => WebGpuBackend.create());

export { WebGpuBackend, isGpuTensor } from './backend.js';
export { findGpu, requestDevice } from './device.js';
export { WEBGPU_KERNELS, webgpuSupportedOps } from './kernels.js';
export type { GpuKernelContext, GpuStorage, GpuTensor, Program, WebGpuKernel } from './kernel.js';
export { Params, Indexer } from './wgsl.js';
