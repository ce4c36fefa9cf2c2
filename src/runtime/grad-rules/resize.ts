/**
 * Resize's gradient with respect to X (roi, scales and sizes are not differentiable). Resize is
 * separable and linear in X: along each axis, output coordinate i reads a few input positions with
 * fixed weights (1 tap for nearest, 2 for linear, 4 for cubic). The tables below follow the spec's
 * reference implementation step by step, including its float32 rounding of the coordinate
 * arithmetic (nearest decisions at .0/.5 boundaries depend on it), exactly as the forward CPU kernel
 * (src/kernels/cpu/resize.ts) does; the finite-difference tests run that kernel against this rule.
 * The gradient applies the transposed tables axis by axis (axis-map.ts).
 * Spec: https://onnx.ai/onnx/operators/onnx__Resize.html
 */
import { RosettaError } from '../../ir/errors.js';
import type { IrBuilder } from './builder.js';
import { axisAdjoint, isIdentityMap, type AxisMap } from './axis-map.js';
import type { GradRule } from './elementwise.js';
import { axisTaps, type ResizeOpts } from '../../kernels/cpu/resize.js';

/** The taps of one axis, from the forward kernel's own table; −1 marks tf_crop_and_resize's extrapolation (no input). */
function resizeAxisMap(inLen: number, outLen: number, scale: number, roiStart: number, roiEnd: number, o: ResizeOpts): AxisMap {
  const t = axisTaps(inLen, outLen, scale, roiStart, roiEnd, o, (m) => {
    throw new RosettaError('E_UNSUPPORTED_OP', `autograd: Resize with ${m}`);
  });
  return { inLen, outLen, n: t.n, idx: t.idx, w: t.w };
}

/** Per-axis scales as the forward computes them: from `scales`, or from `sizes` and the aspect-ratio policy. */
function resizeScales(b: IrBuilder, inputs: readonly string[], xs: readonly number[], axes: number[], policy: string, where: string): number[] {
  const scales = new Array<number>(xs.length).fill(1);
  const sizes = inputs[3] ? b.intValues(inputs[3]) : [];
  if (sizes.length > 0) {
    if (policy === 'stretch') {
      axes.forEach((ax, i) => (scales[ax] = sizes[i]! / xs[ax]!));
    } else {
      const ratios = axes.map((ax, i) => sizes[i]! / xs[ax]!);
      const s = policy === 'not_larger' ? Math.min(...ratios) : Math.max(...ratios);
      for (const ax of axes) scales[ax] = s;
    }
    return scales;
  }
  const sc = inputs[2] ? b.intValues(inputs[2]) : [];
  if (sc.length !== axes.length) throw new RosettaError('E_INTERNAL', `autograd: Resize has neither sizes nor scales for its ${axes.length} axes`, { where: { node: where } });
  axes.forEach((ax, i) => (scales[ax] = sc[i]!));
  return scales;
}

export const resizeRule: GradRule = (b, n, [g], a) => {
  const none = n.inputs.map(() => undefined);
  if (!g) return none;
  const x = n.inputs[0]!;
  const xs = b.shape(x);
  const ys = b.shape(n.outputs[0]!);
  const rank = xs.length;
  const axes = a.has('axes') ? a.ints('axes').map((v) => (v < 0 ? v + rank : v)) : xs.map((_, i) => i);
  const o: ResizeOpts = {
    mode: a.string('mode', 'nearest'),
    ctm: a.string('coordinate_transformation_mode', 'half_pixel'),
    nearestMode: a.string('nearest_mode', 'round_prefer_floor'),
    A: a.float('cubic_coeff_a', -0.75),
    excludeOutside: a.int('exclude_outside', 0) !== 0,
  };
  if (a.int('antialias', 0) !== 0 || !['nearest', 'linear', 'cubic'].includes(o.mode)) {
    throw new RosettaError('E_UNSUPPORTED_OP', `autograd: Resize mode '${o.mode}'${a.int('antialias', 0) ? ' with antialias' : ''} is not differentiable`, { where: { node: n.name } });
  }
  const scales = resizeScales(b, n.inputs, xs, axes, a.string('keep_aspect_ratio_policy', 'stretch'), n.name);
  const roi = n.inputs[1] && b.shape(n.inputs[1]).some((d) => d > 0) ? b.intValues(n.inputs[1]) : [];
  const roiStart = new Array<number>(rank).fill(0);
  const roiEnd = new Array<number>(rank).fill(1);
  if (roi.length === 2 * rank || roi.length === 2 * axes.length) {
    const list = roi.length === 2 * rank && roi.length !== 2 * axes.length ? xs.map((_, i) => i) : axes;
    list.forEach((ax, i) => {
      roiStart[ax] = roi[i]!;
      roiEnd[ax] = roi[i + list.length]!;
    });
  }
  const shape = ys.slice();
  let acc = g;
  // Same per-axis skip rule as the forward: an axis kept at scale 1 is not resampled.
  for (let d = rank - 1; d >= 0; d--) {
    if (xs[d] === ys[d] && scales[d] === 1 && o.ctm !== 'tf_crop_and_resize') continue;
    const m = resizeAxisMap(xs[d]!, ys[d]!, scales[d]!, roiStart[d]!, roiEnd[d]!, o);
    if (isIdentityMap(m)) continue;
    acc = axisAdjoint(b, acc, shape, d, m, b.dtypeOf(x));
    shape[d] = xs[d]!;
  }
  return [acc, ...none.slice(1)];
};
