/**
 * Pooling: MaxPool (Indices output, ceil_mode, dilations, storage_order), AveragePool
 * (count_include_pad, ceil_mode), LpPool, GlobalMaxPool, GlobalAveragePool, GlobalLpPool,
 * MaxUnpool and MaxRoiPool.
 *
 * Windowed pools run one 3-D loop nest; 1-D and 2-D inputs are viewed as 3-D with leading unit
 * dims (kernel 1, stride 1, no padding), so there is one implementation to get right.
 * Spec: https://onnx.ai/onnx/operators/onnx__MaxPool.html, https://onnx.ai/onnx/operators/onnx__AveragePool.html,
 * https://onnx.ai/onnx/operators/onnx__LpPool.html, https://onnx.ai/onnx/operators/onnx__MaxUnpool.html,
 * https://onnx.ai/onnx/operators/onnx__MaxRoiPool.html
 */
import { allocData } from '../../ir/dtype.js';
import { RosettaError } from '../../ir/errors.js';
import { Tensor } from '../../ir/tensor.js';
import type { Value } from '../../runtime/value.js';
import type { KernelContext, KernelTable } from './kernel.js';
import { type Geometry, INT64_HI, INT64_LO, attrError, int64Words, floatAlloc, floatData, floatTensor, isFloatKernelDType, numData, numTensor, shapeError, sizeChecked, windowGeometry } from './nn-util.js';
import { dtypeError, tensorIn, toNumbers, optTensorIn } from './util.js';
import { wasmMaxPool2x2 } from './wasm-eltwise.js';

/** A windowed pool's geometry padded to exactly 3 spatial dims. */
interface Pool3 {
  N: number;
  C: number;
  in: [number, number, number];
  out: [number, number, number];
  k: [number, number, number];
  s: [number, number, number];
  d: [number, number, number];
  pb: [number, number, number];
  pe: [number, number, number];
}

function to3(g: Geometry, inSpatial: number[], N: number, C: number, ctx: KernelContext): Pool3 {
  const nd = inSpatial.length;
  if (nd < 1 || nd > 3) throw new RosettaError('E_UNSUPPORTED', `${ctx.node.opType} supports 1 to 3 spatial dims, got ${nd}`, { where: { node: ctx.node.name } });
  const pad = <T>(v: T[], fill: T): [T, T, T] => [...new Array<T>(3 - nd).fill(fill), ...v] as [T, T, T];
  return { N, C, in: pad(inSpatial, 1), out: pad(g.outSpatial, 1), k: pad(g.kernel, 1), s: pad(g.strides, 1), d: pad(g.dilations, 1), pb: pad(g.padBegin, 0), pe: pad(g.padEnd, 0) };
}

function poolSetup(ctx: KernelContext, x: Tensor, withDilations: boolean): { p: Pool3; outShape: number[] } {
  if (x.rank < 3) throw shapeError(ctx, `input must be [N, C, spatial...], got [${x.shape.join(', ')}]`);
  const kernel = ctx.attrs.ints('kernel_shape');
  if (!withDilations && ctx.attrs.has('dilations') && ctx.attrs.ints('dilations').some((v) => v !== 1)) throw attrError(ctx, 'dilations are not supported for this pool');
  const g = windowGeometry(x.shape.slice(2), kernel, ctx, { ceil: ctx.attrs.int('ceil_mode', 0) !== 0 });
  const outShape = [x.shape[0]!, x.shape[1]!, ...g.outSpatial];
  sizeChecked(outShape, ctx);
  return { p: to3(g, x.shape.slice(2), x.shape[0]!, x.shape[1]!, ctx), outShape };
}

type Mode = 'max' | 'avg' | 'avg_pad' | 'lp';

/**
 * The single windowed-pool loop. For 'max', `arg` (when given) receives the flat input index of the
 * maximum (first one wins on ties, as in the reference) in row-major (storage_order 0) or
 * column-major spatial order (storage_order 1).
 */
function pool3(p: Pool3, x: ArrayLike<number>, y: Float32Array | Float64Array, mode: Mode, lpP: number, arg?: BigInt64Array, colMajor = false): void {
  const [D, H, W] = p.in;
  const [OD, OH, OW] = p.out;
  const [kd, kh, kw] = p.k;
  const [sd, sh, sw] = p.s;
  const [dd, dh, dw] = p.d;
  const [pd, ph, pw] = p.pb;
  const plane = D * H * W;
  if (mode === 'max') {
    maxPool3(p, x, y, arg, colMajor);
    return;
  }
  const isLp = mode === 'lp';
  const rd = tapRanges(OD, kd, sd, dd, pd, D);
  const rh = tapRanges(OH, kh, sh, dh, ph, H);
  const rw = tapRanges(OW, kw, sw, dw, pw, W);
  let o = 0;
  for (let nc = 0; nc < p.N * p.C; nc++) {
    const base = nc * plane;
    for (let od = 0; od < OD; od++) {
      const d0 = od * sd - pd;
      const aLo = rd[2 * od]!, aHi = rd[2 * od + 1]!;
      for (let oh = 0; oh < OH; oh++) {
        const h0 = oh * sh - ph;
        const bLo = rh[2 * oh]!, bHi = rh[2 * oh + 1]!;
        for (let ow = 0; ow < OW; ow++, o++) {
          const w0 = ow * sw - pw;
          const cLo = rw[2 * ow]!, cHi = rw[2 * ow + 1]!;
          let acc = 0;
          for (let a = aLo; a < aHi; a++) {
            const plane0 = (d0 + a * dd) * H;
            for (let b = bLo; b < bHi; b++) {
              const row = base + (plane0 + h0 + b * dh) * W + w0;
              for (let c = cLo; c < cHi; c++) {
                const v = x[row + c * dw]!;
                acc += isLp ? Math.abs(v) ** lpP : v;
              }
            }
          }
          if (mode === 'avg') {
            const count = (aHi - aLo) * (bHi - bLo) * (cHi - cLo);
            y[o] = count > 0 ? acc / count : 0;
          } else if (mode === 'avg_pad') {
            // Divisor: the window clipped to the padded extent (taps past the end padding don't count).
            const n = span(d0, kd, dd, D + p.pe[0]) * span(h0, kh, dh, H + p.pe[1]) * span(w0, kw, dw, W + p.pe[2]);
            y[o] = n > 0 ? acc / n : 0;
          } else {
            y[o] = acc ** (1 / lpP);
          }
        }
      }
    }
  }
}

/**
 * For each output position along one axis: the first and one-past-last kernel tap inside [0, n),
 * computed arithmetically (a hostile kernel_shape must not turn this into a long loop).
 */
function tapRanges(out: number, k: number, s: number, d: number, pad: number, n: number): Int32Array {
  const r = new Int32Array(2 * out);
  for (let o = 0; o < out; o++) {
    const start = o * s - pad;
    const lo = start >= 0 ? 0 : Math.min(k, Math.ceil(-start / d));
    const hi = start > n - 1 ? 0 : Math.min(k, Math.floor((n - 1 - start) / d) + 1);
    r[2 * o] = lo;
    r[2 * o + 1] = Math.max(lo, hi);
  }
  return r;
}

/**
 * The max branch of `pool3`, kept apart so the hot loop has no mode tests or bounds checks (tap
 * ranges are precomputed per output coordinate); indices only when asked.
 */
function maxPool3(p: Pool3, x: ArrayLike<number>, y: Float32Array | Float64Array, arg: BigInt64Array | undefined, colMajor: boolean): void {
  const [D, H, W] = p.in;
  const [OD, OH, OW] = p.out;
  const [kd, kh, kw] = p.k;
  const [sd, sh, sw] = p.s;
  const [dd, dh, dw] = p.d;
  const [pd, ph, pw] = p.pb;
  if (!colMajor && D === 1 && kh === 2 && kw === 2 && sh === 2 && sw === 2 && dh === 1 && dw === 1 && ph === 0 && pw === 0 && 2 * OH <= H && 2 * OW <= W) {
    // SIMD (wasm-eltwise.ts) for float32 when available: the same first-wins comparisons.
    if (x instanceof Float32Array && y instanceof Float32Array && y.length >= 1024 && wasmMaxPool2x2(p.N * p.C, H, W, OH, OW, x, y, arg)) return;
    if (arg) maxPool2x2Indices(p.N * p.C, H, W, OH, OW, x, y, arg);
    else maxPool2x2(p.N * p.C, H, W, OH, OW, x, y);
    return;
  }
  const words = arg ? int64Words(arg) : undefined;
  const rd = tapRanges(OD, kd, sd, dd, pd, D);
  const rh = tapRanges(OH, kh, sh, dh, ph, H);
  const rw = tapRanges(OW, kw, sw, dw, pw, W);
  const plane = D * H * W;
  let o = 0;
  for (let nc = 0; nc < p.N * p.C; nc++) {
    const base = nc * plane;
    for (let od = 0; od < OD; od++) {
      const d0 = od * sd - pd;
      const aLo = rd[2 * od]!, aHi = rd[2 * od + 1]!;
      for (let oh = 0; oh < OH; oh++) {
        const h0 = oh * sh - ph;
        const bLo = rh[2 * oh]!, bHi = rh[2 * oh + 1]!;
        for (let ow = 0; ow < OW; ow++, o++) {
          const w0 = ow * sw - pw;
          const cLo = rw[2 * ow]!, cHi = rw[2 * ow + 1]!;
          let acc = -Infinity;
          let best = -1;
          for (let a = aLo; a < aHi; a++) {
            const plane0 = (d0 + a * dd) * H;
            for (let b = bLo; b < bHi; b++) {
              const row = base + (plane0 + h0 + b * dh) * W + w0;
              for (let c = cLo; c < cHi; c++) {
                const v = x[row + c * dw]!;
                if (v > acc || best < 0) {
                  acc = v;
                  best = row + c * dw;
                }
              }
            }
          }
          y[o] = acc;
          if (arg) {
            // column-major (storage_order 1) numbering of the same spatial position
            if (colMajor && best >= 0) {
              const r = best - base;
              const iw = r % W;
              const ih = Math.floor(r / W) % H;
              const id = Math.floor(r / (W * H));
              best = base + (iw * H + ih) * D + id;
            }
            words![2 * o + INT64_LO] = best;
            words![2 * o + INT64_HI] = Math.floor(best / 4294967296);
          }
        }
      }
    }
  }
}

/**
 * Flat index of the maximum of the 2×2 window whose top-left is `r` (row length `W`), first-wins
 * on ties and NaN-propagation as the general loop: a later tap wins only when `tap > current`.
 * Branch-free: `+(a > b)` is a setcc and the index moves by arithmetic, where `if (b > m) {…}`
 * mispredicted about half the time on activations (3.6 → 1.6 ms on 32×32×28×28 with indices).
 */
function argMax2x2(x: ArrayLike<number>, r: number, W: number): number {
  let at = r + +(x[r + 1]! > x[r]!);
  let c = r + W;
  at += +(x[c]! > x[at]!) * (c - at);
  c++;
  at += +(x[c]! > x[at]!) * (c - at);
  return at;
}

/** The most common pool (2×2, stride 2, no padding, every window inside): four loads per output. */
function maxPool2x2(planes: number, H: number, W: number, OH: number, OW: number, x: ArrayLike<number>, y: Float32Array | Float64Array): void {
  let o = 0;
  for (let p = 0; p < planes; p++) {
    const base = p * H * W;
    for (let oh = 0; oh < OH; oh++) {
      let r = base + 2 * oh * W;
      for (let ow = 0; ow < OW; ow++, o++, r += 2) y[o] = x[argMax2x2(x, r, W)]!;
    }
  }
}

/**
 * `maxPool2x2` with the Indices output (the training tape always asks for it): the same first-wins
 * comparisons, each remembering the flat input index. Indices fit 32 bits here (they index a
 * typed array), so only the low word of each int64 is written; the buffer is zeroed.
 */
function maxPool2x2Indices(planes: number, H: number, W: number, OH: number, OW: number, x: ArrayLike<number>, y: Float32Array | Float64Array, arg: BigInt64Array): void {
  const words = int64Words(arg);
  let o = 0;
  for (let p = 0; p < planes; p++) {
    const base = p * H * W;
    for (let oh = 0; oh < OH; oh++) {
      let r = base + 2 * oh * W;
      for (let ow = 0; ow < OW; ow++, o++, r += 2) {
        const at = argMax2x2(x, r, W);
        y[o] = x[at]!;
        words[2 * o + INT64_LO] = at;
      }
    }
  }
}

/** Number of taps start, start+dil, … (k of them) lying below `end` (start is already ≥ −pad). */
function span(start: number, k: number, dil: number, end: number): number {
  return start >= end ? 0 : Math.min(k, Math.ceil((end - start) / dil));
}

function MaxPool(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const { p, outShape } = poolSetup(ctx, x, true);
  const colMajor = ctx.attrs.int('storage_order', 0) === 1;
  const wantIdx = ctx.node.outputs.length > 1 && ctx.node.outputs[1] !== '';
  const n = outShape.reduce((a, b) => a * b, 1);
  const arg = wantIdx ? (allocData('int64', n) as BigInt64Array) : undefined;
  let y: Tensor;
  if (isFloatKernelDType(x.dtype)) {
    const out = floatAlloc(x.dtype, n);
    pool3(p, floatData(x, ctx), out, 'max', 0, arg, colMajor);
    y = floatTensor(x.dtype, outShape, out);
  } else if (x.dtype === 'int8' || x.dtype === 'uint8') {
    const out = new Float64Array(n);
    pool3(p, x.data as ArrayLike<number>, out, 'max', 0, arg, colMajor);
    // a window entirely in padding yields -inf; integer outputs clamp it to the type's minimum
    for (let i = 0; i < n; i++) if (out[i] === -Infinity) out[i] = x.dtype === 'int8' ? -128 : 0;
    y = numTensor(x.dtype, outShape, out);
  } else {
    throw dtypeError(ctx, x.dtype);
  }
  return arg ? [y, new Tensor('int64', outShape, arg)] : [y];
}

function avgLike(mode: 'avg' | 'lp') {
  return (inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] => {
    const x = tensorIn(inputs, 0, ctx);
    if (!isFloatKernelDType(x.dtype)) throw dtypeError(ctx, x.dtype);
    const { p, outShape } = poolSetup(ctx, x, mode === 'lp' || ctx.attrs.has('dilations'));
    const n = outShape.reduce((a, b) => a * b, 1);
    const out = x.dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
    const m: Mode = mode === 'lp' ? 'lp' : ctx.attrs.int('count_include_pad', 0) ? 'avg_pad' : 'avg';
    pool3(p, floatData(x, ctx), out, m, ctx.attrs.float('p', 2));
    return [floatTensor(x.dtype, outShape, out)];
  };
}

function globalPool(mode: 'max' | 'avg' | 'lp') {
  return (inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] => {
    const x = tensorIn(inputs, 0, ctx);
    if (!isFloatKernelDType(x.dtype)) throw dtypeError(ctx, x.dtype);
    if (x.rank < 2) throw shapeError(ctx, `input must be [N, C, spatial...], got [${x.shape.join(', ')}]`);
    const nc = x.shape[0]! * x.shape[1]!;
    const plane = x.shape.slice(2).reduce((a, b) => a * b, 1);
    const xd = floatData(x, ctx);
    const out = x.dtype === 'float64' ? new Float64Array(nc) : new Float32Array(nc);
    const pExp = ctx.attrs.float('p', 2);
    for (let i = 0; i < nc; i++) {
      const s = i * plane;
      let acc = mode === 'max' ? -Infinity : 0;
      for (let j = 0; j < plane; j++) {
        const v = xd[s + j]!;
        if (mode === 'max') acc = v > acc || Number.isNaN(v) ? v : acc;
        else if (mode === 'lp') acc += Math.abs(v) ** pExp;
        else acc += v;
      }
      out[i] = mode === 'avg' ? acc / plane : mode === 'lp' ? acc ** (1 / pExp) : acc;
    }
    return [floatTensor(x.dtype, [x.shape[0]!, x.shape[1]!, ...x.shape.slice(2).map(() => 1)], out)];
  };
}

function MaxUnpool(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const idx = tensorIn(inputs, 1, ctx);
  const shapeT = optTensorIn(inputs, 2);
  if (x.rank < 3) throw shapeError(ctx, `input must be [N, C, spatial...], got [${x.shape.join(', ')}]`);
  if (idx.size !== x.size) throw shapeError(ctx, `indices [${idx.shape.join(', ')}] must match input [${x.shape.join(', ')}]`);
  const nd = x.rank - 2;
  const kernel = ctx.attrs.ints('kernel_shape');
  const strides = ctx.attrs.ints('strides', new Array<number>(nd).fill(1));
  const pads = ctx.attrs.ints('pads', new Array<number>(2 * nd).fill(0));
  if (kernel.length !== nd || strides.length !== nd || pads.length !== 2 * nd) throw attrError(ctx, `kernel_shape/strides need ${nd} values, pads ${2 * nd}`);
  const inferred = [x.shape[0]!, x.shape[1]!, ...x.shape.slice(2).map((d, i) => (d - 1) * strides[i]! + kernel[i]! - pads[i]! - pads[i + nd]!)];
  let outShape = inferred;
  if (shapeT) {
    outShape = toNumbers(shapeT);
    if (outShape.length !== x.rank) throw shapeError(ctx, `output_shape must have ${x.rank} values`);
    if (outShape.some((d, i) => d < inferred[i]!)) throw shapeError(ctx, `output_shape [${outShape.join(', ')}] is smaller than the unpooled shape [${inferred.join(', ')}]`);
  }
  const n = sizeChecked(outShape, ctx);
  const xd = isFloatKernelDType(x.dtype) ? floatData(x, ctx) : numData(x);
  const out = x.dtype === 'float64' || !isFloatKernelDType(x.dtype) ? new Float64Array(n) : new Float32Array(n);
  const id = numData(idx);
  // Indices are flat positions in the inferred (unpadded) output, as MaxPool produced them; an
  // explicit output_shape only adds room at the end of each dim, so re-ravel into it.
  const inferredSize = inferred.reduce((a, b) => a * b, 1);
  const same = outShape.every((d, i) => d === inferred[i]);
  for (let i = 0; i < xd.length; i++) {
    let j = id[i]!;
    if (!(j >= 0 && j < inferredSize && Number.isInteger(j))) throw shapeError(ctx, `index ${j} at position ${i} is outside the unpooled tensor of ${inferredSize} elements`);
    if (!same) {
      let o = 0;
      let stride = 1;
      for (let d = inferred.length - 1; d >= 0; d--) {
        o += (j % inferred[d]!) * stride;
        j = Math.floor(j / inferred[d]!);
        stride *= outShape[d]!;
      }
      j = o;
    }
    out[j] = xd[i]!;
  }
  return [isFloatKernelDType(x.dtype) ? floatTensor(x.dtype, outShape, out) : numTensor(x.dtype, outShape, out as Float64Array)];
}

function MaxRoiPool(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const rois = tensorIn(inputs, 1, ctx);
  if (!isFloatKernelDType(x.dtype)) throw dtypeError(ctx, x.dtype);
  if (x.rank !== 4 || rois.rank !== 2 || rois.shape[1] !== 5) throw shapeError(ctx, `expects X [N, C, H, W] and rois [num, 5], got [${x.shape.join(', ')}] and [${rois.shape.join(', ')}]`);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [PH, PW] = ctx.attrs.ints('pooled_shape') as [number, number];
  if (!(PH >= 1) || !(PW >= 1)) throw attrError(ctx, 'pooled_shape must be two positive ints');
  const scale = ctx.attrs.float('spatial_scale', 1);
  const num = rois.shape[0]!;
  const outShape = [num, C, PH, PW];
  const out = x.dtype === 'float64' ? new Float64Array(sizeChecked(outShape, ctx)) : new Float32Array(sizeChecked(outShape, ctx));
  const xd = floatData(x, ctx);
  const r = floatData(rois, ctx);
  for (let i = 0; i < num; i++) {
    const b = r[i * 5]!;
    if (!(b >= 0 && b < N)) throw shapeError(ctx, `roi ${i} refers to batch ${b}, input has ${N}`);
    const x1 = Math.round(r[i * 5 + 1]! * scale), y1 = Math.round(r[i * 5 + 2]! * scale);
    const x2 = Math.round(r[i * 5 + 3]! * scale), y2 = Math.round(r[i * 5 + 4]! * scale);
    const rh = Math.max(y2 - y1 + 1, 1), rw = Math.max(x2 - x1 + 1, 1);
    for (let c = 0; c < C; c++) {
      const plane = (Math.trunc(b) * C + c) * H * W;
      for (let ph = 0; ph < PH; ph++) {
        const hs = Math.min(Math.max(Math.floor((ph * rh) / PH) + y1, 0), H);
        const he = Math.min(Math.max(Math.ceil(((ph + 1) * rh) / PH) + y1, 0), H);
        for (let pw = 0; pw < PW; pw++) {
          const ws = Math.min(Math.max(Math.floor((pw * rw) / PW) + x1, 0), W);
          const we = Math.min(Math.max(Math.ceil(((pw + 1) * rw) / PW) + x1, 0), W);
          let m = -Infinity;
          for (let h = hs; h < he; h++) for (let w = ws; w < we; w++) m = Math.max(m, xd[plane + h * W + w]!);
          out[((i * C + c) * PH + ph) * PW + pw] = m === -Infinity ? 0 : m;
        }
      }
    }
  }
  return [floatTensor(x.dtype, outShape, out)];
}

export const poolKernels: KernelTable = {
  MaxPool,
  AveragePool: avgLike('avg'),
  LpPool: avgLike('lp'),
  GlobalMaxPool: globalPool('max'),
  GlobalAveragePool: globalPool('avg'),
  GlobalLpPool: globalPool('lp'),
  MaxUnpool,
  MaxRoiPool,
};
