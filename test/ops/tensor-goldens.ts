/**
 * Shared loader for fixtures/ops/tensor-goldens.json (written by
 * fixtures/ops/make_tensor_goldens.py with numpy 1.24 / torch 1.13; the JSON records the versions)
 * and helpers to run one CPU kernel and compare against a golden at the ONNX backend-test
 * tolerance (rtol 1e-3, atol 1e-7; ints, strings, dtypes and shapes exact).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { DType } from '../../src/ir/dtype.js';
import type { Attr, Graph, Node } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { CpuBackend } from '../../src/kernels/cpu/index.js';
import { isSequence, isTensor, type Value } from '../../src/runtime/value.js';
import { PROJECT_ROOT } from '../helpers/corpus.js';

export interface JTensor {
  dtype: DType;
  shape: number[];
  data: (number | string)[];
}
export interface JSeq {
  seq: JTensor[];
  dtype: DType;
}
export type JValue = JTensor | JSeq | null;
export interface JCase {
  name: string;
  op: string;
  attrs: Record<string, { type: string; value: unknown }>;
  inputs: JValue[];
  outputs: JValue[];
}

export const goldens = JSON.parse(readFileSync(join(PROJECT_ROOT, 'fixtures', 'ops', 'tensor-goldens.json'), 'utf8')) as { cases: JCase[] };

function special(v: number | string): number {
  if (typeof v === 'number') return v;
  return v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : Number(v);
}

export function toTensor(j: JTensor): Tensor {
  if (j.dtype === 'int64' || j.dtype === 'uint64') return Tensor.from(j.dtype, j.shape, j.data.map((v) => BigInt(v)));
  if (j.dtype === 'string') return Tensor.from('string', j.shape, j.data.map(String));
  return Tensor.from(j.dtype, j.shape, j.data.map(special));
}

export function toValue(j: JValue): Value | undefined {
  if (j === null) return undefined;
  if ('seq' in j) return { kind: 'sequence', elemDType: j.dtype, items: j.seq.map(toTensor) };
  return toTensor(j);
}

export function toAttrs(a: JCase['attrs']): Record<string, Attr> {
  const out: Record<string, Attr> = {};
  for (const [k, v] of Object.entries(a)) out[k] = (v.type === 'tensor' ? { type: 'tensor', value: toTensor(v.value as JTensor) } : v) as Attr;
  return out;
}

/** Run one op on the CPU backend (subgraphs run through `runSubgraph` when the test supplies one). */
export async function runOp(op: string, attrs: Record<string, Attr>, inputs: (Value | undefined)[], nOut = 4, runSubgraph?: (g: Graph, feeds: Map<string, Value>) => Promise<Value[]>): Promise<Value[]> {
  const node: Node = { name: `${op}_test`, opType: op, domain: '', inputs: inputs.map((v, i) => (v === undefined ? '' : `in${i}`)), outputs: Array.from({ length: nOut }, (_, i) => `out${i}`), attrs, scope: '' };
  let seed = 1;
  const random = (): number => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647;
  };
  return new CpuBackend().run(node, inputs, { training: false, random, runSubgraph: runSubgraph ?? (async () => []) });
}

export function expectTensorClose(actual: Value | undefined, expected: Tensor, where = ''): void {
  expect(isTensor(actual), `${where} is a tensor`).toBe(true);
  const a = actual as Tensor;
  expect(a.dtype, `${where} dtype`).toBe(expected.dtype);
  expect(a.shape, `${where} shape`).toEqual(expected.shape);
  if (expected.dtype === 'string' || expected.dtype === 'int64' || expected.dtype === 'uint64' || expected.dtype === 'bool') {
    expect(Array.from(a.data as ArrayLike<unknown>), `${where} values`).toEqual(Array.from(expected.data as ArrayLike<unknown>));
    return;
  }
  for (let i = 0; i < expected.size; i++) {
    const x = a.get(i);
    const e = expected.get(i);
    if (Number.isNaN(e)) expect(x, `${where} element ${i}`).toBeNaN();
    else if (!Number.isFinite(e)) expect(x, `${where} element ${i}`).toBe(e);
    else expect(Math.abs(x - e), `${where} element ${i}: ${x} vs ${e}`).toBeLessThanOrEqual(1e-7 + 1e-3 * Math.abs(e));
  }
}

export function expectValueClose(actual: Value | undefined, expected: Value, where = ''): void {
  if (isSequence(expected)) {
    expect(isSequence(actual), `${where} is a sequence`).toBe(true);
    const s = actual as typeof expected;
    expect(s.items.length, `${where} length`).toBe(expected.items.length);
    expect(s.elemDType, `${where} element dtype`).toBe(expected.elemDType);
    expected.items.forEach((t, i) => expectTensorClose(s.items[i], t, `${where}[${i}]`));
    return;
  }
  expectTensorClose(actual, expected as Tensor, where);
}
