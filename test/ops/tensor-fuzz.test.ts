/**
 * Hostile-input sweep for the shape, indexing, sequence, signal, text and random kernels: seeded
 * random inputs (ranks 0–3, dims 0–3, every storage kind, indices and sizes from small to ±2^62)
 * and random attributes. Each call must either return tensors of a sane size or throw a
 * RosettaError: never a TypeError/RangeError, never a hang. (Values are not checked here;
 * tensor.test.ts and the conformance suite do that.)
 */
import { describe, expect, it } from 'vitest';
import type { DType } from '../../src/ir/dtype.js';
import { isRosettaError } from '../../src/ir/errors.js';
import type { Attr } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import type { Value } from '../../src/runtime/value.js';
import { runOp } from './tensor-goldens.js';

let seed = 987654321;
const rnd = (n: number): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed >>> 8) % n;
};
const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)]!;

const DTYPES: DType[] = ['float32', 'int64', 'int32', 'string', 'bool', 'float16', 'float64', 'uint8'];
const BIG = [0, 1, -1, 2, 3, -2, 5, 2 ** 31, -(2 ** 31), 2 ** 62, -(2 ** 62)];

function randTensor(dtype: DType = pick(DTYPES), rank = rnd(4)): Tensor {
  const shape = Array.from({ length: rank }, () => rnd(4));
  const t = new Tensor(dtype, shape);
  for (let i = 0; i < t.size; i++) {
    const v = rnd(4) === 0 ? pick(BIG) : rnd(7) - 3;
    const d = t.data as unknown as Record<number, unknown>;
    if (dtype === 'string') d[i] = `w${v}`;
    else if (dtype === 'int64') d[i] = BigInt(v);
    else if (dtype === 'bool') d[i] = v ? 1 : 0;
    else if (dtype === 'float16') d[i] = rnd(0x10000);
    else d[i] = v;
  }
  return t;
}
const intTensor = (): Tensor => randTensor(pick(['int64', 'int32']), rnd(2));
const scalar = (): Tensor => randTensor(pick(['int64', 'int32', 'float32']), 0);

function randAttr(): Attr {
  switch (rnd(4)) {
    case 0:
      return { type: 'int', value: pick(BIG) };
    case 1:
      return { type: 'int', value: rnd(7) - 3 };
    case 2:
      return { type: 'ints', value: Array.from({ length: rnd(4) }, () => rnd(7) - 3) };
    default:
      return { type: 'string', value: pick(['constant', 'reflect', 'edge', 'wrap', 'DCR', 'CRD', 'add', 'max', 'TF', 'UPPER', 'bogus']) };
  }
}

const ATTRS = ['axis', 'perm', 'allowzero', 'num_outputs', 'mode', 'start', 'end', 'blocksize', 'batch_dims', 'reduction', 'sorted', 'upper', 'k', 'dtype', 'batch_axis', 'time_axis', 'keepdims', 'new_axis', 'onesided', 'inverse', 'periodic', 'output_datatype', 'sample_size', 'axes', 'case_change_action', 'is_case_sensitive'];

/** Input recipes per op: a generator of plausible-but-random inputs. */
const OPS: Record<string, () => (Value | undefined)[]> = {
  Reshape: () => [randTensor(), intTensor()],
  Transpose: () => [randTensor()],
  Concat: () => {
    const t = randTensor();
    return [t, rnd(3) ? t : randTensor()];
  },
  Split: () => [randTensor(), rnd(2) ? intTensor() : undefined],
  Slice: () => [randTensor(), intTensor(), intTensor(), rnd(2) ? intTensor() : undefined, rnd(2) ? intTensor() : undefined],
  Squeeze: () => [randTensor(), rnd(2) ? intTensor() : undefined],
  Unsqueeze: () => [randTensor(), intTensor()],
  Flatten: () => [randTensor()],
  Shape: () => [randTensor()],
  Size: () => [randTensor()],
  Expand: () => [randTensor(), intTensor()],
  Tile: () => [randTensor(), intTensor()],
  Pad: () => {
    const x = randTensor();
    const pads = rnd(2) ? intTensor() : Tensor.from('int64', [2 * x.rank], Array.from({ length: 2 * x.rank }, () => BigInt(rnd(5) - 1)));
    return [x, pads, rnd(2) ? randTensor(x.dtype, 0) : undefined, rnd(4) ? undefined : intTensor()];
  },
  CenterCropPad: () => [randTensor(), intTensor()],
  DepthToSpace: () => [randTensor(undefined, 4)],
  SpaceToDepth: () => [randTensor(undefined, 4)],
  ConstantOfShape: () => [intTensor()],
  EyeLike: () => [randTensor()],
  // Small operands only: Range's size limit (E_TOO_LARGE) is checked in tensor.test.ts, and a
  // legal 2^31-element range would only make this sweep slow.
  Range: () => {
    const dt = pick(['int64', 'int32', 'float32'] as DType[]);
    const s = (): Tensor => (rnd(4) ? Tensor.scalar(dt, dt === 'int64' ? BigInt(rnd(11) - 5) : rnd(11) - 5) : scalar());
    return [s(), s(), s()];
  },
  Trilu: () => [randTensor(), rnd(2) ? scalar() : undefined],
  Gather: () => [randTensor(), intTensor()],
  GatherElements: () => [randTensor(), randTensor('int64')],
  GatherND: () => [randTensor(), randTensor('int64')],
  ScatterElements: () => {
    const x = randTensor('float32');
    return [x, rnd(2) ? new Tensor('int64', x.shape) : randTensor('int64'), rnd(2) ? x : randTensor('float32')];
  },
  ScatterND: () => {
    if (rnd(2)) return [randTensor('int64'), randTensor('int64'), randTensor('int64')];
    const x = randTensor('int64', 1 + rnd(3));
    const k = rnd(3);
    return [x, new Tensor('int64', [k, 1]), new Tensor('int64', [k, ...x.shape.slice(1)])];
  },
  OneHot: () => [randTensor('int64'), scalar(), randTensor('float32', 1)],
  NonZero: () => [randTensor()],
  Unique: () => [randTensor()],
  Compress: () => [randTensor(), randTensor('bool', 1)],
  ReverseSequence: () => [randTensor(), intTensor()],
  SplitToSequence: () => [randTensor(), rnd(2) ? intTensor() : undefined],
  SequenceAt: () => [{ kind: 'sequence', elemDType: 'float32', items: [randTensor('float32'), randTensor('float32')] }, scalar()],
  SequenceErase: () => [{ kind: 'sequence', items: rnd(2) ? [] : [randTensor('float32')] }, rnd(2) ? scalar() : undefined],
  SequenceInsert: () => [{ kind: 'sequence', elemDType: 'float32', items: [] }, randTensor(), rnd(2) ? scalar() : undefined],
  ConcatFromSequence: () => {
    const t = randTensor('float32', 1 + rnd(3));
    return [{ kind: 'sequence', items: [t, rnd(3) ? t : randTensor('float32')] }];
  },
  DFT: () => [randTensor('float32'), rnd(2) ? scalar() : undefined],
  STFT: () =>
    rnd(2)
      ? [randTensor('float32', 3), scalar(), undefined, rnd(2) ? scalar() : undefined]
      : [new Tensor('float32', [1 + rnd(2), 4 + rnd(9), 1 + rnd(2)]), Tensor.scalar('int64', BigInt(1 + rnd(3))), undefined, Tensor.scalar('int64', BigInt(1 + rnd(4)))],
  HannWindow: () => [scalar()],
  MelWeightMatrix: () =>
    rnd(2)
      ? [scalar(), scalar(), scalar(), scalar(), scalar()]
      : [Tensor.scalar('int64', BigInt(1 + rnd(9))), Tensor.scalar('int64', BigInt(rnd(40))), Tensor.scalar('int32', 8000), Tensor.scalar('float32', rnd(50)), Tensor.scalar('float32', 100 + rnd(4000))],
  StringNormalizer: () => [randTensor('string', 1 + rnd(2))],
  TfIdfVectorizer: () => [randTensor('int64', 1 + rnd(2))],
  Multinomial: () => [randTensor('float32', 2)],
  Bernoulli: () => [randTensor()],
  RandomUniformLike: () => [randTensor()],
};

describe('kernels given random hostile inputs return or throw RosettaError', () => {
  it.each(Object.keys(OPS))('%s', async (op) => {
    let ok = 0;
    for (let trial = 0; trial < 150; trial++) {
      const inputs = OPS[op]!();
      const attrs: Record<string, Attr> = {};
      for (const name of ATTRS) if (rnd(3) === 0) attrs[name] = randAttr();
      if (rnd(2)) attrs.axis = { type: 'int', value: rnd(3) - 1 };
      if (op === 'TfIdfVectorizer' && rnd(2)) Object.assign(attrs, { mode: { type: 'string', value: 'TF' }, min_gram_length: { type: 'int', value: 1 }, max_gram_length: { type: 'int', value: 2 }, max_skip_count: { type: 'int', value: rnd(3) }, ngram_counts: { type: 'ints', value: [0, 2] }, ngram_indexes: { type: 'ints', value: [0, 1, 2] }, pool_int64s: { type: 'ints', value: [1, 2, 1, 2] } });
      try {
        const outs = await runOp(op, attrs, inputs, 4);
        for (const o of outs) if (o instanceof Tensor) expect(o.size).toBeLessThan(1e7);
        ok++;
      } catch (e) {
        if (!isRosettaError(e)) throw new Error(`${op} threw ${(e as Error).name}: ${(e as Error).message} for attrs ${JSON.stringify(attrs)} inputs ${inputs.map((v) => (v instanceof Tensor ? `${v.dtype}[${v.shape}]` : String(v && 'kind' in v ? v.kind : v))).join(' ')}`);
      }
    }
    // Some random cases must be valid, or the sweep tests nothing but argument checks.
    expect(ok, `${op}: valid random cases`).toBeGreaterThan(0);
  });
});
