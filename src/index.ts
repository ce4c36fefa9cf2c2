/** Rosetta public API (browser-safe: nothing here touches the file system; see `rosetta/node`). */
export * from './ir/index.js';
export * from './runtime/index.js';
export { CPU_KERNELS, cpuSupportedOps } from './kernels/cpu/index.js';
