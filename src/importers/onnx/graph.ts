/**
 * ONNX `GraphProto` → IR `Graph`: value types, attributes of every kind (subgraphs imported
 * recursively under a depth limit, sparse tensors made dense), model-local functions inlined at
 * their call sites, and each default-domain node normalised to its latest opset form (opset.ts).
 * Spec: https://onnx.ai/onnx/repo-docs/IR.html (graphs, nodes, attributes, functions).
 */
import { dtypeFromOnnx, type DType } from '../../ir/dtype.js';
import { RosettaError } from '../../ir/errors.js';
import { emptyGraph, type Attr, type AttrMap, type Dim, type Graph, type Node, type RewriteRecord, type ValueInfo, type ValueType } from '../../ir/graph.js';
import type { Tensor } from '../../ir/tensor.js';
import { bytesToString, hasField, longToNumber, type AttributePb, type FunctionPb, type GraphPb, type NodePb, type TensorShapeDimPb, type TypeProtoPb, type ValueInfoPb } from '../../formats/onnx-proto.js';
import { normaliseNode, type NormaliseContext } from './opset.js';
import { sparseToDense, tensorFromProto, type ExternalFiles, type TensorReadContext } from './tensor.js';

/** Deepest nesting of subgraphs (If inside Loop inside …) and function calls we accept. */
export const MAX_GRAPH_DEPTH = 16;

/** Most nodes function inlining may create: stops "billion laughs" call trees (E_LIMIT). */
export const MAX_INLINED_NODES = 250_000;

/** AttributeProto.AttributeType codes. */
const AT = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10, SPARSE_TENSOR: 11, SPARSE_TENSORS: 12, TYPE_PROTO: 13, TYPE_PROTOS: 14 } as const;

export interface ModelImportContext {
  file: string;
  external: ExternalFiles;
  /** Opsets of the model ('' = ai.onnx). */
  opsets: Record<string, number>;
  /** Model-local functions by `functionKey`. */
  functions: Map<string, FunctionPb>;
  rewrites: RewriteRecord[];
  /** Every value name in the model, so generated names never collide. */
  names: Set<string>;
  /** Nodes created by function inlining so far (bounded by MAX_INLINED_NODES). */
  inlined?: number;
}

export function functionKey(domain: string, name: string, overload = ''): string {
  return `${domain}\u0000${name}\u0000${overload}`;
}

export function normDomain(d: string | undefined): string {
  return !d || d === 'ai.onnx' ? '' : d;
}

/** Module path from an exporter's node name: `/layer1/layer1.0/conv1/Conv` → `layer1.0.conv1`. */
export function scopeFromName(name: string): string {
  const parts = name.split('/').filter(Boolean);
  parts.pop();
  let path = '';
  for (const p of parts) path = path && !p.startsWith(`${path}.`) ? `${path}.${p}` : p;
  return path;
}

/** TypeProto → ValueType (undefined when the element type is missing or unknown). */
export function valueTypeFromProto(tp: TypeProtoPb | undefined, depth = 0): ValueType | undefined {
  if (!tp || depth > 64) return undefined;
  const dims = (d: TensorShapeDimPb[] | undefined): Dim[] => (d ?? []).map((x) => (hasField(x, 'dim_value') ? longToNumber(x.dim_value) : hasField(x, 'dim_param') ? x.dim_param! : null));
  if (tp.tensor_type) {
    const dt = dtypeFromOnnx(tp.tensor_type.elem_type ?? 0);
    if (!dt) return undefined;
    return tp.tensor_type.shape ? { kind: 'tensor', dtype: dt, shape: dims(tp.tensor_type.shape.dim) } : { kind: 'tensor', dtype: dt };
  }
  if (tp.sparse_tensor_type) {
    const dt = dtypeFromOnnx(tp.sparse_tensor_type.elem_type ?? 0);
    if (!dt) return undefined;
    return tp.sparse_tensor_type.shape ? { kind: 'sparse_tensor', dtype: dt, shape: dims(tp.sparse_tensor_type.shape.dim) } : { kind: 'sparse_tensor', dtype: dt };
  }
  if (tp.sequence_type) {
    const e = valueTypeFromProto(tp.sequence_type.elem_type, depth + 1);
    return e && { kind: 'sequence', elem: e };
  }
  if (tp.optional_type) {
    const e = valueTypeFromProto(tp.optional_type.elem_type, depth + 1);
    return e && { kind: 'optional', elem: e };
  }
  if (tp.map_type) {
    const k = dtypeFromOnnx(tp.map_type.key_type ?? 0);
    const v = valueTypeFromProto(tp.map_type.value_type, depth + 1);
    return k && v && { kind: 'map', key: k, value: v };
  }
  return undefined;
}

function valueInfoFromProto(v: ValueInfoPb): ValueInfo {
  const info: ValueInfo = { name: v.name ?? '' };
  const t = valueTypeFromProto(v.type);
  if (t) info.type = t;
  if (v.doc_string) info.doc = v.doc_string;
  return info;
}

/** Static type facts visible in a graph (its own and its enclosing graphs'). */
class TypeScope {
  private readonly types = new Map<string, { dtype?: DType; rank?: number }>();
  constructor(private readonly parent?: TypeScope) {}
  set(name: string, dtype: DType | undefined, rank: number | undefined): void {
    this.types.set(name, { dtype, rank });
  }
  setInfo(v: ValueInfo): void {
    if (v.type?.kind === 'tensor') this.set(v.name, v.type.dtype, v.type.shape?.length);
  }
  get(name: string): { dtype?: DType; rank?: number } | undefined {
    return this.types.get(name) ?? this.parent?.get(name);
  }
}

/**
 * Import one graph. `depth` counts enclosing graphs/function calls (E_LIMIT beyond
 * MAX_GRAPH_DEPTH); `outer` carries type facts of enclosing graphs for normalisation.
 */
export function importGraph(pb: GraphPb, ctx: ModelImportContext, depth = 0, outer?: TypeScope): Graph {
  if (depth > MAX_GRAPH_DEPTH) {
    throw new RosettaError('E_LIMIT', `subgraphs nest deeper than ${MAX_GRAPH_DEPTH} levels (graph '${pb.name ?? ''}')`, { where: { file: ctx.file }, hint: 'the model is malformed or hostile' });
  }
  const g = emptyGraph(pb.name ?? '');
  if (pb.doc_string) g.doc = pb.doc_string;
  const tctx: TensorReadContext = { file: ctx.file, external: ctx.external };
  const types = new TypeScope(outer);
  for (const v of pb.input ?? []) {
    const info = valueInfoFromProto(v);
    g.inputs.push(info);
    types.setInfo(info);
  }
  for (const v of pb.output ?? []) g.outputs.push(valueInfoFromProto(v));
  for (const v of pb.value_info ?? []) {
    const info = valueInfoFromProto(v);
    g.valueInfo.set(info.name, info);
    types.setInfo(info);
  }
  for (const t of pb.initializer ?? []) {
    const tensor = tensorFromProto(t, tctx);
    g.initializers.set(t.name ?? '', tensor);
    types.set(t.name ?? '', tensor.dtype, tensor.rank);
  }
  for (const sp of pb.sparse_initializer ?? []) {
    const tensor = sparseToDense(sp, tctx);
    const name = sp.values?.name ?? '';
    g.initializers.set(name, tensor);
    types.set(name, tensor.dtype, tensor.rank);
  }
  for (const v of g.outputs) types.setInfo(v);

  const nctx: NormaliseContext & { opsets: Record<string, number> } = {
    opsets: ctx.opsets,
    opset(domain) {
      return this.opsets[domain] ?? 1;
    },
    constant(hint, t: Tensor) {
      const name = freshName(ctx, hint);
      g.initializers.set(name, t);
      types.set(name, t.dtype, t.rank);
      return name;
    },
    fresh: (hint) => freshName(ctx, hint),
    dtypeOf: (name) => types.get(name)?.dtype,
    rankOf: (name) => types.get(name)?.rank,
    constShape: (name) => g.initializers.get(name)?.shape,
    replaceConstant: (name, t) => void g.initializers.set(name, t),
    note: (node, detail) => ctx.rewrites.push({ kind: 'onnx-opset-upgrade', scope: node.name, detail }),
  };
  convertNodes(pb.node ?? [], g, ctx, nctx, depth, types);
  return g;
}

function freshName(ctx: ModelImportContext, hint: string): string {
  let name = hint;
  for (let i = 1; ctx.names.has(name); i++) name = `${hint}_${i}`;
  ctx.names.add(name);
  return name;
}

function convertNodes(nodes: NodePb[], g: Graph, ctx: ModelImportContext, nctx: NormaliseContext & { opsets: Record<string, number> }, depth: number, types: TypeScope, callerScope?: string): void {
  nodes.forEach((pbNode, index) => {
    const domain = normDomain(pbNode.domain);
    const opType = pbNode.op_type ?? '';
    const fn = ctx.functions.get(functionKey(pbNode.domain ?? '', opType, pbNode.overload ?? '')) ?? (domain === '' ? undefined : ctx.functions.get(functionKey(domain, opType, pbNode.overload ?? '')));
    if (fn) {
      inlineFunction(pbNode, fn, g, ctx, nctx, depth, types, index, callerScope);
      return;
    }
    const name = pbNode.name || pbNode.output?.[0] || `${opType}_${index}`;
    const node: Node = {
      name,
      opType,
      domain,
      inputs: (pbNode.input ?? []).slice(),
      outputs: (pbNode.output ?? []).slice(),
      attrs: convertAttributes(pbNode.attribute ?? [], ctx, depth, types, name),
      // Nodes inlined from a function belong to the module of the call.
      scope: callerScope ?? scopeFromName(pbNode.name ?? ''),
    };
    if (pbNode.doc_string) node.doc = pbNode.doc_string;
    for (const n of normaliseNode(node, nctx)) g.nodes.push(n);
  });
}

function convertAttributes(attrs: AttributePb[], ctx: ModelImportContext, depth: number, types: TypeScope, nodeName: string): AttrMap {
  const out: AttrMap = Object.create(null) as AttrMap;
  for (const a of attrs) {
    if (!a.name) throw new RosettaError('E_BAD_FORMAT', 'attribute without a name', { where: { file: ctx.file, node: nodeName } });
    if (a.ref_attr_name) {
      // References are resolved while inlining a function; anywhere else they name nothing.
      throw new RosettaError('E_BAD_FORMAT', `attribute '${a.name}' refers to '${a.ref_attr_name}' of an enclosing function, but the node is not inside one`, { where: { file: ctx.file, node: nodeName }, hint: 'the model is malformed' });
    }
    const v = convertAttribute(a, ctx, depth, types, nodeName);
    if (v) out[a.name] = v;
  }
  return out;
}

/** Which value field an attribute uses: its `type`, or (IR 1, no type) the field present. */
function attributeType(a: AttributePb): number {
  if (a.type) return a.type;
  if (hasField(a, 'f')) return AT.FLOAT;
  if (hasField(a, 'i')) return AT.INT;
  if (hasField(a, 's')) return AT.STRING;
  if (a.t) return AT.TENSOR;
  if (a.g) return AT.GRAPH;
  if (a.sparse_tensor) return AT.SPARSE_TENSOR;
  if (a.tp) return AT.TYPE_PROTO;
  if (a.floats?.length) return AT.FLOATS;
  if (a.ints?.length) return AT.INTS;
  if (a.strings?.length) return AT.STRINGS;
  if (a.tensors?.length) return AT.TENSORS;
  if (a.graphs?.length) return AT.GRAPHS;
  if (a.sparse_tensors?.length) return AT.SPARSE_TENSORS;
  if (a.type_protos?.length) return AT.TYPE_PROTOS;
  return 0;
}

function convertAttribute(a: AttributePb, ctx: ModelImportContext, depth: number, types: TypeScope, nodeName: string): Attr | undefined {
  const tctx: TensorReadContext = { file: ctx.file, external: ctx.external };
  const req = <T>(v: T | undefined | null, what: string): T => {
    if (v === undefined || v === null) throw new RosettaError('E_BAD_FORMAT', `attribute '${a.name}' says ${what} but carries no value`, { where: { file: ctx.file, node: nodeName } });
    return v;
  };
  const vt = (tp: TypeProtoPb): ValueType => req(valueTypeFromProto(tp), 'a type with a known element type');
  switch (attributeType(a)) {
    case AT.FLOAT:
      return { type: 'float', value: a.f ?? 0 };
    case AT.INT:
      return { type: 'int', value: longToNumber(a.i) };
    case AT.STRING:
      return { type: 'string', value: bytesToString(a.s) };
    case AT.TENSOR:
      return { type: 'tensor', value: tensorFromProto(req(a.t, 'TENSOR'), tctx) };
    case AT.SPARSE_TENSOR:
      return { type: 'tensor', value: sparseToDense(req(a.sparse_tensor, 'SPARSE_TENSOR'), tctx) };
    case AT.GRAPH:
      return { type: 'graph', value: importGraph(req(a.g, 'GRAPH'), ctx, depth + 1, types) };
    case AT.TYPE_PROTO:
      return { type: 'type_proto', value: vt(req(a.tp, 'TYPE_PROTO')) };
    case AT.FLOATS:
      return { type: 'floats', value: (a.floats ?? []).slice() };
    case AT.INTS:
      return { type: 'ints', value: (a.ints ?? []).map((x) => longToNumber(x)) };
    case AT.STRINGS:
      return { type: 'strings', value: (a.strings ?? []).map((x) => bytesToString(x)) };
    case AT.TENSORS:
      return { type: 'tensors', value: (a.tensors ?? []).map((t) => tensorFromProto(t, tctx)) };
    case AT.SPARSE_TENSORS:
      return { type: 'tensors', value: (a.sparse_tensors ?? []).map((t) => sparseToDense(t, tctx)) };
    case AT.GRAPHS:
      return { type: 'graphs', value: (a.graphs ?? []).map((sg) => importGraph(sg, ctx, depth + 1, types)) };
    case AT.TYPE_PROTOS:
      return { type: 'type_protos', value: (a.type_protos ?? []).map(vt) };
    default:
      // An attribute with no value (e.g. an empty list written by some exporters) is omitted.
      if (a.type !== undefined && a.type > AT.TYPE_PROTOS) {
        throw new RosettaError('E_BAD_FORMAT', `attribute '${a.name}' has unknown type ${a.type}`, { where: { file: ctx.file, node: nodeName } });
      }
      return undefined;
  }
}

/* ----------------------------------------------------------------------------------------------
 * Model-local functions
 * -------------------------------------------------------------------------------------------- */

/**
 * Inline a call of a model-local function: formal inputs/outputs become the call's actual names,
 * every other value gets a fresh name, `ref_attr_name` attributes take the caller's value (or the
 * function's default), and the body is converted with the function's own opset imports.
 */
function inlineFunction(call: NodePb, fn: FunctionPb, g: Graph, ctx: ModelImportContext, nctx: NormaliseContext & { opsets: Record<string, number> }, depth: number, types: TypeScope, index: number, callerScope?: string): void {
  if (depth + 1 > MAX_GRAPH_DEPTH) {
    throw new RosettaError('E_LIMIT', `function calls nest deeper than ${MAX_GRAPH_DEPTH} levels (function '${fn.name}')`, { where: { file: ctx.file, node: call.name }, hint: 'the model is malformed or recursive' });
  }
  ctx.inlined = (ctx.inlined ?? 0) + (fn.node?.length ?? 0);
  if (ctx.inlined > MAX_INLINED_NODES) {
    throw new RosettaError('E_LIMIT', `inlining model-local functions would create more than ${MAX_INLINED_NODES} nodes (at a call of '${fn.name}')`, { where: { file: ctx.file, node: call.name }, hint: 'the model is malformed or hostile (a call tree that multiplies)' });
  }
  const callName = call.name || call.output?.[0] || `${fn.name}_${index}`;
  const rename = new Map<string, string>();
  (fn.input ?? []).forEach((f, i) => rename.set(f, call.input?.[i] ?? ''));
  (fn.output ?? []).forEach((f, i) => rename.set(f, call.output?.[i] ?? ''));
  for (const n of fn.node ?? []) for (const o of n.output ?? []) if (o && !rename.has(o)) rename.set(o, freshName(ctx, `${callName}/${o}`));
  const callAttrs = new Map((call.attribute ?? []).map((a) => [a.name ?? '', a]));
  const defaults = new Map((fn.attribute_proto ?? []).map((a) => [a.name ?? '', a]));
  const body = (fn.node ?? []).map((n) => substituteNode(n, rename, callAttrs, defaults, ctx, 0));
  const opsets: Record<string, number> = { ...ctx.opsets };
  for (const o of fn.opset_import ?? []) opsets[normDomain(o.domain)] = longToNumber(o.version);
  const fnCtx = { ...nctx, opsets };
  convertNodes(body, g, ctx, fnCtx, depth + 1, types, callerScope ?? scopeFromName(call.name ?? ''));
  ctx.rewrites.push({ kind: 'onnx-function-inlined', scope: callName, detail: `function ${fn.domain ?? ''}.${fn.name} inlined (${body.length} nodes)` });
}

function substituteNode(n: NodePb, rename: Map<string, string>, callAttrs: Map<string, AttributePb>, defaults: Map<string, AttributePb>, ctx: ModelImportContext, level: number): NodePb {
  if (level > MAX_GRAPH_DEPTH) throw new RosettaError('E_LIMIT', `subgraphs inside a function nest deeper than ${MAX_GRAPH_DEPTH} levels`, { where: { file: ctx.file } });
  const r = (x: string): string => (x && rename.has(x) ? rename.get(x)! : x);
  const attribute: AttributePb[] = [];
  for (const a of n.attribute ?? []) {
    if (a.ref_attr_name) {
      const src = callAttrs.get(a.ref_attr_name) ?? defaults.get(a.ref_attr_name);
      if (src) attribute.push({ ...src, name: a.name, ref_attr_name: undefined });
      continue;
    }
    const sub = (gpb: GraphPb): GraphPb => ({ ...gpb, node: (gpb.node ?? []).map((x) => substituteNode(x, rename, callAttrs, defaults, ctx, level + 1)), output: (gpb.output ?? []).map((o) => ({ ...o, name: r(o.name ?? '') })) });
    if (a.g) attribute.push({ ...a, g: sub(a.g) });
    else if (a.graphs?.length) attribute.push({ ...a, graphs: a.graphs.map(sub) });
    else attribute.push(a);
  }
  return { ...n, input: (n.input ?? []).map(r), output: (n.output ?? []).map(r), attribute };
}
