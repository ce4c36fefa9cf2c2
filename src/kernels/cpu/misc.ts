/**
 * CPU kernels: StringNormalizer, plus the signal (signal.ts) and random (random.ts) families,
 * which this table re-exports so the kernel index stays one line per family file.
 * Spec: https://onnx.ai/onnx/operators/onnx__StringNormalizer.html
 */
import { RosettaError } from '../../ir/errors.js';
import { Tensor } from '../../ir/tensor.js';
import type { Value } from '../../runtime/value.js';
import type { KernelContext, KernelTable } from './kernel.js';
import { randomKernels } from './random.js';
import { signalKernels } from './signal.js';
import { tensorIn } from './util.js';

/** Drops stopwords, then changes case; input [C] or [1, C]. An all-removed result keeps one ''. */
function StringNormalizer(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  if (x.dtype !== 'string') throw new RosettaError('E_UNSUPPORTED_DTYPE', `StringNormalizer needs a string tensor, got ${x.dtype}`, { where: { node: ctx.node.name } });
  if (!(x.rank === 1 || (x.rank === 2 && x.shape[0] === 1))) throw new RosettaError('E_SHAPE_MISMATCH', `StringNormalizer input must be [C] or [1, C], got [${x.shape.join(', ')}]`, { where: { node: ctx.node.name } });
  const action = ctx.attrs.string('case_change_action', 'NONE');
  if (!['NONE', 'LOWER', 'UPPER'].includes(action)) throw new RosettaError('E_INVALID_ATTR', `StringNormalizer case_change_action '${action}' is not NONE, LOWER or UPPER`, { where: { node: ctx.node.name } });
  const sensitive = ctx.attrs.int('is_case_sensitive', 0) !== 0;
  const fold = (s: string): string => (sensitive ? s : s.toLowerCase());
  const stop = new Set(ctx.attrs.strings('stopwords', []).map(fold));
  const kept = (x.data as string[]).filter((s) => !stop.has(fold(s))).map((s) => (action === 'LOWER' ? s.toLowerCase() : action === 'UPPER' ? s.toUpperCase() : s));
  if (kept.length === 0) kept.push('');
  return [Tensor.from('string', x.rank === 1 ? [kept.length] : [1, kept.length], kept)];
}

export const miscKernels: KernelTable = { StringNormalizer, ...signalKernels, ...randomKernels };
