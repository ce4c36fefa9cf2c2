/** Rosetta public API (browser-safe: nothing here touches the file system; see `rosetta/node`). */
export * from './ir/index.js';
export * from './runtime/index.js';
export { eliminateTransposePairs, foldConstants, optimizeGraph, removeDeadCode, type FoldOptions, type OptimizeReport } from './ir/passes.js';
export { isNpy, readNpy, readNpyHeader, readNpz, writeNpy, writeNpz, type NpyHeader, type WriteNpyOptions, type WriteNpzOptions } from './formats/npy.js';
export { CPU_KERNELS, cpuSupportedOps } from './kernels/cpu/index.js';
