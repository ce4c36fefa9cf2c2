/**
 * The contract between the format registry and each importer. One module per format, each with a
 * pure `match` sniff (never throws, never reads beyond what it is given) and an `open`.
 * Importers receive bytes, never paths: the node layer (`src/node`) reads files and implements
 * `readSibling` with root containment, so every importer also runs in a browser.
 */
import type { Model } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';

export type FormatName =
  | 'onnx'
  | 'pytorch' // torch.save zip or legacy pickle (.pt/.pth/.bin)
  | 'safetensors'
  | 'keras-h5' // legacy full model or weights-only HDF5
  | 'keras' // Keras 3 .keras zip
  | 'keras-json' // model.to_json() architecture only
  | 'tfjs' // tfjs-layers model.json + shards
  | 'npz';

export interface FileSource {
  /** Display name used in error messages (a path or a URL). */
  name: string;
  bytes: Uint8Array;
  /**
   * Read a file next to this one (ONNX external data, tfjs shards, sharded safetensors).
   * Implementations reject absolute paths, `..` and links escaping the folder with E_PATH_ESCAPE.
   */
  readSibling?(relPath: string): Promise<Uint8Array>;
}

export interface ImportOptions {
  /** Nested key to pick inside a checkpoint (`state_dict`, `model.ema`). */
  key?: string;
}

/** A set of named tensors without an architecture (state dict, safetensors, weights-only h5). */
export interface WeightSet {
  format: FormatName;
  tensors: Map<string, Tensor>;
  /** Free-form metadata (safetensors `__metadata__`, checkpoint scalars such as `epoch`). */
  metadata: Record<string, string>;
  /** Human-readable remarks (e.g. "pickled nn.Module: architecture must come from --arch"). */
  notes: string[];
}

export type ImportResult = { kind: 'model'; model: Model } | { kind: 'weights'; weights: WeightSet };

export interface Importer {
  format: FormatName;
  /** Pure sniff on the first bytes and the file name. Magic bytes win over the extension. */
  match(bytes: Uint8Array, name: string): boolean;
  open(src: FileSource, opts?: ImportOptions): Promise<ImportResult>;
}
