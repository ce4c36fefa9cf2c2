/**
 * `DataLoader`: mini-batches over tensors that share their first axis, with seeded shuffling
 * (a new permutation every epoch, reproducible from the seed) and optional drop of the last
 * incomplete batch. Mirrors torch.utils.data.DataLoader over a TensorDataset.
 */
import { RosettaError } from '../ir/errors.js';
import { Tensor } from '../ir/tensor.js';
import { seededRandom } from './session.js';

export interface DataLoaderOptions {
  batchSize?: number;
  shuffle?: boolean;
  seed?: number;
  dropLast?: boolean;
}

/** Rows `idx` of `t` along axis 0, copied into a new tensor. */
export function takeRows(t: Tensor, idx: readonly number[]): Tensor {
  const rowSize = t.shape.slice(1).reduce((a, b) => a * b, 1);
  const out = new Tensor(t.dtype, [idx.length, ...t.shape.slice(1)]);
  const src = t.data as unknown as { subarray(a: number, b: number): ArrayLike<unknown> } & ArrayLike<unknown>;
  const dst = out.data as unknown as { set(a: ArrayLike<unknown>, o: number): void };
  if (Array.isArray(t.data)) {
    idx.forEach((r, i) => {
      for (let k = 0; k < rowSize; k++) (out.data as string[])[i * rowSize + k] = (t.data as string[])[r * rowSize + k]!;
    });
    return out;
  }
  idx.forEach((r, i) => dst.set(src.subarray(r * rowSize, (r + 1) * rowSize), i * rowSize));
  return out;
}

export class DataLoader implements Iterable<Tensor[]> {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly length: number;
  private readonly random: () => number;

  constructor(
    readonly tensors: readonly Tensor[],
    opts: DataLoaderOptions = {},
  ) {
    if (tensors.length === 0) throw new RosettaError('E_USAGE', 'DataLoader needs at least one tensor');
    const n = tensors[0]!.shape[0] ?? 0;
    for (const t of tensors) if (t.shape[0] !== n) throw new RosettaError('E_SHAPE_MISMATCH', `DataLoader tensors disagree on the number of samples (${n} vs ${t.shape[0]})`);
    this.batchSize = opts.batchSize ?? 1;
    if (!(this.batchSize >= 1)) throw new RosettaError('E_USAGE', 'batchSize must be ≥ 1');
    this.shuffle = opts.shuffle ?? false;
    this.dropLast = opts.dropLast ?? false;
    this.random = seededRandom(opts.seed ?? 0);
    this.length = this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  get numSamples(): number {
    return this.tensors[0]!.shape[0] ?? 0;
  }

  /** One epoch of batches; each call to the iterator draws a fresh permutation when shuffling. */
  *[Symbol.iterator](): Iterator<Tensor[]> {
    const n = this.numSamples;
    const order = Array.from({ length: n }, (_, i) => i);
    if (this.shuffle) {
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(this.random() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
    }
    for (let b = 0; b < this.length; b++) {
      const idx = order.slice(b * this.batchSize, Math.min(n, (b + 1) * this.batchSize));
      yield this.tensors.map((t) => takeRows(t, idx));
    }
  }
}
