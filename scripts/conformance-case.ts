/**
 * One ONNX backend-test case: load `model.onnx` and its `test_data_set_*` folders, run the model in
 * Rosetta, compare with the expected outputs at the backend-test tolerances.
 * Shared by the conformance runner (scripts/conformance.ts, in a worker), its vitest wrapper and
 * the ONNX round-trip test. Node-only (reads files).
 *
 * Comparison rules (onnx/backend/test/runner: `assert_similar_outputs`): rtol 1e-3, atol 1e-7,
 * |actual - expected| <= atol + rtol * |expected|; NaN matches NaN; infinities must match exactly;
 * dtype and shape exact; strings and bools equal.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRosettaError } from '../src/ir/errors.js';
import type { Model, ValueType } from '../src/ir/graph.js';
import { Tensor, elementToNumber } from '../src/ir/tensor.js';
import { decodeOnnxValue, importOnnx } from '../src/importers/onnx/index.js';
import { Session } from '../src/runtime/session.js';
import { isOptional, isSequence, isTensor, type Value } from '../src/runtime/value.js';

export const RTOL = 1e-3;
export const ATOL = 1e-7;

/** Where Debian's libonnx-testdata puts the suites (override with ROSETTA_ONNX_TESTDATA). */
export const TESTDATA_DIR = process.env.ROSETTA_ONNX_TESTDATA ?? '/usr/share/libonnx-testdata/data';
export const SUITES = ['node', 'pytorch-converted', 'pytorch-operator', 'simple'] as const;
export const HAS_TESTDATA = existsSync(join(TESTDATA_DIR, 'node'));

export interface DataSet {
  dir: string;
  /** Inputs by graph input name (files `input_N.pb` map to the N-th non-initializer input). */
  inputs: Record<string, Value>;
  /** Expected outputs in graph output order. */
  outputs: Value[];
}

export interface LoadedCase {
  name: string;
  dir: string;
  model: Model;
  dataSets: DataSet[];
}

export function listCases(suite: string): string[] {
  const dir = join(TESTDATA_DIR, suite);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((c) => existsSync(join(dir, c, 'model.onnx')))
    .sort();
}

function numbered(dir: string, prefix: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.pb'))
    .sort((a, b) => Number(a.slice(prefix.length, -3)) - Number(b.slice(prefix.length, -3)));
}

/** Import a case's model and decode all its data sets. */
export async function loadCase(dir: string): Promise<LoadedCase> {
  const modelPath = join(dir, 'model.onnx');
  const model = await importOnnx(new Uint8Array(readFileSync(modelPath)), { name: modelPath });
  const g = model.graph;
  const feedInputs = g.inputs.filter((i) => !g.initializers.has(i.name));
  const dataSets: DataSet[] = [];
  for (const ds of readdirSync(dir).filter((d) => d.startsWith('test_data_set_')).sort()) {
    const dsDir = join(dir, ds);
    const inputs: Record<string, Value> = {};
    numbered(dsDir, 'input_').forEach((f, i) => {
      const info = feedInputs[i];
      if (!info) return;
      inputs[info.name] = decodeCaseValue(join(dsDir, f), info.type);
    });
    const outputs = numbered(dsDir, 'output_').map((f, i) => decodeCaseValue(join(dsDir, f), g.outputs[i]?.type));
    dataSets.push({ dir: dsDir, inputs, outputs });
  }
  return { name: dir.split('/').pop() ?? dir, dir, model, dataSets };
}

/**
 * Decode one `.pb` value file. ONNX ≤ 1.12 wrote bfloat16 test data as UINT16 tensors (numpy has
 * no bfloat16); where the model declares bfloat16 the bits are reinterpreted as such.
 */
export function decodeCaseValue(path: string, type: ValueType | undefined): Value {
  const v = decodeOnnxValue(new Uint8Array(readFileSync(path)), type, path);
  if (type?.kind === 'tensor' && type.dtype === 'bfloat16' && isTensor(v) && v.dtype === 'uint16') return new Tensor('bfloat16', v.shape, v.data);
  return v;
}

/** Why `actual` does not match `expected`, or undefined when it does. */
export function compareValues(actual: Value | undefined, expected: Value, where: string): string | undefined {
  if (actual === undefined) return `${where}: not produced`;
  if (isTensor(expected)) {
    if (!isTensor(actual)) return `${where}: expected a tensor, got a ${(actual as { kind: string }).kind}`;
    return compareTensors(actual, expected, where);
  }
  if (isSequence(expected)) {
    if (!isSequence(actual)) return `${where}: expected a sequence`;
    if (actual.items.length !== expected.items.length) return `${where}: sequence length ${actual.items.length}, expected ${expected.items.length}`;
    for (let i = 0; i < expected.items.length; i++) {
      const r = compareTensors(actual.items[i]!, expected.items[i]!, `${where}[${i}]`);
      if (r) return r;
    }
    return undefined;
  }
  if (isOptional(expected)) {
    if (!isOptional(actual)) {
      // A present optional may be compared against its plain content.
      return expected.value === null ? `${where}: expected an empty optional` : compareValues(actual, expected.value, where);
    }
    if ((actual.value === null) !== (expected.value === null)) return `${where}: optional ${actual.value === null ? 'empty' : 'present'}, expected ${expected.value === null ? 'empty' : 'present'}`;
    return expected.value === null ? undefined : compareValues(actual.value!, expected.value, where);
  }
  return `${where}: cannot compare values of this kind`;
}

export function compareTensors(a: Tensor, e: Tensor, where: string): string | undefined {
  if (a.dtype !== e.dtype) return `${where}: dtype ${a.dtype}, expected ${e.dtype}`;
  if (a.shape.length !== e.shape.length || a.shape.some((d, i) => d !== e.shape[i])) return `${where}: shape [${a.shape.join(', ')}], expected [${e.shape.join(', ')}]`;
  if (e.dtype === 'string') {
    const x = a.data as string[];
    const y = e.data as string[];
    for (let i = 0; i < y.length; i++) if (x[i] !== y[i]) return `${where}[${i}]: '${x[i]}', expected '${y[i]}'`;
    return undefined;
  }
  if (e.dtype === 'int64' || e.dtype === 'uint64') {
    const x = a.data as BigInt64Array;
    const y = e.data as BigInt64Array;
    for (let i = 0; i < y.length; i++) if (x[i] !== y[i]) return `${where}[${i}]: ${x[i]}, expected ${y[i]}`;
    return undefined;
  }
  const complex = e.dtype === 'complex64' || e.dtype === 'complex128';
  const n = complex ? e.data.length : e.size;
  let worst = -1;
  let worstErr = 0;
  let bad = 0;
  for (let i = 0; i < n; i++) {
    const x = complex ? (a.data as Float32Array)[i]! : elementToNumber(a, i);
    const y = complex ? (e.data as Float32Array)[i]! : elementToNumber(e, i);
    if (Number.isNaN(y)) {
      if (Number.isNaN(x)) continue;
    } else if (!Number.isFinite(y)) {
      if (x === y) continue;
    } else if (Math.abs(x - y) <= ATOL + RTOL * Math.abs(y)) continue;
    bad++;
    const err = Number.isNaN(x) || Number.isNaN(y) ? Infinity : Math.abs(x - y);
    if (worst < 0 || err > worstErr) {
      worst = i;
      worstErr = err;
    }
  }
  if (bad === 0) return undefined;
  const x = complex ? (a.data as Float32Array)[worst]! : elementToNumber(a, worst);
  const y = complex ? (e.data as Float32Array)[worst]! : elementToNumber(e, worst);
  return `${where}: ${bad}/${n} elements differ; worst [${worst}] ${x}, expected ${y}`;
}

export type CaseStatus = 'pass' | 'fail' | 'error';

export interface CaseResult {
  status: CaseStatus;
  /** Failure reason (first mismatch or the error's code and message). */
  reason?: string;
  ms: number;
}

/** Run a case in Rosetta's CPU session and compare every data set. */
export async function runRosettaCase(dir: string): Promise<CaseResult> {
  const t0 = performance.now();
  try {
    const c = await loadCase(dir);
    const session = await Session.create(c.model);
    for (const ds of c.dataSets) {
      const { outputs } = await session.run(ds.inputs);
      for (let i = 0; i < ds.outputs.length; i++) {
        const name = c.model.graph.outputs[i]?.name ?? `#${i}`;
        const r = compareValues(outputs[name], ds.outputs[i]!, `output '${name}'`);
        if (r) return { status: 'fail', reason: r, ms: performance.now() - t0 };
      }
    }
    return { status: 'pass', ms: performance.now() - t0 };
  } catch (e) {
    const reason = isRosettaError(e) ? e.message : `UNCAUGHT ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
    return { status: 'error', reason: reason.split('\n')[0]!.slice(0, 400), ms: performance.now() - t0 };
  }
}
