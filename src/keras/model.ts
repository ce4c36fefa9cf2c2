/**
 * Keras-style models: `Sequential`, functional `Model({ inputs, outputs })`, and models loaded
 * from any Keras file. A model is its Keras config (exact snake_case JSON) plus the IR the
 * importer's `lowerKerasModel` makes of it — so a code-built model and a loaded file go through
 * one lowering, and every Keras exporter can write it (`toFiles`). New weights come from the
 * layers' Keras initialisers (seeded, Keras layouts) and are bound through the same weight-source
 * hook the importer uses for file weights.
 *
 * `summary()` prints Keras 2's table; `predict` runs the IR through `Session`; `getWeights` /
 * `setWeights` speak Keras order and layouts (recovered through the exporter's index-coded
 * lowering, so no layout conversion is written twice). Training (`compile`/`fit`/`evaluate`)
 * lives in training.ts. Spec: https://keras.io/api/models/
 */
import { RosettaError } from '../ir/errors.js';
import type { Model as IrModel } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import type { KerasLayerJson, KerasModelJson } from '../importers/keras/config-types.js';
import type { KerasWeight, WeightSource } from '../importers/keras/context.js';
import { lowerKerasModel } from '../importers/keras/lower.js';
import { normalizeModel, type NormLayer, type NormModel } from '../importers/keras/normalize.js';
import { recoverKerasWeights, type LayerWeights } from '../exporters/keras/weights.js';
import { Session } from '../runtime/session.js';
import { takeRows } from '../runtime/data.js';
import { RandomSource, initialize, type InitializerSpec } from './initializers.js';
import { Layer, SymbolicTensor, uniqueName } from './layers.js';
import { type CompileArgs, type CompiledState, type FitArgs, type History, type Logs, compileModel, evaluateModel, fitModel } from './training.js';
import { type ModelFiles, kerasFileSystem, loadWeightsBytes, modelFromFiles, modelToFiles } from './files.js';
import { formatSummary } from './summary.js';

/** Keras version the API writes into configs (Keras 2 semantics, as tfjs-layers implements). */
export const API_KERAS_VERSION = '2.15.0';

let globalSeed = 1337;

/** keras.utils.set_random_seed: seed for the initial weights of models built from now on. */
export function setRandomSeed(seed: number): void {
  globalSeed = seed >>> 0;
}

/** A layer as the model sees it (from the config), with its weights' roles and shapes. */
export interface LayerSummary {
  name: string;
  className: string;
  /** Output shape per call (batch axis null), Keras layout. */
  outputShape: (number | null)[];
  params: number;
  trainableParams: number;
  /** Inbound tensors as Keras prints them (`dense[0][0]`), functional models. */
  inbound: string[];
}

/** The layer at `path` (nested models: outer name first). */
function findLayer(norm: NormModel, path: readonly string[]): NormLayer | undefined {
  let m: NormModel | undefined = norm;
  let l: NormLayer | undefined;
  for (const p of path) {
    l = m?.layers.find((x) => x.name === p);
    m = l?.inner;
  }
  return l;
}

/** Models being built get their Keras-layout initial weights from this source. */
function initialWeights(norm: NormModel, seed: number): WeightSource {
  const rng = new RandomSource(seed);
  const byPath = new Map<string, KerasWeight[]>();
  const find = (path: string[]): NormLayer | undefined => findLayer(norm, path);
  return (path, specs) => {
    const key = path.join('/');
    const hit = byPath.get(key);
    if (hit) return hit;
    const layer = find(path);
    let cfg = layer?.config ?? {};
    const wrapped = cfg.layer as { class_name?: string; config?: Record<string, unknown> } | undefined;
    if ((layer?.className === 'Bidirectional' || layer?.className === 'TimeDistributed') && wrapped?.config) cfg = wrapped.config;
    const cls = layer?.className === 'Bidirectional' || layer?.className === 'TimeDistributed' ? String(wrapped?.class_name) : String(layer?.className);
    const out = specs.map((s) => ({ name: `${key}/${s.role}:0`, tensor: initialize(initializerFor(cls, cfg, s.role), s.shape, rng) }));
    // LSTM unit_forget_bias: the forget-gate slice of the bias starts at 1 (gate order i, f, c, o).
    specs.forEach((s, i) => {
      if (cls === 'LSTM' && /(^|\/)bias$/.test(s.role) && cfg.unit_forget_bias !== false && (cfg.bias_initializer === undefined || isZeros(cfg.bias_initializer))) {
        const u = s.shape[0]! / 4;
        (out[i]!.tensor.data as Float32Array).fill(1, u, 2 * u);
      }
    });
    byPath.set(key, out);
    return out;
  };
}

function isZeros(spec: unknown): boolean {
  const name = typeof spec === 'string' ? spec : (spec as { class_name?: string } | null)?.class_name;
  return typeof name === 'string' && /^zeros?$/i.test(name);
}

/** Which config field initialises a weight role (Keras' names). */
function initializerFor(cls: string, cfg: Record<string, unknown>, role0: string): InitializerSpec {
  const role = role0.split('/').pop()!;
  const pick = (field: string, def: InitializerSpec): InitializerSpec => (cfg[field] as InitializerSpec | undefined) ?? def;
  switch (role) {
    case 'kernel':
      return pick('kernel_initializer', 'glorot_uniform');
    case 'recurrent_kernel':
      return pick('recurrent_initializer', 'orthogonal');
    case 'bias':
      return pick('bias_initializer', 'zeros');
    case 'depthwise_kernel':
      return pick('depthwise_initializer', 'glorot_uniform');
    case 'pointwise_kernel':
      return pick('pointwise_initializer', 'glorot_uniform');
    case 'gamma':
      return pick('gamma_initializer', 'ones');
    case 'beta':
      return pick('beta_initializer', 'zeros');
    case 'moving_mean':
      return pick('moving_mean_initializer', 'zeros');
    case 'moving_variance':
      return pick('moving_variance_initializer', 'ones');
    case 'embeddings':
      return pick('embeddings_initializer', 'random_uniform');
    case 'alpha':
      return pick('alpha_initializer', 'zeros');
    case 'scale':
      return 'ones';
    default:
      throw new RosettaError('E_UNSUPPORTED', `no Keras initializer is known for weight '${role0}' of a ${cls} layer`);
  }
}

/** Feeds for a model's inputs from positional tensors. */
function feedsFor(inputNames: string[], xs: Tensor[]): Record<string, Tensor> {
  if (xs.length !== inputNames.length) throw new RosettaError('E_USAGE', `the model takes ${inputNames.length} input(s) (${inputNames.join(', ')}), got ${xs.length}`);
  const feeds: Record<string, Tensor> = {};
  inputNames.forEach((n, i) => (feeds[n] = xs[i]!));
  return feeds;
}

/** Rows [start, end) of a tensor. */
export function sliceRows(t: Tensor, start: number, end: number): Tensor {
  return takeRows(t, Array.from({ length: end - start }, (_, i) => start + i));
}

/** Concatenate tensors along axis 0. */
export function concatRows(parts: Tensor[]): Tensor {
  const first = parts[0]!;
  const rows = parts.reduce((a, t) => a + t.shape[0]!, 0);
  const out = new Tensor(first.dtype, [rows, ...first.shape.slice(1)]);
  let o = 0;
  for (const p of parts) {
    (out.data as Float32Array).set(p.data as Float32Array, o);
    o += p.size;
  }
  return out;
}

export const asList = (x: Tensor | Tensor[]): Tensor[] => (Array.isArray(x) ? x : [x]);

/**
 * A Keras model. Build one with `new Model({ inputs, outputs })` (functional), `new Sequential([...])`,
 * or load one (`Model.fromFiles`, `loadModel` in src/node/keras.ts).
 */
export class Model {
  name: string;
  /** Set by callbacks (EarlyStopping) to end `fit` after the current epoch. */
  stopTraining = false;
  protected built?: { config: KerasModelJson; ir: IrModel };
  private session?: { ir: IrModel; s: Session };
  private readonly fnInputs: SymbolicTensor[] = [];
  private readonly fnOutputs: SymbolicTensor[] = [];
  /** Seed of this model's initial weights. */
  readonly seed: number;
  /** Training state set by `compile` (training.ts). */
  compiled?: CompiledState;

  constructor(args?: { inputs: SymbolicTensor | SymbolicTensor[]; outputs: SymbolicTensor | SymbolicTensor[]; name?: string; seed?: number }) {
    this.seed = args?.seed ?? globalSeed++;
    this.name = args?.name ?? uniqueName(this instanceof Sequential ? 'sequential' : 'model');
    if (args) {
      this.fnInputs.push(...(Array.isArray(args.inputs) ? args.inputs : [args.inputs]));
      this.fnOutputs.push(...(Array.isArray(args.outputs) ? args.outputs : [args.outputs]));
      for (const t of this.fnInputs) if (t.layer.className !== 'InputLayer') throw new RosettaError('E_USAGE', `model input ${t.layer.name} is not an Input()`);
    }
  }

  /** Wrap an IR model that came from a Keras file (its config is in `metadata['keras.config']`). */
  static fromIr(ir: IrModel): Model {
    const text = ir.metadata['keras.config'];
    if (!text) throw new RosettaError('E_USAGE', 'this model has no Keras config (it did not come from a Keras file)', { hint: 'load a .keras, .h5 or tfjs model.json' });
    let config: KerasModelJson;
    try {
      config = JSON.parse(text) as KerasModelJson;
    } catch {
      throw new RosettaError('E_BAD_FORMAT', "the model's Keras config (metadata['keras.config']) is not valid JSON");
    }
    if (typeof config !== 'object' || config === null || typeof config.class_name !== 'string') throw new RosettaError('E_BAD_FORMAT', "the model's Keras config is not a {class_name, config} object");
    const m = config.class_name === 'Sequential' ? new Sequential([], { name: modelName(config) }) : new Model(undefined);
    m.name = modelName(config) ?? m.name;
    m.built = { config, ir };
    return m;
  }

  /** The Keras model JSON (`model.to_json()`), building it on first use. */
  toJSON(): KerasModelJson {
    return this.build().config;
  }

  /** The IR model (built on first use). */
  get irModel(): IrModel {
    return this.build().ir;
  }

  /** Build the config and the IR with fresh initial weights (once). */
  build(): { config: KerasModelJson; ir: IrModel } {
    if (this.built) return this.built;
    const config = this.makeConfig();
    if (this.frozen) freezeConfig(config);
    const norm = normalizeModel(config, this.name);
    // Nested models keep their current weights; everything else gets fresh initial weights.
    const kept = new Map<string, KerasWeight[]>();
    for (const inner of this.nestedModels()) {
      for (const lw of inner.layerWeights()) kept.set([inner.name, ...lw.path].join('/'), lw.tensors.map((t, i) => ({ name: `${lw.path.join('/')}/${lw.specs[i]!.role}`, tensor: t })));
    }
    const fresh = initialWeights(norm, this.seed);
    const weights: WeightSource = (path, specs) => kept.get(path.join('/')) ?? fresh(path, specs);
    const ir = lowerKerasModel(norm, { file: this.name, kerasVersion: API_KERAS_VERSION, backend: 'tensorflow', weights });
    ir.metadata['keras.config'] = JSON.stringify(config);
    ir.metadata['keras.version'] = API_KERAS_VERSION;
    ir.metadata['keras.backend'] = 'tensorflow';
    ir.producerName = 'rosetta.keras';
    this.built = { config, ir };
    return this.built;
  }

  /** Models used as layers inside this one (Sequential nesting). */
  protected nestedModels(): Model[] {
    return [];
  }

  private frozen = false;

  /**
   * `model.trainable = flag` (Keras): every layer of the model (nested ones included) becomes
   * (non-)trainable — frozen weights get no gradient, and a frozen BatchNormalization runs in
   * inference mode during `fit`, as in Keras 2.x. Compile again afterwards, as Keras requires.
   */
  set trainable(flag: boolean) {
    this.frozen = !flag;
    if (!this.built) return;
    const { config, ir } = this.built;
    setTrainableConfig(config, flag);
    ir.metadata['keras.config'] = JSON.stringify(config);
    for (const info of ir.graph.params.values()) if (!/moving_(mean|variance)$/.test(info.role ?? '')) info.trainable = flag;
  }

  get trainable(): boolean {
    return !this.frozen;
  }

  /** Functional config from the recorded layer calls. */
  protected makeConfig(): KerasModelJson {
    if (this.fnOutputs.length === 0) throw new RosettaError('E_USAGE', 'the model has no outputs', { hint: 'new Model({ inputs, outputs })' });
    const order: Layer[] = [];
    const used = new Map<Layer, Set<number>>();
    const visit = (t: SymbolicTensor, depth: number): void => {
      if (depth > 2_000) throw new RosettaError('E_LIMIT', 'functional graph too deep');
      const nodes = used.get(t.layer) ?? new Set<number>();
      if (!used.has(t.layer)) used.set(t.layer, nodes);
      if (nodes.has(t.node)) return;
      nodes.add(t.node);
      for (const i of t.layer.nodes[t.node]!.inputs) visit(i, depth + 1);
      if (!order.includes(t.layer)) order.push(t.layer);
    };
    for (const o of this.fnOutputs) visit(o, 0);
    for (const i of this.fnInputs) if (!used.has(i.layer)) throw new RosettaError('E_USAGE', `model input ${i.layer.name} is not connected to the outputs`);
    // Node indices within this model: the layer's calls that the model uses, in call order.
    const nodeIndex = (t: SymbolicTensor): number => [...used.get(t.layer)!].sort((a, b) => a - b).indexOf(t.node);
    const names = new Set<string>();
    const layersJson: KerasLayerJson[] = order.map((l) => {
      if (names.has(l.name)) throw new RosettaError('E_USAGE', `two layers are named '${l.name}'`, { hint: 'layer names must be unique within a model' });
      names.add(l.name);
      const calls = [...used.get(l)!].sort((a, b) => a - b);
      const inbound = l.className === 'InputLayer' ? [] : calls.map((n) => l.nodes[n]!.inputs.map((t) => [t.layer.name, nodeIndex(t), t.index, l.nodes[n]!.kwargs] as [string, number, number, Record<string, unknown>]));
      return { class_name: l.className, config: structuredClone(l.config), name: l.name, inbound_nodes: inbound };
    });
    const ref = (t: SymbolicTensor): [string, number, number] => [t.layer.name, nodeIndex(t), t.index];
    return {
      class_name: 'Functional',
      config: { name: this.name, layers: layersJson, input_layers: this.fnInputs.map(ref), output_layers: this.fnOutputs.map(ref) },
      keras_version: API_KERAS_VERSION,
      backend: 'tensorflow',
    };
  }

  /** Normalised config (one form for every dialect). */
  normalized(): NormModel {
    return normalizeModel(this.toJSON(), this.name);
  }

  /** Names of the IR graph inputs, in Keras input order. */
  get inputNames(): string[] {
    const g = this.irModel.graph;
    return g.inputs.filter((i) => !g.initializers.has(i.name)).map((i) => i.name);
  }

  /** Run the model on a batch of samples (no batching). */
  async call(xs: Tensor[]): Promise<Tensor[]> {
    const ir = this.irModel;
    if (!this.session || this.session.ir !== ir) this.session = { ir, s: await Session.create(ir) };
    const { outputs } = await this.session.s.run(feedsFor(this.inputNames, xs));
    return ir.graph.outputs.map((o) => outputs[o.name] as Tensor);
  }

  /** model.predict: inference in batches (default 32); one tensor per model output. */
  async predict(x: Tensor | Tensor[], opts: { batchSize?: number } = {}): Promise<Tensor | Tensor[]> {
    const xs = asList(x);
    const n = xs[0]!.shape[0] ?? 0;
    const bs = opts.batchSize ?? 32;
    if (!(bs >= 1)) throw new RosettaError('E_USAGE', 'batchSize must be ≥ 1');
    const parts: Tensor[][] = [];
    for (let s = 0; s < n; s += bs) parts.push(await this.call(xs.map((t) => sliceRows(t, s, Math.min(n, s + bs)))));
    if (parts.length === 0) throw new RosettaError('E_USAGE', 'predict needs at least one sample');
    const outs = parts[0]!.map((_, k) => (parts.length === 1 ? parts[0]![k]! : concatRows(parts.map((p) => p[k]!))));
    return outs.length === 1 ? outs[0]! : outs;
  }

  /** Keras-order weights of every layer that has weights. */
  layerWeights(): LayerWeights[] {
    return recoverKerasWeights(this.irModel, this.normalized(), this.irModel.metadata['keras.version']);
  }

  /** model.get_weights(): every weight in Keras order and layout (copies). */
  getWeights(): Tensor[] {
    return this.layerWeights().flatMap((l) => l.tensors);
  }

  /** Keras-order weights by layer name. */
  getLayerWeights(): Map<string, Tensor[]> {
    return new Map(this.layerWeights().map((l) => [l.path.join('/'), l.tensors]));
  }

  /**
   * model.set_weights(): Keras-order, Keras-layout tensors (as `getWeights` returns). They are
   * bound by lowering the config again with them, exactly as the importer binds file weights,
   * and copied into the model's parameters in place (optimizer state stays attached).
   */
  setWeights(weights: Tensor[]): void {
    const layers = this.layerWeights();
    const need = layers.reduce((a, l) => a + l.tensors.length, 0);
    if (weights.length !== need) throw new RosettaError('E_SHAPE_MISMATCH', `setWeights got ${weights.length} tensors, the model has ${need}`, { hint: 'pass what getWeights() returns, in the same order' });
    let k = 0;
    const byKey = new Map<string, KerasWeight[]>();
    for (const l of layers) {
      byKey.set(
        l.path.join('/'),
        l.specs.map((s) => {
          const t = weights[k++]!;
          return { name: `${l.path.join('/')}/${s.role}`, tensor: t };
        }),
      );
    }
    this.loadFromSource((path) => byKey.get(path.join('/')));
  }

  /** Re-lower with `source` and copy the resulting parameters into this model's, in place. */
  loadFromSource(source: WeightSource): void {
    const built = this.build();
    const fresh = lowerKerasModel(this.normalized(), { file: this.name, kerasVersion: built.ir.metadata['keras.version'], backend: 'tensorflow', weights: source });
    const g = built.ir.graph;
    for (const [name, t] of fresh.graph.initializers) {
      const cur = g.initializers.get(name);
      if (!cur || !g.params.has(name)) continue;
      if (cur.size !== t.size || cur.dtype !== t.dtype) throw new RosettaError('E_INTERNAL', `parameter ${name} changed shape on re-lowering`);
      (cur.data as Float32Array).set(t.data as Float32Array);
    }
  }

  /** Layers of the config with their output shapes and parameter counts (what `summary` prints). */
  layerSummaries(): LayerSummary[] {
    const norm = this.normalized();
    const weights = this.layerWeights();
    const byTop = new Map<string, LayerWeights[]>();
    for (const w of weights) byTop.set(w.path[0]!, [...(byTop.get(w.path[0]!) ?? []), w]);
    // Probe: the same model with every layer's first output as a model output, so the lowering
    // reports each layer's Keras-layout output shape.
    const shown = norm.layers.filter((l) => !(norm.className === 'Sequential' && l.className === 'InputLayer'));
    const refs = shown.map((l) => ({ layer: l.name, node: l.className === 'InputLayer' ? 0 : Math.max(0, l.calls.length - 1), tensor: 0 }));
    const src: WeightSource = (path) => {
      const lw = weights.find((w) => w.path.join('/') === path.join('/'));
      if (!lw) return undefined;
      return lw.tensors.map((t, i) => ({ name: `${path.join('/')}/${lw.specs[i]!.role}`, tensor: t }));
    };
    const probe = lowerKerasModel({ ...norm, outputs: refs }, { file: this.name, kerasVersion: this.irModel.metadata['keras.version'], weights: src });
    return shown.map((l, i) => {
      const t = probe.graph.outputs[i]?.type;
      const shape = (t?.kind === 'tensor' ? (t.shape ?? []) : []).map((d) => (typeof d === 'number' ? d : null));
      let params = 0;
      let trainable = 0;
      for (const lw of byTop.get(l.name) ?? []) {
        lw.specs.forEach((s, k) => {
          const n = lw.tensors[k]!.size;
          params += n;
          if (!/moving_(mean|variance)$/.test(s.role) && findLayer(norm, lw.path)?.config.trainable !== false) trainable += n;
        });
      }
      const inbound = l.calls.flatMap((c) => c.inputs.map((r) => `${r.layer}[${r.node}][${r.tensor}]`));
      return { name: l.name, className: l.className, outputShape: shape, params, trainableParams: trainable, inbound };
    });
  }

  /** model.compile({ optimizer: 'adam', loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'] }). */
  compile(args: CompileArgs): void {
    compileModel(this, args);
  }

  /** model.fit(x, y, { epochs, batchSize, validationSplit, shuffle, callbacks, verbose }). */
  fit(x: Tensor | Tensor[], y: Tensor | Tensor[], args: FitArgs = {}): Promise<History> {
    return fitModel(this, x, y, args);
  }

  /** model.evaluate: loss (and metrics) in inference mode. */
  evaluate(x: Tensor | Tensor[], y: Tensor | Tensor[], args: { batchSize?: number; returnDict?: boolean } = {}): Promise<number | number[] | Logs> {
    return evaluateModel(this, x, y, args);
  }

  /** The files `save(name)` would write, in memory (format from the extension). */
  toFiles(name: string): Promise<ModelFiles> {
    return modelToFiles(this, name);
  }

  /** A model from files `toFiles` (or Keras, or tfjs) wrote. */
  static fromFiles(files: ModelFiles, mainName: string): Promise<Model> {
    return modelFromFiles(files, mainName);
  }

  /** model.save(path): `.keras`, `.h5`, `.weights.h5` or `model.json`, through the registered file system. */
  async save(path: string): Promise<void> {
    await kerasFileSystem().write(path, await this.toFiles(path.split(/[\\/]/).pop()!));
  }

  /** model.save_weights(path): the same as `save` with a `.weights.h5` name. */
  async saveWeights(path: string): Promise<void> {
    if (!path.toLowerCase().endsWith('.weights.h5')) throw new RosettaError('E_USAGE', `weights files end in .weights.h5 (got ${path})`);
    await this.save(path);
  }

  /** model.load_weights: bytes of a weights-only (or full) Keras HDF5 file, or a path. */
  async loadWeights(source: Uint8Array | string, name = typeof source === 'string' ? source : 'weights.h5'): Promise<void> {
    const bytes = typeof source === 'string' ? await kerasFileSystem().readBytes(source) : source;
    await loadWeightsBytes(this, bytes, name);
  }

  /** model.summary(): Keras 2's table. Printed through `printFn` (default console.log) and returned. */
  summary(opts: { lineLength?: number; printFn?: (line: string) => void } = {}): string {
    return formatSummary(this, opts);
  }
}

/** Set `trainable` on every layer config of a model JSON, nested models and wrapped layers included. */
function setTrainableConfig(json: { config?: unknown }, flag: boolean, depth = 0): void {
  if (depth > 32) return;
  const c = json.config as { layers?: { class_name?: string; config?: Record<string, unknown> }[] } | { class_name?: string; config?: Record<string, unknown> }[] | undefined;
  const list = Array.isArray(c) ? c : (c?.layers ?? []);
  for (const l of list) {
    if (!l.config) continue;
    if (l.class_name === 'Sequential' || l.class_name === 'Functional' || l.class_name === 'Model') setTrainableConfig(l, flag, depth + 1);
    else {
      l.config.trainable = flag;
      const inner = l.config.layer as { config?: Record<string, unknown> } | undefined;
      if (inner?.config) inner.config.trainable = flag;
    }
  }
}

function freezeConfig(json: KerasModelJson): void {
  setTrainableConfig(json, false);
}

function modelName(config: KerasModelJson): string | undefined {
  const c = config.config as { name?: string } | unknown[];
  return !Array.isArray(c) && typeof c?.name === 'string' ? c.name : undefined;
}

/** keras.Sequential. */
export class Sequential extends Model {
  private readonly stack: (Layer | Model)[] = [];
  private inputLayer?: Layer;

  constructor(layers: (Layer | Model | SymbolicTensor)[] = [], opts: { name?: string; seed?: number } = {}) {
    super(undefined);
    if (opts.name) this.name = opts.name;
    if (opts.seed !== undefined) (this as { seed: number }).seed = opts.seed;
    for (const l of layers) this.add(l);
  }

  /** Append a layer, a whole model (nested, with its current weights), or a leading `Input()`. */
  add(layer: Layer | Model | SymbolicTensor): void {
    if (this.built) throw new RosettaError('E_USAGE', 'layers cannot be added after the model was built');
    if (layer instanceof Model) {
      this.stack.push(layer);
      return;
    }
    const l = layer instanceof SymbolicTensor ? layer.layer : layer;
    if (l.className === 'InputLayer') {
      if (this.stack.length || this.inputLayer) throw new RosettaError('E_USAGE', 'an Input can only be the first entry of a Sequential model');
      this.inputLayer = l;
      return;
    }
    this.stack.push(l);
  }

  /** Layers in order (without the input); nested models appear as themselves. */
  get layers(): (Layer | Model)[] {
    return this.stack.slice();
  }

  protected override nestedModels(): Model[] {
    return this.stack.filter((l): l is Model => l instanceof Model);
  }

  protected override makeConfig(): KerasModelJson {
    if (this.stack.length === 0) throw new RosettaError('E_USAGE', 'the Sequential model has no layers');
    const list: KerasLayerJson[] = this.stack.map((l) => {
      if (l instanceof Layer) return l.toJSON();
      const json = l.toJSON();
      return { class_name: json.class_name, config: structuredClone(json.config) as KerasLayerJson['config'] };
    });
    // The input shape goes on the first layer (Keras 2 style), which tfjs-layers also reads.
    const first = list[0]!.config;
    if (this.stack[0] instanceof Layer) {
      if (this.inputLayer) {
        first.batch_input_shape = this.inputLayer.config.batch_input_shape as (number | null)[];
        first.dtype = this.inputLayer.config.dtype as string;
      }
      if (!first.batch_input_shape) throw new RosettaError('E_USAGE', `the first layer (${String(first.name)}) has no input shape`, { hint: "pass inputShape (e.g. layers.Dense(1, { inputShape: [1] })) or start with Input({ shape })" });
    }
    return { class_name: 'Sequential', config: { name: this.name, layers: list }, keras_version: API_KERAS_VERSION, backend: 'tensorflow' };
  }
}
