/** Keras importers: not written yet (placeholders so the registry compiles; their owner replaces them). */
import { RosettaError } from '../../ir/errors.js';
import type { FormatName, Importer } from '../types.js';

const todo = (format: FormatName): Importer => ({
  format,
  match: () => false,
  open: async () => {
    throw new RosettaError('E_UNSUPPORTED', `the ${format} importer is not implemented yet`);
  },
});
export const kerasH5Importer = todo('keras-h5');
export const kerasZipImporter = todo('keras');
export const tfjsImporter = todo('tfjs');
export const kerasJsonImporter = todo('keras-json');
