/**
 * In-memory saving and loading for Keras-style models: `toFiles(name)` asks the exporter the name's
 * extension selects (`.keras`, `.h5`, `.weights.h5`, `model.json`) for its files; `fromFiles`
 * imports them back through the importer registry (detected by content). Path-taking `save` and
 * `loadModel` go through a pluggable file system so this module stays browser-safe;
 * src/node/keras.ts registers Node's.
 */
import { RosettaError } from '../ir/errors.js';
import { formatForOutput, getExporter } from '../exporters/index.js';
import { importFile } from '../importers/index.js';
import { modelFromJsonAndWeights } from '../importers/keras/h5.js';
import { Model } from './model.js';

/** Files of one saved model: main file name → bytes, plus siblings (tfjs shards). */
export type ModelFiles = Map<string, Uint8Array>;

/** Export `model` to the format `name`'s extension selects; returns the files (main file first). */
export async function modelToFiles(model: Model, name: string): Promise<ModelFiles> {
  const exporter = await getExporter(formatForOutput(name));
  if (!exporter.exportModel) throw new RosettaError('E_USAGE', `${name}: that format stores bare weight sets, not Keras models`);
  const r = await exporter.exportModel(model.irModel, name);
  const main = r.files.get(r.mainName);
  if (!main) throw new RosettaError('E_INTERNAL', `exporter returned no file named ${r.mainName}`);
  return new Map([[r.mainName, main], ...[...r.files].filter(([k]) => k !== r.mainName)]);
}

/** Load a model from in-memory files (`mainName` is the model file; siblings by relative name). */
export async function modelFromFiles(files: ModelFiles, mainName: string): Promise<Model> {
  const bytes = files.get(mainName);
  if (!bytes) throw new RosettaError('E_USAGE', `no file named ${mainName} among ${[...files.keys()].join(', ')}`);
  const r = await importFile({
    name: mainName,
    bytes,
    readSibling: async (rel) => {
      const b = files.get(rel);
      if (!b) throw new RosettaError('E_MISSING_WEIGHT', `file ${rel} (next to ${mainName}) is missing`, { where: { file: rel } });
      return b;
    },
  });
  if (r.kind !== 'model') throw new RosettaError('E_USAGE', `${mainName} holds weights only`, { hint: 'build the architecture, then model.loadWeights(...)' });
  return Model.fromIr(r.model);
}

/** model.load_weights from a weights-only `.weights.h5` / `.h5` (by layer order, as Keras does). */
export async function loadWeightsBytes(model: Model, bytes: Uint8Array, name: string): Promise<void> {
  const fresh = await modelFromJsonAndWeights(model.irModel.metadata['keras.config']!, bytes, name);
  const g = model.irModel.graph;
  for (const [k, t] of fresh.graph.initializers) {
    const cur = g.initializers.get(k);
    if (!cur || !g.params.has(k)) continue;
    if (cur.size !== t.size) throw new RosettaError('E_SHAPE_MISMATCH', `weight ${k} in ${name} has ${t.size} elements, the model ${cur.size}`, { where: { file: name } });
    (cur.data as Float32Array).set(t.data as Float32Array);
  }
}

/** The file system `save`/`loadModel` use (Node's is registered by src/node/keras.ts). */
export interface KerasFileSystem {
  write(path: string, files: ModelFiles): Promise<void>;
  read(path: string): Promise<Model>;
  readBytes(path: string): Promise<Uint8Array>;
}

let fileSystem: KerasFileSystem | undefined;

/** Register the file system for `model.save(path)` / `loadWeights(path)`. */
export function registerKerasFileSystem(fs: KerasFileSystem): void {
  fileSystem = fs;
}

export function kerasFileSystem(): KerasFileSystem {
  if (!fileSystem) throw new RosettaError('E_USAGE', 'saving to a path needs a file system', { hint: "in Node import 'rosetta/node' (src/node/keras.ts); in a browser use model.toFiles(name)" });
  return fileSystem;
}
