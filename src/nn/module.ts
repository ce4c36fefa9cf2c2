/**
 * `Module`: the PyTorch-style base class. Submodules, parameters and buffers are discovered from
 * the instance's own properties in assignment order (as PyTorch's `__setattr__` registers them),
 * which gives state-dict keys identical to PyTorch's (`features.0.weight`, `classifier.4.bias`).
 *
 * Calling a module (`call`) on Tensors starts an eager `Trace`; on `Var`s it extends the caller's
 * trace. `run` caches the traced graph per input signature and executes it through `Session`;
 * `toModel` hands the graph to exporters. Spec of the mirrored API: https://pytorch.org/docs/1.13/generated/torch.nn.Module.html
 */
import { RosettaError } from '../ir/errors.js';
import { emptyModel, type Model } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import type { WeightSet } from '../importers/types.js';
import { Session } from '../runtime/session.js';
import { Buffer, Parameter } from './parameter.js';
import { Trace, Var } from './trace.js';

/** What `loadStateDict` did (PyTorch's `_IncompatibleKeys` plus shape problems). */
export interface LoadReport {
  missing: string[];
  unexpected: string[];
  shapeMismatch: { key: string; expected: number[]; got: number[] }[];
}

export type StateDict = Map<string, Tensor>;

type Output = Var | Output[];

interface CachedRun {
  key: string;
  session: Session;
  inputNames: string[];
  outputShape: Output;
  /** Parameter tensors the graph captured; a replaced `data` invalidates the cache. */
  captured: Map<Parameter, Tensor>;
}

export abstract class Module {
  /** Training mode (Dropout drops, BatchNorm uses batch statistics). */
  training = true;
  /** Module path in the tree it was last registered in ('' for the root). */
  protected _path = '';
  private _cache: CachedRun[] = [];

  /** The computation. Receives Vars, returns a Var or a (nested) array of Vars. */
  abstract forward(...inputs: Var[]): Output;

  /** Submodules in registration order, keyed like PyTorch. */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [k, v] of Object.entries(this)) if (!k.startsWith('_') && v instanceof Module) out.push([k, v]);
    return out;
  }

  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [k, m] of this.namedChildren()) out.push(...m.namedModules(prefix ? `${prefix}.${k}` : k));
    return out;
  }

  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** This module's own parameters and buffers by local name (default: its Parameter-valued properties). */
  protected ownTensors(): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [k, v] of Object.entries(this)) if (!k.startsWith('_') && v instanceof Parameter) out.push([k, v]);
    return out;
  }

  private ownEntries(kind: 'param' | 'buffer'): [string, Parameter][] {
    return this.ownTensors().filter(([, v]) => (v instanceof Buffer) === (kind === 'buffer'));
  }

  /** Parameters with their state-dict keys (PyTorch order: own, then each child's). */
  namedParameters(): [string, Parameter][] {
    this.assignPaths();
    const out: [string, Parameter][] = [];
    for (const [, m] of this.namedModules()) for (const [, p] of m.ownEntries('param')) out.push([p.key, p]);
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedBuffers(): [string, Buffer][] {
    this.assignPaths();
    const out: [string, Buffer][] = [];
    for (const [, m] of this.namedModules()) for (const [, b] of m.ownEntries('buffer')) out.push([b.key, b as Buffer]);
    return out;
  }

  /** Set every descendant's path and every parameter's state-dict key from this root. */
  assignPaths(): void {
    for (const [path, m] of this.namedModules()) {
      m._path = path;
      for (const kind of ['param', 'buffer'] as const) for (const [k, p] of m.ownEntries(kind)) p.key = path ? `${path}.${k}` : k;
    }
  }

  /** Tensors by key: per module its parameters, then its buffers, then its children (PyTorch's order). */
  stateDict(): StateDict {
    this.assignPaths();
    const sd: StateDict = new Map();
    for (const [, m] of this.namedModules()) {
      for (const [, p] of m.ownEntries('param')) sd.set(p.key, p.data);
      for (const [, b] of m.ownEntries('buffer')) sd.set(b.key, b.data);
    }
    return sd;
  }

  /**
   * Copy tensors into parameters and buffers by key. Returns what was missing, unexpected or of the
   * wrong shape; with `strict` (default) any of those throws E_BINDING with the report attached,
   * and nothing is loaded.
   */
  loadStateDict(sd: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>, opts: { strict?: boolean } = {}): LoadReport {
    const strict = opts.strict ?? true;
    const entries = sd instanceof Map ? new Map(sd) : new Map(Object.entries(sd as Record<string, Tensor>));
    const own = new Map<string, Parameter>([...this.namedParameters(), ...this.namedBuffers()]);
    const report: LoadReport = { missing: [], unexpected: [], shapeMismatch: [] };
    for (const k of own.keys()) if (!entries.has(k)) report.missing.push(k);
    for (const [k, t] of entries) {
      const p = own.get(k);
      if (!p) report.unexpected.push(k);
      else if (!sameShape(p.data.shape, t.shape)) report.shapeMismatch.push({ key: k, expected: p.data.shape.slice(), got: t.shape.slice() });
    }
    const bad = report.missing.length + report.unexpected.length + report.shapeMismatch.length;
    if (strict && bad) {
      const parts = [
        report.missing.length ? `missing ${report.missing.slice(0, 5).join(', ')}${report.missing.length > 5 ? '…' : ''}` : '',
        report.unexpected.length ? `unexpected ${report.unexpected.slice(0, 5).join(', ')}${report.unexpected.length > 5 ? '…' : ''}` : '',
        report.shapeMismatch.length ? `shape mismatch ${report.shapeMismatch.slice(0, 3).map((s) => `${s.key} [${s.expected}] vs [${s.got}]`).join(', ')}` : '',
      ].filter(Boolean);
      throw new RosettaError('E_BINDING', `state dict does not fit the model: ${parts.join('; ')}`, {
        detail: report,
        hint: 'check the architecture, or pass { strict: false } to load the matching keys',
      });
    }
    // Check every value before copying any, so a bad entry never leaves a half-loaded model.
    for (const [k, t] of entries) {
      if (own.has(k) && (t.dtype === 'string' || t.dtype === 'complex64' || t.dtype === 'complex128')) {
        throw new RosettaError('E_DTYPE_MISMATCH', `cannot load a ${t.dtype} tensor into ${k}`, { hint: 'the checkpoint holds a different kind of value under this key' });
      }
    }
    for (const [k, t] of entries) {
      const p = own.get(k);
      if (p && sameShape(p.data.shape, t.shape)) p.copyFrom(t);
    }
    return report;
  }

  /** Load the tensors of an imported weight set (e.g. `pytorchImporter.open(src)`). */
  loadWeights(ws: WeightSet, opts: { strict?: boolean } = {}): LoadReport {
    return this.loadStateDict(ws.tensors, opts);
  }

  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Drop every parameter's gradient (PyTorch ≥ 2 default: set to None). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /** Freeze or unfreeze all parameters. */
  requiresGrad(flag = true): this {
    for (const p of this.parameters()) p.requiresGrad = flag;
    return this;
  }

  /**
   * Call the module like `model(x)`. With Tensors a new trace starts (in this module's training
   * mode); with Vars the caller's trace continues. Every node gets this module's path as scope.
   */
  call(...inputs: (Var | Tensor)[]): Output {
    let trace = inputs.find((x): x is Var => x instanceof Var)?.trace;
    if (!trace) {
      this.assignPaths();
      trace = new Trace({ training: this.training });
    }
    const t = trace;
    const vars = inputs.map((x) => (x instanceof Var ? x : t.input(x)));
    return t.withScope(this._path, () => this.forward(...vars));
  }

  /** `call` for single-output modules. */
  callVar(...inputs: (Var | Tensor)[]): Var {
    const out = this.call(...inputs);
    if (!(out instanceof Var)) throw new RosettaError('E_USAGE', `${this.constructor.name} returns several values; use call()`);
    return out;
  }

  /**
   * Inference on Tensors: traces once per input signature (shapes, dtypes, mode), caches the graph
   * and runs it through `Session` afterwards. Returns the outputs as Tensors (nested like forward's).
   */
  async run(...inputs: Tensor[]): Promise<Tensor | unknown[]> {
    const key = `${this.training ? 'train' : 'eval'}|${inputs.map((t) => `${t.dtype}[${t.shape.join(',')}]`).join('|')}`;
    const hit = this._cache.find((c) => c.key === key);
    if (hit && !this.training && [...hit.captured].every(([p, t]) => p.data === t)) {
      const feeds: Record<string, Tensor> = {};
      hit.inputNames.forEach((n, i) => (feeds[n] = inputs[i]!));
      const { outputs } = await hit.session.run(feeds);
      return rebuild(hit.outputShape, (name) => outputs[name] as Tensor);
    }
    // Inference: no decomposition for autograd, so high-level ops run as single kernels.
    this.assignPaths();
    const fresh = new Trace({ training: this.training, grad: false });
    const out = fresh.withScope(this._path, () => this.forward(...inputs.map((x) => fresh.input(x))));
    const trace = firstVar(out).trace;
    if (!this.training) {
      const graph = this.finishGraph(trace, out);
      const session = await Session.create(graph);
      const captured = new Map<Parameter, Tensor>();
      for (const p of trace.params.values()) captured.set(p, p.data);
      this._cache = this._cache.filter((c) => c.key !== key);
      this._cache.push({ key, session, inputNames: graph.inputs.map((i) => i.name), outputShape: out, captured });
    }
    return rebuild(out, (name) => trace.tape.values.get(name)!);
  }

  private finishGraph(trace: Trace, out: Output): typeof trace.graph {
    const g = trace.graph;
    g.outputs = [];
    const seen = new Set<string>();
    const walk = (o: Output): void => {
      if (o instanceof Var) {
        if (!seen.has(o.name)) g.outputs.push({ name: o.name, type: { kind: 'tensor', dtype: o.dtype, shape: o.shape.slice() } });
        seen.add(o.name);
      } else o.forEach(walk);
    };
    walk(out);
    return g;
  }

  /**
   * The module as an IR `Model` (eval mode) for exporters: traced once on zero inputs of the given
   * shapes; initializers are copies of the current weights; node scopes and `graph.params` keep the
   * module paths and state-dict keys.
   */
  toModel(inputShapes: readonly (readonly number[])[], opts: { dtypes?: ('float32' | 'int64')[]; inputNames?: string[] } = {}): Model {
    const was = this.training;
    this.eval();
    try {
      this.assignPaths();
      const trace = new Trace({ training: false });
      const vars = inputShapes.map((s, i) => trace.input(new Tensor(opts.dtypes?.[i] ?? 'float32', s), opts.inputNames?.[i] ?? (i === 0 ? 'input' : `input_${i}`)));
      const out = trace.withScope(this._path, () => this.forward(...vars));
      const g = this.finishGraph(trace, out);
      for (const [k, t] of g.initializers) g.initializers.set(k, new Tensor(t.dtype, t.shape, t.data.slice() as typeof t.data));
      const model = emptyModel(g);
      model.producerName = 'rosetta.nn';
      model.sourceFormat = 'pytorch';
      model.metadata = { module: this.constructor.name };
      return model;
    } finally {
      this.train(was);
    }
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function firstVar(o: Output): Var {
  if (o instanceof Var) return o;
  for (const x of o) {
    const v = firstVar(x);
    if (v) return v;
  }
  throw new RosettaError('E_USAGE', 'forward returned no values');
}

function rebuild(o: Output, get: (name: string) => Tensor): Tensor | unknown[] {
  if (o instanceof Var) return get(o.name);
  return o.map((x) => rebuild(x, get));
}

/** Modules applied in order; children keyed '0', '1', … like nn.Sequential. */
export class Sequential extends Module {
  [index: number]: Module;
  readonly length: number;

  constructor(...mods: Module[]) {
    super();
    mods.forEach((m, i) => (this[i] = m));
    this.length = mods.length;
  }

  at(i: number): Module {
    const m = this[i < 0 ? i + this.length : i];
    if (!m) throw new RosettaError('E_USAGE', `Sequential index ${i} out of range (length ${this.length})`);
    return m;
  }

  forward(x: Var): Var {
    let y = x;
    for (let i = 0; i < this.length; i++) {
      const m = this[i]!;
      y = asVar(m.call(y), m);
    }
    return y;
  }
}

/** A list of modules (nn.ModuleList): registered, not called in order automatically. */
export class ModuleList extends Module {
  [index: number]: Module;
  length = 0;

  constructor(mods: Module[] = []) {
    super();
    for (const m of mods) this.append(m);
  }

  append(m: Module): this {
    this[this.length++] = m;
    return this;
  }

  at(i: number): Module {
    const m = this[i < 0 ? i + this.length : i];
    if (!m) throw new RosettaError('E_USAGE', `ModuleList index ${i} out of range (length ${this.length})`);
    return m;
  }

  [Symbol.iterator](): Iterator<Module> {
    let i = 0;
    return { next: () => (i < this.length ? { value: this[i++]!, done: false } : { value: undefined, done: true }) };
  }

  forward(): Var {
    throw new RosettaError('E_USAGE', 'ModuleList has no forward; call its members');
  }
}

function asVar(o: Output, m: Module): Var {
  if (!(o instanceof Var)) throw new RosettaError('E_USAGE', `${m.constructor.name} returns several values and cannot be used inside Sequential`);
  return o;
}

