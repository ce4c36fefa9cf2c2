/** Rosetta public API (browser-safe: nothing here touches the file system; see `rosetta/node`). */
export * from './ir/index.js';
export * from './runtime/index.js';
export * as nn from './nn/index.js';
export * as keras from './keras/index.js';
export { gradients, recordTape, buildBackward, runBackward, TapeRecorder, IrBuilder, GRAD_RULES, differentiableOps, type Tape, type TapeOptions, type BackwardPlan, type GradRule, type Decomposition } from './runtime/autograd.js';
export * from './runtime/optim.js';
export * from './runtime/optim-schedule.js';
export { DataLoader, takeRows, type DataLoaderOptions } from './runtime/data.js';
export { eliminateTransposePairs, foldConstants, optimizeGraph, removeDeadCode, type FoldOptions, type OptimizeReport } from './ir/passes.js';
export { isNpy, readNpy, readNpyHeader, readNpz, writeNpy, writeNpz, type NpyHeader, type WriteNpyOptions, type WriteNpzOptions } from './formats/npy.js';
export { isZip, readZip, writeZip, type ZipArchive, type ZipEntry, type ZipLimits, type ZipWriteEntry } from './formats/zip.js';
export { unpickle, type PickleValue, type UnpickleOptions } from './formats/pickle.js';
export { readTorch, writeTorch, writeTorchObject, type TorchFile, type TorchObject } from './formats/torch.js';
export { readSafetensors, writeSafetensors, type SafetensorsFile } from './formats/safetensors.js';
export { CPU_KERNELS, cpuSupportedOps } from './kernels/cpu/index.js';
export { WebGpuBackend, WEBGPU_KERNELS, webgpuSupportedOps, isGpuTensor, type GpuTensor, type WebGpuKernel } from './kernels/webgpu/index.js';
export { bindWeights, parseMapRule, planPyTorch, compareLayers, type BindOptions, type BindingReport, type MapRule, type TorchPlan, type LayerReport } from './convert/index.js';
export { toPyTorch, moduleSource, type PyTorchForm, type ModuleSourceOptions } from './exporters/typescript/index.js';
