/**
 * CPU kernels: text ops (StringNormalizer, TfIdfVectorizer), plus the signal (signal.ts) and random (random.ts) families,
 * which this table re-exports so the kernel index stays one line per family file.
 * Spec: https://onnx.ai/onnx/operators/onnx__StringNormalizer.html,
 * https://onnx.ai/onnx/operators/onnx__TfIdfVectorizer.html
 */
import { RosettaError } from '../../ir/errors.js';
import { checkedSize, Tensor } from '../../ir/tensor.js';
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

/**
 * Counts pool n-grams in each row of X. An n-gram with skip s takes every (s+1)-th token; all
 * skips 0…max_skip_count and lengths min…max_gram_length are counted, unigrams only once (they do
 * not depend on the skip), as ONNX Runtime defines the op.
 */
function TfIdfVectorizer(inputs: readonly (Value | undefined)[], ctx: KernelContext): Value[] {
  const x = tensorIn(inputs, 0, ctx);
  const a = ctx.attrs;
  const bad = (msg: string): RosettaError => new RosettaError('E_INVALID_ATTR', `TfIdfVectorizer ${msg}`, { where: { node: ctx.node.name } });
  const mode = a.string('mode');
  if (mode !== 'TF' && mode !== 'IDF' && mode !== 'TFIDF') throw bad(`mode '${mode}' is not TF, IDF or TFIDF`);
  const minN = a.int('min_gram_length');
  const maxN = a.int('max_gram_length');
  const maxSkip = a.int('max_skip_count');
  const starts = a.ints('ngram_counts');
  const indexes = a.ints('ngram_indexes');
  const strings = a.has('pool_strings');
  const pool: (string | number)[] = strings ? a.strings('pool_strings') : a.ints('pool_int64s');
  if (strings !== (x.dtype === 'string')) throw new RosettaError('E_DTYPE_MISMATCH', `TfIdfVectorizer ${strings ? 'pool_strings needs string' : 'pool_int64s needs integer'} input, got ${x.dtype}`, { where: { node: ctx.node.name } });
  if (minN < 1 || maxN < minN || maxSkip < 0 || starts.length < maxN) throw bad(`gram lengths ${minN}..${maxN}, skip ${maxSkip} and ngram_counts [${starts.join(', ')}] are inconsistent`);
  const weights = a.floats('weights', []);
  const outLen = indexes.length ? Math.max(...indexes) + 1 : 0;
  if (indexes.some((i) => i < 0)) throw bad('ngram_indexes must be non-negative');
  // n-gram key → pool entry number (the entry's position among all n-grams in the pool).
  const lookup = new Map<string, number>();
  let entry = 0;
  for (let n = 1; n <= starts.length; n++) {
    const begin = starts[n - 1]!;
    const end = n < starts.length ? starts[n]! : pool.length;
    if (begin > end || end > pool.length || (end - begin) % n !== 0) throw bad(`ngram_counts [${starts.join(', ')}] do not split a pool of ${pool.length}`);
    for (let p = begin; p < end; p += n, entry++) lookup.set(`${n}|${pool.slice(p, p + n).join('\u0000')}`, entry);
  }
  if (entry !== indexes.length) throw bad(`has ${entry} pool n-grams but ${indexes.length} ngram_indexes`);
  if (x.rank !== 1 && x.rank !== 2) throw new RosettaError('E_SHAPE_MISMATCH', `TfIdfVectorizer input must be [C] or [N, C], got [${x.shape.join(', ')}]`, { where: { node: ctx.node.name } });
  const rows = x.rank === 2 ? x.shape[0]! : 1;
  const cols = x.shape[x.rank - 1]!;
  const tokens: (string | number)[] = strings ? (x.data as string[]) : x.toNumbers();
  const out = new Float32Array(checkedSize([rows, outLen], 'TfIdfVectorizer output'));
  const counts = new Float64Array(entry);
  for (let r = 0; r < rows; r++) {
    counts.fill(0);
    const row = tokens.slice(r * cols, (r + 1) * cols);
    // A skip of cols or more cannot place a second token, so larger counts add nothing.
    for (let skip = 0; skip <= Math.min(maxSkip, cols); skip++) {
      const step = skip + 1;
      const first = skip === 0 ? Math.max(1, minN) : Math.max(2, minN);
      for (let i = 0; i < cols; i++) {
        const gram: (string | number)[] = [];
        for (let n = 1, j = i; n <= maxN && j < cols; n++, j += step) {
          gram.push(row[j]!);
          if (n < first) continue;
          const e = lookup.get(`${n}|${gram.join('\u0000')}`);
          if (e !== undefined) counts[e]!++;
        }
      }
    }
    for (let e = 0; e < entry; e++) {
      const c = counts[e]!;
      if (c === 0) continue;
      const w = weights[e] ?? 1;
      out[r * outLen + indexes[e]!] = mode === 'TF' ? c : mode === 'IDF' ? w : c * w;
    }
  }
  return [new Tensor('float32', x.rank === 2 ? [rows, outLen] : [outLen], out)];
}

export const miscKernels: KernelTable = { StringNormalizer, TfIdfVectorizer, ...signalKernels, ...randomKernels };
