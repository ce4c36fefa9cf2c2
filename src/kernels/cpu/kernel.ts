/**
 * The CPU kernel contract. A kernel is a plain function registered under the ONNX op name
 * (`opKey`: `Conv`, or `domain.Op` for other domains). Inputs arrive in node order with `undefined`
 * for omitted optional inputs; attributes are read through `ctx.attrs` with ONNX defaults.
 * Kernels must not mutate their inputs (the executor may share them) and must throw
 * `RosettaError` (E_SHAPE_MISMATCH, E_INVALID_ATTR, E_UNSUPPORTED_DTYPE…) naming `ctx.node`.
 */
import type { AttrReader } from '../../ir/attrs.js';
import type { Node } from '../../ir/graph.js';
import type { RunContext } from '../../runtime/backend.js';
import type { Value } from '../../runtime/value.js';

export interface KernelContext extends RunContext {
  node: Node;
  attrs: AttrReader;
}

export type CpuKernel = (inputs: readonly (Value | undefined)[], ctx: KernelContext) => Value[] | Promise<Value[]>;

export type KernelTable = Record<string, CpuKernel>;
