/**
 * Typed access to node attributes with ONNX defaults. Kernels, schemas and exporters read
 * attributes only through this, so a wrong type is one typed error naming the node.
 */
import { RosettaError } from './errors.js';
import type { Attr, AttrMap, Graph, Node } from './graph.js';
import type { Tensor } from './tensor.js';

export class AttrReader {
  constructor(
    private readonly attrs: AttrMap,
    private readonly node?: Pick<Node, 'name' | 'opType'>,
  ) {}

  has(name: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.attrs, name);
  }

  private get<T extends Attr['type']>(name: string, types: T[]): Extract<Attr, { type: T }> | undefined {
    if (!this.has(name)) return undefined;
    const a = this.attrs[name]!;
    if (!(types as string[]).includes(a.type)) {
      throw new RosettaError('E_INVALID_ATTR', `attribute '${name}' of ${this.node?.opType ?? 'node'} should be ${types.join(' or ')}, got ${a.type}`, { where: { node: this.node?.name } });
    }
    return a as Extract<Attr, { type: T }>;
  }

  private missing(name: string): never {
    throw new RosettaError('E_INVALID_ATTR', `required attribute '${name}' of ${this.node?.opType ?? 'node'} is missing`, { where: { node: this.node?.name } });
  }

  int(name: string, def?: number): number {
    const a = this.get(name, ['int', 'float']);
    if (a) return Math.trunc(a.value);
    if (def === undefined) this.missing(name);
    return def;
  }

  float(name: string, def?: number): number {
    const a = this.get(name, ['float', 'int']);
    if (a) return a.value;
    if (def === undefined) this.missing(name);
    return def;
  }

  string(name: string, def?: string): string {
    const a = this.get(name, ['string']);
    if (a) return a.value;
    if (def === undefined) this.missing(name);
    return def;
  }

  ints(name: string, def?: number[]): number[] {
    const a = this.get(name, ['ints', 'int']);
    if (a) return a.type === 'int' ? [a.value] : a.value;
    if (def === undefined) this.missing(name);
    return def;
  }

  floats(name: string, def?: number[]): number[] {
    const a = this.get(name, ['floats', 'float', 'ints']);
    if (a) return a.type === 'float' ? [a.value] : a.value;
    if (def === undefined) this.missing(name);
    return def;
  }

  strings(name: string, def?: string[]): string[] {
    const a = this.get(name, ['strings', 'string']);
    if (a) return a.type === 'string' ? [a.value] : a.value;
    if (def === undefined) this.missing(name);
    return def;
  }

  tensor(name: string): Tensor | undefined {
    return this.get(name, ['tensor'])?.value;
  }

  tensors(name: string): Tensor[] | undefined {
    return this.get(name, ['tensors'])?.value;
  }

  graph(name: string): Graph | undefined {
    return this.get(name, ['graph'])?.value;
  }
}

export const attrInt = (value: number): Attr => ({ type: 'int', value });
export const attrFloat = (value: number): Attr => ({ type: 'float', value });
export const attrString = (value: string): Attr => ({ type: 'string', value });
export const attrInts = (value: number[]): Attr => ({ type: 'ints', value });
export const attrFloats = (value: number[]): Attr => ({ type: 'floats', value });
export const attrStrings = (value: string[]): Attr => ({ type: 'strings', value });
export const attrTensor = (value: Tensor): Attr => ({ type: 'tensor', value });
