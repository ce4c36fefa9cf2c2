/** Importer for pytorch: not written yet (placeholder so the registry compiles; its owner replaces it). */
import { RosettaError } from '../../ir/errors.js';
import type { Importer } from '../types.js';

export const pytorchImporter: Importer = {
  format: 'pytorch',
  match: () => false,
  open: async () => {
    throw new RosettaError('E_UNSUPPORTED', 'the pytorch importer is not implemented yet');
  },
};
