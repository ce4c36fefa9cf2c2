/**
 * Per-layer parity: run two models on the same feeds keeping every intermediate value
 * (`Session`'s `keepIntermediates`), match layers by scope (the module/layer path every node
 * carries: `features.0`, `conv2d_1`) and compare each layer's last output. The first layer beyond
 * tolerance is where a conversion went wrong; later ones only inherit the error.
 * Layers whose outputs differ in shape (e.g. NCHW against NHWC) are listed as not comparable
 * rather than guessed at.
 */
import { topoSort, type Graph } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import { Session } from '../runtime/session.js';
import { isTensor } from '../runtime/value.js';
import { compareTensors, type OutputParity, type Tolerance } from '../cli/compare.js';

/** One matched layer. */
export interface LayerParity extends OutputParity {
  /** The scope both models share. */
  scope: string;
  /** Value names compared (reference, other). */
  values: [string, string];
}

/** Result of `compareLayers`. */
export interface LayerReport {
  layers: LayerParity[];
  /** Scopes present in only one model or with differently shaped outputs. */
  notCompared: { scope: string; reason: string }[];
  /** First layer (in the reference's order) beyond tolerance, if any. */
  firstDivergence?: string;
}

/** Scope → the value its last node (in topological order) produced first. */
function layerOutputs(g: Graph): Map<string, string> {
  const out = new Map<string, string>();
  for (const n of topoSort(g)) if (n.scope && n.outputs[0]) out.set(n.scope, n.outputs[0]);
  return out;
}

async function intermediates(g: Graph, feeds: Record<string, Tensor>): Promise<Map<string, unknown>> {
  const s = await Session.create(g, { keepIntermediates: true });
  return (await s.run(feeds, { keepIntermediates: true })).intermediates ?? new Map();
}

/** Compare the layers two models share, in the reference's order. */
export async function compareLayers(ref: Graph, other: Graph, feedsRef: Record<string, Tensor>, feedsOther: Record<string, Tensor>, tol: Tolerance): Promise<LayerReport> {
  const a = layerOutputs(ref);
  const b = layerOutputs(other);
  const va = await intermediates(ref, feedsRef);
  const vb = await intermediates(other, feedsOther);
  const report: LayerReport = { layers: [], notCompared: [] };
  for (const [scope, name] of a) {
    const otherName = b.get(scope);
    if (!otherName) {
      report.notCompared.push({ scope, reason: 'no layer with this scope in the other model' });
      continue;
    }
    const x = va.get(name);
    const y = vb.get(otherName);
    if (!isTensor(x as never) || !isTensor(y as never)) {
      report.notCompared.push({ scope, reason: 'not a tensor value' });
      continue;
    }
    const tx = x as Tensor;
    const ty = y as Tensor;
    if (tx.shape.length !== ty.shape.length || tx.shape.some((d, i) => d !== ty.shape[i])) {
      report.notCompared.push({ scope, reason: `shapes differ: [${tx.shape.join(',')}] vs [${ty.shape.join(',')}] (layouts differ)` });
      continue;
    }
    const r = compareTensors(name, tx, ty, tol);
    report.layers.push({ ...r, scope, values: [name, otherName] });
    if (!r.ok && report.firstDivergence === undefined) report.firstDivergence = scope;
  }
  return report;
}
