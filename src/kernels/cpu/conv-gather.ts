/**
 * Float32 convolutions (1-D/2-D, group 1) as one SIMD GEMM over the whole batch with no im2col
 * matrix: the input is copied once into zero-padded planes and the GEMM's B operand is gathered
 * straight from them by address tables (gemm.ts `sgemmGather`), packed inside the WebAssembly
 * module. Two forms, picked by shape:
 *
 * - Tap form (stride 1, many output positions: forward convolutions). With padded planes of row
 *   width Wp, output position (oh, ow) is column j = oh·Wp + ow and tap (c, kh, kw) reads
 *   plane_c[j + kh·dh·Wp + kw·dw]: every row of B is a contiguous run of one plane. Columns with
 *   ow ≥ OW are computed and dropped (Wp − OW of every Wp), the price of contiguity.
 * - Window form (few output positions: weight gradients, written as a Conv whose kernel is the
 *   output gradient, 3×3 = 9 outputs over 14×14 "taps"). Output (n, oh, ow) is a column and its
 *   window is contiguous in the padded planes once the kernel is laid out with the planes' row
 *   width (zeros in the Wp − KW extra columns), one run per input channel.
 *
 * Both replace a per-element im2col in JS (about 1 ns per element, as much time as the multiply
 * itself on the seed CNN) with memcpy-speed copies and SIMD packing.
 * Spec: https://onnx.ai/onnx/operators/onnx__Conv.html
 */
import { sgemmGather, stridedA, type GatherB } from './gemm.js';
import type { ConvShapes } from './conv.js';
import { plane } from './nn-util.js';

/** Float32 work buffers for the padded planes and relaid kernels, reused across calls (kernels run one at a time). */
let planes: Float32Array = new Float32Array(0);
let relaid: Float32Array = new Float32Array(0);

/** Most floats of padded planes built for one call (the gather driver copies at most 2^24 operand floats anyway). */
const GATHER_PLANES_MAX = 1 << 24;

/** Largest work buffer (floats) kept between calls; larger ones are allocated per call. */
const KEEP_MAX = 1 << 22;

function grow(buf: Float32Array, n: number, keep: (b: Float32Array) => void): Float32Array {
  if (buf.length >= n) return buf;
  const b = new Float32Array(n <= KEEP_MAX ? Math.min(KEEP_MAX, Math.max(n, Math.floor(buf.length * 1.5))) : n);
  if (n <= KEEP_MAX) keep(b);
  return b;
}

/** dst[d..d+n) = src[s..s+n): a loop for short runs (a subarray per call costs more than ~30 floats). */
function copyRun(src: Float32Array, s: number, dst: Float32Array, d: number, n: number): void {
  if (n > 32) dst.set(src.subarray(s, s + n), d);
  else for (let i = 0; i < n; i++) dst[d + i] = src[s + i]!;
}

/**
 * Copy x [N, C, H, W] into planes [N, C, Hp, Wp] (zero borders; the input lands at row pt, column
 * pl). Returns the buffer, with `tail` zero floats after the last plane for reads past its end.
 */
function padPlanes(x: Float32Array, N: number, C: number, H: number, W: number, Hp: number, Wp: number, pt: number, pl: number, tail: number): Float32Array | undefined {
  const size = N * C * Hp * Wp;
  // Pads come from the model: with huge pads and a huge stride the output stays small while the
  // padded planes would not. Beyond the gather driver's own operand limit, decline (the im2col
  // paths index the padding without materialising it).
  if (!(size + tail <= GATHER_PLANES_MAX)) return undefined;
  const p = grow(planes, size + tail, (b) => (planes = b));
  p.fill(0, 0, size + tail);
  for (let nc = 0; nc < N * C; nc++) {
    for (let h = 0; h < H; h++) copyRun(x, (nc * H + h) * W, p, (nc * Hp + pt + h) * Wp + pl, W);
  }
  return p;
}

/** Shortest reduction (C · kernel taps) for which the tap form beats per-image im2col. */
const TAP_FORM_MIN_K = 32;

/** Below this many output positions per image the window form is used (weight-gradient convolutions). */
const WINDOW_FORM_BELOW = 64;

/**
 * out[N, M, ...] = conv(x, w) + bias through `sgemmGather`, when the shape suits one of the two
 * forms (group 1, 1-D/2-D; tap form: stride 1; window form: dilation 1 and few outputs) and the
 * SIMD kernel is on. Returns false, writing nothing, otherwise.
 */
export function convGather(s: ConvShapes, x: Float32Array, w: Float32Array, bias: Float32Array | undefined, out: Float32Array): boolean {
  if (s.group !== 1 || s.inSpatial.length > 2) return false;
  const g = plane(s.inSpatial, s.geom);
  const outSize = g.OH * g.OW;
  if (outSize === 0 || s.N === 0) return false;
  if (outSize < WINDOW_FORM_BELOW && g.dh === 1 && g.dw === 1) return windowForm(s, g, x, w, bias, out);
  // With a short reduction (a first layer: C·taps = 9 on MNIST) the GEMM is bound by storing C,
  // and the dropped columns and the output copy cost more than im2col saves: measured slower.
  if (g.sh === 1 && g.sw === 1 && s.C * g.KH * g.KW >= TAP_FORM_MIN_K) return tapForm(s, g, x, w, bias, out);
  return false;
}

type G = ReturnType<typeof plane>;

function tapForm(s: ConvShapes, g: G, x: Float32Array, w: Float32Array, bias: Float32Array | undefined, out: Float32Array): boolean {
  const { N, C, M } = s;
  const { H, W, KH, KW, OH, OW, dh, dw, pt, pl } = g;
  const Hp = OH + (KH - 1) * dh; // rows read by the taps of the OH output rows
  // Row width: the padded input width, widened so one image's columns (OH·Wp) fill whole 8-wide panels.
  let Wp = Math.max(W + pl, OW + (KW - 1) * dw);
  while ((OH * Wp) % 8 !== 0) Wp++;
  const L = OH * Wp;
  const kk = KH * KW;
  const plane = Hp * Wp;
  // Dropped columns of the last row read up to Wp − OW + (KW − 1)·dw floats past the last plane.
  const src = padPlanes(x, N, C, H, W, Hp, Wp, pt, pl, Wp + (KW - 1) * dw + 8);
  if (!src) return false;
  const b: GatherB = {
    kind: 'rows',
    src,
    lo: 0,
    hi: N * C * plane + Wp + (KW - 1) * dw + 8,
    off: (k) => {
      const c = Math.floor(k / kk);
      const t = k - c * kk;
      const kh = Math.floor(t / KW);
      return c * plane + kh * dh * Wp + (t - kh * KW) * dw;
    },
    block: L,
    blockShift: C * plane,
  };
  const K = C * kk;
  return sgemmGather(M, N * L, K, 1, stridedA(false, M, K, w, 0, K), b, true, undefined, 0, 0, (heap, cF, ldcW, jc, nc) => {
    for (let n = jc / L; n < (jc + nc) / L; n++) {
      const col = cF + (n * L - jc);
      for (let m = 0; m < M; m++) {
        const bm = bias ? bias[m]! : 0;
        let o = (n * M + m) * OH * OW;
        for (let oh = 0; oh < OH; oh++) {
          const r = col + m * ldcW + oh * Wp;
          for (let ow = 0; ow < OW; ow++) out[o++] = heap[r + ow]! + bm;
        }
      }
    }
  });
}

function windowForm(s: ConvShapes, g: G, x: Float32Array, w: Float32Array, bias: Float32Array | undefined, out: Float32Array): boolean {
  const { N, C, M } = s;
  const { H, W, KH, KW, OH, OW, sh, sw, pt, pl } = g;
  const Hp = Math.max(H + pt, (OH - 1) * sh + KH);
  const Wp = Math.max(W + pl, (OW - 1) * sw + KW);
  const plane = Hp * Wp;
  const L = KH * Wp; // one channel's window, rows at the planes' width
  // The kernel relaid as [M, C, KH, Wp] with zeros in columns KW..Wp−1.
  const K = C * L;
  if (!(M * K <= GATHER_PLANES_MAX)) return false; // huge pads widen the rows: decline before allocating
  const a = grow(relaid, M * K, (b) => (relaid = b));
  a.fill(0, 0, M * K);
  for (let mc = 0; mc < M * C; mc++) {
    for (let kh = 0; kh < KH; kh++) copyRun(w, (mc * KH + kh) * KW, a, (mc * KH + kh) * Wp, KW);
  }
  // The last window row runs Wp − KW floats past its plane's last needed column.
  const src = padPlanes(x, N, C, H, W, Hp, Wp, pt, pl, Wp + 8);
  if (!src) return false;
  const b: GatherB = {
    kind: 'cols',
    src,
    lo: 0,
    hi: N * C * plane + Wp + 8,
    off: (j) => {
      const n = Math.floor(j / (OH * OW));
      const o = j - n * OH * OW;
      const oh = Math.floor(o / OW);
      return n * C * plane + oh * sh * Wp + (o - oh * OW) * sw;
    },
    block: L,
    blockShift: plane,
  };
  // Each window row spans Wp columns of which KW carry weight: the zeros multiply neighbouring
  // inputs, which is exact only while those are finite (0·Inf = NaN would leak into the output).
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i]!)) return false;
  const P = OH * OW;
  return sgemmGather(M, N * P, K, 1, stridedA(false, M, K, a, 0, K), b, true, undefined, 0, 0, (heap, cF, ldcW, jc, nc) => {
    for (let m = 0; m < M; m++) {
      const bm = bias ? bias[m]! : 0;
      const r = cF + m * ldcW - jc;
      for (let j = jc; j < jc + nc; j++) {
        const n = Math.floor(j / P);
        out[(n * M + m) * P + (j - n * P)] = heap[r + j]! + bm;
      }
    }
  });
}
