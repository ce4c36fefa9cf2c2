/**
 * The graph builder the Keras lowering writes through: fresh value names, nodes with the layer
 * name as scope, constants, parameters registered in `graph.params`, and the layout bookkeeping
 * that keeps NCHW canonical without a transpose after every layer.
 *
 * A lowered value remembers its Keras shape (batch first, channels last for channels_last
 * layers) and how it is stored: `keras` (exactly as Keras holds it) or `cf` (channels moved to
 * axis 1, i.e. NCHW/NCW/NCDHW). Channels-last convolutions produce `cf` values; layers that need
 * the Keras layout ask for `toKeras`, which inserts the one Transpose that is truly needed.
 */
import type { DType } from '../../ir/dtype.js';
import { RosettaError } from '../../ir/errors.js';
import { type AttrMap, type Graph, type Model, type RewriteRecord, emptyGraph, makeNode } from '../../ir/graph.js';
import { attrInts } from '../../ir/attrs.js';
import { Tensor } from '../../ir/tensor.js';

/** Static Keras shape: batch first, null where unknown. */
export type KShape = (number | null)[];

export interface KValue {
  /** IR value name. */
  name: string;
  /** Shape as Keras sees it (batch first). */
  shape: KShape;
  /** Storage: `keras` = as Keras holds it; `cf` = channels (last Keras axis) moved to axis 1. */
  layout: 'keras' | 'cf';
  dtype: DType;
  /**
   * Set by Flatten of a `cf` map when every consumer is a Dense: the data is flattened in
   * (C, spatial…) order and the Dense permutes its kernel rows instead of transposing data.
   */
  flattenedCf?: number[];
  /** Keras mask (bool [batch, time]) from Masking / Embedding(mask_zero), carried to RNNs. */
  mask?: string;
}

export class GraphBuilder {
  readonly graph: Graph = emptyGraph('main');
  readonly rewrites: RewriteRecord[] = [];
  private readonly used = new Set<string>();

  fresh(base: string): string {
    const clean = base.replace(/:0$/, '');
    let n = clean;
    for (let i = 1; this.used.has(n); i++) n = `${clean}_${i}`;
    this.used.add(n);
    return n;
  }

  /** Reserve a name exactly (graph inputs keep their Keras names). */
  reserve(name: string): string {
    if (this.used.has(name)) return this.fresh(name);
    this.used.add(name);
    return name;
  }

  /** Add a node; returns its output names. */
  op(opType: string, inputs: string[], attrs: AttrMap, scope: string, nOut = 1, base?: string): string[] {
    const outs: string[] = [];
    for (let i = 0; i < nOut; i++) outs.push(this.fresh(`${base ?? scope}/${opType}${nOut > 1 ? `_${i}` : ''}`));
    this.graph.nodes.push(makeNode(opType, inputs, outs, attrs, { name: this.fresh(`${scope}/${opType}_node`), scope }));
    return outs;
  }

  op1(opType: string, inputs: string[], attrs: AttrMap, scope: string): string {
    return this.op(opType, inputs, attrs, scope)[0]!;
  }

  /** A non-trainable constant (shapes, pads, axes…). */
  constant(t: Tensor, scope: string, base = 'const'): string {
    const name = this.fresh(`${scope}/${base}`);
    this.graph.initializers.set(name, t);
    return name;
  }

  ints(values: number[], scope: string, base = 'shape'): string {
    return this.constant(Tensor.from('int64', [values.length], values.map((v) => BigInt(v))), scope, base);
  }

  /** A parameter: initializer + ParamInfo (scope = layer name, role, Keras source name). */
  param(scope: string, role: string, t: Tensor, sourceName: string, trainable: boolean): string {
    const name = this.fresh(`${scope}/${role}`);
    this.graph.initializers.set(name, t);
    this.graph.params.set(name, { scope, trainable, sourceName, role });
    return name;
  }

  rewrite(kind: string, scope: string, detail: string): void {
    this.rewrites.push({ kind, scope, detail });
  }

  transpose(v: string, perm: number[], scope: string): string {
    return this.op1('Transpose', [v], { perm: attrInts(perm) }, scope);
  }

  /** The value in Keras layout (inserting Transpose from channels-first if needed). */
  toKeras(v: KValue, scope: string): KValue {
    if (v.layout === 'keras') return v;
    if (v.flattenedCf) throw new RosettaError('E_INTERNAL', 'flattened channels-first value consumed by a non-Dense layer', { where: { layer: scope } });
    const r = v.shape.length;
    const perm = [0, ...Array.from({ length: r - 2 }, (_, i) => i + 2), 1];
    return { ...v, name: this.transpose(v.name, perm, scope), layout: 'keras' };
  }

  /** The value channels-first (Keras channels-last data; inserts a Transpose if needed). */
  toCf(v: KValue, scope: string): KValue {
    if (v.layout === 'cf') return v;
    const r = v.shape.length;
    if (r < 3) return v;
    const perm = [0, r - 1, ...Array.from({ length: r - 2 }, (_, i) => i + 1)];
    this.rewrite('layout', scope, `channels_last input transposed to channels-first (perm [${perm.join(', ')}])`);
    return { ...v, name: this.transpose(v.name, perm, scope), layout: 'cf' };
  }

  /** Storage shape of a value (what the IR tensor looks like). */
  static stored(v: KValue): KShape {
    if (v.layout === 'keras') return v.shape;
    const s = v.shape;
    return [s[0]!, s[s.length - 1]!, ...s.slice(1, -1)];
  }

  /** Axis index in storage for a (possibly negative) Keras axis. */
  static storedAxis(v: KValue, kerasAxis: number): number {
    const r = v.shape.length;
    const a = kerasAxis < 0 ? kerasAxis + r : kerasAxis;
    if (a < 0 || a >= r) throw new RosettaError('E_INVALID_ATTR', `axis ${kerasAxis} out of range for rank ${r}`);
    if (v.layout === 'keras' || a === 0) return a;
    return a === r - 1 ? 1 : a + 1;
  }

  finish(model: Partial<Model>): Model {
    return { graph: this.graph, sourceOpsets: { '': 18 }, metadata: {}, rewrites: this.rewrites, ...model };
  }
}
