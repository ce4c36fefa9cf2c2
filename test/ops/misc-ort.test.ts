/**
 * Text, signal and indexing kernels against onnxruntime-node as the oracle (goldens computed at
 * test time by the `onnxruntime-node` devDependency, through test/ops/nn-oracle.ts), for what the
 * ONNX 1.12 conformance data leaves out: TfIdfVectorizer with string pools, skips and TFIDF/IDF
 * weights on 2-D input; STFT with a window and onesided output; DFT with dft_length; Pad wrap
 * (opset 19); Split num_outputs and CenterCropPad (opset 18). Skipped, visibly, when onnxruntime-node cannot load.
 */
import { describe, it } from 'vitest';
import { Tensor } from '../../src/ir/tensor.js';
import { checkAgainstOrt, loadOrt, randInts, randTensor, type OracleCase } from './nn-oracle.js';

const ort = await loadOrt();

const words = ['the', 'cat', 'sat', 'on', 'mat', 'dog', 'ran'];
const text = Tensor.from('string', [3, 8], Array.from({ length: 24 }, (_, i) => words[(i * 5 + (i >> 2)) % words.length]!));

const cases: OracleCase[] = [
  {
    name: 'TfIdfVectorizer strings TFIDF skips',
    op: 'TfIdfVectorizer',
    attrs: {
      mode: 'TFIDF',
      min_gram_length: 1,
      max_gram_length: 3,
      max_skip_count: 2,
      ngram_counts: [0, 4, 10],
      ngram_indexes: [0, 5, 1, 6, 2, 7, 3, 8, 4],
      pool_strings: ['the', 'cat', 'mat', 'dog', 'the', 'cat', 'cat', 'sat', 'sat', 'on', 'mat', 'the', 'cat', 'the', 'sat', 'on'],
      weights: { floats: [0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5] },
    },
    inputs: [text],
    outputs: ['float32'],
    opset: 9,
  },
  {
    name: 'TfIdfVectorizer int64 IDF bigrams only',
    op: 'TfIdfVectorizer',
    attrs: {
      mode: 'IDF',
      min_gram_length: 2,
      max_gram_length: 2,
      max_skip_count: 1,
      ngram_counts: [0, 3],
      ngram_indexes: [0, 1, 2, 3, 4, 5, 6, 7],
      pool_int64s: [1, 2, 3, 1, 2, 2, 3, 3, 1, 2, 2, 1, 1],
      weights: { floats: [1, 2, 3, 4, 5, 6, 7, 8] },
    },
    inputs: [randInts('int64', [4, 9], 5, 1, 3)],
    outputs: ['float32'],
    opset: 9,
  },
  { name: 'STFT onesided with window', op: 'STFT', attrs: { onesided: 1 }, inputs: [randTensor([2, 40, 1], 3), Tensor.scalar('int64', 5n), randTensor([12], 4, 0, 1), Tensor.scalar('int64', 12n)], outputs: ['float32'], opset: 17, atol: 1e-4 },
  { name: 'DFT with dft_length padding', op: 'DFT', attrs: { axis: 1 }, inputs: [randTensor([3, 10, 2], 6), Tensor.scalar('int64', 16n)], outputs: ['float32'], opset: 17, atol: 1e-4 },
  { name: 'DFT inverse onesided=0 float64 axis 2', op: 'DFT', attrs: { axis: 2, inverse: 1 }, inputs: [Tensor.from('float64', [2, 3, 7, 1], Array.from(randTensor([42], 7).data as Float32Array))], outputs: ['float64'], opset: 17 },
  { name: 'Pad wrap (opset 19)', op: 'Pad', attrs: { mode: 'wrap' }, inputs: [randTensor([3, 4], 8), Tensor.from('int64', [4], [2n, 3n, 1n, 5n])], outputs: ['float32'], opset: 19 },
  { name: 'Split num_outputs uneven (opset 18)', op: 'Split', attrs: { axis: 1, num_outputs: 3 }, inputs: [randTensor([2, 8], 9)], outputs: ['float32', 'float32', 'float32'], opset: 18 },
  { name: 'CenterCropPad (opset 18)', op: 'CenterCropPad', attrs: { axes: [1, 2] }, inputs: [randTensor([2, 7, 4], 14), Tensor.from('int64', [2], [4n, 9n])], outputs: ['float32'], opset: 18 },
  { name: 'GatherND batch_dims 1', op: 'GatherND', attrs: { batch_dims: 1 }, inputs: [randTensor([3, 4, 5], 10), randInts('int64', [3, 2, 1], 11, -4, 3)], outputs: ['float32'], opset: 13 },
  { name: 'ScatterND max (opset 18)', op: 'ScatterND', attrs: { reduction: 'max' }, inputs: [randTensor([5, 3], 12), Tensor.from('int64', [3, 1], [4n, 0n, 4n]), randTensor([3, 3], 13)], outputs: ['float32'], opset: 18 },
];

describe.skipIf(!ort)('text/signal/indexing kernels match onnxruntime-node', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    await checkAgainstOrt(ort!, c);
  });
});
