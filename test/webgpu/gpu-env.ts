/**
 * Finds a WebGPU adapter for the tests: the `webgpu` package (Dawn) with the machine's GPU driver,
 * or SwiftShader's software Vulkan driver from Debian's chromium package (the same lookup as
 * scripts/webgpu-env.sh). `GPU_SKIP` is the visible skip reason when there is none.
 */
import { WebGpuBackend } from '../../src/kernels/webgpu/index.js';
import { useSoftwareVulkan } from '../../src/node/webgpu-env.js';

// Same software adapter on every machine that has it (the Vulkan loader reads the variable when
// Dawn first enumerates adapters, so setting it here suffices).
useSoftwareVulkan();

let backend: WebGpuBackend | undefined;
let reason = '';
try {
  backend = await WebGpuBackend.create();
} catch (e) {
  reason = e instanceof Error ? e.message : String(e);
}

/** The shared backend, or undefined when this machine has no WebGPU adapter. */
export const GPU: WebGpuBackend | undefined = backend;
/** Why the WebGPU tests are skipped (empty when they run). */
export const GPU_SKIP = backend ? '' : `no WebGPU adapter (${reason}); run scripts/webgpu-env.sh or apt-get install chromium libvulkan1`;
