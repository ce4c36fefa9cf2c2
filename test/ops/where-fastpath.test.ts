/**
 * Where's float32 fast path selects 32-bit patterns with an integer mask (branch-free, see
 * src/kernels/cpu/elementwise.ts). It must copy bits exactly — -0, infinities and NaN payloads —
 * and treat every nonzero bool byte as true, the same as the general strided path, which a
 * broadcast condition ([1, n] against [2, n]) forces.
 */
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/ir/tensor.js';
import { runOp } from './elementwise-helpers.js';

const n = 64;
function bitsTensor(shape: number[], seed: number): Tensor {
  const u = new Uint32Array(shape.reduce((p, d) => p * d, 1));
  let s = seed;
  // specials first (−0, ±inf, a quiet NaN with a payload, a subnormal), then pseudo-random bits
  // with their exponent cleared of all-ones: a signalling NaN is tested apart below, since the
  // general path copies through JS numbers, which quiets it.
  const specials = [0x80000000, 0x7f800000, 0xff800000, 0xffc12345, 0x00000001];
  for (let i = 0; i < u.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const r = (s * 2654435761) >>> 0;
    u[i] = i < specials.length ? specials[i]! : (r & 0x7f800000) === 0x7f800000 ? r & 0xbfffffff : r;
  }
  return new Tensor('float32', shape, new Float32Array(u.buffer));
}
const bits = (t: Tensor) => Array.from(new Uint32Array((t.data as Float32Array).slice().buffer));
/** Two copies of a [1, n] float32 tensor's bits as [2, n], copied as integers (no float round trip). */
function twice(t: Tensor): Tensor {
  const u = new Uint32Array(2 * n);
  const b = new Uint32Array((t.data as Float32Array).slice().buffer);
  u.set(b, 0);
  u.set(b, n);
  return new Tensor('float32', [2, n], new Float32Array(u.buffer));
}

describe('Where float32 fast path is bit-exact', () => {
  // bool bytes 0, 1 and non-canonical nonzero values (2, 128, 255) that an untrusted file could hold
  const cbytes = Uint8Array.from({ length: n }, (_, i) => [0, 1, 0, 2, 128, 255, 0][i % 7]!);
  const x = bitsTensor([1, n], 3);
  for (const [name, y] of [
    ['scalar -0', new Tensor('float32', [], new Float32Array([-0]))],
    ['scalar NaN payload', new Tensor('float32', [], new Float32Array(new Uint32Array([0x7fc0beef]).buffer))],
    ['full tensor', bitsTensor([1, n], 9)],
  ] as [string, Tensor][]) {
    it(`Where(mask, x, ${name}) equals the general path bit for bit`, async () => {
      const [fast] = (await runOp('Where', {}, [new Tensor('bool', [1, n], cbytes), x, y])) as Tensor[];
      // the general path: the condition broadcasts from [1, n] to [2, n], so no fast path
      const [ref] = (await runOp('Where', {}, [new Tensor('bool', [1, n], cbytes), twice(x), y.size === 1 ? y : twice(y)])) as Tensor[];
      expect(fast!.shape).toEqual([1, n]);
      expect(bits(fast!)).toEqual(bits(ref!).slice(0, n));
      expect(bits(fast!)).toEqual(bits(ref!).slice(n));
      // and the selection itself: nonzero byte → x's bits, zero → y's
      const xb = bits(x);
      const yb = bits(y);
      expect(bits(fast!)).toEqual(xb.map((v, i) => (cbytes[i] ? v : yb[y.size === 1 ? 0 : i]!)));
    });
  }

  it('copies a signalling NaN unchanged (the fast path moves bits, not numbers)', async () => {
    const xs = new Tensor('float32', [4], new Float32Array(new Uint32Array([0x7f800001, 0xff800abc, 0x7f800001, 5]).buffer));
    const ys = new Tensor('float32', [], new Float32Array(new Uint32Array([0x7fa00000]).buffer));
    const [out] = (await runOp('Where', {}, [new Tensor('bool', [4], Uint8Array.of(1, 3, 0, 1)), xs, ys])) as Tensor[];
    expect(bits(out!)).toEqual([0x7f800001, 0xff800abc, 0x7fa00000, 5]);
  });
});
