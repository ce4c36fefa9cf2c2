/**
 * Graph passes: constant folding, dead-code removal and transpose-pair elimination.
 *
 * Each pass edits a `Graph` in place and returns how many things it changed, so `convert` can
 * report what happened. Passes preserve the graph's outputs exactly: a pass that cannot prove a
 * rewrite keeps the original nodes.
 *
 * - `foldConstants` evaluates nodes whose inputs are all constant initializers with the CPU
 *   kernels (through `Session` on a one-node graph, so folding and running share one semantics),
 *   skipping random ops, nodes with subgraphs and results above a size limit.
 * - `removeDeadCode` drops nodes and initializers no graph output depends on.
 * - `eliminateTransposePairs` rewrites Transpose∘Transpose: removed when the composed permutation
 *   is the identity (the common result of NHWC⇄NCHW conversions at layer boundaries), merged into
 *   one Transpose otherwise. Spec: https://onnx.ai/onnx/operators/onnx__Transpose.html
 *
 * This module imports the runtime, so it is exported from the package root, not from `src/ir`.
 */
import { AttrReader } from './attrs.js';
import { isRosettaError } from './errors.js';
import { nodeDependencies, topoSort, type Graph, type Node } from './graph.js';
import type { Tensor } from './tensor.js';
import { Session } from '../runtime/session.js';
import { isTensor } from '../runtime/value.js';

/** Ops whose result differs per run (or per training step): never folded. */
const NONDETERMINISTIC = new Set(['RandomNormal', 'RandomNormalLike', 'RandomUniform', 'RandomUniformLike', 'Multinomial', 'Bernoulli', 'Dropout']);

/** Options of `foldConstants`. */
export interface FoldOptions {
  /** Largest result (in elements, per output) that becomes an initializer; default 1,048,576. */
  maxElements?: number;
}

/** Constant names: initializers that are not also graph inputs (those can be overridden by feeds). */
function constantNames(graph: Graph): Set<string> {
  const inputs = new Set(graph.inputs.map((i) => i.name));
  return new Set([...graph.initializers.keys()].filter((k) => !inputs.has(k)));
}

function hasSubgraph(node: Node): boolean {
  return Object.values(node.attrs).some((a) => a.type === 'graph' || a.type === 'graphs');
}

/**
 * Replace nodes whose inputs are all constants by initializers holding their results.
 * Returns the number of nodes folded. Nodes producing a graph output are kept (the output stays a
 * computed value), as are nodes whose kernel fails or is missing: folding is an optimisation and
 * the error will surface, with its node name, when the graph runs.
 */
export async function foldConstants(graph: Graph, opts: FoldOptions = {}): Promise<number> {
  const maxElements = opts.maxElements ?? 1 << 20;
  const constants = constantNames(graph);
  const graphOutputs = new Set(graph.outputs.map((o) => o.name));
  const folded = new Set<Node>();
  for (const node of topoSort(graph)) {
    if (node.domain !== '' || NONDETERMINISTIC.has(node.opType) || hasSubgraph(node)) continue;
    if (!node.inputs.every((i) => i === '' || constants.has(i))) continue;
    const outs = node.outputs.filter((o) => o !== '');
    if (outs.length === 0 || outs.some((o) => graphOutputs.has(o))) continue;
    const results = await evaluate(graph, node, outs, maxElements);
    if (!results) continue;
    outs.forEach((o, k) => {
      graph.initializers.set(o, results[k]!);
      constants.add(o);
    });
    folded.add(node);
  }
  if (folded.size) graph.nodes = graph.nodes.filter((n) => !folded.has(n));
  return folded.size;
}

async function evaluate(graph: Graph, node: Node, outs: string[], maxElements: number): Promise<Tensor[] | undefined> {
  const initializers = new Map<string, Tensor>();
  for (const i of node.inputs) if (i) initializers.set(i, graph.initializers.get(i)!);
  const one: Graph = { name: `fold_${node.name}`, nodes: [node], inputs: [], outputs: outs.map((name) => ({ name })), initializers, valueInfo: new Map(), params: new Map() };
  try {
    const session = await Session.create(one);
    const { outputs } = await session.run({});
    const tensors = outs.map((o) => outputs[o]);
    // Sequences and optionals have no initializer form; huge results cost more than they save.
    if (!tensors.every((t): t is Tensor => isTensor(t) && t.size <= maxElements)) return undefined;
    return tensors;
  } catch (e) {
    if (isRosettaError(e)) return undefined;
    throw e;
  }
}

/**
 * Remove nodes no graph output depends on, then initializers (and their param/value info) nothing
 * reads. Returns the number of nodes plus initializers removed.
 */
export function removeDeadCode(graph: Graph): number {
  const producer = new Map<string, Node>();
  for (const n of graph.nodes) for (const o of n.outputs) if (o) producer.set(o, n);
  const live = new Set<Node>();
  const needed = new Set<string>();
  const stack = graph.outputs.map((o) => o.name);
  while (stack.length) {
    const name = stack.pop()!;
    if (needed.has(name)) continue;
    needed.add(name);
    const p = producer.get(name);
    if (p && !live.has(p)) {
      live.add(p);
      for (const d of nodeDependencies(p)) if (d) stack.push(d);
    }
  }
  const before = graph.nodes.length;
  graph.nodes = graph.nodes.filter((n) => live.has(n));
  const inputs = new Set(graph.inputs.map((i) => i.name));
  let removedInits = 0;
  for (const k of [...graph.initializers.keys()]) {
    if (!needed.has(k) && !inputs.has(k)) {
      graph.initializers.delete(k);
      graph.params.delete(k);
      removedInits++;
    }
  }
  for (const k of [...graph.valueInfo.keys()]) if (!needed.has(k) && !inputs.has(k)) graph.valueInfo.delete(k);
  return before - graph.nodes.length + removedInits;
}

/** Rank of a value when the graph knows it (input/value info shape, or an initializer). */
function rankOf(graph: Graph, name: string): number | undefined {
  const init = graph.initializers.get(name);
  if (init) return init.rank;
  const info = graph.valueInfo.get(name) ?? graph.inputs.find((i) => i.name === name);
  const t = info?.type;
  return t?.kind === 'tensor' && t.shape ? t.shape.length : undefined;
}

/**
 * The permutation of a Transpose node, or undefined when it is implicit and the rank unknown.
 * `rankHint` is the rank known from the other half of a pair (a Transpose keeps the rank).
 */
function permOf(graph: Graph, node: Node, rankHint?: number): number[] | undefined {
  const r = new AttrReader(node.attrs, node);
  if (r.has('perm')) return r.ints('perm');
  const rank = rankOf(graph, node.inputs[0]!) ?? rankHint;
  return rank === undefined ? undefined : Array.from({ length: rank }, (_, i) => rank - 1 - i);
}

/** Point every reader of `from` at `to`, including subgraphs that capture `from`. */
function renameUses(graph: Graph, from: string, to: string): void {
  for (const n of graph.nodes) {
    n.inputs = n.inputs.map((i) => (i === from ? to : i));
    for (const a of Object.values(n.attrs)) {
      const gs = a.type === 'graph' ? [a.value] : a.type === 'graphs' ? a.value : [];
      for (const g of gs) {
        // A subgraph that defines `from` itself shadows the outer value.
        const shadowed = g.inputs.some((v) => v.name === from) || g.initializers.has(from) || g.nodes.some((m) => m.outputs.includes(from));
        if (!shadowed) {
          renameUses(g, from, to);
          g.outputs = g.outputs.map((o) => (o.name === from ? { ...o, name: to } : o));
        }
      }
    }
  }
}

/**
 * Remove or merge consecutive Transposes. Returns the number of Transpose nodes that left the
 * graph (an identity pair whose output is a graph output leaves an Identity behind).
 */
export function eliminateTransposePairs(graph: Graph): number {
  const transposes = (): number => graph.nodes.filter((n) => n.opType === 'Transpose' && n.domain === '').length;
  const before = transposes();
  for (let changed = true; changed; ) {
    changed = false;
    const producer = new Map<string, Node>();
    for (const n of graph.nodes) for (const o of n.outputs) if (o) producer.set(o, n);
    const graphOutputs = new Set(graph.outputs.map((o) => o.name));
    for (const b of graph.nodes) {
      if (b.opType !== 'Transpose' || b.domain !== '') continue;
      const a = producer.get(b.inputs[0] ?? '');
      if (!a || a.opType !== 'Transpose' || a.domain !== '') continue;
      const pA = permOf(graph, a) ?? permOf(graph, a, permOf(graph, b)?.length);
      const pB = permOf(graph, b, pA?.length);
      if (!pA || !pB || pA.length !== pB.length) continue;
      const composed = pB.map((j) => pA[j]!);
      const x = a.inputs[0]!;
      const y = b.outputs[0]!;
      if (composed.every((p, i) => p === i)) {
        if (graphOutputs.has(y)) {
          // The output name must survive: keep a (free) Identity in its place.
          Object.assign(b, { opType: 'Identity', inputs: [x], attrs: {} });
        } else {
          renameUses(graph, y, x);
          graph.nodes = graph.nodes.filter((n) => n !== b);
          graph.valueInfo.delete(y);
        }
      } else {
        b.inputs = [x];
        b.attrs = { ...b.attrs, perm: { type: 'ints', value: composed } };
      }
      // The first Transpose goes too when nothing else reads it.
      const aOut = a.outputs[0]!;
      const stillRead = graphOutputs.has(aOut) || graph.nodes.some((n) => nodeDependencies(n).includes(aOut));
      if (!stillRead) {
        graph.nodes = graph.nodes.filter((n) => n !== a);
        graph.valueInfo.delete(aOut);
      }
      changed = true;
      break;
    }
  }
  return before - transposes();
}

/** Counts reported by `optimizeGraph`. */
export interface OptimizeReport {
  folded: number;
  transposesRemoved: number;
  deadRemoved: number;
}

/** Run the passes in a useful order: fold, cancel transposes, then sweep what became dead. */
export async function optimizeGraph(graph: Graph, opts: FoldOptions = {}): Promise<OptimizeReport> {
  const folded = await foldConstants(graph, opts);
  const transposesRemoved = eliminateTransposePairs(graph);
  const deadRemoved = removeDeadCode(graph);
  return { folded, transposesRemoved, deadRemoved };
}
