/**
 * CPU kernels: random generators (RandomNormal, RandomUniform, their *Like forms, Multinomial,
 * Bernoulli). They draw from the session's seeded source (`ctx.random`), or from a generator
 * seeded by the node's `seed` attribute when present, so a run is reproducible. No two frameworks
 * produce the same stream, so their conformance cases are excluded (with the reason, in
 * test/conformance/exclusions.json); test/ops/misc.test.ts checks shapes, dtypes and
 * distribution moments instead.
 * Spec: https://onnx.ai/onnx/operators/onnx__RandomNormal.html, …/onnx__Multinomial.html,
 * …/onnx__Bernoulli.html.
 */
import { type DType, isFloatDType } from '../../ir/dtype.js';
import { RosettaError } from '../../ir/errors.js';
import { float32Bits } from '../../ir/float-bits.js';
import { setElement, type Tensor } from '../../ir/tensor.js';
import { seededRandom } from '../../runtime/session.js';
import type { Value } from '../../runtime/value.js';
import { newTensor } from './copy.js';
import type { KernelContext, KernelTable } from './kernel.js';
import { dtypeAttr } from './shape.js';
import { dtypeError, tensorIn } from './util.js';

/** The node's own generator when it has a `seed` (the float's bits seed it), else the session's. */
function source(ctx: KernelContext): () => number {
  return ctx.attrs.has('seed') ? seededRandom(float32Bits(ctx.attrs.float('seed'))) : ctx.random;
}

/** Standard normal draws by Box–Muller (u1 kept away from 0 so log stays finite). */
function normal(rand: () => number): number {
  const u1 = 1 - rand();
  const u2 = rand();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

function floatOut(ctx: KernelContext, dtype: DType): void {
  if (!isFloatDType(dtype)) throw dtypeError(ctx, dtype);
}

function fill(dtype: DType, shape: readonly number[], draw: () => number): Tensor {
  const out = newTensor(dtype, shape);
  const n = out.size;
  if (dtype === 'float32' || dtype === 'float64') {
    const d = out.data as Float32Array | Float64Array;
    for (let i = 0; i < n; i++) d[i] = draw();
  } else for (let i = 0; i < n; i++) setElement(out, i, draw());
  return out;
}

function shapeAttr(ctx: KernelContext): number[] {
  const shape = ctx.attrs.ints('shape');
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new RosettaError('E_INVALID_ATTR', `${ctx.node.opType} shape [${shape.join(', ')}] is invalid`, { where: { node: ctx.node.name } });
  return shape;
}

function normalDraw(ctx: KernelContext): () => number {
  const rand = source(ctx);
  const mean = ctx.attrs.float('mean', 0);
  const scale = ctx.attrs.float('scale', 1);
  return () => mean + scale * normal(rand);
}

function uniformDraw(ctx: KernelContext): () => number {
  const rand = source(ctx);
  const low = ctx.attrs.float('low', 0);
  const high = ctx.attrs.float('high', 1);
  return () => low + (high - low) * rand();
}

function RandomNormal(_inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const dtype = dtypeAttr(ctx, 'dtype', 'float32');
  floatOut(ctx, dtype);
  return [fill(dtype, shapeAttr(ctx), normalDraw(ctx))];
}

function RandomUniform(_inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const dtype = dtypeAttr(ctx, 'dtype', 'float32');
  floatOut(ctx, dtype);
  return [fill(dtype, shapeAttr(ctx), uniformDraw(ctx))];
}

function RandomNormalLike(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const dtype = dtypeAttr(ctx, 'dtype', x.dtype);
  floatOut(ctx, dtype);
  return [fill(dtype, x.shape, normalDraw(ctx))];
}

function RandomUniformLike(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const dtype = dtypeAttr(ctx, 'dtype', x.dtype);
  floatOut(ctx, dtype);
  return [fill(dtype, x.shape, uniformDraw(ctx))];
}

/** Samples class indices from unnormalised log-probabilities, one row per batch entry. */
function Multinomial(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  if (!isFloatDType(x.dtype)) throw dtypeError(ctx, x.dtype);
  if (x.rank !== 2) throw new RosettaError('E_SHAPE_MISMATCH', `Multinomial input must be [batch, classes], got [${x.shape.join(', ')}]`, { where: { node: ctx.node.name } });
  const dtype = dtypeAttr(ctx, 'dtype', 'int32');
  if (dtype !== 'int32' && dtype !== 'int64') throw dtypeError(ctx, dtype);
  const samples = ctx.attrs.int('sample_size', 1);
  if (samples < 0) throw new RosettaError('E_INVALID_ATTR', `Multinomial sample_size ${samples} is negative`, { where: { node: ctx.node.name } });
  const rand = source(ctx);
  const [batch, classes] = x.shape as [number, number];
  const out = newTensor(dtype, [batch, samples]);
  const logits = x.toNumbers();
  const cdf = new Float64Array(classes);
  for (let b = 0; b < batch; b++) {
    let max = -Infinity;
    for (let k = 0; k < classes; k++) max = Math.max(max, logits[b * classes + k]!);
    let acc = 0;
    for (let k = 0; k < classes; k++) {
      acc += Math.exp(logits[b * classes + k]! - max);
      cdf[k] = acc;
    }
    for (let s = 0; s < samples; s++) {
      const u = rand() * acc;
      let k = 0;
      while (k < classes - 1 && cdf[k]! <= u) k++;
      setElement(out, b * samples + s, k);
    }
  }
  return [out];
}

function Bernoulli(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  if (!isFloatDType(x.dtype)) throw dtypeError(ctx, x.dtype);
  const dtype = dtypeAttr(ctx, 'dtype', x.dtype);
  const rand = source(ctx);
  const p = x.toNumbers();
  const out = newTensor(dtype, x.shape);
  for (let i = 0; i < p.length; i++) setElement(out, i, rand() < p[i]! ? 1 : 0);
  return [out];
}

export const randomKernels: KernelTable = {
  RandomNormal,
  RandomUniform,
  RandomNormalLike,
  RandomUniformLike,
  Multinomial,
  Bernoulli,
};
