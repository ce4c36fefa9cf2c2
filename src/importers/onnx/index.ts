/** Importer for onnx: not written yet (placeholder so the registry compiles; its owner replaces it). */
import { RosettaError } from '../../ir/errors.js';
import type { Importer } from '../types.js';

export const onnxImporter: Importer = {
  format: 'onnx',
  match: () => false,
  open: async () => {
    throw new RosettaError('E_UNSUPPORTED', 'the onnx importer is not implemented yet');
  },
};
