/**
 * Reverse-mode automatic differentiation over IR graphs.
 *
 * 1. `recordTape` runs a forward graph node by node and keeps every value (the tape). High-level
 *    ops with a decomposition (LSTM, GRU, RNN, BatchNormalization, LayerNormalization,
 *    InstanceNormalization) are expanded into primitives on the way, with their concrete input
 *    shapes, so recurrences unroll per time step; MaxPool and training Dropout are asked for their
 *    Indices/mask outputs, which their gradients need; an If is replaced by the branch its (concrete)
 *    condition takes, and Loop and Scan by their executed iterations (body nodes per iteration,
 *    wired with Split/Squeeze/Unsqueeze/Concat/Identity), so gradients flow through them with the
 *    ordinary rules.
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
import { isFloatDType, type DType } from '../ir/dtype.js';
import { RosettaError, isRosettaError } from '../ir/errors.js';
import { capturedNames, emptyGraph, makeNode, opKey, topoSort, type Attr, type Graph, type Node, type ValueType } from '../ir/graph.js';
import { inferTypes } from '../ir/infer.js';
import { checkedSize, elementToNumber, Tensor } from '../ir/tensor.js';
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
      runSubgraph: () => Promise.reject(new RosettaError('E_UNSUPPORTED_OP', 'autograd: this op runs a subgraph the tape cannot record (If, Loop and Scan are unrolled on the tape; other subgraph ops are not differentiable)')),
    };
    this.source = tapeSource(this.values);
  }

  /** Decompose (when it has a decomposition) and run `original`; returns the node as recorded. */
  runSync(original: Node): Node {
    const unrolled = this.unroll(original);
    if (unrolled) {
      for (const batch of unrolled) for (const n of batch) this.runSync(n);
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
    const unrolled = this.unroll(original);
    if (unrolled) {
      for (const batch of unrolled) for (const n of batch) await this.run(n);
      return;
    }
    const { node, dec } = this.prepare(original);
    const list = dec ? this.expand(node, dec) : [node];
    for (const n of list) await this.execAsync(n);
  }

  /**
   * Control flow is recorded as the nodes it executes, so gradients need no rule for If, Loop or
   * Scan. The nodes come in batches; each batch is run (and its values are on the tape) before the
   * next is asked for, because a Loop's next iteration depends on the condition its last one
   * computed. Undefined for any other node.
   */
  private unroll(node: Node): Iterable<Node[]> | undefined {
    if (node.domain !== '' && node.domain !== 'ai.onnx') return undefined;
    if (node.opType === 'If') return [this.inlineIf(node)];
    if (node.opType === 'Loop') return this.unrollLoop(node);
    if (node.opType === 'Scan') return this.unrollScan(node);
    return undefined;
  }

  /**
   * If: the condition is a concrete value on the tape, so the taken branch is recorded in place of
   * the node (its nodes, then an Identity per output), and gradients flow through that branch like
   * through any other nodes. Branch-local names get a unique prefix so they cannot collide with
   * (or be shadowed by) the enclosing graph's; names the branch reads from outside stay as they are.
   */
  private inlineIf(node: Node): Node[] {
    const cond = this.inputsOf(node)[0];
    if (!cond || cond.size !== 1) throw new RosettaError('E_SHAPE_MISMATCH', `If condition must hold one value, got ${cond ? `[${cond.shape.join(', ')}]` : 'nothing'}`, { where: { node: node.name } });
    const which = cond.get(0) !== 0 ? 'then_branch' : 'else_branch';
    const branch = new AttrReader(node.attrs, node).graph(which);
    if (!branch) throw new RosettaError('E_INVALID_GRAPH', `If has no ${which}`, { where: { node: node.name } });
    if (branch.outputs.length < node.outputs.length) throw new RosettaError('E_INVALID_GRAPH', `If ${which} returns ${branch.outputs.length} values for ${node.outputs.length} outputs`, { where: { node: node.name } });
    const { nodes, rename } = this.inlineBody(branch, `${node.name || node.outputs[0]}::${which}${this.uid++}::`, new Map(), this.bodyOrder(branch));
    node.outputs.forEach((o, k) => {
      if (o) nodes.push(makeNode('Identity', [rename(branch.outputs[k]!.name)], [o], {}, { name: `${node.name}::out${k}`, scope: node.scope }));
    });
    return nodes;
  }

  /** `g`'s nodes (in `order`) with local names prefixed, `bound` names (its inputs) replaced, captures kept. */
  private inlineBody(g: Graph, prefix: string, bound: ReadonlyMap<string, string>, order: readonly Node[]): { nodes: Node[]; rename: (v: string) => string } {
    // Values the body computes always get the prefix, so even a malformed body that writes over
    // one of its input names cannot overwrite a value outside it.
    const local = new Map<string, string>(bound);
    for (const k of g.initializers.keys()) if (!bound.has(k)) local.set(k, prefix + k);
    for (const n of order) for (const o of n.outputs) if (o) local.set(o, prefix + o);
    const rename = (v: string): string => (v ? (local.get(v) ?? v) : v);
    for (const [k, t] of g.initializers) if (!bound.has(k)) this.values.set(prefix + k, t);
    const nodes = order.map((n) => ({
      ...n,
      name: prefix + n.name,
      inputs: n.inputs.map(rename),
      outputs: n.outputs.map(rename),
      attrs: Object.fromEntries(Object.entries(n.attrs).map(([k, a]) => [k, renameCaptures(a, local)])),
    }));
    return { nodes, rename };
  }

  /** Execution order of a subgraph; E_INVALID_GRAPH when it reads a value that does not exist (yet). */
  private bodyOrder(g: Graph): Node[] {
    return topoSort(g, new Set(capturedNames(g).filter((c) => this.values.has(c))));
  }

  /** Constants a wiring builder made go on the tape; its nodes are handed out (and cleared). */
  private take(b: IrBuilder): Node[] {
    for (const [k, t] of b.constants) this.values.set(k, t);
    b.constants.clear();
    return b.nodes.splice(0);
  }

  /**
   * Loop (https://onnx.ai/onnx/operators/onnx__Loop.html), unrolled: iteration i records the
   * body's nodes under the prefix `<node>::loop<uid>::<i>::`, with the body's inputs bound to the
   * iteration number (a constant), the previous condition and the previous carried values, so a
   * carried value's gradient flows back through every iteration. The trip count and the condition
   * are read from the tape as the kernel reads them, before each iteration. Final carried values
   * reach the node's outputs through Identity; scan outputs are Unsqueezed on axis 0 and
   * Concatenated, so the Concat/Unsqueeze rules route each slice of their gradient to its iteration.
   */
  private *unrollLoop(node: Node): Generator<Node[], void, void> {
    const body = new AttrReader(node.attrs, node).graph('body');
    if (!body) throw new RosettaError('E_INVALID_GRAPH', 'Loop has no body', { where: { node: node.name } });
    const n = Math.max(0, node.inputs.length - 2);
    if (body.inputs.length !== n + 2) throw new RosettaError('E_INVALID_GRAPH', `Loop body takes ${body.inputs.length} inputs, expected ${n + 2} (iteration, cond, ${n} carried)`, { where: { node: node.name } });
    const k = body.outputs.length - 1 - n;
    if (k < 0 || node.outputs.length > n + k) throw new RosettaError('E_INVALID_GRAPH', `Loop body returns ${body.outputs.length} values for 1 condition, ${n} carried and ${node.outputs.length - n} scan outputs`, { where: { node: node.name } });
    const [mT, cT] = this.inputsOf({ ...node, inputs: node.inputs.slice(0, 2) });
    const maxTrip = mT ? scalarOf(mT, node, 'trip count M') : Infinity;
    let cond = cT ? scalarOf(cT, node, 'cond') !== 0 : true;
    let carried = node.inputs.slice(2);
    carried.forEach((c, j) => {
      if (!c) throw new RosettaError('E_INVALID_GRAPH', `Loop carried input ${j} is empty`, { where: { node: node.name } });
    });
    this.inputsOf({ ...node, inputs: carried });
    const base = `${node.name || node.outputs[0]}::loop${this.uid++}::`;
    let condName = node.inputs[1];
    if (!condName) {
      condName = `${base}cond`;
      this.values.set(condName, Tensor.from('bool', [], [1]));
    }
    const order = this.bodyOrder(body);
    const scans: string[][] = Array.from({ length: k }, () => []);
    for (let i = 0; i < maxTrip && cond; i++) {
      if (i === MAX_TAPE_ITERATIONS) throw tooManyIterations(node);
      const iter = `${base}${i}#iter`;
      this.values.set(iter, new Tensor('int64', [], BigInt64Array.from([BigInt(i)])));
      const bound = new Map<string, string>([[body.inputs[0]!.name, iter], [body.inputs[1]!.name, condName]]);
      carried.forEach((c, j) => bound.set(body.inputs[2 + j]!.name, c));
      const { nodes, rename } = this.inlineBody(body, `${base}${i}::`, bound, order);
      yield nodes;
      condName = rename(body.outputs[0]!.name);
      cond = scalarOf(this.computed(condName, node), node, 'body condition') !== 0;
      carried = body.outputs.slice(1, 1 + n).map((o) => rename(o.name));
      for (let j = 0; j < k; j++) scans[j]!.push(rename(body.outputs[1 + n + j]!.name));
    }
    const b = new IrBuilder(this.source, `${base}out::`);
    b.scope = node.scope;
    node.outputs.forEach((o, j) => {
      if (!o) return;
      if (j < n) b.nodes.push(makeNode('Identity', [carried[j]!], [o], {}, { name: `${node.name}::out${j}`, scope: node.scope }));
      else if (scans[j - n]!.length) stackInto(b, scans[j - n]!, 0, o);
      else {
        const types = [{ kind: 'tensor', dtype: 'int64', shape: [] }, { kind: 'tensor', dtype: 'bool', shape: [] }, ...carried.map((c) => this.typeOf(c))] as ValueType[];
        this.values.set(o, this.emptyScanOutput(node, body, 1 + j, types, 0, 0));
      }
    });
    yield this.take(b);
  }

  /**
   * Scan (https://onnx.ai/onnx/operators/onnx__Scan.html), unrolled. Each scan input is Split
   * once into its steps along its axis (the Split rule concatenates the step gradients back, one
   * pass over the data), and step t reads piece t — or len-1-t for a reversed input — Squeezed.
   * The opset-8 form (leading sequence_lens, batch axis 0) is unrolled row by row, short rows'
   * scan outputs padded with zeros to the full length as the kernel does.
   */
  private *unrollScan(node: Node): Generator<Node[], void, void> {
    const a = new AttrReader(node.attrs, node);
    const body = a.graph('body');
    if (!body) throw new RosettaError('E_INVALID_GRAPH', 'Scan has no body', { where: { node: node.name } });
    const m = a.int('num_scan_inputs');
    const legacy = node.inputs.length === body.inputs.length + 1;
    const ins = legacy ? node.inputs.slice(1) : node.inputs;
    const n = ins.length - m;
    if (m < 1 || n < 0) throw new RosettaError('E_INVALID_ATTR', `Scan num_scan_inputs=${m} does not fit ${ins.length} inputs`, { where: { node: node.name } });
    const k = body.outputs.length - n;
    if (body.inputs.length !== n + m || k < 0 || node.outputs.length > n + k) throw new RosettaError('E_INVALID_GRAPH', `Scan body signature (${body.inputs.length} in, ${body.outputs.length} out) does not fit ${n} states, ${m} scan inputs and ${node.outputs.length} outputs`, { where: { node: node.name } });
    const tensors = this.inputsOf({ ...node, inputs: ins }).map((t, j) => {
      if (!t) throw new RosettaError('E_MISSING_INPUT', `Scan input ${j} is empty`, { where: { node: node.name } });
      return t;
    });
    const inDirs = a.ints(legacy ? 'directions' : 'scan_input_directions', new Array<number>(m).fill(0));
    const inAxes = legacy ? new Array<number>(m).fill(0) : a.ints('scan_input_axes', new Array<number>(m).fill(0));
    const outDirs = legacy ? new Array<number>(k).fill(0) : a.ints('scan_output_directions', new Array<number>(k).fill(0));
    const outAxes = legacy ? new Array<number>(k).fill(0) : a.ints('scan_output_axes', new Array<number>(k).fill(0));
    if (inDirs.length !== m || inAxes.length !== m || outDirs.length !== k || outAxes.length !== k) throw new RosettaError('E_INVALID_ATTR', `Scan direction/axis lists (${inDirs.length}, ${inAxes.length}, ${outDirs.length}, ${outAxes.length} entries) do not fit ${m} scan inputs and ${k} scan outputs`, { where: { node: node.name } });
    const spec: ScanSpec = {
      body,
      order: this.bodyOrder(body),
      base: `${node.name || node.outputs[0]}::scan${this.uid++}::`,
      inDirs,
      inAxes: inAxes.map((x, j) => axisIn(x, tensors[n + j]!.rank, node)),
      outDirs,
      outAxes,
    };
    const b = new IrBuilder(this.source, `${spec.base}wire::`);
    b.scope = node.scope;
    const states = ins.slice(0, n);
    if (!legacy) {
      const len = tensors[n]!.shape[spec.inAxes[0]!]!;
      tensors.slice(n).forEach((t, j) => {
        if (t.shape[spec.inAxes[j]!] !== len) throw new RosettaError('E_SHAPE_MISMATCH', `Scan input ${j} has ${t.shape[spec.inAxes[j]!]} steps along axis ${spec.inAxes[j]}, input 0 has ${len}`, { where: { node: node.name } });
      });
      const r = yield* this.scanSteps(node, spec, b, states, ins.slice(n), len, spec.base);
      node.outputs.forEach((o, j) => {
        if (!o) return;
        if (j < n) b.nodes.push(makeNode('Identity', [r.states[j]!], [o], {}, { name: `${node.name}::out${j}`, scope: node.scope }));
        else this.stackScan(node, spec, b, r, j - n, o, 0);
      });
      yield this.take(b);
      return;
    }
    // Opset 8: rows of every state and scan input, one Scan-9 pass per row, rows stacked again.
    const batch = tensors[n]!.shape[0]!;
    const steps = tensors[n]!.shape[1]!;
    tensors.forEach((t, j) => {
      if (t.shape[0] !== batch || (j >= n && t.shape[1] !== steps)) throw new RosettaError('E_SHAPE_MISMATCH', `Scan (opset 8) inputs disagree on batch ${batch} / sequence length ${steps}`, { where: { node: node.name } });
    });
    if (batch === 0) throw new RosettaError('E_UNSUPPORTED', 'Scan (opset 8) with an empty batch', { where: { node: node.name } });
    if (batch > MAX_TAPE_ITERATIONS) throw tooManyIterations(node);
    const lensT = node.inputs[0] ? this.computed(node.inputs[0], node) : undefined;
    const lens = lensT ? lensT.toNumbers() : new Array<number>(batch).fill(steps);
    if (lens.length !== batch) throw new RosettaError('E_SHAPE_MISMATCH', `Scan sequence_lens has ${lens.length} entries for batch ${batch}`, { where: { node: node.name } });
    const rows = ins.map((x) => b.opN('Split', [x, b.ints(new Array<number>(batch).fill(1))], { axis: { type: 'int', value: 0 } }, batch).map((p) => b.op('Squeeze', [p, b.ints([0])])));
    yield this.take(b);
    const per: string[][] = [];
    for (let r = 0; r < batch; r++) {
      const len = lens[r]!;
      if (!(len >= 0 && len <= steps)) throw new RosettaError('E_SHAPE_MISMATCH', `Scan sequence_lens[${r}] = ${len} outside [0, ${steps}]`, { where: { node: node.name } });
      const res = yield* this.scanSteps(node, spec, b, rows.slice(0, n).map((x) => x[r]!), rows.slice(n).map((x) => x[r]!), len, `${spec.base}row${r}::`);
      const outs = res.scans.map((items, j) => {
        const full = b.fresh('scan');
        this.stackScan(node, spec, b, res, j, full, steps);
        if (len === 0 || len === steps) return full;
        // Past its length a row's scan outputs are zero (ONNX Runtime's convention, as the kernel).
        const rank = this.computed(items[0]!).rank + 1;
        const pads = new Array<number>(2 * rank).fill(0);
        pads[rank] = steps - len;
        return b.op('Pad', [full, b.ints(pads)]);
      });
      per.push([...res.states, ...outs]);
      yield this.take(b);
    }
    node.outputs.forEach((o, j) => {
      if (o) stackInto(b, per.map((p) => p[j]!), 0, o);
    });
    yield this.take(b);
  }

  /**
   * `len` steps of a Scan-9 pass recorded on the tape, starting from `states` (value names) and
   * reading `scanIns` (value names, axes and directions from `spec`). Returns the final states, each
   * scan output's per-step values in step order, and the body input types (for empty outputs).
   */
  private *scanSteps(node: Node, spec: ScanSpec, b: IrBuilder, states: string[], scanIns: string[], len: number, prefix: string): Generator<Node[], ScanPass, void> {
    const { body, order } = spec;
    const n = states.length;
    const k = body.outputs.length - n;
    const types: ValueType[] = [...states.map((s) => this.typeOf(s)), ...scanIns.map((x, j) => {
      const t = this.computed(x, node);
      return { kind: 'tensor', dtype: t.dtype, shape: t.shape.filter((_, d) => d !== spec.inAxes[j]) } as ValueType;
    })];
    // Every step of the axis is split off, also past `len` (an opset-8 row shorter than the batch's
    // steps): the Split rule gives the unread pieces zero gradient.
    const pieces = scanIns.map((x, j) => {
      const size = this.computed(x, node).shape[spec.inAxes[j]!]!;
      if (size > MAX_TAPE_ITERATIONS) throw tooManyIterations(node); // before making a node per step
      return len ? b.opN('Split', [x, b.ints(new Array<number>(size).fill(1))], { axis: { type: 'int', value: spec.inAxes[j]! } }, size) : [];
    });
    yield this.take(b);
    const scans: string[][] = Array.from({ length: k }, () => []);
    for (let t = 0; t < len; t++) {
      const bound = new Map<string, string>();
      states.forEach((s, j) => bound.set(body.inputs[j]!.name, s));
      pieces.forEach((p, j) => bound.set(body.inputs[n + j]!.name, b.op('Squeeze', [p[spec.inDirs[j] === 1 ? len - 1 - t : t]!, b.ints([spec.inAxes[j]!])])));
      const wires = this.take(b);
      const { nodes, rename } = this.inlineBody(body, `${prefix}${t}::`, bound, order);
      yield [...wires, ...nodes];
      states = body.outputs.slice(0, n).map((o) => rename(o.name));
      for (let j = 0; j < k; j++) scans[j]!.push(rename(body.outputs[n + j]!.name));
    }
    return { states, scans, types };
  }

  /**
   * Scan output j of a pass into `out`: its per-step values stacked on its axis (in reverse step
   * order when its direction is 1), or, after zero steps, an empty value with `empty` steps.
   */
  private stackScan(node: Node, spec: ScanSpec, b: IrBuilder, pass: ScanPass, j: number, out: string, empty: number): void {
    const items = pass.scans[j]!;
    if (items.length === 0) {
      this.values.set(out, this.emptyScanOutput(node, spec.body, pass.states.length + j, pass.types, spec.outAxes[j]!, empty));
      return;
    }
    stackInto(b, spec.outDirs[j] === 1 ? items.slice().reverse() : items, spec.outAxes[j]!, out);
  }

  /**
   * The value of a scan output after zero steps: [0] (or `size`, zero-filled) inserted at `axis`
   * into the element shape, which comes from the body's declared output type or, failing that,
   * from shape inference over the body with its inputs' concrete types. Neither: E_UNSUPPORTED.
   */
  private emptyScanOutput(node: Node, body: Graph, out: number, inputTypes: readonly ValueType[], axis: number, size: number): Tensor {
    const declared = body.outputs[out]!.type;
    let tt = declared?.kind === 'tensor' && declared.shape?.every((d) => typeof d === 'number') ? declared : undefined;
    if (!tt) {
      const captured = capturedNames(body).filter((c) => this.values.has(c));
      const g: Graph = { ...body, inputs: [...body.inputs.map((v, i) => ({ name: v.name, type: inputTypes[i] })), ...captured.map((c) => ({ name: c, type: this.typeOf(c) }))] };
      const t = inferTypes(g).get(body.outputs[out]!.name);
      if (t?.kind === 'tensor' && t.shape?.every((d) => typeof d === 'number')) tt = t;
    }
    if (!tt) throw new RosettaError('E_UNSUPPORTED', `${node.opType} ran zero iterations and the shape of its scan output '${body.outputs[out]!.name}' is not known`, { where: { node: node.name }, hint: 'declare the body output\'s type with a static shape, or run at least one iteration' });
    const dims = tt.shape as number[];
    const ax = axisIn(axis, dims.length + 1, node);
    const shape = [...dims.slice(0, ax), size, ...dims.slice(ax)];
    checkedSize(shape, `${node.opType} empty scan output '${body.outputs[out]!.name}'`); // declared dims are untrusted
    return new Tensor(tt.dtype, shape);
  }

  private typeOf(name: string): ValueType {
    const t = this.computed(name);
    return { kind: 'tensor', dtype: t.dtype, shape: t.shape.slice() };
  }

  /** A value that must be on the tape (a body output, a wiring value). */
  private computed(name: string, node?: Node): Tensor {
    const t = this.values.get(name);
    if (!t) throw new RosettaError('E_INVALID_GRAPH', `value '${name}' has not been computed`, { where: { node: node?.name } });
    return t;
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
  // Integer and bool values carry no gradient (a Shape, an ArgMax, a mask), so they stop the
  // propagation: `Shape(x) → ConstantOfShape → …` must not ask ConstantOfShape for a rule.
  const carries = (o: string): boolean => {
    const t = tape.values.get(o);
    return !t || isFloatDType(t.dtype);
  };
  const fromWrt = new Set(wrt);
  for (const n of tape.nodes) if (n.inputs.some((i) => i && fromWrt.has(i))) for (const o of n.outputs) if (o && carries(o)) fromWrt.add(o);
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
    if (l.length > 1) {
      const merged = mergeScatterAdds(b, mergePaddedSlices(b, name, l));
      contributions.set(name, [merged.length > 1 ? b.op('Sum', merged) : merged[0]!]);
    }
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

/**
 * Contributions to one value that are each a scatter-add into zeros (Gather's gradient, optionally
 * transposed back: `Transpose(ScatterND(zeros, idx, upd, add))`) become one scatter-add of all
 * their rows. A Loop body that picks step i with Gather(X, i) leaves one such full-size tensor per
 * iteration, and summing T of them made the backward pass O(T²); merged it is O(T). Other
 * contributions are returned unchanged; the unused scatters are pruned with the rest of the dead
 * nodes when the plan is assembled.
 */
function mergeScatterAdds(b: IrBuilder, parts: string[]): string[] {
  if (parts.length < 2) return parts;
  const producer = producersOf(b);
  const groups = new Map<string, { zeros: string; perm?: number[]; k: number; idx: string[]; upd: string[]; parts: string[] }>();
  const rest: string[] = [];
  for (const v of parts) {
    let node = producer.get(v);
    let perm: number[] | undefined;
    if (node?.opType === 'Transpose') {
      perm = node.attrs.perm?.type === 'ints' ? node.attrs.perm.value : undefined;
      node = perm ? producer.get(node.inputs[0]!) : undefined;
    }
    const zeros = node?.opType === 'ScatterND' && node.attrs.reduction?.type === 'string' && node.attrs.reduction.value === 'add' && b.isZeros(node.inputs[0]!) ? b.constants.get(node.inputs[0]!) : undefined;
    // the index matrix's last dimension, from the Reshape that shaped it (Gather's rule: 1)
    const idxShape = node ? producer.get(node.inputs[1]!) : undefined;
    const shapeConst = idxShape?.opType === 'Reshape' ? b.constants.get(idxShape.inputs[1]!) : undefined;
    const k = shapeConst ? Number(shapeConst.toNumbers().at(-1)) : NaN;
    if (!node || !zeros || !(k >= 1 && k <= zeros.rank)) {
      rest.push(v);
      continue;
    }
    const key = `${perm?.join(',') ?? ''}|${zeros.dtype}|${zeros.shape.join(',')}|${k}`;
    let grp = groups.get(key);
    if (!grp) groups.set(key, (grp = { zeros: node.inputs[0]!, perm, k, idx: [], upd: [], parts: [] }));
    grp.parts.push(v);
    grp.idx.push(node.inputs[1]!);
    grp.upd.push(node.inputs[2]!);
  }
  for (const grp of groups.values()) {
    if (grp.parts.length === 1) {
      rest.push(grp.parts[0]!);
      continue;
    }
    const dataShape = b.shape(grp.zeros);
    const idx = b.op('Concat', grp.idx.map((i) => b.reshape(i, [-1, grp.k])), { axis: { type: 'int', value: 0 } });
    const upd = b.op('Concat', grp.upd.map((u) => b.reshape(u, [-1, ...dataShape.slice(grp.k)])), { axis: { type: 'int', value: 0 } });
    const merged = b.op('ScatterND', [grp.zeros, idx, upd], { reduction: { type: 'string', value: 'add' } });
    rest.push(grp.perm ? b.transpose(merged, grp.perm) : merged);
  }
  return rest;
}

/**
 * Contributions that are zero-padded pieces of the value along one axis (Slice's gradient: a
 * decomposed LSTM slices its four gates out of one product) become one Concat of the pieces, with
 * zero blocks for any gaps, when the pieces do not overlap: instead of a full-size Pad per piece
 * and a Sum over them. Other contributions are returned unchanged.
 */
function mergePaddedSlices(b: IrBuilder, target: string, parts: string[]): string[] {
  if (parts.length < 2) return parts;
  const shape = b.shape(target);
  const rank = shape.length;
  const producer = producersOf(b);
  const byAxis = new Map<number, { part: string; piece: string; begin: number; end: number }[]>();
  const rest: string[] = [];
  for (const v of parts) {
    const p = producer.get(v);
    const mode = p?.attrs.mode?.type === 'string' ? p.attrs.mode.value : 'constant';
    const padsT = p?.opType === 'Pad' && mode === 'constant' && !p.inputs[2] && !p.inputs[3] ? b.constants.get(p.inputs[1]!) : undefined;
    const pads = padsT?.toNumbers();
    const axes = pads && pads.length === 2 * rank ? shape.map((_, a) => a).filter((a) => pads[a] !== 0 || pads[a + rank] !== 0) : [];
    if (!pads || axes.length !== 1 || pads.some((x) => x < 0)) {
      rest.push(v);
      continue;
    }
    const a = axes[0]!;
    const list = byAxis.get(a) ?? [];
    list.push({ part: v, piece: p!.inputs[0]!, begin: pads[a]!, end: shape[a]! - pads[a + rank]! });
    byAxis.set(a, list);
  }
  for (const [a, list] of byAxis) {
    list.sort((x, y) => x.begin - y.begin);
    const disjoint = list.every((x, i) => x.begin < x.end && (i === 0 || x.begin >= list[i - 1]!.end));
    if (list.length < 2 || !disjoint) {
      rest.push(...list.map((x) => x.part));
      continue;
    }
    const pieces: string[] = [];
    let at = 0;
    const gap = (len: number): void => {
      if (len > 0) pieces.push(b.zeros(shape.map((d, i) => (i === a ? len : d)), b.dtypeOf(target)));
    };
    for (const x of list) {
      gap(x.begin - at);
      pieces.push(x.piece);
      at = x.end;
    }
    gap(shape[a]! - at);
    rest.push(b.op('Concat', pieces, { axis: { type: 'int', value: a } }));
  }
  return rest;
}

/** Output name → node of a builder, extended incrementally (builders only ever append nodes). */
const producerCache = new WeakMap<IrBuilder, { map: Map<string, Node>; upTo: number }>();
function producersOf(b: IrBuilder): Map<string, Node> {
  let c = producerCache.get(b);
  if (!c) producerCache.set(b, (c = { map: new Map(), upTo: 0 }));
  for (; c.upTo < b.nodes.length; c.upTo++) for (const o of b.nodes[c.upTo]!.outputs) c.map.set(o, b.nodes[c.upTo]!);
  return c.map;
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

/**
 * Iterations a Loop or Scan may unroll on one tape. Lower than the kernel's guard
 * (MAX_LOOP_ITERATIONS): every unrolled iteration keeps its nodes and values for the backward
 * pass, so a loop that only a trip count of INT64_MAX or a never-false condition stops would run
 * out of memory long before the kernel's limit.
 */
export const MAX_TAPE_ITERATIONS = 100_000;

/** A Scan's attributes, normalised, with the body's execution order and the unrolled names' prefix. */
interface ScanSpec {
  body: Graph;
  order: Node[];
  base: string;
  inDirs: number[];
  inAxes: number[];
  outDirs: number[];
  outAxes: number[];
}

/** One unrolled Scan-9 pass: final state names, per-step scan output names, body input types. */
interface ScanPass {
  states: string[];
  scans: string[][];
  types: ValueType[];
}

function tooManyIterations(node: Node): RosettaError {
  return new RosettaError('E_LIMIT', `${node.opType} would run more than ${MAX_TAPE_ITERATIONS} iterations on the autograd tape`, { where: { node: node.name }, hint: 'the loop is too long to differentiate by unrolling (or never ends); check its trip count and condition' });
}

/** The one value of a trip count or condition. */
function scalarOf(t: Tensor, node: Node, what: string): number {
  if (t.size !== 1) throw new RosettaError('E_SHAPE_MISMATCH', `${node.opType} ${what} must have one element, has ${t.size}`, { where: { node: node.name } });
  return elementToNumber(t, 0);
}

function axisIn(axis: number, rank: number, node: Node): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= Math.max(rank, 1)) throw new RosettaError('E_INVALID_ATTR', `${node.opType} axis ${axis} out of range for rank ${rank}`, { where: { node: node.name } });
  return a;
}

/** `items` (equal shapes) stacked along a new `axis` into `out`: an Unsqueeze each, one Concat. */
function stackInto(b: IrBuilder, items: readonly string[], axis: number, out: string): void {
  const ax = b.ints([axis]);
  const parts = items.map((v) => b.op('Unsqueeze', [v, ax]));
  b.nodes.push(makeNode('Concat', parts, [out], { axis: { type: 'int', value: axis } }, { name: out, scope: b.scope }));
}
