/**
 * Convolution: Conv (1-D/2-D/3-D, auto_pad, strides, dilations, groups incl. depthwise),
 * ConvTranspose (output_padding, output_shape, groups) and ConvInteger.
 *
 * Conv is lowered per (batch, group) to im2col + GEMM: W_g[M/g × C/g·k] · col[C/g·k × out]. A 1×1,
 * stride-1, unpadded kernel skips im2col and multiplies the input in place. ConvTranspose is the
 * adjoint: col = W_gᵀ · X_g, then col2im scatters columns into the output. The same drivers run
 * on float32 (`sgemm`) and on float64 (`dgemm`, also used for exact integer arithmetic).
 * Spec: https://onnx.ai/onnx/operators/onnx__Conv.html, https://onnx.ai/onnx/operators/onnx__ConvTranspose.html,
 * https://onnx.ai/onnx/operators/onnx__ConvInteger.html
 */
import type { Tensor } from '../../ir/tensor.js';
import type { Value } from '../../runtime/value.js';
import { convGather } from './conv-gather.js';
import { activeGemmKernel, dgemm, sgemm, sgemmImplicitB, type GemmFn, type PanelPacker } from './gemm.js';
import type { KernelContext, KernelTable } from './kernel.js';
import { zeroPoints } from './matmul.js';
import { type FloatArr, type Geometry, attrError, plane, floatAlloc, floatData, floatTensor, numData, numTensor, shapeError, sizeChecked, windowGeometry } from './nn-util.js';
import { dtypeError, optTensorIn, tensorIn } from './util.js';

/** Shapes of a convolution: x [N, C, ...in], w [M, C/group, ...k]. */
export interface ConvShapes {
  N: number;
  C: number;
  M: number;
  group: number;
  inSpatial: number[];
  geom: Geometry;
}

/** Validate x/w shapes and resolve geometry (kernel_shape defaults to the weight's spatial dims). */
export function convShapes(x: Tensor, w: Tensor, ctx: KernelContext): ConvShapes {
  if (x.rank < 3) throw shapeError(ctx, `input must be [N, C, spatial...], got [${x.shape.join(', ')}]`);
  if (w.rank !== x.rank) throw shapeError(ctx, `weight rank ${w.rank} differs from input rank ${x.rank}`);
  const group = ctx.attrs.int('group', 1);
  const [N, C] = x.shape as [number, number];
  const M = w.shape[0]!;
  if (group < 1 || C % group !== 0 || M % group !== 0) throw attrError(ctx, `group ${group} must divide input channels ${C} and output channels ${M}`);
  if (w.shape[1]! * group !== C) throw shapeError(ctx, `weight [${w.shape.join(', ')}] expects ${w.shape[1]! * group} input channels, input has ${C}`);
  const kernel = ctx.attrs.ints('kernel_shape', w.shape.slice(2));
  if (kernel.some((k, i) => k !== w.shape[2 + i])) throw attrError(ctx, `kernel_shape [${kernel.join(', ')}] differs from weight [${w.shape.join(', ')}]`);
  const inSpatial = x.shape.slice(2);
  const geom = windowGeometry(inSpatial, kernel, ctx);
  return { N, C, M, group, inSpatial, geom };
}

/**
 * im2col for one (batch, group) slice starting at `xOff`: rows are (c, k...) in weight order,
 * columns are output positions; row r starts at col[colOff + r·ld] (`ld` defaults to the number of
 * output positions, a dense matrix). Out-of-range taps read 0.
 */
function im2col<T extends FloatArr>(x: T, xOff: number, Cg: number, inSpatial: number[], g: Geometry, col: T, colOff = 0, ld = g.outSpatial.reduce((a, b) => a * b, 1)): void {
  const nd = inSpatial.length;
  const outSize = g.outSpatial.reduce((a, b) => a * b, 1);
  if (nd <= 2) {
    const { H, W, KH, KW, OH, OW, sh, sw, dh, dw, pt, pl } = plane(inSpatial, g);
    let row = 0;
    for (let c = 0; c < Cg; c++) {
      const xc = xOff + c * H * W;
      for (let kh = 0; kh < KH; kh++) {
        for (let kw = 0; kw < KW; kw++, row++) {
          let o = colOff + row * ld;
          for (let oh = 0; oh < OH; oh++) {
            const ih = oh * sh - pt + kh * dh;
            if (ih < 0 || ih >= H) {
              col.fill(0, o, o + OW);
              o += OW;
              continue;
            }
            const xr = xc + ih * W;
            let iw = kw * dw - pl;
            if (sw === 1 && iw >= 0 && iw + OW <= W) {
              // whole row in range: a straight copy
              for (let ow = 0; ow < OW; ow++) col[o++] = x[xr + iw + ow]!;
              continue;
            }
            for (let ow = 0; ow < OW; ow++, iw += sw) col[o++] = iw >= 0 && iw < W ? x[xr + iw]! : 0;
          }
        }
      }
    }
    return;
  }
  // General N-d: odometer over kernel taps and output positions.
  const kk = g.kernel.reduce((a, b) => a * b, 1);
  const inStr = new Array<number>(nd);
  let acc = 1;
  for (let d = nd - 1; d >= 0; d--) {
    inStr[d] = acc;
    acc *= inSpatial[d]!;
  }
  const inSize = acc;
  const kIdx = new Array<number>(nd).fill(0);
  const oIdx = new Array<number>(nd).fill(0);
  for (let c = 0; c < Cg; c++) {
    for (let k = 0; k < kk; k++) {
      let o = colOff + (c * kk + k) * ld;
      let r = k;
      for (let d = nd - 1; d >= 0; d--) {
        kIdx[d] = r % g.kernel[d]!;
        r = Math.floor(r / g.kernel[d]!);
      }
      oIdx.fill(0);
      for (let p = 0; p < outSize; p++) {
        let off = 0;
        let inside = true;
        for (let d = 0; d < nd; d++) {
          const i = oIdx[d]! * g.strides[d]! - g.padBegin[d]! + kIdx[d]! * g.dilations[d]!;
          if (i < 0 || i >= inSpatial[d]!) {
            inside = false;
            break;
          }
          off += i * inStr[d]!;
        }
        col[o++] = inside ? x[xOff + c * inSize + off]! : 0;
        for (let d = nd - 1; d >= 0; d--) {
          if (++oIdx[d]! < g.outSpatial[d]!) break;
          oIdx[d] = 0;
        }
      }
    }
  }
}

/**
 * im2col straight into the SIMD GEMM's B panels (see gemm.ts `PanelPacker`) for 1-D/2-D inputs:
 * the column matrix of one (batch, group) slice is never materialised.
 */
function im2colPacker(x: Float32Array, xOff: number, inSpatial: number[], g: Geometry): PanelPacker {
  const nd = inSpatial.length;
  const { H, W, KH, KW, OW, sh, sw, dh, dw, pt, pl } = plane(inSpatial, g);
  return (pc, jc, kc, nc, out, off) => {
    const kc8 = kc * 8;
    for (let kk = 0; kk < kc; kk++) {
      const k = pc + kk;
      const c = Math.floor(k / (KH * KW));
      const r = k - c * KH * KW;
      const kh = Math.floor(r / KW);
      const kw = r - kh * KW;
      const xc = xOff + c * H * W;
      let oh = Math.floor(jc / OW);
      let ow = jc - oh * OW;
      // destination of column n = jc + nn: off + (nn >> 3)·kc·8 + kk·8 + (nn & 7)
      let panel = off + kk * 8;
      let lane = 0;
      let nn = 0;
      while (nn < nc) {
        const ih = oh * sh - pt + kh * dh;
        const run = Math.min(OW - ow, nc - nn);
        if (ih < 0 || ih >= H) {
          for (let i = 0; i < run; i++) {
            out[panel + lane] = 0;
            if (++lane === 8) {
              lane = 0;
              panel += kc8;
            }
          }
        } else {
          const xr = xc + ih * W;
          let iw = ow * sw - pl + kw * dw;
          for (let i = 0; i < run; i++, iw += sw) {
            out[panel + lane] = iw >= 0 && iw < W ? x[xr + iw]! : 0;
            if (++lane === 8) {
              lane = 0;
              panel += kc8;
            }
          }
        }
        nn += run;
        ow = 0;
        oh++;
      }
    }
  };
}

/** Largest im2col/col2im buffer (in elements) kept between calls; larger ones are allocated per call. */
const SCRATCH_MAX = 1 << 22;
let scratch32 = new Float32Array(0);

/**
 * A float32 work buffer of n elements with unspecified contents, reused across calls (kernels run
 * synchronously, one at a time): a training step would otherwise allocate, zero and page in a
 * fresh multi-megabyte column matrix per convolution (7 MB for the seed CNN's weight gradient).
 * Callers overwrite every element they read.
 */
export function convScratch(n: number): Float32Array {
  if (n > SCRATCH_MAX) return new Float32Array(n);
  if (scratch32.length < n) scratch32 = new Float32Array(Math.max(n, Math.min(SCRATCH_MAX, 2 * scratch32.length)));
  return scratch32.subarray(0, n);
}

/**
 * y[N, M, ...out] = conv(x, w) + bias, for one storage type and its GEMM. `out` is overwritten.
 * `alloc` gives the im2col work buffer (one at a time; its contents may be stale, every element
 * read is written first), e.g. `convScratch`.
 */
export function convForward<T extends FloatArr>(s: ConvShapes, x: T, w: T, bias: T | undefined, out: T, gemm: GemmFn<T>, alloc: (n: number) => T): void {
  const { N, C, M, group, inSpatial, geom } = s;
  const Cg = C / group;
  const Mg = M / group;
  const kk = geom.kernel.reduce((a, b) => a * b, 1);
  const inSize = inSpatial.reduce((a, b) => a * b, 1);
  const outSize = geom.outSpatial.reduce((a, b) => a * b, 1);
  const Kdim = Cg * kk;
  if (Cg === 1 && Mg === 1 && inSpatial.length <= 2) {
    depthwise2d(s, x, w, bias, out);
    return;
  }
  if (gemm === (sgemm as unknown as GemmFn<T>) && activeGemmKernel() === 'wasm' && convGather(s, x as Float32Array, w as Float32Array, bias as Float32Array | undefined, out as Float32Array)) return;
  if (batchesColumns(s)) {
    convBatchedColumns(s, x, w, bias, out, gemm, alloc);
    return;
  }
  const direct = kk === 1 && geom.strides.every((v) => v === 1) && geom.padBegin.every((v) => v === 0) && geom.padEnd.every((v) => v === 0);
  // With the SIMD kernel, 1-D/2-D im2col writes straight into the GEMM's packed panels.
  const implicit = !direct && inSpatial.length <= 2 && gemm === (sgemm as unknown as GemmFn<T>) && activeGemmKernel() === 'wasm';
  let col = direct || implicit ? undefined : alloc(Kdim * outSize);
  for (let n = 0; n < N; n++) {
    // The bias is the GEMM's initial C (a native fill, then beta = 1), not a pass of its own.
    if (bias) for (let m = 0; m < M; m++) out.fill(bias[m]!, (n * M + m) * outSize, (n * M + m + 1) * outSize);
    const beta = bias ? 1 : 0;
    for (let gi = 0; gi < group; gi++) {
      const xOff = (n * C + gi * Cg) * inSize;
      const yOff = (n * M + gi * Mg) * outSize;
      if (implicit) {
        const packer = im2colPacker(x as Float32Array, xOff, inSpatial, geom);
        if (sgemmImplicitB(Mg, outSize, Kdim, 1, w as Float32Array, gi * Mg * Kdim, Kdim, packer, beta, out as Float32Array, yOff, outSize)) continue;
      }
      if (!direct) {
        col ??= alloc(Kdim * outSize);
        im2col(x, xOff, Cg, inSpatial, geom, col);
        gemm(false, false, Mg, outSize, Kdim, 1, w, gi * Mg * Kdim, Kdim, col, 0, outSize, beta, out, yOff, outSize);
      } else {
        gemm(false, false, Mg, outSize, Kdim, 1, w, gi * Mg * Kdim, Kdim, x, xOff, inSize, beta, out, yOff, outSize);
      }
    }
  }
}

/**
 * Below this many output positions per image, `convForward` puts every image's im2col columns side
 * by side and runs one GEMM (`convBatchedColumns`). Such convolutions are mostly weight gradients
 * written as a Conv (src/runtime/grad-rules/nn.ts: the "kernel" is the output gradient, the output
 * the kernel's taps, e.g. 3×3 = 9 positions), where N products 9 columns wide leave the SIMD kernel
 * idle: on the seed CNN's second layer (32→64 channels, 14×14, batch 32) one 64×288×6272 product
 * replaces 32 products 64×9×6272.
 */
const BATCH_COLUMNS_BELOW = 64;

/** Largest column matrix (elements) the batched form builds; beyond it images go one by one. */
const BATCH_COLUMNS_MAX = 1 << 24;

/** Whether `convForward` takes the one-GEMM-over-all-images form for these shapes. */
function batchesColumns(s: ConvShapes): boolean {
  const outSize = s.geom.outSpatial.reduce((a, b) => a * b, 1);
  const kdim = (s.C / s.group) * s.geom.kernel.reduce((a, b) => a * b, 1);
  return s.N > 1 && s.group === 1 && outSize < BATCH_COLUMNS_BELOW && kdim * s.N * outSize <= BATCH_COLUMNS_MAX;
}

/**
 * col[C·k × N·out] = every image's im2col side by side, tmp[M × N·out] = W · col, then each
 * image's block moved to y[N, M, out] with the bias added.
 */
function convBatchedColumns<T extends FloatArr>(s: ConvShapes, x: T, w: T, bias: T | undefined, out: T, gemm: GemmFn<T>, alloc: (n: number) => T): void {
  const { N, C, M, inSpatial, geom } = s;
  const inSize = inSpatial.reduce((a, b) => a * b, 1);
  const outSize = geom.outSpatial.reduce((a, b) => a * b, 1);
  const Kdim = C * geom.kernel.reduce((a, b) => a * b, 1);
  const cols = N * outSize;
  const col = alloc(Kdim * cols);
  const tmp = (out instanceof Float64Array ? new Float64Array(M * cols) : new Float32Array(M * cols)) as T;
  if (inSpatial.length <= 2) {
    im2colRows(x, N, C, inSpatial, geom, col);
    gemm(false, true, M, cols, Kdim, 1, w, 0, Kdim, col, 0, Kdim, 0, tmp, 0, cols);
  } else {
    for (let n = 0; n < N; n++) im2col(x, n * C * inSize, C, inSpatial, geom, col, n * outSize, cols);
    gemm(false, false, M, cols, Kdim, 1, w, 0, Kdim, col, 0, cols, 0, tmp, 0, cols);
  }
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const b = bias ? bias[m]! : 0;
      const src = m * cols + n * outSize;
      const dst = (n * M + m) * outSize;
      for (let j = 0; j < outSize; j++) out[dst + j] = tmp[src + j]! + b;
    }
  }
}

/**
 * The transposed im2col of every image, 1-D/2-D: row (n, out position) holds that output's window
 * in weight order (c, kh, kw). With few output positions and wide kernels (weight gradients) this
 * copies runs of KW input values where `im2col` would copy runs of OW (e.g. 14 against 3).
 */
function im2colRows<T extends FloatArr>(x: T, N: number, C: number, inSpatial: number[], g: Geometry, col: T): void {
  const nd = inSpatial.length;
  const { H, W, KH, KW, OH, OW, sh, sw, dh, dw, pt, pl } = plane(inSpatial, g);
  let o = 0;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const iw0 = ow * sw - pl;
        const inside = dw === 1 && iw0 >= 0 && iw0 + KW <= W;
        for (let c = 0; c < C; c++) {
          const xc = (n * C + c) * H * W;
          for (let kh = 0; kh < KH; kh++) {
            const ih = oh * sh - pt + kh * dh;
            if (ih < 0 || ih >= H) {
              col.fill(0, o, o + KW);
              o += KW;
              continue;
            }
            const xr = xc + ih * W;
            if (inside) {
              for (let k = 0, i = xr + iw0; k < KW; k++) col[o++] = x[i + k]!;
              continue;
            }
            for (let k = 0, iw = iw0; k < KW; k++, iw += dw) col[o++] = iw >= 0 && iw < W ? x[xr + iw]! : 0;
          }
        }
      }
    }
  }
}

/** Throws E_TOO_LARGE when one image's im2col buffer would be too large (the batched form is bounded). */
function checkColumns(s: ConvShapes, w: Tensor, ctx: KernelContext): void {
  sizeChecked([w.shape[1]!, ...s.geom.kernel, ...s.geom.outSpatial], ctx);
}

/**
 * Depthwise convolution (one input and one output channel per group) computed directly: each
 * output is a kh×kw dot product, so im2col would only copy the input kh·kw times for a GEMM with
 * one row. Tap ranges per output row/column are precomputed, keeping bounds checks out of the loop.
 */
function depthwise2d<T extends FloatArr>(s: ConvShapes, x: T, w: T, bias: T | undefined, out: T): void {
  const g = s.geom;
  const two = s.inSpatial.length === 2;
  const H = two ? s.inSpatial[0]! : 1;
  const W = s.inSpatial[s.inSpatial.length - 1]!;
  const KH = two ? g.kernel[0]! : 1;
  const KW = g.kernel[g.kernel.length - 1]!;
  const OH = two ? g.outSpatial[0]! : 1;
  const OW = g.outSpatial[g.outSpatial.length - 1]!;
  const sh = two ? g.strides[0]! : 1;
  const sw = g.strides[g.strides.length - 1]!;
  const dh = two ? g.dilations[0]! : 1;
  const dw = g.dilations[g.dilations.length - 1]!;
  const ph = two ? g.padBegin[0]! : 0;
  const pw = g.padBegin[g.padBegin.length - 1]!;
  const range = (o: number, k: number, st: number, d: number, p: number, n: number): [number, number] => {
    const start = o * st - p;
    const lo = start >= 0 ? 0 : Math.min(k, Math.ceil(-start / d));
    const hi = start > n - 1 ? 0 : Math.min(k, Math.floor((n - 1 - start) / d) + 1);
    return [lo, Math.max(lo, hi)];
  };
  const rw = new Int32Array(2 * OW);
  for (let o = 0; o < OW; o++) [rw[2 * o], rw[2 * o + 1]] = range(o, KW, sw, dw, pw, W);
  const planes = s.N * s.C;
  for (let p = 0; p < planes; p++) {
    const c = p % s.C;
    const xb = p * H * W;
    const wb = c * KH * KW;
    const b = bias ? bias[c]! : 0;
    let o = p * OH * OW;
    for (let oh = 0; oh < OH; oh++) {
      const [aLo, aHi] = range(oh, KH, sh, dh, ph, H);
      const h0 = oh * sh - ph;
      for (let ow = 0; ow < OW; ow++, o++) {
        const w0 = ow * sw - pw;
        const cLo = rw[2 * ow]!, cHi = rw[2 * ow + 1]!;
        let acc = b;
        for (let a = aLo; a < aHi; a++) {
          const xr = xb + (h0 + a * dh) * W + w0;
          const wr = wb + a * KW;
          for (let k = cLo; k < cHi; k++) acc += x[xr + k * dw]! * w[wr + k]!;
        }
        out[o] = acc;
      }
    }
  }
}

function Conv(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const w = tensorIn(inputs, 1, ctx);
  const b = optTensorIn(inputs, 2);
  const s = convShapes(x, w, ctx);
  if (b && b.size !== s.M) throw shapeError(ctx, `bias has ${b.size} values, expected ${s.M}`);
  const outShape = [s.N, s.M, ...s.geom.outSpatial];
  const n = sizeChecked(outShape, ctx);
  checkColumns(s, w, ctx);
  if (x.dtype === 'float64') {
    const out = new Float64Array(n);
    convForward(s, x.data as Float64Array, floatData(w, ctx) as Float64Array, b ? (floatData(b, ctx) as Float64Array) : undefined, out, dgemm, (k) => new Float64Array(k));
    return [floatTensor(x.dtype, outShape, out)];
  }
  const out = floatAlloc('float32', n, false) as Float32Array; // every path of convForward writes each element
  convForward(s, floatData(x, ctx) as Float32Array, floatData(w, ctx) as Float32Array, b ? (floatData(b, ctx) as Float32Array) : undefined, out, sgemm, convScratch);
  return [floatTensor(x.dtype, outShape, out)];
}

function ConvInteger(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const w = tensorIn(inputs, 1, ctx);
  for (const t of [x, w]) if (t.dtype !== 'uint8' && t.dtype !== 'int8') throw dtypeError(ctx, t.dtype);
  const s = convShapes(x, w, ctx);
  checkColumns(s, w, ctx);
  // Subtracting the zero points first makes padding (0) equal to the zero point, as the spec asks.
  const xd = numData(x).slice();
  const xzp = zeroPoints(optTensorIn(inputs, 2), 1, ctx, 'x_zero_point')[0]!;
  for (let i = 0; i < xd.length; i++) xd[i] -= xzp;
  const wd = subtractPerChannel(numData(w).slice(), zeroPoints(optTensorIn(inputs, 3), s.M, ctx, 'w_zero_point'));
  const outShape = [s.N, s.M, ...s.geom.outSpatial];
  const out = new Float64Array(sizeChecked(outShape, ctx));
  convForward(s, xd, wd, undefined, out, dgemm, (k) => new Float64Array(k));
  return [numTensor('int32', outShape, out)];
}

/** w[m, ...] -= zp[m] in place (zp has one value per leading index). */
export function subtractPerChannel(w: Float64Array, zp: Float64Array): Float64Array {
  const per = w.length / zp.length;
  for (let i = 0; i < w.length; i++) w[i] -= zp[Math.floor(i / per)]!;
  return w;
}

/** col2im for ConvTranspose: scatter-add col[(m, k...), in positions] into y. */
function col2im<T extends FloatArr>(col: T, Mg: number, inSpatial: number[], outSpatial: number[], kernel: number[], strides: number[], dilations: number[], padBegin: number[], y: T, yOff: number): void {
  const nd = inSpatial.length;
  const kk = kernel.reduce((a, b) => a * b, 1);
  const inSize = inSpatial.reduce((a, b) => a * b, 1);
  const outSize = outSpatial.reduce((a, b) => a * b, 1);
  const outStr = new Array<number>(nd);
  let acc = 1;
  for (let d = nd - 1; d >= 0; d--) {
    outStr[d] = acc;
    acc *= outSpatial[d]!;
  }
  const kIdx = new Array<number>(nd).fill(0);
  const iIdx = new Array<number>(nd).fill(0);
  let ci = 0;
  for (let m = 0; m < Mg; m++) {
    const ym = yOff + m * outSize;
    for (let k = 0; k < kk; k++) {
      let r = k;
      for (let d = nd - 1; d >= 0; d--) {
        kIdx[d] = r % kernel[d]!;
        r = Math.floor(r / kernel[d]!);
      }
      if (nd === 2) {
        const W = inSpatial[1]!, H = inSpatial[0]!;
        const OH = outSpatial[0]!, OW = outSpatial[1]!;
        const sw = strides[1]!;
        // input columns iw whose target ow = ow0 + iw·sw lies in [0, OW): [lo, hi), bounds checks out of the loop
        const ow0 = kIdx[1]! * dilations[1]! - padBegin[1]!;
        const lo = Math.min(W, Math.max(0, Math.ceil(-ow0 / sw)));
        const hi = Math.max(lo, Math.min(W, Math.ceil((OW - ow0) / sw)));
        for (let ih = 0; ih < H; ih++, ci += W) {
          const oh = ih * strides[0]! - padBegin[0]! + kIdx[0]! * dilations[0]!;
          if (oh < 0 || oh >= OH) continue;
          const row = ym + oh * OW + ow0;
          if (sw === 1) for (let iw = lo; iw < hi; iw++) y[row + iw] += col[ci + iw]!;
          else for (let iw = lo; iw < hi; iw++) y[row + iw * sw] += col[ci + iw]!;
        }
        continue;
      }
      iIdx.fill(0);
      for (let p = 0; p < inSize; p++, ci++) {
        let off = 0;
        let inside = true;
        for (let d = 0; d < nd; d++) {
          const o = iIdx[d]! * strides[d]! - padBegin[d]! + kIdx[d]! * dilations[d]!;
          if (o < 0 || o >= outSpatial[d]!) {
            inside = false;
            break;
          }
          off += o * outStr[d]!;
        }
        if (inside) y[ym + off] += col[ci]!;
        for (let d = nd - 1; d >= 0; d--) {
          if (++iIdx[d]! < inSpatial[d]!) break;
          iIdx[d] = 0;
        }
      }
    }
  }
}

/**
 * A ConvTranspose weight [C, M/group, taps] as the equivalent Conv weight [M, C/group, taps]: per
 * group, input and output channels swap and the taps run backwards (the kernel flipped in every
 * spatial dimension at once, since taps are stored row-major).
 */
function flipTransposed(w: Float32Array, C: number, Mg: number, group: number, kk: number): Float32Array {
  const out = new Float32Array(w.length);
  const Cg = C / group;
  for (let g = 0; g < group; g++) {
    for (let c = 0; c < Cg; c++) {
      for (let m = 0; m < Mg; m++) {
        const src = ((g * Cg + c) * Mg + m) * kk;
        const dst = ((g * Mg + m) * Cg + c) * kk;
        for (let t = 0; t < kk; t++) out[dst + t] = w[src + kk - 1 - t]!;
      }
    }
  }
  return out;
}

function ConvTranspose(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const w = tensorIn(inputs, 1, ctx);
  const b = optTensorIn(inputs, 2);
  if (x.rank < 3 || w.rank !== x.rank) throw shapeError(ctx, `input [${x.shape.join(', ')}] and weight [${w.shape.join(', ')}] must be [N, C, spatial...] and [C, M/group, k...]`);
  const a = ctx.attrs;
  const nd = x.rank - 2;
  const group = a.int('group', 1);
  const [N, C] = x.shape as [number, number];
  if (w.shape[0] !== C) throw shapeError(ctx, `weight has ${w.shape[0]} input channels, input has ${C}`);
  if (group < 1 || C % group !== 0) throw attrError(ctx, `group ${group} must divide input channels ${C}`);
  const Mg = w.shape[1]!;
  const M = Mg * group;
  const Cg = C / group;
  const kernel = a.ints('kernel_shape', w.shape.slice(2));
  const strides = a.ints('strides', new Array<number>(nd).fill(1));
  const dilations = a.ints('dilations', new Array<number>(nd).fill(1));
  const outPad = a.ints('output_padding', new Array<number>(nd).fill(0));
  const autoPad = a.string('auto_pad', 'NOTSET');
  let pads = a.ints('pads', new Array<number>(2 * nd).fill(0));
  if (kernel.length !== nd || strides.length !== nd || dilations.length !== nd || outPad.length !== nd || pads.length !== 2 * nd) {
    throw attrError(ctx, `kernel_shape/strides/dilations/output_padding need ${nd} values and pads ${2 * nd}`);
  }
  if ([...kernel, ...strides, ...dilations].some((v) => !(v >= 1)) || pads.some((v) => v < 0) || outPad.some((v) => v < 0)) throw attrError(ctx, 'kernel, strides and dilations must be ≥ 1, pads and output_padding ≥ 0');
  const inSpatial = x.shape.slice(2);
  const outSpatial = new Array<number>(nd);
  const padBegin = new Array<number>(nd);
  let outputShape = a.has('output_shape') ? a.ints('output_shape') : undefined;
  if (outputShape && outputShape.length === nd + 2) outputShape = outputShape.slice(2);
  if (outputShape && outputShape.length !== nd) throw attrError(ctx, `output_shape needs ${nd} spatial values`);
  pads = pads.slice();
  for (let i = 0; i < nd; i++) {
    const full = strides[i]! * (inSpatial[i]! - 1) + outPad[i]! + (kernel[i]! - 1) * dilations[i]! + 1;
    if (outputShape || autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      const target = outputShape ? outputShape[i]! : inSpatial[i]! * strides[i]!;
      const total = Math.max(0, full - target);
      const half = Math.floor(total / 2);
      // The spec puts the odd pixel of padding at the end for SAME_UPPER, at the start otherwise.
      pads[i] = autoPad === 'SAME_UPPER' ? half : total - half;
      pads[i + nd] = total - pads[i]!;
      outSpatial[i] = target;
    } else {
      if (autoPad === 'VALID') pads[i] = pads[i + nd] = 0;
      else if (autoPad !== 'NOTSET') throw attrError(ctx, `unknown auto_pad '${autoPad}'`);
      outSpatial[i] = full - pads[i]! - pads[i + nd]!;
    }
    padBegin[i] = pads[i]!;
    if (!(outSpatial[i]! >= 0)) throw shapeError(ctx, `output spatial size ${outSpatial[i]} is negative`);
  }
  if (b && b.size !== M) throw shapeError(ctx, `bias has ${b.size} values, expected ${M}`);
  const outShape = [N, M, ...outSpatial];
  const n = sizeChecked(outShape, ctx);
  const kk = kernel.reduce((p, q) => p * q, 1);
  const inSize = inSpatial.reduce((p, q) => p * q, 1);
  const outSize = outSpatial.reduce((p, q) => p * q, 1);
  const run = <T extends FloatArr>(xd: T, wd: T, bd: T | undefined, out: T, gemm: GemmFn<T>, col: T): void => {
    for (let bn = 0; bn < N; bn++) {
      for (let g = 0; g < group; g++) {
        // col[(Mg·kk) × inSize] = W_gᵀ · X_g, W_g stored [Cg × Mg·kk]
        gemm(true, false, Mg * kk, inSize, Cg, 1, wd, g * Cg * Mg * kk, Mg * kk, xd, (bn * C + g * Cg) * inSize, inSize, 0, col, 0, inSize);
        col2im(col, Mg, inSpatial, outSpatial, kernel, strides, dilations, padBegin, out, (bn * M + g * Mg) * outSize);
      }
      if (bd) for (let m = 0; m < M; m++) for (let i = 0, o = (bn * M + m) * outSize; i < outSize; i++) out[o + i] += bd[m]!;
    }
  };
  if (x.dtype !== 'float64' && activeGemmKernel() === 'wasm' && strides.every((v) => v === 1) && kernel.every((k, i) => dilations[i]! * (k - 1) >= Math.max(padBegin[i]!, pads[i + nd]! - outPad[i]!))) {
    // Stride 1 is a plain Conv of x with the flipped, transposed kernel and pads d·(k−1) − p: one
    // batched SIMD GEMM (conv-gather.ts) instead of a GEMM per image plus a col2im scatter.
    const geom: Geometry = {
      kernel,
      strides,
      dilations,
      padBegin: kernel.map((k, i) => dilations[i]! * (k - 1) - padBegin[i]!),
      padEnd: kernel.map((k, i) => dilations[i]! * (k - 1) - pads[i + nd]! + outPad[i]!),
      outSpatial,
    };
    const out = floatAlloc('float32', n, false) as Float32Array;
    const wf = flipTransposed(floatData(w, ctx) as Float32Array, C, Mg, group, kk);
    convForward({ N, C, M, group, inSpatial, geom }, floatData(x, ctx) as Float32Array, wf, b ? (floatData(b, ctx) as Float32Array) : undefined, out, sgemm, convScratch);
    return [floatTensor(x.dtype, outShape, out)];
  }
  const colSize = sizeChecked([Mg * kk, inSize], ctx);
  if (x.dtype === 'float64') {
    const out = new Float64Array(n);
    run(x.data as Float64Array, floatData(w, ctx) as Float64Array, b ? (floatData(b, ctx) as Float64Array) : undefined, out, dgemm, new Float64Array(colSize));
    return [floatTensor(x.dtype, outShape, out)];
  }
  const out = floatAlloc('float32', n) as Float32Array;
  run(floatData(x, ctx) as Float32Array, floatData(w, ctx) as Float32Array, b ? (floatData(b, ctx) as Float32Array) : undefined, out, sgemm, convScratch(colSize));
  return [floatTensor(x.dtype, outShape, out)];
}

export const convKernels: KernelTable = { Conv, ConvTranspose, ConvInteger };
