/**
 * Differential test against onnxruntime-node over the dtype matrix the conformance suite barely
 * touches: every integer width (wrap-around at full range), float16/float32/float64, broadcasting,
 * for arithmetic, Mod, Pow, BitShift, bitwise and comparison ops, variadic Max/Min/Sum/Mean,
 * Abs/Neg/Sign/Clip, the Cast matrix, reductions, ArgMax/ArgMin, TopK, CumSum and Softmax.
 * Inputs are seeded pseudo-random values; undefined behaviour is avoided (no zero divisors, no
 * MIN / -1, shifts below the width, Cast sources within the target's range).
 * Combinations onnxruntime does not implement are listed in the log and not compared; each family
 * asserts that it compared something. Skipped, visibly, when onnxruntime-node cannot be loaded.
 */
import { describe, expect, it } from 'vitest';
import { isBigIntDType, ONNX_DTYPE_CODES, type DType } from '../../src/ir/dtype.js';
import type { Attr } from '../../src/ir/graph.js';
import { makeNode } from '../../src/ir/graph.js';
import { Tensor, sizeOf } from '../../src/ir/tensor.js';
import { ort, runOp, runOrt } from './elementwise-helpers.js';

if (!ort) console.warn('[rosetta tests] onnxruntime-node not loadable: differential tests skipped');

const SIGNED: DType[] = ['int8', 'int16', 'int32', 'int64'];
const UNSIGNED: DType[] = ['uint8', 'uint16', 'uint32', 'uint64'];
const INTS: DType[] = [...SIGNED, ...UNSIGNED];
const FLOATS: DType[] = ['float16', 'float32', 'float64'];
const NUMERIC: DType[] = [...INTS, ...FLOATS];

const RANGE: Partial<Record<DType, [number, number]>> = {
  int8: [-128, 127], int16: [-32768, 32767], int32: [-(2 ** 31), 2 ** 31 - 1], int64: [-(2 ** 62), 2 ** 62],
  uint8: [0, 255], uint16: [0, 65535], uint32: [0, 2 ** 32 - 1], uint64: [0, 2 ** 63],
};

/** Seeded LCG in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Gen {
  /** Limit magnitudes (ints: to ±lim; floats: scale). */
  lim?: number;
  min?: number;
  nonzero?: boolean;
  integral?: boolean;
}

function make(dtype: DType, shape: number[], seed: number, g: Gen = {}): Tensor {
  const r = rng(seed);
  const n = sizeOf(shape);
  const vals: (number | bigint)[] = [];
  for (let i = 0; i < n; i++) {
    let v: number;
    if (RANGE[dtype]) {
      let [lo, hi] = RANGE[dtype]!;
      if (g.lim !== undefined) [lo, hi] = [Math.max(lo, -g.lim), Math.min(hi, g.lim)];
      if (g.min !== undefined) lo = Math.max(lo, g.min);
      v = Math.floor(lo + r() * (hi - lo + 1));
      if (v > hi) v = hi;
    } else {
      v = (r() - 0.5) * 2 * (g.lim ?? 10);
      if (g.min !== undefined) v = Math.max(g.min, Math.abs(v));
      if (g.integral) v = Math.round(v);
    }
    if (g.nonzero && v === 0) v = 1;
    vals.push(isBigIntDType(dtype) ? BigInt(v) : v);
  }
  return Tensor.from(dtype, shape, vals);
}

/** Exact for ints/bools/strings, relative tolerance per float width. */
function mismatch(got: Tensor, want: Tensor, f64tol = 1e-12): string | undefined {
  if (got.dtype !== want.dtype) return `dtype ${got.dtype} vs ${want.dtype}`;
  if (got.shape.join() !== want.shape.join()) return `shape [${got.shape}] vs [${want.shape}]`;
  const tol = got.dtype === 'float16' ? 2 ** -10 : got.dtype === 'float32' ? 2e-6 : got.dtype === 'float64' ? f64tol : 0;
  for (let i = 0; i < want.size; i++) {
    const a = (got.data as ArrayLike<number | bigint>)[i]!;
    const b = (want.data as ArrayLike<number | bigint>)[i]!;
    if (tol === 0) {
      if (a !== b) return `element ${i}: ${a} vs ${b}`;
      continue;
    }
    const x = got.get(i);
    const y = want.get(i);
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    if (x === y) continue;
    if (!(Math.abs(x - y) <= tol * Math.max(1, Math.abs(y)))) return `element ${i}: ${x} vs ${y}`;
  }
  return undefined;
}

interface DiffCase {
  label: string;
  op: string;
  attrs?: Record<string, Attr>;
  inputs: Tensor[];
  opset?: number;
  outputs?: number;
  /** float64 tolerance when onnxruntime computes with float32 coefficients (default 1e-12). */
  f64tol?: number;
}

/** Run every case in both; returns [compared, skipped labels, mismatches]. */
async function differential(cases: DiffCase[]): Promise<{ compared: number; skipped: string[]; bad: string[] }> {
  let compared = 0;
  const skipped: string[] = [];
  const bad: string[] = [];
  for (const c of cases) {
    const attrs = c.attrs ?? {};
    const got = (await runOp(c.op, attrs, c.inputs)) as Tensor[];
    const nOut = c.outputs ?? 1;
    const names = c.inputs.map((_, i) => `x${i}`);
    const outs = Array.from({ length: nOut }, (_, i) => ({ name: `y${i}`, dtype: got[i]!.dtype }));
    let want: Tensor[];
    try {
      want = await runOrt([makeNode(c.op, names, outs.map((o) => o.name), attrs)], Object.fromEntries(c.inputs.map((t, i) => [names[i]!, t])), outs, c.opset ?? 18);
    } catch {
      skipped.push(c.label);
      continue;
    }
    compared++;
    for (let i = 0; i < nOut; i++) {
      const m = mismatch(got[i]!, want[i]!, c.f64tol);
      if (m) bad.push(`${c.label} output ${i}: ${m}`);
    }
  }
  return { compared, skipped, bad };
}

function check(name: string, result: { compared: number; skipped: string[]; bad: string[] }): void {
  console.log(`${name}: ${result.compared} compared with onnxruntime-node, ${result.skipped.length} not implemented there${result.skipped.length ? ` (${result.skipped.join(', ')})` : ''}`);
  expect(result.compared).toBeGreaterThan(0);
  expect(result.bad, result.bad.join('\n')).toEqual([]);
}

const int = (v: number): Attr => ({ type: 'int', value: v });
const str = (v: string): Attr => ({ type: 'string', value: v });

describe.skipIf(!ort)('elementwise kernels agree with onnxruntime-node across dtypes', () => {
  it('Add Sub Mul Div with broadcasting, full-range integers wrap', { timeout: 120_000 }, async () => {
    const cases: DiffCase[] = [];
    for (const d of NUMERIC) {
      for (const op of ['Add', 'Sub', 'Mul']) cases.push({ label: `${op} ${d}`, op, inputs: [make(d, [3, 4], 1), make(d, [4], 2)] });
      // Division: no zero divisor and no MIN / -1 (both undefined in C).
      cases.push({ label: `Div ${d}`, op: 'Div', inputs: [make(d, [3, 4], 3), make(d, [4], 4, { nonzero: true, min: SIGNED.includes(d) ? 2 : undefined })] });
    }
    check('arithmetic', await differential(cases));
  });

  it('Mod (fmod 0 and 1), Pow, BitShift, bitwise ops', { timeout: 120_000 }, async () => {
    const cases: DiffCase[] = [];
    for (const d of INTS) {
      for (const fmod of [0, 1]) cases.push({ label: `Mod fmod=${fmod} ${d}`, op: 'Mod', attrs: { fmod: int(fmod) }, inputs: [make(d, [2, 5], 5), make(d, [5], 6, { nonzero: true, lim: 1000 })] });
      for (const op of ['BitwiseAnd', 'BitwiseOr', 'BitwiseXor']) cases.push({ label: `${op} ${d}`, op, inputs: [make(d, [2, 5], 7), make(d, [2, 5], 8)] });
      cases.push({ label: `BitwiseNot ${d}`, op: 'BitwiseNot', inputs: [make(d, [2, 5], 9)] });
    }
    for (const d of FLOATS) cases.push({ label: `Mod fmod=1 ${d}`, op: 'Mod', attrs: { fmod: int(1) }, inputs: [make(d, [2, 5], 10), make(d, [5], 11, { min: 0.5 })] });
    for (const d of UNSIGNED) {
      const width = d === 'uint8' ? 8 : d === 'uint16' ? 16 : d === 'uint32' ? 32 : 64;
      for (const dir of ['LEFT', 'RIGHT']) cases.push({ label: `BitShift ${dir} ${d}`, op: 'BitShift', attrs: { direction: str(dir) }, inputs: [make(d, [6], 12), make(d, [6], 13, { lim: width - 1 })] });
    }
    for (const [x, y] of [['float32', 'float32'], ['float64', 'float64'], ['float32', 'int32'], ['float32', 'int64'], ['int32', 'int32'], ['int64', 'int64'], ['int32', 'float32'], ['float64', 'int64']] as [DType, DType][]) {
      const base = x.startsWith('float') ? make(x, [8], 14, { min: 0.1, lim: 4 }) : make(x, [8], 14, { lim: 9 });
      cases.push({ label: `Pow ${x}^${y}`, op: 'Pow', inputs: [base, make(y, [8], 15, { lim: 5, min: 0, integral: true })] });
    }
    check('integer/bit ops', await differential(cases));
  });

  it('comparisons, variadic Max/Min/Sum/Mean, Abs/Neg/Sign/Clip', { timeout: 120_000 }, async () => {
    const cases: DiffCase[] = [];
    for (const d of NUMERIC) {
      for (const op of ['Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual']) cases.push({ label: `${op} ${d}`, op, inputs: [make(d, [3, 4], 16, { lim: 3 }), make(d, [4], 17, { lim: 3 })] });
      for (const op of ['Max', 'Min', 'Sum']) cases.push({ label: `${op} ${d}`, op, inputs: [make(d, [2, 3], 18, { lim: 1000 }), make(d, [3], 19, { lim: 1000 }), make(d, [2, 1], 20, { lim: 1000 })] });
      cases.push({ label: `Abs ${d}`, op: 'Abs', inputs: [make(d, [7], 21, { lim: 1000 })] });
      cases.push({ label: `Clip ${d}`, op: 'Clip', inputs: [make(d, [9], 22, { lim: 100 }), make(d, [], 23, { lim: 10, min: 0 }), make(d, [], 24, { lim: 90, min: 50 })] });
    }
    for (const d of [...SIGNED, ...FLOATS]) {
      cases.push({ label: `Neg ${d}`, op: 'Neg', inputs: [make(d, [7], 25, { lim: 1000 })] });
      cases.push({ label: `Sign ${d}`, op: 'Sign', inputs: [make(d, [7], 26, { lim: 2 })] });
    }
    for (const d of FLOATS) cases.push({ label: `Mean ${d}`, op: 'Mean', inputs: [make(d, [2, 3], 27), make(d, [3], 28)] });
    check('comparisons and friends', await differential(cases));
  });

  it('Cast between every numeric dtype and bool', { timeout: 180_000 }, async () => {
    const cases: DiffCase[] = [];
    const targets: DType[] = [...NUMERIC, 'bool'];
    for (const from of [...NUMERIC, 'bool'] as DType[]) {
      for (const to of targets) {
        if (from === to) continue;
        // Values every target holds: 0…100, with fractions for float sources (truncation), and
        // negatives when both sides are signed.
        const signed = !UNSIGNED.includes(from) && !UNSIGNED.includes(to) && from !== 'bool' && to !== 'bool' && to !== 'uint8';
        const x = from === 'bool' ? Tensor.from('bool', [6], [0, 1, 1, 0, 1, 0]) : make(from, [12], 29, { lim: 100, min: signed ? -100 : 0 });
        cases.push({ label: `${from}→${to}`, op: 'Cast', attrs: { to: int(ONNX_DTYPE_CODES[to]) }, inputs: [x], opset: 17 });
      }
    }
    check('Cast', await differential(cases));
  });

  it('reductions, ArgMax/ArgMin, TopK, CumSum, Softmax', { timeout: 180_000 }, async () => {
    const cases: DiffCase[] = [];
    const axes = Tensor.from('int64', [2], [0n, 2n]);
    for (const d of NUMERIC) {
      for (const op of ['ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceMean', 'ReduceProd']) {
        cases.push({ label: `${op} ${d}`, op, inputs: [make(d, [2, 3, 4], 30, { lim: op === 'ReduceProd' ? 3 : 50, min: op === 'ReduceProd' && !d.startsWith('float') ? 1 : undefined }), axes] });
      }
      for (const op of ['ArgMax', 'ArgMin']) for (const last of [0, 1]) cases.push({ label: `${op} last=${last} ${d}`, op, attrs: { axis: int(1), select_last_index: int(last) }, inputs: [make(d, [3, 5, 2], 31, { lim: 3 })], opset: 13 });
      cases.push({ label: `TopK ${d}`, op: 'TopK', attrs: { axis: int(1) }, inputs: [make(d, [3, 7], 32, { lim: 4 }), Tensor.from('int64', [1], [3n])], outputs: 2 });
      cases.push({ label: `CumSum ${d}`, op: 'CumSum', attrs: { reverse: int(1), exclusive: int(1) }, inputs: [make(d, [3, 4], 33, { lim: 20, min: 0 }), Tensor.from('int32', [], [1])] });
    }
    for (const d of FLOATS) {
      for (const op of ['ReduceL1', 'ReduceL2', 'ReduceLogSumExp', 'ReduceSumSquare']) cases.push({ label: `${op} ${d}`, op, inputs: [make(d, [2, 3, 4], 34, { lim: 3 }), axes] });
      for (const op of ['Softmax', 'LogSoftmax', 'Hardmax']) cases.push({ label: `${op} ${d}`, op, attrs: { axis: int(1) }, inputs: [make(d, [2, 5, 3], 35)] });
    }
    check('reductions', await differential(cases));
  });

  it('unary math and activations in float16/float32/float64', { timeout: 180_000 }, async () => {
    const cases: DiffCase[] = [];
    const unit = ['Acos', 'Asin', 'Atanh'];
    const positive = ['Log', 'Sqrt', 'Acosh', 'Reciprocal'];
    const plain = ['Atan', 'Asinh', 'Ceil', 'Floor', 'Round', 'Cos', 'Cosh', 'Erf', 'Exp', 'Sin', 'Sinh', 'Tan', 'Tanh', 'Relu', 'Sigmoid', 'Softplus', 'Softsign', 'HardSwish', 'Mish'];
    // Attribute values are float32 in ONNX: give them as float32 so both sides use the same number.
    const f = (v: number): Attr => ({ type: 'float', value: Math.fround(v) });
    const withAttrs: [string, Record<string, Attr>][] = [
      ['LeakyRelu', { alpha: f(0.3) }],
      ['Elu', { alpha: f(0.7) }],
      ['Selu', {}],
      ['Celu', { alpha: f(1.5) }],
      ['HardSigmoid', { alpha: f(0.25), beta: f(0.4) }],
      ['ThresholdedRelu', { alpha: f(0.5) }],
      ['Shrink', { lambd: f(0.8), bias: f(0.2) }],
    ];
    for (const d of FLOATS) {
      for (const op of unit) cases.push({ label: `${op} ${d}`, op, inputs: [make(d, [17], 40, { lim: 0.99 })] });
      for (const op of positive) cases.push({ label: `${op} ${d}`, op, inputs: [make(d, [17], 41, { lim: 8, min: 1.01 })] });
      // onnxruntime evaluates HardSwish (1/6), Selu (alpha, gamma) and Shrink with float32
      // arithmetic even for float64 tensors; Rosetta computes in float64 with the spec constants,
      // so those agree to ~1e-7 rather than 1e-12.
      const coarse = (op: string): number | undefined => (op === 'HardSwish' || op === 'Selu' || op === 'Shrink' ? 2e-7 : undefined);
      for (const op of plain) cases.push({ label: `${op} ${d}`, op, inputs: [make(d, [17], 42, { lim: op === 'Tan' ? 1.2 : 4 })], f64tol: coarse(op) });
      for (const [op, attrs] of withAttrs) cases.push({ label: `${op} ${d}`, op, attrs, inputs: [make(d, [17], 43, { lim: 3 })], f64tol: coarse(op) });
      cases.push({ label: `PRelu ${d}`, op: 'PRelu', inputs: [make(d, [2, 3, 4], 44), make(d, [3, 1], 45)] });
      cases.push({ label: `IsNaN ${d}`, op: 'IsNaN', inputs: [Tensor.from(d, [4], [NaN, 1, Infinity, -0])] });
      cases.push({ label: `IsInf ${d}`, op: 'IsInf', attrs: { detect_negative: int(0) }, inputs: [Tensor.from(d, [4], [NaN, -Infinity, Infinity, 3])] });
    }
    check('unary', await differential(cases));
  });

  it('Einsum, Det and the losses', { timeout: 120_000 }, async () => {
    const cases: DiffCase[] = [];
    for (const d of ['float32', 'float64'] as DType[]) {
      for (const [eq, shapes] of [['bij,bjk->bik', [[2, 3, 4], [2, 4, 5]]], ['ii', [[4, 4]]], ['...i,...i->...', [[2, 3, 4], [3, 4]]], ['ij->', [[3, 5]]]] as [string, number[][]][]) {
        cases.push({ label: `Einsum ${eq} ${d}`, op: 'Einsum', attrs: { equation: str(eq) }, inputs: shapes.map((sh, i) => make(d, sh, 50 + i, { lim: 2 })), opset: 12 });
      }
      cases.push({ label: `Det ${d}`, op: 'Det', inputs: [make(d, [3, 5, 5], 55, { lim: 2 })] });
      const scores = make(d, [3, 4, 2], 56, { lim: 3 });
      const target = Tensor.from('int64', [3, 2], [0n, 3n, 2n, -1n, 1n, 1n]);
      const weight = make(d, [4], 57, { lim: 2, min: 0.1 });
      for (const reduction of ['none', 'sum', 'mean']) {
        const attrs = { reduction: str(reduction), ignore_index: int(-1) };
        cases.push({ label: `SoftmaxCrossEntropyLoss ${reduction} ${d}`, op: 'SoftmaxCrossEntropyLoss', attrs, inputs: [scores, target, weight], outputs: 2, opset: 13 });
        cases.push({ label: `NegativeLogLikelihoodLoss ${reduction} ${d}`, op: 'NegativeLogLikelihoodLoss', attrs, inputs: [scores, target, weight], opset: 13 });
      }
    }
    check('einsum/det/losses', await differential(cases));
  });
});
