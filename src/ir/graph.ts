/**
 * The graph IR: ONNX operator semantics, opset-free, NCHW canonical layout, a scope on every node.
 *
 * Conventions every importer must establish (so kernels, passes and exporters never re-check):
 * - `opType` is the ONNX op name; `domain` is '' for the default ONNX domain (never 'ai.onnx').
 * - Ops are in their *latest* ONNX form: values that newer opsets moved from attributes to inputs
 *   are inputs (Slice starts/ends, Pad pads, Split split, Reduce* axes, Unsqueeze/Squeeze axes,
 *   Resize scales…), old forms are rewritten by the importer.
 * - Attributes carry explicit values where the spec has a default the kernel depends on only if the
 *   importer knows it; kernels still apply ONNX defaults for absent attributes.
 * - An empty string in `inputs` means "optional input not given".
 * - `scope` is the module/layer path the node came from (`features.0`, `conv2d_1`), '' if unknown.
 */
import type { DType } from './dtype.js';
import { RosettaError } from './errors.js';
import type { Tensor } from './tensor.js';

/** A dimension: a size, a symbolic name (`batch`), or null when unknown. */
export type Dim = number | string | null;

export type ValueType =
  | { kind: 'tensor'; dtype: DType; shape?: Dim[] }
  | { kind: 'sequence'; elem: ValueType }
  | { kind: 'optional'; elem: ValueType }
  | { kind: 'map'; key: DType; value: ValueType }
  | { kind: 'sparse_tensor'; dtype: DType; shape?: Dim[] };

export interface ValueInfo {
  name: string;
  type?: ValueType;
  doc?: string;
}

export type Attr =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: Tensor }
  | { type: 'graph'; value: Graph }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: number[] }
  | { type: 'strings'; value: string[] }
  | { type: 'tensors'; value: Tensor[] }
  | { type: 'graphs'; value: Graph[] }
  | { type: 'type_proto'; value: ValueType }
  | { type: 'type_protos'; value: ValueType[] };

export type AttrMap = Record<string, Attr>;

export interface Node {
  name: string;
  opType: string;
  /** '' = default ONNX domain. */
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: AttrMap;
  /** Module/layer path this node belongs to. */
  scope: string;
  doc?: string;
}

/** Metadata about a parameter (an initializer that is a learnable weight or a buffer). */
export interface ParamInfo {
  /** Module/layer path (e.g. `features.0`, `conv2d_1`). */
  scope: string;
  /** False for buffers (running stats) and frozen weights. */
  trainable: boolean;
  /** Name in the source format (state-dict key, `conv2d/kernel:0`), if it differs. */
  sourceName?: string;
  /** Role within its layer: 'weight', 'bias', 'running_mean', 'kernel', 'gamma'… */
  role?: string;
}

export interface Graph {
  name: string;
  nodes: Node[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  /** Constant tensors by value name (weights, buffers, constants). */
  initializers: Map<string, Tensor>;
  /** Known types of intermediate values. */
  valueInfo: Map<string, ValueInfo>;
  params: Map<string, ParamInfo>;
  doc?: string;
}

/** One layout or weight rewrite an importer/exporter performed, reported by `convert`. */
export interface RewriteRecord {
  kind: string;
  scope: string;
  detail: string;
}

export interface Model {
  graph: Graph;
  /** Opsets of the source (informational; the IR itself is opset-free). domain '' = ONNX. */
  sourceOpsets: Record<string, number>;
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  doc?: string;
  metadata: Record<string, string>;
  /** Name of the format the model was read from ('onnx', 'keras-h5', 'pytorch', …). */
  sourceFormat?: string;
  rewrites: RewriteRecord[];
}

export function emptyGraph(name = 'main'): Graph {
  return { name, nodes: [], inputs: [], outputs: [], initializers: new Map(), valueInfo: new Map(), params: new Map() };
}

export function emptyModel(graph: Graph = emptyGraph()): Model {
  return { graph, sourceOpsets: { '': 18 }, metadata: {}, rewrites: [] };
}

/** Key under which kernels and schemas are registered: `Conv`, or `ai.onnx.ml.LabelEncoder`. */
export function opKey(node: Pick<Node, 'opType' | 'domain'>): string {
  return node.domain && node.domain !== 'ai.onnx' ? `${node.domain}.${node.opType}` : node.opType;
}

export function makeNode(opType: string, inputs: string[], outputs: string[], attrs: AttrMap = {}, opts: { name?: string; scope?: string; domain?: string } = {}): Node {
  return { name: opts.name ?? outputs[0] ?? opType, opType, domain: opts.domain ?? '', inputs, outputs, attrs, scope: opts.scope ?? '' };
}

/**
 * Topological order of `graph.nodes` (stable: keeps the given order where it is valid).
 * Values produced outside the graph (inputs, initializers, `outer` names from an enclosing
 * graph) count as available. Throws E_INVALID_GRAPH on a cycle or an undefined input.
 */
export function topoSort(graph: Graph, outer: ReadonlySet<string> = new Set()): Node[] {
  const available = new Set<string>(outer);
  for (const v of graph.inputs) available.add(v.name);
  for (const k of graph.initializers.keys()) available.add(k);
  const producers = new Map<string, number>();
  graph.nodes.forEach((n, i) => n.outputs.forEach((o) => o && producers.set(o, i)));
  const state = new Uint8Array(graph.nodes.length); // 0 new, 1 visiting, 2 done
  const order: Node[] = [];
  const visit = (i: number): void => {
    // iterative DFS to survive very deep graphs
    const stack: [number, number][] = [[i, 0]];
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const [ni, k] = top;
      const node = graph.nodes[ni]!;
      if (k === 0) {
        if (state[ni] === 2) {
          stack.pop();
          continue;
        }
        if (state[ni] === 1) throw new RosettaError('E_INVALID_GRAPH', `cycle through node ${node.name} (${node.opType})`, { where: { node: node.name } });
        state[ni] = 1;
      }
      const deps = nodeDependencies(node);
      if (k < deps.length) {
        top[1] = k + 1;
        const name = deps[k]!;
        if (!name || available.has(name)) continue;
        const p = producers.get(name);
        if (p === undefined) throw new RosettaError('E_INVALID_GRAPH', `input '${name}' of node ${node.name} (${node.opType}) is produced by nothing`, { where: { node: node.name }, hint: 'the graph is incomplete; check the model file' });
        if (state[p] === 1) throw new RosettaError('E_INVALID_GRAPH', `cycle through node ${node.name} (${node.opType})`, { where: { node: node.name } });
        if (state[p] === 0) stack.push([p, 0]);
        continue;
      }
      state[ni] = 2;
      order.push(node);
      stack.pop();
    }
  };
  for (let i = 0; i < graph.nodes.length; i++) if (state[i] === 0) visit(i);
  return order;
}

/** Inputs a node reads, including outer-scope names its subgraphs capture. */
export function nodeDependencies(node: Node): string[] {
  const deps = node.inputs.slice();
  for (const a of Object.values(node.attrs)) {
    const gs = a.type === 'graph' ? [a.value] : a.type === 'graphs' ? a.value : [];
    for (const g of gs) deps.push(...capturedNames(g));
  }
  return deps;
}

/** Names a (sub)graph reads from its enclosing scope. */
export function capturedNames(g: Graph): string[] {
  const local = new Set<string>();
  for (const v of g.inputs) local.add(v.name);
  for (const k of g.initializers.keys()) local.add(k);
  for (const n of g.nodes) for (const o of n.outputs) local.add(o);
  const out = new Set<string>();
  for (const n of g.nodes) for (const i of nodeDependencies(n)) if (i && !local.has(i)) out.add(i);
  for (const o of g.outputs) if (!local.has(o.name)) out.add(o.name);
  return [...out];
}

/** Count of parameters (initializer elements) and their bytes. */
export function parameterStats(g: Graph): { count: number; bytes: number } {
  let count = 0;
  let bytes = 0;
  for (const t of g.initializers.values()) {
    count += t.size;
    bytes += Array.isArray(t.data) ? t.data.reduce((s, x) => s + x.length, 0) : t.data.byteLength;
  }
  return { count, bytes };
}
