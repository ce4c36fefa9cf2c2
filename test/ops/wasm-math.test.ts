/**
 * The WebAssembly SIMD float32 math kernels (src/kernels/cpu/wasm-math.ts) against the plain-JS
 * reference they replace: Math.exp/log/tanh, the sigmoid, softplus and erf of activations.ts and
 * elementwise-core.ts, Softmax/LogSoftmax and trailing-axis sum/max written out in float64 here.
 * Error is measured in float32 ulps (distance between bit patterns, so denormals count exactly)
 * after rounding the float64 reference to float32. The sweep covers a dense linear grid, every
 * binade from the smallest denormal to the largest float of both signs, ±0, ±∞, NaN and
 * pseudo-random bit patterns (fixed seed). No goldens: the oracle is the reference computed here.
 */
import { describe, expect, it } from 'vitest';
import { AttrReader } from '../../src/ir/attrs.js';
import type { Attr, Node } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { softplus } from '../../src/kernels/cpu/activations.js';
import { erf } from '../../src/kernels/cpu/elementwise-core.js';
import { CPU_KERNELS } from '../../src/kernels/cpu/index.js';
import type { KernelContext } from '../../src/kernels/cpu/kernel.js';
import { hasWasmMath, wasmRowReduce, wasmSoftmaxRows, wasmUnary, type WasmUnaryOp } from '../../src/kernels/cpu/wasm-math.js';

const f32bits = new Float32Array(1);
const i32bits = new Int32Array(f32bits.buffer);
/** Bits of a float32 mapped to a monotonic integer line (−0 and +0 both 0). */
function ordinal(x: number): number {
  f32bits[0] = x;
  const i = i32bits[0]!;
  return i < 0 ? -(i & 0x7fffffff) : i;
}
/** ulp distance of two float32 values; NaN vs NaN is 0, NaN vs number is ∞. */
function ulps(a: number, b: number): number {
  if (a !== a || b !== b) return a !== a && b !== b ? 0 : Infinity;
  if (a === b) return 0;
  return Math.abs(ordinal(a) - ordinal(b));
}

/** The sweep of float32 inputs. */
function sweep(): Float32Array {
  const xs: number[] = [0, -0, Infinity, -Infinity, NaN, 1.4e-45, -1.4e-45, 1.1754942e-38, 1.1754944e-38, -1.1754944e-38, 3.4028235e38, -3.4028235e38];
  for (let i = 0; i <= 400000; i++) xs.push(-20 + (40 * i) / 400000);
  for (let e = -149; e <= 127; e++) {
    for (let k = 0; k < 64; k++) {
      const v = 2 ** e * (1 + k / 64);
      xs.push(v, -v);
    }
  }
  let s = 12345;
  const bits = new Int32Array(1);
  const asF = new Float32Array(bits.buffer);
  for (let i = 0; i < 200000; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    bits[0] = s;
    xs.push(asF[0]!);
  }
  // Neighbourhoods of the branch points and range edges.
  for (const c of [0.625, 0.921875, 4, 88.72, 89, -87.3, -103.97, -104, 1, 0.7071]) {
    for (let d = -64; d <= 64; d++) xs.push(c + d * 2 ** -20 * Math.max(1, Math.abs(c)), -(c + d * 2 ** -20));
  }
  return Float32Array.from(xs);
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
/** Gelu (tanh form) written as x·sigmoid(2y): the float64 0.5·x·(1 + tanh(y)) cancels to 0 for x < −5. */
function geluTanh(x: number): number {
  const y = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
  return x / (1 + Math.exp(-2 * y));
}

/**
 * erfc(x) for x ≥ 0 in float64: 1 − (Taylor series of erf) below 3 (erfc ≥ 2e-5 there, so the
 * subtraction loses < 1e-11 relative), Lentz's continued fraction (A&S 7.1.14) from 3 on.
 */
function erfcRef(x: number): number {
  if (x < 3) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 300; n++) {
      term *= (-x * x) / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-18 * Math.abs(sum)) break;
    }
    return 1 - (sum * 2) / Math.sqrt(Math.PI);
  }
  let f = 0;
  for (let n = 200; n >= 1; n--) f = n / 2 / (x + f);
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / (x + f);
}
/** Gelu exact form via erfc, accurate in the negative tail (0.5·x·(1 + erf) in float64 cancels to 0 there). */
function geluErf(x: number): number {
  if (x !== x) return NaN;
  if (x === Infinity) return Infinity;
  if (x === -Infinity) return NaN;
  const z = x / Math.SQRT2;
  return z >= 0 ? 0.5 * x * (2 - erfcRef(z)) : 0.5 * x * erfcRef(-z);
}

/** op → [float64 reference, max ulps over the sweep]. */
const UNARY: Array<[WasmUnaryOp, (x: number) => number, number]> = [
  ['exp', Math.exp, 1],
  ['log', Math.log, 1],
  ['tanh', Math.tanh, 2],
  ['sigmoid', (x) => 1 / (1 + Math.exp(-x)), 2],
  ['erf', erf, 3],
  ['softplus', softplus, 3],
];

describe.skipIf(!hasWasmMath())('WebAssembly SIMD float32 math (skipped: this engine has no WebAssembly SIMD)', () => {
  const xs = sweep();

  it('is available on Node ≥ 20 (otherwise every kernel silently falls back to plain JS)', () => {
    expect(hasWasmMath()).toBe(true);
  });

  for (const [op, ref, bound] of UNARY) {
    it(`${op}: ≤ ${bound} ulp from the float64 reference over ${xs.length} inputs incl. ±0, denormals, ±∞, NaN`, () => {
      const o = new Float32Array(xs.length);
      expect(wasmUnary(op, xs, o)).toBe(true);
      let worst = 0;
      let at = 0;
      for (let i = 0; i < xs.length; i++) {
        const d = ulps(o[i]!, Math.fround(ref(xs[i]!)));
        if (d > worst) {
          worst = d;
          at = xs[i]!;
        }
      }
      expect(worst, `worst at x = ${at}: got ${o[xs.indexOf(at)]}, want ${Math.fround(ref(at))}`).toBeLessThanOrEqual(bound);
    });
  }

  it('special values are exact: exp(±∞), log(0), log(<0), tanh/sigmoid/erf saturation, −0 kept', () => {
    const x = Float32Array.from([Infinity, -Infinity, 0, -0, -1, NaN, 200, -200]);
    const run = (op: WasmUnaryOp): number[] => {
      const o = new Float32Array(x.length);
      wasmUnary(op, x, o);
      o[4] = 0; // x = −1 is covered by the ulp sweeps; here only exact values are compared
      return Array.from(o);
    };
    expect(run('exp')).toEqual([Infinity, 0, 1, 1, 0, NaN, Infinity, 0]);
    expect(run('log')).toEqual([Infinity, NaN, -Infinity, -Infinity, 0, NaN, Math.fround(Math.log(200)), NaN]);
    expect(run('tanh')).toEqual([1, -1, 0, -0, 0, NaN, 1, -1]);
    expect(run('sigmoid')).toEqual([1, 0, 0.5, 0.5, 0, NaN, 1, 0]);
    expect(run('erf')).toEqual([1, -1, 0, -0, 0, NaN, 1, -1]);
    const neg1 = new Float32Array(1);
    wasmUnary('log', Float32Array.of(-1), neg1);
    expect(neg1[0]).toBeNaN();
    expect(Object.is(run('erf')[3], -0) && Object.is(run('tanh')[3], -0)).toBe(true);
  });

  it('Gelu (exact form): ≤ 6 ulp from 0.5·x·erfc(−x/√2) in float64 (the tail is relative-accurate, not flushed)', () => {
    const o = new Float32Array(xs.length);
    expect(wasmUnary('geluErf', xs, o)).toBe(true);
    let worst = 0;
    let at = 0;
    for (let i = 0; i < xs.length; i++) {
      const d = ulps(o[i]!, Math.fround(geluErf(xs[i]!)));
      if (d > worst) {
        worst = d;
        at = xs[i]!;
      }
    }
    expect(worst, `worst at x = ${at}`).toBeLessThanOrEqual(6);
    expect(Array.from(o.subarray(0, 5))).toEqual([0, -0, Infinity, NaN, NaN]); // 0, −0, +∞, −∞ (−∞·0 as in float64), NaN
  });

  it('Gelu (tanh form): within (3 + 8|y|) ulp, y = √(2/π)(x + 0.044715x³): e^{2y} amplifies the float32 roundings of y for x < 0', () => {
    const o = new Float32Array(xs.length);
    expect(wasmUnary('geluTanh', xs, o)).toBe(true);
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i]!;
      const want = Math.fround(geluTanh(x));
      if (want !== want || !Number.isFinite(want)) {
        expect(Object.is(o[i], want), `x = ${x}`).toBe(true);
        continue;
      }
      const y = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
      // + (4 + 2|x|) steps of the smallest denormal: a denormal sigmoid carries fewer significant
      // bits and its rounding is then scaled by |x|
      const ulp = want === 0 ? 2 ** -149 : 2 ** Math.max(-149, Math.floor(Math.log2(Math.abs(want))) - 23);
      const bound = (3 + 8 * Math.abs(y)) * ulp + (4 + 2 * Math.abs(x)) * 2 ** -149;
      if (!(Math.abs(o[i]! - want) <= bound)) expect(Math.abs(o[i]! - want), `x = ${x}: got ${o[i]}, want ${want}`).toBeLessThanOrEqual(bound);
    }
  });

  it('the CPU kernels route float32 to these kernels (Exp, Log, Tanh, Erf, Sigmoid, Softplus, Gelu outputs are bit-identical)', async () => {
    const x = new Tensor('float32', [3, 7], Float32Array.from({ length: 21 }, (_, i) => (i - 10) * 0.37));
    for (const [opType, op] of [['Exp', 'exp'], ['Log', 'log'], ['Tanh', 'tanh'], ['Erf', 'erf'], ['Sigmoid', 'sigmoid'], ['Softplus', 'softplus'], ['Gelu', 'geluErf']] as const) {
      const got = (await CPU_KERNELS[opType]!([x], ctxFor(opType, {})))[0] as Tensor;
      const want = new Float32Array(21);
      wasmUnary(op, x.data as Float32Array, want);
      expect(Array.from(got.data as Float32Array), opType).toEqual(Array.from(want));
      expect(got.shape).toEqual([3, 7]);
    }
  });

  describe('Softmax / LogSoftmax rows', () => {
    /** float64 reference, as activations.ts's loop computes it. */
    function refRows(x: Float32Array, len: number, log: boolean): Float64Array {
      const o = new Float64Array(x.length);
      for (let r = 0; r < x.length / len; r++) {
        let m = -Infinity;
        for (let j = 0; j < len; j++) if (x[r * len + j]! > m) m = x[r * len + j]!;
        let s = 0;
        for (let j = 0; j < len; j++) s += Math.exp(x[r * len + j]! - m);
        for (let j = 0; j < len; j++) o[r * len + j] = log ? x[r * len + j]! - m - Math.log(s) : Math.exp(x[r * len + j]! - m) / s;
      }
      return o;
    }
    const cases: Array<[string, number, number, (i: number) => number]> = [
      ['len 1', 5, 1, (i) => i - 2],
      ['len 3 (padded)', 7, 3, (i) => Math.sin(i) * 5],
      ['len 4', 6, 4, (i) => Math.cos(i * 1.3) * 20],
      ['len 1001 (padded)', 3, 1001, (i) => Math.sin(i * 0.37) * 30],
      ['len 1000 × 40 rows (several blocks)', 40, 1000, (i) => Math.sin(i * 0.11) * 8],
      ['len 40001 (row longer than a block)', 2, 40001, (i) => Math.sin(i * 0.013) * 50],
      ['large magnitudes', 2, 8, (i) => (i % 2 ? 1e30 : -1e30) * (i % 3)],
      ['−∞ entries', 3, 5, (i) => (i % 2 ? -Infinity : i)],
    ];
    for (const log of [false, true]) {
      for (const [label, rows, len, gen] of cases) {
        it(`${log ? 'LogSoftmax' : 'Softmax'} ${label}: ≤ 4 ulp`, () => {
          const x = Float32Array.from({ length: rows * len }, (_, i) => gen(i));
          const o = new Float32Array(x.length);
          expect(wasmSoftmaxRows(x, o, len, log)).toBe(true);
          const want = refRows(x, len, log);
          for (let i = 0; i < x.length; i++) {
            const d = ulps(o[i]!, Math.fround(want[i]!));
            if (d > 4) expect(d, `element ${i}: got ${o[i]}, want ${want[i]}`).toBeLessThanOrEqual(4);
          }
        });
      }
      it(`${log ? 'LogSoftmax' : 'Softmax'}: a NaN or +∞ in a row makes that row NaN, as in the reference`, () => {
        const x = Float32Array.from([1, NaN, 2, 3, 1, Infinity, 2, 3, 1, 2, 3, 4]);
        const o = new Float32Array(12);
        wasmSoftmaxRows(x, o, 4, log);
        const want = refRows(x, 4, log);
        expect(Array.from(o.subarray(0, 8)).every(Number.isNaN)).toBe(true);
        expect(Array.from(want.subarray(0, 8)).every(Number.isNaN)).toBe(true);
        expect(Array.from(o.subarray(8)).every(Number.isFinite)).toBe(true);
      });
    }
    it('the Softmax kernel uses the row kernel for a trailing axis (bit-identical)', async () => {
      const x = new Tensor('float32', [2, 3, 6], Float32Array.from({ length: 36 }, (_, i) => Math.sin(i) * 3));
      const got = (await CPU_KERNELS.Softmax!([x], ctxFor('Softmax', {})))[0] as Tensor;
      const want = new Float32Array(36);
      wasmSoftmaxRows(x.data as Float32Array, want, 6, false);
      expect(Array.from(got.data as Float32Array)).toEqual(Array.from(want));
    });
  });

  describe('trailing-axis sum and max', () => {
    const lens = [1, 3, 4, 7, 3136, 16385, 50001];
    for (const len of lens) {
      it(`rows of ${len}: float64 sum within 1e-13 relative of Σ|x|, max exact (NaN propagates)`, () => {
        const rows = Math.max(2, Math.min(64, Math.floor(200000 / len)));
        const x = Float32Array.from({ length: rows * len }, (_, i) => Math.sin(i * 0.7) * 1000 * (i % 5 === 0 ? 1e-3 : 1));
        x[len - 1] = NaN; // row 0 ends in NaN
        const sum = new Float64Array(rows);
        const max = new Float64Array(rows);
        expect(wasmRowReduce('sum', x, len, sum)).toBe(true);
        expect(wasmRowReduce('max', x, len, max)).toBe(true);
        for (let r = 0; r < rows; r++) {
          let s = 0;
          let a = 0;
          let m = -Infinity;
          for (let j = 0; j < len; j++) {
            const v = x[r * len + j]!;
            s += v;
            a += Math.abs(v);
            if (v > m || v !== v) m = v;
          }
          if (r === 0) {
            expect(sum[0]).toBeNaN();
            expect(max[0]).toBeNaN();
            continue;
          }
          expect(Math.abs(sum[r]! - s)).toBeLessThanOrEqual(1e-13 * a);
          expect(max[r]).toBe(m);
        }
      });
    }
    it('ReduceMean / ReduceMax over trailing axes use it and match the float64 definition', async () => {
      const x = new Tensor('float32', [2, 3, 5, 7], Float32Array.from({ length: 210 }, (_, i) => Math.cos(i * 0.3) * 9));
      const axes = Tensor.from('int64', [2], [2n, 3n]);
      const mean = (await CPU_KERNELS.ReduceMean!([x, axes], ctxFor('ReduceMean', {})))[0] as Tensor;
      const max = (await CPU_KERNELS.ReduceMax!([x, axes], ctxFor('ReduceMax', {})))[0] as Tensor;
      expect(mean.shape).toEqual([2, 3, 1, 1]);
      const d = x.data as Float32Array;
      for (let r = 0; r < 6; r++) {
        let s = 0;
        let m = -Infinity;
        for (let j = 0; j < 35; j++) {
          s += d[r * 35 + j]!;
          m = Math.max(m, d[r * 35 + j]!);
        }
        expect((mean.data as Float32Array)[r]).toBe(Math.fround(s / 35));
        expect((max.data as Float32Array)[r]).toBe(m);
      }
    });
  });
});

function ctxFor(opType: string, attrs: Record<string, Attr>): KernelContext {
  const node: Node = { name: opType, opType, domain: '', inputs: [], outputs: ['y'], attrs, scope: '' };
  return { node, attrs: new AttrReader(attrs, node), training: false, random: Math.random, runSubgraph: async () => [] } as KernelContext;
}
