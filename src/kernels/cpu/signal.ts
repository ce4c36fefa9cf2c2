/**
 * CPU kernels: signal processing (DFT, STFT, HannWindow, HammingWindow, BlackmanWindow,
 * MelWeightMatrix), opset 17 forms.
 *
 * The DFT is computed in float64: a radix-2 FFT for power-of-two lengths, otherwise a direct sum
 * with a precomputed twiddle table (O(n²), fine for the frame sizes these ops see).
 * Spec: https://onnx.ai/onnx/operators/onnx__DFT.html, …/onnx__STFT.html,
 * …/onnx__MelWeightMatrix.html.
 */
import { isFloatDType } from '../../ir/dtype.js';
import { RosettaError } from '../../ir/errors.js';
import { checkedSize, elementToNumber, MAX_ELEMENTS, setElement } from '../../ir/tensor.js';
import type { Value } from '../../runtime/value.js';
import { guardAlloc, intValues, newTensor } from './copy.js';
import type { KernelContext, KernelTable } from './kernel.js';
import { dtypeAttr } from './shape.js';
import { dtypeError, normAxis, optTensorIn, tensorIn } from './util.js';

function shapeErr(ctx: KernelContext, msg: string): RosettaError {
  return new RosettaError('E_SHAPE_MISMATCH', msg, { where: { node: ctx.node.name } });
}

/**
 * In-place complex DFT of length n on (re, im); `inverse` uses e^{+i…} and divides by n.
 * `scratch` must hold 2n numbers.
 */
export function dft1d(re: Float64Array, im: Float64Array, inverse: boolean, scratch: Float64Array): void {
  const n = re.length;
  if (n <= 1) return;
  const sign = inverse ? 1 : -1;
  if ((n & (n - 1)) === 0) {
    // Iterative radix-2 Cooley–Tukey.
    for (let i = 1, j = 0; i < n; i++) {
      let bit = n >> 1;
      for (; j & bit; bit >>= 1) j ^= bit;
      j ^= bit;
      if (i < j) {
        [re[i], re[j]] = [re[j]!, re[i]!];
        [im[i], im[j]] = [im[j]!, im[i]!];
      }
    }
    for (let len = 2; len <= n; len <<= 1) {
      const ang = (sign * 2 * Math.PI) / len;
      for (let i = 0; i < n; i += len) {
        for (let k = 0; k < len / 2; k++) {
          const wr = Math.cos(ang * k);
          const wi = Math.sin(ang * k);
          const ar = re[i + k + len / 2]!;
          const ai = im[i + k + len / 2]!;
          const tr = ar * wr - ai * wi;
          const ti = ar * wi + ai * wr;
          re[i + k + len / 2] = re[i + k]! - tr;
          im[i + k + len / 2] = im[i + k]! - ti;
          re[i + k] = re[i + k]! + tr;
          im[i + k] = im[i + k]! + ti;
        }
      }
    }
  } else {
    const outRe = scratch.subarray(0, n);
    const outIm = scratch.subarray(n, 2 * n);
    for (let k = 0; k < n; k++) {
      let sr = 0;
      let si = 0;
      for (let t = 0; t < n; t++) {
        // (k·t) mod n keeps the angle small so cos/sin stay accurate for long signals.
        const a = (sign * 2 * Math.PI * ((k * t) % n)) / n;
        const c = Math.cos(a);
        const s = Math.sin(a);
        sr += re[t]! * c - im[t]! * s;
        si += re[t]! * s + im[t]! * c;
      }
      outRe[k] = sr;
      outIm[k] = si;
    }
    re.set(outRe);
    im.set(outIm);
  }
  if (inverse) {
    for (let k = 0; k < n; k++) {
      re[k]! /= n;
      im[k]! /= n;
    }
  }
}

function DFT(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  if (!isFloatDType(x.dtype)) throw dtypeError(ctx, x.dtype);
  const r = x.rank;
  const c = x.shape[r - 1];
  if (r < 2 || (c !== 1 && c !== 2)) throw shapeErr(ctx, `DFT input must end in a dimension of 1 (real) or 2 (complex), got [${x.shape.join(', ')}]`);
  // Opset 20 moved `axis` to input 2 (counted over the full rank, default -2); opset 17 has the attribute.
  const axisT = optTensorIn(inputs, 2);
  const axis = axisT ? normAxis(intValues(axisT, 'DFT axis', ctx.node.name)[0]!, r, ctx) : normAxis(ctx.attrs.int('axis', 1), r - 1, ctx);
  if (axis === r - 1) throw shapeErr(ctx, `DFT axis ${axis} must be a signal axis of [${x.shape.join(', ')}]`);
  const inverse = ctx.attrs.int('inverse', 0) !== 0;
  const onesided = ctx.attrs.int('onesided', 0) !== 0;
  const lenT = optTensorIn(inputs, 1);
  const n = x.shape[axis]!;
  const len = lenT ? intValues(lenT, 'DFT dft_length', ctx.node.name)[0]! : n;
  if (!(len > 0 && len <= MAX_ELEMENTS)) throw shapeErr(ctx, `DFT dft_length ${len} must be positive and at most ${MAX_ELEMENTS}`);
  if (onesided && c === 2) throw shapeErr(ctx, 'DFT onesided needs a real input');
  const outLen = onesided ? Math.floor(len / 2) + 1 : len;
  const outShape = x.shape.slice();
  outShape[axis] = outLen;
  outShape[r - 1] = 2;
  const out = newTensor(x.dtype, outShape);
  const outer = x.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(axis + 1, r - 1).reduce((a, b) => a * b, 1);
  if (out.size === 0) return [out];
  const [re, im, scratch] = guardAlloc(() => [new Float64Array(len), new Float64Array(len), new Float64Array(2 * len)], `DFT buffers of ${len}`);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      re.fill(0);
      im.fill(0);
      for (let t = 0; t < Math.min(n, len); t++) {
        const base = ((o * n + t) * inner + j) * c;
        re[t] = elementToNumber(x, base);
        if (c === 2) im[t] = elementToNumber(x, base + 1);
      }
      dft1d(re, im, inverse, scratch);
      for (let k = 0; k < outLen; k++) {
        const base = ((o * outLen + k) * inner + j) * 2;
        setElement(out, base, re[k]!);
        setElement(out, base + 1, im[k]!);
      }
    }
  }
  return [out];
}

function STFT(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  if (!isFloatDType(x.dtype)) throw dtypeError(ctx, x.dtype);
  const step = intValues(tensorIn(inputs, 1, ctx), 'STFT frame_step', ctx.node.name)[0]!;
  const win = optTensorIn(inputs, 2);
  const flT = optTensorIn(inputs, 3);
  const onesided = ctx.attrs.int('onesided', 1) !== 0;
  if (x.rank !== 3 || (x.shape[2] !== 1 && x.shape[2] !== 2)) throw shapeErr(ctx, `STFT signal must be [batch, length, 1|2], got [${x.shape.join(', ')}]`);
  const [batch, length, c] = x.shape as [number, number, number];
  const fl = flT ? intValues(flT, 'STFT frame_length', ctx.node.name)[0]! : win ? win.size : NaN;
  if (!(fl > 0) || fl > length || step <= 0) throw shapeErr(ctx, `STFT frame_length ${fl} / frame_step ${step} do not fit a signal of ${length}`);
  if (win && win.size !== fl) throw shapeErr(ctx, `STFT window has ${win.size} values, frame_length is ${fl}`);
  if (onesided && c === 2) throw shapeErr(ctx, 'STFT onesided needs a real signal');
  const w = win ? win.toNumbers() : undefined;
  const frames = 1 + Math.floor((length - fl) / step);
  const bins = onesided ? Math.floor(fl / 2) + 1 : fl;
  const out = newTensor(x.dtype, [batch, frames, bins, 2]);
  const re = new Float64Array(fl);
  const im = new Float64Array(fl);
  const scratch = new Float64Array(2 * fl);
  for (let b = 0; b < batch; b++) {
    for (let f = 0; f < frames; f++) {
      for (let t = 0; t < fl; t++) {
        const base = (b * length + f * step + t) * c;
        const g = w ? w[t]! : 1;
        re[t] = elementToNumber(x, base) * g;
        im[t] = c === 2 ? elementToNumber(x, base + 1) * g : 0;
      }
      dft1d(re, im, false, scratch);
      for (let k = 0; k < bins; k++) {
        const base = ((b * frames + f) * bins + k) * 2;
        setElement(out, base, re[k]!);
        setElement(out, base + 1, im[k]!);
      }
    }
  }
  return [out];
}

/** Generalised cosine window Σ_k (-1)^k a_k cos(2πkn/N), N = size (periodic) or size-1. */
function cosineWindow(coeffs: readonly number[]) {
  return (inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] => {
    const size = intValues(tensorIn(inputs, 0, ctx), `${ctx.node.opType} size`, ctx.node.name)[0]!;
    if (!(size >= 0)) throw shapeErr(ctx, `${ctx.node.opType} size ${size} must be non-negative`);
    const dtype = dtypeAttr(ctx, 'output_datatype', 'float32');
    const periodic = ctx.attrs.int('periodic', 1) !== 0;
    const N = periodic ? size : size - 1;
    const out = newTensor(dtype, [size]);
    for (let n = 0; n < size; n++) {
      let v = 0;
      coeffs.forEach((a, k) => (v += (k % 2 ? -a : a) * (N === 0 ? 1 : Math.cos((2 * Math.PI * k * n) / N))));
      setElement(out, n, v);
    }
    return [out];
  };
}

function MelWeightMatrix(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const scalar = (i: number): number => elementToNumber(tensorIn(inputs, i, ctx), 0);
  const mels = Math.trunc(scalar(0));
  const dftLength = Math.trunc(scalar(1));
  const sampleRate = Math.trunc(scalar(2));
  const lower = scalar(3);
  const upper = scalar(4);
  if (mels <= 0 || dftLength <= 0 || sampleRate <= 0 || !(upper > lower) || lower < 0) {
    throw shapeErr(ctx, `MelWeightMatrix arguments out of range (bins ${mels}, dft_length ${dftLength}, rate ${sampleRate}, edges ${lower}..${upper})`);
  }
  const dtype = dtypeAttr(ctx, 'output_datatype', 'float32');
  const specBins = Math.floor(dftLength / 2) + 1;
  checkedSize([specBins, mels], 'MelWeightMatrix output');
  const toMel = (hz: number): number => 2595 * Math.log10(1 + hz / 700);
  const lowMel = toMel(lower);
  const melStep = (toMel(upper) - lowMel) / (mels + 2);
  // Triangle corners as spectrogram bin indices, as the spec's reference computes them.
  const bins = Array.from({ length: mels + 2 }, (_, i) => {
    const hz = 700 * (10 ** ((i * melStep + lowMel) / 2595) - 1);
    return Math.floor(((dftLength + 1) * hz) / sampleRate);
  });
  const out = newTensor(dtype, [specBins, mels]);
  const put = (j: number, i: number, v: number): void => {
    if (j >= 0 && j < specBins) setElement(out, j * mels + i, v);
  };
  for (let i = 0; i < mels; i++) {
    const [l, c, h] = [bins[i]!, bins[i + 1]!, bins[i + 2]!];
    // Loops stay inside the matrix: corners far outside it (absurd edges) must not cost time.
    if (c === l) put(c, i, 1);
    else for (let j = Math.max(l, 0); j <= Math.min(c, specBins - 1); j++) put(j, i, (j - l) / (c - l));
    if (h > c) for (let j = Math.max(c, 0); j < Math.min(h, specBins); j++) put(j, i, (h - j) / (h - c));
  }
  return [out];
}

export const signalKernels: KernelTable = {
  DFT,
  STFT,
  HannWindow: cosineWindow([0.5, 0.5]),
  HammingWindow: cosineWindow([25 / 46, 21 / 46]),
  BlackmanWindow: cosineWindow([0.42, 0.5, 0.08]),
  MelWeightMatrix,
};
