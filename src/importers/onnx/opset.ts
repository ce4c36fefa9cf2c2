/**
 * Opset normalisation: rewrite nodes of older ONNX opsets into the latest form the IR uses
 * (src/ir/graph.ts header, docs/decisions.md §2), so every kernel implements one form per op.
 *
 * `UPGRADES` is the table: for each op, the opset version *before which* a rewrite applies (the
 * since-version of the form that moved the value), and the rewrite. Values that moved from an
 * attribute to an input become constant initializers; scalars whose dtype must match the data
 * input use the data's known dtype, or a `CastLike` node when the dtype is not known statically.
 * Per-op spec history: https://onnx.ai/onnx/operators/ (each op's "Changelog" / older versions).
 */
import type { DType } from '../../ir/dtype.js';
import { makeNode, type Attr, type AttrMap, type Node } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';

/** What a rewrite may ask of the importer. */
export interface NormaliseContext {
  /** Opset version the model imports for `domain` ('' = ai.onnx). */
  opset(domain: string): number;
  /** Add a constant initializer to the current graph; returns its (unique) value name. */
  constant(hint: string, t: Tensor): string;
  /** A fresh unique value name. */
  fresh(hint: string): string;
  /** Element type of a value when known statically (graph input, initializer, value_info). */
  dtypeOf(name: string): DType | undefined;
  /** Rank of a value when known statically. */
  rankOf(name: string): number | undefined;
  /** Shape of a constant initializer, when `name` is one. */
  constShape(name: string): readonly number[] | undefined;
  /** Replace a constant initializer's value (used to pre-broadcast legacy `axis` operands). */
  replaceConstant(name: string, t: Tensor): void;
  /** Record a rewrite for `convert` reports. */
  note(node: Node, detail: string): void;
}

type Rewrite = (n: Node, ctx: NormaliseContext) => Node[];

interface Upgrade {
  /** The rewrite applies when the imported opset is below this version. */
  before: number;
  rewrite: Rewrite;
}

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/** int64 from an attribute number, clamped (attributes near ±2^63 arrive rounded as doubles). */
function toI64(v: number): bigint {
  if (v >= 9.2e18) return INT64_MAX;
  if (v <= -9.2e18) return INT64_MIN;
  return BigInt(Math.trunc(v));
}

function i64Const(ctx: NormaliseContext, hint: string, values: number[]): string {
  return ctx.constant(hint, new Tensor('int64', [values.length], BigInt64Array.from(values, toI64)));
}

function takeAttr(n: Node, name: string): Attr | undefined {
  const a = n.attrs[name];
  if (a) delete n.attrs[name];
  return a;
}

function numList(a: Attr | undefined): number[] | undefined {
  if (!a) return undefined;
  if (a.type === 'ints' || a.type === 'floats') return a.value;
  if (a.type === 'int' || a.type === 'float') return [a.value];
  return undefined;
}

/** Input `i` set to `name`, padding skipped optional inputs with ''. */
function setInput(n: Node, i: number, name: string): void {
  while (n.inputs.length < i) n.inputs.push('');
  n.inputs[i] = name;
}

/**
 * A scalar of `x`'s element type holding `value`: a typed constant when the dtype is known,
 * otherwise a float32 constant passed through `CastLike(value, x)`.
 */
function scalarLike(ctx: NormaliseContext, n: Node, x: string, hint: string, value: number, pre: Node[]): string {
  const dt = ctx.dtypeOf(x);
  if (dt && dt !== 'string') return ctx.constant(hint, Tensor.from(dt, [], [value]));
  const f = ctx.constant(hint, Tensor.from('float32', [], [value]));
  const out = ctx.fresh(`${hint}_cast`);
  pre.push(makeNode('CastLike', [f, x], [out], {}, { name: `${n.name}/${hint}_cast`, scope: n.scope }));
  return out;
}

/** `axes` (or another int list) attribute → input `index`. */
function attrToI64Input(attr: string, index: number): Rewrite {
  return (n, ctx) => {
    const v = numList(takeAttr(n, attr));
    if (v !== undefined) setInput(n, index, i64Const(ctx, `${n.name}_${attr}`, v));
    return [n];
  };
}

/** Softmax/LogSoftmax/Hardmax before 13 coerce the input to 2D at `axis` (default 1). */
const coerced2D: Rewrite = (n, ctx) => {
  const axisAttr = takeAttr(n, 'axis');
  const axis = axisAttr && axisAttr.type === 'int' ? axisAttr.value : 1;
  const x = n.inputs[0]!;
  const rank = ctx.rankOf(x);
  // When the axis is the last one, the 2D coercion is the identity on the result.
  if (rank !== undefined && (axis === rank - 1 || axis === -1)) {
    n.attrs['axis'] = { type: 'int', value: -1 };
    return [n];
  }
  const shape = ctx.fresh(`${n.name}_shape`);
  const flat = ctx.fresh(`${n.name}_2d`);
  const res = ctx.fresh(`${n.name}_res`);
  const y = n.outputs[0]!;
  const o = { scope: n.scope };
  ctx.note(n, `${n.opType} with axis ${axis} before opset 13: coerced to 2D by Flatten/Reshape`);
  return [
    makeNode('Shape', [x], [shape], {}, { ...o, name: `${n.name}/shape` }),
    makeNode('Flatten', [x], [flat], { axis: { type: 'int', value: axis } }, { ...o, name: `${n.name}/flatten` }),
    { ...n, inputs: [flat], outputs: [res], attrs: { ...n.attrs, axis: { type: 'int', value: 1 } } },
    makeNode('Reshape', [res, shape], [y], {}, { ...o, name: `${n.name}/reshape` }),
  ];
};

/**
 * Before opset 7, binary ops broadcast only with `broadcast=1`, aligning B at `axis` of A
 * (B's dims start at `axis`, not at the right). Rewritten to numpy broadcasting by giving a
 * constant B trailing 1-dims (or an Unsqueeze/Reshape when B is not constant).
 */
const legacyBroadcast: Rewrite = (n, ctx) => {
  const bc = takeAttr(n, 'broadcast');
  const axisAttr = takeAttr(n, 'axis');
  if (!bc || bc.type !== 'int' || bc.value === 0 || !axisAttr || axisAttr.type !== 'int') return [n];
  const a = n.inputs[0]!;
  const b = n.inputs[1]!;
  const rankA = ctx.rankOf(a);
  const rankB = ctx.constShape(b)?.length ?? ctx.rankOf(b);
  if (rankA === undefined || rankB === undefined) {
    ctx.note(n, `legacy broadcast at axis ${axisAttr.value} with unknown ranks: assumed to align B with A's trailing dims (numpy rules)`);
    return [n];
  }
  const axis = axisAttr.value < 0 ? axisAttr.value + rankA : axisAttr.value;
  const trailing = rankA - axis - rankB;
  if (trailing <= 0) return [n];
  const pre: Node[] = [];
  const axes = Array.from({ length: trailing }, (_, i) => rankB + i);
  const out = ctx.fresh(`${n.name}_B_aligned`);
  pre.push(makeNode('Unsqueeze', [b, i64Const(ctx, `${n.name}_B_axes`, axes)], [out], {}, { name: `${n.name}/align_B`, scope: n.scope }));
  n.inputs[1] = out;
  ctx.note(n, `legacy broadcast at axis ${axis}: B unsqueezed on axes [${axes.join(', ')}]`);
  return [...pre, n];
};

const dropAttrs =
  (...names: string[]): Rewrite =>
  (n) => {
    for (const k of names) delete n.attrs[k];
    return [n];
  };

/** Cast-1 names the target type as a string ('FLOAT'); later versions use the DataType code. */
const CAST_NAMES: Record<string, number> = { FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9, FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, COMPLEX64: 14, COMPLEX128: 15, BFLOAT16: 16 };

const REDUCE_OPS = ['ReduceMax', 'ReduceMin', 'ReduceMean', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'];
const LEGACY_BROADCAST_OPS = ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'And', 'Or', 'Xor', 'Equal', 'Greater', 'Less'];

/** The table: op → upgrades, applied in order (oldest first). */
export const UPGRADES: Record<string, Upgrade[]> = {
  // Slice-10 moved starts/ends/axes to inputs (and added steps).
  Slice: [
    {
      before: 10,
      rewrite: (n, ctx) => {
        const starts = numList(takeAttr(n, 'starts')) ?? [];
        const ends = numList(takeAttr(n, 'ends')) ?? [];
        const axes = numList(takeAttr(n, 'axes'));
        setInput(n, 1, i64Const(ctx, `${n.name}_starts`, starts));
        setInput(n, 2, i64Const(ctx, `${n.name}_ends`, ends));
        if (axes) setInput(n, 3, i64Const(ctx, `${n.name}_axes`, axes));
        return [n];
      },
    },
  ],
  // Pad-11 moved pads and value to inputs.
  Pad: [
    {
      before: 11,
      rewrite: (n, ctx) => {
        const pads = numList(takeAttr(n, 'paddings') ?? takeAttr(n, 'pads')) ?? [];
        const value = numList(takeAttr(n, 'value'))?.[0] ?? 0;
        const pre: Node[] = [];
        setInput(n, 1, i64Const(ctx, `${n.name}_pads`, pads));
        if (value !== 0) setInput(n, 2, scalarLike(ctx, n, n.inputs[0]!, `${n.name}_value`, value, pre));
        return [...pre, n];
      },
    },
  ],
  // Split-13 moved split to an input (Split-1 also accepted it as input 1 already).
  Split: [{ before: 13, rewrite: attrToI64Input('split', 1) }],
  ReduceSum: [{ before: 13, rewrite: attrToI64Input('axes', 1) }],
  ...Object.fromEntries(REDUCE_OPS.map((op) => [op, [{ before: 18, rewrite: attrToI64Input('axes', 1) }]])),
  Squeeze: [{ before: 13, rewrite: attrToI64Input('axes', 1) }],
  Unsqueeze: [{ before: 13, rewrite: attrToI64Input('axes', 1) }],
  // Reshape-5 moved shape to an input.
  Reshape: [{ before: 5, rewrite: (n, ctx) => (dropAttrs('consumed_inputs')(n, ctx), attrToI64Input('shape', 1)(n, ctx)) }],
  // TopK-10 moved k to an input ([1] int64).
  TopK: [{ before: 10, rewrite: attrToI64Input('k', 1) }],
  // Clip-11 moved min/max to inputs (defaults ±FLT_MAX, i.e. absent inputs).
  Clip: [
    {
      before: 11,
      rewrite: (n, ctx) => {
        delete n.attrs['consumed_inputs'];
        const min = numList(takeAttr(n, 'min'))?.[0];
        const max = numList(takeAttr(n, 'max'))?.[0];
        const pre: Node[] = [];
        if (min !== undefined) setInput(n, 1, scalarLike(ctx, n, n.inputs[0]!, `${n.name}_min`, min, pre));
        if (max !== undefined) setInput(n, 2, scalarLike(ctx, n, n.inputs[0]!, `${n.name}_max`, max, pre));
        return [...pre, n];
      },
    },
  ],
  // Dropout-12 moved ratio to an input; is_test (before 7) is gone: inference is the default.
  Dropout: [
    {
      before: 12,
      rewrite: (n, ctx) => {
        delete n.attrs['is_test'];
        delete n.attrs['consumed_inputs'];
        const ratio = numList(takeAttr(n, 'ratio'))?.[0];
        if (ratio !== undefined && ratio !== 0.5) setInput(n, 1, ctx.constant(`${n.name}_ratio`, Tensor.from('float32', [], [ratio])));
        return [n];
      },
    },
  ],
  BatchNormalization: [{ before: 15, rewrite: dropAttrs('spatial', 'is_test', 'consumed_inputs') }],
  Softmax: [{ before: 13, rewrite: coerced2D }],
  LogSoftmax: [{ before: 13, rewrite: coerced2D }],
  Hardmax: [{ before: 13, rewrite: coerced2D }],
  // Upsample (deprecated in 10) is Resize with asymmetric coordinates and floor rounding.
  Upsample: [
    {
      before: Infinity,
      rewrite: (n, ctx) => {
        const modeAttr = takeAttr(n, 'mode');
        const mode = modeAttr?.type === 'string' ? modeAttr.value : 'nearest';
        // Upsample-1 gave the two spatial factors of an NCHW input as separate attributes.
        const hs = numList(takeAttr(n, 'height_scale'))?.[0];
        const ws = numList(takeAttr(n, 'width_scale'))?.[0];
        const scalesAttr = numList(takeAttr(n, 'scales')) ?? (hs !== undefined || ws !== undefined ? [1, 1, hs ?? 1, ws ?? 1] : undefined);
        let scales = n.inputs[1] ?? '';
        if (scalesAttr) scales = ctx.constant(`${n.name}_scales`, new Tensor('float32', [scalesAttr.length], Float32Array.from(scalesAttr)));
        ctx.note(n, 'Upsample rewritten as Resize (asymmetric coordinates)');
        const attrs: AttrMap = {
          mode: { type: 'string', value: mode === 'nearest' ? 'nearest' : 'linear' },
          coordinate_transformation_mode: { type: 'string', value: 'asymmetric' },
        };
        if (mode === 'nearest') attrs['nearest_mode'] = { type: 'string', value: 'floor' };
        return [{ ...n, opType: 'Resize', inputs: [n.inputs[0]!, '', scales], attrs }];
      },
    },
  ],
  // Resize-10 had (X, scales) and asymmetric coordinates; 11+ adds roi and the transform attrs.
  Resize: [
    {
      before: 11,
      rewrite: (n) => {
        const mode = n.attrs['mode']?.type === 'string' ? (n.attrs['mode'].value as string) : 'nearest';
        n.inputs = [n.inputs[0]!, '', n.inputs[1] ?? ''];
        n.attrs['coordinate_transformation_mode'] = { type: 'string', value: 'asymmetric' };
        if (mode === 'nearest') n.attrs['nearest_mode'] = { type: 'string', value: 'floor' };
        return [n];
      },
    },
  ],
  // Cast-6 takes the DataType code; Cast-1 took its name.
  Cast: [
    {
      before: 6,
      rewrite: (n) => {
        const to = n.attrs['to'];
        if (to?.type === 'string') n.attrs['to'] = { type: 'int', value: CAST_NAMES[to.value.toUpperCase()] ?? 0 };
        return [n];
      },
    },
  ],
  // Concat-4 made axis required; Concat-1 defaulted it to 1.
  Concat: [
    {
      before: 4,
      rewrite: (n) => {
        if (!n.attrs['axis']) n.attrs['axis'] = { type: 'int', value: 1 };
        return [n];
      },
    },
  ],
  // Gemm-7 dropped `broadcast` (C always broadcasts unidirectionally).
  Gemm: [{ before: 7, rewrite: dropAttrs('broadcast', 'consumed_inputs') }],
  PRelu: [{ before: 7, rewrite: dropAttrs('consumed_inputs') }],
  // Experimental ops of opsets 1–9 (removed in 10), still found in old model-zoo files.
  ScaledTanh: [{ before: Infinity, rewrite: scaledUnary('Tanh', 1, 1) }],
  ParametricSoftplus: [{ before: Infinity, rewrite: scaledUnary(undefined, 1, 1, 'Softplus') }],
  Affine: [
    {
      before: Infinity,
      rewrite: (n, ctx) => {
        const alpha = numList(n.attrs['alpha'])?.[0] ?? 1;
        const beta = numList(n.attrs['beta'])?.[0] ?? 0;
        const x = n.inputs[0]!;
        const pre: Node[] = [];
        const ax = ctx.fresh(`${n.name}_ax`);
        ctx.note(n, 'experimental Affine rebuilt from Mul/Add');
        pre.push(makeNode('Mul', [x, scalarLike(ctx, n, x, `${n.name}_alpha`, alpha, pre)], [ax], {}, { name: `${n.name}/alpha`, scope: n.scope }));
        pre.push(makeNode('Add', [ax, scalarLike(ctx, n, x, `${n.name}_beta`, beta, pre)], [n.outputs[0]!], {}, { name: `${n.name}/beta`, scope: n.scope }));
        return pre;
      },
    },
  ],
  // ImageScaler: y = scale * x + bias[c] on NCHW input.
  ImageScaler: [
    {
      before: Infinity,
      rewrite: (n, ctx) => {
        const scale = numList(n.attrs['scale'])?.[0] ?? 1;
        const bias = numList(n.attrs['bias']) ?? [];
        const x = n.inputs[0]!;
        const pre: Node[] = [];
        const sx = ctx.fresh(`${n.name}_scaled`);
        ctx.note(n, 'experimental ImageScaler rebuilt from Mul/Add');
        pre.push(makeNode('Mul', [x, scalarLike(ctx, n, x, `${n.name}_scale`, scale, pre)], [sx], {}, { name: `${n.name}/scale`, scope: n.scope }));
        const dt = ctx.dtypeOf(x) ?? 'float32';
        const b = ctx.constant(`${n.name}_bias`, Tensor.from(dt, [1, bias.length, 1, 1], bias));
        pre.push(makeNode('Add', [sx, b], [n.outputs[0]!], {}, { name: `${n.name}/bias`, scope: n.scope }));
        return pre;
      },
    },
  ],
  // Crop (experimental): border = [left, top, right, bottom] on NCHW, or a [height, width] window
  // at (top, left) when `scale` is given. A Slice over axes 2 and 3.
  Crop: [
    {
      before: Infinity,
      rewrite: (n, ctx) => {
        const [left = 0, top = 0, right = 0, bottom = 0] = numList(n.attrs['border']) ?? [];
        const scale = numList(n.attrs['scale']);
        const MAX = 9.3e18; // clamped to INT64_MAX by toI64
        const ends = scale && scale.length === 2 ? [top + scale[0]!, left + scale[1]!] : [bottom ? -bottom : MAX, right ? -right : MAX];
        ctx.note(n, 'experimental Crop rewritten as Slice');
        const inputs = [n.inputs[0]!, i64Const(ctx, `${n.name}_starts`, [top, left]), i64Const(ctx, `${n.name}_ends`, ends), i64Const(ctx, `${n.name}_axes`, [2, 3])];
        return [{ ...n, opType: 'Slice', inputs, attrs: {} }];
      },
    },
  ],
  // MeanVarianceNormalization-1 (experimental, spec silent on the axes): statistics per channel
  // over N, H, W, or over everything with across_channels, as onnxruntime computes it;
  // normalize_variance = 0 only subtracts the mean.
  MeanVarianceNormalization: [
    {
      before: 9,
      rewrite: (n, ctx) => {
        const across = numList(takeAttr(n, 'across_channels'))?.[0] ?? 0;
        const normVar = numList(takeAttr(n, 'normalize_variance'))?.[0] ?? 1;
        const axes = across ? [0, 1, 2, 3] : [0, 2, 3];
        if (normVar) {
          n.attrs['axes'] = { type: 'ints', value: axes };
          return [n];
        }
        const mean = ctx.fresh(`${n.name}_mean`);
        ctx.note(n, 'MeanVarianceNormalization-1 without variance normalisation: ReduceMean and Sub');
        return [
          makeNode('ReduceMean', [n.inputs[0]!, i64Const(ctx, `${n.name}_axes`, axes)], [mean], { keepdims: { type: 'int', value: 1 } }, { name: `${n.name}/mean`, scope: n.scope }),
          makeNode('Sub', [n.inputs[0]!, mean], [n.outputs[0]!], {}, { name: `${n.name}/sub`, scope: n.scope }),
        ];
      },
    },
  ],
  // LpPool-1/GlobalLpPool-1 had a float `p`; 2+ an int.
  LpPool: [{ before: 2, rewrite: (n) => (n.attrs['p']?.type === 'float' && (n.attrs['p'] = { type: 'int', value: Math.round(n.attrs['p'].value) }), [n]) }],
  GlobalLpPool: [{ before: 2, rewrite: (n) => (n.attrs['p']?.type === 'float' && (n.attrs['p'] = { type: 'int', value: Math.round(n.attrs['p'].value) }), [n]) }],
  // Scatter (9/10) is ScatterElements under its old name.
  Scatter: [{ before: Infinity, rewrite: (n) => [{ ...n, opType: 'ScatterElements' }] }],
  ...Object.fromEntries(LEGACY_BROADCAST_OPS.map((op) => [op, [{ before: 7, rewrite: legacyBroadcast }]])),
};

/** y = alpha * f(beta * x) style experimental ops (opset 1–9), rebuilt from standard ops. */
function scaledUnary(inner: string | undefined, alphaDef: number, betaDef: number, outer?: 'Softplus'): Rewrite {
  return (n, ctx) => {
    const alpha = numList(n.attrs['alpha'])?.[0] ?? alphaDef;
    const beta = numList(n.attrs['beta'])?.[0] ?? betaDef;
    const x = n.inputs[0]!;
    const y = n.outputs[0]!;
    const o = { scope: n.scope };
    const pre: Node[] = [];
    const bx = ctx.fresh(`${n.name}_beta_x`);
    const fx = ctx.fresh(`${n.name}_f`);
    const fn = inner ?? outer!;
    ctx.note(n, `experimental ${n.opType} rebuilt from Mul/${fn}`);
    pre.push(makeNode('Mul', [x, scalarLike(ctx, n, x, `${n.name}_beta`, beta, pre)], [bx], {}, { ...o, name: `${n.name}/beta` }));
    pre.push(makeNode(fn, [bx], [fx], {}, { ...o, name: `${n.name}/${fn.toLowerCase()}` }));
    pre.push(makeNode('Mul', [fx, scalarLike(ctx, n, x, `${n.name}_alpha`, alpha, pre)], [y], {}, { ...o, name: `${n.name}/alpha` }));
    return pre;
  };
}

/** Ops that took a `consumed_inputs` attribute before opset 6 (an optimisation hint, dropped). */
const CONSUMED_INPUTS_BEFORE = 7;

/**
 * Normalise one node of the default domain to its latest form. Returns the replacement nodes
 * (usually just the node, possibly preceded by helper nodes).
 */
export function normaliseNode(node: Node, ctx: NormaliseContext): Node[] {
  if (node.domain !== '') return [node];
  const version = ctx.opset('');
  if (version < CONSUMED_INPUTS_BEFORE) delete node.attrs['consumed_inputs'];
  const ups = UPGRADES[node.opType];
  if (!ups) return [node];
  let nodes = [node];
  for (const u of ups) {
    if (version >= u.before) continue;
    const next: Node[] = [];
    for (const n of nodes) next.push(...(n.opType === node.opType ? u.rewrite(n, ctx) : [n]));
    nodes = next;
  }
  return nodes;
}
