/**
 * Image resampling: Resize (nearest with every nearest_mode, linear, cubic with cubic_coeff_a and
 * exclude_outside, every coordinate_transformation_mode, scales or sizes, axes,
 * keep_aspect_ratio_policy, extrapolation_value) and GridSample (bilinear/nearest/bicubic,
 * zeros/border/reflection padding, align_corners).
 *
 * Resize is separable: the reference implementation interpolates the innermost axis first and the
 * outermost last (extrapolation is decided per axis at that point), so we resample one axis per pass,
 * from the last to the first, with per-output-coordinate tap tables (index, weight). Passes run in
 * float64 so the result does not depend on the pass order's rounding.
 * Spec: https://onnx.ai/onnx/operators/onnx__Resize.html, https://onnx.ai/onnx/operators/onnx__GridSample.html
 */
import { RosettaError } from '../../ir/errors.js';
import type { Tensor } from '../../ir/tensor.js';
import type { Value } from '../../runtime/value.js';
import type { KernelContext, KernelTable } from './kernel.js';
import { attrError, floatData, floatTensor, isFloatKernelDType, numData, numTensor, shapeError, sizeChecked } from './nn-util.js';
import { roundHalfEven } from './quant.js';
import { dtypeError, normAxis, optTensorIn, tensorIn, toNumbers } from './util.js';

/** Taps for one output coordinate along one axis; index −1 marks "use extrapolation_value". */
export interface AxisTaps {
  n: number;
  idx: Int32Array;
  w: Float64Array;
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

export interface ResizeOpts {
  mode: string;
  ctm: string;
  nearestMode: string;
  A: number;
  excludeOutside: boolean;
}

/**
 * Output coordinate → input coordinate. `outLen` is the unrounded resized length (scale · inLen),
 * as in the reference; `outInt` the integer output size. Arithmetic is rounded to float32 at each
 * step: the reference computes with float32 scales (and onnxruntime in float), and nearest/floor
 * decisions at exact .0/.5 boundaries depend on it.
 */
function originalCoord(x: number, scale: number, inLen: number, outLen: number, outInt: number, ctm: string, roiStart: number, roiEnd: number, fail: (msg: string) => never): number {
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
    default:
      return fail(`unknown coordinate_transformation_mode '${ctm}'`);
  }
}

function nearestIndex(x: number, mode: string, fail: (msg: string) => never): number {
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
    default:
      return fail(`unknown nearest_mode '${mode}'`);
  }
}

/**
 * The tap table of one axis (one entry per output coordinate). Shared with Resize's gradient rule
 * (src/runtime/grad-rules/resize.ts), which applies the same table transposed; `fail` throws the
 * caller's error for an unknown mode.
 */
export function axisTaps(inLen: number, outLen: number, scale: number, roiStart: number, roiEnd: number, o: ResizeOpts, fail: (msg: string) => never): AxisTaps {
  const n = o.mode === 'nearest' ? 1 : o.mode === 'linear' ? 2 : 4;
  const idx = new Int32Array(outLen * n);
  const w = new Float64Array(outLen * n);
  for (let x = 0; x < outLen; x++) {
    // The reference uses the unrounded resized length (scale · inLen), not the integer output size.
    const xo = originalCoord(x, scale, inLen, Math.fround(scale * inLen), outLen, o.ctm, roiStart, roiEnd, fail);
    const base = x * n;
    if (o.ctm === 'tf_crop_and_resize' && (xo < 0 || xo > inLen - 1)) {
      idx.fill(-1, base, base + n);
      continue;
    }
    const clampI = (i: number): number => (i < 0 ? 0 : i >= inLen ? inLen - 1 : i);
    if (n === 1) {
      idx[base] = clampI(nearestIndex(xo, o.nearestMode, fail));
      w[base] = 1;
      continue;
    }
    const f = Math.floor(xo);
    const r = xo - f;
    const first = n === 2 ? f : f - 1;
    const c = n === 2 ? [1 - r, r] : cubicCoeffs(r, o.A);
    let sum = 0;
    for (let k = 0; k < n; k++) {
      const i = first + k;
      let wk = c[k]!;
      if (o.excludeOutside && (i < 0 || i >= inLen)) wk = 0;
      idx[base + k] = clampI(i);
      w[base + k] = wk;
      sum += wk;
    }
    if (o.excludeOutside && sum !== 0) for (let k = 0; k < n; k++) w[base + k] /= sum;
  }
  return { n, idx, w };
}

function Resize(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const roiT = optTensorIn(inputs, 1);
  const scalesT = optTensorIn(inputs, 2);
  const sizesT = optTensorIn(inputs, 3);
  const a = ctx.attrs;
  const rank = x.rank;
  if (a.int('antialias', 0) !== 0) throw new RosettaError('E_UNSUPPORTED', 'Resize antialias=1 is not supported by the CPU backend yet', { where: { node: ctx.node.name } });
  const axes = a.has('axes') ? a.ints('axes').map((v) => normAxis(v, rank, ctx)) : Array.from({ length: rank }, (_, i) => i);
  if (new Set(axes).size !== axes.length) throw attrError(ctx, 'axes contains duplicates');
  const o: ResizeOpts = {
    mode: a.string('mode', 'nearest'),
    ctm: a.string('coordinate_transformation_mode', 'half_pixel'),
    nearestMode: a.string('nearest_mode', 'round_prefer_floor'),
    A: a.float('cubic_coeff_a', -0.75),
    excludeOutside: a.int('exclude_outside', 0) !== 0,
  };
  if (o.mode !== 'nearest' && o.mode !== 'linear' && o.mode !== 'cubic') throw attrError(ctx, `unknown mode '${o.mode}'`);
  const extrapolation = a.float('extrapolation_value', 0);
  const scales = new Array<number>(rank).fill(1);
  const outShape = x.shape.slice();
  if (sizesT && sizesT.size > 0) {
    const sizes = toNumbers(sizesT);
    if (sizes.length !== axes.length) throw shapeError(ctx, `sizes has ${sizes.length} values for ${axes.length} axes`);
    const policy = a.string('keep_aspect_ratio_policy', 'stretch');
    if (policy === 'stretch') {
      axes.forEach((ax, i) => {
        outShape[ax] = sizes[i]!;
        scales[ax] = sizes[i]! / x.shape[ax]!;
      });
    } else if (policy === 'not_larger' || policy === 'not_smaller') {
      const ratios = axes.map((ax, i) => sizes[i]! / x.shape[ax]!);
      const s = policy === 'not_larger' ? Math.min(...ratios) : Math.max(...ratios);
      for (const ax of axes) {
        scales[ax] = s;
        outShape[ax] = roundHalfEven(s * x.shape[ax]!);
      }
    } else {
      throw attrError(ctx, `unknown keep_aspect_ratio_policy '${policy}'`);
    }
  } else if (scalesT && scalesT.size > 0) {
    const sc = toNumbers(scalesT);
    if (sc.length !== axes.length) throw shapeError(ctx, `scales has ${sc.length} values for ${axes.length} axes`);
    axes.forEach((ax, i) => {
      if (!(sc[i]! > 0)) throw attrError(ctx, `scales must be positive, got ${sc[i]}`);
      scales[ax] = sc[i]!;
      outShape[ax] = Math.floor(x.shape[ax]! * sc[i]!);
    });
  } else {
    throw shapeError(ctx, 'one of scales or sizes must be given');
  }
  sizeChecked(outShape, ctx);
  const roi = roiT && roiT.size > 0 ? toNumbers(roiT) : [];
  const roiStart = new Array<number>(rank).fill(0);
  const roiEnd = new Array<number>(rank).fill(1);
  if (roi.length === 2 * rank || roi.length === 2 * axes.length) {
    const list = roi.length === 2 * rank && roi.length !== 2 * axes.length ? Array.from({ length: rank }, (_, i) => i) : axes;
    list.forEach((ax, i) => {
      roiStart[ax] = roi[i]!;
      roiEnd[ax] = roi[i + list.length]!;
    });
  } else if (o.ctm === 'tf_crop_and_resize') {
    throw shapeError(ctx, `roi must have ${2 * axes.length} values for tf_crop_and_resize, got ${roi.length}`);
  }
  const isFloat = isFloatKernelDType(x.dtype);
  if (!isFloat && x.dtype === 'string') throw dtypeError(ctx, x.dtype);
  let cur: Float64Array = isFloat ? Float64Array.from(floatData(x, ctx)) : numData(x);
  const shape = x.shape.slice();
  for (let ax = rank - 1; ax >= 0; ax--) {
    const inLen = shape[ax]!;
    const outLen = outShape[ax]!;
    const identity = inLen === outLen && scales[ax] === 1 && o.ctm !== 'tf_crop_and_resize';
    if (identity) continue;
    const taps = axisTaps(inLen, outLen, scales[ax]!, roiStart[ax]!, roiEnd[ax]!, o, (m) => {
      throw attrError(ctx, m);
    });
    const outer = shape.slice(0, ax).reduce((p, q) => p * q, 1);
    const inner = shape.slice(ax + 1).reduce((p, q) => p * q, 1);
    const next = new Float64Array(sizeChecked([outer, outLen, inner], ctx));
    for (let p = 0; p < outer; p++) {
      const src = p * inLen * inner;
      for (let xo = 0; xo < outLen; xo++) {
        const dst = (p * outLen + xo) * inner;
        const tb = xo * taps.n;
        if (taps.idx[tb] === -1) {
          next.fill(extrapolation, dst, dst + inner);
          continue;
        }
        for (let k = 0; k < taps.n; k++) {
          const wk = taps.w[tb + k]!;
          if (wk === 0 && taps.n > 1) continue;
          const s = src + taps.idx[tb + k]! * inner;
          for (let i = 0; i < inner; i++) next[dst + i] += wk * cur[s + i]!;
        }
      }
    }
    cur = next;
    shape[ax] = outLen;
  }
  if (isFloat) return [floatTensor(x.dtype, outShape, x.dtype === 'float64' ? cur : Float32Array.from(cur))];
  // Integer outputs: the reference casts the interpolated values (truncation toward zero).
  for (let i = 0; i < cur.length; i++) cur[i] = Math.trunc(cur[i]!);
  return [numTensor(x.dtype, outShape, cur)];
}

/** Reflect a coordinate into [low/2, high/2] by repeated mirroring (PyTorch's reflect_coordinates). */
function reflect(x: number, twiceLow: number, twiceHigh: number): number {
  if (twiceLow === twiceHigh) return 0;
  const min = twiceLow / 2;
  const span = (twiceHigh - twiceLow) / 2;
  const d = Math.abs(x - min);
  const extra = d % span;
  const flips = Math.floor(d / span);
  return flips % 2 === 0 ? extra + min : span - extra + min;
}

function GridSample(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const grid: Tensor = tensorIn(inputs, 1, ctx);
  if (!isFloatKernelDType(x.dtype)) throw dtypeError(ctx, x.dtype);
  if (x.rank !== 4 || grid.rank !== 4 || grid.shape[3] !== 2 || grid.shape[0] !== x.shape[0]) {
    throw shapeError(ctx, `expects X [N, C, H, W] and grid [N, H_out, W_out, 2], got [${x.shape.join(', ')}] and [${grid.shape.join(', ')}]`);
  }
  const mode = ctx.attrs.string('mode', 'bilinear');
  const padding = ctx.attrs.string('padding_mode', 'zeros');
  const alignCorners = ctx.attrs.int('align_corners', 0) !== 0;
  if (!['bilinear', 'nearest', 'bicubic', 'linear', 'cubic'].includes(mode)) throw attrError(ctx, `unknown mode '${mode}'`);
  if (!['zeros', 'border', 'reflection'].includes(padding)) throw attrError(ctx, `unknown padding_mode '${padding}'`);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const HO = grid.shape[1]!;
  const WO = grid.shape[2]!;
  const outShape = [N, C, HO, WO];
  const out = new Float64Array(sizeChecked(outShape, ctx));
  const xd = floatData(x, ctx);
  const gd = floatData(grid, ctx);
  const unnorm = (v: number, size: number): number => (alignCorners ? ((v + 1) / 2) * (size - 1) : ((v + 1) * size - 1) / 2);
  // Border/reflection: map a (possibly out-of-range) coordinate into the image.
  const fix = (v: number, size: number): number => {
    if (padding === 'border') return Math.min(size - 1, Math.max(0, v));
    if (padding === 'reflection') {
      const r = alignCorners ? reflect(v, 0, 2 * (size - 1)) : reflect(v, -1, 2 * size - 1);
      return Math.min(size - 1, Math.max(0, r));
    }
    return v;
  };
  const A = -0.75;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const plane = (n * C + c) * H * W;
      const at = (yy: number, xx: number): number => (yy >= 0 && yy < H && xx >= 0 && xx < W ? xd[plane + yy * W + xx]! : 0);
      for (let i = 0; i < HO; i++) {
        for (let j = 0; j < WO; j++) {
          const g = ((n * HO + i) * WO + j) * 2;
          const gx = unnorm(gd[g]!, W);
          const gy = unnorm(gd[g + 1]!, H);
          let v: number;
          if (mode === 'nearest') {
            v = at(roundHalfEven(fix(gy, H)), roundHalfEven(fix(gx, W)));
          } else if (mode === 'bilinear' || mode === 'linear') {
            const px = fix(gx, W);
            const py = fix(gy, H);
            const x0 = Math.floor(px);
            const y0 = Math.floor(py);
            const lx = px - x0;
            const ly = py - y0;
            v = (1 - ly) * ((1 - lx) * at(y0, x0) + lx * at(y0, x0 + 1)) + ly * ((1 - lx) * at(y0 + 1, x0) + lx * at(y0 + 1, x0 + 1));
          } else {
            // Bicubic: taps on the raw coordinate; each tap index is itself padded (PyTorch's get_value_bounded).
            const x0 = Math.floor(gx);
            const y0 = Math.floor(gy);
            const cx = cubicCoeffs(gx - x0, A);
            const cy = cubicCoeffs(gy - y0, A);
            v = 0;
            for (let p = 0; p < 4; p++) {
              const yy = padding === 'zeros' ? y0 - 1 + p : fix(y0 - 1 + p, H);
              let row = 0;
              for (let q = 0; q < 4; q++) {
                const xx = padding === 'zeros' ? x0 - 1 + q : fix(x0 - 1 + q, W);
                row += cx[q]! * at(yy, xx);
              }
              v += cy[p]! * row;
            }
          }
          out[((n * C + c) * HO + i) * WO + j] = v;
        }
      }
    }
  }
  return [floatTensor(x.dtype, outShape, x.dtype === 'float64' ? out : Float32Array.from(out))];
}

export const resizeKernels: KernelTable = { Resize, GridSample };
