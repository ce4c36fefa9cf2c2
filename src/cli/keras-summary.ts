/**
 * Keras-style layer summaries for `rosetta inspect`: layers, output shapes and parameter counts
 * the way Keras' `model.summary()` prints them (keras/utils/layer_utils.py `print_summary`:
 * "Layer (type) | Output Shape | Param #", plus "Connected to" for functional models, then
 * Total / Trainable / Non-trainable params).
 *
 * The data comes from the Keras config the importer recorded (`model.metadata['keras.config']`):
 * the config is lowered again exactly as the importer did (src/exporters/keras/weights.ts), which
 * yields every layer's Keras output shapes and its weights in Keras layout, so the counts are
 * Keras' own (an LSTM has one bias of 4·units, not ONNX's two). Weights-only `.h5` files have no
 * config: their tensors are grouped by layer, without classes or shapes.
 */
import type { Model } from '../ir/graph.js';
import { isRosettaError } from '../ir/errors.js';
import type { WeightSet } from '../importers/types.js';
import { normalizeModel, type NormModel } from '../importers/keras/normalize.js';
import { recoverKerasWeights } from '../exporters/keras/weights.js';

type Shape = (number | null)[];

/** One row of a Keras summary. */
export interface KerasLayerRow {
  name: string;
  /** Layer class (null for weights-only files). */
  className: string | null;
  /** Output shape (several for multi-output layers; 'multiple' for shared layers whose calls differ; null unknown). */
  outputShape: Shape | Shape[] | 'multiple' | null;
  params: number;
  trainableParams: number;
  /** Functional models: inbound tensors as `layer[node][tensor]` (first call). */
  connectedTo?: string[];
}

/** `model.summary()` as data. */
export interface KerasSummary {
  model: string;
  /** 'Sequential', 'Functional'/'Model', or 'weights' for a weights-only file. */
  className: string;
  layers: KerasLayerRow[];
  totalParams: number;
  trainableParams: number;
  nonTrainableParams: number;
}

/** Weights Keras creates with trainable=False whatever the layer says. */
const NON_TRAINABLE_ROLES = new Set(['moving_mean', 'moving_variance', 'mean', 'variance', 'count']);

const roleOf = (name: string): string => name.replace(/:\d+$/, '').split('/').pop() ?? name;

/** The Keras summary of a model imported from a Keras file (undefined when it did not come from Keras). */
export function kerasSummaryOf(model: Model): KerasSummary | undefined {
  const text = model.metadata['keras.config'];
  if (!text) return undefined;
  const norm = normalizeModel(JSON.parse(text), 'keras.config');
  const shapes = new Map<string, Shape[][]>();
  const weights = recoverKerasWeights(model, norm, model.metadata['keras.version'], undefined, (layer, _cls, out, depth) => {
    if (depth === 0) shapes.set(layer, [...(shapes.get(layer) ?? []), out]);
  });
  const sequential = norm.className === 'Sequential';
  const rows: KerasLayerRow[] = [];
  for (const l of norm.layers) {
    if (sequential && l.className === 'InputLayer') continue;
    let params = 0;
    let trainable = 0;
    for (const lw of weights) {
      if (lw.path[0] !== l.name) continue;
      const inner = lw.path.length > 1 ? innerLayer(l.inner, lw.path.slice(1)) : undefined;
      const frozen = l.config.trainable === false || inner?.config.trainable === false;
      lw.specs.forEach((s, i) => {
        const n = lw.tensors[i]!.size;
        params += n;
        if (!frozen && !NON_TRAINABLE_ROLES.has(s.role)) trainable += n;
      });
    }
    const calls = shapes.get(l.name);
    let outputShape: KerasLayerRow['outputShape'] = null;
    if (l.className === 'InputLayer') {
      const b = (l.config.batch_input_shape ?? l.config.batch_shape) as Shape | undefined;
      outputShape = Array.isArray(b) ? b.map((d) => (typeof d === 'number' ? d : null)) : null;
    } else if (calls?.length) {
      const texts = new Set(calls.map((c) => JSON.stringify(c)));
      outputShape = texts.size > 1 ? 'multiple' : calls[0]!.length === 1 ? calls[0]![0]! : calls[0]!;
    }
    const row: KerasLayerRow = { name: l.name, className: l.inner ? l.inner.className : l.className, outputShape, params, trainableParams: trainable };
    if (!sequential) row.connectedTo = (l.calls[0]?.inputs ?? []).map((r) => `${r.layer}[${r.node}][${r.tensor}]`);
    rows.push(row);
  }
  return totals(norm.name, norm.className, rows);
}

function innerLayer(m: NormModel | undefined, path: string[]): NormModel['layers'][number] | undefined {
  let found: NormModel['layers'][number] | undefined;
  for (const p of path) {
    found = m?.layers.find((l) => l.name === p);
    m = found?.inner;
  }
  return found;
}

function totals(model: string, className: string, layers: KerasLayerRow[]): KerasSummary {
  const totalParams = layers.reduce((a, r) => a + r.params, 0);
  const trainableParams = layers.reduce((a, r) => a + r.trainableParams, 0);
  return { model, className, layers, totalParams, trainableParams, nonTrainableParams: totalParams - trainableParams };
}

/**
 * Layers of a weights-only Keras file (keys `layer/…/weight[:0]`), in file order; BatchNorm
 * moving statistics count as non-trainable, as in Keras.
 */
export function kerasWeightsSummary(ws: WeightSet): KerasSummary {
  const rows = new Map<string, KerasLayerRow>();
  for (const [key, t] of ws.tensors) {
    const slash = key.indexOf('/');
    const layer = slash > 0 ? key.slice(0, slash) : key;
    let row = rows.get(layer);
    if (!row) rows.set(layer, (row = { name: layer, className: null, outputShape: null, params: 0, trainableParams: 0 }));
    row.params += t.size;
    if (!NON_TRAINABLE_ROLES.has(roleOf(key))) row.trainableParams += t.size;
  }
  return totals('weights', 'weights', [...rows.values()]);
}

/** `kerasSummaryOf` that turns a failure into a note instead of failing `inspect`. */
export function tryKerasSummary(model: Model): { summary?: KerasSummary; note?: string } {
  try {
    return { summary: kerasSummaryOf(model) };
  } catch (e) {
    if (isRosettaError(e) || e instanceof SyntaxError) return { note: `no Keras layer summary: ${e.message}` };
    throw e;
  }
}

const dimText = (s: Shape): string => `(${s.map((d) => (d === null ? 'None' : String(d))).join(', ')}${s.length === 1 ? ',' : ''})`;

/** Output-shape cell as Keras prints it. */
export function shapeCell(r: KerasLayerRow): string {
  const s = r.outputShape;
  if (s === null) return '?';
  if (s === 'multiple') return 'multiple';
  if (s.length && Array.isArray(s[0])) return `[${(s as Shape[]).map(dimText).join(', ')}]`;
  return r.className === 'InputLayer' ? `[${dimText(s as Shape)}]` : dimText(s as Shape);
}

/**
 * The summary as text, in Keras 2's layout (65 columns at 45/85/100 % for Sequential models,
 * 98 at 33/55/67/100 % with "Connected to" otherwise). Cells longer than their column push the
 * next one right instead of wrapping.
 */
export function renderKerasSummary(s: KerasSummary): string {
  const functional = s.layers.some((r) => r.connectedTo !== undefined);
  const width = functional ? 98 : 65;
  const stops = (functional ? [0.33, 0.55, 0.67, 1] : [0.45, 0.85, 1]).map((p) => Math.floor(width * p));
  const row = (cells: string[]): string => {
    let line = '';
    cells.forEach((c, i) => {
      line += (i === 0 ? ' ' : '') + c;
      const stop = stops[i]!;
      line = i === cells.length - 1 ? line : line.length < stop ? line.padEnd(stop) : `${line} `;
    });
    return line.trimEnd();
  };
  const fmt = (n: number): string => n.toLocaleString('en-US');
  const header = ['Layer (type)', 'Output Shape', 'Param #', ...(functional ? ['Connected to'] : [])];
  const lines = [`Model: "${s.model}"`, '_'.repeat(width), row(header), '='.repeat(width)];
  s.layers.forEach((r, i) => {
    if (i > 0) lines.push('');
    lines.push(row([r.className ? `${r.name} (${r.className})` : r.name, shapeCell(r), String(r.params), ...(functional ? [r.connectedTo?.length ? r.connectedTo.join(', ') : ''] : [])]));
  });
  lines.push('='.repeat(width), `Total params: ${fmt(s.totalParams)}`, `Trainable params: ${fmt(s.trainableParams)}`, `Non-trainable params: ${fmt(s.nonTrainableParams)}`, '_'.repeat(width));
  return lines.join('\n') + '\n';
}
