/**
 * The ONNX training-preview operator `Gradient` (domain `ai.onnx.preview.training`, version 1):
 * `Gradient(xs, zs, y)` outputs dy/dx for every name x in `xs`, treating the names in `zs` as
 * constants. Its inputs are the values *at which* the gradient is taken, in the order xs then zs;
 * they may be the named tensors themselves or other values of the same shapes.
 * Spec: https://onnx.ai/onnx/operators/onnx_aionnxpreviewtraining_Gradient.html
 *
 * The differentiated function is not an attribute of the node but the part of the *enclosing
 * graph* that computes y from xs ∪ zs, so the kernel needs that graph: the executor passes it as
 * `RunContext.graph`. Design (docs/decisions.md §20):
 * 1. `forwardSlice` cuts the nodes that compute y from xs ∪ zs out of the enclosing graph into a
 *    standalone graph (inputs xs then zs, output y, the initializers it reads). It is derived from
 *    the graph alone, so it is cached per (graph, node).
 * 2. The kernel runs that slice on the Gradient node's own inputs with the autograd tape
 *    (`recordTape`: high-level ops decomposed, every value kept), builds the backward graph with
 *    the one table of gradient rules (`buildBackward`), and runs it through `ctx.runSubgraph`, i.e.
 *    on the same executor and backend as the enclosing graph.
 * Recomputing the slice costs one extra forward of that part; in exchange the node is correct for
 * any input values (the spec's "dY/dH at H = H_1") and has no hidden ordering dependency on the
 * enclosing graph's own forward values.
 */
import type { DType } from '../ir/dtype.js';
import { RosettaError } from '../ir/errors.js';
import { emptyGraph, nodeDependencies, opKey, type Graph, type Node, type ValueInfo } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import type { KernelContext, KernelTable } from '../kernels/cpu/kernel.js';
import { isTensor, type Value } from './value.js';

/** The domain of ONNX's training preview operators. */
export const TRAINING_PREVIEW_DOMAIN = 'ai.onnx.preview.training';
/** Kernel-table key of the Gradient operator (`opKey` of its nodes). */
export const GRADIENT_OP_KEY = `${TRAINING_PREVIEW_DOMAIN}.Gradient`;

/** The differentiated part of an enclosing graph, as a graph of its own. */
export interface ForwardSlice {
  /** Inputs xs then zs (the Gradient node's input order), output y. */
  graph: Graph;
  xs: string[];
  zs: string[];
  y: string;
}

/** dtypes autograd differentiates (its gradient rules make float32 or float64 constants). */
const DIFFERENTIABLE: ReadonlySet<DType> = new Set<DType>(['float32', 'float64']);

/**
 * Cut the computation of `node`'s attribute `y` from its `xs` and `zs` out of `graph` (the graph
 * `node` belongs to). Throws E_INVALID_ATTR / E_INVALID_GRAPH when the attributes do not describe
 * such a computation, E_UNSUPPORTED for a Gradient of a Gradient or a slice reading values of an
 * enclosing scope.
 */
export function forwardSlice(graph: Graph, node: Node): ForwardSlice {
  const where = { node: node.name };
  const attr = (name: string, required: boolean): string[] => {
    const a = node.attrs[name];
    if (a === undefined) {
      if (required) throw new RosettaError('E_INVALID_ATTR', `Gradient is missing its required attribute '${name}'`, { where });
      return [];
    }
    if (a.type === 'strings') return a.value;
    if (a.type === 'string') return [a.value];
    throw new RosettaError('E_INVALID_ATTR', `Gradient attribute '${name}' should be strings, got ${a.type}`, { where });
  };
  const xs = attr('xs', true);
  const zs = attr('zs', false);
  const ys = attr('y', true);
  if (ys.length !== 1 || !ys[0]) throw new RosettaError('E_INVALID_ATTR', `Gradient attribute 'y' must name one tensor, has ${ys.length}`, { where });
  const y = ys[0];
  const sources = [...xs, ...zs];
  const seen = new Set<string>();
  for (const s of sources) {
    if (!s) throw new RosettaError('E_INVALID_ATTR', `Gradient xs/zs contain an empty name`, { where });
    if (seen.has(s)) throw new RosettaError('E_INVALID_ATTR', `Gradient names '${s}' twice in xs/zs`, { where, hint: 'each independent variable is listed once, either in xs or in zs' });
    seen.add(s);
  }
  if (node.inputs.length !== sources.length) {
    throw new RosettaError('E_INVALID_GRAPH', `Gradient has ${node.inputs.length} inputs but xs and zs name ${sources.length} tensors`, { where, hint: 'inputs are the values of xs followed by those of zs, one each' });
  }
  if (node.outputs.length > xs.length) {
    throw new RosettaError('E_INVALID_GRAPH', `Gradient has ${node.outputs.length} outputs but xs names ${xs.length} tensors`, { where });
  }

  const producer = new Map<string, Node>();
  for (const n of graph.nodes) for (const o of n.outputs) if (o) producer.set(o, n);
  const graphInputs = new Map<string, ValueInfo>(graph.inputs.map((v) => [v.name, v]));

  const slice = emptyGraph(`${graph.name}/${node.name}/forward`);
  const included = new Set<Node>();
  const visited = new Set<string>();
  const stack = [y];
  while (stack.length) {
    const v = stack.pop()!;
    if (!v || visited.has(v)) continue;
    visited.add(v);
    if (seen.has(v)) continue; // an independent variable: a slice input
    const p = producer.get(v);
    if (p) {
      if (p === node || opKey(p) === GRADIENT_OP_KEY) {
        throw new RosettaError('E_UNSUPPORTED', `Gradient y='${y}' depends on the output of Gradient node ${p.name}: higher-order gradients are not supported`, { where });
      }
      if (!included.has(p)) {
        included.add(p);
        stack.push(...nodeDependencies(p));
      }
      continue;
    }
    const init = graph.initializers.get(v);
    if (init) {
      // A graph input with a default reads the initializer here: a fed override is not seen.
      slice.initializers.set(v, init);
      continue;
    }
    if (graphInputs.has(v)) {
      throw new RosettaError('E_INVALID_GRAPH', `Gradient y='${y}' depends on graph input '${v}', which is in neither xs nor zs`, { where, hint: 'list every input y is computed from in xs (differentiated) or zs (held constant)' });
    }
    if (v === y) throw new RosettaError('E_INVALID_GRAPH', `Gradient y='${y}' is not a value of graph '${graph.name}'`, { where });
    throw new RosettaError('E_UNSUPPORTED', `Gradient y='${y}' depends on '${v}', which is computed outside graph '${graph.name}'`, { where, hint: 'a Gradient inside a control-flow body can only differentiate values computed in that body' });
  }
  for (const n of included) {
    for (const o of n.outputs) {
      if (o && seen.has(o)) {
        throw new RosettaError('E_INVALID_GRAPH', `Gradient variable '${o}' is computed by node ${n.name}, which y='${y}' also needs`, { where, hint: 'xs and zs must be independent variables: no name in them may be computed from the others' });
      }
    }
  }
  slice.nodes = graph.nodes.filter((n) => included.has(n));
  slice.inputs = sources.map((s) => ({ name: s, type: (graphInputs.get(s) ?? graph.valueInfo.get(s))?.type }));
  slice.outputs = [{ name: y }];
  return { graph: slice, xs, zs, y };
}

/** Slices already cut, by node and the graph they were cut from (a node object may be shared). */
const slices = new WeakMap<Node, { graph: Graph; slice: ForwardSlice }>();

function sliceFor(ctx: KernelContext): ForwardSlice {
  const graph = ctx.graph;
  if (!graph) {
    throw new RosettaError('E_UNSUPPORTED', 'Gradient needs the graph it belongs to, and this executor does not provide it', { where: { node: ctx.node.name }, hint: 'run the model through Session (autograd tapes cannot run a Gradient node)' });
  }
  const hit = slices.get(ctx.node);
  if (hit && hit.graph === graph) return hit.slice;
  const slice = forwardSlice(graph, ctx.node);
  slices.set(ctx.node, { graph, slice });
  return slice;
}

async function Gradient(inputs: readonly (Value | undefined)[], ctx: KernelContext): Promise<Value[]> {
  const slice = sliceFor(ctx);
  const where = { node: ctx.node.name };
  // Only the gradients whose outputs are requested (all outputs are optional).
  const requested = (k: number): boolean => !!ctx.node.outputs[k];
  const feeds = new Map<string, Tensor>();
  slice.graph.inputs.forEach((info, k) => {
    const v = inputs[k];
    if (!isTensor(v)) throw new RosettaError('E_MISSING_INPUT', `Gradient input ${k} (for '${info.name}') must be a tensor`, { where });
    if (k < slice.xs.length && requested(k) && !DIFFERENTIABLE.has(v.dtype)) {
      throw new RosettaError('E_UNSUPPORTED_DTYPE', `Gradient with respect to '${info.name}' of dtype ${v.dtype}: only float32 and float64 are differentiated`, { where, hint: 'move integer variables to zs' });
    }
    feeds.set(info.name, v);
  });
  const wanted = slice.xs.filter((_, k) => requested(k));
  if (wanted.length === 0) return [];
  // Loaded on first use: autograd imports the executor, which imports the kernel table holding
  // this kernel; a static import would close that cycle while the modules are still loading.
  const { recordTape, buildBackward } = await import('./autograd.js');
  const tape = await recordTape(slice.graph, feeds, { training: ctx.training, random: ctx.random });
  const yT = tape.values.get(slice.y);
  if (!yT || !DIFFERENTIABLE.has(yT.dtype)) {
    throw new RosettaError('E_UNSUPPORTED_DTYPE', `Gradient of y='${slice.y}' of dtype ${yT?.dtype ?? 'unknown'}: only float32 and float64 are differentiated`, { where });
  }
  const plan = buildBackward(tape, slice.y, wanted);
  const reads = new Map<string, Value>(plan.reads.map((r) => [r, tape.values.get(r)!]));
  const outs = await ctx.runSubgraph(plan.graph, reads);
  const byName = new Map<string, Value>();
  plan.graph.outputs.forEach((o, k) => byName.set(o.name, outs[k]!));
  const results = slice.xs.slice(0, ctx.node.outputs.length).map((x, k) => {
    if (!requested(k)) return undefined;
    const v = byName.get(plan.grads.get(x)!);
    if (!isTensor(v)) throw new RosettaError('E_INTERNAL', `Gradient: dy/d'${x}' was not produced`, { where });
    return v;
  });
  // The executor skips outputs named '' (and their undefined slots).
  return results as Value[];
}

/** Registered in the CPU kernel table (src/kernels/cpu/index.ts). */
export const gradientKernels: KernelTable = { [GRADIENT_OP_KEY]: Gradient };
