/**
 * safetensors importer: one `.safetensors` file, or a sharded checkpoint through
 * `model.safetensors.index.json` (shards read with `FileSource.readSibling`, which keeps them inside
 * the checkpoint folder) → a `WeightSet`. Parsing and validation: src/formats/safetensors.ts.
 */
import { RosettaError } from '../../ir/errors.js';
import type { Tensor } from '../../ir/tensor.js';
import { isSafetensors, readSafetensors, readSafetensorsIndex } from '../../formats/safetensors.js';
import type { FileSource, ImportResult, Importer, WeightSet } from '../types.js';

async function openSharded(src: FileSource): Promise<WeightSet> {
  const index = readSafetensorsIndex(src.bytes, src.name);
  if (!src.readSibling) throw new RosettaError('E_USAGE', 'a sharded checkpoint needs access to its shard files', { where: { file: src.name }, hint: 'open it through the node API or CLI, which can read sibling files' });
  const tensors = new Map<string, Tensor>();
  const metadata: Record<string, string> = {};
  const notes: string[] = [];
  for (const [k, v] of Object.entries(index.metadata)) metadata[k] = typeof v === 'string' ? v : JSON.stringify(v);
  const shards = [...new Set(index.weightMap.values())];
  for (const shard of shards) {
    const f = readSafetensors(await src.readSibling(shard), shard);
    for (const [k, v] of f.metadata) metadata[k] = v;
    for (const [k, t] of f.tensors) {
      if (index.weightMap.get(k) !== shard) {
        notes.push(`${shard} holds '${k}', which the index does not assign to it; ignored`);
        continue;
      }
      tensors.set(k, t);
    }
  }
  const missing = [...index.weightMap.keys()].filter((k) => !tensors.has(k));
  if (missing.length) throw new RosettaError('E_BAD_FORMAT', `index lists ${missing.length} tensors its shards do not hold (first: '${missing[0]}')`, { where: { file: src.name } });
  notes.push(`sharded checkpoint: ${shards.length} shard(s)`);
  return { format: 'safetensors', tensors, metadata, notes };
}

export const safetensorsImporter: Importer = {
  format: 'safetensors',
  match(bytes: Uint8Array, name: string): boolean {
    const lower = name.toLowerCase();
    return isSafetensors(bytes) || lower.endsWith('.safetensors') || lower.endsWith('.safetensors.index.json');
  },
  async open(src: FileSource): Promise<ImportResult> {
    if (src.name.toLowerCase().endsWith('.index.json')) return { kind: 'weights', weights: await openSharded(src) };
    const f = readSafetensors(src.bytes, src.name);
    return { kind: 'weights', weights: { format: 'safetensors', tensors: f.tensors, metadata: Object.fromEntries(f.metadata), notes: [] } };
  },
};
