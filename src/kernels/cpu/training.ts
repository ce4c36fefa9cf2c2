/**
 * CPU kernels of the `ai.onnx.preview.training` optimizer ops: Adagrad, Momentum (standard and
 * Nesterov) and Adam, each updating n tensors at once. Inputs are R (learning rate scalar),
 * T (int64 update count), then the n parameters, n gradients and the n (or 2n) state tensors;
 * outputs are the new parameters followed by the new states, exactly as the spec lists them.
 * Spec: https://onnx.ai/onnx/operators/onnx_aionnxpreviewtraining_Adagrad.html (and _Momentum, _Adam)
 */
import { RosettaError } from '../../ir/errors.js';
import { Tensor } from '../../ir/tensor.js';
import type { Value } from '../../runtime/value.js';
import type { KernelContext, KernelTable } from './kernel.js';
import { dtypeError, tensorIn } from './util.js';

/** Split the inputs after R and T into `groups` lists of n tensors each. */
function groupsOf(inputs: readonly (Value | undefined)[], groups: number, ctx: KernelContext): { r: number; t: number; lists: Tensor[][] } {
  const rest = inputs.length - 2;
  if (rest <= 0 || rest % groups !== 0) {
    throw new RosettaError('E_INVALID_GRAPH', `${ctx.node.opType} needs R, T and ${groups} equal groups of tensors, got ${inputs.length} inputs`, { where: { node: ctx.node.name } });
  }
  const n = rest / groups;
  const r = tensorIn(inputs, 0, ctx);
  const t = tensorIn(inputs, 1, ctx);
  if (r.size !== 1 || t.size !== 1) throw new RosettaError('E_SHAPE_MISMATCH', `${ctx.node.opType}: R and T must be scalars`, { where: { node: ctx.node.name } });
  const lists: Tensor[][] = [];
  for (let g = 0; g < groups; g++) {
    const list: Tensor[] = [];
    for (let i = 0; i < n; i++) {
      const x = tensorIn(inputs, 2 + g * n + i, ctx);
      if (x.dtype !== 'float32' && x.dtype !== 'float64') throw dtypeError(ctx, x.dtype);
      if (g > 0 && x.size !== lists[0]![i]!.size) throw new RosettaError('E_SHAPE_MISMATCH', `${ctx.node.opType}: tensor ${i} of group ${g} has ${x.size} elements, its parameter ${lists[0]![i]!.size}`, { where: { node: ctx.node.name } });
      list.push(x);
    }
    lists.push(list);
  }
  return { r: r.get(0), t: t.get(0), lists };
}

/** A fresh tensor like `like` from float64 values (rounded to the dtype on store). */
function like(t: Tensor, values: Float64Array): Tensor {
  return new Tensor(t.dtype, t.shape, t.dtype === 'float64' ? values : Float32Array.from(values));
}

export const trainingKernels: KernelTable = {
  'ai.onnx.preview.training.Adagrad': (inputs, ctx) => {
    const { r, t, lists } = groupsOf(inputs, 3, ctx);
    const decay = ctx.attrs.float('decay_factor', 0);
    const eps = ctx.attrs.float('epsilon', 1e-6);
    const norm = ctx.attrs.float('norm_coefficient', 0);
    const rate = r / (1 + t * decay);
    const xs: Tensor[] = [];
    const hs: Tensor[] = [];
    lists[0]!.forEach((x, i) => {
      const g = lists[1]![i]!;
      const h = lists[2]![i]!;
      const xn = new Float64Array(x.size);
      const hn = new Float64Array(x.size);
      for (let k = 0; k < x.size; k++) {
        const gr = norm * x.get(k) + g.get(k);
        hn[k] = h.get(k) + gr * gr;
        xn[k] = x.get(k) - (rate * gr) / (Math.sqrt(hn[k]!) + eps);
      }
      xs.push(like(x, xn));
      hs.push(like(h, hn));
    });
    return [...xs, ...hs];
  },
  'ai.onnx.preview.training.Momentum': (inputs, ctx) => {
    const { r, t, lists } = groupsOf(inputs, 3, ctx);
    const alpha = ctx.attrs.float('alpha');
    const beta = ctx.attrs.float('beta');
    const mode = ctx.attrs.string('mode');
    const norm = ctx.attrs.float('norm_coefficient');
    if (mode !== 'standard' && mode !== 'nesterov') throw new RosettaError('E_INVALID_ATTR', `Momentum mode must be 'standard' or 'nesterov', got '${mode}'`, { where: { node: ctx.node.name } });
    const betaAdj = t > 0 ? beta : 1;
    const xs: Tensor[] = [];
    const vs: Tensor[] = [];
    lists[0]!.forEach((x, i) => {
      const g = lists[1]![i]!;
      const v = lists[2]![i]!;
      const xn = new Float64Array(x.size);
      const vn = new Float64Array(x.size);
      for (let k = 0; k < x.size; k++) {
        const gr = norm * x.get(k) + g.get(k);
        vn[k] = alpha * v.get(k) + betaAdj * gr;
        xn[k] = x.get(k) - r * (mode === 'standard' ? vn[k]! : gr + alpha * vn[k]!);
      }
      xs.push(like(x, xn));
      vs.push(like(v, vn));
    });
    return [...xs, ...vs];
  },
  'ai.onnx.preview.training.Adam': (inputs, ctx) => {
    const { r, t, lists } = groupsOf(inputs, 4, ctx);
    const alpha = ctx.attrs.float('alpha', 0.9);
    const beta = ctx.attrs.float('beta', 0.999);
    const eps = ctx.attrs.float('epsilon', 1e-6);
    const norm = ctx.attrs.float('norm_coefficient', 0);
    const normPost = ctx.attrs.float('norm_coefficient_post', 0);
    const rAdj = t > 0 ? (r * Math.sqrt(1 - beta ** t)) / (1 - alpha ** t) : r;
    const xs: Tensor[] = [];
    const vs: Tensor[] = [];
    const hs: Tensor[] = [];
    lists[0]!.forEach((x, i) => {
      const g = lists[1]![i]!;
      const v = lists[2]![i]!;
      const h = lists[3]![i]!;
      const xn = new Float64Array(x.size);
      const vn = new Float64Array(x.size);
      const hn = new Float64Array(x.size);
      for (let k = 0; k < x.size; k++) {
        const gr = norm * x.get(k) + g.get(k);
        vn[k] = alpha * v.get(k) + (1 - alpha) * gr;
        hn[k] = beta * h.get(k) + (1 - beta) * gr * gr;
        xn[k] = (1 - normPost) * (x.get(k) - (rAdj * vn[k]!) / (Math.sqrt(hn[k]!) + eps));
      }
      xs.push(like(x, xn));
      vs.push(like(v, vn));
      hs.push(like(h, hn));
    });
    return [...xs, ...vs, ...hs];
  },
};
