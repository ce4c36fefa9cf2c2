/**
 * Optimizers with PyTorch 1.13's update rules and defaults, and Keras defaults on request:
 * SGD (momentum, dampening, nesterov, weight decay), Adam, AdamW, RMSprop, Adagrad; gradient
 * clipping by norm and by value. Updates run on the host, in place on each parameter's storage,
 * so graphs that captured the parameter tensors see the new values.
 *
 * Where PyTorch and Keras (tf.keras 2.x) differ — `kerasDefaults(...)` gives the Keras numbers:
 * | optimizer | PyTorch                                   | Keras                                          |
 * |-----------|-------------------------------------------|------------------------------------------------|
 * | Adam      | lr 1e-3, eps 1e-8, eps added to √v̂ (bias-corrected) | lr 1e-3, eps 1e-7, eps added to √v before the bias correction of the step ("epsilon hat") |
 * | RMSprop   | lr 1e-2, alpha 0.99, eps 1e-8 outside √    | lr 1e-3, rho 0.9, eps 1e-7 inside √(v + eps)   |
 * | Adagrad   | lr 1e-2, initial accumulator 0, eps 1e-10 | lr 1e-3, initial accumulator 0.1, eps 1e-7     |
 * | SGD       | lr required, momentum 0                   | lr 1e-2, momentum 0 (Keras momentum has no dampening; same update) |
 * Spec: https://pytorch.org/docs/1.13/optim.html, https://keras.io/api/optimizers/
 */
import { RosettaError } from '../ir/errors.js';
import { Tensor } from '../ir/tensor.js';
import type { TorchObject } from '../formats/torch.js';
import { wasmAdam, wasmAdamArena, type WasmAdamArena } from '../kernels/cpu/wasm-eltwise.js';

/** What optimizers update: `src/nn` Parameters satisfy it, and so can any holder of a tensor. */
export interface Trainable {
  data: Tensor;
  grad: Tensor | null;
  requiresGrad?: boolean;
}

type Floats = Float32Array | Float64Array;

function floats(t: Tensor, what: string): Floats {
  if (t.dtype !== 'float32' && t.dtype !== 'float64') throw new RosettaError('E_UNSUPPORTED_DTYPE', `optimizers update float32/float64 parameters, ${what} is ${t.dtype}`);
  return t.data as Floats;
}

export abstract class Optimizer {
  readonly params: Trainable[];
  /** Current learning rate (schedulers change it). */
  lr: number;
  /** Learning rate at construction (schedulers start from it). */
  readonly initialLr: number;
  protected readonly state = new Map<Trainable, Record<string, Float64Array | number>>();

  constructor(params: Iterable<Trainable>, lr: number) {
    this.params = [...params];
    if (!(lr >= 0)) throw new RosettaError('E_USAGE', `invalid learning rate ${lr}`);
    this.lr = lr;
    this.initialLr = lr;
  }

  /** Drop gradients (PyTorch ≥ 2 `set_to_none=True` behaviour; also 1.13's `zero_grad(True)`). */
  zeroGrad(): void {
    for (const p of this.params) p.grad = null;
  }

  /** Apply one update to every parameter that has a gradient and requires one. */
  step(): void {
    for (const p of this.params) {
      if (!p.grad || p.requiresGrad === false) continue;
      const w = floats(p.data, 'a parameter');
      const g = floats(p.grad, 'a gradient');
      if (g.length !== w.length) throw new RosettaError('E_SHAPE_MISMATCH', `gradient has ${g.length} elements, parameter ${w.length}`);
      let s = this.state.get(p);
      if (!s) this.state.set(p, (s = { step: 0 }));
      s.step = (s.step as number) + 1;
      this.update(w, g, s, (name: string, init = 0) => {
        let b = s![name] as Float64Array | undefined;
        if (!b) {
          b = this.newBuffer(w);
          if (init) b.fill(init);
          s![name] = b;
        }
        return b;
      });
    }
  }

  protected abstract update(w: Floats, g: Floats, s: Record<string, Float64Array | number>, buf: (name: string, init?: number) => Float64Array): void;

  /** PyTorch's `param_groups[0]` hyperparameters of this optimizer (names as in torch.optim), lr included. */
  protected abstract hyper(): Record<string, number | boolean | readonly number[]>;

  /**
   * The state in PyTorch's `optimizer.state_dict()` layout, flattened the way Rosetta reads a
   * checkpoint entry (`importFile(…, { key: 'optimizer_state_dict' })`): tensors `state.<i>.<name>`
   * (`step` as a scalar, buffers shaped like parameter i, in the parameter's dtype) and
   * `param_groups.0.<name>` metadata (one group; `params` lists the indices). Parameters that have
   * not been stepped have no state, as in PyTorch.
   */
  stateDict(): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
    const tensors = new Map<string, Tensor>();
    this.params.forEach((p, i) => {
      const s = this.state.get(p);
      if (!s) return;
      for (const [name, v] of Object.entries(s)) {
        if (typeof v === 'number') tensors.set(`state.${i}.${name}`, Tensor.from('float32', [], [v]));
        else tensors.set(`state.${i}.${name}`, new Tensor(p.data.dtype, p.data.shape, p.data.dtype === 'float64' ? Float64Array.from(v) : Float32Array.from(v)));
      }
    });
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.hyper())) {
      if (Array.isArray(v)) v.forEach((x, j) => (metadata[`param_groups.0.${k}.${j}`] = String(x)));
      else metadata[`param_groups.0.${k}`] = String(v);
    }
    this.params.forEach((_, i) => (metadata[`param_groups.0.params.${i}`] = String(i)));
    return { tensors, metadata };
  }

  /**
   * The state as PyTorch's nested `optimizer.state_dict()` (`{'state': {i: {...}}, 'param_groups':
   * [{..., 'params': [...]}]}`), for `writeTorchObject` (src/formats/torch.ts): a checkpoint written
   * with it loads into `torch.optim`'s `load_state_dict` (list-valued hyperparameters such as Adam's
   * betas become tuples, as in PyTorch).
   */
  torchState(): TorchObject {
    const { tensors } = this.stateDict();
    const state = new Map<number, Map<string, TorchObject>>();
    for (const [key, t] of tensors) {
      const m = /^state\.(\d+)\.(.+)$/.exec(key)!;
      const i = Number(m[1]);
      const entry = state.get(i) ?? new Map<string, TorchObject>();
      entry.set(m[2]!, t);
      state.set(i, entry);
    }
    const group = new Map<string, TorchObject>();
    for (const [k, v] of Object.entries(this.hyper())) group.set(k, Array.isArray(v) ? { tuple: [...v] } : (v as number | boolean));
    group.set('params', this.params.map((_, i) => i));
    return new Map<string, TorchObject>([
      ['state', state],
      ['param_groups', [group]],
    ]);
  }

  /**
   * Resume from a state in PyTorch's layout (a `torch.save`d `optimizer.state_dict()` read with
   * `key: 'optimizer_state_dict'`, or `stateDict()`): per parameter index, `step` and the buffers;
   * the group's `lr` is taken over (as PyTorch does). Its other hyperparameters must equal this
   * optimizer's (construct it with the same options), and every buffer must match its parameter's
   * size: otherwise E_USAGE / E_SHAPE_MISMATCH, and nothing is changed.
   */
  loadStateDict(sd: { tensors: ReadonlyMap<string, Tensor>; metadata?: Readonly<Record<string, string>> }): void {
    const meta = sd.metadata ?? {};
    for (const [k, v] of Object.entries(this.hyper())) {
      if (k === 'lr') continue;
      const want = Array.isArray(v) ? v.map(String) : [String(v)];
      const got = Array.isArray(v) ? v.map((_, j) => meta[`param_groups.0.${k}.${j}`]) : [meta[`param_groups.0.${k}`]];
      if (got.every((x) => x === undefined)) continue; // not recorded (an older torch): keep ours
      const same = got.every((x, j) => x !== undefined && (x === want[j] || Number(x) === Number(want[j]) || (x === 'false' && want[j] === '0') || (x === 'true' && want[j] === '1')));
      if (!same) throw new RosettaError('E_USAGE', `optimizer state has ${k} = ${got.join(', ')}, this optimizer ${want.join(', ')}`, { hint: 'construct the optimizer with the options the state was saved with' });
    }
    const next = new Map<Trainable, Record<string, Float64Array | number>>();
    for (const [key, t] of sd.tensors) {
      const m = /^state\.(\d+)\.([A-Za-z_]+)$/.exec(key);
      if (!m) continue;
      const p = this.params[Number(m[1])];
      if (!p) throw new RosettaError('E_USAGE', `optimizer state names parameter ${m[1]}, this optimizer has ${this.params.length}`);
      const s = next.get(p) ?? { step: 0 };
      next.set(p, s);
      if (m[2] === 'step') {
        if (t.size !== 1) throw new RosettaError('E_SHAPE_MISMATCH', `${key} must hold one number`);
        s.step = Number(t.toNumbers()[0]);
        continue;
      }
      if (t.size !== p.data.size) throw new RosettaError('E_SHAPE_MISMATCH', `${key} has ${t.size} values, parameter ${m[1]} has ${p.data.size}`);
      s[m[2]!] = Float64Array.from(t.toNumbers());
    }
    const lr = meta['param_groups.0.lr'];
    if (lr !== undefined && Number.isFinite(Number(lr))) this.lr = Number(lr);
    for (const [p, s] of next) {
      const w = floats(p.data, 'a parameter');
      const placed: Record<string, Float64Array | number> = { step: s.step as number };
      for (const [name, v] of Object.entries(s)) {
        if (typeof v === 'number') continue;
        const b = this.newBuffer(w);
        b.set(v);
        placed[name] = b;
      }
      this.state.set(p, placed);
    }
  }

  /** A zeroed state buffer for parameter storage `w` (subclasses may place it elsewhere). */
  protected newBuffer(w: Floats): Float64Array {
    return new Float64Array(w.length);
  }
}

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
  maximize?: boolean;
}

/** torch.optim.SGD. */
export class SGD extends Optimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  readonly maximize: boolean;

  constructor(params: Iterable<Trainable>, opts: SGDOptions) {
    super(params, opts.lr);
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.nesterov = opts.nesterov ?? false;
    this.maximize = opts.maximize ?? false;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) throw new RosettaError('E_USAGE', 'Nesterov momentum requires a momentum and zero dampening');
  }

  protected hyper(): Record<string, number | boolean | readonly number[]> {
    return { lr: this.lr, momentum: this.momentum, dampening: this.dampening, weight_decay: this.weightDecay, nesterov: this.nesterov, maximize: this.maximize };
  }

  protected update(w: Floats, g: Floats, s: Record<string, Float64Array | number>, buf: (name: string) => Float64Array): void {
    // PyTorch starts the buffer from the first gradient when it has none (not by step count), so a
    // state loaded from a checkpoint continues its momentum
    const first = s.momentum_buffer === undefined;
    const m = this.momentum ? buf('momentum_buffer') : undefined;
    for (let i = 0; i < w.length; i++) {
      let d = this.maximize ? -g[i]! : g[i]!;
      if (this.weightDecay) d += this.weightDecay * w[i]!;
      if (m) {
        m[i] = first ? d : this.momentum * m[i]! + (1 - this.dampening) * d;
        d = this.nesterov ? d + this.momentum * m[i]! : m[i]!;
      }
      w[i] = w[i]! - this.lr * d;
    }
  }
}

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  amsgrad?: boolean;
  maximize?: boolean;
  /** Keras/TF placement: eps added to √v and the bias correction folded into the step size. */
  epsilonHat?: boolean;
}

/** torch.optim.Adam (L2 weight decay added to the gradient). */
export class Adam extends Optimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly amsgrad: boolean;
  readonly maximize: boolean;
  readonly epsilonHat: boolean;
  protected decoupled = false;

  constructor(params: Iterable<Trainable>, opts: AdamOptions = {}) {
    super(params, opts.lr ?? 1e-3);
    [this.beta1, this.beta2] = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    this.amsgrad = opts.amsgrad ?? false;
    this.maximize = opts.maximize ?? false;
    this.epsilonHat = opts.epsilonHat ?? false;
  }

  protected hyper(): Record<string, number | boolean | readonly number[]> {
    return { lr: this.lr, betas: [this.beta1, this.beta2], eps: this.eps, weight_decay: this.weightDecay, amsgrad: this.amsgrad, maximize: this.maximize };
  }

  /** Moments of float32 parameters live in a SIMD module's memory (see `newBuffer`); null: none. */
  private arena: WasmAdamArena | null | undefined;

  /** PyTorch's default options: the update takes the straight (and SIMD) loop. */
  private get plainLoop(): boolean {
    return !this.amsgrad && !this.maximize && !this.epsilonHat && !(!this.decoupled && this.weightDecay);
  }

  /**
   * With PyTorch's default options, float32 parameters of ≥ 64 elements get their moments from one
   * arena inside the SIMD module's memory, sized once for all such parameters, so each step
   * updates them in place instead of copying 16 bytes per element in and out (the SIMD update of
   * the seed CNN's 421,642 parameters 1.27 → 1.01 ms). Anything else, or no SIMD: Float64Arrays.
   */
  protected override newBuffer(w: Floats): Float64Array {
    if (!(w instanceof Float32Array) || w.length < 64 || !this.plainLoop) return super.newBuffer(w);
    if (this.arena === undefined) {
      const big = this.params.filter((p) => p.data.dtype === 'float32' && p.data.size >= 64);
      this.arena = wasmAdamArena(2 * big.reduce((a, p) => a + p.data.size, 0), 2 * big.length) ?? null;
    }
    return this.arena?.alloc(w.length) ?? super.newBuffer(w);
  }

  protected update(w: Floats, g: Floats, s: Record<string, Float64Array | number>, buf: (name: string) => Float64Array): void {
    const t = s.step as number;
    const m = buf('exp_avg');
    const v = buf('exp_avg_sq');
    const vmax = this.amsgrad ? buf('max_exp_avg_sq') : undefined;
    const bc1 = 1 - this.beta1 ** t;
    const bc2 = 1 - this.beta2 ** t;
    const stepSize = this.lr / bc1;
    const sqrtBc2 = Math.sqrt(bc2);
    if (this.decoupled && this.weightDecay) for (let i = 0; i < w.length; i++) w[i] = w[i]! * (1 - this.lr * this.weightDecay);
    if (!vmax && this.plainLoop) {
      // PyTorch's default Adam/AdamW: the same arithmetic as the general loop below, in the same
      // order (bit-identical), with the options and constants in locals so the loop is only loads,
      // multiplies, a square root and a divide.
      const b1 = this.beta1;
      const b2 = this.beta2;
      const c1 = 1 - b1;
      const c2 = 1 - b2;
      const eps = this.eps;
      // float32 parameters: the same loop in WebAssembly SIMD (f64x2, identical rounding).
      if (w instanceof Float32Array && g instanceof Float32Array && w.length >= 64 && wasmAdam(w, g, m, v, { b1, c1, b2, c2, stepSize, sqrtBc2, eps })) return;
      for (let i = 0; i < w.length; i++) {
        const d = g[i]!;
        const mi = b1 * m[i]! + c1 * d;
        const vi = b2 * v[i]! + c2 * d * d;
        m[i] = mi;
        v[i] = vi;
        w[i] = w[i]! - stepSize * (mi / (Math.sqrt(vi) / sqrtBc2 + eps));
      }
      return;
    }
    for (let i = 0; i < w.length; i++) {
      let d = this.maximize ? -g[i]! : g[i]!;
      if (!this.decoupled && this.weightDecay) d += this.weightDecay * w[i]!;
      m[i] = this.beta1 * m[i]! + (1 - this.beta1) * d;
      v[i] = this.beta2 * v[i]! + (1 - this.beta2) * d * d;
      let vv = v[i]!;
      if (vmax) vv = vmax[i] = Math.max(vmax[i]!, vv);
      if (this.epsilonHat) w[i] = w[i]! - ((this.lr * sqrtBc2) / bc1) * (m[i]! / (Math.sqrt(vv) + this.eps));
      else w[i] = w[i]! - stepSize * (m[i]! / (Math.sqrt(vv) / sqrtBc2 + this.eps));
    }
  }
}

/** torch.optim.AdamW: decoupled weight decay (default 1e-2). */
export class AdamW extends Adam {
  constructor(params: Iterable<Trainable>, opts: AdamOptions = {}) {
    super(params, { ...opts, weightDecay: opts.weightDecay ?? 1e-2 });
    this.decoupled = true;
  }
}

export interface RMSpropOptions {
  lr?: number;
  /** Smoothing constant (PyTorch `alpha`, Keras `rho`). */
  alpha?: number;
  eps?: number;
  weightDecay?: number;
  momentum?: number;
  centered?: boolean;
  /** Keras/TF placement: √(v + eps) instead of √v + eps. */
  epsilonInsideSqrt?: boolean;
}

/** torch.optim.RMSprop. */
export class RMSprop extends Optimizer {
  readonly alpha: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly momentum: number;
  readonly centered: boolean;
  readonly epsilonInsideSqrt: boolean;

  constructor(params: Iterable<Trainable>, opts: RMSpropOptions = {}) {
    super(params, opts.lr ?? 1e-2);
    this.alpha = opts.alpha ?? 0.99;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    this.momentum = opts.momentum ?? 0;
    this.centered = opts.centered ?? false;
    this.epsilonInsideSqrt = opts.epsilonInsideSqrt ?? false;
  }

  protected hyper(): Record<string, number | boolean | readonly number[]> {
    return { lr: this.lr, alpha: this.alpha, eps: this.eps, weight_decay: this.weightDecay, momentum: this.momentum, centered: this.centered };
  }

  protected update(w: Floats, g: Floats, _s: Record<string, Float64Array | number>, buf: (name: string) => Float64Array): void {
    const v = buf('square_avg');
    const ga = this.centered ? buf('grad_avg') : undefined;
    const mb = this.momentum ? buf('momentum_buffer') : undefined;
    for (let i = 0; i < w.length; i++) {
      let d = g[i]!;
      if (this.weightDecay) d += this.weightDecay * w[i]!;
      v[i] = this.alpha * v[i]! + (1 - this.alpha) * d * d;
      let msq = v[i]!;
      if (ga) {
        ga[i] = this.alpha * ga[i]! + (1 - this.alpha) * d;
        msq -= ga[i]! * ga[i]!;
      }
      const avg = this.epsilonInsideSqrt ? Math.sqrt(msq + this.eps) : Math.sqrt(msq) + this.eps;
      if (mb) {
        mb[i] = this.momentum * mb[i]! + d / avg;
        w[i] = w[i]! - this.lr * mb[i]!;
      } else w[i] = w[i]! - (this.lr * d) / avg;
    }
  }
}

export interface AdagradOptions {
  lr?: number;
  lrDecay?: number;
  weightDecay?: number;
  initialAccumulatorValue?: number;
  eps?: number;
}

/** torch.optim.Adagrad. */
export class Adagrad extends Optimizer {
  readonly lrDecay: number;
  readonly weightDecay: number;
  readonly initialAccumulatorValue: number;
  readonly eps: number;

  constructor(params: Iterable<Trainable>, opts: AdagradOptions = {}) {
    super(params, opts.lr ?? 1e-2);
    this.lrDecay = opts.lrDecay ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.initialAccumulatorValue = opts.initialAccumulatorValue ?? 0;
    this.eps = opts.eps ?? 1e-10;
  }

  protected hyper(): Record<string, number | boolean | readonly number[]> {
    return { lr: this.lr, lr_decay: this.lrDecay, weight_decay: this.weightDecay, initial_accumulator_value: this.initialAccumulatorValue, eps: this.eps };
  }

  protected update(w: Floats, g: Floats, s: Record<string, Float64Array | number>, buf: (name: string, init?: number) => Float64Array): void {
    const sum = buf('sum', this.initialAccumulatorValue);
    const clr = this.lr / (1 + ((s.step as number) - 1) * this.lrDecay);
    for (let i = 0; i < w.length; i++) {
      let d = g[i]!;
      if (this.weightDecay) d += this.weightDecay * w[i]!;
      sum[i] = sum[i]! + d * d;
      w[i] = w[i]! - (clr * d) / (Math.sqrt(sum[i]!) + this.eps);
    }
  }
}

/** Keras (tf.keras 2.x) defaults for each optimizer, as options for the classes above. */
export const kerasDefaults = {
  sgd: (): SGDOptions => ({ lr: 0.01, momentum: 0 }),
  adam: (): AdamOptions => ({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-7, epsilonHat: true }),
  adamw: (): AdamOptions => ({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-7, epsilonHat: true, weightDecay: 4e-3 }),
  rmsprop: (): RMSpropOptions => ({ lr: 1e-3, alpha: 0.9, eps: 1e-7, epsilonInsideSqrt: true }),
  adagrad: (): AdagradOptions => ({ lr: 1e-3, initialAccumulatorValue: 0.1, eps: 1e-7 }),
};

/** torch.nn.utils.clip_grad_norm_: scale all gradients so their joint norm is ≤ maxNorm; returns the norm before. */
export function clipGradNorm(params: Iterable<Trainable>, maxNorm: number, normType = 2): number {
  const gs = [...params].filter((p) => p.grad).map((p) => floats(p.grad!, 'a gradient'));
  let total = 0;
  if (normType === Infinity) for (const g of gs) for (let i = 0; i < g.length; i++) total = Math.max(total, Math.abs(g[i]!));
  else {
    for (const g of gs) for (let i = 0; i < g.length; i++) total += Math.abs(g[i]!) ** normType;
    total = total ** (1 / normType);
  }
  const coef = maxNorm / (total + 1e-6);
  if (coef < 1) for (const g of gs) for (let i = 0; i < g.length; i++) g[i] = g[i]! * coef;
  return total;
}

/** torch.nn.utils.clip_grad_value_: clamp every gradient element into [-clip, clip]. */
export function clipGradValue(params: Iterable<Trainable>, clip: number): void {
  for (const p of params) {
    if (!p.grad) continue;
    const g = floats(p.grad, 'a gradient');
    for (let i = 0; i < g.length; i++) g[i] = Math.min(clip, Math.max(-clip, g[i]!));
  }
}
