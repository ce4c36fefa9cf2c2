/**
 * Keras 3 `.keras` archives: a zip with `metadata.json` (Keras version), `config.json` (the
 * serialised model) and `model.weights.h5` (`layers/<name>/vars/<i>`). Recognised by magic bytes
 * (zip holding config.json), never by extension: HDF5 files named `.keras` exist and go to the
 * HDF5 reader. Zip names, sizes and CRCs are validated by src/formats/zip.ts.
 * Reference: keras/src/saving/saving_lib.py.
 */
import { RosettaError } from '../../ir/errors.js';
import type { Model } from '../../ir/graph.js';
import { readZip } from '../../formats/zip.js';
import { withHdf5 } from '../../formats/hdf5.js';
import { keras3WeightSource, parseJson } from './h5.js';
import { lowerKerasModel } from './lower.js';
import { normalizeModel } from './normalize.js';

export async function readKerasZip(bytes: Uint8Array, file: string): Promise<Model> {
  const zip = readZip(bytes, { file });
  if (!zip.has('config.json')) throw new RosettaError('E_BAD_FORMAT', 'the .keras archive has no config.json', { where: { file }, hint: 'is this a Keras 3 .keras file?' });
  const dec = new TextDecoder();
  const configText = dec.decode(zip.read('config.json'));
  const meta = zip.has('metadata.json') ? (parseJson(dec.decode(zip.read('metadata.json')), 'metadata.json', file) as Record<string, unknown>) : {};
  const kerasVersion = typeof meta.keras_version === 'string' ? meta.keras_version : '3';
  const norm = normalizeModel(parseJson(configText, 'config.json', file), file);
  const lower = (weights?: ReturnType<typeof keras3WeightSource>): Model => {
    const model = lowerKerasModel(norm, { file, kerasVersion, weights });
    model.sourceFormat = 'keras';
    model.metadata['keras.config'] = configText;
    model.metadata['keras.version'] = kerasVersion;
    return model;
  };
  if (!zip.has('model.weights.h5')) {
    if (zip.has('model.weights.npz')) throw new RosettaError('E_UNSUPPORTED', 'npz-format .keras weights are not supported', { where: { file, entry: 'model.weights.npz' } });
    throw new RosettaError('E_MISSING_WEIGHT', 'the .keras archive has no model.weights.h5', { where: { file } });
  }
  return withHdf5(zip.read('model.weights.h5'), `${file}:model.weights.h5`, (r) => lower(keras3WeightSource(r)));
}
