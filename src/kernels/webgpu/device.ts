/**
 * Acquiring a `GPUDevice`: the browser's `navigator.gpu`, or in Node the optional `webgpu` package
 * (Dawn). Without a GPU, Dawn can use SwiftShader's software Vulkan driver: point
 * `VK_ICD_FILENAMES` at its `vk_swiftshader_icd.json` (scripts/webgpu-env.sh finds Debian's copy
 * shipped with the `chromium` package). Spec: https://www.w3.org/TR/webgpu/#initialization
 */
/// <reference types="@webgpu/types" />
import { RosettaError } from '../../ir/errors.js';

/** What `webgpu` (Dawn for Node) exports; typed here so the package stays optional. */
interface DawnModule {
  create(options: string[]): GPU;
  globals: Record<string, unknown>;
}

const HINT = 'in Node install the optional `webgpu` package; without a GPU run `source scripts/webgpu-env.sh` (SwiftShader from Debian\'s chromium package) or use --backend cpu';

/** The WebGPU entry point of this environment, or undefined when there is none. */
export async function findGpu(): Promise<GPU | undefined> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (typeof process === 'undefined' || !process.versions?.node) return undefined;
  let mod: DawnModule;
  try {
    // A variable specifier keeps bundlers from resolving a Node-only optional package.
    const name = 'webgpu';
    mod = (await import(name)) as DawnModule;
  } catch {
    return undefined;
  }
  // Dawn's classes (GPUBufferUsage, GPUMapMode…) must be global for code written against the spec.
  for (const [k, v] of Object.entries(mod.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  return mod.create([]);
}

/**
 * A device for the WebGPU backend; throws E_UNSUPPORTED saying what is missing. Callers must keep
 * `gpu` referenced as long as the device is used: dawn.node tears its instance down when that
 * object is collected, and work still in flight then aborts the process.
 */
export async function requestDevice(): Promise<{ device: GPUDevice; adapter: string; gpu: GPU }> {
  const gpu = await findGpu();
  if (!gpu) throw new RosettaError('E_UNSUPPORTED', 'WebGPU is not available here (no navigator.gpu and no `webgpu` package)', { hint: HINT });
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new RosettaError('E_UNSUPPORTED', 'WebGPU found no adapter (no GPU driver and no software Vulkan driver)', { hint: HINT });
  const limits = adapter.limits;
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
    },
  });
  // `info` is newer than some @webgpu/types releases.
  const info: Partial<GPUAdapterInfo> = (adapter as { info?: GPUAdapterInfo }).info ?? {};
  return { gpu, device, adapter: [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unknown adapter' };
}
