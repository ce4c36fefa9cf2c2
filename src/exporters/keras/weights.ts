/**
 * Recovering Keras-layout weights from an IR model that came from Keras.
 *
 * Instead of writing every importer conversion a second time backwards, the exporter lowers the
 * model's recorded Keras config again (the same deterministic lowering the importer ran), feeding
 * each layer weights whose elements hold their own index + 1. The resulting IR parameters then
 * say, element by element, which Keras element they came from (gate reorders, transposes, the
 * Flatten→Dense row permutation, bidirectional stacking, depthwise reshapes alike), and the
 * exporter copies the model's current values back through that map. Every conversion is a
 * permutation, so round trips are bit-identical. Elements the lowering added as constants (the
 * zero recurrent bias of LSTM/SimpleRNN and reset_after=False GRU) map to nothing; if training
 * made them non-zero the export refuses rather than silently dropping them.
 */
import { RosettaError } from '../../ir/errors.js';
import type { Model } from '../../ir/graph.js';
import { Tensor, checkedSize } from '../../ir/tensor.js';
import type { KerasWeight, WeightSpec } from '../../importers/keras/context.js';
import { lowerKerasModel } from '../../importers/keras/lower.js';
import type { NormModel } from '../../importers/keras/normalize.js';

/** One layer's weights in Keras order. */
export interface LayerWeights {
  /** Layer path (nested models: outer first). */
  path: string[];
  specs: WeightSpec[];
  tensors: Tensor[];
}

/** Float32 values are exact integers up to 2^24: the most elements one layer may hold here. */
const MAX_CODES = 1 << 24;

/** Keras-order weights of every layer of `norm`, taken from `model`'s parameters. */
export function recoverKerasWeights(
  model: Model,
  norm: NormModel,
  kerasVersion: string | undefined,
  onLayer?: (scope: string, className: string, inputShapes: (number | null)[][]) => void,
  onLayerOutput?: (layer: string, className: string, outputShapes: (number | null)[][], depth: number) => void,
): LayerWeights[] {
  const layers: LayerWeights[] = [];
  const byKey = new Map<string, LayerWeights>();
  const encoded = lowerKerasModel(norm, {
    file: 'export',
    kerasVersion,
    backend: 'tensorflow',
    onLayer,
    onLayerOutput,
    weights: (path, specs) => {
      const key = path.join('/');
      let entry = byKey.get(key);
      if (!entry) {
        entry = { path: path.slice(), specs: specs.slice(), tensors: specs.map((s) => new Tensor('float32', s.shape)) };
        byKey.set(key, entry);
        layers.push(entry);
      }
      let code = 1;
      const out: KerasWeight[] = [];
      for (const s of specs) {
        const n = checkedSize(s.shape, `weight ${s.role} of ${key}`);
        if (code + n > MAX_CODES) throw new RosettaError('E_TOO_LARGE', `layer ${key} has more than ${MAX_CODES} weight elements; the Keras exporter cannot map it`, { where: { layer: key } });
        const d = new Float32Array(n);
        for (let i = 0; i < n; i++) d[i] = code + i;
        code += n;
        out.push({ name: `${key}/${s.role}`, tensor: new Tensor('float32', s.shape, d) });
      }
      return out;
    },
  });
  // Flat views of each layer's Keras tensors, in code order.
  const flat = new Map<string, { views: Uint32Array[]; offsets: number[]; filled: Uint8Array }>();
  for (const l of layers) {
    const offsets: number[] = [];
    let o = 0;
    for (const t of l.tensors) {
      offsets.push(o);
      o += t.size;
    }
    flat.set(l.path.join('/'), { views: l.tensors.map((t) => bits(t.data as Float32Array)), offsets, filled: new Uint8Array(o) });
  }
  for (const [name, info] of encoded.graph.params) {
    const enc = encoded.graph.initializers.get(name)!;
    const cur = model.graph.initializers.get(name);
    // Parameter scopes are the weight-source paths joined by '/' (nested models included).
    const layerKey = info.scope;
    if (!cur) throw new RosettaError('E_UNSUPPORTED', `parameter ${name} of layer ${info.scope} is no longer in the model (was the graph optimised after import?)`, { where: { layer: info.scope }, hint: 'export the model as imported, or to ONNX' });
    if (cur.size !== enc.size) throw new RosettaError('E_SHAPE_MISMATCH', `parameter ${name} has shape [${cur.shape.join(', ')}], the Keras config implies [${enc.shape.join(', ')}]`, { where: { layer: info.scope } });
    const target = flat.get(layerKey);
    if (!target) throw new RosettaError('E_INTERNAL', `no Keras layer for parameter scope ${info.scope}`);
    const codes = enc.data as Float32Array;
    // Copy raw bit patterns so NaN payloads and -0 survive exactly.
    const floats = cur.dtype === 'float32' ? (cur.data as Float32Array) : Float32Array.from(cur.toNumbers());
    const values = bits(floats);
    for (let j = 0; j < codes.length; j++) {
      const c = codes[j]!;
      if (c === 0) {
        if (floats[j] !== 0) throw new RosettaError('E_UNSUPPORTED', `parameter ${name} holds a non-zero value where Keras has no weight (e.g. an ONNX recurrent bias)`, { where: { layer: info.scope }, hint: 'Keras cannot represent this model exactly; export to ONNX instead' });
        continue;
      }
      const code = c - 1;
      let t = target.offsets.length - 1;
      while (target.offsets[t]! > code) t--;
      target.views[t]![code - target.offsets[t]!] = values[j]!;
      target.filled[code] = 1;
    }
  }
  for (const l of layers) {
    const f = flat.get(l.path.join('/'))!;
    if (!f.filled.every((x) => x === 1)) throw new RosettaError('E_INTERNAL', `some Keras weights of layer ${l.path.join('/')} were not recovered`, { where: { layer: l.path.join('/') } });
  }
  return layers;
}

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}
