/**
 * The ONNX importer: `.onnx` bytes → IR `Model`. Decoding lives in src/formats/onnx-proto.ts,
 * tensors in ./tensor.ts, graphs/attributes/functions in ./graph.ts, opset upgrades in ./opset.ts.
 * External data is read only through `FileSource.readSibling`, and its `location` is checked here
 * too (no absolute paths, no `..`), so a hostile model cannot name files outside its folder.
 * Spec: https://onnx.ai/onnx/repo-docs/IR.html, https://onnx.ai/onnx/repo-docs/ExternalData.html
 */
import { RosettaError, wrapError } from '../../ir/errors.js';
import type { Model } from '../../ir/graph.js';
import type { Tensor } from '../../ir/tensor.js';
import type { ValueType } from '../../ir/graph.js';
import { dtypeFromOnnx, isFloatDType } from '../../ir/dtype.js';
import { decodeOnnxMessage, longToNumber, type GraphPb, type ModelPb, type OptionalPb, type SequencePb, type TensorPb } from '../../formats/onnx-proto.js';
import type { OptionalValue, SequenceValue, Value } from '../../runtime/value.js';
import type { FileSource, ImportResult, Importer } from '../types.js';
import { functionKey, importGraph, MAX_GRAPH_DEPTH, normDomain, type ModelImportContext } from './graph.js';
import { externalDataInfo, isExternal, sparseToDense, tensorFromProto } from './tensor.js';

export { MAX_GRAPH_DEPTH, scopeFromName, valueTypeFromProto } from './graph.js';
export { UPGRADES } from './opset.js';
export { rawByteLength, sparseToDense, tensorFromProto, tensorRawBytes, tensorToProto } from './tensor.js';

/* ModelProto field numbers and wire types, for the sniff (onnx.proto). */
const MODEL_FIELDS: Record<number, number> = { 1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2, 26: 2 };

/**
 * Pure sniff: walks the top-level protobuf fields (skipping payloads) and accepts when every field
 * is a ModelProto field with the right wire type, `ir_version` comes first and a graph is present.
 * Never throws, never reads past `bytes`.
 */
export function looksLikeOnnxModel(bytes: Uint8Array): boolean {
  if (bytes.length < 4 || bytes[0] !== 0x08) return false;
  let pos = 0;
  let sawGraph = false;
  const varint = (): number | undefined => {
    let v = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      if (pos >= bytes.length) return undefined;
      const b = bytes[pos++]!;
      if (shift < 53) v += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return v;
    }
    return undefined;
  };
  for (let fields = 0; pos < bytes.length && fields < 10000; fields++) {
    const tag = varint();
    if (tag === undefined) return false;
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (MODEL_FIELDS[field] !== wire) return false;
    if (wire === 0) {
      if (varint() === undefined) return false;
    } else {
      const len = varint();
      if (len === undefined || pos + len > bytes.length) return false;
      pos += len;
    }
    if (field === 7) sawGraph = true;
  }
  return sawGraph;
}

export const onnxImporter: Importer = {
  format: 'onnx',
  match: (bytes, name) => {
    try {
      return looksLikeOnnxModel(bytes) || /\.onnx$/i.test(name);
    } catch {
      return false;
    }
  },
  open: async (src): Promise<ImportResult> => ({ kind: 'model', model: await importOnnx(src.bytes, src) }),
};

/**
 * Reject external-data locations that could leave the model's folder. `readSibling` checks again
 * (symlinks), but this is the layer that knows the path came from untrusted bytes.
 */
export function checkExternalLocation(location: string, file: string): void {
  const bad =
    location === '' ||
    location.includes('\0') ||
    location.startsWith('/') ||
    location.startsWith('\\') ||
    /^[A-Za-z]:/.test(location) ||
    location.split(/[\\/]/).some((p) => p === '..');
  if (bad) {
    throw new RosettaError('E_PATH_ESCAPE', `external data location '${location}' leaves the model's folder`, { where: { file }, hint: 'external data must be a relative path inside the folder of the .onnx file' });
  }
}

/** Every TensorProto of a graph (initializers, attribute tensors, subgraphs), for external data. */
function* graphTensors(g: GraphPb, depth = 0): Generator<TensorPb> {
  if (depth > MAX_GRAPH_DEPTH) return; // importGraph reports E_LIMIT
  yield* g.initializer ?? [];
  for (const sp of g.sparse_initializer ?? []) {
    if (sp.values) yield sp.values;
    if (sp.indices) yield sp.indices;
  }
  for (const n of g.node ?? []) {
    for (const a of n.attribute ?? []) {
      if (a.t) yield a.t;
      yield* a.tensors ?? [];
      if (a.g) yield* graphTensors(a.g, depth + 1);
      for (const sg of a.graphs ?? []) yield* graphTensors(sg, depth + 1);
    }
  }
}

async function loadExternal(model: ModelPb, src: Pick<FileSource, 'name' | 'readSibling'>): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  const graphs: GraphPb[] = model.graph ? [model.graph] : [];
  for (const f of model.functions ?? []) for (const n of f.node ?? []) for (const a of n.attribute ?? []) if (a.g) graphs.push(a.g);
  for (const g of graphs) {
    for (const t of graphTensors(g)) {
      if (!isExternal(t)) continue;
      const loc = externalDataInfo(t)['location'] ?? '';
      checkExternalLocation(loc, src.name);
      if (files.has(loc)) continue;
      if (!src.readSibling) {
        throw new RosettaError('E_UNSUPPORTED', `tensor '${t.name}' keeps its data in external file '${loc}', but the model was given as bytes without its folder`, { where: { file: src.name }, hint: 'open the model from a file (or pass a FileSource with readSibling)' });
      }
      try {
        files.set(loc, await src.readSibling(loc));
      } catch (e) {
        throw wrapError(e, 'E_IO', `cannot read external data file '${loc}'`, { file: src.name }, 'external data files must sit next to the .onnx file');
      }
    }
  }
  return files;
}

/** Import an ONNX model. */
export async function importOnnx(bytes: Uint8Array, src: Pick<FileSource, 'name' | 'readSibling'> = { name: '<bytes>' }): Promise<Model> {
  const file = src.name;
  const pb = decodeOnnxMessage<ModelPb>('ModelProto', bytes, file);
  if (!pb.graph) throw new RosettaError('E_BAD_FORMAT', 'the ModelProto has no graph', { where: { file }, hint: 'this is not an ONNX model (or an empty one)' });
  const opsets: Record<string, number> = {};
  for (const o of pb.opset_import ?? []) opsets[normDomain(o.domain)] = longToNumber(o.version);
  if (!pb.opset_import?.length) opsets[''] = 1; // IR < 3 had no opset_import: opset 1
  const functions = new Map(
    (pb.functions ?? []).map((f) => [functionKey(f.domain ?? '', f.name ?? '', f.overload ?? ''), f] as const),
  );
  const external = await loadExternal(pb, src);
  const ctx: ModelImportContext = { file, external, opsets, functions, rewrites: [], names: collectNames(pb.graph) };
  let graph;
  try {
    graph = importGraph(pb.graph, ctx);
  } catch (e) {
    throw wrapError(e, 'E_BAD_FORMAT', 'cannot import the ONNX graph', { file });
  }
  registerParams(graph);
  const metadata: Record<string, string> = {};
  for (const m of pb.metadata_props ?? []) if (m.key) metadata[m.key] = m.value ?? '';
  const model: Model = { graph, sourceOpsets: opsets, metadata, sourceFormat: 'onnx', rewrites: ctx.rewrites };
  if (pb.ir_version !== undefined) model.irVersion = longToNumber(pb.ir_version);
  if (pb.producer_name) model.producerName = pb.producer_name;
  if (pb.producer_version) model.producerVersion = pb.producer_version;
  if (pb.domain) model.domain = pb.domain;
  if (pb.model_version !== undefined && longToNumber(pb.model_version)) model.modelVersion = longToNumber(pb.model_version);
  if (pb.doc_string) model.doc = pb.doc_string;
  return model;
}

/** Input positions that hold a layer's weights, by op: role names as PyTorch calls them. */
const PARAM_ROLES: Record<string, (string | undefined)[]> = {
  Conv: [undefined, 'weight', 'bias'],
  ConvTranspose: [undefined, 'weight', 'bias'],
  Gemm: [undefined, 'weight', 'bias'],
  MatMul: [undefined, 'weight'],
  BatchNormalization: [undefined, 'weight', 'bias', 'running_mean', 'running_var'],
  InstanceNormalization: [undefined, 'weight', 'bias'],
  LayerNormalization: [undefined, 'weight', 'bias'],
  GroupNormalization: [undefined, 'weight', 'bias'],
  PRelu: [undefined, 'weight'],
  LSTM: [undefined, 'weight_ih', 'weight_hh', 'bias'],
  GRU: [undefined, 'weight_ih', 'weight_hh', 'bias'],
  RNN: [undefined, 'weight_ih', 'weight_hh', 'bias'],
  Gather: ['weight'],
};

/**
 * Mark float initializers that act as layer weights as parameters (ONNX has no such notion):
 * those in a weight position of a layer op, and float initializers named like state-dict keys
 * (`fc.bias`). Running statistics are buffers (not trainable). Folded constants (`onnx::Mul_7`)
 * and integer tensors (shapes, axes) are not parameters.
 */
function registerParams(g: Model['graph']): void {
  const roles = new Map<string, { scope: string; role?: string }>();
  for (const n of g.nodes) {
    n.inputs.forEach((name, i) => {
      if (!name || !g.initializers.has(name) || roles.has(name)) return;
      const role = n.domain === '' ? PARAM_ROLES[n.opType]?.[i] : undefined;
      if (role) roles.set(name, { scope: n.scope, role });
    });
  }
  for (const [name, t] of g.initializers) {
    if (!isFloatDType(t.dtype) || name.includes('::')) continue;
    const m = /^(.+)\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(name);
    const byName = m ? { scope: m[1]!, role: m[2]! } : undefined;
    const info = byName ?? roles.get(name);
    if (!info) continue;
    const role = byName?.role ?? info.role;
    const buffer = role === 'running_mean' || role === 'running_var';
    g.params.set(name, { scope: info.scope, trainable: !buffer, role });
  }
}

/** Every value name used in the model's graphs (for collision-free generated names). */
function collectNames(g: GraphPb, depth = 0, out = new Set<string>()): Set<string> {
  if (depth > MAX_GRAPH_DEPTH) return out;
  for (const v of g.input ?? []) out.add(v.name ?? '');
  for (const t of g.initializer ?? []) out.add(t.name ?? '');
  for (const n of g.node ?? []) {
    for (const x of n.input ?? []) out.add(x);
    for (const x of n.output ?? []) out.add(x);
    for (const a of n.attribute ?? []) {
      if (a.g) collectNames(a.g, depth + 1, out);
      for (const sg of a.graphs ?? []) collectNames(sg, depth + 1, out);
    }
  }
  return out;
}

/** Decode a serialised TensorProto (e.g. a conformance `input_0.pb`). */
export function decodeTensorProto(bytes: Uint8Array, file = '<bytes>'): Tensor {
  const pb = decodeOnnxMessage<TensorPb>('TensorProto', bytes, file);
  if (isExternal(pb)) throw new RosettaError('E_UNSUPPORTED', 'a standalone TensorProto with external data cannot be read', { where: { file } });
  return tensorFromProto(pb, { file });
}

/**
 * Decode a serialised value of the given type: TensorProto, SequenceProto or OptionalProto
 * (the ONNX backend-test `.pb` files). Without a type, a TensorProto is assumed.
 */
export function decodeOnnxValue(bytes: Uint8Array, type?: ValueType, file = '<bytes>'): Value {
  if (!type || type.kind === 'tensor') return decodeTensorProto(bytes, file);
  if (type.kind === 'sequence') return sequenceValue(decodeOnnxMessage<SequencePb>('SequenceProto', bytes, file), file);
  if (type.kind === 'optional') return optionalValue(decodeOnnxMessage<OptionalPb>('OptionalProto', bytes, file), file);
  if (type.kind === 'sparse_tensor') throw new RosettaError('E_UNSUPPORTED', 'sparse tensor values are not supported as model inputs', { where: { file } });
  throw new RosettaError('E_UNSUPPORTED', `${type.kind} values are not supported as model inputs`, { where: { file } });
}

const SEQ = { TENSOR: 1, SPARSE_TENSOR: 2, SEQUENCE: 3, MAP: 4, OPTIONAL: 5 } as const;

function sequenceValue(s: SequencePb, file: string): SequenceValue {
  if (s.elem_type !== undefined && s.elem_type !== SEQ.TENSOR && s.elem_type !== 0) {
    throw new RosettaError('E_UNSUPPORTED', `sequences of element kind ${s.elem_type} are not supported (only tensors)`, { where: { file } });
  }
  const items = (s.tensor_values ?? []).map((t) => tensorFromProto(t, { file }));
  const v: SequenceValue = { kind: 'sequence', items };
  if (items[0]) v.elemDType = items[0].dtype;
  return v;
}

function optionalValue(o: OptionalPb, file: string): OptionalValue {
  switch (o.elem_type) {
    case SEQ.TENSOR: {
      const t = o.tensor_value ? tensorFromProto(o.tensor_value, { file }) : null;
      return t ? { kind: 'optional', value: t, elemDType: t.dtype } : { kind: 'optional', value: null };
    }
    case SEQ.SPARSE_TENSOR:
      return { kind: 'optional', value: o.sparse_tensor_value ? sparseToDense(o.sparse_tensor_value, { file }) : null };
    case SEQ.SEQUENCE:
      return { kind: 'optional', value: o.sequence_value ? sequenceValue(o.sequence_value, file) : null };
    case undefined:
    case 0:
      return { kind: 'optional', value: null };
    default:
      throw new RosettaError('E_UNSUPPORTED', `optionals of element kind ${o.elem_type} are not supported`, { where: { file } });
  }
}

/** The element type named by a TypeProto elem_type code, for messages. */
export function onnxDTypeName(code: number): string {
  return dtypeFromOnnx(code) ?? `type ${code}`;
}
