/**
 * Helpers shared by the nn kernel families (GEMM, conv, pooling, normalisation, RNN, resize):
 * float storage access (float16/bfloat16 decoded to float32, float64 kept exact) and the spatial
 * geometry rules of ONNX Conv/Pool (auto_pad, pads, dilations, ceil_mode).
 * Spec: https://onnx.ai/onnx/operators/onnx__Conv.html, https://onnx.ai/onnx/operators/onnx__MaxPool.html
 */
import { allocData, type DType } from '../../ir/dtype.js';
import { RosettaError } from '../../ir/errors.js';
import { f32ToBf16, f32ToF16 } from '../../ir/float-bits.js';
import { Tensor, checkedSize, elementToNumber, setElement, toFloat32Array } from '../../ir/tensor.js';
import type { KernelContext } from './kernel.js';
import { dtypeError } from './util.js';

/** Float storage kernels compute on: float64 stays float64, every other float type is float32. */
export type FloatArr = Float32Array | Float64Array;

const FLOAT_TYPES = new Set<DType>(['float32', 'float64', 'float16', 'bfloat16']);

/** Whether the float kernels accept `d` (float32/float64 directly, float16/bfloat16 via float32). */
export function isFloatKernelDType(d: DType): boolean {
  return FLOAT_TYPES.has(d);
}

/** The values of a float tensor as float32 (or float64 for float64); no copy for float32/float64. */
export function floatData(t: Tensor, ctx: KernelContext): FloatArr {
  if (t.dtype === 'float32' || t.dtype === 'float64') return t.data as FloatArr;
  if (t.dtype === 'float16' || t.dtype === 'bfloat16') return toFloat32Array(t);
  throw dtypeError(ctx, t.dtype);
}

/** Compute storage for a result of `dtype`: zeroed, or with `zeroed` false stale (the caller writes every element). */
export function floatAlloc(dtype: DType, n: number, zeroed = true): FloatArr {
  return allocData(dtype === 'float64' ? 'float64' : 'float32', n, zeroed) as FloatArr;
}

/** Wrap compute storage as a tensor of `dtype`, encoding float16/bfloat16 bits. */
export function floatTensor(dtype: DType, shape: readonly number[], data: FloatArr): Tensor {
  if (dtype === 'float32' || dtype === 'float64') return new Tensor(dtype, shape, data);
  const bits = new Uint16Array(data.length);
  const enc = dtype === 'bfloat16' ? f32ToBf16 : f32ToF16;
  for (let i = 0; i < data.length; i++) bits[i] = enc(data[i]!);
  return new Tensor(dtype, shape, bits);
}

/** Any numeric tensor as float64 values (ints exact below 2^53). */
export function numData(t: Tensor): Float64Array {
  if (t.dtype === 'float64') return t.data as Float64Array;
  const out = new Float64Array(t.size);
  if (t.dtype === 'float32' || t.dtype === 'int8' || t.dtype === 'uint8' || t.dtype === 'int16' || t.dtype === 'uint16' || t.dtype === 'int32' || t.dtype === 'uint32' || t.dtype === 'bool') {
    out.set(t.data as ArrayLike<number>);
    return out;
  }
  for (let i = 0; i < out.length; i++) out[i] = elementToNumber(t, i);
  return out;
}

/** Float64 values back into a tensor of any numeric dtype (ints: values must already be integral). */
export function numTensor(dtype: DType, shape: readonly number[], v: Float64Array): Tensor {
  if (dtype === 'float64') return new Tensor(dtype, shape, v);
  if (dtype === 'float16' || dtype === 'bfloat16') return floatTensor(dtype, shape, v);
  const t = new Tensor(dtype, shape);
  if (dtype === 'int64' || dtype === 'uint64' || dtype.startsWith('float8')) {
    for (let i = 0; i < v.length; i++) setElement(t, i, v[i]!);
  } else {
    (t.data as Float32Array).set(v);
  }
  return t;
}

/** Element count of a kernel-computed shape, or a typed error (E_TOO_LARGE / E_SHAPE_MISMATCH) naming the node. */
export function sizeChecked(shape: readonly number[], ctx: KernelContext): number {
  try {
    return checkedSize(shape, `${ctx.node.opType} output`);
  } catch (e) {
    const code = e instanceof RosettaError && e.code === 'E_TOO_LARGE' ? 'E_TOO_LARGE' : 'E_SHAPE_MISMATCH';
    throw new RosettaError(code, `${ctx.node.opType} would produce shape [${shape.join(', ')}]: ${(e as Error).message.replace(/^E_[A-Z_]+: /, '')}`, { where: { node: ctx.node.name }, hint: 'check the node attributes and input shapes' });
  }
}

/** E_SHAPE_MISMATCH naming the node. */
export function shapeError(ctx: KernelContext, msg: string): RosettaError {
  return new RosettaError('E_SHAPE_MISMATCH', `${ctx.node.opType}: ${msg}`, { where: { node: ctx.node.name } });
}

/** E_INVALID_ATTR naming the node. */
export function attrError(ctx: KernelContext, msg: string): RosettaError {
  return new RosettaError('E_INVALID_ATTR', `${ctx.node.opType}: ${msg}`, { where: { node: ctx.node.name } });
}

/** Resolved window geometry of a Conv/Pool node over `nd` spatial dims. */
export interface Geometry {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** Begin pads per spatial dim. */
  padBegin: number[];
  padEnd: number[];
  outSpatial: number[];
}

/**
 * A 1-D or 2-D window geometry as a 2-D plane (1-D: height 1, no vertical stride/pad), so the
 * convolution loops (im2col variants, conv-gather.ts) are written once for both. Computed once
 * per call, never per element.
 */
export function plane(inSpatial: readonly number[], g: Geometry) {
  const two = inSpatial.length === 2;
  const last = inSpatial.length - 1;
  return {
    H: two ? inSpatial[0]! : 1,
    W: inSpatial[last]!,
    KH: two ? g.kernel[0]! : 1,
    KW: g.kernel[last]!,
    OH: two ? g.outSpatial[0]! : 1,
    OW: g.outSpatial[last]!,
    sh: two ? g.strides[0]! : 1,
    sw: g.strides[last]!,
    dh: two ? g.dilations[0]! : 1,
    dw: g.dilations[last]!,
    pt: two ? g.padBegin[0]! : 0,
    pl: g.padBegin[last]!,
  };
}

/**
 * Resolve auto_pad / pads / strides / dilations / ceil_mode into explicit geometry, as the ONNX
 * spec defines for Conv and the pooling ops. `kernel` comes from kernel_shape or the weight.
 */
export function windowGeometry(inSpatial: readonly number[], kernel: number[], ctx: KernelContext, opts: { ceil?: boolean } = {}): Geometry {
  const nd = inSpatial.length;
  const a = ctx.attrs;
  if (kernel.length !== nd) throw attrError(ctx, `kernel_shape has ${kernel.length} dims, input has ${nd} spatial dims`);
  const strides = a.ints('strides', new Array<number>(nd).fill(1));
  const dilations = a.ints('dilations', new Array<number>(nd).fill(1));
  const autoPad = a.string('auto_pad', 'NOTSET');
  const pads = a.ints('pads', new Array<number>(2 * nd).fill(0));
  if (strides.length !== nd || dilations.length !== nd || pads.length !== 2 * nd) {
    throw attrError(ctx, `strides/dilations/pads must have ${nd}/${nd}/${2 * nd} values, got ${strides.length}/${dilations.length}/${pads.length}`);
  }
  for (let i = 0; i < nd; i++) {
    if (!(strides[i]! >= 1) || !(dilations[i]! >= 1) || !(kernel[i]! >= 1)) throw attrError(ctx, `strides, dilations and kernel sizes must be ≥ 1`);
    if (pads[i]! < 0 || pads[i + nd]! < 0) throw attrError(ctx, `pads must be non-negative`);
  }
  const padBegin = new Array<number>(nd);
  const padEnd = new Array<number>(nd);
  const outSpatial = new Array<number>(nd);
  for (let i = 0; i < nd; i++) {
    const n = inSpatial[i]!;
    const s = strides[i]!;
    const dk = (kernel[i]! - 1) * dilations[i]! + 1;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      const out = Math.ceil(n / s);
      const total = Math.max(0, (out - 1) * s + dk - n);
      const small = Math.floor(total / 2);
      padBegin[i] = autoPad === 'SAME_UPPER' ? small : total - small;
      padEnd[i] = total - padBegin[i]!;
      outSpatial[i] = out;
    } else if (autoPad === 'VALID' || autoPad === 'NOTSET') {
      padBegin[i] = autoPad === 'VALID' ? 0 : pads[i]!;
      padEnd[i] = autoPad === 'VALID' ? 0 : pads[i + nd]!;
      const span = n + padBegin[i]! + padEnd[i]! - dk;
      let out: number;
      if (opts.ceil) {
        out = Math.ceil(span / s) + 1;
        // the last window must start inside the input or the begin padding
        if ((out - 1) * s >= n + padBegin[i]!) out--;
      } else {
        out = Math.floor(span / s) + 1;
      }
      outSpatial[i] = Math.max(0, out);
    } else {
      throw attrError(ctx, `unknown auto_pad '${autoPad}' (expected NOTSET, SAME_UPPER, SAME_LOWER or VALID)`);
    }
  }
  return { kernel, strides, dilations, padBegin, padEnd, outSpatial };
}

/** Whether this platform stores typed-array elements little-endian (word order of int64 views). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Position of the low / high 32-bit word of an int64 element inside its pair of Int32 slots. */
export const INT64_LO = LITTLE_ENDIAN ? 0 : 1;
export const INT64_HI = 1 - INT64_LO;

/**
 * A BigInt64Array's storage as 32-bit words: writing `v >>> 0` and `Math.floor(v / 2³²)` into the
 * low/high slots (`INT64_LO`/`INT64_HI`) stores any safe integer, and reading back an index whose
 * high word is 0 (or −1 for small negatives) needs no BigInt conversion. Index tensors are written
 * and read once per element in training (MaxPool's Indices and its gradient), where `BigInt(n)` and
 * `Number(b)` cost more than the pooling itself.
 */
export function int64Words(a: BigInt64Array): Int32Array {
  return new Int32Array(a.buffer, a.byteOffset, a.length * 2);
}
