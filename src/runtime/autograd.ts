/**
 * Reverse-mode automatic differentiation over IR graphs.
 *
 * 1. `recordTape` runs a forward graph node by node and keeps every value (the tape). High-level
 *    ops with a decomposition (LSTM, GRU, RNN, BatchNormalization, LayerNormalization,
 *    InstanceNormalization) are expanded into primitives on the way, with their concrete input
 *    shapes, so recurrences unroll per time step; MaxPool and training Dropout are asked for their
 *    Indices/mask outputs, which their gradients need; an If is replaced by the branch its (concrete)
 *    condition takes, so gradients flow through that branch.
 * 2. `buildBackward` walks the tape backwards and applies one gradient rule per op (the table is
 *    `GRAD_RULES`, every rule written in ONNX ops), producing a *backward graph* whose inputs are
 *    the forward values it reads and whose outputs are the gradients of the chosen values. Being
 *    plain IR it runs on any backend through `Session`.
 * 3. `gradients` does both and runs the backward graph.
 *
 * Every value's gradient has that value's shape; broadcasting is undone by summing (`sumTo`).
 * Design: docs/decisions.md ("Autograd on a recorded tape").
 */
import { AttrReader } from '../ir/attrs.js';
import type { DType } from '../ir/dtype.js';
import { RosettaError, isRosettaError } from '../ir/errors.js';
import { emptyGraph, makeNode, opKey, topoSort, type Attr, type Graph, type Node } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { CpuBackend } from '../kernels/cpu/backend.js';
import { CPU_KERNELS } from '../kernels/cpu/index.js';
import type { Backend, BackendTensor, RunContext } from './backend.js';
import { IrBuilder, type ShapeSource } from './grad-rules/builder.js';
import { decompositions, type Decomposition } from './grad-rules/decompose.js';
import { elementwiseRules, type GradRule } from './grad-rules/elementwise.js';
import { nnRules } from './grad-rules/nn.js';
import { shapeRules } from './grad-rules/shape.js';
import { Session, seededRandom } from './session.js';
import { isTensor, type Value } from './value.js';

export type { GradRule } from './grad-rules/elementwise.js';
export type { Decomposition } from './grad-rules/decompose.js';
export { IrBuilder } from './grad-rules/builder.js';

/** The one table of gradient rules, by op name. */
export const GRAD_RULES: Readonly<Record<string, GradRule>> = { ...elementwiseRules, ...shapeRules, ...nnRules };

/** Ops autograd can differentiate: rules plus decompositions. Derived, never maintained. */
export function differentiableOps(): string[] {
  return [...new Set([...Object.keys(GRAD_RULES), ...Object.keys(decompositions)])].sort();
}

/** A forward pass with every value kept. */
export interface Tape {
  /** Nodes in execution order, after decomposition of high-level ops. */
  nodes: Node[];
  /** Every value: graph inputs, initializers, node outputs. */
  values: Map<string, Tensor>;
}

export interface TapeOptions {
  /** Training mode: Dropout drops (seeded), BatchNormalization nodes with training_mode=1 use batch stats. */
  training?: boolean;
  seed?: number;
  /** Random source shared across calls (overrides `seed`). */
  random?: () => number;
  /** Expand high-level ops into primitives (default true; needed to differentiate through them). */
  decompose?: boolean;
}

const cpu = new CpuBackend();

/**
 * Runs nodes one at a time on the CPU and records them (decomposed) with their values. Used by
 * `recordTape` for whole graphs and by the eager `src/nn` trace op by op (`runSync`).
 */
export class TapeRecorder implements Tape {
  readonly nodes: Node[] = [];
  readonly values = new Map<string, Tensor>();
  readonly ctx: RunContext;
  private uid = 0;
  private readonly source: ShapeSource;

  constructor(private readonly opts: TapeOptions = {}) {
    this.ctx = {
      training: opts.training ?? false,
      random: opts.random ?? seededRandom(opts.seed ?? 0),
      runSubgraph: () => Promise.reject(new RosettaError('E_UNSUPPORTED_OP', 'autograd: Loop and Scan are not differentiable yet (If is: the taken branch is recorded)')),
    };
    this.source = tapeSource(this.values);
  }

  /** Decompose (when it has a decomposition) and run `original`; returns the node as recorded. */
  runSync(original: Node): Node {
    const inlined = this.inlineIf(original);
    if (inlined) {
      for (const n of inlined) this.runSync(n);
      return original;
    }
    const { node, dec } = this.prepare(original);
    if (!dec) {
      this.exec(node);
      return node;
    }
    for (const n of this.expand(node, dec)) this.exec(n);
    return node;
  }

  async run(original: Node): Promise<void> {
    const inlined = this.inlineIf(original);
    if (inlined) {
      for (const n of inlined) await this.run(n);
      return;
    }
    const { node, dec } = this.prepare(original);
    const list = dec ? this.expand(node, dec) : [node];
    for (const n of list) await this.execAsync(n);
  }

  /**
   * If: the condition is a concrete value on the tape, so the taken branch is recorded in place of
   * the node (its nodes, then an Identity per output), and gradients flow through that branch like
   * through any other nodes. Branch-local names get a unique prefix so they cannot collide with
   * (or be shadowed by) the enclosing graph's; names the branch reads from outside stay as they are.
   */
  private inlineIf(node: Node): Node[] | undefined {
    if (node.opType !== 'If' || (node.domain !== '' && node.domain !== 'ai.onnx')) return undefined;
    const cond = this.inputsOf(node)[0];
    if (!cond || cond.size !== 1) throw new RosettaError('E_SHAPE_MISMATCH', `If condition must hold one value, got ${cond ? `[${cond.shape.join(', ')}]` : 'nothing'}`, { where: { node: node.name } });
    const which = cond.get(0) !== 0 ? 'then_branch' : 'else_branch';
    const branch = new AttrReader(node.attrs, node).graph(which);
    if (!branch) throw new RosettaError('E_INVALID_GRAPH', `If has no ${which}`, { where: { node: node.name } });
    if (branch.outputs.length < node.outputs.length) throw new RosettaError('E_INVALID_GRAPH', `If ${which} returns ${branch.outputs.length} values for ${node.outputs.length} outputs`, { where: { node: node.name } });
    const prefix = `${node.name || node.outputs[0]}::${which}${this.uid++}::`;
    const local = new Map<string, string>();
    for (const k of branch.initializers.keys()) local.set(k, prefix + k);
    for (const n of branch.nodes) for (const o of n.outputs) if (o) local.set(o, prefix + o);
    const rename = (v: string): string => (v ? (local.get(v) ?? v) : v);
    for (const [k, t] of branch.initializers) this.values.set(rename(k), t);
    const nodes = topoSort(branch, new Set(this.values.keys())).map((n) => ({
      ...n,
      name: prefix + n.name,
      inputs: n.inputs.map(rename),
      outputs: n.outputs.map(rename),
      attrs: Object.fromEntries(Object.entries(n.attrs).map(([k, a]) => [k, renameCaptures(a, local)])),
    }));
    node.outputs.forEach((o, k) => {
      if (o) nodes.push(makeNode('Identity', [rename(branch.outputs[k]!.name)], [o], {}, { name: `${node.name}::out${k}`, scope: node.scope }));
    });
    return nodes;
  }

  private prepare(original: Node): { node: Node; dec: Decomposition | undefined } {
    const node = withGradOutputs(original, () => `${original.outputs[0] || original.name}::aux${this.uid++}`, this.ctx.training);
    const dec = (this.opts.decompose ?? true) ? decompositions[opKey(node)] : undefined;
    return { node, dec };
  }

  private expand(node: Node, dec: Decomposition): Node[] {
    const b = new IrBuilder(this.source, `${node.name}::${this.uid++}::`);
    b.scope = node.scope;
    b.dtype = floatDType(this.values.get(node.inputs[0]!)?.dtype);
    const outs = dec(b, node, new AttrReader(node.attrs, node));
    for (const [k, t] of b.constants) this.values.set(k, t);
    const list = b.nodes.slice();
    // Keep the original output names alive: Identity nodes (with their own gradient rule).
    node.outputs.forEach((o, k) => {
      if (o && outs[k]) list.push(makeNode('Identity', [outs[k]!], [o], {}, { name: `${node.name}::out${k}`, scope: node.scope }));
    });
    return list;
  }

  private inputsOf(node: Node): (Tensor | undefined)[] {
    return node.inputs.map((n) => {
      if (!n) return undefined;
      const v = this.values.get(n);
      if (!v) throw new RosettaError('E_MISSING_INPUT', `value '${n}' needed by node ${node.name} (${node.opType}) has not been computed`, { where: { node: node.name } });
      return v;
    });
  }

  private record(node: Node, outs: readonly (Value | BackendTensor)[]): void {
    node.outputs.forEach((o, k) => {
      const v = outs[k];
      if (o && isTensor(v)) this.values.set(o, v);
    });
    this.nodes.push(node);
  }

  private exec(node: Node): void {
    const k = CPU_KERNELS[opKey(node)];
    if (!k) throw new RosettaError('E_UNSUPPORTED_OP', `no CPU kernel for ${opKey(node)}`, { where: { node: node.name }, hint: 'the op is not implemented by the CPU backend yet' });
    let outs: Value[] | Promise<Value[]>;
    try {
      outs = k(this.inputsOf(node), { ...this.ctx, node, attrs: new AttrReader(node.attrs, node) });
    } catch (e) {
      throw asKernelError(e, node);
    }
    if (outs instanceof Promise) throw new RosettaError('E_UNSUPPORTED_OP', `${node.opType} cannot run eagerly`, { where: { node: node.name } });
    this.record(node, outs);
  }

  private async execAsync(node: Node): Promise<void> {
    try {
      this.record(node, await cpu.run(node, this.inputsOf(node), this.ctx));
    } catch (e) {
      throw asKernelError(e, node);
    }
  }
}

/** A nested subgraph attribute with its captured (outer) references to renamed values renamed. */
export function renameCaptures(a: Attr, renamed: ReadonlyMap<string, string>): Attr {
  if (a.type !== 'graph' && a.type !== 'graphs') return a;
  const one = (g: Graph): Graph => {
    const own = new Set<string>([...g.inputs.map((v) => v.name), ...g.initializers.keys(), ...g.nodes.flatMap((n) => n.outputs)]);
    const inner = new Map([...renamed].filter(([k]) => !own.has(k)));
    if (inner.size === 0) return g;
    const r = (v: string): string => (v ? (inner.get(v) ?? v) : v);
    return {
      ...g,
      nodes: g.nodes.map((n) => ({ ...n, inputs: n.inputs.map(r), attrs: Object.fromEntries(Object.entries(n.attrs).map(([k, x]) => [k, renameCaptures(x, inner)])) })),
      outputs: g.outputs.map((o) => ({ ...o, name: r(o.name) })),
    };
  };
  return a.type === 'graph' ? { type: 'graph', value: one(a.value) } : { type: 'graphs', value: a.value.map(one) };
}

function asKernelError(e: unknown, node: Node): RosettaError {
  if (isRosettaError(e)) return e.where.node === undefined ? new RosettaError(e.code, e.message.replace(/^E_[A-Z_]+: /, ''), { where: { ...e.where, node: `${node.name} (${node.opType})` }, hint: e.hint, cause: e, detail: e.detail }) : e;
  return new RosettaError('E_INTERNAL', `kernel ${node.opType} failed: ${e instanceof Error ? e.message : String(e)}`, { where: { node: `${node.name} (${node.opType})` }, cause: e });
}

/** Run `graph` on the CPU recording every value. */
export async function recordTape(graph: Graph, feeds: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>, opts: TapeOptions = {}): Promise<Tape> {
  const rec = new TapeRecorder(opts);
  for (const [k, t] of graph.initializers) rec.values.set(k, t);
  const entries = feeds instanceof Map ? [...feeds] : Object.entries(feeds as Record<string, Tensor>);
  for (const [k, t] of entries) rec.values.set(k, t);
  for (const i of graph.inputs) {
    if (!rec.values.has(i.name)) throw new RosettaError('E_MISSING_INPUT', `graph input '${i.name}' was not fed`);
  }
  for (const node of topoSort(graph)) await rec.run(node);
  return rec;
}

/** MaxPool needs Indices and training Dropout its mask for the backward pass: add them if absent. */
function withGradOutputs(node: Node, fresh: () => string, training: boolean): Node {
  const wants = node.opType === 'MaxPool' && node.domain === '' ? 2 : node.opType === 'Dropout' && node.domain === '' && training ? 2 : 0;
  if (!wants || (node.outputs.length >= wants && node.outputs[1])) return node;
  const outputs = node.outputs.slice();
  while (outputs.length < wants) outputs.push('');
  if (!outputs[1]) outputs[1] = fresh();
  return { ...node, outputs };
}

function floatDType(d: DType | undefined): DType {
  return d === 'float64' ? 'float64' : 'float32';
}

function tapeSource(values: ReadonlyMap<string, Tensor>): ShapeSource {
  const get = (name: string): Tensor => {
    const t = values.get(name);
    if (!t) throw new RosettaError('E_INTERNAL', `autograd: value '${name}' is not on the tape`);
    return t;
  };
  return { shapeOf: (n) => get(n).shape, dtypeOf: (n) => get(n).dtype, valueOf: (n) => values.get(n) };
}

/** A backward graph and where each requested gradient is. */
export interface BackwardPlan {
  graph: Graph;
  /** Requested value → name of its gradient in `graph.outputs` (same order as `wrt`). */
  grads: Map<string, string>;
  /** Forward values the backward graph reads (its inputs, fed from the tape). */
  reads: string[];
}

/**
 * Build the backward graph of `loss` (a value on the tape) with respect to `wrt`. The loss
 * gradient is 1 (any loss shape: the gradient of sum(loss)) unless `seed` provides a tensor.
 */
export function buildBackward(tape: Tape, loss: string, wrt: readonly string[], opts: { seed?: Tensor } = {}): BackwardPlan {
  const source = tapeSource(tape.values);
  const lossT = tape.values.get(loss);
  if (!lossT) throw new RosettaError('E_USAGE', `autograd: loss '${loss}' is not a value of the graph`);
  const b = new IrBuilder(source, 'grad::');
  b.dtype = floatDType(lossT.dtype);
  // Values downstream of `wrt` and upstream of `loss`: only those nodes get rules applied.
  const fromWrt = new Set(wrt);
  for (const n of tape.nodes) if (n.inputs.some((i) => i && fromWrt.has(i))) for (const o of n.outputs) if (o) fromWrt.add(o);
  const toLoss = new Set([loss]);
  for (let i = tape.nodes.length - 1; i >= 0; i--) {
    const n = tape.nodes[i]!;
    if (n.outputs.some((o) => o && toLoss.has(o))) for (const x of n.inputs) if (x) toLoss.add(x);
  }
  const contributions = new Map<string, string[]>();
  const push = (name: string, g: string): void => {
    const l = contributions.get(name);
    if (l) l.push(g);
    else contributions.set(name, [g]);
  };
  const total = (name: string): string | undefined => {
    const l = contributions.get(name);
    if (!l || l.length === 0) return undefined;
    if (l.length > 1) contributions.set(name, [b.op('Sum', l)]);
    return contributions.get(name)![0];
  };
  push(loss, opts.seed ? b.constant(opts.seed, 'seed') : b.constant(onesLike(lossT), 'seed'));
  for (let i = tape.nodes.length - 1; i >= 0; i--) {
    const node = tape.nodes[i]!;
    if (!node.outputs.some((o) => o && toLoss.has(o) && fromWrt.has(o))) continue;
    const gys = node.outputs.map((o) => (o ? total(o) : undefined));
    if (gys.every((g) => g === undefined)) continue;
    const rule = node.domain === '' || node.domain === 'ai.onnx' ? GRAD_RULES[node.opType] : undefined;
    if (!rule) {
      throw new RosettaError('E_UNSUPPORTED_OP', `no gradient rule for ${opKey(node)}`, {
        where: { node: node.name },
        hint: 'freeze the parameters before this node, or file an issue naming the op',
      });
    }
    b.scope = node.scope;
    b.dtype = floatDType(tape.values.get(node.outputs[0]!)?.dtype);
    const gxs = rule(b, node, gys, new AttrReader(node.attrs, node));
    node.inputs.forEach((x, k) => {
      const g = gxs[k];
      if (x && g && fromWrt.has(x)) push(x, g);
    });
  }
  const grads = new Map<string, string>();
  for (const w of wrt) {
    const t = tape.values.get(w);
    if (!t) throw new RosettaError('E_USAGE', `autograd: '${w}' is not a value of the graph`);
    grads.set(w, total(w) ?? b.constant(new Tensor(t.dtype, t.shape), 'nograd'));
  }
  return assemble(b, tape, grads);
}

function onesLike(t: Tensor): Tensor {
  const o = new Tensor(t.dtype, t.shape);
  (o.data as Float32Array).fill(1);
  return o;
}

/** Keep only the nodes the gradients need; declare forward values read as graph inputs. */
function assemble(b: IrBuilder, tape: Tape, grads: Map<string, string>): BackwardPlan {
  const producer = new Map<string, Node>();
  for (const n of b.nodes) for (const o of n.outputs) producer.set(o, n);
  const live = new Set<Node>();
  const stack = [...grads.values()];
  const seen = new Set<string>();
  while (stack.length) {
    const v = stack.pop()!;
    if (seen.has(v)) continue;
    seen.add(v);
    const p = producer.get(v);
    if (p && !live.has(p)) {
      live.add(p);
      for (const i of p.inputs) if (i) stack.push(i);
    }
  }
  const g = emptyGraph('backward');
  g.nodes = b.nodes.filter((n) => live.has(n));
  const reads: string[] = [];
  for (const v of seen) {
    if (producer.has(v)) continue;
    const c = b.constants.get(v);
    if (c) g.initializers.set(v, c);
    else if (tape.values.has(v)) reads.push(v);
  }
  for (const r of reads) {
    const t = tape.values.get(r)!;
    g.inputs.push({ name: r, type: { kind: 'tensor', dtype: t.dtype, shape: t.shape.slice() } });
  }
  const outNames = new Set<string>();
  for (const name of grads.values()) {
    if (outNames.has(name)) continue;
    outNames.add(name);
    g.outputs.push({ name });
  }
  return { graph: g, grads, reads };
}

export interface GradientOptions extends TapeOptions {
  /** Backend for the backward graph (default CPU). */
  backend?: string | Backend;
  seedGrad?: Tensor;
}

/** Run the backward graph of a plan with values from the tape. */
export async function runBackward(tape: Tape, plan: BackwardPlan, opts: { backend?: string | Backend } = {}): Promise<Map<string, Tensor>> {
  const session = await Session.create(plan.graph, { backend: opts.backend });
  const feeds: Record<string, Tensor> = {};
  for (const r of plan.reads) feeds[r] = tape.values.get(r)!;
  const { outputs } = await session.run(feeds);
  const out = new Map<string, Tensor>();
  for (const [w, gname] of plan.grads) {
    const v = outputs[gname] ?? plan.graph.initializers.get(gname) ?? tape.values.get(gname);
    if (!isTensor(v)) throw new RosettaError('E_INTERNAL', `autograd: gradient of '${w}' was not produced`);
    out.set(w, v);
  }
  return out;
}

/** Forward + backward in one call: the tape (all forward values) and d(loss)/d(wrt). */
export async function gradients(
  graph: Graph,
  feeds: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
  loss: string,
  wrt: readonly string[],
  opts: GradientOptions = {},
): Promise<{ tape: Tape; grads: Map<string, Tensor> }> {
  const tape = await recordTape(graph, feeds, opts);
  const plan = buildBackward(tape, loss, wrt, { seed: opts.seedGrad });
  return { tape, grads: await runBackward(tape, plan, opts) };
}
