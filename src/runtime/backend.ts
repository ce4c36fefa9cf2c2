/**
 * The narrow backend interface. Asynchronous from day one so GPU-resident tensors need no
 * redesign: the executor uploads feeds, runs nodes on backend handles and downloads outputs.
 * The CPU backend is the reference and implements every op; other backends may be partial and
 * the executor falls back to CPU per node (downloading/uploading around it).
 */
import type { DType } from '../ir/dtype.js';
import type { Graph, Node } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import type { Value } from './value.js';

/** What the executor passes to a backend when running one node. */
export interface RunContext {
  /** Run a subgraph (If/Loop/Scan bodies) with the given feeds; outer-scope values are visible. */
  runSubgraph(graph: Graph, feeds: Map<string, Value>): Promise<Value[]>;
  /** Training mode: Dropout drops, BatchNormalization uses batch statistics. */
  training: boolean;
  /** Seeded random source for Dropout/RandomNormal etc. (returns [0,1)). */
  random(): number;
  /**
   * The graph the running node belongs to (the enclosing body for subgraph nodes). Optional: only
   * ops defined over their enclosing graph read it (ai.onnx.preview.training Gradient).
   */
  graph?: Graph;
}

/** A tensor held by a backend. For the CPU backend this *is* a host `Tensor`. */
export interface BackendTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
}

export interface Backend {
  readonly name: string;
  /** Host → backend. */
  upload(t: Tensor): Promise<BackendTensor>;
  /** Backend → host. */
  download(t: BackendTensor): Promise<Tensor>;
  /** Whether this backend can run `node` with these input dtypes. */
  supports(node: Node, inputDTypes: readonly (DType | undefined)[]): boolean;
  /** Run one node. Inputs are backend values (tensors) or host sequences/optionals; '' inputs are undefined. */
  run(node: Node, inputs: readonly (Value | BackendTensor | undefined)[], ctx: RunContext): Promise<(Value | BackendTensor)[]>;
  /** Release a tensor after its last use (no-op on CPU, where the GC owns memory). */
  dispose(t: BackendTensor): void;
}

const registry = new Map<string, () => Promise<Backend>>();

/** Register a backend factory under a name; one line per backend. */
export function registerBackend(name: string, factory: () => Promise<Backend>): void {
  registry.set(name, factory);
}

export function backendNames(): string[] {
  return [...registry.keys()];
}

const instances = new Map<string, Promise<Backend>>();

export function getBackend(name: string): Promise<Backend> {
  let p = instances.get(name);
  if (!p) {
    const f = registry.get(name);
    if (!f) return Promise.reject(new Error(`unknown backend '${name}' (known: ${backendNames().join(', ')})`));
    p = f();
    instances.set(name, p);
  }
  return p;
}
