/**
 * Node file system for the Keras-style API (src/keras stays browser-safe): `saveKerasModel` /
 * `loadKerasModel` by path, format chosen by extension (`.keras`, `.h5`, `.weights.h5`,
 * `model.json` + shard) through the exporters and detected by content on load; and the
 * registration that makes `model.save(path)`, `model.loadWeights(path)` and ModelCheckpoint
 * write real files. Importing this module registers it.
 */
import { basename, dirname } from 'node:path';
import { Model, ModelCheckpoint, registerKerasFileSystem, type ModelCheckpointArgs, type ModelFiles } from '../keras/index.js';
import { readBytes, writeFilesInside } from './files.js';
import { loadModel } from './model-io.js';

/** Write the files of one saved model next to `path` (the main file is `path` itself). */
async function writeModelFiles(path: string, files: ModelFiles): Promise<void> {
  const main = basename(path);
  const renamed = new Map<string, Uint8Array>();
  for (const [name, bytes] of files) renamed.set(name === [...files.keys()][0] ? main : name, bytes);
  await writeFilesInside(dirname(path), renamed, path);
}

/** keras.models.load_model(path): any Keras model file (or tfjs model.json), detected by content. */
export async function loadKerasModel(path: string): Promise<Model> {
  return Model.fromIr(await loadModel(path));
}

/** model.save(path) for Node. */
export async function saveKerasModel(model: Model, path: string): Promise<void> {
  await writeModelFiles(path, await model.toFiles(basename(path)));
}

/** ModelCheckpoint writing to disk. */
export function modelCheckpoint(args: Omit<ModelCheckpointArgs, 'write'>): ModelCheckpoint {
  return new ModelCheckpoint({ ...args, write: writeModelFiles });
}

registerKerasFileSystem({ write: writeModelFiles, read: loadKerasModel, readBytes });
