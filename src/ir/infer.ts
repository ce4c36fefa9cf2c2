/**
 * Static dtype and shape inference for the common ops, following each op's ONNX type and shape
 * inference rules (https://onnx.ai/onnx/operators/, "Type Constraints" and shape semantics).
 *
 * Used by `inspect` and the exporters to describe intermediate values. It is best effort: a value
 * whose type cannot be derived (unknown op, data-dependent shape, a shape input that is not a
 * constant) is simply absent or carries `null` dims. Symbolic dims (`batch`) flow through ops
 * that keep them. Declared types (graph inputs, `valueInfo`) are trusted over inferred ones.
 * Pure IR: no kernels, no runtime.
 */
import { AttrReader } from './attrs.js';
import { dtypeFromOnnx, type DType } from './dtype.js';
import { topoSort, type Dim, type Graph, type Node, type ValueType } from './graph.js';
import { elementToNumber, type Tensor } from './tensor.js';

interface TT {
  dtype?: DType;
  shape?: Dim[];
}

const SAME = new Set([
  'Abs', 'Neg', 'Relu', 'Sigmoid', 'Tanh', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Floor', 'Ceil', 'Round', 'Erf', 'Sin', 'Cos', 'Tan',
  'Asin', 'Acos', 'Atan', 'Sinh', 'Cosh', 'Asinh', 'Acosh', 'Atanh', 'LeakyRelu', 'Elu', 'Selu', 'Celu', 'HardSigmoid', 'HardSwish',
  'Softplus', 'Softsign', 'Gelu', 'Mish', 'Identity', 'Softmax', 'LogSoftmax', 'Hardmax', 'InstanceNormalization', 'LRN', 'Clip',
  'PRelu', 'CumSum', 'LpNormalization', 'MeanVarianceNormalization', 'Sign', 'Trilu', 'ThresholdedRelu', 'Shrink', 'Not',
  'BitwiseNot', 'BatchNormalization', 'LayerNormalization', 'GroupNormalization', 'Dropout',
]);
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Mod', 'Max', 'Min', 'Sum', 'Mean', 'BitwiseAnd', 'BitwiseOr', 'BitwiseXor', 'BitShift']);
const COMPARE = new Set(['Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'And', 'Or', 'Xor']);
const REDUCE = new Set(['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare']);
const POOL = new Set(['MaxPool', 'AveragePool', 'LpPool']);

/** Broadcast symbolic shapes (numpy rules; unknown where it cannot be decided). */
export function broadcastDims(shapes: (Dim[] | undefined)[]): Dim[] | undefined {
  if (shapes.some((s) => !s)) return undefined;
  const rank = Math.max(0, ...shapes.map((s) => s!.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of shapes as Dim[][]) {
      const x = s[i - (rank - s.length)];
      if (x === undefined || x === 1) continue;
      if (d === 1) d = x;
      else if (d !== x) d = typeof d === 'number' && typeof x === 'number' ? d : null;
    }
    out.push(d);
  }
  return out;
}

const prod = (ds: Dim[]): Dim => ds.reduce<Dim>((a, b) => (typeof a === 'number' && typeof b === 'number' ? a * b : null), 1);
const norm = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

/** Infer the types of every value of `graph` (and nothing of its subgraphs). */
export function inferTypes(graph: Graph): Map<string, ValueType> {
  const types = new Map<string, TT>();
  const consts = new Map<string, number[]>();
  const constOf = (t: Tensor): number[] | undefined => (t.dtype !== 'string' && t.size <= 64 ? Array.from({ length: t.size }, (_, i) => elementToNumber(t, i)) : undefined);
  for (const [k, t] of graph.initializers) {
    types.set(k, { dtype: t.dtype, shape: t.shape.slice() });
    const c = constOf(t);
    if (c && (t.dtype === 'int64' || t.dtype === 'int32')) consts.set(k, c);
  }
  const declared = (name: string, vt: ValueType | undefined): void => {
    if (vt?.kind === 'tensor') types.set(name, { dtype: vt.dtype, shape: vt.shape?.slice() });
  };
  for (const v of graph.inputs) declared(v.name, v.type);
  let order: Node[];
  try {
    order = topoSort(graph, new Set(graph.nodes.flatMap((n) => n.inputs)));
  } catch {
    order = graph.nodes;
  }
  for (const n of order) {
    let outs: TT[] = [];
    try {
      outs = inferNode(n, (i) => (n.inputs[i] ? types.get(n.inputs[i]!) : undefined), (i) => (n.inputs[i] ? consts.get(n.inputs[i]!) : undefined), consts);
    } catch {
      outs = []; // malformed attributes: leave the outputs unknown; validation reports them elsewhere
    }
    n.outputs.forEach((o, k) => {
      if (o && outs[k]) types.set(o, outs[k]!);
    });
  }
  for (const v of graph.valueInfo.values()) declared(v.name, v.type);
  for (const v of graph.outputs) declared(v.name, v.type);
  const out = new Map<string, ValueType>();
  for (const [k, t] of types) if (t.dtype) out.set(k, t.shape ? { kind: 'tensor', dtype: t.dtype, shape: t.shape } : { kind: 'tensor', dtype: t.dtype });
  return out;
}

function poolSpatial(x: Dim[], kernel: number[], a: AttrReader, ceilDefault: number): Dim[] {
  const k = kernel.length;
  const strides = a.ints('strides', new Array(k).fill(1));
  const dil = a.ints('dilations', new Array(k).fill(1));
  const pads = a.ints('pads', new Array(2 * k).fill(0));
  const autoPad = a.string('auto_pad', 'NOTSET');
  const ceil = a.int('ceil_mode', ceilDefault);
  return x.slice(2).map((d, i) => {
    if (typeof d !== 'number') return null;
    const s = strides[i]!;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.ceil(d / s);
    const ek = (kernel[i]! - 1) * dil[i]! + 1;
    const span = d + pads[i]! + pads[i + k]! - ek;
    if (autoPad === 'VALID') return Math.floor((d - ek) / s) + 1;
    let o = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
    if (ceil && (o - 1) * s >= d + pads[i]!) o--; // last window must start inside the input or left padding
    return o;
  });
}

function inferNode(n: Node, t: (i: number) => TT | undefined, c: (i: number) => number[] | undefined, consts: Map<string, number[]>): TT[] {
  const a = new AttrReader(n.attrs, n);
  const x = t(0);
  const xs = x?.shape;
  const op = n.domain === '' ? n.opType : '';
  // Gradient (ai.onnx.preview.training): output k is dy/d xs[k], typed like input k (the value of xs[k]).
  if (n.domain === 'ai.onnx.preview.training' && n.opType === 'Gradient') return n.outputs.map((_, k) => ({ ...t(k) }));
  if (SAME.has(op)) {
    const outs: TT[] = [{ ...x }];
    if (op === 'Dropout') outs.push({ dtype: 'bool', shape: xs });
    return outs;
  }
  if (BROADCAST.has(op)) return [{ dtype: x?.dtype, shape: broadcastDims(n.inputs.map((_, i) => t(i)?.shape)) }];
  if (COMPARE.has(op)) return [{ dtype: 'bool', shape: broadcastDims(n.inputs.map((_, i) => t(i)?.shape)) }];
  if (op === 'IsNaN' || op === 'IsInf') return [{ dtype: 'bool', shape: xs }];
  if (op === 'Where') return [{ dtype: t(1)?.dtype, shape: broadcastDims([0, 1, 2].map((i) => t(i)?.shape)) }];
  if (op === 'Cast') return [{ dtype: dtypeFromOnnx(a.int('to')), shape: xs }];
  if (op === 'CastLike') return [{ dtype: t(1)?.dtype, shape: xs }];
  if (op === 'Shape') {
    if (!xs) return [{ dtype: 'int64' }];
    const r = xs.length;
    const start = Math.min(Math.max(norm(a.int('start', 0), r), 0), r);
    const end = Math.min(Math.max(norm(a.int('end', r), r), 0), r);
    const dims = xs.slice(start, Math.max(start, end));
    if (dims.every((d) => typeof d === 'number')) consts.set(n.outputs[0]!, dims as number[]);
    return [{ dtype: 'int64', shape: [dims.length] }];
  }
  if (op === 'Size') return [{ dtype: 'int64', shape: [] }];
  if (op === 'Constant') {
    const v = a.tensor('value');
    if (v) {
      if (v.size <= 64 && (v.dtype === 'int64' || v.dtype === 'int32')) consts.set(n.outputs[0]!, v.toNumbers());
      return [{ dtype: v.dtype, shape: v.shape.slice() }];
    }
    if (a.has('value_float')) return [{ dtype: 'float32', shape: [] }];
    if (a.has('value_int')) return [{ dtype: 'int64', shape: [] }];
    if (a.has('value_floats')) return [{ dtype: 'float32', shape: [a.floats('value_floats').length] }];
    if (a.has('value_ints')) return [{ dtype: 'int64', shape: [a.ints('value_ints').length] }];
    return [];
  }
  if (!xs) {
    // Without the first input's shape only the dtype can be told for most ops.
    if (op === 'ArgMax' || op === 'ArgMin' || op === 'NonZero') return [{ dtype: 'int64' }];
    if (op === 'Flatten') return [{ dtype: x?.dtype, shape: [null, null] }];
    return x?.dtype ? [{ dtype: x.dtype }] : [];
  }
  const r = xs.length;
  switch (op) {
    case 'MatMul': {
      const bs = t(1)?.shape;
      if (!bs) return [{ dtype: x!.dtype }];
      const A = r === 1 ? [1, xs[0]!] : xs;
      const B = bs.length === 1 ? [bs[0]!, 1] : bs;
      const batch = broadcastDims([A.slice(0, -2), B.slice(0, -2)]) ?? [];
      const shape = [...batch, ...(r === 1 ? [] : [A[A.length - 2]!]), ...(bs.length === 1 ? [] : [B[B.length - 1]!])];
      return [{ dtype: x!.dtype, shape }];
    }
    case 'Gemm': {
      const bs = t(1)?.shape;
      const m = a.int('transA', 0) ? xs[1]! : xs[0]!;
      const nn = bs ? (a.int('transB', 0) ? bs[0]! : bs[1]!) : null;
      return [{ dtype: x!.dtype, shape: [m, nn] }];
    }
    case 'Conv':
    case 'ConvInteger': {
      const w = t(1)?.shape;
      const kernel = a.ints('kernel_shape', w ? (w.slice(2) as number[]) : []);
      if (!w || kernel.some((k) => typeof k !== 'number')) return [{ dtype: x!.dtype }];
      return [{ dtype: op === 'ConvInteger' ? 'int32' : x!.dtype, shape: [xs[0]!, w[0]!, ...poolSpatial(xs, kernel, a, 0)] }];
    }
    case 'ConvTranspose': {
      const w = t(1)?.shape;
      if (!w) return [{ dtype: x!.dtype }];
      const k = r - 2;
      const kernel = a.ints('kernel_shape', w.slice(2) as number[]);
      const strides = a.ints('strides', new Array(k).fill(1));
      const dil = a.ints('dilations', new Array(k).fill(1));
      const pads = a.ints('pads', new Array(2 * k).fill(0));
      const outPad = a.ints('output_padding', new Array(k).fill(0));
      const given = a.ints('output_shape', []);
      const same = a.string('auto_pad', 'NOTSET').startsWith('SAME');
      const spatial = xs.slice(2).map((d, i) => (given.length ? given[given.length - k + i]! : typeof d === 'number' && same ? d * strides[i]! : typeof d === 'number' ? strides[i]! * (d - 1) + outPad[i]! + (kernel[i]! - 1) * dil[i]! + 1 - pads[i]! - pads[i + k]! : null));
      const m = typeof w[1] === 'number' ? w[1] * a.int('group', 1) : null;
      return [{ dtype: x!.dtype, shape: [xs[0]!, m, ...spatial] }];
    }
    case 'GlobalAveragePool':
    case 'GlobalMaxPool':
    case 'GlobalLpPool':
      return [{ dtype: x!.dtype, shape: [xs[0]!, xs[1]!, ...xs.slice(2).map(() => 1)] }];
    case 'Flatten': {
      const axis = norm(a.int('axis', 1), r);
      return [{ dtype: x!.dtype, shape: [prod(xs.slice(0, axis)), prod(xs.slice(axis))] }];
    }
    case 'Reshape': {
      const s = c(1);
      if (!s) return [{ dtype: x!.dtype, shape: t(1)?.shape && typeof t(1)!.shape![0] === 'number' ? new Array<Dim>(t(1)!.shape![0] as number).fill(null) : undefined }];
      const allowZero = a.int('allowzero', 0);
      const out: Dim[] = s.map((d, i) => (d === 0 && !allowZero ? (xs[i] ?? null) : d === -1 ? null : d));
      const minus = s.indexOf(-1);
      if (minus >= 0) {
        const total = prod(xs);
        const known = prod(out.filter((_, i) => i !== minus));
        out[minus] = typeof total === 'number' && typeof known === 'number' && known > 0 ? total / known : null;
      }
      return [{ dtype: x!.dtype, shape: out }];
    }
    case 'Transpose': {
      const perm = a.ints('perm', xs.map((_, i) => r - 1 - i));
      return [{ dtype: x!.dtype, shape: perm.map((p) => xs[p] ?? null) }];
    }
    case 'Concat': {
      const axis = norm(a.int('axis'), r);
      const shapes = n.inputs.map((_, i) => t(i)?.shape);
      if (shapes.some((s) => !s)) return [{ dtype: x!.dtype }];
      const out = xs.slice();
      out[axis] = prod(shapes.map((s) => s![axis]!)) === null ? null : shapes.reduce((acc, s) => acc + (s![axis] as number), 0);
      return [{ dtype: x!.dtype, shape: out }];
    }
    case 'Squeeze': {
      const axes = n.inputs[1] ? c(1) : a.ints('axes', []);
      if (!axes) return [{ dtype: x!.dtype }];
      const drop = new Set(axes.length ? axes.map((v) => norm(v, r)) : xs.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0));
      return [{ dtype: x!.dtype, shape: xs.filter((_, i) => !drop.has(i)) }];
    }
    case 'Unsqueeze': {
      const axes = n.inputs[1] ? c(1) : a.ints('axes', []);
      if (!axes) return [{ dtype: x!.dtype }];
      const outRank = r + axes.length;
      const ins = new Set(axes.map((v) => norm(v, outRank)));
      const out: Dim[] = [];
      let k = 0;
      for (let i = 0; i < outRank; i++) out.push(ins.has(i) ? 1 : xs[k++]!);
      return [{ dtype: x!.dtype, shape: out }];
    }
    case 'Gather': {
      const idx = t(1)?.shape;
      const axis = norm(a.int('axis', 0), r);
      return [{ dtype: x!.dtype, shape: idx ? [...xs.slice(0, axis), ...idx, ...xs.slice(axis + 1)] : undefined }];
    }
    case 'ArgMax':
    case 'ArgMin': {
      const axis = norm(a.int('axis', 0), r);
      const keep = a.int('keepdims', 1);
      return [{ dtype: 'int64', shape: keep ? xs.map((d, i) => (i === axis ? 1 : d)) : xs.filter((_, i) => i !== axis) }];
    }
    case 'TopK': {
      const k = c(1)?.[0];
      const axis = norm(a.int('axis', -1), r);
      const shape = xs.map((d, i) => (i === axis ? (k ?? null) : d));
      return [{ dtype: x!.dtype, shape }, { dtype: 'int64', shape }];
    }
    case 'Pad': {
      const pads = c(1);
      if (!pads) return [{ dtype: x!.dtype, shape: xs.map(() => null) }];
      const axes = n.inputs[3] ? c(3)?.map((v) => norm(v, r)) : xs.map((_, i) => i);
      if (!axes) return [{ dtype: x!.dtype }];
      const out = xs.slice();
      axes.forEach((ax, i) => {
        const d = out[ax];
        out[ax] = typeof d === 'number' ? d + pads[i]! + pads[i + axes.length]! : null;
      });
      return [{ dtype: x!.dtype, shape: out }];
    }
    case 'Expand': {
      const s = c(1);
      return [{ dtype: x!.dtype, shape: s ? broadcastDims([xs, s]) : undefined }];
    }
    case 'Tile': {
      const reps = c(1);
      return [{ dtype: x!.dtype, shape: reps ? xs.map((d, i) => (typeof d === 'number' ? d * reps[i]! : null)) : undefined }];
    }
    case 'Slice': {
      const starts = c(1);
      const ends = c(2);
      const axes = n.inputs[3] ? c(3) : starts?.map((_, i) => i);
      const steps = n.inputs[4] ? c(4) : starts?.map(() => 1);
      if (!starts || !ends || !axes || !steps) return [{ dtype: x!.dtype, shape: xs.map(() => null) }];
      const out = xs.slice();
      axes.forEach((ax0, i) => {
        const ax = norm(ax0, r);
        const d = xs[ax];
        if (typeof d !== 'number') {
          out[ax] = null;
          return;
        }
        const step = steps[i]!;
        const clamp = (v: number, lo: number, hi: number): number => Math.min(Math.max(v < 0 ? v + d : v, lo), hi);
        const s = step > 0 ? clamp(starts[i]!, 0, d) : clamp(starts[i]!, -1, d - 1);
        const e = step > 0 ? clamp(ends[i]!, 0, d) : clamp(ends[i]!, -1, d - 1);
        out[ax] = Math.max(0, Math.ceil((e - s) / step));
      });
      return [{ dtype: x!.dtype, shape: out }];
    }
    case 'Split': {
      const axis = norm(a.int('axis', 0), r);
      const d = xs[axis];
      const parts = n.inputs[1] ? c(1) : typeof d === 'number' ? splitEven(d, n.outputs.length) : undefined;
      return n.outputs.map((_, i) => ({ dtype: x!.dtype, shape: parts ? xs.map((v, j) => (j === axis ? parts[i]! : v)) : undefined }));
    }
    case 'ConstantOfShape': {
      const s = c(0);
      const v = a.tensor('value');
      return [{ dtype: v?.dtype ?? 'float32', shape: s }];
    }
    case 'LSTM':
    case 'GRU':
    case 'RNN': {
      const hidden = a.int('hidden_size');
      const dirs = a.string('direction', 'forward') === 'bidirectional' ? 2 : 1;
      const batchFirst = a.int('layout', 0) === 1;
      const [seq, batch] = batchFirst ? [xs[1]!, xs[0]!] : [xs[0]!, xs[1]!];
      const y: Dim[] = batchFirst ? [batch, seq, dirs, hidden] : [seq, dirs, batch, hidden];
      const h: Dim[] = batchFirst ? [batch, dirs, hidden] : [dirs, batch, hidden];
      return [{ dtype: x!.dtype, shape: y }, { dtype: x!.dtype, shape: h }, { dtype: x!.dtype, shape: h }];
    }
    case 'QuantizeLinear':
      return [{ dtype: t(2)?.dtype ?? 'uint8', shape: xs }];
    case 'DequantizeLinear':
      return [{ dtype: t(1)?.dtype ?? 'float32', shape: xs }];
    case 'NonZero':
      return [{ dtype: 'int64', shape: [r, null] }];
    default:
      break;
  }
  if (REDUCE.has(op)) {
    const keep = a.int('keepdims', 1);
    const axesIn = n.inputs[1] ? c(1) : a.has('axes') ? a.ints('axes') : [];
    if (!axesIn) return [{ dtype: x!.dtype }];
    if (axesIn.length === 0 && a.int('noop_with_empty_axes', 0)) return [{ ...x }];
    const axes = new Set(axesIn.length ? axesIn.map((v) => norm(v, r)) : xs.map((_, i) => i));
    return [{ dtype: x!.dtype, shape: keep ? xs.map((d, i) => (axes.has(i) ? 1 : d)) : xs.filter((_, i) => !axes.has(i)) }];
  }
  if (POOL.has(op)) {
    const kernel = a.ints('kernel_shape');
    const shape = [xs[0]!, xs[1]!, ...poolSpatial(xs, kernel, a, 0)];
    return op === 'MaxPool' ? [{ dtype: x!.dtype, shape }, { dtype: 'int64', shape }] : [{ dtype: x!.dtype, shape }];
  }
  return [];
}

function splitEven(d: number, parts: number): number[] {
  const size = Math.ceil(d / parts);
  return Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(size, d - i * size)));
}
