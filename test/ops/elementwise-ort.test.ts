/**
 * Elementwise kernels against onnxruntime-node as the oracle, for what neither the ONNX 1.12
 * conformance data nor the numpy goldens cover: Cast to the four float8 types with and without
 * `saturate` (opset 19) and to int4/uint4 (opset 21), round-tripped through float32 because the
 * ORT JS API has no such tensors; Gelu (opset 20) and float16 arithmetic/activations/reductions.
 * Each case is a one-node (or Cast→Cast) IR graph exported with src/exporters/onnx and run by both.
 * Skipped, visibly, when onnxruntime-node cannot be loaded.
 */
import { describe, expect, it } from 'vitest';
import { ONNX_DTYPE_CODES, type DType } from '../../src/ir/dtype.js';
import { makeNode, type Attr, type Node } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { ort, runOp, runOrt } from './elementwise-helpers.js';

if (!ort) console.warn('[rosetta tests] onnxruntime-node not loadable: elementwise ORT oracle tests skipped');

const F8: DType[] = ['float8e4m3fn', 'float8e4m3fnuz', 'float8e5m2', 'float8e5m2fnuz'];

/** Values around every float8 edge: ties, subnormals, max, overflow, inf, NaN, signed zero. */
const EDGE = Float32Array.from([
  0, -0, 1, -1, 0.1, 1.0625, 1.1875, 1.125, 3.3, -17.5, 240, 241, 247, 248, 448, 449, 464, 500, 57344, 61440, 65536, 1e6, -1e6,
  2 ** -6, 2 ** -9, 2 ** -10, 3 * 2 ** -11, 2 ** -14, 2 ** -16, 2 ** -17, 1e-9, Infinity, -Infinity, NaN,
]);

describe.skipIf(!ort)('Cast to float8 matches onnxruntime-node', () => {
  for (const kind of F8) {
    for (const saturate of [1, 0]) {
      it(`float32 → ${kind} → float32, saturate=${saturate}`, async () => {
        const x = new Tensor('float32', [EDGE.length], EDGE);
        const attrs: Record<string, Attr> = { to: { type: 'int', value: ONNX_DTYPE_CODES[kind] }, saturate: { type: 'int', value: saturate } };
        const back: Record<string, Attr> = { to: { type: 'int', value: 1 } };
        const [expected] = await runOrt([makeNode('Cast', ['x'], ['q'], attrs), makeNode('Cast', ['q'], ['y'], back)], { x }, [{ name: 'y', dtype: 'float32' }], 19);
        const [q] = (await runOp('Cast', attrs, [x])) as Tensor[];
        expect(q!.dtype).toBe(kind);
        const [y] = (await runOp('Cast', back, [q])) as Tensor[];
        const got = Array.from(y!.data as Float32Array);
        const want = Array.from(expected!.data as Float32Array);
        // 61440 lies halfway between E5M2's max (57344) and 2^16, so round-to-nearest-even
        // overflows. The Cast spec (saturate=0: out of range → ±inf for E5M2) and the ONNX reference
        // (onnx.helper.float32_to_float8e5m2: `ret |= 0x7C`) give inf; onnxruntime 1.30 gives NaN.
        if (kind === 'float8e5m2' && saturate === 0) want[EDGE.indexOf(61440)] = Infinity;
        got.forEach((g, i) => expect(Object.is(g, want[i]) || (Number.isNaN(g) && Number.isNaN(want[i])) || g === want[i], `x=${EDGE[i]}: ${g} vs ${want[i]}`).toBe(true));
      });
    }
  }
});

describe.skipIf(!ort)('Cast to int4/uint4 matches onnxruntime-node', () => {
  const X = Float32Array.from([-20, -9, -8.5, -7.5, -2.5, -0.5, -0.49, 0, 0.5, 1.5, 2.5, 6.5, 7.49, 7.5, 14.5, 15.5, 16, 100, NaN]);
  for (const kind of ['int4', 'uint4'] as DType[]) {
    it(`float32 → ${kind} → float32 rounds half away from zero and wraps`, async () => {
      const x = new Tensor('float32', [X.length], X);
      const attrs: Record<string, Attr> = { to: { type: 'int', value: ONNX_DTYPE_CODES[kind] } };
      const back: Record<string, Attr> = { to: { type: 'int', value: 1 } };
      const [expected] = await runOrt([makeNode('Cast', ['x'], ['q'], attrs), makeNode('Cast', ['q'], ['y'], back)], { x }, [{ name: 'y', dtype: 'float32' }], 21);
      const [q] = (await runOp('Cast', attrs, [x])) as Tensor[];
      expect(q!.dtype).toBe(kind);
      const [y] = (await runOp('Cast', back, [q])) as Tensor[];
      expect(Array.from(y!.data as Float32Array)).toEqual(Array.from(expected!.data as Float32Array));
    });
  }
});

function rand(shape: number[], seed: number, scale = 3): number[] {
  const out: number[] = [];
  let s = seed >>> 0;
  const n = shape.reduce((a, b) => a * b, 1);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.push((s / 2 ** 32 - 0.5) * 2 * scale);
  }
  return out;
}

interface OracleCase {
  op: string;
  attrs?: Record<string, Attr>;
  inputs: Tensor[];
  opset: number;
}

const f16 = (shape: number[], seed: number): Tensor => Tensor.from('float16', shape, rand(shape, seed));
const f32 = (shape: number[], seed: number): Tensor => Tensor.from('float32', shape, rand(shape, seed));

const ORACLE: [string, OracleCase][] = [
  ['Gelu none float32', { op: 'Gelu', inputs: [f32([4, 9], 1)], opset: 20 }],
  ['Gelu tanh float32', { op: 'Gelu', attrs: { approximate: { type: 'string', value: 'tanh' } }, inputs: [f32([4, 9], 2)], opset: 20 }],
  ['Add float16 broadcast', { op: 'Add', inputs: [f16([2, 3, 4], 3), f16([3, 1], 4)], opset: 17 }],
  ['Mul float16', { op: 'Mul', inputs: [f16([5, 7], 5), f16([5, 7], 6)], opset: 17 }],
  ['Div float16 scalar', { op: 'Div', inputs: [f16([5, 7], 7), Tensor.from('float16', [], [1.5])], opset: 17 }],
  ['Sigmoid float16', { op: 'Sigmoid', inputs: [f16([6, 6], 8)], opset: 17 }],
  ['Tanh float16', { op: 'Tanh', inputs: [f16([6, 6], 9)], opset: 17 }],
  ['Softmax float16', { op: 'Softmax', inputs: [f16([3, 10], 10)], opset: 17 }],
  ['LeakyRelu float16', { op: 'LeakyRelu', attrs: { alpha: { type: 'float', value: 0.2 } }, inputs: [f16([40], 11)], opset: 17 }],
  ['ReduceMean float16', { op: 'ReduceMean', inputs: [f16([2, 3, 8], 12), Tensor.from('int64', [1], [2n])], opset: 18 }],
  // The second value sits just above a float16 tie: onnxruntime, like Rosetta, rounds via float32
  // (giving 1), where numpy's direct float64 → float16 would give 1 + 2^-10.
  ['Cast float64 → float16', { op: 'Cast', attrs: { to: { type: 'int', value: 10 } }, inputs: [Tensor.from('float64', [9], [1 + 2 ** -11, 1 + 2 ** -11 + 2 ** -40, 1 + 3 * 2 ** -11, 65519.99, 65520, 6e-8, 2.9802322387695312e-8, -1e-3, 1 / 3])], opset: 17 }],
];

describe.skipIf(!ort)('kernels match onnxruntime-node', () => {
  it.each(ORACLE)('%s', async (_label, c) => {
    const attrs = c.attrs ?? {};
    const names = c.inputs.map((_, i) => `x${i}`);
    const feeds: Record<string, Tensor> = {};
    const initial: Node = makeNode(c.op, names, ['y'], attrs);
    c.inputs.forEach((t, i) => (feeds[names[i]!] = t));
    const [got] = (await runOp(c.op, attrs, c.inputs)) as Tensor[];
    const [want] = await runOrt([initial], feeds, [{ name: 'y', dtype: got!.dtype }], c.opset);
    expect(got!.dtype).toBe(want!.dtype);
    expect(got!.shape).toEqual(want!.shape);
    // float16 results may differ by one unit in the last place (ORT computes some ops in float16).
    // Cast is exact.
    const tol = c.op === 'Cast' ? 0 : got!.dtype === 'float16' ? 2 ** -10 : 1e-6;
    for (let i = 0; i < want!.size; i++) {
      const e = want!.get(i);
      if (!Number.isFinite(e)) {
        expect(Object.is(got!.get(i), e) || (Number.isNaN(e) && Number.isNaN(got!.get(i))), `element ${i}: ${got!.get(i)} vs ${e}`).toBe(true);
        continue;
      }
      expect(Math.abs(got!.get(i) - e), `element ${i}: ${got!.get(i)} vs ${e}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(e)));
    }
  });
});
