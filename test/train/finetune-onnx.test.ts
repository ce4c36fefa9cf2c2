/**
 * Fine-tuning an imported model: fixtures/models/mnist-cnn.onnx (torch.onnx.export of the seed
 * CNN, torch 1.13; see fixtures/models/make_models.py) opens through the ONNX importer, becomes a
 * `GraphModule` whose parameters carry the ONNX initializer names, reproduces PyTorch's outputs,
 * gets the same gradients as the src/nn ImageClassifier holding the same weights (whose gradients
 * are checked against PyTorch in test/autograd/pytorch-grads.test.ts), and its loss falls under SGD.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { readNpz } from '../../src/formats/npy.js';
import { onnxImporter } from '../../src/importers/onnx/index.js';
import { Tensor } from '../../src/ir/tensor.js';
import * as nn from '../../src/nn/index.js';
import { expectClose } from '../nn/helpers.js';
import { ImageClassifier } from '../nn/models.js';

const DIR = join(import.meta.dirname, '..', '..', 'fixtures', 'models');
const read = (f: string): Uint8Array => new Uint8Array(readFileSync(join(DIR, f)));

it('mnist-cnn.onnx fine-tunes as a GraphModule', async () => {
  const res = await onnxImporter.open({ name: 'mnist-cnn.onnx', bytes: read('mnist-cnn.onnx') });
  if (res.kind !== 'model') throw new Error('expected a model');
  const gm = nn.GraphModule.fromModel(res.model);
  expect(gm.namedParameters().map(([k]) => k)).toEqual(['features.0.weight', 'features.0.bias', 'features.3.weight', 'features.3.bias', 'classifier.1.weight', 'classifier.1.bias', 'classifier.3.weight', 'classifier.3.bias']);
  const inputs = readNpz(read('mnist-cnn.inputs.npz'));
  const outputs = readNpz(read('mnist-cnn.outputs.npz'));
  const x = inputs.get(gm.inputNames[0]!)!;
  gm.eval();
  expectClose((await gm.run(x)) as Tensor, [...outputs.values()][0]!, { what: 'ONNX model output' });

  // Same weights in the src/nn definition (its Dropout sits at classifier.3, so the last Linear is classifier.4).
  const ref = new ImageClassifier().eval();
  ref.loadStateDict(new Map(gm.namedParameters().map(([k, p]) => [k.replace('classifier.3', 'classifier.4'), p.data])));
  const n = x.shape[0]!;
  const y = Tensor.from('int64', [n], Array.from({ length: n }, (_, i) => BigInt((3 * i + 1) % 10)));
  const crit = new nn.CrossEntropyLoss();
  const lossA = crit.callVar(gm.callVar(x), y);
  const lossB = crit.callVar(ref.callVar(x), y);
  expectClose(lossA.value, lossB.value, { what: 'loss' });
  await lossA.backward();
  await lossB.backward();
  const refParams = new Map(ref.namedParameters());
  for (const [k, p] of gm.namedParameters()) expectClose(p.grad!, refParams.get(k.replace('classifier.3', 'classifier.4'))!.grad!, { what: `grad ${k}` });

  // A few SGD steps on this batch: the loss falls; the imported model's own tensors are untouched.
  const before = res.model.graph.initializers.get('classifier.3.bias')!.toNumbers();
  const opt = new nn.SGD(gm.parameters(), { lr: 0.05, momentum: 0.9 });
  gm.train();
  const losses: number[] = [];
  for (let step = 0; step < 5; step++) {
    opt.zeroGrad();
    const loss = crit.callVar(gm.callVar(x), y);
    await loss.backward();
    opt.step();
    losses.push(loss.item());
  }
  expect(losses[4]!).toBeLessThan(losses[0]! * 0.7);
  expect(res.model.graph.initializers.get('classifier.3.bias')!.toNumbers()).toEqual(before);
  expect(gm.stateDict().get('classifier.3.bias')!.toNumbers()).not.toEqual(before);
}, 60_000);
