/**
 * CPU kernels: Einsum and Det.
 *
 * Einsum handles the full numpy grammar the spec allows: explicit (`ij,jk->ik`) and implicit
 * outputs (labels seen once, alphabetical, after the broadcast `...` dims), ellipsis with
 * broadcasting, repeated labels within one operand (diagonals) and summed labels. It runs one
 * odometer over every label with per-operand strides — simple and general; models that need a
 * fast contraction usually express it as MatMul anyway.
 * Det uses LU decomposition with partial pivoting in float64 for each trailing [M, M] matrix.
 * Spec: https://onnx.ai/onnx/operators/onnx__Einsum.html, https://onnx.ai/onnx/operators/onnx__Det.html
 */
import { isBigIntDType, isFloatDType, isIntDType } from '../../ir/dtype.js';
import { RosettaError } from '../../ir/errors.js';
import { checkedSize, sizeOf, stridesOf, type Tensor } from '../../ir/tensor.js';
import { finish, numbersOf, workArray, type BigArray, type NumArray } from './elementwise-core.js';
import type { CpuKernel, KernelContext, KernelTable } from './kernel.js';
import { dtypeError, tensorIn } from './util.js';

/** Upper bound on Einsum's multiply-adds (a hostile equation over long vectors would otherwise hang). */
const MAX_EINSUM_STEPS = 2 ** 34;

/** Labels are letters; ellipsis dims become labels '0'…'9' (right-aligned across operands). */
interface EinsumPlan {
  inputs: string[][];
  output: string[];
  sizes: Map<string, number>;
}

function einsumError(ctx: KernelContext, msg: string): RosettaError {
  return new RosettaError('E_INVALID_ATTR', `Einsum ${msg}`, { where: { node: ctx.node.name } });
}

export function planEinsum(equation: string, shapes: readonly (readonly number[])[], ctx: KernelContext): EinsumPlan {
  const eq = equation.replace(/\s+/g, '');
  const arrow = eq.indexOf('->');
  const lhs = arrow >= 0 ? eq.slice(0, arrow) : eq;
  const rhs = arrow >= 0 ? eq.slice(arrow + 2) : undefined;
  const terms = lhs.split(',');
  if (terms.length !== shapes.length) throw einsumError(ctx, `equation '${equation}' has ${terms.length} operands but ${shapes.length} inputs were given`);
  const valid = /^[A-Za-z]*(\.\.\.)?[A-Za-z]*$/;
  let ellRank = 0;
  const parsed = terms.map((term, i) => {
    if (!valid.test(term)) throw einsumError(ctx, `operand term '${term}' is not letters with at most one '...'`);
    const letters = term.replace('...', '').length;
    const rank = shapes[i]!.length;
    const ell = term.includes('...') ? rank - letters : 0;
    if (ell < 0 || (!term.includes('...') && letters !== rank)) throw einsumError(ctx, `term '${term}' does not match input ${i} of rank ${rank}`);
    ellRank = Math.max(ellRank, ell);
    return { term, ell };
  });
  const ellLabels = (k: number): string[] => Array.from({ length: k }, (_, j) => String(ellRank - k + j));
  const inputs = parsed.map(({ term, ell }) => {
    const at = term.indexOf('...');
    if (at < 0) return [...term];
    return [...term.slice(0, at), ...ellLabels(ell), ...term.slice(at + 3)];
  });
  const sizes = new Map<string, number>();
  inputs.forEach((labels, i) => {
    labels.forEach((l, d) => {
      const n = shapes[i]![d]!;
      const prev = sizes.get(l);
      if (prev === undefined || prev === 1) sizes.set(l, n);
      else if (n !== prev && !(n === 1 && /\d/.test(l))) throw einsumError(ctx, `label '${l}' has sizes ${prev} and ${n}`);
    });
  });
  let output: string[];
  if (rhs !== undefined) {
    if (!valid.test(rhs)) throw einsumError(ctx, `output term '${rhs}' is not letters with at most one '...'`);
    const at = rhs.indexOf('...');
    output = at < 0 ? [...rhs] : [...rhs.slice(0, at), ...ellLabels(ellRank), ...rhs.slice(at + 3)];
    for (const l of output) if (!sizes.has(l)) throw einsumError(ctx, `output label '${l}' does not appear in any input`);
    if (new Set(output).size !== output.length) throw einsumError(ctx, `output '${rhs}' repeats a label`);
  } else {
    const counts = new Map<string, number>();
    for (const labels of inputs) for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
    const once = [...counts].filter(([l, c]) => c === 1 && !/\d/.test(l)).map(([l]) => l).sort();
    output = [...ellLabels(ellRank), ...once];
  }
  return { inputs, output, sizes };
}

const einsumKernel: CpuKernel = (inputs, ctx) => {
  const ts: Tensor[] = inputs.map((_, i) => tensorIn(inputs, i, ctx));
  if (ts.length === 0) throw einsumError(ctx, 'needs at least one input');
  const dtype = ts[0]!.dtype;
  if (!isFloatDType(dtype) && !isIntDType(dtype)) throw dtypeError(ctx, dtype);
  for (const t of ts) if (t.dtype !== dtype) throw new RosettaError('E_DTYPE_MISMATCH', `Einsum inputs mix ${dtype} and ${t.dtype}`, { where: { node: ctx.node.name } });
  const plan = planEinsum(ctx.attrs.string('equation'), ts.map((t) => t.shape), ctx);
  const summed = [...plan.sizes.keys()].filter((l) => !plan.output.includes(l));
  const all = [...plan.output, ...summed];
  const dims = all.map((l) => plan.sizes.get(l)!);
  const outShape = plan.output.map((l) => plan.sizes.get(l)!);
  const outSize = checkedSize(outShape, 'Einsum output');
  // Per operand, the stride each label contributes (summed over repeats; 0 where broadcast).
  const strides = ts.map((t, i) => {
    const st = stridesOf(t.shape);
    const s = new Array<number>(all.length).fill(0);
    plan.inputs[i]!.forEach((l, d) => {
      if (t.shape[d] !== 1 || plan.sizes.get(l) === 1) s[all.indexOf(l)] += st[d]!;
    });
    return s;
  });
  const vals = ts.map((t) => (isBigIntDType(t.dtype) ? Float64Array.from(t.data as BigArray, Number) : numbersOf(t, ctx)));
  const total = sizeOf(dims);
  if (total > MAX_EINSUM_STEPS) {
    throw new RosettaError('E_LIMIT', `Einsum '${ctx.attrs.string('equation')}' needs ${total} multiply-adds, above the limit of ${MAX_EINSUM_STEPS}`, { where: { node: ctx.node.name }, hint: 'Express large contractions as MatMul' });
  }
  const acc = new Float64Array(outSize);
  const L = all.length;
  const nOut = plan.output.length;
  const outStrides = stridesOf(outShape);
  if (L === 0) {
    let p = 1;
    for (const v of vals) p *= v[0]!;
    acc[0] = p;
  } else if (total > 0) {
    // The innermost label runs as a tight loop (a dot product when it is summed); an odometer
    // over the other labels moves the operand and output offsets incrementally.
    const last = L - 1;
    const n = dims[last]!;
    const si = strides.map((st) => st[last]!);
    const so = last < nOut ? outStrides[last]! : 0;
    const idx = new Array<number>(L).fill(0);
    const offs = new Array<number>(ts.length).fill(0);
    let outOff = 0;
    const two = ts.length === 2;
    const A = vals[0]!;
    const B = two ? vals[1]! : A;
    for (let it = 0, outerN = total / n; it < outerN; it++) {
      if (two) {
        const sa = si[0]!;
        const sb = si[1]!;
        let oa = offs[0]!;
        let ob = offs[1]!;
        if (so === 0) {
          let sum = 0;
          for (let j = 0; j < n; j++, oa += sa, ob += sb) sum += A[oa]! * B[ob]!;
          acc[outOff] += sum;
        } else {
          for (let j = 0, oo = outOff; j < n; j++, oa += sa, ob += sb, oo += so) acc[oo] += A[oa]! * B[ob]!;
        }
      } else {
        for (let j = 0; j < n; j++) {
          let p = 1;
          for (let k = 0; k < ts.length; k++) p *= vals[k]![offs[k]! + j * si[k]!]!;
          acc[outOff + j * so] += p;
        }
      }
      for (let d = last - 1; d >= 0; d--) {
        idx[d]++;
        for (let k = 0; k < ts.length; k++) offs[k] += strides[k]![d]!;
        if (d < nOut) outOff += outStrides[d]!;
        if (idx[d]! < dims[d]!) break;
        for (let k = 0; k < ts.length; k++) offs[k] -= strides[k]![d]! * idx[d]!;
        if (d < nOut) outOff -= outStrides[d]! * idx[d]!;
        idx[d] = 0;
      }
    }
  }
  if (isBigIntDType(dtype)) {
    const o = workArray(dtype, outSize) as BigArray;
    for (let i = 0; i < outSize; i++) o[i] = BigInt(Math.trunc(acc[i]!));
    return [finish(dtype, outShape, o)];
  }
  const o = workArray(dtype, outSize) as NumArray;
  for (let i = 0; i < outSize; i++) o[i] = acc[i]!;
  return [finish(dtype, outShape, o)];
};

/** Determinant of an [M, M] block at `off` by LU with partial pivoting. */
function det(a: ArrayLike<number>, off: number, m: number, work: Float64Array): number {
  for (let i = 0; i < m * m; i++) work[i] = a[off + i]!;
  let d = 1;
  for (let c = 0; c < m; c++) {
    let piv = c;
    for (let r = c + 1; r < m; r++) if (Math.abs(work[r * m + c]!) > Math.abs(work[piv * m + c]!)) piv = r;
    const pv = work[piv * m + c]!;
    if (pv === 0) return 0;
    if (piv !== c) {
      for (let k = 0; k < m; k++) {
        const t = work[c * m + k]!;
        work[c * m + k] = work[piv * m + k]!;
        work[piv * m + k] = t;
      }
      d = -d;
    }
    d *= pv;
    for (let r = c + 1; r < m; r++) {
      const f = work[r * m + c]! / pv;
      if (f === 0) continue;
      for (let k = c + 1; k < m; k++) work[r * m + k] -= f * work[c * m + k]!;
    }
  }
  return d;
}

const detKernel: CpuKernel = (inputs, ctx) => {
  const x = tensorIn(inputs, 0, ctx);
  if (!isFloatDType(x.dtype)) throw dtypeError(ctx, x.dtype);
  const r = x.rank;
  if (r < 2 || x.shape[r - 1] !== x.shape[r - 2]) throw new RosettaError('E_SHAPE_MISMATCH', `Det needs [..., M, M], got [${x.shape.join(', ')}]`, { where: { node: ctx.node.name } });
  const m = x.shape[r - 1]!;
  const outShape = x.shape.slice(0, r - 2);
  const batch = sizeOf(outShape);
  const v = numbersOf(x, ctx);
  const o = workArray(x.dtype, batch) as NumArray;
  const work = new Float64Array(m * m);
  for (let b = 0; b < batch; b++) o[b] = det(v, b * m * m, m, work);
  return [finish(x.dtype, outShape, o)];
};

export const linalgKernels: KernelTable = {
  Einsum: einsumKernel,
  Det: detKernel,
};
