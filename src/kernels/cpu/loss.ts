/**
 * CPU kernels: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (opset 13).
 *
 * Both take class scores of shape [N, C, d1…dk] and integer targets of shape [N, d1…dk], an
 * optional per-class `weight`, `reduction` ∈ {none, sum, mean} (default mean) and an optional
 * `ignore_index` whose positions contribute nothing (and no weight to the mean's denominator).
 * The weighted mean divides by the sum of the weights actually used, as the spec says.
 * SoftmaxCrossEntropyLoss also returns the log-probabilities (log_softmax over axis 1).
 * Spec: https://onnx.ai/onnx/operators/onnx__NegativeLogLikelihoodLoss.html,
 *       https://onnx.ai/onnx/operators/onnx__SoftmaxCrossEntropyLoss.html
 */
import { isFloatDType } from '../../ir/dtype.js';
import { RosettaError } from '../../ir/errors.js';
import { Tensor, sizeOf } from '../../ir/tensor.js';
import { finish, numbersOf, workArray, type NumArray } from './elementwise-core.js';
import type { CpuKernel, KernelContext, KernelTable } from './kernel.js';
import { dtypeError, optTensorIn, tensorIn, toNumbers } from './util.js';

/**
 * NLL on log-probabilities `logp` laid out [N, C, D] (D = product of the extra dims): returns
 * the loss tensor in `dtype` (shape [N, d…] for reduction none, a scalar otherwise).
 */
function nll(logp: ArrayLike<number>, scoresShape: readonly number[], target: Tensor, weight: Tensor | undefined, dtype: Tensor['dtype'], ctx: KernelContext): Tensor {
  if (scoresShape.length < 2) throw new RosettaError('E_SHAPE_MISMATCH', `${ctx.node.opType} input must be [N, C, ...], got [${scoresShape.join(', ')}]`, { where: { node: ctx.node.name } });
  const N = scoresShape[0]!;
  const C = scoresShape[1]!;
  const extra = scoresShape.slice(2);
  const D = sizeOf(extra);
  const expectTarget = [N, ...extra];
  if (target.rank !== expectTarget.length || target.shape.some((d, i) => d !== expectTarget[i])) {
    throw new RosettaError('E_SHAPE_MISMATCH', `${ctx.node.opType} target shape [${target.shape.join(', ')}] should be [${expectTarget.join(', ')}]`, { where: { node: ctx.node.name } });
  }
  if (target.dtype !== 'int32' && target.dtype !== 'int64') throw dtypeError(ctx, target.dtype);
  const w = weight ? numbersOf(weight, ctx) : undefined;
  if (w && w.length !== C) throw new RosettaError('E_SHAPE_MISMATCH', `${ctx.node.opType} weight has ${w.length} entries for ${C} classes`, { where: { node: ctx.node.name } });
  const reduction = ctx.attrs.string('reduction', 'mean');
  if (reduction !== 'none' && reduction !== 'sum' && reduction !== 'mean') {
    throw new RosettaError('E_INVALID_ATTR', `${ctx.node.opType} reduction must be none, sum or mean, got '${reduction}'`, { where: { node: ctx.node.name } });
  }
  const hasIgnore = ctx.attrs.has('ignore_index');
  const ignore = hasIgnore ? ctx.attrs.int('ignore_index') : 0;
  const t = toNumbers(target);
  const loss = new Float64Array(N * D);
  let wsum = 0;
  for (let n = 0; n < N; n++) {
    for (let d = 0; d < D; d++) {
      const i = n * D + d;
      const c = t[i]!;
      if (hasIgnore && c === ignore) continue;
      if (!Number.isInteger(c) || c < 0 || c >= C) {
        throw new RosettaError('E_SHAPE_MISMATCH', `${ctx.node.opType} target value ${c} at index ${i} is outside [0, ${C})`, { where: { node: ctx.node.name }, hint: 'Targets must be class indices (or equal ignore_index)' });
      }
      const wc = w ? w[c]! : 1;
      loss[i] = -logp[(n * C + c) * D + d]! * wc;
      wsum += wc;
    }
  }
  if (reduction === 'none') {
    const o = workArray(dtype, loss.length) as NumArray;
    for (let i = 0; i < loss.length; i++) o[i] = loss[i]!;
    return finish(dtype, expectTarget, o);
  }
  let s = 0;
  for (let i = 0; i < loss.length; i++) s += loss[i]!;
  if (reduction === 'mean') s /= wsum;
  const o = workArray(dtype, 1) as NumArray;
  o[0] = s;
  return finish(dtype, [], o);
}

const nllKernel: CpuKernel = (inputs, ctx) => {
  const x = tensorIn(inputs, 0, ctx);
  if (!isFloatDType(x.dtype)) throw dtypeError(ctx, x.dtype);
  return [nll(numbersOf(x, ctx), x.shape, tensorIn(inputs, 1, ctx), optTensorIn(inputs, 2), x.dtype, ctx)];
};

const sceKernel: CpuKernel = (inputs, ctx) => {
  const x = tensorIn(inputs, 0, ctx);
  if (!isFloatDType(x.dtype)) throw dtypeError(ctx, x.dtype);
  if (x.rank < 2) throw new RosettaError('E_SHAPE_MISMATCH', `SoftmaxCrossEntropyLoss scores must be [N, C, ...], got [${x.shape.join(', ')}]`, { where: { node: ctx.node.name } });
  const s = numbersOf(x, ctx);
  const N = x.shape[0]!;
  const C = x.shape[1]!;
  const D = sizeOf(x.shape.slice(2));
  // log_softmax over the class axis, max-subtracted for stability.
  const logp = new Float64Array(s.length);
  for (let n = 0; n < N; n++) {
    for (let d = 0; d < D; d++) {
      const base = n * C * D + d;
      let m = -Infinity;
      for (let c = 0; c < C; c++) m = Math.max(m, s[base + c * D]!);
      let sum = 0;
      for (let c = 0; c < C; c++) sum += Math.exp(s[base + c * D]! - m);
      const ls = Math.log(sum) + m;
      for (let c = 0; c < C; c++) logp[base + c * D] = s[base + c * D]! - ls;
    }
  }
  const loss = nll(logp, x.shape, tensorIn(inputs, 1, ctx), optTensorIn(inputs, 2), x.dtype, ctx);
  const lp = workArray(x.dtype, logp.length) as NumArray;
  for (let i = 0; i < logp.length; i++) lp[i] = logp[i]!;
  return [loss, finish(x.dtype, x.shape, lp)];
};

export const lossKernels: KernelTable = {
  NegativeLogLikelihoodLoss: nllKernel,
  SoftmaxCrossEntropyLoss: sceKernel,
};
