/**
 * Detection ops: RoiAlign (avg/max, half_pixel and output_half_pixel coordinates, adaptive
 * sampling) and NonMaxSuppression (corner or center boxes, score threshold, per-class limit).
 * Bilinear sampling and the max-mode quirk follow the reference (Detectron-style) implementation.
 * Spec: https://onnx.ai/onnx/operators/onnx__RoiAlign.html, https://onnx.ai/onnx/operators/onnx__NonMaxSuppression.html
 */
import { RosettaError } from '../../ir/errors.js';
import { Tensor } from '../../ir/tensor.js';
import type { Value } from '../../runtime/value.js';
import type { KernelContext, KernelTable } from './kernel.js';
import { attrError, floatData, floatTensor, isFloatKernelDType, numData, shapeError, sizeChecked } from './nn-util.js';
import { dtypeError, optTensorIn, tensorIn, toNumbers } from './util.js';

function RoiAlign(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const rois = tensorIn(inputs, 1, ctx);
  const bi = tensorIn(inputs, 2, ctx);
  if (!isFloatKernelDType(x.dtype)) throw dtypeError(ctx, x.dtype);
  if (x.rank !== 4 || rois.rank !== 2 || rois.shape[1] !== 4 || bi.size !== rois.shape[0]) {
    throw shapeError(ctx, `expects X [N, C, H, W], rois [num, 4], batch_indices [num]; got [${x.shape.join(', ')}], [${rois.shape.join(', ')}], [${bi.shape.join(', ')}]`);
  }
  const a = ctx.attrs;
  const mode = a.string('mode', 'avg');
  if (mode !== 'avg' && mode !== 'max') throw attrError(ctx, `unknown mode '${mode}'`);
  const PH = a.int('output_height', 1);
  const PW = a.int('output_width', 1);
  const sr = a.int('sampling_ratio', 0);
  const scale = a.float('spatial_scale', 1);
  const halfPixel = a.string('coordinate_transformation_mode', 'half_pixel') === 'half_pixel';
  if (PH < 1 || PW < 1 || sr < 0) throw attrError(ctx, 'output_height/output_width must be ≥ 1 and sampling_ratio ≥ 0');
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const num = rois.shape[0]!;
  const outShape = [num, C, PH, PW];
  const out = new Float64Array(sizeChecked(outShape, ctx));
  const xd = floatData(x, ctx);
  const rd = numData(rois);
  const batch = numData(bi);
  const off = halfPixel ? 0.5 : 0;
  for (let r = 0; r < num; r++) {
    const b = batch[r]!;
    if (!(b >= 0 && b < N)) throw shapeError(ctx, `batch_indices[${r}] = ${b} is outside [0, ${N})`);
    const x1 = rd[r * 4]! * scale - off;
    const y1 = rd[r * 4 + 1]! * scale - off;
    let rw = rd[r * 4 + 2]! * scale - off - x1;
    let rh = rd[r * 4 + 3]! * scale - off - y1;
    if (!halfPixel) {
      rw = Math.max(rw, 1);
      rh = Math.max(rh, 1);
    }
    const bh = rh / PH;
    const bw = rw / PW;
    const gh = sr > 0 ? sr : Math.ceil(rh / PH);
    const gw = sr > 0 ? sr : Math.ceil(rw / PW);
    const count = Math.max(gh * gw, 1);
    // Adaptive sampling follows the roi size, which comes from data: bound the work it implies.
    if (!(gh * gw * C * PH * PW <= 2 ** 31)) throw new RosettaError('E_LIMIT', `RoiAlign: roi ${r} needs ${gh}×${gw} samples per bin over ${C} channels (limit 2^31 samples)`, { where: { node: ctx.node.name }, hint: 'set sampling_ratio or check the rois' });
    for (let c = 0; c < C; c++) {
      const plane = (b * C + c) * H * W;
      for (let ph = 0; ph < PH; ph++) {
        for (let pw = 0; pw < PW; pw++) {
          let acc = mode === 'avg' ? 0 : -Infinity;
          for (let iy = 0; iy < gh; iy++) {
            const yy = y1 + ph * bh + ((iy + 0.5) * bh) / gh;
            for (let ix = 0; ix < gw; ix++) {
              const xx = x1 + pw * bw + ((ix + 0.5) * bw) / gw;
              // Samples beyond one pixel outside the map contribute zero.
              if (yy < -1 || yy > H || xx < -1 || xx > W) {
                if (mode === 'max') acc = Math.max(acc, 0);
                continue;
              }
              let py = Math.max(yy, 0);
              let px = Math.max(xx, 0);
              let y0 = Math.floor(py);
              let x0 = Math.floor(px);
              let y1i: number;
              let x1i: number;
              if (y0 >= H - 1) {
                y0 = y1i = H - 1;
                py = y0;
              } else y1i = y0 + 1;
              if (x0 >= W - 1) {
                x0 = x1i = W - 1;
                px = x0;
              } else x1i = x0 + 1;
              const ly = py - y0, lx = px - x0, hy = 1 - ly, hx = 1 - lx;
              const v1 = xd[plane + y0 * W + x0]!, v2 = xd[plane + y0 * W + x1i]!;
              const v3 = xd[plane + y1i * W + x0]!, v4 = xd[plane + y1i * W + x1i]!;
              if (mode === 'avg') acc += hy * hx * v1 + hy * lx * v2 + ly * hx * v3 + ly * lx * v4;
              else acc = Math.max(acc, hy * hx * v1, hy * lx * v2, ly * hx * v3, ly * lx * v4);
            }
          }
          out[((r * C + c) * PH + ph) * PW + pw] = mode === 'avg' ? acc / count : acc === -Infinity ? 0 : acc;
        }
      }
    }
  }
  return [floatTensor(x.dtype, outShape, x.dtype === 'float64' ? out : Float32Array.from(out))];
}

function NonMaxSuppression(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const boxes = tensorIn(inputs, 0, ctx);
  const scores = tensorIn(inputs, 1, ctx);
  const maxT = optTensorIn(inputs, 2);
  const iouT = optTensorIn(inputs, 3);
  const scoreT = optTensorIn(inputs, 4);
  if (boxes.rank !== 3 || boxes.shape[2] !== 4 || scores.rank !== 3 || scores.shape[0] !== boxes.shape[0] || scores.shape[2] !== boxes.shape[1]) {
    throw shapeError(ctx, `expects boxes [B, S, 4] and scores [B, classes, S]; got [${boxes.shape.join(', ')}] and [${scores.shape.join(', ')}]`);
  }
  const maxOut = maxT && maxT.size > 0 ? toNumbers(maxT)[0]! : 0;
  const iouTh = iouT && iouT.size > 0 ? toNumbers(iouT)[0]! : 0;
  const scoreTh = scoreT && scoreT.size > 0 ? toNumbers(scoreT)[0]! : -Infinity;
  const center = ctx.attrs.int('center_point_box', 0) === 1;
  const [B, S] = boxes.shape as [number, number];
  const K = scores.shape[1]!;
  const bd = numData(boxes);
  const sd = numData(scores);
  // Normalised corners [y1, x1, y2, x2] with y1 ≤ y2, x1 ≤ x2, and areas.
  const corners = new Float64Array(B * S * 4);
  const areas = new Float64Array(B * S);
  for (let i = 0; i < B * S; i++) {
    const o = i * 4;
    let y1: number, x1: number, y2: number, x2: number;
    if (center) {
      const [xc, yc, w, h] = [bd[o]!, bd[o + 1]!, bd[o + 2]!, bd[o + 3]!];
      x1 = xc - w / 2;
      x2 = xc + w / 2;
      y1 = yc - h / 2;
      y2 = yc + h / 2;
    } else {
      y1 = Math.min(bd[o]!, bd[o + 2]!);
      y2 = Math.max(bd[o]!, bd[o + 2]!);
      x1 = Math.min(bd[o + 1]!, bd[o + 3]!);
      x2 = Math.max(bd[o + 1]!, bd[o + 3]!);
    }
    corners.set([y1, x1, y2, x2], o);
    areas[i] = (y2 - y1) * (x2 - x1);
  }
  const iou = (i: number, j: number): number => {
    const a = i * 4;
    const b = j * 4;
    const h = Math.min(corners[a + 2]!, corners[b + 2]!) - Math.max(corners[a]!, corners[b]!);
    const w = Math.min(corners[a + 3]!, corners[b + 3]!) - Math.max(corners[a + 1]!, corners[b + 1]!);
    if (h <= 0 || w <= 0) return 0;
    const inter = h * w;
    const uni = areas[i]! + areas[j]! - inter;
    return uni <= 0 ? 0 : inter / uni;
  };
  const selected: number[] = [];
  if (maxOut > 0) {
    for (let b = 0; b < B; b++) {
      for (let k = 0; k < K; k++) {
        const so = (b * K + k) * S;
        const cand: number[] = [];
        for (let s = 0; s < S; s++) if (sd[so + s]! > scoreTh) cand.push(s);
        cand.sort((p, q) => sd[so + q]! - sd[so + p]! || p - q);
        const kept: number[] = [];
        for (const s of cand) {
          if (kept.length >= maxOut) break;
          if (kept.every((t) => iou(b * S + s, b * S + t) <= iouTh)) kept.push(s);
        }
        for (const s of kept) selected.push(b, k, s);
      }
    }
  }
  return [new Tensor('int64', [selected.length / 3, 3], BigInt64Array.from(selected, (v) => BigInt(v)))];
}

export const detectionKernels: KernelTable = { RoiAlign, NonMaxSuppression };
