/**
 * Which ONNX opset the exporter writes, and how it lowers IR (latest-form) nodes when a lower
 * opset is requested.
 *
 * `FORM_SINCE` holds, per op, the opset in which the form the IR uses became valid (the
 * since-version of the latest change to the op's inputs/attributes, not of type additions);
 * `formSince` refines it from a node's actual inputs and attributes (a ReduceMean without an axes
 * input is valid from 13, with one only from 18). Lowering (`DOWNGRADES`) turns constant inputs
 * back into the attributes older opsets expect; anything else below its since-version is refused.
 * Versions from the operator changelogs: https://onnx.ai/onnx/operators/
 */
import { RosettaError } from '../../ir/errors.js';
import { dtypeFromOnnx, type DType } from '../../ir/dtype.js';
import { nodeDependencies, type Attr, type AttrMap, type Dim, type Graph, type Node } from '../../ir/graph.js';
import { inferTypes } from '../../ir/infer.js';
import type { Tensor } from '../../ir/tensor.js';

/** Since-version of each op's latest form (default-domain ops; unknown ops count as 1). */
export const FORM_SINCE: Readonly<Record<string, number>> = {
  Abs: 6, Acos: 7, Acosh: 9, Add: 7, And: 7, ArgMax: 1, ArgMin: 1, Asin: 7, Asinh: 9, Atan: 7, Atanh: 9,
  AveragePool: 7, BatchNormalization: 9, Bernoulli: 15, BitShift: 11, BitwiseAnd: 18, BitwiseNot: 18, BitwiseOr: 18, BitwiseXor: 18,
  BlackmanWindow: 17, Cast: 6, CastLike: 15, Ceil: 6, Celu: 12, CenterCropPad: 18, Clip: 6, Col2Im: 18, Compress: 9, Concat: 4,
  ConcatFromSequence: 11, Constant: 1, ConstantOfShape: 9, Conv: 1, ConvInteger: 10, ConvTranspose: 1, Cos: 7, Cosh: 9, CumSum: 11,
  DFT: 17, DepthToSpace: 1, DequantizeLinear: 10, Det: 11, Div: 7, Dropout: 7, DynamicQuantizeLinear: 11, Einsum: 12, Elu: 6,
  Equal: 7, Erf: 9, Exp: 6, Expand: 8, EyeLike: 9, Flatten: 1, Floor: 6, GRU: 7, Gather: 1, GatherElements: 11, GatherND: 11,
  Gemm: 7, GlobalAveragePool: 1, GlobalLpPool: 2, GlobalMaxPool: 1, Greater: 7, GreaterOrEqual: 12, GridSample: 16,
  GroupNormalization: 18, HammingWindow: 17, HannWindow: 17, HardSigmoid: 6, HardSwish: 14, Hardmax: 13, Identity: 1, If: 1,
  InstanceNormalization: 6, IsInf: 10, IsNaN: 9, LRN: 1, LSTM: 7, LayerNormalization: 17, LeakyRelu: 6, Less: 7, LessOrEqual: 12,
  Log: 6, LogSoftmax: 13, Loop: 1, LpNormalization: 1, LpPool: 2, MatMul: 1, MatMulInteger: 10, Max: 8, MaxPool: 1, MaxRoiPool: 1,
  MaxUnpool: 9, Mean: 8, MeanVarianceNormalization: 9, MelWeightMatrix: 17, Min: 8, Mish: 18, Mod: 10, Mul: 7, Multinomial: 7,
  Neg: 6, NegativeLogLikelihoodLoss: 12, NonMaxSuppression: 10, NonZero: 9, Not: 1, OneHot: 9, Optional: 15, OptionalGetElement: 15,
  OptionalHasElement: 15, Or: 7, PRelu: 7, Pad: 11, Pow: 7, QLinearConv: 10, QLinearMatMul: 10, QuantizeLinear: 10, RNN: 7,
  RandomNormal: 1, RandomNormalLike: 1, RandomUniform: 1, RandomUniformLike: 1, Range: 11, Reciprocal: 6, ReduceL1: 1, ReduceL2: 1,
  ReduceLogSum: 1, ReduceLogSumExp: 1, ReduceMax: 1, ReduceMean: 1, ReduceMin: 1, ReduceProd: 1, ReduceSum: 1, ReduceSumSquare: 1,
  Relu: 6, Reshape: 5, Resize: 13, ReverseSequence: 10, RoiAlign: 10, Round: 11, STFT: 17, Scan: 9, ScatterElements: 11, ScatterND: 11,
  Selu: 6, SequenceAt: 11, SequenceConstruct: 11, SequenceEmpty: 11, SequenceErase: 11, SequenceInsert: 11, SequenceLength: 11,
  SequenceMap: 17, Shape: 1, Shrink: 9, Sigmoid: 6, Sign: 9, Sin: 7, Sinh: 9, Size: 1, Scatter: 9, Slice: 10, Softmax: 13,
  SoftmaxCrossEntropyLoss: 12, Softplus: 1, Softsign: 1, SpaceToDepth: 1, Split: 2, SplitToSequence: 11, Sqrt: 6, Squeeze: 1,
  StringNormalizer: 10, Sub: 7, Sum: 8, Tan: 7, Tanh: 6, TfIdfVectorizer: 9, ThresholdedRelu: 10, Tile: 6, TopK: 10, Transpose: 1,
  Trilu: 14, Unique: 11, Unsqueeze: 1, Upsample: 9, Where: 9, Xor: 7,
};

const REDUCE18 = new Set(['ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceProd', 'ReduceSumSquare']);

const has = (n: Node, a: string): boolean => Object.prototype.hasOwnProperty.call(n.attrs, a);
const input = (n: Node, i: number): boolean => !!n.inputs[i];

/** The lowest default-domain opset in which `node`, exactly as it is, is valid. */
export function formSince(n: Node, dtypeOf?: (name: string) => DType | undefined, shapeOf?: (name: string) => readonly Dim[] | undefined): number {
  const rankOf = shapeOf && ((name: string): number | undefined => shapeOf(name)?.length);
  let v = FORM_SINCE[n.opType] ?? 1;
  const bump = (cond: boolean, to: number): void => {
    if (cond && to > v) v = to;
  };
  // Lowered forms (attributes instead of inputs) are the ops' first versions.
  if ((n.opType === 'Pad' || n.opType === 'Slice' || n.opType === 'TopK') && n.inputs.filter(Boolean).length === 1) v = n.opType === 'Pad' ? 2 : 1;
  // Negative axes are accepted from opset 11 on (for the ops that have them before then).
  const axis = n.attrs['axis'];
  const axes = n.attrs['axes'];
  bump((axis?.type === 'int' && axis.value < 0) || (axes?.type === 'ints' && axes.value.some((a) => a < 0)), 11);
  // Dropout's mask output was float until 10 and changed meaning twice: only 12 is safe.
  if (n.opType === 'Dropout') bump(has(n, 'seed') || n.outputs.filter(Boolean).length > 1, 12);
  // Softmax-family before 13 coerced the input to 2D at `axis`: over the last axis the old and
  // new meanings agree.
  const rank = rankOf?.(n.inputs[0] ?? '');
  if ((n.opType === 'Softmax' || n.opType === 'LogSoftmax' || n.opType === 'Hardmax') && rank !== undefined) {
    // (an absent axis means -1 from 13 but 1 before: only an explicit one can be written lower)
    const ax = n.attrs['axis'];
    if (ax?.type === 'int' && (ax.value === -1 || ax.value === rank - 1)) v = ax.value < 0 ? 11 : 1;
  }
  // Max/Min/Sum/Mean broadcast from 8; with inputs of one known shape the 6 form is the same.
  if (['Max', 'Min', 'Sum', 'Mean'].includes(n.opType) && shapeOf) {
    const shapes = n.inputs.map((x) => shapeOf(x));
    const first = shapes[0];
    if (first && first.every((d) => typeof d === 'number') && shapes.every((sh) => sh && sh.length === first.length && sh.every((d, k) => d === first[k]))) v = 6;
  }
  if (dtypeOf) {
    const dt = (i: number): DType | undefined => (n.inputs[i] ? dtypeOf(n.inputs[i]!) : undefined);
    v = Math.max(v, dtypeSince(n, dt(0), n.opType === 'Cast' ? castTarget(n) : undefined));
    const d1 = dt(1);
    if (n.opType === 'Pow' && d1 && INTS.has(d1)) v = Math.max(v, 12); // integer exponent (T1)
  }
  if (REDUCE18.has(n.opType)) bump(input(n, 1) || has(n, 'noop_with_empty_axes'), 18);
  if (n.opType === 'ReduceSum') bump(input(n, 1) || has(n, 'noop_with_empty_axes'), 13);
  if (n.opType === 'Squeeze' || n.opType === 'Unsqueeze' || n.opType === 'Split') bump(input(n, 1), 13);
  // Resize-10 is (X, scales); the IR's form (X, roi, scales, sizes) needs 11, optional roi 13.
  if (n.opType === 'Resize') v = n.inputs.length === 2 ? 10 : Math.max(v, 13);
  if (n.opType === 'Split') bump(has(n, 'num_outputs'), 18);
  if (n.opType === 'Pad') bump(input(n, 3), 18);
  if (n.opType === 'Clip') bump(input(n, 1) || input(n, 2), 11);
  if (n.opType === 'Dropout') bump(input(n, 1) || input(n, 2), 12);
  if (n.opType === 'Shape') bump(has(n, 'start') || has(n, 'end'), 15);
  if (n.opType === 'Reshape') bump(has(n, 'allowzero'), 14);
  if (n.opType === 'Resize' && n.inputs.length > 2) bump(has(n, 'antialias') || has(n, 'axes') || has(n, 'keep_aspect_ratio_policy'), 18);
  if (n.opType === 'BatchNormalization') bump(has(n, 'training_mode'), 14);
  if (n.opType === 'Cast' || n.opType === 'CastLike') bump(has(n, 'saturate'), 19);
  if (n.opType === 'ArgMax' || n.opType === 'ArgMin') bump(has(n, 'select_last_index'), 12);
  if (n.opType === 'GatherND') bump(has(n, 'batch_dims'), 12);
  if (n.opType === 'ScatterND' || n.opType === 'ScatterElements') {
    const r = n.attrs['reduction'];
    bump(!!r, 16);
    bump(r?.type === 'string' && (r.value === 'min' || r.value === 'max'), 18);
  }
  if (n.opType === 'LSTM' || n.opType === 'GRU' || n.opType === 'RNN') bump(has(n, 'layout'), 14);
  if (n.opType === 'MaxPool') bump(n.outputs.filter(Boolean).length > 1, 8);
  if (n.opType === 'MaxPool') bump(has(n, 'dilations') || has(n, 'storage_order') || has(n, 'ceil_mode'), 10);
  if (n.opType === 'AveragePool') {
    bump(has(n, 'ceil_mode'), 10);
    bump(has(n, 'dilations'), 19);
  }
  if (n.opType === 'Constant') bump(['value_float', 'value_floats', 'value_int', 'value_ints', 'value_string', 'value_strings'].some((a) => has(n, a)), 12);
  if (n.opType === 'DepthToSpace') bump(has(n, 'mode'), 11);
  if (n.opType === 'TopK') bump(has(n, 'largest') || has(n, 'sorted'), 11);
  if (n.opType === 'Gemm') bump(!input(n, 2), 11);
  if (n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear') bump(has(n, 'axis'), 13);
  if (formUntil(n) === 8) v = 8;
  if (n.opType === 'RoiAlign') bump(has(n, 'coordinate_transformation_mode'), 16);
  return v;
}

const SMALL_INTS = new Set<DType>(['int8', 'int16', 'uint8', 'uint16']);
const INTS = new Set<DType>(['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64']);
const IEEE = new Set<DType>(['float16', 'float32', 'float64']);

function castTarget(n: Node): DType | undefined {
  const to = n.attrs['to'];
  return to?.type === 'int' ? dtypeFromOnnx(to.value) : undefined;
}

/**
 * The opset from which an op accepts its element type (type constraints widen over versions;
 * from the operator changelogs). Only the common cases: unknown combinations give 0 (no bump).
 */
function dtypeSince(n: Node, dt: DType | undefined, castTo?: DType): number {
  if (!dt) return 0;
  const bf16 = dt === 'bfloat16' || castTo === 'bfloat16' ? 13 : 0;
  switch (n.opType) {
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div':
      return Math.max(bf16, SMALL_INTS.has(dt) ? 14 : 0);
    case 'Pow':
    case 'Clip':
    case 'Max':
    case 'Min':
      return Math.max(bf16, INTS.has(dt) ? 12 : 0);
    case 'Relu':
      return Math.max(bf16, INTS.has(dt) ? 14 : 0);
    case 'Equal':
      return dt === 'string' ? 19 : dt === 'bool' || dt === 'int32' || dt === 'int64' ? 0 : 11;
    case 'Greater':
    case 'Less':
      return IEEE.has(dt) ? 0 : 9;
    case 'Cast':
      return Math.max(bf16, dt === 'string' || castTo === 'string' ? 9 : 0);
    case 'MatMul':
      return Math.max(bf16, INTS.has(dt) ? 9 : 0);
    case 'Gemm':
      return Math.max(bf16, INTS.has(dt) ? 11 : 0);
    case 'MaxPool':
    case 'ReduceMax':
    case 'ReduceMin':
      return Math.max(bf16, dt === 'int8' || dt === 'uint8' ? 12 : 0);
    default:
      return bf16;
  }
}

/**
 * The highest opset in which `node`'s form is still valid (Infinity for latest forms). The IR
 * admits one legacy form: Scan-8 (a leading `sequence_lens` input and a batch axis, recognised by
 * having one input more than its body), which the CPU kernel runs and only opset 8 expresses.
 */
export function formUntil(n: Node): number {
  if (n.opType === 'Scan' && n.domain === '') {
    const body = n.attrs['body'];
    if (body?.type === 'graph' && n.inputs.length === body.value.inputs.length + 1) return 8;
  }
  return Infinity;
}

/** What a downgrade may ask of the exporter. */
export interface LowerContext {
  /** The constant value of `name` (an initializer) or undefined. */
  constant(name: string): Tensor | undefined;
}

type Lower = (n: Node, ctx: LowerContext) => Node | undefined;

const ints = (t: Tensor | undefined): number[] | undefined => (t ? t.toNumbers() : undefined);
const intsAttr = (value: number[]): Attr => ({ type: 'ints', value });

/** Input `i` (a constant) → attribute `attr`; undefined when it is not constant. */
function inputToAttr(i: number, attr: string, scalar = false): Lower {
  return (n, ctx) => {
    if (!input(n, i)) return n;
    const v = ints(ctx.constant(n.inputs[i]!));
    if (!v) return undefined;
    const out: Node = { ...n, inputs: n.inputs.slice(0, i), attrs: { ...n.attrs, [attr]: scalar ? { type: 'int', value: v[0] ?? 0 } : intsAttr(v) } };
    return out;
  };
}

/** Rewrites back to an older form: `before` = the form's since-version. */
export const DOWNGRADES: Record<string, { before: number; lower: Lower }[]> = {
  ...Object.fromEntries([...REDUCE18].map((op) => [op, [{ before: 18, lower: (n: Node, ctx: LowerContext) => (has(n, 'noop_with_empty_axes') ? undefined : inputToAttr(1, 'axes')(n, ctx)) }]])),
  ReduceSum: [{ before: 13, lower: (n, ctx) => (has(n, 'noop_with_empty_axes') ? undefined : inputToAttr(1, 'axes')(n, ctx)) }],
  Squeeze: [{ before: 13, lower: inputToAttr(1, 'axes') }],
  Unsqueeze: [{ before: 13, lower: inputToAttr(1, 'axes') }],
  Split: [
    { before: 18, lower: (n) => (has(n, 'num_outputs') && !input(n, 1) ? { ...n, attrs: Object.fromEntries(Object.entries(n.attrs).filter(([k]) => k !== 'num_outputs')) } : n) },
    { before: 13, lower: inputToAttr(1, 'split') },
  ],
  Slice: [
    {
      before: 10,
      lower: (n, ctx) => {
        const starts = ints(ctx.constant(n.inputs[1] ?? ''));
        const ends = ints(ctx.constant(n.inputs[2] ?? ''));
        const axes = input(n, 3) ? ints(ctx.constant(n.inputs[3]!)) : undefined;
        const steps = input(n, 4) ? ints(ctx.constant(n.inputs[4]!)) : undefined;
        if (!starts || !ends || (input(n, 3) && !axes) || (steps && steps.some((s) => s !== 1)) || (input(n, 4) && !steps)) return undefined;
        const attrs: AttrMap = { ...n.attrs, starts: intsAttr(starts), ends: intsAttr(ends) };
        if (axes) attrs['axes'] = intsAttr(axes);
        return { ...n, inputs: [n.inputs[0]!], attrs };
      },
    },
  ],
  Pad: [
    {
      before: 11,
      lower: (n, ctx) => {
        if (input(n, 3)) return undefined;
        const pads = ints(ctx.constant(n.inputs[1] ?? ''));
        const value = input(n, 2) ? ctx.constant(n.inputs[2]!)?.toNumbers()[0] : 0;
        if (!pads || value === undefined) return undefined;
        return { ...n, inputs: [n.inputs[0]!], attrs: { ...n.attrs, pads: intsAttr(pads), value: { type: 'float', value } } };
      },
    },
  ],
  Clip: [
    {
      before: 11,
      lower: (n, ctx) => {
        const attrs = { ...n.attrs };
        for (const [i, name] of [[1, 'min'], [2, 'max']] as const) {
          if (!input(n, i)) continue;
          const v = ctx.constant(n.inputs[i]!)?.toNumbers()[0];
          if (v === undefined) return undefined;
          attrs[name] = { type: 'float', value: v };
        }
        return { ...n, inputs: [n.inputs[0]!], attrs };
      },
    },
  ],
  ScatterElements: [{ before: 11, lower: (n) => (has(n, 'reduction') ? undefined : { ...n, opType: 'Scatter' }) }],
  // Resize → Resize-10 → Upsample-9, when the semantics are the asymmetric ones those had.
  Resize: [
    {
      before: 11,
      lower: (n) => {
        const attr = (k: string): unknown => (n.attrs[k] as { value?: unknown } | undefined)?.value;
        const mode = (attr('mode') as string | undefined) ?? 'nearest';
        const known = new Set(['mode', 'coordinate_transformation_mode', 'nearest_mode']);
        const asym = attr('coordinate_transformation_mode') === 'asymmetric';
        const floorOk = mode !== 'nearest' || attr('nearest_mode') === 'floor';
        if (!asym || !floorOk || mode === 'cubic' || input(n, 1) || !input(n, 2) || input(n, 3) || Object.keys(n.attrs).some((k) => !known.has(k))) return undefined;
        return { ...n, inputs: [n.inputs[0]!, n.inputs[2]!], attrs: { mode: { type: 'string', value: mode } } };
      },
    },
    { before: 10, lower: (n) => (n.inputs.length === 2 ? { ...n, opType: 'Upsample' } : undefined) },
  ],
  TopK: [{ before: 10, lower: (n, ctx) => (has(n, 'largest') || has(n, 'sorted') ? undefined : inputToAttr(1, 'k', true)(n, ctx)) }],
  Dropout: [
    {
      before: 12,
      lower: (n0, ctx) => {
        if (input(n0, 2)) return undefined;
        // `seed` (12) only matters in training mode, which older Dropouts do not have.
        const n: Node = { ...n0, attrs: Object.fromEntries(Object.entries(n0.attrs).filter(([k]) => k !== 'seed')) };
        if (!input(n, 1)) return n;
        const r = ctx.constant(n.inputs[1]!)?.toNumbers()[0];
        return r === undefined ? undefined : { ...n, inputs: [n.inputs[0]!], attrs: { ...n.attrs, ratio: { type: 'float', value: r } } };
      },
    },
  ],
};

/** Negative `axis`/`axes` made non-negative where the rank they refer to is known. */
function positiveAxes(n: Node, rankOf: (name: string) => number | undefined): Node {
  const axis = n.attrs['axis'];
  const axes = n.attrs['axes'];
  const neg = (axis?.type === 'int' && axis.value < 0) || (axes?.type === 'ints' && axes.value.some((a) => a < 0));
  if (!neg) return n;
  const inRank = n.inputs[0] ? rankOf(n.inputs[0]) : undefined;
  if (inRank === undefined) return n;
  // Unsqueeze's axes and OneHot's axis index the output; Flatten's axis may equal the rank.
  const rank = n.opType === 'Unsqueeze' && axes?.type === 'ints' ? inRank + axes.value.length : n.opType === 'OneHot' ? inRank + 1 : inRank;
  const attrs = { ...n.attrs };
  if (axis?.type === 'int' && axis.value < 0) attrs['axis'] = { type: 'int', value: axis.value + rank };
  if (axes?.type === 'ints') attrs['axes'] = { type: 'ints', value: axes.value.map((a) => (a < 0 ? a + rank : a)) };
  return { ...n, attrs };
}

/**
 * The inferred element type and shape of every tensor value of `g` (one `inferTypes` pass), as the
 * two lookups `formSince` takes; `undefined` for values that are not tensors or are unknown.
 */
export function tensorTypesOf(g: Graph): { dtypeOf: (name: string) => DType | undefined; shapeOf: (name: string) => readonly Dim[] | undefined } {
  const types = inferTypes(g);
  return {
    dtypeOf: (name) => {
      const t = types.get(name);
      return t?.kind === 'tensor' ? t.dtype : undefined;
    },
    shapeOf: (name) => {
      const t = types.get(name);
      return t?.kind === 'tensor' ? t.shape : undefined;
    },
  };
}

/** Lower every node of `g` (recursively) to `opset`, or throw naming the first node that cannot be. */
export function lowerGraph(g: Graph, opset: number, outer: LowerContext | undefined, file: string): Graph {
  const producers = new Map<string, Node>();
  for (const n of g.nodes) for (const o of n.outputs) if (o) producers.set(o, n);
  const ctx: LowerContext = {
    constant: (name) => {
      const t = g.initializers.get(name) ?? outer?.constant(name);
      if (t) return t;
      // The importer's `CastLike(constant, x)` for scalars of x's type (Pad value, Clip bounds).
      const p = producers.get(name);
      return p && p.opType === 'CastLike' && p.domain === '' ? ctx.constant(p.inputs[0] ?? '') : undefined;
    },
  };
  const { dtypeOf, shapeOf } = tensorTypesOf(g);
  const rankOf = (name: string): number | undefined => shapeOf(name)?.length;
  let nodes = g.nodes.map((n0) => {
    let n: Node = n0;
    const attrs = Object.entries(n.attrs).map(([k, a]) => {
      if (a.type === 'graph') return [k, { type: 'graph', value: lowerGraph(a.value, opset, ctx, file) }] as const;
      if (a.type === 'graphs') return [k, { type: 'graphs', value: a.value.map((sg) => lowerGraph(sg, opset, ctx, file)) }] as const;
      return [k, a] as const;
    });
    n = { ...n, attrs: Object.fromEntries(attrs) as Node['attrs'] };
    if (n.domain !== '') return n;
    if (opset < 13 && (n.opType === 'Softmax' || n.opType === 'LogSoftmax' || n.opType === 'Hardmax') && !has(n, 'axis')) n = { ...n, attrs: { ...n.attrs, axis: { type: 'int', value: -1 } } };
    if (opset < 11) n = positiveAxes(n, rankOf);
    for (const d of DOWNGRADES[n.opType] ?? []) {
      if (opset >= d.before) continue;
      const lowered = d.lower(n, ctx);
      if (!lowered) break;
      n = lowered;
    }
    return n;
  });
  // Helper CastLike nodes whose only consumers were lowered into attributes are dropped, and so
  // are constants that only fed lowered inputs.
  const used = new Set<string>(g.outputs.map((o) => o.name));
  const countUses = (): void => {
    used.clear();
    for (const o of g.outputs) used.add(o.name);
    for (const n of nodes) for (const d of nodeDependencies(n)) used.add(d);
  };
  countUses();
  const before = new Set<string>();
  for (const n of g.nodes) for (const d of n.inputs) before.add(d);
  const dead = (n: Node): boolean => n.opType === 'CastLike' && n.domain === '' && n.outputs.every((o) => !o || (!used.has(o) && before.has(o)));
  if (nodes.some(dead)) {
    nodes = nodes.filter((n) => !dead(n));
    countUses();
  }
  for (const n of nodes) {
    if (n.domain !== '') continue;
    const need = formSince(n, dtypeOf, shapeOf);
    if (need > opset) {
      throw new RosettaError('E_UNSUPPORTED', `${n.opType} as used here needs opset ${need}, but opset ${opset} was requested`, { where: { file, node: n.name }, hint: `export with --opset ${need} or higher (values that older opsets take as attributes must be constants to be lowered)` });
    }
  }
  const initializers = new Map([...g.initializers].filter(([k]) => used.has(k) || !before.has(k)));
  return { ...g, nodes, initializers };
}

/**
 * Forms that became *more* explicit in newer opsets: Split-18 requires `num_outputs` when no
 * `split` input is given (Split-13 split evenly by output count). Applied when writing ≥ 18.
 */
export function raiseGraph(g: Graph, opset: number): Graph {
  if (opset < 18) return g;
  const nodes = g.nodes.map((n0) => {
    const attrs = Object.fromEntries(
      Object.entries(n0.attrs).map(([k, a]) => {
        if (a.type === 'graph') return [k, { type: 'graph', value: raiseGraph(a.value, opset) }];
        if (a.type === 'graphs') return [k, { type: 'graphs', value: a.value.map((sg) => raiseGraph(sg, opset)) }];
        return [k, a];
      }),
    ) as AttrMap;
    const n: Node = { ...n0, attrs };
    if (n.domain === '' && n.opType === 'Split' && !input(n, 1) && !has(n, 'num_outputs')) n.attrs['num_outputs'] = { type: 'int', value: n.outputs.length };
    return n;
  });
  return { ...g, nodes };
}
