/**
 * The WebGPU kernel contract, after ONNX Runtime's JS WebGPU kernels: a kernel is a plain object
 * registered under its ONNX op name. It declares what it handles (`supports`, from dtypes and
 * attributes only) and, when run, emits one or more `Program`s. A program carries a cache key made
 * of static facts only (op, dtypes, ranks, code-changing flags — never shapes), a function that
 * writes the WGSL (called only when the key misses the pipeline cache), the dispatch size and the
 * uniform parameters. Index arithmetic comes from `wgsl.ts`.
 */
/// <reference types="@webgpu/types" />
import type { AttrReader } from '../../ir/attrs.js';
import type { DType } from '../../ir/dtype.js';
import type { Node } from '../../ir/graph.js';
import type { Tensor } from '../../ir/tensor.js';
import type { BackendTensor } from '../../runtime/backend.js';
import type { KernelContext } from '../cpu/kernel.js';
import type { Params } from './wgsl.js';

/** dtypes that live in GPU buffers; everything else stays a host tensor. */
export const GPU_DTYPES: readonly DType[] = ['float32', 'int32'];

/** A GPU buffer shared by a tensor and its views (Reshape/Flatten), freed when the last lets go. */
export interface GpuStorage {
  readonly buffer: GPUBuffer;
  refs: number;
}

/** A tensor resident on the GPU (float32 or int32, row-major). */
export interface GpuTensor extends BackendTensor {
  readonly storage: GpuStorage;
  readonly size: number;
}

/** One compute dispatch. */
export interface Program {
  /** Static facts only (op, dtypes, ranks, flags): equal keys must mean equal WGSL. */
  key: string;
  /** Writes the WGSL; called only when `key` is not yet in the pipeline cache. */
  shader: () => string;
  /** Bound in order as storage bindings 0..; inputs read-only, outputs read-write. */
  inputs: readonly GpuTensor[];
  outputs: readonly GpuTensor[];
  params: Params;
  /** Workgroup counts (x, y, z). */
  dispatch: [number, number, number];
}

/** What a kernel gets when it runs. */
export interface GpuKernelContext {
  node: Node;
  attrs: AttrReader;
  /** A CPU-kernel context for the shared geometry/shape helpers and their typed errors. */
  cpu: KernelContext;
  /** Input `i` on the GPU (host float32/int32 tensors such as initializers are uploaded once); throws when absent. */
  input(i: number): GpuTensor;
  /** Whether input `i` was given. */
  has(i: number): boolean;
  /** Input `i` on the host (small parameter tensors: shapes, axes, clip bounds); undefined when absent. */
  host(i: number): Promise<Tensor | undefined>;
  /** A fresh output tensor (size checked against the device's limits). */
  alloc(dtype: DType, shape: readonly number[]): GpuTensor;
  /** A view of `t` with another shape (same element count), sharing its buffer. */
  view(t: GpuTensor, shape: readonly number[]): GpuTensor;
  /** Record a dispatch; dispatches of one node are submitted together. */
  run(p: Program): void;
}

/** A WebGPU kernel. */
export interface WebGpuKernel {
  /** ONNX op name (spec spelling). */
  readonly name: string;
  /** Whether this kernel handles the node with these input dtypes (attributes may be read). */
  supports(node: Node, dtypes: readonly (DType | undefined)[]): boolean;
  /**
   * Emit the programs for one node and return its outputs, or `null` when this node, as it turned
   * out at run time (training-mode BatchNormalization, a dimension past a GPU limit), must run on
   * the CPU kernel instead.
   */
  run(ctx: GpuKernelContext): GpuTensor[] | null | Promise<GpuTensor[] | null>;
}

/** True when every given input among `idx` is one of `allowed`. */
export function dtypesIn(dtypes: readonly (DType | undefined)[], idx: readonly number[], allowed: readonly DType[]): boolean {
  return idx.every((i) => dtypes[i] === undefined || allowed.includes(dtypes[i]!));
}
