/**
 * `Module.toModel` hands exporters a complete IR model: the src/nn ImageClassifier, Conv+BN and
 * RNN models (PyTorch 1.13 weights) exported to ONNX run in onnxruntime-node and reproduce
 * PyTorch's outputs; the `.pt` exporter writes their state dicts under PyTorch's keys.
 */
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { getExporter } from '../../src/exporters/index.js';
import { pytorchImporter } from '../../src/importers/pytorch/index.js';
import { Tensor } from '../../src/ir/tensor.js';
import type { Module } from '../../src/nn/index.js';
import { expectClose, loadFixture, withPrefix } from './helpers.js';
import { ConvBN, ImageClassifier, RnnModel } from './models.js';

const CASES: [string, () => Module][] = [
  ['image_classifier', () => new ImageClassifier()],
  ['conv_bn', () => new ConvBN()],
  ['rnn_model', () => new RnnModel()],
];

describe('toModel → exporters', () => {
  for (const [name, make] of CASES) {
    it(`${name}: ONNX export runs in onnxruntime-node with PyTorch's outputs`, async () => {
      const arrays = loadFixture(name);
      const m = make();
      m.loadStateDict(withPrefix(arrays, 'sd.'));
      const x = arrays.get('x0')!;
      const model = m.toModel([x.shape], { dtypes: [x.dtype === 'int64' ? 'int64' : 'float32'] });
      const exp = await getExporter('onnx');
      const res = await exp.exportModel!(model, `${name}.onnx`);
      const session = await ort.InferenceSession.create(res.files.get(res.mainName)!);
      const feed = x.dtype === 'int64' ? new ort.Tensor('int64', x.data as BigInt64Array, x.shape.slice()) : new ort.Tensor('float32', x.data as Float32Array, x.shape.slice());
      const out = await session.run({ [session.inputNames[0]!]: feed });
      const y = out[session.outputNames[0]!]!;
      expectClose(new Tensor('float32', y.dims.slice(), y.data as Float32Array), arrays.get('out0')!, { what: `${name} via onnxruntime` });
    });
  }

  it('pytorch exporter writes the state dict under PyTorch keys', async () => {
    const arrays = loadFixture('conv_bn');
    const m = new ConvBN();
    m.loadStateDict(withPrefix(arrays, 'sd.'));
    const exp = await getExporter('pytorch');
    if (!exp.exportWeights) return expect.fail('the pytorch exporter has no exportWeights');
    const res = await exp.exportWeights({ format: 'pytorch', tensors: m.stateDict(), metadata: {}, notes: [] }, 'conv_bn.pt');
    const back = await pytorchImporter.open({ name: 'conv_bn.pt', bytes: res.files.get(res.mainName)! });
    if (back.kind !== 'weights') return expect.fail('expected weights');
    expect([...back.weights.tensors.keys()]).toEqual([...m.stateDict().keys()]);
    const again = new ConvBN();
    expect(again.loadWeights(back.weights)).toEqual({ missing: [], unexpected: [], shapeMismatch: [] });
  });
});
