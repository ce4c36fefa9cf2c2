/**
 * CPU kernels: control flow (If, Loop, Scan). Bodies run through `ctx.runSubgraph`, so they see
 * outer-scope values and use the same executor and backend as the enclosing graph.
 * Spec: https://onnx.ai/onnx/operators/onnx__If.html, …/onnx__Loop.html, …/onnx__Scan.html.
 */
import { RosettaError } from '../../ir/errors.js';
import type { Graph, ValueType } from '../../ir/graph.js';
import { elementToNumber, Tensor } from '../../ir/tensor.js';
import { isTensor, type Value } from '../../runtime/value.js';
import { copyRun, int64Tensor, rawView } from './copy.js';
import type { KernelContext, KernelTable } from './kernel.js';
import { sequenceKernels } from './sequence.js';
import { concatTensors } from './shape.js';
import { takeAlong } from './tensor-ops.js';
import { normAxis, optTensorIn, tensorIn } from './util.js';

/**
 * Iteration guard for Loop: exported TF while-loops use M = INT64_MAX and stop through `cond`, so
 * M alone cannot bound the work; a hostile model whose condition never turns false is stopped
 * here with E_LIMIT instead of hanging the process.
 */
export const MAX_LOOP_ITERATIONS = 10_000_000;

function graphAttr(ctx: KernelContext, name: string): Graph {
  const g = ctx.attrs.graph(name);
  if (!g) throw new RosettaError('E_INVALID_ATTR', `${ctx.node.opType} is missing its '${name}' graph`, { where: { node: ctx.node.name } });
  return g;
}

function truthy(t: Tensor, ctx: KernelContext, what: string): boolean {
  if (t.size !== 1) throw new RosettaError('E_SHAPE_MISMATCH', `${ctx.node.opType} ${what} must have one element, has ${t.size}`, { where: { node: ctx.node.name } });
  return elementToNumber(t, 0) !== 0;
}

function bodyOutputs(ctx: KernelContext, body: Graph, outs: Value[], expect: number): void {
  if (outs.length !== expect) {
    throw new RosettaError('E_INVALID_GRAPH', `${ctx.node.opType} body '${body.name}' returns ${outs.length} values, expected ${expect}`, { where: { node: ctx.node.name } });
  }
}

/** Stack per-iteration tensors along a new `axis`; with none, an empty tensor typed from the body. */
function stackOutputs(items: Value[], axis: number, type: ValueType | undefined, ctx: KernelContext): Tensor {
  if (items.length === 0) {
    // Zero iterations: the element shape is unknown at run time; use the declared one when static.
    const dtype = type?.kind === 'tensor' ? type.dtype : 'float32';
    const dims = type?.kind === 'tensor' && type.shape?.every((d) => typeof d === 'number') ? (type.shape as number[]) : [];
    return new Tensor(dtype, [...dims.slice(0, axis), 0, ...dims.slice(axis)]);
  }
  const ts = items.map((v) => {
    if (!isTensor(v)) throw new RosettaError('E_INVALID_GRAPH', `${ctx.node.opType} scan output must be a tensor`, { where: { node: ctx.node.name } });
    return v;
  });
  return concatTensors(ts, normAxis(axis, ts[0]!.rank + 1, ctx), ctx, true);
}

async function If(inputs: readonly (Value | undefined)[], ctx: KernelContext): Promise<Value[]> {
  const cond = truthy(tensorIn(inputs, 0, ctx), ctx, 'condition');
  const g = graphAttr(ctx, cond ? 'then_branch' : 'else_branch');
  const outs = await ctx.runSubgraph(g, new Map());
  bodyOutputs(ctx, g, outs, ctx.node.outputs.length);
  return outs;
}

async function Loop(inputs: readonly (Value | undefined)[], ctx: KernelContext): Promise<Value[]> {
  const body = graphAttr(ctx, 'body');
  const mT = optTensorIn(inputs, 0);
  const cT = optTensorIn(inputs, 1);
  const maxTrip = mT ? elementToNumber(mT, 0) : Infinity;
  let cond = cT ? truthy(cT, ctx, 'cond') : true;
  let carried = inputs.slice(2) as Value[];
  const n = carried.length;
  if (body.inputs.length !== n + 2) {
    throw new RosettaError('E_INVALID_GRAPH', `Loop body takes ${body.inputs.length} inputs, expected ${n + 2} (iteration, cond, ${n} carried)`, { where: { node: ctx.node.name } });
  }
  const k = body.outputs.length - 1 - n;
  if (k < 0) throw new RosettaError('E_INVALID_GRAPH', `Loop body returns ${body.outputs.length} values, fewer than 1 + ${n} carried`, { where: { node: ctx.node.name } });
  const scans: Value[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < maxTrip && cond; i++) {
    if (i === MAX_LOOP_ITERATIONS) {
      throw new RosettaError('E_LIMIT', `Loop ran ${MAX_LOOP_ITERATIONS} iterations without its condition turning false`, { where: { node: ctx.node.name }, hint: 'the model loops without end (or far longer than any real model); check its trip count and condition' });
    }
    const feeds = new Map<string, Value>();
    feeds.set(body.inputs[0]!.name, int64Tensor([], [i]));
    feeds.set(body.inputs[1]!.name, Tensor.from('bool', [], [cond ? 1 : 0]));
    carried.forEach((v, j) => {
      if (v !== undefined) feeds.set(body.inputs[2 + j]!.name, v);
    });
    const outs = await ctx.runSubgraph(body, feeds);
    bodyOutputs(ctx, body, outs, 1 + n + k);
    const c = outs[0]!;
    if (!isTensor(c)) throw new RosettaError('E_INVALID_GRAPH', 'Loop body condition output must be a tensor', { where: { node: ctx.node.name } });
    cond = truthy(c, ctx, 'body condition');
    carried = outs.slice(1, 1 + n);
    for (let j = 0; j < k; j++) scans[j]!.push(outs[1 + n + j]!);
  }
  return [...carried, ...scans.map((items, j) => stackOutputs(items, 0, body.outputs[1 + n + j]!.type, ctx))];
}

interface ScanSpec {
  body: Graph;
  inDirs: number[];
  inAxes: number[];
  outDirs: number[];
  outAxes: number[];
}

/** Scan-9 semantics over `len` steps: returns final states then stacked scan outputs. */
async function scanCore(states: Value[], scanIns: Tensor[], len: number, spec: ScanSpec, ctx: KernelContext): Promise<Value[]> {
  const { body, inDirs, inAxes, outDirs, outAxes } = spec;
  const n = states.length;
  const k = body.outputs.length - n;
  const scans: Value[][] = Array.from({ length: k }, () => []);
  for (let t = 0; t < len; t++) {
    const feeds = new Map<string, Value>();
    states.forEach((v, j) => feeds.set(body.inputs[j]!.name, v));
    scanIns.forEach((x, j) => {
      const step = inDirs[j] === 1 ? len - 1 - t : t;
      const axis = inAxes[j]!;
      feeds.set(body.inputs[n + j]!.name, takeAlong(x, axis, [step]).reshape(x.shape.filter((_, d) => d !== axis)));
    });
    const outs = await ctx.runSubgraph(body, feeds);
    bodyOutputs(ctx, body, outs, n + k);
    states = outs.slice(0, n);
    for (let j = 0; j < k; j++) scans[j]!.push(outs[n + j]!);
  }
  const results = scans.map((items, j) => {
    const ordered = outDirs[j] === 1 ? items.slice().reverse() : items;
    return stackOutputs(ordered, outAxes[j] ?? 0, body.outputs[n + j]!.type, ctx);
  });
  return [...states, ...results];
}

/**
 * Scan. The opset-8 form (an extra leading `sequence_lens` input, batch axis 0 on every state and
 * scan input, attribute `directions`) is recognised by its input count, one more than the body
 * takes, and run batch entry by batch entry; steps past a sequence's length are zero in the
 * scan outputs, as in ONNX Runtime.
 */
async function Scan(inputs: readonly (Value | undefined)[], ctx: KernelContext): Promise<Value[]> {
  const body = graphAttr(ctx, 'body');
  const m = ctx.attrs.int('num_scan_inputs');
  const legacy = inputs.length === body.inputs.length + 1;
  const ins = legacy ? inputs.slice(1) : inputs;
  const n = ins.length - m;
  if (m < 1 || n < 0) throw new RosettaError('E_INVALID_ATTR', `Scan num_scan_inputs=${m} does not fit ${ins.length} inputs`, { where: { node: ctx.node.name } });
  const k = body.outputs.length - n;
  if (body.inputs.length !== n + m || k < 0) throw new RosettaError('E_INVALID_GRAPH', `Scan body signature (${body.inputs.length} in, ${body.outputs.length} out) does not fit ${n} states and ${m} scan inputs`, { where: { node: ctx.node.name } });
  const scanIns = Array.from({ length: m }, (_, j) => tensorIn(ins, n + j, ctx));
  const spec: ScanSpec = {
    body,
    inDirs: ctx.attrs.ints(legacy ? 'directions' : 'scan_input_directions', new Array<number>(m).fill(0)),
    inAxes: legacy ? new Array<number>(m).fill(0) : ctx.attrs.ints('scan_input_axes', new Array<number>(m).fill(0)).map((a, j) => normAxis(a, scanIns[j]!.rank, ctx)),
    outDirs: legacy ? new Array<number>(k).fill(0) : ctx.attrs.ints('scan_output_directions', new Array<number>(k).fill(0)),
    outAxes: legacy ? new Array<number>(k).fill(0) : ctx.attrs.ints('scan_output_axes', new Array<number>(k).fill(0)),
  };
  const states = ins.slice(0, n).map((_, j) => tensorIn(ins, j, ctx));
  if (!legacy) {
    const len = scanIns[0]!.shape[spec.inAxes[0]!]!;
    scanIns.forEach((t, j) => {
      if (t.shape[spec.inAxes[j]!] !== len) throw new RosettaError('E_SHAPE_MISMATCH', `Scan input ${j} has ${t.shape[spec.inAxes[j]!]} steps along axis ${spec.inAxes[j]}, input 0 has ${len}`, { where: { node: ctx.node.name } });
    });
    return scanCore(states, scanIns, len, spec, ctx);
  }
  const batch = scanIns[0]!.shape[0]!;
  const steps = scanIns[0]!.shape[1]!;
  for (const t of [...states, ...scanIns]) {
    if (t.shape[0] !== batch || (scanIns.includes(t) && t.shape[1] !== steps)) throw new RosettaError('E_SHAPE_MISMATCH', `Scan (opset 8) inputs disagree on batch ${batch} / sequence length ${steps}`, { where: { node: ctx.node.name } });
  }
  const lensT = optTensorIn(inputs, 0);
  const lens = lensT ? lensT.toNumbers() : new Array<number>(batch).fill(steps);
  const per: Value[][] = [];
  const row = (t: Tensor, b: number): Tensor => takeAlong(t, 0, [b]).reshape(t.shape.slice(1));
  for (let b = 0; b < batch; b++) {
    const len = lens[b]!;
    if (!(len >= 0 && len <= steps)) throw new RosettaError('E_SHAPE_MISMATCH', `Scan sequence_lens[${b}] = ${len} outside [0, ${steps}]`, { where: { node: ctx.node.name } });
    const outs = await scanCore(states.map((t) => row(t, b)), scanIns.map((t) => row(t, b)), len, spec, ctx);
    // Pad short sequences' scan outputs with zeros up to the full length.
    per.push(outs.map((v, j) => (j < n || len === steps ? v : padSteps(v as Tensor, steps))));
  }
  return per[0]!.map((_, j) => concatTensors(per.map((o) => o[j] as Tensor), 0, ctx, true));
}

/** `t` ([len, …]) extended with zero rows to [steps, …]. */
function padSteps(t: Tensor, steps: number): Tensor {
  const out = new Tensor(t.dtype, [steps, ...t.shape.slice(1)]);
  copyRun(rawView(t.data, t.dtype), 0, rawView(out.data, out.dtype), 0, t.size);
  return out;
}

/** Sequence and optional ops live in sequence.ts; exported through this table. */
export const controlKernels: KernelTable = { If, Loop, Scan, ...sequenceKernels };
