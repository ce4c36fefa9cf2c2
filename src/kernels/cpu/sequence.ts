/**
 * CPU kernels: ONNX sequences and optionals (SequenceConstruct/At/Insert/Erase/Length/Empty,
 * SplitToSequence, ConcatFromSequence, SequenceMap; Optional, OptionalHasElement,
 * OptionalGetElement). Runtime values are the host `SequenceValue`/`OptionalValue` of
 * src/runtime/value.ts; sequences are treated as immutable (every op returns a new one).
 * Spec: https://onnx.ai/onnx/operators/onnx__SequenceInsert.html, …/onnx__SequenceMap.html,
 * …/onnx__Optional.html.
 */
import type { DType } from '../../ir/dtype.js';
import { RosettaError } from '../../ir/errors.js';
import type { ValueType } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';
import { isOptional, isSequence, isTensor, type SequenceValue, type Value } from '../../runtime/value.js';
import { int64Tensor, intValues } from './copy.js';
import type { KernelContext, KernelTable } from './kernel.js';
import { concatTensors, dtypeAttr, splitTensor } from './shape.js';
import { normAxis, optTensorIn, tensorIn } from './util.js';

function seqIn(inputs: readonly (Value | undefined)[], i: number, ctx: KernelContext): SequenceValue {
  const v = inputs[i];
  if (!isSequence(v)) throw new RosettaError('E_MISSING_INPUT', `${ctx.node.opType} needs a sequence as input ${i}`, { where: { node: ctx.node.name } });
  return v;
}

function seq(items: Tensor[], elemDType?: DType): SequenceValue {
  return { kind: 'sequence', elemDType: elemDType ?? items[0]?.dtype, items };
}

/** A sequence position (negative counts from the end) checked against `[-n, n + extra)`. */
function position(t: Tensor | undefined, n: number, def: number, extra: number, ctx: KernelContext): number {
  if (!t) return def;
  const p = intValues(t, `${ctx.node.opType} position`, ctx.node.name)[0] ?? def;
  const q = p < 0 ? p + n : p;
  if (q < 0 || q >= n + extra) throw new RosettaError('E_SHAPE_MISMATCH', `${ctx.node.opType} position ${p} out of range for a sequence of ${n}`, { where: { node: ctx.node.name } });
  return q;
}

function checkElem(s: SequenceValue, t: Tensor, ctx: KernelContext): void {
  if (s.elemDType && s.elemDType !== t.dtype) throw new RosettaError('E_DTYPE_MISMATCH', `${ctx.node.opType}: ${t.dtype} tensor into a sequence of ${s.elemDType}`, { where: { node: ctx.node.name } });
}

function SequenceEmpty(_inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  return [seq([], dtypeAttr(ctx, 'dtype', 'float32'))];
}

function SequenceConstruct(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const items = inputs.map((_, i) => tensorIn(inputs, i, ctx));
  if (items.some((t) => t.dtype !== items[0]!.dtype)) throw new RosettaError('E_DTYPE_MISMATCH', 'SequenceConstruct inputs must share one dtype', { where: { node: ctx.node.name } });
  return [seq(items)];
}

function SequenceAt(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const s = seqIn(inputs, 0, ctx);
  return [s.items[position(tensorIn(inputs, 1, ctx), s.items.length, 0, 0, ctx)]!];
}

function SequenceInsert(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const s = seqIn(inputs, 0, ctx);
  const t = tensorIn(inputs, 1, ctx);
  checkElem(s, t, ctx);
  const n = s.items.length;
  const p = position(optTensorIn(inputs, 2), n, n, 1, ctx);
  const items = s.items.slice();
  items.splice(p, 0, t);
  return [seq(items, s.elemDType ?? t.dtype)];
}

function SequenceErase(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const s = seqIn(inputs, 0, ctx);
  const n = s.items.length;
  if (n === 0) throw new RosettaError('E_SHAPE_MISMATCH', 'SequenceErase on an empty sequence', { where: { node: ctx.node.name } });
  const p = position(optTensorIn(inputs, 1), n, n - 1, 0, ctx);
  const items = s.items.slice();
  items.splice(p, 1);
  return [seq(items, s.elemDType)];
}

function SequenceLength(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  return [int64Tensor([], [seqIn(inputs, 0, ctx).items.length])];
}

function SplitToSequence(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const axis = normAxis(ctx.attrs.int('axis', 0), x.rank, ctx);
  const dim = x.shape[axis]!;
  const splitT = optTensorIn(inputs, 1);
  if (!splitT) {
    const pieces = splitTensor(x, axis, new Array<number>(dim).fill(1));
    const keep = ctx.attrs.int('keepdims', 1) !== 0;
    return [seq(keep ? pieces : pieces.map((p) => p.reshape(x.shape.filter((_, d) => d !== axis))), x.dtype)];
  }
  const sp = intValues(splitT, 'SplitToSequence split', ctx.node.name);
  let parts: number[];
  if (splitT.rank === 0) {
    const c = sp[0]!;
    if (c <= 0) throw new RosettaError('E_SHAPE_MISMATCH', `SplitToSequence chunk size ${c} must be positive`, { where: { node: ctx.node.name } });
    parts = [];
    for (let left = dim; left > 0; left -= c) parts.push(Math.min(c, left));
  } else {
    parts = sp;
    if (parts.some((p) => p < 0) || parts.reduce((a, b) => a + b, 0) !== dim) throw new RosettaError('E_SHAPE_MISMATCH', `SplitToSequence sizes [${parts.join(', ')}] do not sum to dim ${dim}`, { where: { node: ctx.node.name } });
  }
  return [seq(splitTensor(x, axis, parts), x.dtype)];
}

function ConcatFromSequence(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const s = seqIn(inputs, 0, ctx);
  if (s.items.length === 0) throw new RosettaError('E_SHAPE_MISMATCH', 'ConcatFromSequence of an empty sequence', { where: { node: ctx.node.name } });
  const newAxis = ctx.attrs.int('new_axis', 0) !== 0;
  const r = s.items[0]!.rank + (newAxis ? 1 : 0);
  return [concatTensors(s.items, normAxis(ctx.attrs.int('axis'), r, ctx), ctx, newAxis)];
}

async function SequenceMap(inputs: readonly (Value | undefined)[], ctx: KernelContext): Promise<Value[]> {
  const body = ctx.attrs.graph('body');
  if (!body) throw new RosettaError('E_INVALID_ATTR', "SequenceMap is missing its 'body' graph", { where: { node: ctx.node.name } });
  const first = seqIn(inputs, 0, ctx);
  const n = first.items.length;
  for (let i = 1; i < inputs.length; i++) {
    const v = inputs[i];
    if (isSequence(v) && v.items.length !== n) throw new RosettaError('E_SHAPE_MISMATCH', `SequenceMap input ${i} has ${v.items.length} elements, input 0 has ${n}`, { where: { node: ctx.node.name } });
  }
  if (body.inputs.length !== inputs.length) throw new RosettaError('E_INVALID_GRAPH', `SequenceMap body takes ${body.inputs.length} inputs, node gives ${inputs.length}`, { where: { node: ctx.node.name } });
  const outs: Tensor[][] = body.outputs.map(() => []);
  for (let k = 0; k < n; k++) {
    const feeds = new Map<string, Value>();
    inputs.forEach((v, i) => {
      if (v === undefined) return;
      feeds.set(body.inputs[i]!.name, isSequence(v) ? v.items[k]! : v);
    });
    const res = await ctx.runSubgraph(body, feeds);
    res.forEach((v, j) => {
      if (!isTensor(v)) throw new RosettaError('E_INVALID_GRAPH', 'SequenceMap body outputs must be tensors', { where: { node: ctx.node.name } });
      outs[j]!.push(v);
    });
  }
  return outs.map((items, j) => seq(items, elemTypeOf(body.outputs[j]!.type)));
}

function elemTypeOf(t: ValueType | undefined): DType | undefined {
  return t?.kind === 'tensor' ? t.dtype : t?.kind === 'sequence' ? elemTypeOf(t.elem) : undefined;
}

function Optional(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const v = inputs[0];
  if (v === undefined) {
    const t = ctx.node.attrs.type;
    const elem = t?.type === 'type_proto' ? elemTypeOf(t.value) : undefined;
    return [{ kind: 'optional', value: null, elemDType: elem }];
  }
  if (isOptional(v)) throw new RosettaError('E_INVALID_GRAPH', 'Optional cannot wrap an optional', { where: { node: ctx.node.name } });
  return [{ kind: 'optional', value: v, elemDType: isTensor(v) ? v.dtype : v.elemDType }];
}

function OptionalHasElement(inputs: readonly (Value | undefined)[]): Value[] {
  const v = inputs[0];
  const has = v === undefined ? false : isOptional(v) ? v.value !== null : true;
  return [Tensor.from('bool', [], [has ? 1 : 0])];
}

function OptionalGetElement(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const v = inputs[0];
  if (v === undefined || (isOptional(v) && v.value === null)) throw new RosettaError('E_MISSING_INPUT', 'OptionalGetElement on an empty optional', { where: { node: ctx.node.name } });
  return [isOptional(v) ? v.value! : v];
}

export const sequenceKernels: KernelTable = {
  SequenceEmpty,
  SequenceConstruct,
  SequenceAt,
  SequenceInsert,
  SequenceErase,
  SequenceLength,
  SplitToSequence,
  ConcatFromSequence,
  SequenceMap,
  Optional,
  OptionalHasElement,
  OptionalGetElement,
};
