/** Importer for safetensors: not written yet (placeholder so the registry compiles; its owner replaces it). */
import { RosettaError } from '../../ir/errors.js';
import type { Importer } from '../types.js';

export const safetensorsImporter: Importer = {
  format: 'safetensors',
  match: () => false,
  open: async () => {
    throw new RosettaError('E_UNSUPPORTED', 'the safetensors importer is not implemented yet');
  },
};
