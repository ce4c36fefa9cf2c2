/**
 * The executor: runs a graph on a backend with per-node CPU fallback and memory planning (a value
 * is disposed right after its last consumer). Subgraphs (If/Loop/Scan) run through the same
 * machinery with the enclosing environment visible.
 */
import { handedOutSince, poolMark, recycleBuffer } from '../ir/buffer-pool.js';
import { RosettaError, isRosettaError } from '../ir/errors.js';
import { opKey, topoSort, nodeDependencies, type Graph, type Model, type Node } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { CpuBackend } from '../kernels/cpu/backend.js';
import { CPU_KERNELS } from '../kernels/cpu/index.js';
import { getBackend, registerBackend, type Backend, type BackendTensor, type RunContext } from './backend.js';
import { isTensor, type Value } from './value.js';

registerBackend('cpu', async () => new CpuBackend());

export interface SessionOptions {
  /** Backend name or instance (default 'cpu'). */
  backend?: string | Backend;
  /** Training mode (Dropout active, BatchNorm batch statistics). */
  training?: boolean;
  /** Seed for Dropout and random ops. */
  seed?: number;
  /** Keep every intermediate value (for per-layer parity); default false. */
  keepIntermediates?: boolean;
}

export interface RunResult {
  outputs: Record<string, Value>;
  /** All values by name when `keepIntermediates` was set. */
  intermediates?: Map<string, Value>;
}

/** mulberry32: small, fast, seedable; quality is ample for dropout masks. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Plan {
  order: Node[];
  /** value name → index in `order` of its last consumer. */
  lastUse: Map<string, number>;
}

export class Session {
  private readonly plans = new WeakMap<Graph, Plan>();
  private readonly cpu = new CpuBackend();
  private readonly random: () => number;

  private constructor(
    readonly graph: Graph,
    readonly backend: Backend,
    private readonly opts: SessionOptions,
  ) {
    this.random = seededRandom(opts.seed ?? 0);
  }

  static async create(model: Model | Graph, opts: SessionOptions = {}): Promise<Session> {
    const graph = 'graph' in model ? model.graph : model;
    const backend = typeof opts.backend === 'object' ? opts.backend : await getBackend(opts.backend ?? 'cpu');
    checkKernels(graph);
    return new Session(graph, backend, opts);
  }

  get inputNames(): string[] {
    return this.graph.inputs.filter((i) => !this.graph.initializers.has(i.name)).map((i) => i.name);
  }

  get outputNames(): string[] {
    return this.graph.outputs.map((o) => o.name);
  }

  /** Run with host feeds; returns host values for every graph output. */
  async run(feeds: Record<string, Value>, opts: { keepIntermediates?: boolean } = {}): Promise<RunResult> {
    const keep = opts.keepIntermediates ?? this.opts.keepIntermediates ?? false;
    const env = new Map<string, Value | BackendTensor>();
    for (const name of this.inputNames) {
      const v = feeds[name];
      if (v === undefined) {
        const info = this.graph.inputs.find((i) => i.name === name);
        // ONNX lets optional-typed inputs be absent
        if (info?.type?.kind === 'optional') continue;
        throw new RosettaError('E_MISSING_INPUT', `graph input '${name}' was not fed`, { hint: `feed all of: ${this.inputNames.join(', ')}` });
      }
      env.set(name, isTensor(v) ? await this.backend.upload(v) : v);
    }
    for (const [name, v] of Object.entries(feeds)) {
      // Feeds that override initializers (ONNX allows inputs with defaults) are honoured.
      if (!env.has(name) && this.graph.initializers.has(name)) env.set(name, isTensor(v) ? await this.backend.upload(v) : v);
    }
    const intermediates = keep ? new Map<string, Value>() : undefined;
    const out = await this.runGraph(this.graph, env, undefined, intermediates);
    const outputs: Record<string, Value> = {};
    for (let i = 0; i < this.graph.outputs.length; i++) outputs[this.graph.outputs[i]!.name] = out[i]!;
    return { outputs, intermediates };
  }

  private plan(graph: Graph, outer: ReadonlySet<string>): Plan {
    let p = this.plans.get(graph);
    if (!p) {
      const order = topoSort(graph, outer);
      const lastUse = new Map<string, number>();
      order.forEach((n, i) => {
        for (const name of nodeDependencies(n)) if (name) lastUse.set(name, i);
      });
      for (const o of graph.outputs) lastUse.set(o.name, Infinity);
      p = { order, lastUse };
      this.plans.set(graph, p);
    }
    return p;
  }

  private async runGraph(graph: Graph, local: Map<string, Value | BackendTensor>, parent: ((name: string) => Value | BackendTensor | undefined) | undefined, intermediates?: Map<string, Value>): Promise<Value[]> {
    const lookup = (name: string): Value | BackendTensor | undefined => {
      if (local.has(name)) return local.get(name);
      const init = graph.initializers.get(name);
      if (init) return init;
      return parent?.(name);
    };
    const outerNames = new Set<string>();
    if (parent) for (const n of graph.nodes) for (const d of nodeDependencies(n)) if (d && !local.has(d) && !graph.initializers.has(d)) outerNames.add(d);
    const { order, lastUse } = this.plan(graph, outerNames);
    const pool = parent === undefined && !intermediates ? new BufferOwners() : undefined;
    const ctx: RunContext = {
      graph,
      training: this.opts.training ?? false,
      random: this.random,
      runSubgraph: async (g, feeds) => {
        const sub = new Map<string, Value | BackendTensor>(feeds);
        return this.runGraph(g, sub, lookup, undefined);
      },
    };
    for (let i = 0; i < order.length; i++) {
      const node = order[i]!;
      const inputs = node.inputs.map((n) => (n ? lookup(n) : undefined));
      for (let k = 0; k < inputs.length; k++) {
        if (node.inputs[k] && inputs[k] === undefined) {
          throw new RosettaError('E_MISSING_INPUT', `value '${node.inputs[k]}' needed by node ${node.name} (${node.opType}) has not been computed`, { where: { node: node.name } });
        }
      }
      const outs = await this.runNode(node, inputs, ctx);
      node.outputs.forEach((name, k) => {
        if (name && outs[k] !== undefined) {
          local.set(name, outs[k]!);
          pool?.hold(outs[k]!);
        }
      });
      if (intermediates) for (const name of node.outputs) if (name && local.has(name)) intermediates.set(name, await this.toHost(local.get(name)!));
      // Memory planning: free what no later node (and no output) reads.
      for (const name of node.inputs) {
        if (name && lastUse.get(name) === i && local.has(name) && !graph.initializers.has(name)) {
          const v = local.get(name)!;
          if (!isHostOnly(v)) this.backend.dispose(v as BackendTensor);
          local.delete(name);
          pool?.release(v);
        }
      }
    }
    const results: Value[] = [];
    for (const o of graph.outputs) {
      const v = lookup(o.name);
      if (v === undefined) throw new RosettaError('E_INVALID_GRAPH', `graph output '${o.name}' was not produced`, { where: { node: o.name } });
      results.push(await this.toHost(v));
    }
    return results;
  }

  private async toHost(v: Value | BackendTensor): Promise<Value> {
    if (isHostOnly(v)) return v as Value;
    return this.backend.download(v as BackendTensor);
  }

  private async runNode(node: Node, inputs: (Value | BackendTensor | undefined)[], ctx: RunContext): Promise<(Value | BackendTensor)[]> {
    try {
      const dtypes = inputs.map((v) => (v && 'dtype' in v ? v.dtype : undefined));
      if (this.backend.supports(node, dtypes)) return await this.backend.run(node, inputs, ctx);
      // Per-node CPU fallback.
      const host = await Promise.all(inputs.map((v) => (v === undefined ? undefined : this.toHost(v))));
      const outs = await this.cpu.run(node, host, ctx);
      return Promise.all(outs.map(async (o) => (isTensor(o) && this.backend !== (this.cpu as Backend) ? this.backend.upload(o) : o)));
    } catch (e) {
      if (isRosettaError(e)) {
        if (e.where.node === undefined) {
          throw new RosettaError(e.code, e.bare ?? e.message, { where: { ...e.where, node: `${node.name} (${node.opType})` }, hint: e.hint, cause: e, detail: e.detail });
        }
        throw e;
      }
      throw new RosettaError('E_INTERNAL', `kernel ${node.opType} failed: ${e instanceof Error ? e.message : String(e)}`, { where: { node: `${node.name} (${node.opType})` }, cause: e, hint: 'this is a bug in Rosetta or an invalid model; please report it with the model' });
    }
  }
}

/**
 * Which pooled buffers (src/ir/buffer-pool.ts) the values of one top-level run hold, so a buffer goes
 * back to the pool when the last value viewing it is freed. Only buffers handed out during the run
 * count (feeds, initializers and constants existed before it); a tensor inside a sequence or
 * optional value escapes the count and is never recycled; subgraph runs and runs that keep
 * intermediates recycle nothing.
 */
class BufferOwners {
  private readonly mark = poolMark();
  private readonly count = new Map<ArrayBufferLike, number>();
  private readonly escaped = new Set<ArrayBufferLike>();

  private buffer(v: unknown): ArrayBufferLike | undefined {
    if (!isTensor(v) || !ArrayBuffer.isView(v.data)) return undefined;
    const b = v.data.buffer;
    return handedOutSince(b, this.mark) ? b : undefined;
  }

  hold(v: unknown): void {
    const b = this.buffer(v);
    if (b) this.count.set(b, (this.count.get(b) ?? 0) + 1);
    else if (!isTensor(v)) this.escape(v);
  }

  private escape(v: unknown, depth = 0): void {
    if (isTensor(v)) {
      if (ArrayBuffer.isView(v.data)) this.escaped.add(v.data.buffer);
    } else if (depth < 16 && Array.isArray(v)) for (const e of v) this.escape(e, depth + 1);
    else if (depth < 16 && typeof v === 'object' && v !== null) for (const e of Object.values(v)) this.escape(e, depth + 1);
  }

  release(v: unknown): void {
    const b = this.buffer(v);
    if (!b) return;
    const n = (this.count.get(b) ?? 0) - 1;
    if (n > 0) {
      this.count.set(b, n);
      return;
    }
    this.count.delete(b);
    if (!this.escaped.has(b)) recycleBuffer(b);
  }
}

function isHostOnly(v: unknown): boolean {
  return isTensor(v) || (typeof v === 'object' && v !== null && 'kind' in v);
}

/** Every node (including subgraph nodes) must have a CPU kernel: the reference implements all. */
export function checkKernels(graph: Graph): void {
  const missing = new Set<string>();
  const walk = (g: Graph): void => {
    for (const n of g.nodes) {
      if (!(opKey(n) in CPU_KERNELS)) missing.add(opKey(n));
      for (const a of Object.values(n.attrs)) {
        if (a.type === 'graph') walk(a.value);
        if (a.type === 'graphs') a.value.forEach(walk);
      }
    }
  };
  walk(graph);
  if (missing.size) {
    throw new RosettaError('E_UNSUPPORTED_OP', `no kernel for op${missing.size > 1 ? 's' : ''} ${[...missing].join(', ')}`, { hint: 'see `rosetta inspect` for the op histogram; file an issue naming the op' });
  }
}

/** Convenience: run a model once on the CPU with tensor feeds. */
export async function runModel(model: Model | Graph, feeds: Record<string, Tensor>, opts: SessionOptions = {}): Promise<Record<string, Value>> {
  const s = await Session.create(model, opts);
  return (await s.run(feeds)).outputs;
}
