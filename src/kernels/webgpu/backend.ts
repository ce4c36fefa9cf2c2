/**
 * The WebGPU backend: float32 and int32 tensors live in GPU storage buffers; every other dtype stays
 * a host tensor and the nodes that touch them run on the CPU kernels (the executor's per-node
 * fallback). Kernels come from a registry of plain objects (`WEBGPU_KERNELS`); compiled pipelines
 * are cached by each program's static key. Spec: https://www.w3.org/TR/webgpu/
 */
/// <reference types="@webgpu/types" />
import { AttrReader } from '../../ir/attrs.js';
import type { DType } from '../../ir/dtype.js';
import { RosettaError } from '../../ir/errors.js';
import { opKey, type Node } from '../../ir/graph.js';
import { Tensor, checkedSize } from '../../ir/tensor.js';
import type { Backend, BackendTensor, RunContext } from '../../runtime/backend.js';
import { isTensor, type Value } from '../../runtime/value.js';
import { CpuBackend } from '../cpu/backend.js';
import { requestDevice } from './device.js';
import { GPU_DTYPES, type GpuKernelContext, type GpuStorage, type GpuTensor, type Program, type WebGpuKernel } from './kernel.js';
import { WEBGPU_KERNELS } from './kernels.js';
import { storageDecls, wgslType } from './wgsl.js';

/** Whether `v` is a tensor held by a WebGPU backend. */
export function isGpuTensor(v: unknown): v is GpuTensor {
  return typeof v === 'object' && v !== null && 'storage' in v && 'shape' in v;
}

function release(s: GpuStorage): void {
  if (--s.refs === 0) s.buffer.destroy();
}

export class WebGpuBackend implements Backend {
  readonly name = 'webgpu';
  /** Compiled pipelines by program key, with the uniform size they were written for. */
  private readonly pipelines = new Map<string, { pipeline: GPUComputePipeline; words: number }>();
  /** Host tensors (initializers) uploaded once, kept while the host tensor lives. */
  private readonly uploads = new WeakMap<Tensor, GpuTensor>();
  private readonly collected = new FinalizationRegistry<GpuStorage>(release);
  private readonly cpu = new CpuBackend();
  private gpuError: string | undefined;
  /** The WebGPU entry point the device came from, kept alive with it (see `requestDevice`). */
  private gpu: GPU | undefined;

  /**
   * @param device the device to run on (see `WebGpuBackend.create`)
   * @param adapter a human-readable adapter description, for reports
   * @param kernels the kernel registry (op name → kernel)
   */
  constructor(
    readonly device: GPUDevice,
    readonly adapter: string,
    private readonly kernels: Readonly<Record<string, WebGpuKernel>> = WEBGPU_KERNELS,
  ) {
    device.addEventListener('uncapturederror', (e) => {
      this.gpuError ??= (e as GPUUncapturedErrorEvent).error.message;
    });
  }

  /** A backend on this environment's default adapter; throws E_UNSUPPORTED when there is none. */
  static async create(): Promise<WebGpuBackend> {
    const { device, adapter, gpu } = await requestDevice();
    const b = new WebGpuBackend(device, adapter);
    b.gpu = gpu;
    return b;
  }

  /** Work done so far: compute dispatches, and nodes a kernel handed back to the CPU at run time. */
  readonly counters = { dispatches: 0, cpuFallbacks: 0 };

  /**
   * Release the device (and with it every buffer). The backend is unusable afterwards; in Node this
   * also lets the process exit without waiting for Dawn.
   */
  destroy(): void {
    this.pipelines.clear();
    this.device.destroy();
    this.gpu = undefined;
  }

  /** How many distinct pipelines have been compiled (one per program key). */
  get pipelineCount(): number {
    return this.pipelines.size;
  }

  async upload(t: Tensor): Promise<BackendTensor> {
    if (!GPU_DTYPES.includes(t.dtype)) return t;
    return this.uploadNow(t);
  }

  private uploadNow(t: Tensor): GpuTensor {
    const g = this.alloc(t.dtype, t.shape);
    const src = t.data as Float32Array | Int32Array;
    if (src.length) this.device.queue.writeBuffer(g.storage.buffer, 0, src.buffer, src.byteOffset, src.byteLength);
    return g;
  }

  async download(t: BackendTensor): Promise<Tensor> {
    if (!isGpuTensor(t)) return t as Tensor;
    this.checkError();
    const bytes = t.size * 4;
    const out = new Tensor(t.dtype, t.shape);
    if (bytes === 0) return out;
    const staging = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(t.storage.buffer, 0, staging, 0, bytes);
    this.device.queue.submit([enc.finish()]);
    try {
      await staging.mapAsync(GPUMapMode.READ);
      const src = staging.getMappedRange();
      (out.data as Float32Array | Int32Array).set(t.dtype === 'int32' ? new Int32Array(src) : new Float32Array(src));
      staging.unmap();
    } finally {
      staging.destroy();
    }
    this.checkError();
    return out;
  }

  supports(node: Node, dtypes: readonly (DType | undefined)[]): boolean {
    const k = this.kernels[opKey(node)];
    return k !== undefined && k.supports(node, dtypes);
  }

  async run(node: Node, inputs: readonly (Value | BackendTensor | undefined)[], ctx: RunContext): Promise<(Value | BackendTensor)[]> {
    const kernel = this.kernels[opKey(node)];
    if (!kernel) throw new RosettaError('E_UNSUPPORTED_OP', `no WebGPU kernel for ${opKey(node)}`, { where: { node: node.name } });
    const attrs = new AttrReader(node.attrs, node);
    const programs: Program[] = [];
    const kctx: GpuKernelContext = {
      node,
      attrs,
      cpu: { ...ctx, node, attrs },
      has: (i) => inputs[i] !== undefined,
      input: (i) => this.gpuInput(node, inputs[i], i),
      host: async (i) => {
        const v = inputs[i];
        if (v === undefined) return undefined;
        if (isGpuTensor(v)) return this.download(v);
        if (v instanceof Tensor) return v;
        throw new RosettaError('E_DTYPE_MISMATCH', `${node.opType} input ${i} must be a tensor`, { where: { node: node.name } });
      },
      alloc: (dtype, shape) => this.alloc(dtype, shape),
      view: (t, shape) => {
        t.storage.refs++;
        return { dtype: t.dtype, shape: shape.slice(), size: t.size, storage: t.storage };
      },
      run: (p) => {
        programs.push(p);
      },
    };
    const outs = await kernel.run(kctx);
    if (outs === null) {
      this.counters.cpuFallbacks++;
      const host = await Promise.all(inputs.map((v) => (v === undefined ? undefined : isGpuTensor(v) ? this.download(v) : (v as Value))));
      const res = await this.cpu.run(node, host, ctx);
      return Promise.all(res.map((o) => (isTensor(o) ? this.upload(o) : o)));
    }
    await this.submit(programs);
    return outs;
  }

  dispose(t: BackendTensor): void {
    if (isGpuTensor(t)) release(t.storage);
  }

  private gpuInput(node: Node, v: Value | BackendTensor | undefined, i: number): GpuTensor {
    if (isGpuTensor(v)) return v;
    if (v instanceof Tensor && GPU_DTYPES.includes(v.dtype)) {
      let g = this.uploads.get(v);
      if (!g) {
        g = this.uploadNow(v);
        this.uploads.set(v, g);
        this.collected.register(v, g.storage);
      }
      return g;
    }
    throw new RosettaError('E_MISSING_INPUT', `${node.opType} needs a float32/int32 tensor as input ${i}${v === undefined ? ' (not given)' : ''}`, { where: { node: node.name } });
  }

  private alloc(dtype: DType, shape: readonly number[]): GpuTensor {
    const size = checkedSize(shape, `${dtype} tensor`);
    const bytes = Math.max(4, size * 4);
    if (bytes > this.device.limits.maxStorageBufferBindingSize) {
      throw new RosettaError('E_LIMIT', `a [${shape.join(', ')}] ${dtype} tensor needs ${bytes} bytes, above this GPU's storage buffer limit of ${this.device.limits.maxStorageBufferBindingSize}`, { hint: 'use --backend cpu for this model' });
    }
    const buffer = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    return { dtype, shape: shape.slice(), size, storage: { buffer, refs: 1 } };
  }

  private pipeline(p: Program): GPUComputePipeline {
    const words = p.params.packed().length;
    let pl = this.pipelines.get(p.key);
    // A key that misses a code-changing fact would silently reuse the wrong shader; the uniform
    // size is one such fact that can be checked cheaply.
    if (pl && pl.words !== words) throw new RosettaError('E_INTERNAL', `WebGPU program key '${p.key}' was reused for a different parameter layout (${pl.words} vs ${words} words)`, { hint: 'this is a bug in Rosetta\'s WebGPU kernels; use --backend cpu meanwhile and report it' });
    if (!pl) {
      const bindings = [
        ...p.inputs.map((t, i) => ({ name: `in${i}`, type: wgslType(t.dtype), access: 'read' as const })),
        ...p.outputs.map((t, i) => ({ name: `out${i}`, type: wgslType(t.dtype), access: 'read_write' as const })),
      ];
      const code = storageDecls(bindings) + p.params.decl(bindings.length) + p.shader();
      // Synchronous creation: dawn.node's createComputePipelineAsync aborts the process
      // (std::system_error) with SwiftShader, and its popErrorScope promise can be left pending
      // with nothing keeping Node alive. Compile errors arrive as 'uncapturederror' events and
      // are thrown at the next download (see docs/decisions.md).
      const module = this.device.createShaderModule({ code, label: p.key });
      pl = { pipeline: this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: p.key }), words };
      this.pipelines.set(p.key, pl);
    }
    return pl.pipeline;
  }

  private async submit(programs: readonly Program[]): Promise<void> {
    const live = programs.filter((p) => p.outputs.some((t) => t.size > 0));
    if (!live.length) return;
    const pipelines = live.map((p) => this.pipeline(p));
    const enc = this.device.createCommandEncoder();
    const uniforms: GPUBuffer[] = [];
    live.forEach((p, k) => {
      const words = p.params.packed();
      const ub = this.device.createBuffer({ size: words.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      this.device.queue.writeBuffer(ub, 0, words);
      uniforms.push(ub);
      const tensors = [...p.inputs, ...p.outputs];
      const bind = this.device.createBindGroup({
        layout: pipelines[k]!.getBindGroupLayout(0),
        entries: [...tensors.map((t, i) => ({ binding: i, resource: { buffer: t.storage.buffer } })), { binding: tensors.length, resource: { buffer: ub } }],
      });
      const pass = enc.beginComputePass();
      pass.setPipeline(pipelines[k]!);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(...p.dispatch);
      pass.end();
    });
    this.device.queue.submit([enc.finish()]);
    this.counters.dispatches += live.length;
    // Destroying after submit is deferred by WebGPU until the submitted work is done.
    for (const ub of uniforms) ub.destroy();
  }

  private checkError(): void {
    if (this.gpuError !== undefined) {
      const msg = this.gpuError;
      this.gpuError = undefined;
      throw new RosettaError('E_INTERNAL', `WebGPU reported an error: ${msg}`, { hint: 'this is a bug in Rosetta\'s WebGPU kernels; use --backend cpu meanwhile and report it' });
    }
  }
}
