/**
 * onnxruntime-node as the oracle for nn op cases the ONNX conformance data does not cover (issue 2):
 * each case is one ONNX node, built as a ModelProto, run in onnxruntime-node and in Rosetta
 * (ONNX importer → Session on the CPU backend), and compared. Goldens are therefore computed by
 * onnxruntime at test time (version: the devDependency `onnxruntime-node`); cases skip visibly
 * when onnxruntime-node cannot load.
 */
import { expect } from 'vitest';
import type { DType } from '../../src/ir/dtype.js';
import { dtypeToOnnx } from '../../src/ir/dtype.js';
import { f16ToF32 } from '../../src/ir/float-bits.js';
import { Tensor } from '../../src/ir/tensor.js';
import { encodeOnnxMessage } from '../../src/formats/onnx-proto.js';
import { importOnnx } from '../../src/importers/onnx/index.js';
import { Session } from '../../src/runtime/session.js';

type Ort = typeof import('onnxruntime-node');
let ortPromise: Promise<Ort | undefined> | undefined;

/** onnxruntime-node, or undefined (with a visible warning) when it cannot be loaded. */
export function loadOrt(): Promise<Ort | undefined> {
  ortPromise ??= import('onnxruntime-node').then(
    (m) => m,
    (e: unknown) => {
      console.warn(`[rosetta tests] onnxruntime-node unavailable, oracle cases skipped: ${(e as Error).message}`);
      return undefined;
    },
  );
  return ortPromise;
}

/** An ONNX attribute value as written in a case. */
export type AttrValue = number | string | number[] | string[] | { float: number } | { floats: number[] };

export interface OracleCase {
  name: string;
  op: string;
  attrs?: Record<string, AttrValue>;
  /** Inputs in order; `undefined` = optional input omitted. */
  inputs: (Tensor | undefined)[];
  /** Output dtypes (number of outputs = length). */
  outputs: DType[];
  opset?: number;
  /** Absolute/relative tolerance for float outputs (default 1e-5 / 1e-4). */
  atol?: number;
  rtol?: number;
}

const FLOAT_ATTRS = new Set(['alpha', 'beta', 'bias', 'epsilon', 'momentum', 'clip', 'spatial_scale', 'cubic_coeff_a', 'extrapolation_value', 'ratio', 'p_float']);

function attrProto(name: string, v: AttrValue): Record<string, unknown> {
  if (typeof v === 'object' && !Array.isArray(v) && 'float' in v) return { name, type: 1, f: v.float };
  if (typeof v === 'object' && !Array.isArray(v) && 'floats' in v) return { name, type: 6, floats: v.floats };
  if (typeof v === 'number') return FLOAT_ATTRS.has(name) ? { name, type: 1, f: v } : { name, type: 2, i: v };
  if (typeof v === 'string') return { name, type: 3, s: new TextEncoder().encode(v) };
  if (v.length > 0 && typeof v[0] === 'string') return { name, type: 8, strings: (v as string[]).map((s) => new TextEncoder().encode(s)) };
  return name.startsWith('activation_') || name === 'scales' ? { name, type: 6, floats: v } : { name, type: 7, ints: v };
}

function modelBytes(c: OracleCase): Uint8Array {
  const inNames = c.inputs.map((t, i) => (t ? `in${i}` : ''));
  const outNames = c.outputs.map((_, i) => `out${i}`);
  const vi = (name: string, dtype: DType) => ({ name, type: { tensor_type: { elem_type: dtypeToOnnx(dtype) } } });
  return encodeOnnxMessage('ModelProto', {
    ir_version: 8,
    producer_name: 'rosetta-test',
    opset_import: [{ domain: '', version: c.opset ?? 17 }],
    graph: {
      name: c.name.replace(/\W+/g, '_'),
      node: [{ op_type: c.op, input: inNames, output: outNames, name: 'n0', attribute: Object.entries(c.attrs ?? {}).map(([k, v]) => attrProto(k, v)) }],
      input: c.inputs.flatMap((t, i) => (t ? [vi(`in${i}`, t.dtype)] : [])),
      output: c.outputs.map((d, i) => vi(outNames[i]!, d)),
    },
  });
}

function ortTensor(ort: Ort, t: Tensor): InstanceType<Ort['Tensor']> {
  const type = t.dtype === 'float32' ? 'float32' : t.dtype === 'float64' ? 'float64' : t.dtype === 'bool' ? 'bool' : t.dtype === 'float16' ? 'float16' : t.dtype;
  return new ort.Tensor(type as 'float32', t.data as Float32Array, t.shape as number[]);
}

/** Run `c` in onnxruntime-node and Rosetta and assert equal outputs (dtype, shape, values). */
export async function checkAgainstOrt(ort: Ort, c: OracleCase): Promise<void> {
  const bytes = modelBytes(c);
  const sess = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1 });
  const feeds: Record<string, InstanceType<Ort['Tensor']>> = {};
  c.inputs.forEach((t, i) => {
    if (t) feeds[`in${i}`] = ortTensor(ort, t);
  });
  const expected = await sess.run(feeds);
  const model = await importOnnx(bytes);
  const ours = await Session.create(model);
  const ourFeeds: Record<string, Tensor> = {};
  c.inputs.forEach((t, i) => {
    if (t) ourFeeds[`in${i}`] = t;
  });
  const got = (await ours.run(ourFeeds)).outputs;
  const atol = c.atol ?? 1e-5;
  const rtol = c.rtol ?? 1e-4;
  c.outputs.forEach((dtype, i) => {
    const e = expected[`out${i}`]!;
    const g = got[`out${i}`] as Tensor;
    expect(g, `output ${i}`).toBeInstanceOf(Tensor);
    expect(g.dtype, `output ${i} dtype`).toBe(dtype);
    expect(g.shape, `output ${i} shape`).toEqual(e.dims.map(Number));
    // float16 comes back from onnxruntime-node as raw bits
    const ev = Array.from(e.data as ArrayLike<number | bigint>, (v) => (dtype === 'float16' ? f16ToF32(Number(v)) : Number(v)));
    const gv = g.toNumbers();
    let worst = 0;
    let at = -1;
    for (let k = 0; k < ev.length; k++) {
      const a = gv[k]!;
      const b = ev[k]!;
      if (Number.isNaN(a) && Number.isNaN(b)) continue;
      const err = Math.abs(a - b) - (atol + rtol * Math.abs(b));
      if (!(err <= 0) && (at < 0 || err > worst)) {
        worst = err;
        at = k;
      }
    }
    expect(at < 0 ? 'ok' : `output ${i}[${at}]: got ${gv[at]}, onnxruntime ${ev[at]}`).toBe('ok');
  });
}

/** Deterministic pseudo-random float32 tensor in [lo, hi). */
export function randTensor(shape: number[], seed: number, lo = -1, hi = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    d[i] = lo + (s / 2 ** 32) * (hi - lo);
  }
  return new Tensor('float32', shape, d);
}

/** Deterministic integer tensor of `dtype` with values in [lo, hi]. */
export function randInts(dtype: DType, shape: number[], seed: number, lo: number, hi: number): Tensor {
  const f = randTensor(shape, seed, 0, 1);
  return Tensor.from(dtype, shape, Array.from(f.data as Float32Array, (v) => lo + Math.floor(v * (hi - lo + 1))));
}
