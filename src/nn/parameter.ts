/**
 * Parameters and buffers of `src/nn` modules, and PyTorch's default initialisers.
 *
 * A parameter's `data` tensor is updated *in place* by optimizers and `loadStateDict`, so graphs
 * cached by `Module.run` (whose initializers are these very tensors) always see current weights.
 * Initial values follow PyTorch's distributions (kaiming-uniform with a = sqrt(5) for weights,
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for biases, N(0, 1) for embeddings) from a seeded generator;
 * they cannot equal PyTorch's numbers (different RNG), so fixtures load PyTorch's state dicts.
 */
import type { DType } from '../ir/dtype.js';
import { RosettaError } from '../ir/errors.js';
import { Tensor } from '../ir/tensor.js';
import { seededRandom } from '../runtime/session.js';

/** A learnable tensor with its gradient. */
export class Parameter {
  /** Gradient accumulated by `backward()`; null after `zeroGrad()`. */
  grad: Tensor | null = null;
  /** Set by the owning module tree: the state-dict key (`features.0.weight`). */
  key = '';

  constructor(
    public data: Tensor,
    /** False freezes the parameter: no gradient, optimizers skip it. */
    public requiresGrad = true,
  ) {}

  get shape(): readonly number[] {
    return this.data.shape;
  }

  /** grad += g (allocates on first use), as repeated backward() calls do in PyTorch. */
  accumulateGrad(g: Tensor): void {
    if (g.size !== this.data.size) throw new RosettaError('E_INTERNAL', `gradient of ${this.key} has ${g.size} elements, expected ${this.data.size}`);
    if (!this.grad) {
      this.grad = new Tensor(this.data.dtype, this.data.shape, (g.data as Float32Array).slice());
      return;
    }
    const a = this.grad.data as Float32Array;
    const b = g.data as Float32Array;
    for (let i = 0; i < a.length; i++) a[i]! += b[i]!;
  }

  /** Copy `t`'s values into `data` in place (shapes must match). */
  copyFrom(t: Tensor): void {
    const numeric = (d: string): boolean => d !== 'string' && d !== 'complex64' && d !== 'complex128';
    if (!numeric(t.dtype) || !numeric(this.data.dtype)) {
      throw new RosettaError('E_DTYPE_MISMATCH', `cannot load a ${t.dtype} tensor into ${this.key || 'a parameter'} (${this.data.dtype})`, { hint: 'the checkpoint holds a different kind of value under this key' });
    }
    if (t.size !== this.data.size) throw new RosettaError('E_SHAPE_MISMATCH', `cannot copy ${t.size} values into ${this.key} of shape [${this.data.shape.join(', ')}]`);
    const dst = this.data.data as unknown as { [i: number]: number | bigint; length: number };
    if (t.dtype === this.data.dtype) {
      (dst as unknown as Float32Array).set(t.data as Float32Array);
      return;
    }
    const big = this.data.dtype === 'int64' || this.data.dtype === 'uint64';
    for (let i = 0; i < dst.length; i++) dst[i] = big ? BigInt(Math.trunc(t.get(i))) : t.get(i);
  }
}

/** A non-learnable tensor saved in the state dict (running statistics, counters). */
export class Buffer extends Parameter {
  constructor(data: Tensor) {
    super(data, false);
  }
}

let rng = seededRandom(0);

/** Seed the generator used for default initialisation (like torch.manual_seed for init). */
export function initSeed(seed: number): void {
  rng = seededRandom(seed);
}

export function uniform(shape: readonly number[], bound: number, dtype: DType = 'float32'): Tensor {
  const t = new Tensor(dtype, shape);
  const d = t.data as Float32Array;
  for (let i = 0; i < d.length; i++) d[i] = (rng() * 2 - 1) * bound;
  return t;
}

export function normal(shape: readonly number[], std = 1, dtype: DType = 'float32'): Tensor {
  const t = new Tensor(dtype, shape);
  const d = t.data as Float32Array;
  for (let i = 0; i < d.length; i++) {
    // Box-Muller
    const u = Math.max(rng(), 1e-12);
    d[i] = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
  }
  return t;
}

export function fill(shape: readonly number[], v: number, dtype: DType = 'float32'): Tensor {
  const t = new Tensor(dtype, shape);
  (t.data as Float32Array).fill(v);
  return t;
}

/** PyTorch's default for Linear/Conv: weight kaiming_uniform(a=sqrt(5)) = U(±1/sqrt(fan_in)), bias the same bound. */
export function defaultWeight(shape: readonly number[], fanIn: number): Parameter {
  return new Parameter(uniform(shape, fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0));
}
