/**
 * The contract of exporters: IR model (or weights) in, a set of files out. Exporters never write to
 * disk; `src/node` writes the returned files inside the target folder (rejecting escaping names).
 */
import type { Model, RewriteRecord } from '../ir/graph.js';
import type { FormatName, WeightSet } from '../importers/types.js';

export interface ExportOptions {
  /** ONNX: target opset (default: the lowest that expresses the graph). */
  opset?: number;
  /** ONNX: write initializers above this many bytes as external data (default: only above 2 GB). */
  externalDataThreshold?: number;
  /** Fall back to documented generic forms where the target lacks a layer. */
  allowCustom?: boolean;
}

export interface ExportResult {
  /** Files to write: the first is the main file, named by `mainName`; others are relative to it. */
  files: Map<string, Uint8Array>;
  mainName: string;
  rewrites: RewriteRecord[];
}

export interface Exporter {
  format: FormatName;
  /** File extensions that select this exporter (lower case, with dot). */
  extensions: string[];
  exportModel?(model: Model, mainName: string, opts?: ExportOptions): Promise<ExportResult>;
  exportWeights?(weights: WeightSet, mainName: string, opts?: ExportOptions): Promise<ExportResult>;
}
