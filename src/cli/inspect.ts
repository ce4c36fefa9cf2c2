/**
 * `rosetta inspect FILE [--json]`: what a model or weights file holds.
 * Model: format, producer, opsets, inputs/outputs (name, dtype, shape), parameter count and bytes,
 * op histogram (subgraph nodes included). Weights: every tensor (name, dtype, shape, bytes).
 * Keras files (`.h5`, `.keras`, tfjs `model.json`, Keras JSON) also get a `model.summary()`-style
 * layer table (keras-summary.ts); weights-only `.h5` files their tensors grouped by layer.
 */
import type { Graph, Model, ValueInfo, ValueType } from '../ir/graph.js';
import { opKey, parameterStats } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import type { FormatName, WeightSet } from '../importers/types.js';
import { loadFile } from '../node/model-io.js';
import { formatBytes, table, type CliIo } from './io.js';
import { type KerasSummary, kerasWeightsSummary, renderKerasSummary, tryKerasSummary } from './keras-summary.js';

/** JSON shape of `inspect --json` for a model (a stable contract for other tools). */
export interface ModelInspection {
  kind: 'model';
  file: string;
  format: string;
  producer?: string;
  producerVersion?: string;
  irVersion?: number;
  opsets: Record<string, number>;
  inputs: { name: string; dtype: string; shape: (number | string | null)[] | null }[];
  outputs: { name: string; dtype: string; shape: (number | string | null)[] | null }[];
  parameters: { count: number; bytes: number; tensors: number };
  ops: Record<string, number>;
  nodes: number;
  metadata: Record<string, string>;
  /** Keras files: layers, output shapes and parameter counts as `model.summary()` gives them. */
  keras?: KerasSummary;
  /** Why a Keras file has no `keras` summary (the model still loaded). */
  kerasNote?: string;
}

/** JSON shape of `inspect --json` for a weights file. */
export interface WeightsInspection {
  kind: 'weights';
  file: string;
  format: string;
  tensors: { name: string; dtype: string; shape: number[]; bytes: number }[];
  parameters: { count: number; bytes: number; tensors: number };
  metadata: Record<string, string>;
  notes: string[];
  /** Weights-only Keras `.h5`: tensors grouped by layer with Keras' parameter counts. */
  keras?: KerasSummary;
}

function typeName(t: ValueType | undefined): string {
  if (!t) return '?';
  switch (t.kind) {
    case 'tensor':
    case 'sparse_tensor':
      return t.kind === 'tensor' ? t.dtype : `sparse ${t.dtype}`;
    case 'sequence':
      return `sequence<${typeName(t.elem)}>`;
    case 'optional':
      return `optional<${typeName(t.elem)}>`;
    case 'map':
      return `map<${t.key},${typeName(t.value)}>`;
  }
}

function describeValue(v: ValueInfo): ModelInspection['inputs'][number] {
  const t = v.type;
  return { name: v.name, dtype: typeName(t), shape: t && (t.kind === 'tensor' || t.kind === 'sparse_tensor') && t.shape ? t.shape : null };
}

function histogram(g: Graph, into: Record<string, number> = {}): Record<string, number> {
  for (const n of g.nodes) {
    into[opKey(n)] = (into[opKey(n)] ?? 0) + 1;
    for (const a of Object.values(n.attrs)) {
      if (a.type === 'graph') histogram(a.value, into);
      if (a.type === 'graphs') a.value.forEach((s) => histogram(s, into));
    }
  }
  return into;
}

function tensorBytes(t: Tensor): number {
  return Array.isArray(t.data) ? t.data.reduce((s, x) => s + new TextEncoder().encode(x).length, 0) : t.data.byteLength;
}

/** Describe a model for `inspect`. */
export function inspectModel(model: Model, file: string): ModelInspection {
  const g = model.graph;
  const p = parameterStats(g);
  const inputs = g.inputs.filter((i) => !g.initializers.has(i.name));
  const ops = histogram(g);
  const k = tryKerasSummary(model);
  return {
    ...(k.summary ? { keras: k.summary } : {}),
    ...(k.note ? { kerasNote: k.note } : {}),
    kind: 'model',
    file,
    format: model.sourceFormat ?? '?',
    producer: model.producerName,
    producerVersion: model.producerVersion,
    irVersion: model.irVersion,
    opsets: model.sourceOpsets,
    inputs: inputs.map(describeValue),
    outputs: g.outputs.map(describeValue),
    parameters: { count: p.count, bytes: p.bytes, tensors: g.initializers.size },
    ops: Object.fromEntries(Object.entries(ops).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))),
    nodes: Object.values(ops).reduce((s, x) => s + x, 0),
    metadata: model.metadata,
  };
}

/** Describe a weight set for `inspect`. */
export function inspectWeights(w: WeightSet, file: string, format: FormatName): WeightsInspection {
  const tensors = [...w.tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: [...t.shape], bytes: tensorBytes(t) }));
  return {
    kind: 'weights',
    file,
    format,
    tensors,
    parameters: { count: [...w.tensors.values()].reduce((s, t) => s + t.size, 0), bytes: tensors.reduce((s, t) => s + t.bytes, 0), tensors: tensors.length },
    metadata: w.metadata,
    notes: w.notes,
    ...(format === 'keras-h5' ? { keras: kerasWeightsSummary(w) } : {}),
  };
}

const shapeText = (s: (number | string | null)[] | null): string => (s ? `[${s.map((d) => (d === null ? '?' : d)).join(', ')}]` : '?');

function renderModel(m: ModelInspection): string {
  const opsets = Object.entries(m.opsets)
    .map(([d, v]) => `${d || 'ai.onnx'} ${v}`)
    .join(', ');
  const lines = [
    `file       ${m.file}`,
    `format     ${m.format}`,
    `producer   ${m.producer ?? '?'}${m.producerVersion ? ` ${m.producerVersion}` : ''}`,
    `opsets     ${opsets || '?'}${m.irVersion !== undefined ? ` (IR version ${m.irVersion})` : ''}`,
    `parameters ${m.parameters.count.toLocaleString('en-US')} in ${m.parameters.tensors} tensors (${formatBytes(m.parameters.bytes)})`,
    `nodes      ${m.nodes}`,
    '',
  ].join('\n');
  const io = table(['', 'name', 'dtype', 'shape'], [...m.inputs.map((v) => ['input', v.name, v.dtype, shapeText(v.shape)]), ...m.outputs.map((v) => ['output', v.name, v.dtype, shapeText(v.shape)])]);
  const ops = table(['op', 'count'], Object.entries(m.ops));
  const keras = m.keras ? `\n${renderKerasSummary(m.keras)}` : m.kerasNote ? `\nnote       ${m.kerasNote}\n` : '';
  return `${lines}\n${io}${keras}\n${ops}`;
}

function renderWeights(w: WeightsInspection): string {
  const head = [`file       ${w.file}`, `format     ${w.format} (weights only)`, `parameters ${w.parameters.count.toLocaleString('en-US')} in ${w.parameters.tensors} tensors (${formatBytes(w.parameters.bytes)})`, ...w.notes.map((n) => `note       ${n}`), ''].join('\n');
  const keras = w.keras ? `\n${renderKerasSummary(w.keras)}` : '';
  return `${head}\n${table(['name', 'dtype', 'shape', 'bytes'], w.tensors.map((t) => [t.name, t.dtype, `[${t.shape.join(', ')}]`, t.bytes]))}${keras}`;
}

/** The `inspect` command. */
export async function inspectCommand(file: string, opts: { json?: boolean; from?: FormatName; key?: string }, io: CliIo): Promise<number> {
  const r = await loadFile(file, { format: opts.from, key: opts.key });
  const info = r.kind === 'model' ? inspectModel(r.model, file) : inspectWeights(r.weights, file, r.weights.format);
  if (opts.json) io.stdout(JSON.stringify(info, null, 2) + '\n');
  else io.stdout(info.kind === 'model' ? renderModel(info) : renderWeights(info));
  return 0;
}
