/**
 * PyTorch importer: `.pt/.pth/.bin/.ckpt` files written by `torch.save` (zip or legacy layout),
 * bare pickles, and sharded `pytorch_model.bin.index.json` checkpoints → a `WeightSet`.
 * Parsing lives in src/formats/torch.ts (never executes anything); this file picks the state dict
 * out of checkpoints (src/importers/pytorch/state-dict.ts) and reports what it did.
 */
import { RosettaError, wrapError } from '../../ir/errors.js';
import type { Tensor } from '../../ir/tensor.js';
import { readSafetensorsIndex } from '../../formats/safetensors.js';
import { isPickle, isTorchLegacy, readTorch } from '../../formats/torch.js';
import { isZip } from '../../formats/zip.js';
import type { FileSource, ImportOptions, ImportResult, Importer, WeightSet } from '../types.js';
import { flattenStateDict } from './state-dict.js';

export { flattenStateDict, type FlatStateDict } from './state-dict.js';

const EXTENSIONS = ['.pt', '.pth', '.bin', '.ckpt', '.pkl', '.pickle', '.tar'];

/** The name of the first local zip entry, without reading further (pure sniff). */
function firstZipName(bytes: Uint8Array): string {
  if (bytes.length < 30) return '';
  const n = bytes[26]! | (bytes[27]! << 8);
  return new TextDecoder('latin1').decode(bytes.subarray(30, Math.min(30 + n, bytes.length)));
}

/** Read a `.pt` (any layout) into a WeightSet. */
export function readPytorchWeights(bytes: Uint8Array, name: string, opts: ImportOptions = {}): WeightSet {
  const f = readTorch(bytes, name);
  let flat: ReturnType<typeof flattenStateDict>;
  try {
    flat = flattenStateDict(f.value, { key: opts.key, where: { file: name } });
  } catch (e) {
    // Tensors are materialised here, after readTorch: keep its no-raw-errors promise.
    throw wrapError(e, 'E_BAD_FORMAT', 'cannot read the tensors of this PyTorch file', { file: name });
  }
  const notes = [...f.notes, ...flat.notes];
  if (flat.tensors.size === 0) notes.push('no tensors found in this file');
  return { format: 'pytorch', tensors: flat.tensors, metadata: flat.metadata, notes };
}

async function openSharded(src: FileSource, opts: ImportOptions): Promise<WeightSet> {
  const index = readSafetensorsIndex(src.bytes, src.name);
  if (!src.readSibling) throw new RosettaError('E_USAGE', 'a sharded checkpoint needs access to its shard files', { where: { file: src.name }, hint: 'open it through the node API or CLI, which can read sibling files' });
  const tensors = new Map<string, Tensor>();
  const metadata: Record<string, string> = {};
  const notes: string[] = [];
  for (const shard of new Set(index.weightMap.values())) {
    const ws = readPytorchWeights(await src.readSibling(shard), shard, opts);
    for (const [k, t] of ws.tensors) {
      if (index.weightMap.get(k) !== shard) {
        notes.push(`${shard} holds '${k}', which the index does not assign to it; ignored`);
        continue;
      }
      tensors.set(k, t);
    }
    Object.assign(metadata, ws.metadata);
  }
  const missing = [...index.weightMap.keys()].filter((k) => !tensors.has(k));
  if (missing.length) throw new RosettaError('E_BAD_FORMAT', `index lists ${missing.length} tensors its shards do not hold (first: '${missing[0]}')`, { where: { file: src.name } });
  return { format: 'pytorch', tensors, metadata, notes };
}

export const pytorchImporter: Importer = {
  format: 'pytorch',
  match(bytes: Uint8Array, name: string): boolean {
    const lower = name.toLowerCase();
    if (lower.endsWith('.bin.index.json')) return true;
    if (isTorchLegacy(bytes) || isPickle(bytes)) return true;
    if (isZip(bytes)) return /(^|\/)data\.pkl$/.test(firstZipName(bytes)) || EXTENSIONS.some((e) => lower.endsWith(e));
    // Magic bytes win, but a file that claims to be a torch file by name is given to this importer
    // so it gets a precise error (a PNG renamed .pt, a protocol-0 pickle) instead of "unknown format".
    return EXTENSIONS.some((e) => lower.endsWith(e)) && !(bytes[0] === 0x7b || (bytes.length >= 4 && bytes[0] === 0x89 && bytes[1] === 0x48 && bytes[2] === 0x44 && bytes[3] === 0x46));
  },
  async open(src: FileSource, opts: ImportOptions = {}): Promise<ImportResult> {
    if (src.name.toLowerCase().endsWith('.index.json')) return { kind: 'weights', weights: await openSharded(src, opts) };
    return { kind: 'weights', weights: readPytorchWeights(src.bytes, src.name, opts) };
  },
};
