/**
 * Gradient rules for data-movement ops: Reshape/Flatten/Squeeze/Unsqueeze (reshape back),
 * Transpose (inverse permutation), Concat/Split (slice/concat), Slice (pad back), Pad (constant:
 * the opposite Pad, which also undoes cropping; edge/reflect/wrap: the transposed index table per
 * axis, see axis-map.ts), Resize (resize.ts),
 * Expand/Tile (sum back), Gather/GatherElements/GatherND (scatter-add), ScatterElements/ScatterND
 * (gather back), CenterCropPad (opposite Pad), Trilu (same mask), ReverseSequence (itself),
 * Compress (scatter back).
 * Spec for each forward op: https://onnx.ai/onnx/operators/
 */
import { padSource } from '../../kernels/cpu/shape.js';
import type { AttrReader } from '../../ir/attrs.js';
import type { DType } from '../../ir/dtype.js';
import { RosettaError } from '../../ir/errors.js';
import type { Node } from '../../ir/graph.js';
import type { IrBuilder } from './builder.js';
import { axisAdjoint, type AxisMap } from './axis-map.js';
import type { GradRule } from './elementwise.js';
import { resizeRule } from './resize.js';

const norm = (a: number, rank: number): number => (a < 0 ? a + rank : a);

/** Reshape the output gradient back to the (single) data input's shape. */
const reshapeBack: GradRule = (b, n, [g]) => [g ? b.reshape(g, b.shape(n.inputs[0]!)) : undefined, ...n.inputs.slice(1).map(() => undefined)];

/**
 * Pad: every output position along a padded axis reads one input position (or the fill value), by
 * the same per-axis table the forward kernel uses (src/kernels/cpu/shape.ts): `o − before`, mapped
 * into range by edge clamping, wrapping or mirroring without repeating the edge (reflect). Negative
 * pads crop. Constant mode needs no table: the gradient is the Pad with negated pads.
 */
const padRule: GradRule = (b, n, [g], a) => {
  if (!g) return n.inputs.map(() => undefined);
  const mode = a.string('mode', 'constant');
  const xs = b.shape(n.inputs[0]!);
  const rank = xs.length;
  const pads = b.intValues(n.inputs[1]!);
  const axes = n.inputs[3] ? b.intValues(n.inputs[3]).map((x) => norm(x, rank)) : xs.map((_, i) => i);
  const before = new Array<number>(rank).fill(0);
  const after = new Array<number>(rank).fill(0);
  axes.forEach((ax, i) => {
    before[ax] = pads[i]!;
    after[ax] = pads[i + axes.length]!;
  });
  const rest = n.inputs.slice(1).map(() => undefined);
  if (mode === 'constant') {
    const gx = b.op('Pad', [g, b.ints([...before, ...after].map((p) => -p))]);
    // The fill value's gradient: everything the input's copy did not receive.
    const cv = n.inputs[2];
    const all = (v: string, r: number): string => b.reduceSum(v, Array.from({ length: r }, (_, i) => i), false);
    const gc = cv ? b.reshape(b.sub(all(g, rank), all(gx, rank)), b.shape(cv)) : undefined;
    return [gx, undefined, gc, undefined];
  }
  if (mode !== 'edge' && mode !== 'reflect' && mode !== 'wrap') throw new RosettaError('E_UNSUPPORTED_OP', `autograd: Pad mode '${mode}' is not differentiable`, { where: { node: n.name } });
  const shape = b.shape(n.outputs[0]!).slice();
  let acc = g;
  for (let d = 0; d < rank; d++) {
    if (before[d] === 0 && after[d] === 0) continue;
    const m = padAxisMap(xs[d]!, shape[d]!, before[d]!, mode);
    acc = axisAdjoint(b, acc, shape, d, m, b.dtypeOf(n.inputs[0]!));
    shape[d] = xs[d]!;
  }
  return [acc, ...rest];
};

function padAxisMap(dim: number, outLen: number, before: number, mode: string): AxisMap {
  const idx = new Int32Array(outLen);
  for (let o = 0; o < outLen; o++) idx[o] = padSource(o - before, dim, mode);
  return { inLen: dim, outLen, n: 1, idx, w: new Float64Array(outLen).fill(1) };
}

export const shapeRules: Record<string, GradRule> = {
  Reshape: reshapeBack,
  Flatten: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Transpose: (b, n, [g], a) => {
    if (!g) return [undefined];
    const rank = b.shape(n.inputs[0]!).length;
    const perm = a.ints('perm', Array.from({ length: rank }, (_, i) => rank - 1 - i));
    const inv = new Array<number>(rank);
    perm.forEach((p, i) => (inv[p] = i));
    return [b.transpose(g, inv)];
  },
  Concat: (b, n, [g], a) => {
    if (!g) return n.inputs.map(() => undefined);
    const rank = b.shape(n.outputs[0]!).length;
    const axis = norm(a.int('axis'), rank);
    let off = 0;
    return n.inputs.map((x) => {
      const d = b.shape(x)[axis]!;
      const r = b.slice(g, [off], [off + d], [axis]);
      off += d;
      return r;
    });
  },
  Split: (b, n, gys, a) => {
    if (gys.every((g) => !g)) return n.inputs.map(() => undefined);
    const rank = b.shape(n.inputs[0]!).length;
    const axis = norm(a.int('axis', 0), rank);
    const parts = n.outputs.map((o, i) => gys[i] ?? b.zeros(b.shape(o), b.dtypeOf(o)));
    return [b.op('Concat', parts, { axis: { type: 'int', value: axis } }), ...n.inputs.slice(1).map(() => undefined)];
  },
  Slice: (b, n, [g]) => {
    if (!g) return n.inputs.map(() => undefined);
    const xs = b.shape(n.inputs[0]!);
    const rank = xs.length;
    // Ends are implied by the output shape, which the tape knows.
    const starts = b.intValues(n.inputs[1]!);
    const axes = n.inputs[3] ? b.intValues(n.inputs[3]).map((x) => norm(x, rank)) : starts.map((_, i) => i);
    const steps = n.inputs[4] ? b.intValues(n.inputs[4]) : starts.map(() => 1);
    const pads = new Array<number>(2 * rank).fill(0);
    const ys = b.shape(n.outputs[0]!);
    if (steps.some((st) => st !== 1)) return [slicedScatter(b, g, b.dtypeOf(n.inputs[0]!), xs, ys, axes, starts, steps), ...n.inputs.slice(1).map(() => undefined)];
    axes.forEach((ax, i) => {
      const d = xs[ax]!;
      const s = Math.min(Math.max(norm(starts[i]!, d), 0), d);
      pads[ax] = s;
      pads[ax + rank] = d - s - ys[ax]!;
    });
    return [b.op('Pad', [g, b.ints(pads)]), ...n.inputs.slice(1).map(() => undefined)];
  },
  Pad: padRule,
  Resize: resizeRule,
  CenterCropPad: (b, n, [g], a) => {
    if (!g) return [undefined, undefined];
    // Per axis the forward crops from floor((d − t)/2) or pads by floor((t − d)/2) in front: the
    // opposite Pad undoes either.
    const xs = b.shape(n.inputs[0]!);
    const rank = xs.length;
    const target = b.intValues(n.inputs[1]!);
    const axes = a.ints('axes', xs.map((_, i) => i)).map((x) => norm(x, rank));
    const pads = new Array<number>(2 * rank).fill(0);
    axes.forEach((ax, i) => {
      const d = xs[ax]!;
      const t = target[i]!;
      pads[ax] = t < d ? Math.floor((d - t) / 2) : -Math.floor((t - d) / 2);
      pads[ax + rank] = d - t - pads[ax]!;
    });
    return [b.op('Pad', [g, b.ints(pads)]), undefined];
  },
  Trilu: (b, n, [g], a) => [g ? b.op('Trilu', n.inputs[1] ? [g, n.inputs[1]] : [g], { upper: { type: 'int', value: a.int('upper', 1) } }) : undefined, undefined],
  GatherND: (b, n, [g], a) => {
    if (!g) return [undefined, undefined];
    const xs = b.shape(n.inputs[0]!);
    const idx = fullNdIndices(b, n.inputs[1]!, xs, a.int('batch_dims', 0));
    return [b.op('ScatterND', [b.zeros(xs, b.dtypeOf(n.inputs[0]!)), idx, g], { reduction: { type: 'string', value: 'add' } }), undefined];
  },
  // Reversing the first len[b] steps of every row is its own inverse.
  ReverseSequence: (b, n, [g], a) => [g ? b.op('ReverseSequence', [g, n.inputs[1]!], { batch_axis: { type: 'int', value: a.int('batch_axis', 1) }, time_axis: { type: 'int', value: a.int('time_axis', 0) } }) : undefined, undefined],
  Compress: (b, n, [g], a) => {
    if (!g) return [undefined, undefined];
    const xs = b.shape(n.inputs[0]!);
    const keep: number[] = [];
    b.intValues(n.inputs[1]!).forEach((c, i) => c !== 0 && keep.push(i));
    if (a.has('axis')) return [gatherGrad(b, n.inputs[0]!, b.ints(keep), g, norm(a.int('axis'), xs.length))[0], undefined];
    // No axis: the forward selects from the flattened input.
    const total = xs.reduce((p, d) => p * d, 1);
    const flat = b.op('ScatterElements', [b.zeros([total], b.dtypeOf(n.inputs[0]!)), b.ints(keep), g], { axis: { type: 'int', value: 0 } });
    return [b.reshape(flat, xs), undefined];
  },
  ScatterElements: scatterRule,
  Scatter: scatterRule,
  ScatterND: scatterRule,
  Expand: (b, n, [g]) => [g ? b.sumTo(g, b.shape(n.outputs[0]!), b.shape(n.inputs[0]!)) : undefined, undefined],
  Tile: (b, n, [g]) => {
    if (!g) return [undefined, undefined];
    // y viewed as [r0, d0, r1, d1, ...]: sum over every repeat axis.
    const xs = b.shape(n.inputs[0]!);
    const reps = b.intValues(n.inputs[1]!);
    const split: number[] = [];
    xs.forEach((d, i) => split.push(reps[i]!, d));
    const axes = xs.map((_, i) => 2 * i);
    return [b.reshape(b.reduceSum(b.reshape(g, split), axes, false), xs), undefined];
  },
  DepthToSpace: (b, n, [g], a) => {
    if (!g) return [undefined];
    const bs = a.int('blocksize');
    if (a.string('mode', 'DCR') === 'DCR') return [b.op('SpaceToDepth', [g], { blocksize: { type: 'int', value: bs } })];
    // CRD: y[n, c, h·bs+i, w·bs+j] = x[n, c·bs²+i·bs+j, h, w]; undo with reshape/transpose.
    const [N, C, H, W] = b.shape(n.inputs[0]!) as [number, number, number, number];
    const c = C / (bs * bs);
    const t = b.transpose(b.reshape(g, [N, c, H, bs, W, bs]), [0, 1, 3, 5, 2, 4]);
    return [b.reshape(t, [N, C, H, W])];
  },
  SpaceToDepth: (b, _n, [g], a) => {
    if (!g) return [undefined];
    return [b.op('DepthToSpace', [g], { blocksize: { type: 'int', value: a.int('blocksize') }, mode: { type: 'string', value: 'DCR' } })];
  },
  TopK: (b, n, gys, a) => {
    const g = gys[0];
    if (!g) return n.inputs.map(() => undefined);
    const xs = b.shape(n.inputs[0]!);
    const axis = norm(a.int('axis', -1), xs.length);
    return [b.op('ScatterElements', [b.zeros(xs, b.dtypeOf(n.inputs[0]!)), n.outputs[1]!, g], { axis: { type: 'int', value: axis } }), undefined];
  },
  Einsum: einsumRule,
  Gather: (b, n, [g], a) => gatherGrad(b, n.inputs[0]!, n.inputs[1]!, g, norm(a.int('axis', 0), b.shape(n.inputs[0]!).length)),
  GatherElements: (b, n, [g], a) => {
    if (!g) return [undefined, undefined];
    const xs = b.shape(n.inputs[0]!);
    const axis = norm(a.int('axis', 0), xs.length);
    const idx = normalisedIndices(b, n.inputs[1]!, xs[axis]!);
    return [b.op('ScatterElements', [b.zeros(xs, b.dtypeOf(n.inputs[0]!)), idx, g], { axis: { type: 'int', value: axis }, reduction: { type: 'string', value: 'add' } }), undefined];
  },
};

/**
 * ScatterElements / Scatter / ScatterND: with reduction 'none' the written positions of the data
 * lose their gradient (they are overwritten) and the updates receive the gradient at those
 * positions; with 'add' the data's gradient passes whole. mul/max/min are not differentiated.
 */
function scatterRule(b: IrBuilder, n: Node, [g]: readonly (string | undefined)[], a: AttrReader): (string | undefined)[] {
  if (!g) return [undefined, undefined, undefined];
  const reduction = n.opType === 'Scatter' ? 'none' : a.string('reduction', 'none');
  if (reduction !== 'none' && reduction !== 'add') throw new RosettaError('E_UNSUPPORTED_OP', `autograd: ${n.opType} with reduction '${reduction}' is not differentiable`, { where: { node: n.name } });
  const [x, ind, u] = n.inputs as [string, string, string];
  const xs = b.shape(x);
  if (n.opType === 'ScatterND') {
    const idx = fullNdIndices(b, ind, xs, 0);
    const gx = reduction === 'add' ? g : b.op('ScatterND', [g, idx, b.zeros(b.shape(u), b.dtypeOf(u))]);
    return [gx, undefined, b.op('GatherND', [g, idx])];
  }
  const axis = norm(a.int('axis', 0), xs.length);
  const idx = normalisedIndices(b, ind, xs[axis]!);
  const at = { axis: { type: 'int' as const, value: axis } };
  const gx = reduction === 'add' ? g : b.op('ScatterElements', [g, idx, b.zeros(b.shape(u), b.dtypeOf(u))], at);
  return [gx, undefined, b.op('GatherElements', [g, idx], at)];
}

/**
 * GatherND/ScatterND indices from the tape with negatives made positive and `batchDims` leading
 * batch coordinates written out, so one ScatterND/GatherND without batch_dims addresses `data`.
 */
function fullNdIndices(b: IrBuilder, name: string, xs: readonly number[], batchDims: number): string {
  const is = b.shape(name);
  const k = is[is.length - 1]!;
  const vals = b.intValues(name);
  const rows = vals.length / Math.max(k, 1);
  const lead = is.slice(0, batchDims);
  const perBatch = rows / Math.max(1, lead.reduce((p, d) => p * d, 1));
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    // Batch coordinates of row r: its position in the leading batch axes.
    let bi = Math.floor(r / perBatch);
    const coords = new Array<number>(batchDims);
    for (let d = batchDims - 1; d >= 0; d--) {
      coords[d] = bi % lead[d]!;
      bi = Math.floor(bi / lead[d]!);
    }
    out.push(...coords);
    for (let j = 0; j < k; j++) {
      const v = vals[r * k + j]!;
      out.push(v < 0 ? v + xs[batchDims + j]! : v);
    }
  }
  return b.reshape(b.ints(out), [...is.slice(0, -1), batchDims + k]);
}

/**
 * Slice with steps (any sign): the flat input index of every output element is known from the
 * static shapes, so the gradient is one ScatterElements into zeros.
 */
function slicedScatter(b: IrBuilder, g: string, dtype: DType, xs: readonly number[], ys: readonly number[], axes: number[], starts: number[], steps: number[]): string {
  const rank = xs.length;
  const first = new Array<number>(rank).fill(0);
  const step = new Array<number>(rank).fill(1);
  axes.forEach((ax, i) => {
    const d = xs[ax]!;
    let st = starts[i]!;
    if (st < 0) st += d;
    st = steps[i]! > 0 ? Math.min(Math.max(st, 0), d) : Math.min(Math.max(st, 0), d - 1);
    first[ax] = st;
    step[ax] = steps[i]!;
  });
  const strides = new Array<number>(rank);
  let acc = 1;
  for (let d = rank - 1; d >= 0; d--) {
    strides[d] = acc;
    acc *= xs[d]!;
  }
  const total = acc;
  const count = ys.reduce((p, d) => p * d, 1);
  const flat: number[] = new Array<number>(count);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < count; o++) {
    let off = 0;
    for (let d = 0; d < rank; d++) off += (first[d]! + idx[d]! * step[d]!) * strides[d]!;
    flat[o] = off;
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d]! < ys[d]!) break;
      idx[d] = 0;
    }
  }
  const scattered = b.op('ScatterElements', [b.zeros([total], dtype), b.ints(flat), b.reshape(g, [-1])], { axis: { type: 'int', value: 0 } });
  return b.reshape(scattered, xs);
}

/**
 * An Einsum equation with `...` written out as letters (ellipsis axes aligned from the right, as
 * numpy does, given the operands' concrete ranks) and an implicit output made explicit (ellipsis
 * axes, then the letters used exactly once, alphabetically). Returns the input unchanged when it
 * has neither; undefined when ellipsis axes would broadcast (sizes differ), which the rule below
 * cannot sum back.
 */
function explicitEinsum(eq: string, shapes: readonly (readonly number[])[]): string | undefined {
  const [lhs, rhs] = eq.split('->') as [string, string | undefined];
  const terms = lhs.split(',');
  if (!eq.includes('...') && rhs !== undefined) return eq;
  const used = new Set(eq.replace(/[^a-zA-Z]/g, ''));
  const pool = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'].filter((c) => !used.has(c));
  const ranks = terms.map((t, k) => (t.includes('...') ? (shapes[k]?.length ?? 0) - t.replace('...', '').length : 0));
  const E = Math.max(0, ...ranks);
  if (E > pool.length || ranks.some((r) => r < 0)) return undefined;
  const ell = pool.slice(0, E);
  const sizes = new Map<string, number>();
  const written = terms.map((t, k) => {
    const full = t.replace('...', ell.slice(E - ranks[k]!).join(''));
    [...full].forEach((c, i) => {
      const d = shapes[k]?.[i];
      if (d === undefined) return;
      if (sizes.has(c) && sizes.get(c) !== d) sizes.set(c, -1);
      else if (!sizes.has(c)) sizes.set(c, d);
    });
    return full;
  });
  if (ell.some((c) => sizes.get(c) === -1)) return undefined;
  let out: string;
  if (rhs !== undefined) out = rhs.replace('...', ell.join(''));
  else {
    const count = new Map<string, number>();
    for (const c of lhs.replace(/[^a-zA-Z]/g, '')) count.set(c, (count.get(c) ?? 0) + 1);
    out = ell.join('') + [...count].filter(([, v]) => v === 1).map(([c]) => c).sort().join('');
  }
  return `${written.join(',')}->${out}`;
}

/**
 * Einsum: the gradient of operand k is an Einsum of the output gradient with the other operands
 * into k's subscripts; letters only k carries (summed away in the forward) are broadcast back.
 * Ellipsis and implicit outputs are written out first (explicitEinsum); letters repeated within a
 * term (diagonals) and broadcasting ellipsis axes are not supported.
 */
function einsumRule(b: IrBuilder, n: Node, gys: readonly (string | undefined)[], a: AttrReader): (string | undefined)[] {
  const g = gys[0];
  if (!g) return n.inputs.map(() => undefined);
  const given = a.string('equation').replace(/\s+/g, '');
  const eq = explicitEinsum(given, n.inputs.map((x) => b.shape(x))) ?? given;
  const m = /^([a-zA-Z,]+)->([a-zA-Z]*)$/.exec(eq);
  const terms = m ? m[1]!.split(',') : [];
  if (!m || terms.length !== n.inputs.length || [...terms, m[2]!].some((t) => new Set(t).size !== t.length)) {
    throw new RosettaError('E_UNSUPPORTED_OP', `autograd: Einsum '${given}' (letters repeated within a term, or broadcasting ellipsis axes) is not differentiable yet`, { where: { node: n.name } });
  }
  const out = m[2]!;
  return terms.map((term, k) => {
    const others = terms.filter((_, j) => j !== k);
    const available = new Set([...out, ...others.join('')]);
    const kept = [...term].filter((c) => available.has(c)).join('');
    const inputs = [g, ...n.inputs.filter((_, j) => j !== k)];
    const r = b.op('Einsum', inputs, { equation: { type: 'string', value: `${[out, ...others].join(',')}->${kept}` } });
    if (kept === term) return r;
    const xs = b.shape(n.inputs[k]!);
    const keptShape = [...term].map((c, i) => (available.has(c) ? xs[i]! : 1));
    return b.expand(b.reshape(r, keptShape), xs);
  });
}

/** Indices read from the tape with negatives made positive (the values are concrete). */
function normalisedIndices(b: IrBuilder, name: string, dim: number): string {
  const vals = b.intValues(name).map((v) => (v < 0 ? v + dim : v));
  return b.reshape(b.ints(vals), b.shape(name));
}

/**
 * Gather's gradient: scatter-add the output gradient into zeros of the data shape. The gather axis
 * is moved to the front so ScatterND (reduction 'add', indices [..., 1]) does the accumulation.
 */
function gatherGrad(b: IrBuilder, data: string, indices: string, g: string | undefined, axis: number): (string | undefined)[] {
  if (!g) return [undefined, undefined];
  const xs = b.shape(data);
  const is = b.shape(indices);
  const rank = xs.length;
  const idx = b.reshape(normalisedIndices(b, indices, xs[axis]!), [...is, 1]);
  // g has shape xs[:axis] + is + xs[axis+1:]; bring the index dims to the front.
  const gRank = rank - 1 + is.length;
  const idxDims = is.map((_, i) => axis + i);
  const rest = Array.from({ length: gRank }, (_, i) => i).filter((i) => !idxDims.includes(i));
  const gT = b.transpose(g, [...idxDims, ...rest]);
  const permX = [axis, ...Array.from({ length: rank }, (_, i) => i).filter((i) => i !== axis)];
  const xsT = permX.map((p) => xs[p]!);
  const scattered = b.op('ScatterND', [b.zeros(xsT, b.dtypeOf(data)), idx, gT], { reduction: { type: 'string', value: 'add' } });
  const inv = new Array<number>(rank);
  permX.forEach((p, i) => (inv[p] = i));
  return [b.transpose(scattered, inv), undefined];
}
