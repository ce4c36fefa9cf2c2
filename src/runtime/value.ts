/**
 * Runtime values flowing along graph edges: tensors, ONNX sequences and optionals.
 * Sequences and optionals live on the host; backends other than CPU only see tensors.
 */
import type { DType } from '../ir/dtype.js';
import { Tensor } from '../ir/tensor.js';

export interface SequenceValue {
  kind: 'sequence';
  /** Element dtype, kept so an empty sequence still knows its type. */
  elemDType?: DType;
  items: Tensor[];
}

export interface OptionalValue {
  kind: 'optional';
  /** null = the optional holds nothing. */
  value: Tensor | SequenceValue | null;
  elemDType?: DType;
}

export type Value = Tensor | SequenceValue | OptionalValue;

export function isTensor(v: unknown): v is Tensor {
  return v instanceof Tensor;
}

export function isSequence(v: unknown): v is SequenceValue {
  return typeof v === 'object' && v !== null && (v as SequenceValue).kind === 'sequence';
}

export function isOptional(v: unknown): v is OptionalValue {
  return typeof v === 'object' && v !== null && (v as OptionalValue).kind === 'optional';
}
