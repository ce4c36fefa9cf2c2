/** Exporter registry: one line per format, loaded lazily; chosen by `--to` or the output extension. */
import { RosettaError } from '../ir/errors.js';
import type { FormatName } from '../importers/types.js';
import type { Exporter } from './types.js';

export type * from './types.js';

const EXPORTERS: { format: FormatName; extensions: string[]; load: () => Promise<Exporter> }[] = [];

/** Register an exporter (called once per format in this file's list below). */
function add(format: FormatName, extensions: string[], load: () => Promise<Exporter>): void {
  EXPORTERS.push({ format, extensions, load });
}

// One line per format. Owners: add your line when the exporter exists.
add('onnx', ['.onnx'], async () => (await import('./onnx/index.js')).onnxExporter);
add('pytorch', ['.pt', '.pth', '.bin'], async () => (await import('./typescript/index.js')).pytorchModuleExporter);
add('safetensors', ['.safetensors'], async () => (await import('./typescript/index.js')).safetensorsModuleExporter);
add('keras', ['.keras'], async () => (await import('./keras/index.js')).kerasZipExporter);
add('keras-h5', ['.weights.h5', '.h5', '.hdf5'], async () => (await import('./keras/index.js')).kerasH5Exporter);
add('tfjs', ['model.json'], async () => (await import('./keras/index.js')).tfjsExporter);

export function exporterFormats(): FormatName[] {
  return EXPORTERS.map((e) => e.format);
}

export async function getExporter(format: FormatName): Promise<Exporter> {
  const e = EXPORTERS.find((x) => x.format === format);
  if (!e) throw new RosettaError('E_USAGE', `cannot write format '${format}'`, { hint: `writable formats: ${exporterFormats().join(', ') || 'none yet'}` });
  return e.load();
}

/** Pick an exporter from a file name's extension (`model.json` means tfjs). */
export function formatForOutput(name: string): FormatName {
  const lower = name.toLowerCase();
  if (lower.endsWith('model.json')) return 'tfjs';
  const e = EXPORTERS.find((x) => x.extensions.some((ext) => lower.endsWith(ext)));
  if (!e) throw new RosettaError('E_USAGE', `cannot tell the output format from '${name}'`, { hint: 'use an extension (.onnx, .pt, .safetensors, .h5, .keras, model.json) or --to' });
  return e.format;
}

void add;
