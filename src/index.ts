/** Rosetta public API (browser-safe: nothing here touches the file system; see `rosetta/node`). */
export * from './ir/index.js';
export * from './runtime/index.js';
export { eliminateTransposePairs, foldConstants, optimizeGraph, removeDeadCode, type FoldOptions, type OptimizeReport } from './ir/passes.js';
export { isNpy, readNpy, readNpyHeader, readNpz, writeNpy, writeNpz, type NpyHeader, type WriteNpyOptions, type WriteNpzOptions } from './formats/npy.js';
export { isZip, readZip, writeZip, type ZipArchive, type ZipEntry, type ZipLimits, type ZipWriteEntry } from './formats/zip.js';
export { unpickle, type PickleValue, type UnpickleOptions } from './formats/pickle.js';
export { readTorch, writeTorch, type TorchFile } from './formats/torch.js';
export { readSafetensors, writeSafetensors, type SafetensorsFile } from './formats/safetensors.js';
export { CPU_KERNELS, cpuSupportedOps } from './kernels/cpu/index.js';
