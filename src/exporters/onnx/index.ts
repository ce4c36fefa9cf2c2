/**
 * The ONNX exporter: IR `Model` → ModelProto bytes (plus an external-data file when asked or when
 * the weights exceed protobuf's 2 GB limit).
 *
 * Opset choice (docs/decisions.md §5): the lowest default-domain opset in which every node's form
 * is valid (opset.ts `formSince`), but never below the opset the model was imported from (type
 * support also changes between versions and the source opset is known to cover the model's types)
 * nor below 13 for models from other formats. A lower `opset` option lowers forms where possible.
 * Initializers are written as raw_data; external data follows
 * https://onnx.ai/onnx/repo-docs/ExternalData.html (`location`, `offset`, `length`).
 */
import { dtypeToOnnx, type DType } from '../../ir/dtype.js';
import { RosettaError } from '../../ir/errors.js';
import type { Attr, Graph, Model, ValueInfo, ValueType } from '../../ir/graph.js';
import { inferTypes } from '../../ir/infer.js';
import type { Tensor } from '../../ir/tensor.js';
import { encodeOnnxMessage, stringToBytes } from '../../formats/onnx-proto.js';
import { tensorRawBytes, tensorToProto } from '../../importers/onnx/tensor.js';
import type { ExportOptions, ExportResult, Exporter } from '../types.js';
import { formSince, formUntil, lowerGraph, raiseGraph, tensorTypesOf } from './opset.js';

export { DOWNGRADES, FORM_SINCE, formSince, formUntil, lowerGraph, raiseGraph } from './opset.js';

/** Opset floor for models that did not come from ONNX. */
export const MIN_OPSET = 13;
/** Newest default-domain opset the exporter writes on request (a model imported at a newer one keeps it). */
export const MAX_OPSET = 21;
/** Protobuf messages cannot exceed 2 GB: above this total, weights go to external data. */
const PROTOBUF_LIMIT = 2 ** 31 - 1;
/** With external data forced by size, tensors from this many bytes go out (ONNX's default). */
const DEFAULT_EXTERNAL_MIN = 1024;

/** IR version that a default-domain opset implies (ONNX release table). */
function irVersionFor(opset: number): number {
  // IR 3 would require every initializer to be listed as a graph input too; 4 lifted that.
  if (opset <= 9) return 4;
  if (opset <= 10) return 5;
  if (opset <= 11) return 6;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

/** IR version an element type needs (float8: 9, int4: 10). */
function irVersionForDType(d: DType): number {
  if (d.startsWith('float8')) return 9;
  if (d === 'int4' || d === 'uint4') return 10;
  return 3;
}

export interface OnnxExportOptions {
  /** Default-domain opset to write (lower than needed: forms are lowered or E_UNSUPPORTED). */
  opset?: number;
  /** Tensors of at least this many bytes go to external data (default: only above 2 GB total). */
  externalDataThreshold?: number;
  /** Name of the main file (external data goes to `<name>.data` beside it). */
  mainName?: string;
}

function walkGraphs(g: Graph, f: (g: Graph) => void): void {
  f(g);
  for (const n of g.nodes) for (const a of Object.values(n.attrs)) {
    if (a.type === 'graph') walkGraphs(a.value, f);
    if (a.type === 'graphs') a.value.forEach((sg) => walkGraphs(sg, f));
  }
}

/** The opset the exporter would choose for `model` (before lowering). */
export function chooseOpset(model: Model): number {
  let need = model.sourceFormat === 'onnx' ? 1 : MIN_OPSET;
  if (model.sourceFormat === 'onnx' && model.sourceOpsets[''] !== undefined) need = Math.max(need, model.sourceOpsets['']);
  let cap = Infinity;
  let capNode = '';
  walkGraphs(model.graph, (g) => {
    const { dtypeOf, shapeOf } = tensorTypesOf(g);
    for (const n of g.nodes) {
      if (n.domain !== '') continue;
      need = Math.max(need, formSince(n, dtypeOf, shapeOf));
      if (formUntil(n) < cap) {
        cap = formUntil(n);
        capNode = n.name;
      }
    }
  });
  if (need > cap) {
    throw new RosettaError('E_UNSUPPORTED', `node ${capNode} uses a form valid only up to opset ${cap}, but other nodes need opset ${need}`, { where: { node: capNode }, hint: 'the model mixes legacy and current operator forms; ONNX cannot express it in one opset' });
  }
  return need;
}

interface Writer {
  external: { threshold: number; location: string; chunks: Uint8Array[]; size: number } | undefined;
  dtypes: Set<DType>;
}

function typeProto(t: ValueType): Record<string, unknown> {
  const shape = (s: readonly (number | string | null)[] | undefined): Record<string, unknown> | undefined =>
    s && { dim: s.map((d) => (typeof d === 'number' ? { dim_value: d } : typeof d === 'string' ? { dim_param: d } : {})) };
  switch (t.kind) {
    case 'tensor':
      return { tensor_type: { elem_type: dtypeToOnnx(t.dtype), ...(t.shape ? { shape: shape(t.shape) } : {}) } };
    case 'sparse_tensor':
      return { sparse_tensor_type: { elem_type: dtypeToOnnx(t.dtype), ...(t.shape ? { shape: shape(t.shape) } : {}) } };
    case 'sequence':
      return { sequence_type: { elem_type: typeProto(t.elem) } };
    case 'optional':
      return { optional_type: { elem_type: typeProto(t.elem) } };
    case 'map':
      return { map_type: { key_type: dtypeToOnnx(t.key), value_type: typeProto(t.value) } };
  }
}

function valueInfoProto(v: ValueInfo): Record<string, unknown> {
  const out: Record<string, unknown> = { name: v.name };
  if (v.type) out['type'] = typeProto(v.type);
  if (v.doc) out['doc_string'] = v.doc;
  return out;
}

function tensorProto(t: Tensor, name: string, w: Writer): Record<string, unknown> {
  w.dtypes.add(t.dtype);
  const ext = w.external;
  if (ext && t.dtype !== 'string') {
    const raw = tensorRawBytes(t);
    if (raw.length >= ext.threshold) {
      // Align each tensor to 64 bytes so readers may map it directly.
      const pad = (64 - (ext.size % 64)) % 64;
      if (pad) ext.chunks.push(new Uint8Array(pad));
      const offset = ext.size + pad;
      ext.chunks.push(raw);
      ext.size = offset + raw.length;
      return {
        name,
        dims: t.shape.slice(),
        data_type: dtypeToOnnx(t.dtype),
        data_location: 1,
        external_data: [
          { key: 'location', value: ext.location },
          { key: 'offset', value: String(offset) },
          { key: 'length', value: String(raw.length) },
        ],
      };
    }
  }
  return tensorToProto(t, name) as Record<string, unknown>;
}

function attrProto(name: string, a: Attr, w: Writer): Record<string, unknown> {
  switch (a.type) {
    case 'float':
      return { name, type: 1, f: a.value };
    case 'int':
      return { name, type: 2, i: a.value };
    case 'string':
      return { name, type: 3, s: stringToBytes(a.value) };
    case 'tensor':
      return { name, type: 4, t: tensorProto(a.value, '', { ...w, external: undefined }) };
    case 'graph':
      return { name, type: 5, g: graphProto(a.value, w) };
    case 'floats':
      return { name, type: 6, floats: a.value };
    case 'ints':
      return { name, type: 7, ints: a.value };
    case 'strings':
      return { name, type: 8, strings: a.value.map(stringToBytes) };
    case 'tensors':
      return { name, type: 9, tensors: a.value.map((t) => tensorProto(t, '', { ...w, external: undefined })) };
    case 'graphs':
      return { name, type: 10, graphs: a.value.map((g) => graphProto(g, w)) };
    case 'type_proto':
      return { name, type: 13, tp: typeProto(a.value) };
    case 'type_protos':
      return { name, type: 14, type_protos: a.value.map(typeProto) };
  }
}

function graphProto(g: Graph, w: Writer): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: g.name,
    node: g.nodes.map((n) => {
      const pb: Record<string, unknown> = { input: n.inputs, output: n.outputs, name: n.name, op_type: n.opType, attribute: Object.entries(n.attrs).map(([k, a]) => attrProto(k, a, w)) };
      if (n.domain) pb['domain'] = n.domain;
      if (n.doc) pb['doc_string'] = n.doc;
      return pb;
    }),
    initializer: [...g.initializers].map(([name, t]) => tensorProto(t, name, w)),
    input: g.inputs.map(valueInfoProto),
    output: g.outputs.map(valueInfoProto),
    value_info: [...g.valueInfo.values()].map(valueInfoProto),
  };
  if (g.doc) out['doc_string'] = g.doc;
  return out;
}

/**
 * A model imported from ONNX is written back at its own opset when its upgraded forms lower back
 * (e.g. ReduceMean-13's axes attribute, which the IR holds as the opset-18 input): the round trip
 * then keeps the operator versions the model was made with.
 */
function sourceOpsetIfLowerable(model: Model, natural: number, file: string): number | undefined {
  const source = model.sourceFormat === 'onnx' ? model.sourceOpsets[''] : undefined;
  if (source === undefined || source >= natural) return undefined;
  try {
    lowerGraph(model.graph, source, undefined, file);
    return source;
  } catch {
    return undefined;
  }
}

/**
 * Before IR 4 every initializer also had to be a graph input, and runtimes treat those as
 * constants; from IR 4 an initializer listed as an input is an overridable default. We write IR
 * ≥ 4, so such inputs of an IR < 4 model are dropped to keep their constant meaning.
 */
function dropLegacyInitializerInputs(g: Graph, model: Model): Graph {
  if (model.irVersion === undefined || model.irVersion >= 4) return g;
  return { ...g, inputs: g.inputs.filter((v) => !g.initializers.has(v.name)) };
}

/**
 * The spec requires types on the main graph's inputs and outputs; fill the ones the IR lacks from
 * static inference (src/ir/infer.ts) where it can tell.
 */
function withTopLevelTypes(g: Graph): Graph {
  if (g.inputs.every((v) => v.type) && g.outputs.every((v) => v.type)) return g;
  const types = inferTypes(g);
  const fill = (v: ValueInfo): ValueInfo => (v.type || !types.has(v.name) ? v : { ...v, type: types.get(v.name)! });
  return { ...g, inputs: g.inputs.map(fill), outputs: g.outputs.map(fill) };
}

function totalInitializerBytes(g: Graph): number {
  let n = 0;
  walkGraphs(g, (sg) => {
    for (const t of sg.initializers.values()) n += Array.isArray(t.data) ? 0 : t.data.byteLength;
  });
  return n;
}

/** Export a model as ONNX. The first file of the result is the model; the second, if any, its external data. */
export function exportOnnx(model: Model, opts: OnnxExportOptions = {}): ExportResult {
  const mainName = opts.mainName ?? 'model.onnx';
  const natural = chooseOpset(model);
  const opset = opts.opset ?? sourceOpsetIfLowerable(model, natural, mainName) ?? natural;
  walkGraphs(model.graph, (g) => {
    for (const n of g.nodes) {
      if (n.domain === '' && formUntil(n) < opset) {
        throw new RosettaError('E_UNSUPPORTED', `${n.opType} here is in its opset-${formUntil(n)} form, which opset ${opset} cannot express`, { where: { file: mainName, node: n.name }, hint: `export with --opset ${formUntil(n)}` });
      }
    }
  });
  const highest = Math.max(MAX_OPSET, natural);
  if (!Number.isInteger(opset) || opset < 1 || opset > highest) {
    throw new RosettaError('E_USAGE', `opset ${opset} is not one Rosetta writes`, { hint: `choose an opset between 1 and ${highest}` });
  }
  const graph = raiseGraph(opset < natural ? lowerGraph(model.graph, opset, undefined, mainName) : model.graph, opset);
  const base = mainName.split(/[\\/]/).pop() ?? mainName;
  const forced = opts.externalDataThreshold !== undefined;
  const tooBig = totalInitializerBytes(graph) > PROTOBUF_LIMIT - 64 * 1024 * 1024;
  const w: Writer = {
    external: forced || tooBig ? { threshold: forced ? opts.externalDataThreshold! : DEFAULT_EXTERNAL_MIN, location: `${base}.data`, chunks: [], size: 0 } : undefined,
    dtypes: new Set(),
  };
  const g = graphProto(withTopLevelTypes(dropLegacyInitializerInputs(graph, model)), w);
  let ir = irVersionFor(opset);
  for (const d of w.dtypes) ir = Math.max(ir, irVersionForDType(d));
  const opsetImport = [{ domain: '', version: opset }];
  const domains = new Set<string>();
  walkGraphs(graph, (sg) => sg.nodes.forEach((n) => n.domain && domains.add(n.domain)));
  for (const d of [...domains].sort()) opsetImport.push({ domain: d, version: model.sourceOpsets[d] ?? 1 });
  const pb: Record<string, unknown> = {
    ir_version: ir,
    opset_import: opsetImport,
    producer_name: 'rosetta',
    producer_version: '0.1.0',
    graph: g,
    metadata_props: Object.entries(model.metadata).map(([key, value]) => ({ key, value })),
  };
  if (model.domain) pb['domain'] = model.domain;
  if (model.modelVersion) pb['model_version'] = model.modelVersion;
  if (model.doc) pb['doc_string'] = model.doc;
  const files = new Map<string, Uint8Array>();
  files.set(mainName, encodeOnnxMessage('ModelProto', pb));
  if (w.external && w.external.size > 0) {
    const data = new Uint8Array(w.external.size);
    let off = 0;
    for (const c of w.external.chunks) {
      data.set(c, off);
      off += c.length;
    }
    files.set(w.external.location, data);
  }
  const rewrites = opset < natural ? [{ kind: 'onnx-opset-lowered', scope: '', detail: `forms lowered from opset ${natural} to ${opset}` }] : [];
  return { files, mainName, rewrites };
}

export const onnxExporter: Exporter = {
  format: 'onnx',
  extensions: ['.onnx'],
  exportModel: async (model, mainName, opts: ExportOptions = {}) => exportOnnx(model, { mainName, opset: opts.opset, externalDataThreshold: opts.externalDataThreshold }),
};
