/**
 * The format registry: one line per format, modules loaded lazily (so a browser bundle that only
 * needs ONNX does not pull HDF5). Detection is by magic bytes first, then by extension.
 */
import { RosettaError } from '../ir/errors.js';
import type { FileSource, FormatName, ImportOptions, ImportResult, Importer } from './types.js';

export type * from './types.js';

const IMPORTERS: { format: FormatName; load: () => Promise<Importer> }[] = [
  { format: 'onnx', load: async () => (await import('./onnx/index.js')).onnxImporter },
  { format: 'pytorch', load: async () => (await import('./pytorch/index.js')).pytorchImporter },
  { format: 'safetensors', load: async () => (await import('./pytorch/safetensors.js')).safetensorsImporter },
  { format: 'keras-h5', load: async () => (await import('./keras/index.js')).kerasH5Importer },
  { format: 'keras', load: async () => (await import('./keras/index.js')).kerasZipImporter },
  { format: 'tfjs', load: async () => (await import('./keras/index.js')).tfjsImporter },
  { format: 'keras-json', load: async () => (await import('./keras/index.js')).kerasJsonImporter },
];

/** Importers in detection order. Magic-byte formats come before text/extension ones. */
export async function importers(): Promise<Importer[]> {
  return Promise.all(IMPORTERS.map((e) => e.load()));
}

export async function getImporter(format: FormatName): Promise<Importer> {
  const e = IMPORTERS.find((x) => x.format === format);
  if (!e) throw new RosettaError('E_USAGE', `no importer for format '${format}'`, { hint: `known formats: ${IMPORTERS.map((x) => x.format).join(', ')}` });
  return e.load();
}

/** Detect a file's format: every importer's `match` on the bytes (magic first), then the name. */
export async function detectFormat(bytes: Uint8Array, name: string): Promise<FormatName> {
  for (const imp of await importers()) if (imp.match(bytes, name)) return imp.format;
  throw new RosettaError('E_UNKNOWN_FORMAT', `cannot tell which model format this is`, {
    where: { file: name },
    hint: 'supported: .onnx, .pt/.pth/.bin, .safetensors, .h5/.hdf5, .keras, tfjs model.json; use --from to force one',
  });
}

/** Open any supported file. */
export async function importFile(src: FileSource, opts: ImportOptions & { format?: FormatName } = {}): Promise<ImportResult> {
  const format = opts.format ?? (await detectFormat(src.bytes, src.name));
  return (await getImporter(format)).open(src, opts);
}
