/**
 * Output comparison for `convert --verify` and `parity`: per output, the largest absolute and
 * relative error and whether every element is within `atol + rtol·|reference|` (numpy `allclose`
 * semantics, the reference being the first model). NaN matches NaN, dtypes and shapes must match.
 */
import { RosettaError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';
import { elementToNumber, type Tensor } from '../ir/tensor.js';
import { Session } from '../runtime/session.js';
import { isTensor, type Value } from '../runtime/value.js';
import { formatNumber, table } from './io.js';

/** Tolerances: `|a - b| <= atol + rtol * |b|`. */
export interface Tolerance {
  rtol: number;
  atol: number;
}

/** Defaults for comparing two formats: float32 reordering noise passes, real bugs do not. */
export const DEFAULT_TOLERANCE: Tolerance = { rtol: 1e-4, atol: 1e-5 };

/** The comparison of one output. */
export interface OutputParity {
  /** Output name in the reference (first) model. */
  name: string;
  /** Name in the second model when it differs (outputs matched by position). */
  otherName?: string;
  dtype: string;
  shape: number[];
  maxAbsError: number;
  maxRelError: number;
  /** Elements beyond tolerance. */
  mismatches: number;
  ok: boolean;
  /** Why the comparison could not be made element-wise (dtype/shape/kind differ). */
  problem?: string;
}

/** Compare two tensors element-wise. */
export function compareTensors(name: string, ref: Tensor, got: Tensor, tol: Tolerance): OutputParity {
  const base = { name, dtype: ref.dtype, shape: [...ref.shape] };
  if (ref.dtype !== got.dtype) return { ...base, maxAbsError: NaN, maxRelError: NaN, mismatches: ref.size, ok: false, problem: `dtype ${ref.dtype} vs ${got.dtype}` };
  if (ref.shape.length !== got.shape.length || ref.shape.some((d, i) => d !== got.shape[i])) {
    return { ...base, maxAbsError: NaN, maxRelError: NaN, mismatches: ref.size, ok: false, problem: `shape [${ref.shape.join(',')}] vs [${got.shape.join(',')}]` };
  }
  if (ref.dtype === 'string') {
    const a = ref.data as string[];
    const b = got.data as string[];
    const mismatches = a.filter((s, i) => s !== b[i]).length;
    return { ...base, maxAbsError: mismatches ? Infinity : 0, maxRelError: mismatches ? Infinity : 0, mismatches, ok: mismatches === 0 };
  }
  const complex = ref.dtype.startsWith('complex');
  const n = complex ? ref.size * 2 : ref.size;
  let maxAbs = 0;
  let maxRel = 0;
  let mismatches = 0;
  for (let i = 0; i < n; i++) {
    const b = complex ? (ref.data as Float32Array)[i]! : elementToNumber(ref, i);
    const a = complex ? (got.data as Float32Array)[i]! : elementToNumber(got, i);
    if (Number.isNaN(a) || Number.isNaN(b)) {
      if (!(Number.isNaN(a) && Number.isNaN(b))) {
        mismatches++;
        maxAbs = Infinity;
        maxRel = Infinity;
      }
      continue;
    }
    if (a === b) continue; // also covers equal infinities
    const d = Math.abs(a - b);
    if (d > maxAbs) maxAbs = d;
    const r = d / Math.max(Math.abs(b), Number.MIN_VALUE);
    if (r > maxRel) maxRel = r;
    if (!(d <= tol.atol + tol.rtol * Math.abs(b))) mismatches++;
  }
  return { ...base, maxAbsError: maxAbs, maxRelError: maxRel, mismatches, ok: mismatches === 0 };
}

/**
 * Compare two sets of outputs. Outputs are matched by name; when the names differ but the counts
 * agree (a Keras model against its PyTorch source, say) they are matched by position.
 */
export function compareOutputs(ref: Record<string, Value>, got: Record<string, Value>, tol: Tolerance): OutputParity[] {
  const refNames = Object.keys(ref);
  const gotNames = Object.keys(got);
  const byName = refNames.every((n) => n in got);
  if (!byName && refNames.length !== gotNames.length) {
    throw new RosettaError('E_PARITY', `the models have different outputs: ${refNames.join(', ')} vs ${gotNames.join(', ')}`);
  }
  return refNames.map((name, i) => {
    const otherName = byName ? name : gotNames[i]!;
    const a = ref[name]!;
    const b = got[otherName]!;
    const r = isTensor(a) && isTensor(b) ? compareTensors(name, a, b, tol) : compareValues(name, a, b, tol);
    return otherName !== name ? { ...r, otherName } : r;
  });
}

function compareValues(name: string, a: Value, b: Value, tol: Tolerance): OutputParity {
  const bad = (problem: string): OutputParity => ({ name, dtype: '?', shape: [], maxAbsError: NaN, maxRelError: NaN, mismatches: 1, ok: false, problem });
  if (a.constructor !== b.constructor || ('kind' in a && 'kind' in b && a.kind !== b.kind)) return bad('value kinds differ');
  const items = (v: Value): Tensor[] => (isTensor(v) ? [v] : v.kind === 'sequence' ? v.items : v.value === null ? [] : isTensor(v.value) ? [v.value] : v.value.items);
  const x = items(a);
  const y = items(b);
  if (x.length !== y.length) return bad(`${x.length} vs ${y.length} items`);
  const parts = x.map((t, i) => compareTensors(name, t, y[i]!, tol));
  return {
    name,
    dtype: x[0]?.dtype ?? '?',
    shape: [x.length],
    maxAbsError: Math.max(0, ...parts.map((p) => p.maxAbsError)),
    maxRelError: Math.max(0, ...parts.map((p) => p.maxRelError)),
    mismatches: parts.reduce((s, p) => s + p.mismatches, 0),
    ok: parts.every((p) => p.ok),
    problem: parts.find((p) => p.problem)?.problem,
  };
}

/** Run a graph once on the CPU (or `backend`) with the given feeds. */
export async function runOnce(graph: Graph, feeds: Record<string, Tensor>, backend = 'cpu'): Promise<Record<string, Value>> {
  const s = await Session.create(graph, { backend });
  return (await s.run(feeds)).outputs;
}

/** Parity table: output, dtype, shape, max abs, max rel, verdict. */
export function parityTable(rows: OutputParity[], tol: Tolerance): string {
  return table(
    ['output', 'dtype', 'shape', 'max abs err', 'max rel err', `ok (rtol ${tol.rtol}, atol ${tol.atol})`],
    rows.map((r) => [r.otherName ? `${r.name} ↔ ${r.otherName}` : r.name, r.dtype, `[${r.shape.join(',')}]`, formatNumber(r.maxAbsError), formatNumber(r.maxRelError), r.ok ? 'yes' : `NO${r.problem ? ` (${r.problem})` : ` (${r.mismatches} elements)`}`]),
  );
}
