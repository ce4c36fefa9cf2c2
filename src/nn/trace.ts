/**
 * Eager tracing for the PyTorch-style front end. A `Trace` records IR nodes (ONNX ops, the module
 * path as every node's scope, parameters registered in `graph.params`) *and* runs each one at once
 * on the CPU through autograd's `TapeRecorder`, so every `Var` has a concrete value and shape while
 * the forward code runs (modules such as AdaptiveAvgPool2d need shapes; users can print values).
 *
 * The recorded graph is what `Module.run` caches per input signature and runs through `Session`,
 * and what `Module.toModel` hands to exporters. The tape (high-level ops decomposed) is what
 * `Var.backward()` differentiates.
 */
import type { DType } from '../ir/dtype.js';
import { RosettaError } from '../ir/errors.js';
import { emptyGraph, makeNode, type AttrMap, type Graph } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { TapeRecorder, buildBackward, runBackward } from '../runtime/autograd.js';
import type { Backend } from '../runtime/backend.js';
import type { Parameter } from './parameter.js';

let traceSeed = 0x5eed;
let gradEnabled = true;

/**
 * Run `f` without gradient recording (torch.no_grad): traces created inside keep high-level ops
 * whole (no decomposition for autograd, so LSTMs run as one kernel) and refuse `backward()`.
 */
export async function noGrad<T>(f: () => T | Promise<T>): Promise<T> {
  const was = gradEnabled;
  gradEnabled = false;
  try {
    return await f();
  } finally {
    gradEnabled = was;
  }
}

/** Seed for Dropout masks of traces created from now on (like `torch.manual_seed` for dropout). */
export function manualSeed(seed: number): void {
  traceSeed = seed >>> 0;
}

export interface TraceOptions {
  training?: boolean;
  seed?: number;
  /** Record for autograd (default: true unless inside `noGrad`). */
  grad?: boolean;
}

export class Trace {
  readonly graph: Graph = emptyGraph('forward');
  readonly tape: TapeRecorder;
  readonly training: boolean;
  /** Whether `backward()` is possible (high-level ops decomposed on the tape). */
  readonly grad: boolean;
  /** Parameters bound into this trace, by value name (= state-dict key). */
  readonly params = new Map<string, Parameter>();
  private readonly scopes: string[] = [];
  private n = 0;

  constructor(opts: TraceOptions = {}) {
    this.training = opts.training ?? false;
    this.grad = opts.grad ?? gradEnabled;
    this.tape = new TapeRecorder({ training: this.training, seed: opts.seed ?? traceSeed++, decompose: this.grad });
  }

  get scope(): string {
    return this.scopes[this.scopes.length - 1] ?? '';
  }

  withScope<T>(scope: string, f: () => T): T {
    this.scopes.push(scope);
    try {
      return f();
    } finally {
      this.scopes.pop();
    }
  }

  private fresh(hint: string): string {
    const s = this.scope;
    return `${s ? `${s}/` : ''}${hint}_${this.n++}`;
  }

  /** A graph input fed with `t`. */
  input(t: Tensor, name = `input${this.graph.inputs.length ? `_${this.graph.inputs.length}` : ''}`): Var {
    if (this.tape.values.has(name)) throw new RosettaError('E_USAGE', `input name '${name}' is already used in this trace`);
    this.graph.inputs.push({ name, type: { kind: 'tensor', dtype: t.dtype, shape: t.shape.slice() } });
    this.tape.values.set(name, t);
    return new Var(this, name);
  }

  /** A constant (initializer that is not a parameter). */
  constant(t: Tensor, hint = 'const'): Var {
    const name = this.fresh(hint);
    this.graph.initializers.set(name, t);
    this.tape.values.set(name, t);
    return new Var(this, name);
  }

  scalar(v: number, dtype: DType = 'float32'): Var {
    return this.constant(Tensor.from(dtype, [], [v]), 'c');
  }

  ints(values: readonly number[]): Var {
    return this.constant(new Tensor('int64', [values.length], BigInt64Array.from(values.map((v) => BigInt(v)))), 'i');
  }

  /** Bind a parameter or buffer under its state-dict key. */
  param(p: Parameter, role: string, trainable: boolean): Var {
    const name = p.key;
    if (!name) throw new RosettaError('E_USAGE', 'a parameter was used before its module was registered in a model (no state-dict key)');
    if (!this.params.has(name)) {
      this.params.set(name, p);
      this.graph.initializers.set(name, p.data);
      this.graph.params.set(name, { scope: this.scope, trainable, role, sourceName: name });
      this.tape.values.set(name, p.data);
    }
    return new Var(this, name);
  }

  /** Record and run one op; returns its outputs. */
  opN(opType: string, inputs: readonly (Var | undefined)[], attrs: AttrMap = {}, nOut = 1, opts: { domain?: string; scope?: string } = {}): Var[] {
    const ins = inputs.map((v) => {
      if (!v) return '';
      if (v.trace !== this) throw new RosettaError('E_USAGE', `${opType}: mixes values from two different traces (call the model on Tensors once per step)`);
      return v.name;
    });
    const outs = Array.from({ length: nOut }, () => this.fresh(opType));
    const node = makeNode(opType, ins, outs, attrs, { scope: opts.scope ?? this.scope, name: outs[0], domain: opts.domain });
    this.graph.nodes.push(node);
    // The tape may record a variant with extra outputs (MaxPool Indices, Dropout mask); the
    // graph keeps the plain node.
    this.tape.runSync(node);
    return outs.map((o) => new Var(this, o));
  }

  op(opType: string, inputs: readonly (Var | undefined)[], attrs: AttrMap = {}): Var {
    return this.opN(opType, inputs, attrs, 1)[0]!;
  }
}

const int = (value: number) => ({ type: 'int' as const, value });
const ints = (value: number[]) => ({ type: 'ints' as const, value });

/** A value in a trace: concrete (eager) and symbolic (an IR value name) at once. */
export class Var {
  constructor(
    readonly trace: Trace,
    readonly name: string,
  ) {}

  get value(): Tensor {
    const t = this.trace.tape.values.get(this.name);
    if (!t) throw new RosettaError('E_INTERNAL', `value '${this.name}' has not been computed`);
    return t;
  }

  get shape(): readonly number[] {
    return this.value.shape;
  }

  get dtype(): DType {
    return this.value.dtype;
  }

  /** The single element of a one-element value as a number. */
  item(): number {
    const t = this.value;
    if (t.size !== 1) throw new RosettaError('E_USAGE', `item() needs a one-element value, this one has shape [${t.shape.join(', ')}]`);
    return t.get(0);
  }

  /**
   * Back-propagate from this value (the gradient of its sum when it is not a scalar) into every
   * parameter of the trace with `requiresGrad`, accumulating into `param.grad` like PyTorch.
   */
  /**
   * Gradients of this (scalar) value into every parameter's `.grad`, accumulated as PyTorch does.
   * `backend` runs the backward graph elsewhere than the CPU (e.g. 'webgpu'): the rules are IR
   * ops, so any backend executes them; the forward tape stays on the CPU.
   */
  async backward(opts: { backend?: string | Backend } = {}): Promise<void> {
    if (!this.trace.grad) throw new RosettaError('E_USAGE', 'backward() on a value computed under noGrad (or a trace created with grad: false)', { hint: 'compute the loss outside noGrad' });
    const wrt = [...this.trace.params].filter(([, p]) => p.requiresGrad).map(([k]) => k);
    if (wrt.length === 0) return;
    const plan = buildBackward(this.trace.tape, this.name, wrt);
    const grads = await runBackward(this.trace.tape, plan, { backend: opts.backend });
    for (const [k, g] of grads) this.trace.params.get(k)!.accumulateGrad(g);
  }

  // ---- a few tensor methods, so custom forward code reads like PyTorch ----
  private other(x: Var | number): Var {
    return typeof x === 'number' ? this.trace.scalar(x, this.dtype) : x;
  }
  add(x: Var | number): Var {
    return this.trace.op('Add', [this, this.other(x)]);
  }
  sub(x: Var | number): Var {
    return this.trace.op('Sub', [this, this.other(x)]);
  }
  mul(x: Var | number): Var {
    return this.trace.op('Mul', [this, this.other(x)]);
  }
  div(x: Var | number): Var {
    return this.trace.op('Div', [this, this.other(x)]);
  }
  neg(): Var {
    return this.trace.op('Neg', [this]);
  }
  matmul(x: Var): Var {
    return this.trace.op('MatMul', [this, x]);
  }
  relu(): Var {
    return this.trace.op('Relu', [this]);
  }
  sigmoid(): Var {
    return this.trace.op('Sigmoid', [this]);
  }
  tanh(): Var {
    return this.trace.op('Tanh', [this]);
  }
  exp(): Var {
    return this.trace.op('Exp', [this]);
  }
  log(): Var {
    return this.trace.op('Log', [this]);
  }
  abs(): Var {
    return this.trace.op('Abs', [this]);
  }
  /** `reshape(-1, 4)` style; -1 and 0 keep their ONNX meaning. */
  reshape(...shape: number[]): Var {
    return this.trace.op('Reshape', [this, this.trace.ints(shape)]);
  }
  /** torch.flatten(x, startDim, endDim). */
  flatten(startDim = 0, endDim = -1): Var {
    const r = this.shape.length;
    const s = startDim < 0 ? startDim + r : startDim;
    const e = endDim < 0 ? endDim + r : endDim;
    if (e === r - 1) return this.trace.op('Flatten', [this], { axis: int(s) }).reshape(...this.shape.slice(0, s), -1);
    const shape = [...this.shape.slice(0, s), this.shape.slice(s, e + 1).reduce((p, d) => p * d, 1), ...this.shape.slice(e + 1)];
    return this.reshape(...shape);
  }
  permute(...perm: number[]): Var {
    return this.trace.op('Transpose', [this], { perm: ints(perm) });
  }
  /** Swap two axes (torch.transpose). */
  transpose(a: number, b: number): Var {
    const r = this.shape.length;
    const perm = Array.from({ length: r }, (_, i) => i);
    const x = a < 0 ? a + r : a;
    const y = b < 0 ? b + r : b;
    perm[x] = y;
    perm[y] = x;
    return this.permute(...perm);
  }
  /** x.select(dim, index) — e.g. `h[:, -1]` is `h.select(1, -1)`. */
  select(dim: number, index: number): Var {
    const idx = this.trace.constant(Tensor.from('int64', [], [BigInt(index)]), 'idx');
    return this.trace.op('Gather', [this, idx], { axis: int(dim) });
  }
  sum(dims?: number[], keepdim = false): Var {
    return this.trace.op('ReduceSum', [this, dims ? this.trace.ints(dims) : undefined], { keepdims: int(keepdim ? 1 : 0) });
  }
  mean(dims?: number[], keepdim = false): Var {
    return this.trace.op('ReduceMean', [this, dims ? this.trace.ints(dims) : undefined], { keepdims: int(keepdim ? 1 : 0) });
  }
}

/** Concatenate values along `dim` (torch.cat). */
export function cat(xs: readonly Var[], dim = 0): Var {
  if (xs.length === 0) throw new RosettaError('E_USAGE', 'cat needs at least one value');
  return xs[0]!.trace.op('Concat', xs, { axis: int(dim) });
}
