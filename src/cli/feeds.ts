/**
 * Model inputs and outputs on the command line: feeds from `--input NAME=FILE` and `--inputs
 * X.npz`, seeded random feeds fitting the declared inputs (for `--verify` and `parity` without
 * data), one-line tensor summaries and file-safe output names.
 */
import { isFloatDType, type DType } from '../ir/dtype.js';
import { RosettaError } from '../ir/errors.js';
import type { Dim, Graph, ValueInfo } from '../ir/graph.js';
import { Tensor, checkedSize, elementToNumber, setElement } from '../ir/tensor.js';
import { seededRandom } from '../runtime/session.js';
import { isOptional, isSequence, isTensor, type Value } from '../runtime/value.js';
import { readTensorFile, readTensorsFile } from '../node/model-io.js';
import { formatNumber } from './io.js';

/** Graph inputs that must be fed (initializers with the same name have defaults). */
export function requiredInputs(graph: Graph): ValueInfo[] {
  return graph.inputs.filter((i) => !graph.initializers.has(i.name));
}

/** Read `--inputs X.npz` and `--input NAME=FILE` pairs (later ones win) into feeds. */
export async function readFeeds(npz: string | undefined, pairs: readonly string[]): Promise<Record<string, Tensor>> {
  const feeds: Record<string, Tensor> = {};
  if (npz) for (const [k, t] of await readTensorsFile(npz)) feeds[k] = t;
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0 || eq === p.length - 1) throw new RosettaError('E_USAGE', `--input expects NAME=FILE, got '${p}'`, { hint: 'for example --input input=x.npy' });
    feeds[p.slice(0, eq)] = await readTensorFile(p.slice(eq + 1));
  }
  return feeds;
}

/** Check feeds name the model's inputs (unknown names are an error that lists the right ones). */
export function checkFeeds(graph: Graph, feeds: Record<string, Tensor>, where: string): void {
  const names = new Set(graph.inputs.map((i) => i.name));
  const unknown = Object.keys(feeds).filter((k) => !names.has(k));
  if (unknown.length) {
    throw new RosettaError('E_USAGE', `${where} has no input named ${unknown.map((u) => `'${u}'`).join(', ')}`, { hint: `its inputs are: ${requiredInputs(graph).map((i) => i.name).join(', ')}` });
  }
}

/**
 * Seeded random feeds fitting the declared input types: symbolic or unknown dims become 1,
 * floats are uniform in [-1, 1), integers in [0, 4) (safe as indices), bools 0/1.
 */
export function randomFeeds(graph: Graph, seed = 0): Record<string, Tensor> {
  const rnd = seededRandom(seed);
  const feeds: Record<string, Tensor> = {};
  for (const input of requiredInputs(graph)) {
    const t = input.type;
    if (!t || t.kind !== 'tensor' || !t.shape) {
      throw new RosettaError('E_USAGE', `input '${input.name}' has no declared tensor shape, so random inputs cannot be made`, { hint: 'give the inputs with --inputs X.npz' });
    }
    if (t.dtype === 'string') throw new RosettaError('E_USAGE', `input '${input.name}' is a string tensor`, { hint: 'give the inputs with --inputs X.npz' });
    const shape = t.shape.map((d: Dim) => (typeof d === 'number' && d >= 0 ? d : 1));
    checkedSize(shape, `input '${input.name}'`);
    feeds[input.name] = randomTensor(t.dtype, shape, rnd);
  }
  return feeds;
}

function randomTensor(dtype: DType, shape: number[], rnd: () => number): Tensor {
  const out = new Tensor(dtype, shape);
  const n = out.size;
  if (dtype === 'float32') {
    const d = out.data as Float32Array;
    for (let i = 0; i < n; i++) d[i] = rnd() * 2 - 1;
  } else {
    const f = isFloatDType(dtype) || dtype.startsWith('complex');
    const m = dtype.startsWith('complex') ? 2 : 1;
    for (let i = 0; i < n * m; i++) {
      const v = dtype === 'bool' ? (rnd() < 0.5 ? 0 : 1) : f ? rnd() * 2 - 1 : Math.floor(rnd() * 4);
      if (m === 2) (out.data as Float32Array)[i] = v;
      else setElement(out, i, v);
    }
  }
  return out;
}

/** `name  float32[2,10]  min … max … mean …` for one output value. */
export function summarise(name: string, v: Value): string {
  if (isSequence(v)) return `${name}  sequence of ${v.items.length} tensor(s)`;
  if (isOptional(v)) return `${name}  optional ${v.value === null ? '(empty)' : ''}`.trimEnd();
  if (!isTensor(v)) return `${name}  ?`;
  const head = `${name}  ${v.dtype}[${v.shape.join(',')}]`;
  if (v.dtype === 'string' || v.dtype.startsWith('complex') || v.size === 0) return head;
  const s = stats(v);
  return `${head}  min ${formatNumber(s.min)}  max ${formatNumber(s.max)}  mean ${formatNumber(s.mean)}`;
}

/** Min, max and mean of a numeric tensor (NaN-propagating for min/max, like numpy). */
export function stats(t: Tensor): { min: number; max: number; mean: number } {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let nan = false;
  for (let i = 0; i < t.size; i++) {
    const x = elementToNumber(t, i);
    if (Number.isNaN(x)) nan = true;
    if (x < min) min = x;
    if (x > max) max = x;
    sum += x;
  }
  return nan ? { min: NaN, max: NaN, mean: NaN } : { min, max, mean: sum / t.size };
}

/** A file-system-safe stem for an output name (`logits:0` → `logits_0`), unique within `taken`. */
export function safeFileStem(name: string, taken: Set<string>): string {
  let s = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  if (s === '') s = 'output';
  let out = s;
  for (let k = 1; taken.has(out.toLowerCase()); k++) out = `${s}_${k}`;
  taken.add(out.toLowerCase());
  return out;
}
