/**
 * PyTorch-style output for whole models: the state dict under PyTorch's key names and layouts
 * (src/convert/to-pytorch.ts) plus a sibling TypeScript module on the `src/nn` API that loads it
 * (module-source.ts). `model.pt` → `model.pt` + `model.ts`; `model.safetensors` → the same state
 * dict as safetensors + `model.ts`. Bare weight sets are written unchanged by the plain writers
 * in src/exporters/pytorch. Registered for the `pytorch` and `safetensors` formats in
 * src/exporters/index.ts.
 */
import type { Model } from '../../ir/graph.js';
import type { Tensor } from '../../ir/tensor.js';
import { planPyTorch, type TorchPlan } from '../../convert/to-pytorch.js';
import { writeSafetensors } from '../../formats/safetensors.js';
import { writeTorch } from '../../formats/torch.js';
import type { WeightSet } from '../../importers/types.js';
import { pytorchExporter, safetensorsExporter } from '../pytorch/index.js';
import type { ExportOptions, ExportResult, Exporter } from '../types.js';
import { moduleSource, type ModuleSourceOptions } from './module-source.js';

export { moduleSource, type ModuleSourceOptions } from './module-source.js';

/** The PyTorch form of a model: state dict, TypeScript source and the plan behind both. */
export interface PyTorchForm {
  stateDict: Map<string, Tensor>;
  source: string;
  plan: TorchPlan;
}

/** Convert any IR model to its PyTorch form (throws E_UNSUPPORTED_OP naming the node it cannot express). */
export function toPyTorch(model: Model, opts: ExportOptions & ModuleSourceOptions = {}): PyTorchForm {
  const plan = planPyTorch(model, { allowCustom: opts.allowCustom });
  const source = moduleSource(plan, { source: model.sourceFormat ? `a ${model.sourceFormat} model` : undefined, ...opts });
  return { stateDict: plan.stateDict, source, plan };
}

/** `dir/name.pt` → `name.ts`. */
function siblingName(mainName: string): string {
  const base = mainName.replace(/\.(pt|pth|bin|safetensors)$/i, '');
  return `${base}.ts`;
}

function withModule(format: 'pytorch' | 'safetensors', plain: Exporter, write: (sd: Map<string, Tensor>, model: Model) => Uint8Array): Exporter {
  return {
    format,
    extensions: plain.extensions,
    async exportWeights(weights: WeightSet, mainName: string, opts?: ExportOptions): Promise<ExportResult> {
      return plain.exportWeights!(weights, mainName, opts);
    },
    async exportModel(model: Model, mainName: string, opts: ExportOptions = {}): Promise<ExportResult> {
      const ts = siblingName(mainName);
      const form = toPyTorch(model, { ...opts, stateDictFile: mainName });
      const files = new Map<string, Uint8Array>([
        [mainName, write(form.stateDict, model)],
        [ts, new TextEncoder().encode(form.source)],
      ]);
      const rewrites = [...form.plan.rewrites, { kind: 'pytorch-module', scope: '', detail: `${form.stateDict.size} state-dict entries under PyTorch names; module definition in ${ts}` }];
      return { files, mainName, rewrites };
    },
  };
}

/** `.pt/.pth/.bin`: whole models as PyTorch state dict + `.ts` module; weight sets as they are. */
export const pytorchModuleExporter = withModule('pytorch', pytorchExporter, (sd) => writeTorch(sd));
/** `.safetensors`: whole models as PyTorch state dict + `.ts` module; weight sets as they are. */
export const safetensorsModuleExporter = withModule('safetensors', safetensorsExporter, (sd, m) => writeSafetensors(sd, m.metadata));
