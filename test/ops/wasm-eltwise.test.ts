/**
 * The WebAssembly SIMD loops of src/kernels/cpu/wasm-eltwise.ts (and Relu's in wasm-math.ts)
 * against the plain-JS definitions they replace, bit for bit: float32 comparisons → bool bytes,
 * Where selecting 32-bit patterns, Relu, 2×2 stride-2 MaxPool with first-wins indices, and
 * PyTorch's default Adam step in float64. Inputs mix specials (±0, ±∞, quiet and signalling NaN
 * payloads, subnormals, ties) with pseudo-random bit patterns (fixed seeds), at lengths that are
 * not multiples of the SIMD width and cross the modules' block size. The oracles are the JS
 * loops written out here; no goldens.
 */
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/ir/tensor.js';
import { hasWasmEltwise, wasmAdam, wasmCompare, wasmMaxPool2x2, wasmWhere, type WasmCompareOp } from '../../src/kernels/cpu/wasm-eltwise.js';
import { hasWasmMath, wasmUnary } from '../../src/kernels/cpu/wasm-math.js';
import { Adam } from '../../src/runtime/optim.js';
import { runOp } from './elementwise-helpers.js';

/** Deterministic pseudo-random 32-bit words. */
function words(n: number, seed: number): Uint32Array {
  const u = new Uint32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    u[i] = s;
  }
  return u;
}

const SPECIALS = [0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc12345, 0x7f800001, 0x00000001, 0x80000001, 0x3f800000, 0xbf800000];

/** float32 values: specials, small integers (ties and equal pairs), then random bit patterns. */
function floats(n: number, seed: number): Float32Array {
  const u = words(n, seed);
  const f = new Float32Array(u.buffer);
  for (let i = 0; i < n; i++) {
    if (i % 7 === 0) u[i] = SPECIALS[(i / 7) % SPECIALS.length]!;
    else if (i % 3 === 0) f[i] = (u[i]! % 5) - 2;
  }
  return f;
}
const bitsOf = (f: Float32Array): Uint32Array => new Uint32Array(f.buffer, f.byteOffset, f.length);
/** 'equal', or where two typed arrays first differ, byte by byte (so bit patterns count; fast on long arrays). */
function sameBits(a: ArrayBufferView, b: ArrayBufferView): string {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  if (x.length !== y.length) return `${x.length} bytes vs ${y.length}`;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return `byte ${i}: ${x[i]} vs ${y[i]}`;
  return 'equal';
}

const LENGTHS = [1, 15, 17, 1000, 16384 + 37, 40000];
const JS_CMP: Record<WasmCompareOp, (a: number, b: number) => boolean> = {
  Greater: (a, b) => a > b,
  GreaterOrEqual: (a, b) => a >= b,
  Less: (a, b) => a < b,
  LessOrEqual: (a, b) => a <= b,
  Equal: (a, b) => a === b,
};

describe.skipIf(!hasWasmEltwise())('SIMD comparisons equal the JS comparison', () => {
  for (const op of Object.keys(JS_CMP) as WasmCompareOp[]) {
    it(`${op}: tensor vs tensor and tensor vs scalar, every length`, () => {
      for (const n of LENGTHS) {
        const a = floats(n, 1 + n);
        const b = floats(n, 2 + n);
        for (const y of [b, Float32Array.of(0), Float32Array.of(-0), Float32Array.of(NaN), Float32Array.of(1)]) {
          const out = new Uint8Array(n).fill(7);
          expect(wasmCompare(op, a, y, out)).toBe(true);
          const ref = Uint8Array.from(a, (x, i) => +JS_CMP[op](x, y.length === 1 ? y[0]! : y[i]!));
          expect(sameBits(out, ref)).toBe('equal');
        }
      }
    });
  }

  it('the Greater kernel uses it on large tensors and agrees with the definition', async () => {
    const x = new Tensor('float32', [4, 1000], floats(4000, 5));
    const [m] = (await runOp('Greater', {}, [x, Tensor.from('float32', [], [0])])) as Tensor[];
    expect(sameBits(m!.data as Uint8Array, Uint8Array.from(x.data as Float32Array, (v) => +(v > 0)))).toBe('equal');
  });
});

describe.skipIf(!hasWasmEltwise())('SIMD Where copies the selected bits', () => {
  it('every nonzero bool byte selects x; y as a tensor or a scalar (NaN payloads, signalling NaN kept)', () => {
    for (const n of LENGTHS) {
      const cond = Uint8Array.from(words(n, 9 + n), (w, i) => (i % 5 === 0 ? [2, 128, 255][i % 3]! : w & 1));
      const x = floats(n, 3 + n);
      const yFull = floats(n, 4 + n);
      for (const y of [yFull, new Float32Array(new Uint32Array([0x7f800001]).buffer), Float32Array.of(-0)]) {
        const out = new Float32Array(n);
        expect(wasmWhere(cond, x, y, out)).toBe(true);
        const xb = bitsOf(x);
        const yb = bitsOf(y);
        expect(sameBits(bitsOf(out), Uint32Array.from(xb, (v, i) => (cond[i] ? v : yb[y.length === 1 ? 0 : i]!)))).toBe('equal');
      }
    }
  });

  it('the Where kernel uses it for ReLU-backward shapes', async () => {
    const g = new Tensor('float32', [8, 500], floats(4000, 11));
    const c = new Tensor('bool', [8, 500], Uint8Array.from(words(4000, 12), (w) => w & 1));
    const [o] = (await runOp('Where', {}, [c, g, Tensor.from('float32', [], [0])])) as Tensor[];
    const gb = bitsOf(g.data as Float32Array);
    expect(sameBits(bitsOf(o!.data as Float32Array), Uint32Array.from(gb, (v, i) => ((c.data as Uint8Array)[i] ? v : 0)))).toBe('equal');
  });
});

describe.skipIf(!hasWasmMath())('SIMD Relu', () => {
  it('x where x > 0 (bits), +0 elsewhere, NaN kept with its payload', () => {
    for (const n of LENGTHS) {
      const x = floats(n, 21 + n);
      const o = new Float32Array(n);
      expect(wasmUnary('relu', x, o)).toBe(true);
      const xb = bitsOf(x);
      expect(sameBits(bitsOf(o), Uint32Array.from(xb, (b, i) => (x[i]! > 0 || x[i] !== x[i] ? b : 0)))).toBe('equal');
    }
  });
});

/** First-wins 2×2 stride-2 max pooling as pool.ts's general loop defines it (`tap > current`). */
function maxPoolRef(planes: number, H: number, W: number, x: Float32Array): { y: Float32Array; idx: number[] } {
  const OH = H >> 1;
  const OW = W >> 1;
  const y = new Float32Array(planes * OH * OW);
  const idx: number[] = [];
  let o = 0;
  for (let p = 0; p < planes; p++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++, o++) {
        const r = p * H * W + 2 * oh * W + 2 * ow;
        let at = r;
        for (const c of [r + 1, r + W, r + W + 1]) if (x[c]! > x[at]!) at = c;
        y[o] = x[at]!;
        idx.push(at);
      }
    }
  }
  return { y, idx };
}

describe.skipIf(!hasWasmEltwise())('SIMD 2×2 MaxPool', () => {
  // [planes, H, W]: odd sizes (a last row/column outside every window), OW not a multiple of 4,
  // many planes per block, blocks of several planes, and one plane larger than a block.
  const cases: Array<[number, number, number]> = [[1, 2, 2], [3, 5, 7], [64, 28, 28], [50, 14, 14], [7, 9, 30], [2, 130, 131]];
  for (const [planes, H, W] of cases) {
    it(`${planes}×${H}×${W}: values bit for bit and first-wins indices, with and without indices`, () => {
      const OH = H >> 1;
      const OW = W >> 1;
      // ties, ±0, ±∞ and NaN are frequent: values from a tiny set
      const set = [0, -0, 1, 1, -1, Infinity, -Infinity, NaN, 0.5, -0.5];
      const x = Float32Array.from(words(planes * H * W, planes + H + W), (w) => set[(w >>> 8) % set.length]!);
      const ref = maxPoolRef(planes, H, W, x);
      const y = new Float32Array(planes * OH * OW);
      const idx = new BigInt64Array(y.length);
      expect(wasmMaxPool2x2(planes, H, W, OH, OW, x, y, idx)).toBe(true);
      expect(sameBits(bitsOf(y), bitsOf(ref.y))).toBe('equal');
      expect(sameBits(Float64Array.from(idx, Number), Float64Array.from(ref.idx))).toBe('equal');
      const y2 = new Float32Array(y.length);
      expect(wasmMaxPool2x2(planes, H, W, OH, OW, x, y2)).toBe(true);
      expect(sameBits(bitsOf(y2), bitsOf(ref.y))).toBe('equal');
    });
  }

  it('the MaxPool kernel agrees with the general loop on a training-size input', async () => {
    const x = new Tensor('float32', [4, 8, 28, 28], Float32Array.from(words(4 * 8 * 784, 77), (w) => ((w >>> 9) % 9) - 4));
    const ints = (value: number[]) => ({ type: 'ints' as const, value });
    const [y, i] = (await runOp('MaxPool', { kernel_shape: ints([2, 2]), strides: ints([2, 2]) }, [x])) as Tensor[];
    const ref = maxPoolRef(32, 28, 28, x.data as Float32Array);
    expect(sameBits(bitsOf(y!.data as Float32Array), bitsOf(ref.y))).toBe('equal');
    expect(sameBits(Float64Array.from(i!.data as BigInt64Array, Number), Float64Array.from(ref.idx))).toBe('equal');
  });
});

/** optim.ts's default-Adam loop, written out. */
function adamRef(w: Float32Array, g: Float32Array, m: Float64Array, v: Float64Array, t: number, lr: number, b1: number, b2: number, eps: number): void {
  const stepSize = lr / (1 - b1 ** t);
  const sqrtBc2 = Math.sqrt(1 - b2 ** t);
  for (let i = 0; i < w.length; i++) {
    const d = g[i]!;
    const mi = b1 * m[i]! + (1 - b1) * d;
    const vi = b2 * v[i]! + (1 - b2) * d * d;
    m[i] = mi;
    v[i] = vi;
    w[i] = w[i]! - stepSize * (mi / (Math.sqrt(vi) / sqrtBc2 + eps));
  }
}

describe.skipIf(!hasWasmEltwise())('SIMD Adam step', () => {
  it('parameters and both moments bit-identical to the JS loop over 5 steps, every length', () => {
    const [lr, b1, b2, eps] = [1e-3, 0.9, 0.999, 1e-8];
    for (const n of [1, 3, 64, 16384 + 5, 40001]) {
      const w0 = Float32Array.from(words(n, n), (u) => (u / 2 ** 32) * 2 - 1);
      const [w, rw] = [w0.slice(), w0.slice()];
      const [m, rm, v, rv] = [new Float64Array(n), new Float64Array(n), new Float64Array(n), new Float64Array(n)];
      for (let t = 1; t <= 5; t++) {
        const g = Float32Array.from(words(n, 100 * t + n), (u, i) => (i % 11 === 0 ? 0 : ((u / 2 ** 32) * 2 - 1) * 10 ** ((u % 9) - 6)));
        expect(wasmAdam(w, g, m, v, { b1, c1: 1 - b1, b2, c2: 1 - b2, stepSize: lr / (1 - b1 ** t), sqrtBc2: Math.sqrt(1 - b2 ** t), eps })).toBe(true);
        adamRef(rw, g, rm, rv, t, lr, b1, b2, eps);
        expect(sameBits(bitsOf(w), bitsOf(rw))).toBe('equal');
        expect(sameBits(m, rm)).toBe('equal');
        expect(sameBits(v, rv)).toBe('equal');
      }
    }
  });

  it('nn Adam (float32 parameter) takes the SIMD path and matches the definition', () => {
    const n = 5000;
    const w0 = Float32Array.from(words(n, 3), (u) => (u / 2 ** 32) * 2 - 1);
    const p = { data: new Tensor('float32', [n], w0.slice()), grad: null as Tensor | null };
    const opt = new Adam([p], { lr: 0.01 });
    const rw = w0.slice();
    const [rm, rv] = [new Float64Array(n), new Float64Array(n)];
    for (let t = 1; t <= 3; t++) {
      const g = Float32Array.from(words(n, 50 + t), (u) => (u / 2 ** 32) * 2 - 1);
      p.grad = new Tensor('float32', [n], g);
      opt.step();
      adamRef(rw, g, rm, rv, t, 0.01, 0.9, 0.999, 1e-8);
    }
    expect(sameBits(bitsOf(p.data.data as Float32Array), bitsOf(rw))).toBe('equal');
  });

  it('moments in the arena: odd lengths next to each other, small and float64 parameters beside them', () => {
    // arena order is first-use order: the odd-length parameter's padded moments sit right before
    // the next buffers, so an unpadded tail lane would corrupt them
    const sizes: Array<[number, 'float32' | 'float64']> = [[3001, 'float32'], [5000, 'float32'], [10, 'float32'], [100, 'float64'], [65, 'float32']];
    const ps = sizes.map(([n, dt], k) => {
      const init = Array.from(words(n, 7 + k), (u) => (u / 2 ** 32) * 2 - 1);
      return { data: Tensor.from(dt, [n], init), grad: null as Tensor | null, ref: Float32Array.from(init) };
    });
    const opt = new Adam(ps, { lr: 0.01 });
    const moments = ps.map((p) => [new Float64Array(p.ref.length), new Float64Array(p.ref.length)] as const);
    for (let t = 1; t <= 3; t++) {
      ps.forEach((p, k) => {
        const gw = Array.from(words(p.ref.length, 60 + 10 * t + k), (u) => (u / 2 ** 32) * 2 - 1);
        p.grad = Tensor.from(p.data.dtype, [p.ref.length], gw);
        if (p.data.dtype === 'float32') adamRef(p.ref, p.grad.data as Float32Array, moments[k]![0], moments[k]![1], t, 0.01, 0.9, 0.999, 1e-8);
      });
      opt.step();
    }
    ps.forEach((p) => {
      if (p.data.dtype === 'float32') expect(sameBits(bitsOf(p.data.data as Float32Array), bitsOf(p.ref))).toBe('equal');
    });
  });
});
