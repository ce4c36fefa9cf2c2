/**
 * The IR builder shared by gradient rules and decompositions: emits ONNX nodes with fresh value
 * names, makes typed constants, and knows the *static* shape of every forward value (autograd
 * always runs on a recorded tape, so every forward value is concrete and its shape is known).
 *
 * Convention every rule relies on: the gradient of a value always has exactly that value's shape
 * and dtype, so a rule only ever needs the shapes of forward values (`shape(name)`).
 */
import type { DType } from '../../ir/dtype.js';
import { RosettaError } from '../../ir/errors.js';
import { makeNode, type AttrMap, type Node } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';

/** Anything that can report the shape and dtype of a forward value. */
export interface ShapeSource {
  shapeOf(name: string): readonly number[];
  dtypeOf(name: string): DType;
  /** The concrete value, when known (every forward value of a tape is). */
  valueOf(name: string): Tensor | undefined;
}

export class IrBuilder {
  readonly nodes: Node[] = [];
  readonly constants = new Map<string, Tensor>();
  private readonly zeroConstants = new Map<string, string>();
  private readonly zeroSet = new Set<string>();
  /** Shapes/dtypes of values this builder created and registered (decompositions need them). */
  readonly known = new Map<string, { shape: readonly number[]; dtype: DType }>();
  private counter = 0;
  /** Float dtype of constants made by `scalar` (float32, or float64 in grad checks). */
  dtype: DType = 'float32';
  scope = '';

  constructor(
    private readonly src: ShapeSource,
    private readonly prefix: string,
  ) {}

  fresh(hint: string): string {
    return `${this.prefix}${hint}_${this.counter++}`;
  }

  shape(name: string): readonly number[] {
    const k = this.known.get(name);
    if (k) return k.shape;
    return this.src.shapeOf(name);
  }

  dtypeOf(name: string): DType {
    const k = this.known.get(name);
    if (k) return k.dtype;
    return this.src.dtypeOf(name);
  }

  /** Values of a small integer forward tensor (axes, shapes, indices), read from the tape. */
  intValues(name: string): number[] {
    const t = this.constants.get(name) ?? this.src.valueOf(name);
    if (!t) throw new RosettaError('E_INTERNAL', `autograd: value '${name}' is not known`);
    return t.toNumbers();
  }

  /** Record the shape of a value this builder produced (for rules applied to decomposed nodes). */
  note(name: string, shape: readonly number[], dtype: DType = this.dtype): string {
    this.known.set(name, { shape, dtype });
    return name;
  }

  /** Emit a node; returns its output names (`nOut` fresh names). */
  opN(opType: string, inputs: string[], attrs: AttrMap = {}, nOut = 1, domain = ''): string[] {
    const outs = Array.from({ length: nOut }, () => this.fresh(opType));
    this.nodes.push(makeNode(opType, inputs, outs, attrs, { scope: this.scope, domain }));
    return outs;
  }

  op(opType: string, inputs: string[], attrs: AttrMap = {}, domain = ''): string {
    return this.opN(opType, inputs, attrs, 1, domain)[0]!;
  }

  constant(t: Tensor, hint = 'const'): string {
    const name = this.fresh(hint);
    this.constants.set(name, t);
    this.known.set(name, { shape: t.shape, dtype: t.dtype });
    return name;
  }

  /** A scalar (rank 0) of the builder's float dtype. */
  scalar(v: number, dtype: DType = this.dtype): string {
    return this.constant(Tensor.from(dtype, [], [v]), 'c');
  }

  /** A float tensor of the builder's dtype. */
  floats(shape: readonly number[], values: ArrayLike<number>, dtype: DType = this.dtype): string {
    return this.constant(Tensor.from(dtype, shape, values), 'c');
  }

  /** An int64 1-D constant (shapes, axes, starts, pads). */
  ints(values: readonly number[]): string {
    return this.constant(new Tensor('int64', [values.length], BigInt64Array.from(values.map((v) => BigInt(v)))), 'i');
  }

  /**
   * An all-zero constant, one per shape and dtype: kernels never write their inputs, so every rule
   * can share it (a Loop unrolled T times would otherwise hold T full-size zero tensors).
   */
  zeros(shape: readonly number[], dtype: DType = this.dtype): string {
    const key = `${dtype}[${shape.join(',')}]`;
    let name = this.zeroConstants.get(key);
    if (!name) {
      this.zeroConstants.set(key, (name = this.constant(new Tensor(dtype, shape), 'zeros')));
      this.zeroSet.add(name);
    }
    return name;
  }

  /** Whether `name` is one of the constants `zeros` made. */
  isZeros(name: string): boolean {
    return this.zeroSet.has(name);
  }

  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }
  sub(a: string, b: string): string {
    return this.op('Sub', [a, b]);
  }
  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }
  div(a: string, b: string): string {
    return this.op('Div', [a, b]);
  }
  neg(a: string): string {
    return this.op('Neg', [a]);
  }
  reshape(a: string, shape: readonly number[]): string {
    return this.op('Reshape', [a, this.ints(shape)]);
  }
  transpose(a: string, perm: number[]): string {
    return this.op('Transpose', [a], { perm: { type: 'ints', value: perm } });
  }
  /** A float 0/1 mask of `a` for a boolean op (Greater, Equal…). */
  mask(boolValue: string): string {
    return this.op('Cast', [boolValue], { to: { type: 'int', value: onnxCode(this.dtype) } });
  }
  reduceSum(a: string, axes: number[], keepdims: boolean): string {
    return this.op('ReduceSum', [a, this.ints(axes)], { keepdims: { type: 'int', value: keepdims ? 1 : 0 } });
  }
  reduceMean(a: string, axes: number[], keepdims: boolean): string {
    return this.op('ReduceMean', [a, this.ints(axes)], { keepdims: { type: 'int', value: keepdims ? 1 : 0 } });
  }
  slice(a: string, starts: number[], ends: number[], axes: number[]): string {
    return this.op('Slice', [a, this.ints(starts), this.ints(ends), this.ints(axes)]);
  }
  expand(a: string, shape: readonly number[]): string {
    return this.op('Expand', [a, this.ints(shape)]);
  }

  /**
   * Sum a gradient of broadcast shape `from` down to `to` (numpy broadcasting in reverse):
   * leading extra axes and axes where `to` has 1 are summed, then reshaped to `to`.
   */
  sumTo(g: string, from: readonly number[], to: readonly number[]): string {
    if (from.length === to.length && from.every((d, i) => d === to[i])) return g;
    const lead = from.length - to.length;
    if (lead < 0) throw new RosettaError('E_INTERNAL', `autograd: cannot reduce [${from.join(', ')}] to [${to.join(', ')}]`);
    const axes: number[] = [];
    for (let i = 0; i < from.length; i++) {
      if (i < lead) axes.push(i);
      else if (to[i - lead] === 1 && from[i] !== 1) axes.push(i);
    }
    const r = axes.length ? this.reduceSum(g, axes, true) : g;
    return this.reshape(r, to);
  }
}

const ONNX_CODES: Partial<Record<DType, number>> = { float32: 1, float64: 11, float16: 10, bfloat16: 16 };

export function onnxCode(d: DType): number {
  const c = ONNX_CODES[d];
  if (c === undefined) throw new RosettaError('E_UNSUPPORTED_DTYPE', `autograd works on float tensors, not ${d}`);
  return c;
}
