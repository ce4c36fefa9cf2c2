/**
 * CPU kernels: shape and layout ops that only move data (Reshape, Transpose, Concat, Split, Slice,
 * Pad, Tile, Expand, Squeeze/Unsqueeze, Flatten, Shape, Size, DepthToSpace/SpaceToDepth) plus the
 * constant generators (Constant, ConstantOfShape, EyeLike, Range, Trilu, Identity).
 *
 * Every op here works for every dtype by copying raw storage (see copy.ts), so int64 and float16
 * bits pass through untouched. Semantics: the latest ONNX form of each op (opset ≤ 18), e.g.
 * https://onnx.ai/onnx/operators/onnx__Slice.html, https://onnx.ai/onnx/operators/onnx__Pad.html.
 */
import { type DType, dtypeFromOnnx, isBigIntDType } from '../../ir/dtype.js';
import { RosettaError } from '../../ir/errors.js';
import { checkedSize, setElement, stridesOf, Tensor } from '../../ir/tensor.js';
import type { Value } from '../../runtime/value.js';
import { cloneTensor, copyStrided, fillWith, gatherBlocks, int64Tensor, intValues, newTensor, rawView, separableOffsets, stridedCopy } from './copy.js';
import type { KernelContext, KernelTable } from './kernel.js';
import { broadcastShapes, dtypeError, normAxis, optTensorIn, tensorIn } from './util.js';

function shapeErr(ctx: KernelContext, msg: string): RosettaError {
  return new RosettaError('E_SHAPE_MISMATCH', msg, { where: { node: ctx.node.name } });
}

function attrErr(ctx: KernelContext, msg: string): RosettaError {
  return new RosettaError('E_INVALID_ATTR', msg, { where: { node: ctx.node.name } });
}

/** dtype from an ONNX `dtype`/`output_datatype` attribute code, or a typed error. */
export function dtypeAttr(ctx: KernelContext, name: string, def: DType): DType {
  if (!ctx.attrs.has(name)) return def;
  const code = ctx.attrs.int(name);
  const d = dtypeFromOnnx(code);
  if (!d) throw attrErr(ctx, `${name}=${code} is not an ONNX element type`);
  return d;
}

/** Transpose `t` (viewed with `shape`) by `perm`; output shape is `shape` permuted. */
export function transposeAs(t: Tensor, shape: readonly number[], perm: readonly number[]): Tensor {
  const inStrides = stridesOf(shape);
  return stridedCopy(t, perm.map((p) => shape[p]!), perm.map((p) => inStrides[p]!));
}

/** Resolve a Reshape target (0 = copy dim unless allowzero, one -1 inferred). */
export function reshapeTarget(inShape: readonly number[], target: readonly number[], allowzero: boolean, ctx: KernelContext): number[] {
  const out = target.slice();
  let infer = -1;
  let known = 1;
  for (let i = 0; i < out.length; i++) {
    const d = out[i]!;
    if (d === -1) {
      if (infer >= 0) throw shapeErr(ctx, `Reshape target [${target.join(', ')}] has more than one -1`);
      infer = i;
      continue;
    }
    if (d === 0 && !allowzero) {
      if (i >= inShape.length) throw shapeErr(ctx, `Reshape target [${target.join(', ')}] copies dim ${i} which input [${inShape.join(', ')}] lacks`);
      out[i] = inShape[i]!;
    } else if (d < 0) throw shapeErr(ctx, `Reshape target [${target.join(', ')}] has invalid dim ${d}`);
    known *= out[i]!;
  }
  const total = inShape.reduce((a, b) => a * b, 1);
  if (infer >= 0) {
    if (known === 0 || total % known !== 0) throw shapeErr(ctx, `cannot reshape [${inShape.join(', ')}] to [${target.join(', ')}]`);
    out[infer] = total / known;
  } else if (known !== total) throw shapeErr(ctx, `cannot reshape [${inShape.join(', ')}] (${total} elements) to [${out.join(', ')}]`);
  return out;
}

/** Slice parameters after ONNX clamping: per axis start, step and output length. */
function sliceParams(shape: readonly number[], starts: number[], ends: number[], axes: number[], steps: number[], ctx: KernelContext): { start: number[]; step: number[]; len: number[] } {
  const r = shape.length;
  const start = new Array<number>(r).fill(0);
  const step = new Array<number>(r).fill(1);
  const len = shape.slice();
  const seen = new Set<number>();
  for (let i = 0; i < axes.length; i++) {
    const a = normAxis(axes[i]!, r, ctx);
    if (seen.has(a)) throw attrErr(ctx, `Slice axis ${a} repeated`);
    seen.add(a);
    const dim = shape[a]!;
    const st = steps[i] ?? 1;
    if (st === 0) throw attrErr(ctx, 'Slice step cannot be 0');
    let s = starts[i]!;
    let e = ends[i]!;
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    if (st > 0) {
      s = Math.min(Math.max(s, 0), dim);
      e = Math.min(Math.max(e, 0), dim);
      len[a] = Math.max(0, Math.ceil((e - s) / st));
    } else {
      s = Math.min(Math.max(s, 0), dim - 1);
      e = Math.min(Math.max(e, -1), dim - 1);
      len[a] = Math.max(0, Math.ceil((s - e) / -st));
    }
    start[a] = s;
    step[a] = st;
  }
  return { start, step, len };
}

/** A tensor of `shape` with every element equal to the one element of `value` (any dtype). */
export function fillTensor(shape: readonly number[], value: Tensor): Tensor {
  const out = newTensor(value.dtype, shape);
  fillWith(out, value);
  return out;
}

function Reshape(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const target = intValues(tensorIn(inputs, 1, ctx), 'Reshape shape', ctx.node.name);
  return [x.reshape(reshapeTarget(x.shape, target, ctx.attrs.int('allowzero', 0) !== 0, ctx))];
}

function Transpose(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const r = x.rank;
  const perm = ctx.attrs.ints('perm', [...Array(r).keys()].reverse()).map((p) => normAxis(p, r, ctx));
  if (perm.length !== r || new Set(perm).size !== r) throw attrErr(ctx, `Transpose perm [${perm.join(', ')}] is not a permutation of rank ${r}`);
  return [transposeAs(x, x.shape, perm)];
}

/**
 * Concatenate tensors along `axis` (same dtype, equal dims elsewhere). With `stack`, each input
 * gets a new size-1 axis at `axis` first (numpy stack), as Scan/Loop outputs and
 * ConcatFromSequence(new_axis=1) need.
 */
export function concatTensors(xs: readonly Tensor[], axis: number, ctx: KernelContext, stack = false): Tensor {
  if (xs.length === 0) throw shapeErr(ctx, `${ctx.node.opType} needs at least one tensor to concatenate`);
  if (stack) xs = xs.map((x) => x.reshape([...x.shape.slice(0, axis), 1, ...x.shape.slice(axis)]));
  const first = xs[0]!;
  const r = first.rank;
  const outShape = first.shape.slice();
  outShape[axis] = 0;
  for (const x of xs) {
    if (x.rank !== r || x.dtype !== first.dtype || x.shape.some((d, i) => i !== axis && d !== first.shape[i])) {
      throw shapeErr(ctx, `${ctx.node.opType} inputs [${xs.map((t) => `${t.dtype}[${t.shape.join(', ')}]`).join(' ')}] differ outside axis ${axis}`);
    }
    outShape[axis]! += x.shape[axis]!;
  }
  const out = newTensor(first.dtype, outShape);
  const outer = outShape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = outShape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const d = rawView(out.data, out.dtype);
  const rowOut = outShape[axis]! * inner;
  let col = 0;
  for (const x of xs) {
    const s = rawView(x.data, x.dtype);
    const row = x.shape[axis]! * inner;
    if (row > 0) {
      for (let o = 0; o < outer; o++) {
        const w = s.w;
        if (Array.isArray(s.a)) {
          for (let k = 0; k < row * w; k++) (d.a as string[])[(o * rowOut + col) * w + k] = s.a[o * row * w + k]!;
        } else (d.a as typeof s.a).set(s.a.subarray(o * row * w, (o + 1) * row * w), (o * rowOut + col) * w);
      }
    }
    col += row;
  }
  return out;
}

function Concat(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const xs = inputs.map((_, i) => tensorIn(inputs, i, ctx));
  if (xs.length === 0) throw shapeErr(ctx, 'Concat needs at least one input');
  return [concatTensors(xs, normAxis(ctx.attrs.int('axis'), xs[0]!.rank, ctx), ctx)];
}

/** Split sizes for Split/SplitToSequence when no `split` input is given: ⌈dim/n⌉ chunks, last one smaller. */
export function evenSplit(dim: number, n: number): number[] {
  const chunk = Math.ceil(dim / n);
  const parts: number[] = [];
  for (let i = 0, left = dim; i < n; i++, left -= chunk) parts.push(Math.max(0, Math.min(chunk, left)));
  return parts;
}

/** Pieces of `x` along `axis` with the given sizes (which must sum to the dimension). */
export function splitTensor(x: Tensor, axis: number, parts: readonly number[]): Tensor[] {
  const strides = stridesOf(x.shape);
  const outs: Tensor[] = [];
  let start = 0;
  for (const p of parts) {
    const shape = x.shape.slice();
    shape[axis] = p;
    outs.push(stridedCopy(x, shape, strides, start * strides[axis]!));
    start += p;
  }
  return outs;
}

function Split(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const axis = normAxis(ctx.attrs.int('axis', 0), x.rank, ctx);
  const dim = x.shape[axis]!;
  const splitT = optTensorIn(inputs, 1);
  let parts: number[];
  if (splitT) {
    parts = intValues(splitT, 'Split split', ctx.node.name);
    if (parts.some((p) => p < 0) || parts.reduce((a, b) => a + b, 0) !== dim) throw shapeErr(ctx, `Split sizes [${parts.join(', ')}] do not sum to dim ${dim}`);
  } else {
    const n = ctx.attrs.int('num_outputs', ctx.node.outputs.length);
    if (n <= 0 || n !== ctx.node.outputs.length) throw attrErr(ctx, `Split num_outputs ${n} must be positive and equal the node's ${ctx.node.outputs.length} outputs`);
    parts = evenSplit(dim, n);
  }
  return splitTensor(x, axis, parts);
}

function Slice(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const starts = intValues(tensorIn(inputs, 1, ctx), 'Slice starts', ctx.node.name);
  const ends = intValues(tensorIn(inputs, 2, ctx), 'Slice ends', ctx.node.name);
  const axesT = optTensorIn(inputs, 3);
  const stepsT = optTensorIn(inputs, 4);
  const axes = axesT ? intValues(axesT, 'Slice axes', ctx.node.name) : starts.map((_, i) => i);
  const steps = stepsT ? intValues(stepsT, 'Slice steps', ctx.node.name) : starts.map(() => 1);
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) {
    throw shapeErr(ctx, `Slice starts/ends/axes/steps have different lengths (${starts.length}, ${ends.length}, ${axes.length}, ${steps.length})`);
  }
  const { start, step, len } = sliceParams(x.shape, starts, ends, axes, steps, ctx);
  const inStrides = stridesOf(x.shape);
  let base = 0;
  for (let d = 0; d < x.rank; d++) base += start[d]! * inStrides[d]!;
  return [stridedCopy(x, len, inStrides.map((s, d) => s * step[d]!), base)];
}

function Squeeze(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const axesT = optTensorIn(inputs, 1);
  let drop: Set<number>;
  if (axesT) {
    drop = new Set(intValues(axesT, 'Squeeze axes', ctx.node.name).map((a) => normAxis(a, x.rank, ctx)));
    for (const a of drop) if (x.shape[a] !== 1) throw shapeErr(ctx, `Squeeze axis ${a} has size ${x.shape[a]}, not 1`);
  } else drop = new Set(x.shape.flatMap((d, i) => (d === 1 ? [i] : [])));
  return [x.reshape(x.shape.filter((_, i) => !drop.has(i)))];
}

function Unsqueeze(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const axes = intValues(tensorIn(inputs, 1, ctx), 'Unsqueeze axes', ctx.node.name);
  const r = x.rank + axes.length;
  const ins = new Set(axes.map((a) => normAxis(a, r, ctx)));
  if (ins.size !== axes.length) throw attrErr(ctx, `Unsqueeze axes [${axes.join(', ')}] repeat`);
  const shape: number[] = [];
  for (let i = 0, k = 0; i < r; i++) shape.push(ins.has(i) ? 1 : x.shape[k++]!);
  return [x.reshape(shape)];
}

function Flatten(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  let axis = ctx.attrs.int('axis', 1);
  if (axis < 0) axis += x.rank;
  if (axis < 0 || axis > x.rank) throw attrErr(ctx, `Flatten axis ${ctx.attrs.int('axis', 1)} out of range for rank ${x.rank}`);
  const a = x.shape.slice(0, axis).reduce((p, q) => p * q, 1);
  const b = x.shape.slice(axis).reduce((p, q) => p * q, 1);
  return [x.reshape([a, b])];
}

function Shape(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const r = x.rank;
  const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  const s = clamp(ctx.attrs.int('start', 0));
  const e = ctx.attrs.has('end') ? clamp(ctx.attrs.int('end')) : r;
  const dims = x.shape.slice(s, Math.max(s, e));
  return [int64Tensor([dims.length], dims)];
}

function Size(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  return [int64Tensor([], [tensorIn(inputs, 0, ctx).size])];
}

function Expand(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const target = intValues(tensorIn(inputs, 1, ctx), 'Expand shape', ctx.node.name);
  const outShape = broadcastShapes([x.shape, target], ctx);
  return [broadcastTo(x, outShape)];
}

/** `x` broadcast (numpy rules, already checked) to `outShape`. */
export function broadcastTo(x: Tensor, outShape: readonly number[]): Tensor {
  const inStrides = stridesOf(x.shape);
  const off = outShape.length - x.rank;
  const strides = outShape.map((_, d) => (d < off || x.shape[d - off] === 1 ? 0 : inStrides[d - off]!));
  return stridedCopy(x, outShape, strides);
}

function Tile(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const reps = intValues(tensorIn(inputs, 1, ctx), 'Tile repeats', ctx.node.name);
  if (reps.length !== x.rank || reps.some((r) => r < 0)) throw shapeErr(ctx, `Tile repeats [${reps.join(', ')}] do not fit rank ${x.rank}`);
  const outShape = x.shape.map((d, i) => d * reps[i]!);
  checkedSize(outShape, 'Tile output');
  // Output viewed as [r0, d0, r1, d1, …]: the repetition dims read the source with stride 0.
  const out = newTensor(x.dtype, outShape);
  const inStrides = stridesOf(x.shape);
  const outStrides = stridesOf(outShape);
  const shape: number[] = [];
  const src: number[] = [];
  const dst: number[] = [];
  x.shape.forEach((d, i) => {
    shape.push(reps[i]!, d);
    src.push(0, inStrides[i]!);
    dst.push(d * outStrides[i]!, outStrides[i]!);
  });
  copyStrided(rawView(x.data, x.dtype), 0, src, rawView(out.data, out.dtype), 0, dst, shape);
  return [out];
}

function Pad(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const r = x.rank;
  const pads = intValues(tensorIn(inputs, 1, ctx), 'Pad pads', ctx.node.name);
  const cv = optTensorIn(inputs, 2);
  const axesT = optTensorIn(inputs, 3);
  const axes = axesT ? intValues(axesT, 'Pad axes', ctx.node.name).map((a) => normAxis(a, r, ctx)) : [...Array(r).keys()];
  if (pads.length !== 2 * axes.length) throw shapeErr(ctx, `Pad pads has ${pads.length} values for ${axes.length} axes`);
  const before = new Array<number>(r).fill(0);
  const after = new Array<number>(r).fill(0);
  axes.forEach((a, i) => {
    before[a] = pads[i]!;
    after[a] = pads[i + axes.length]!;
  });
  const mode = ctx.attrs.string('mode', 'constant');
  if (!['constant', 'reflect', 'edge', 'wrap'].includes(mode)) throw attrErr(ctx, `Pad mode '${mode}' is not constant, reflect, edge or wrap`);
  const outShape = x.shape.map((d, i) => d + before[i]! + after[i]!);
  if (outShape.some((d) => d < 0)) throw shapeErr(ctx, `Pad pads [${pads.join(', ')}] crop [${x.shape.join(', ')}] below zero`);
  checkedSize(outShape, 'Pad output');
  const fill = cv && cv.size > 0 ? cv : new Tensor(x.dtype, []);
  if (fill.dtype !== x.dtype) throw new RosettaError('E_DTYPE_MISMATCH', `Pad constant_value is ${fill.dtype}, data is ${x.dtype}`, { where: { node: ctx.node.name } });
  if (mode === 'constant') {
    // Fill, then copy the (possibly cropped) input into the interior.
    const out = fillTensor(outShape, fill);
    const inStrides = stridesOf(x.shape);
    const outStrides = stridesOf(outShape);
    let srcBase = 0;
    let dstBase = 0;
    const region = x.shape.map((d, i) => {
      const cropB = Math.max(0, -before[i]!);
      const cropE = Math.max(0, -after[i]!);
      srcBase += cropB * inStrides[i]!;
      dstBase += Math.max(0, before[i]!) * outStrides[i]!;
      return Math.max(0, d - cropB - cropE);
    });
    copyStrided(rawView(x.data, x.dtype), srcBase, inStrides, rawView(out.data, out.dtype), dstBase, outStrides, region);
    return [out];
  }
  const strides = stridesOf(x.shape);
  const tables = outShape.map((n, d) => {
    const t = new Float64Array(n);
    const dim = x.shape[d]!;
    if (dim === 0 && n > 0) throw shapeErr(ctx, `Pad mode ${mode} cannot pad an empty axis ${d}`);
    for (let o = 0; o < n; o++) t[o] = padSource(o - before[d]!, dim, mode) * strides[d]!;
    return t;
  });
  return [gatherBlocks(x, outShape, separableOffsets(outShape, tables), 1)];
}

/**
 * The input index an output of Pad's edge/wrap/reflect modes reads along an axis of length `dim`
 * (≥ 1), given its unclamped position `i` (output index − pads before). Shared with Pad's gradient
 * rule (src/runtime/grad-rules/shape.ts), which scatters back through the same map.
 */
export function padSource(i: number, dim: number, mode: string): number {
  if (i >= 0 && i < dim) return i;
  if (mode === 'edge') return i < 0 ? 0 : dim - 1;
  if (mode === 'wrap') return ((i % dim) + dim) % dim;
  if (dim === 1) return 0;
  const period = 2 * (dim - 1); // reflect
  const r = ((i % period) + period) % period;
  return r >= dim ? period - r : r;
}

/** CenterCropPad (opset 18): per axis, crop or zero-pad around the centre to the target size. */
function CenterCropPad(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const target = intValues(tensorIn(inputs, 1, ctx), 'CenterCropPad shape', ctx.node.name);
  const axes = ctx.attrs.ints('axes', [...Array(x.rank).keys()]).map((a) => normAxis(a, x.rank, ctx));
  if (target.length !== axes.length || target.some((t) => t < 0)) throw shapeErr(ctx, `CenterCropPad shape [${target.join(', ')}] does not fit axes [${axes.join(', ')}]`);
  const outShape = x.shape.slice();
  const region = x.shape.slice();
  let srcBase = 0;
  let dstBase = 0;
  const inStrides = stridesOf(x.shape);
  const outStartsAt: number[] = new Array<number>(x.rank).fill(0);
  axes.forEach((a, i) => {
    const dim = x.shape[a]!;
    const t = target[i]!;
    outShape[a] = t;
    if (t < dim) {
      srcBase += Math.floor((dim - t) / 2) * inStrides[a]!;
      region[a] = t;
    } else outStartsAt[a] = Math.floor((t - dim) / 2);
  });
  const out = newTensor(x.dtype, outShape);
  const outStrides = stridesOf(outShape);
  outStartsAt.forEach((o, d) => (dstBase += o * outStrides[d]!));
  copyStrided(rawView(x.data, x.dtype), srcBase, inStrides, rawView(out.data, out.dtype), dstBase, outStrides, region);
  return [out];
}

function DepthToSpace(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const bs = ctx.attrs.int('blocksize');
  if (x.rank !== 4 || bs <= 0 || x.shape[1]! % (bs * bs) !== 0) throw shapeErr(ctx, `DepthToSpace needs NCHW input with C divisible by blocksize² (${bs}), got [${x.shape.join(', ')}]`);
  const [b, c, h, w] = x.shape as [number, number, number, number];
  const c2 = c / (bs * bs);
  const crd = ctx.attrs.string('mode', 'DCR') === 'CRD';
  const y = crd ? transposeAs(x, [b, c2, bs, bs, h, w], [0, 1, 4, 2, 5, 3]) : transposeAs(x, [b, bs, bs, c2, h, w], [0, 3, 4, 1, 5, 2]);
  return [y.reshape([b, c2, h * bs, w * bs])];
}

function SpaceToDepth(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const bs = ctx.attrs.int('blocksize');
  if (x.rank !== 4 || bs <= 0 || x.shape[2]! % bs !== 0 || x.shape[3]! % bs !== 0) throw shapeErr(ctx, `SpaceToDepth needs NCHW input with H, W divisible by blocksize ${bs}, got [${x.shape.join(', ')}]`);
  const [b, c, h, w] = x.shape as [number, number, number, number];
  const y = transposeAs(x, [b, c, h / bs, bs, w / bs, bs], [0, 3, 5, 1, 2, 4]);
  return [y.reshape([b, c * bs * bs, h / bs, w / bs])];
}

/** Forwards tensors, sequences and optionals unchanged (values are immutable). */
function Identity(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const v = inputs[0];
  if (v === undefined) throw new RosettaError('E_MISSING_INPUT', 'Identity needs an input', { where: { node: ctx.node.name } });
  return [v];
}

function Constant(_inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const a = ctx.attrs;
  const t = a.tensor('value');
  if (t) return [t];
  if (a.has('value_float')) return [Tensor.from('float32', [], [a.float('value_float')])];
  if (a.has('value_floats')) {
    const v = a.floats('value_floats');
    return [Tensor.from('float32', [v.length], v)];
  }
  if (a.has('value_int')) return [int64Tensor([], [a.int('value_int')])];
  if (a.has('value_ints')) {
    const v = a.ints('value_ints');
    return [int64Tensor([v.length], v)];
  }
  if (a.has('value_string')) return [Tensor.from('string', [], [a.string('value_string')])];
  if (a.has('value_strings')) {
    const v = a.strings('value_strings');
    return [Tensor.from('string', [v.length], v)];
  }
  if (a.has('sparse_value')) throw new RosettaError('E_UNSUPPORTED', 'Constant with sparse_value is not supported', { where: { node: ctx.node.name }, hint: 'store the constant densely' });
  throw attrErr(ctx, 'Constant has no value attribute');
}

function ConstantOfShape(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const shape = intValues(tensorIn(inputs, 0, ctx), 'ConstantOfShape input', ctx.node.name);
  const v = ctx.attrs.tensor('value') ?? new Tensor('float32', [1]);
  if (v.size !== 1) throw attrErr(ctx, `ConstantOfShape value must have one element, has ${v.size}`);
  return [fillTensor(shape, v)];
}

function EyeLike(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  if (x.rank !== 2) throw shapeErr(ctx, `EyeLike needs a 2-D input, got [${x.shape.join(', ')}]`);
  const dtype = dtypeAttr(ctx, 'dtype', x.dtype);
  const k = ctx.attrs.int('k', 0);
  const [n, m] = x.shape as [number, number];
  const out = newTensor(dtype, [n, m]);
  for (let i = 0; i < n; i++) {
    const j = i + k;
    if (j >= 0 && j < m) setElement(out, i * m + j, 1);
  }
  return [out];
}

function Range(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const [s, l, d] = [0, 1, 2].map((i) => tensorIn(inputs, i, ctx)) as [Tensor, Tensor, Tensor];
  const dtype = s.dtype;
  if (l.dtype !== dtype || d.dtype !== dtype) throw new RosettaError('E_DTYPE_MISMATCH', `Range start, limit and delta must share a dtype, got ${dtype}, ${l.dtype}, ${d.dtype}`, { where: { node: ctx.node.name } });
  if (s.size !== 1 || l.size !== 1 || d.size !== 1) throw shapeErr(ctx, 'Range start, limit and delta must be scalars');
  if (dtype === 'string' || dtype === 'bool') throw dtypeError(ctx, dtype);
  if (isBigIntDType(dtype)) {
    const a = (s.data as BigInt64Array)[0]!;
    const b = (l.data as BigInt64Array)[0]!;
    const st = (d.data as BigInt64Array)[0]!;
    if (st === 0n) throw attrErr(ctx, 'Range delta is 0');
    const span = b - a;
    let n = span / st + (span % st !== 0n ? 1n : 0n);
    if (n < 0n) n = 0n;
    const out = newTensor(dtype, [Number(n)]);
    const od = out.data as BigInt64Array;
    for (let i = 0; i < od.length; i++) od[i] = a + BigInt(i) * st;
    return [out];
  }
  const a = s.get(0);
  const b = l.get(0);
  const st = d.get(0);
  if (st === 0) throw attrErr(ctx, 'Range delta is 0');
  const n = Math.max(Math.ceil((b - a) / st), 0);
  const out = newTensor(dtype, [n]);
  // The spec defines Range by repeated addition in the element type (its function body).
  let v = a;
  for (let i = 0; i < n; i++) {
    setElement(out, i, v);
    v = dtype === 'float32' ? Math.fround(v + st) : v + st;
  }
  return [out];
}

function Trilu(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  if (x.rank < 2) throw shapeErr(ctx, `Trilu needs rank ≥ 2, got [${x.shape.join(', ')}]`);
  const kT = optTensorIn(inputs, 1);
  const k = kT ? intValues(kT, 'Trilu k', ctx.node.name)[0] ?? 0 : 0;
  const upper = ctx.attrs.int('upper', 1) !== 0;
  const out = cloneTensor(x);
  const n = x.shape[x.rank - 2]!;
  const m = x.shape[x.rank - 1]!;
  const zero = rawView(new Tensor(x.dtype, [1]).data, x.dtype);
  const d = rawView(out.data, out.dtype);
  const mats = x.size / (n * m || 1);
  const w = d.w;
  const da = d.a as unknown as Record<number, unknown>;
  const za = zero.a as unknown as Record<number, unknown>;
  for (let b = 0; b < mats; b++) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < m; j++) {
        const keep = upper ? j - i >= k : j - i <= k;
        if (!keep) {
          const o = ((b * n + i) * m + j) * w;
          for (let q = 0; q < w; q++) da[o + q] = za[q];
        }
      }
    }
  }
  return [out];
}

export const shapeKernels: KernelTable = {
  Reshape,
  Transpose,
  Concat,
  Split,
  Slice,
  Squeeze,
  Unsqueeze,
  Flatten,
  Shape,
  Size,
  Expand,
  Tile,
  Pad,
  CenterCropPad,
  DepthToSpace,
  SpaceToDepth,
  Identity,
  Constant,
  ConstantOfShape,
  EyeLike,
  Range,
  Trilu,
};
