/**
 * PyTorch-side exporters: `.pt/.pth/.bin` (torch.save zip layout, readable by
 * `torch.load(weights_only=True)` from PyTorch 1.13 on) and `.safetensors`.
 * Both write a flat state dict. For a whole model the learnable parameters and buffers
 * (`graph.params`, or every initializer when a graph records none) are written under their
 * initializer names; renaming to a PyTorch module's keys is the converter's job.
 */
import type { Model } from '../../ir/graph.js';
import type { Tensor } from '../../ir/tensor.js';
import { writeSafetensors } from '../../formats/safetensors.js';
import { writeTorch } from '../../formats/torch.js';
import type { WeightSet } from '../../importers/types.js';
import type { ExportResult, Exporter } from '../types.js';

/** The tensors of a model that belong in a state dict. */
export function modelStateDict(model: Model): Map<string, Tensor> {
  const g = model.graph;
  const out = new Map<string, Tensor>();
  for (const [name, t] of g.initializers) if (g.params.size === 0 || g.params.has(name)) out.set(name, t);
  return out;
}

function result(mainName: string, bytes: Uint8Array): ExportResult {
  return { files: new Map([[mainName, bytes]]), mainName, rewrites: [] };
}

export const pytorchExporter: Exporter = {
  format: 'pytorch',
  extensions: ['.pt', '.pth', '.bin'],
  async exportWeights(weights: WeightSet, mainName: string): Promise<ExportResult> {
    return result(mainName, writeTorch(weights.tensors));
  },
  async exportModel(model: Model, mainName: string): Promise<ExportResult> {
    return result(mainName, writeTorch(modelStateDict(model)));
  },
};

export const safetensorsExporter: Exporter = {
  format: 'safetensors',
  extensions: ['.safetensors'],
  async exportWeights(weights: WeightSet, mainName: string): Promise<ExportResult> {
    return result(mainName, writeSafetensors(weights.tensors, weights.metadata));
  },
  async exportModel(model: Model, mainName: string): Promise<ExportResult> {
    return result(mainName, writeSafetensors(modelStateDict(model), model.metadata));
  },
};
