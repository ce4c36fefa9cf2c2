/**
 * Keras importers for the format registry: legacy HDF5 (`keras-h5`), Keras 3 zip (`keras`),
 * tfjs-layers `model.json` (`tfjs`) and architecture-only model JSON (`keras-json`).
 * Detection is by content: HDF5 signature, zip holding `config.json`, JSON with `modelTopology`,
 * JSON with `class_name` + `config`.
 */
import { RosettaError } from '../../ir/errors.js';
import { isHdf5 } from '../../formats/hdf5.js';
import { isZip } from '../../formats/zip.js';
import type { FileSource, ImportResult, Importer } from '../types.js';
import { modelFromJsonAndWeights, parseJson, readKerasH5 } from './h5.js';
import { readKerasZip } from './keras-zip.js';
import { lowerKerasModel } from './lower.js';
import { normalizeModel } from './normalize.js';
import { looksLikeTfjs, parseTfjs, readTfjsWeights, tfjsTopology, tfjsWeightSource } from './tfjs.js';

export type * from './config-types.js';
export { lowerKerasModel, type LowerOptions } from './lower.js';
export { normalizeModel } from './normalize.js';
export { modelFromJsonAndWeights, readKerasH5 } from './h5.js';
export { readKerasZip } from './keras-zip.js';

export const kerasH5Importer: Importer = {
  format: 'keras-h5',
  match: (bytes) => isHdf5(bytes),
  async open(src: FileSource): Promise<ImportResult> {
    const r = await readKerasH5(src.bytes, src.name);
    if (r.kind === 'model') {
      r.model!.sourceFormat = 'keras-h5';
      return { kind: 'model', model: r.model! };
    }
    return { kind: 'weights', weights: { format: 'keras-h5', tensors: r.weights!, metadata: r.metadata, notes: ['Keras weights-only file: the architecture must come from a model JSON'] } };
  },
};

/** A zip is a `.keras` file when it holds config.json (torch zips hold data.pkl instead). */
function zipHasKerasConfig(bytes: Uint8Array): boolean {
  if (!isZip(bytes)) return false;
  // Pure sniff: look for the entry name in the first local headers / central directory.
  const text = new TextDecoder('latin1').decode(bytes.length > 1 << 20 ? bytes.subarray(bytes.length - (1 << 20)) : bytes);
  return text.includes('config.json') && text.includes('model.weights');
}

export const kerasZipImporter: Importer = {
  format: 'keras',
  match: (bytes) => zipHasKerasConfig(bytes),
  async open(src: FileSource): Promise<ImportResult> {
    return { kind: 'model', model: await readKerasZip(src.bytes, src.name) };
  },
};

export const tfjsImporter: Importer = {
  format: 'tfjs',
  match: (bytes) => looksLikeTfjs(bytes),
  async open(src: FileSource): Promise<ImportResult> {
    const json = parseTfjs(src.bytes, src.name);
    const top = tfjsTopology(json, src.name);
    const weights = await readTfjsWeights(json, src);
    const model = lowerKerasModel(normalizeModel(top.model, src.name), { file: src.name, kerasVersion: top.kerasVersion, backend: top.backend, weights: tfjsWeightSource(weights) });
    model.sourceFormat = 'tfjs';
    model.metadata['keras.config'] = JSON.stringify(top.model);
    if (top.kerasVersion) model.metadata['keras.version'] = top.kerasVersion;
    return { kind: 'model', model };
  },
};

function looksLikeKerasJson(bytes: Uint8Array): boolean {
  const head = new TextDecoder().decode(bytes.subarray(0, Math.min(bytes.length, 4096)));
  return /^\s*\{/.test(head) && head.includes('"class_name"') && !head.includes('"modelTopology"');
}

export const kerasJsonImporter: Importer = {
  format: 'keras-json',
  match: (bytes) => looksLikeKerasJson(bytes),
  async open(src: FileSource): Promise<ImportResult> {
    const text = new TextDecoder().decode(src.bytes);
    const json = parseJson(text, 'model JSON', src.name) as { keras_version?: string; backend?: string };
    if (typeof json !== 'object' || json === null) throw new RosettaError('E_BAD_FORMAT', 'model JSON is not an object', { where: { file: src.name } });
    // Architecture only: parameters are zero-filled; `modelFromJsonAndWeights` binds a weights file.
    const model = lowerKerasModel(normalizeModel(json, src.name), { file: src.name, kerasVersion: json.keras_version, backend: json.backend });
    model.sourceFormat = 'keras-json';
    model.metadata['keras.config'] = text;
    model.metadata['keras.weights'] = 'none (architecture only: parameters are zero)';
    return { kind: 'model', model };
  },
};

export { modelFromJsonAndWeights as kerasModelFromJsonAndWeights };
