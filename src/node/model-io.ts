/**
 * Load and save models, weights and tensors from Node paths, over the browser-safe registries.
 *
 * `loadModel`/`loadFile` read a file, detect its format (magic bytes, then extension; see
 * `src/importers/index.ts`) and import it with a `FileSource` whose siblings are confined to the
 * model's folder. `saveModel`/`saveWeights` ask the exporter chosen by `--to` or the extension
 * for its files and write them only inside the target folder. Tensor files (`.npy`, `.npz`, ONNX
 * `TensorProto` `.pb`) are what `rosetta run` and `--inputs` take.
 */
import { basename, dirname, extname } from 'node:path';
import { RosettaError } from '../ir/errors.js';
import type { Model } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import { formatForOutput, getExporter } from '../exporters/index.js';
import type { ExportOptions, ExportResult } from '../exporters/types.js';
import { detectFormat, importFile } from '../importers/index.js';
import type { FormatName, ImportOptions, ImportResult, WeightSet } from '../importers/types.js';
import { isNpy, readNpy, readNpz, writeNpy, writeNpz } from '../formats/npy.js';
import { isZip } from '../formats/zip.js';
import { openFile, readBytes, writeFilesInside } from './files.js';
import { HDF5_FORMATS, preflightImport } from './hdf5-guard.js';

/** Options for loading: importer options plus a forced format (`--from`). */
export interface LoadOptions extends ImportOptions {
  format?: FormatName;
}

/** Read and import any supported file: a model or a weight set. */
export async function loadFile(path: string, opts: LoadOptions = {}): Promise<ImportResult> {
  const src = await openFile(path);
  const format = opts.format ?? (await detectFormat(src.bytes, src.name));
  // libhdf5 can loop forever on corrupt files: bound it in a worker first (see hdf5-guard.ts).
  if (HDF5_FORMATS.has(format)) await preflightImport(path, { ...opts, format });
  return importFile(src, { ...opts, format });
}

/** Read and import a model; a weights-only file is an E_USAGE error saying so. */
export async function loadModel(path: string, opts: LoadOptions = {}): Promise<Model> {
  const r = await loadFile(path, opts);
  if (r.kind !== 'model') {
    throw new RosettaError('E_USAGE', `${path} holds weights only (${r.weights.format}), not a model with an architecture`, { where: { file: path }, hint: r.weights.notes[0] ?? 'give a model file (.onnx, a full Keras model, …)' });
  }
  return r.model;
}

/** Options for saving: exporter options plus a forced format (`--to`). */
export interface SaveOptions extends ExportOptions {
  format?: FormatName;
}

/** What was written. */
export interface SaveResult extends ExportResult {
  format: FormatName;
  /** Absolute paths written, main file first. */
  paths: string[];
}

/** Export a model and write its files next to `path` (the main file is `path` itself). */
export async function saveModel(model: Model, path: string, opts: SaveOptions = {}): Promise<SaveResult> {
  const format = opts.format ?? formatForOutput(path);
  const exporter = await getExporter(format);
  if (!exporter.exportModel) throw new RosettaError('E_USAGE', `the ${format} writer stores weights only, not whole models`, { hint: 'pick a model format for the output' });
  const r = await exporter.exportModel(model, basename(path), opts);
  return { ...r, format, paths: await writeFilesInside(dirname(path), mainFirst(r), path) };
}

/** Export a weight set and write its files next to `path`. */
export async function saveWeights(weights: WeightSet, path: string, opts: SaveOptions = {}): Promise<SaveResult> {
  const format = opts.format ?? formatForOutput(path);
  const exporter = await getExporter(format);
  if (!exporter.exportWeights) throw new RosettaError('E_USAGE', `the ${format} writer needs a model, not a bare weight set`, { hint: 'pick a weights format for the output (.safetensors, .pt, .h5)' });
  const r = await exporter.exportWeights(weights, basename(path), opts);
  return { ...r, format, paths: await writeFilesInside(dirname(path), mainFirst(r), path) };
}

function mainFirst(r: ExportResult): Map<string, Uint8Array> {
  const main = r.files.get(r.mainName);
  if (!main) throw new RosettaError('E_INTERNAL', `exporter returned no file named ${r.mainName}`);
  return new Map([[r.mainName, main], ...[...r.files].filter(([k]) => k !== r.mainName)]);
}

/**
 * Read one tensor from `.npy` or an ONNX `TensorProto` `.pb` (decided by magic bytes, then
 * extension: a `.pb` without the numpy magic is parsed as a TensorProto).
 */
export async function readTensorFile(path: string): Promise<Tensor> {
  const bytes = await readBytes(path);
  if (isNpy(bytes)) return readNpy(bytes, path);
  if (extname(path).toLowerCase() === '.pb') return (await import('../importers/onnx/index.js')).decodeTensorProto(bytes, path);
  throw new RosettaError('E_UNKNOWN_FORMAT', `${path} is neither a .npy file nor an ONNX TensorProto .pb`, { where: { file: path }, hint: 'write inputs with numpy.save or onnx.numpy_helper.from_array' });
}

/** Read every array of a `.npz` file (name without `.npy` → tensor). */
export async function readTensorsFile(path: string): Promise<Map<string, Tensor>> {
  const bytes = await readBytes(path);
  if (!isZip(bytes)) throw new RosettaError('E_BAD_FORMAT', `${path} is not a .npz (zip) file`, { where: { file: path }, hint: 'write it with numpy.savez' });
  return readNpz(bytes, path);
}

/** Write `files` (name → bytes) into `folder` (created if needed), refusing escaping names. */
export async function writeFiles(folder: string, files: ReadonlyMap<string, Uint8Array>): Promise<string[]> {
  return writeFilesInside(folder, files, folder);
}

/** Write one file at `path` (its folder is created if needed). */
export async function writeFileAt(path: string, bytes: Uint8Array): Promise<string> {
  const [p] = await writeFilesInside(dirname(path), new Map([[basename(path), bytes]]), path);
  return p!;
}

/** Write one tensor as `.npy`. */
export async function writeNpyFile(path: string, t: Tensor): Promise<string> {
  const [p] = await writeFilesInside(dirname(path), new Map([[basename(path), writeNpy(t)]]), path);
  return p!;
}

/** Write tensors as one `.npz`. */
export async function writeNpzFile(path: string, tensors: ReadonlyMap<string, Tensor>, compress = false): Promise<string> {
  const [p] = await writeFilesInside(dirname(path), new Map([[basename(path), writeNpz(tensors, { compress })]]), path);
  return p!;
}
