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

interface ResizeOpts {
  mode: string;
  ctm: string;
  nearestMode: string;
  A: number;
  excludeOutside: boolean;
}

/** The four cubic convolution coefficients for fraction r (Keys, parameter A). */
export function cubicCoeffs(r: number, A: number): [number, number, number, number] {
  const r1 = r + 1;
  const r2 = 1 - r;
  const r3 = 2 - r;
  return [
    ((A * r1 - 5 * A) * r1 + 8 * A) * r1 - 4 * A,
    ((A + 2) * r - (A + 3)) * r * r + 1,
    ((A + 2) * r2 - (A + 3)) * r2 * r2 + 1,
    ((A * r3 - 5 * A) * r3 + 8 * A) * r3 - 4 * A,
  ];
}

/** Output coordinate → input coordinate (`outLen` is the unrounded resized length scale · inLen). */
function originalCoord(x: number, scale: number, inLen: number, outLen: number, outInt: number, ctm: string, roiStart: number, roiEnd: number): number {
  const f = Math.fround;
  switch (ctm) {
    case 'half_pixel':
      return f(f(f(x + 0.5) / scale) - 0.5);
    case 'half_pixel_symmetric': {
      const adj = f(outInt / outLen);
      const center = f(inLen / 2);
      const offset = f(center * f(1 - adj));
      return f(offset + f(f(f(x + 0.5) / scale) - 0.5));
    }
    case 'pytorch_half_pixel':
      return outLen > 1 ? f(f(f(x + 0.5) / scale) - 0.5) : 0;
    case 'align_corners':
      return outLen === 1 ? 0 : f(f(x * (inLen - 1)) / f(outLen - 1));
    case 'asymmetric':
      return f(x / scale);
    case 'tf_half_pixel_for_nn':
      return f(f(x + 0.5) / scale);
    case 'tf_crop_and_resize':
      return outLen > 1 ? roiStart * (inLen - 1) + (x * (roiEnd - roiStart) * (inLen - 1)) / (outLen - 1) : 0.5 * (roiStart + roiEnd) * (inLen - 1);
  }
  throw new RosettaError('E_UNSUPPORTED_OP', `autograd: Resize coordinate_transformation_mode '${ctm}' is unknown`);
}

function nearestIndex(x: number, mode: string): number {
  const f = Math.floor(x);
  if (x === f) return f;
  switch (mode) {
    case 'round_prefer_floor':
      return x - f <= 0.5 ? f : f + 1;
    case 'round_prefer_ceil':
      return x - f < 0.5 ? f : f + 1;
    case 'floor':
      return f;
    case 'ceil':
      return f + 1;
  }
  throw new RosettaError('E_UNSUPPORTED_OP', `autograd: Resize nearest_mode '${mode}' is unknown`);
}

/** The taps of one axis; −1 marks tf_crop_and_resize's extrapolation (no input). */
function resizeAxisMap(inLen: number, outLen: number, scale: number, roiStart: number, roiEnd: number, o: ResizeOpts): AxisMap {
  const n = o.mode === 'nearest' ? 1 : o.mode === 'linear' ? 2 : 4;
  const idx = new Int32Array(outLen * n);
  const w = new Float64Array(outLen * n);
  const clampI = (i: number): number => (i < 0 ? 0 : i >= inLen ? inLen - 1 : i);
  for (let x = 0; x < outLen; x++) {
    const xo = originalCoord(x, scale, inLen, Math.fround(scale * inLen), outLen, o.ctm, roiStart, roiEnd);
    const base = x * n;
    if (o.ctm === 'tf_crop_and_resize' && (xo < 0 || xo > inLen - 1)) {
      idx.fill(-1, base, base + n);
      continue;
    }
    if (n === 1) {
      idx[base] = clampI(nearestIndex(xo, o.nearestMode));
      w[base] = 1;
      continue;
    }
    const fl = Math.floor(xo);
    const r = xo - fl;
    const first = n === 2 ? fl : fl - 1;
    const c = n === 2 ? [1 - r, r] : cubicCoeffs(r, o.A);
    let sum = 0;
    for (let k = 0; k < n; k++) {
      const i = first + k;
      const wk = o.excludeOutside && (i < 0 || i >= inLen) ? 0 : c[k]!;
      idx[base + k] = clampI(i);
      w[base + k] = wk;
      sum += wk;
    }
    if (o.excludeOutside && sum !== 0) for (let k = 0; k < n; k++) w[base + k]! /= sum;
  }
  return { inLen, outLen, n, idx, w };
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
