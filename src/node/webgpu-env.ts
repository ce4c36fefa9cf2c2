/**
 * WebGPU in Node without a usable GPU driver: fall back to SwiftShader, the software Vulkan driver
 * Debian's chromium package ships, by pointing the Vulkan loader that Dawn (npm `webgpu`) uses at
 * its manifest. The same lookup as scripts/webgpu-env.sh, done in-process so the CLI
 * (`--backend webgpu`), `npm run bench` and the tests find an adapter without a sourced shell.
 *
 * The machine's own driver is tried first; only when no adapter comes back and `VK_ICD_FILENAMES`
 * is unset is SwiftShader used (measured here: Mesa's lavapipe is installed but Dawn rejects it,
 * "Vulkan shaderUniform*ArrayDynamicIndexing required"; a second Dawn instance created after
 * setting the variable finds SwiftShader).
 * Loader search paths: https://github.com/KhronosGroup/Vulkan-Loader/blob/main/docs/LoaderDriverInterface.md
 */
import { existsSync } from 'node:fs';
import { registerBackend } from '../runtime/backend.js';
import { WebGpuBackend } from '../kernels/webgpu/index.js';

const SWIFTSHADER = ['/usr/lib/chromium/vk_swiftshader_icd.json', '/usr/lib/chromium-browser/vk_swiftshader_icd.json'];

/** Point the Vulkan loader at SwiftShader when `VK_ICD_FILENAMES` is unset; returns the manifest, or undefined. */
export function useSoftwareVulkan(): string | undefined {
  if (process.env['VK_ICD_FILENAMES']) return undefined;
  const icd = SWIFTSHADER.find((p) => existsSync(p));
  if (icd) process.env['VK_ICD_FILENAMES'] = icd;
  return icd;
}

/** The WebGPU backend on this machine's driver, else on SwiftShader; rejects with the first error when neither works. */
export async function createNodeWebGpuBackend(): Promise<WebGpuBackend> {
  try {
    return await WebGpuBackend.create();
  } catch (e) {
    if (!useSoftwareVulkan()) throw e;
    return WebGpuBackend.create();
  }
}

/** Make `getBackend('webgpu')` (the CLI's `--backend webgpu`) use `createNodeWebGpuBackend`. */
export function registerNodeWebGpu(): void {
  registerBackend('webgpu', createNodeWebGpuBackend);
}
