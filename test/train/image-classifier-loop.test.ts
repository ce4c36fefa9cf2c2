/**
 * The seed's PyTorch-style training loop for ImageClassifier, written like the original
 * (model.train(), DataLoader with shuffling, zeroGrad / forward / CrossEntropyLoss / backward /
 * Adam step, 5 epochs, then model.eval() and accuracy). Synthetic, learnable data: class k images
 * carry a bright 7×7 patch at a class-specific place plus noise. The per-epoch loss must fall and
 * the trained model must classify the training set far above chance (10%).
 */
import { expect, it } from 'vitest';
import { Tensor } from '../../src/ir/tensor.js';
import * as nn from '../../src/nn/index.js';
import { seededRandom } from '../../src/runtime/session.js';
import { ImageClassifier } from '../nn/models.js';

function syntheticMnist(n: number, seed: number): [Tensor, Tensor] {
  const rnd = seededRandom(seed);
  const x = new Float32Array(n * 28 * 28);
  const y: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const k = i % 10;
    y.push(BigInt(k));
    const r0 = 3 + 7 * Math.floor(k / 4);
    const c0 = 1 + 7 * (k % 4);
    for (let p = 0; p < 28 * 28; p++) x[i * 784 + p] = 0.3 * (rnd() - 0.5);
    for (let r = r0; r < r0 + 7; r++) for (let c = c0; c < c0 + 7; c++) x[i * 784 + r * 28 + c]! += 1;
  }
  return [new Tensor('float32', [n, 1, 28, 28], x), Tensor.from('int64', [n], y)];
}

it('ImageClassifier: 5 epochs of the PyTorch-style loop learn the synthetic data', async () => {
  nn.initSeed(0);
  nn.manualSeed(0);
  const [images, labels] = syntheticMnist(80, 3);
  const trainLoader = new nn.DataLoader([images, labels], { batchSize: 16, shuffle: true, seed: 0 });

  const model = new ImageClassifier();
  const criterion = new nn.CrossEntropyLoss();
  const optimizer = new nn.Adam(model.parameters(), { lr: 0.001 });

  const epochLosses: number[] = [];
  for (let epoch = 0; epoch < 5; epoch++) {
    model.train();
    let runningLoss = 0;
    for (const [x, y] of trainLoader) {
      optimizer.zeroGrad();
      const outputs = model.callVar(x!);
      const loss = criterion.callVar(outputs, y!);
      await loss.backward();
      optimizer.step();
      runningLoss += loss.item();
    }
    epochLosses.push(runningLoss / trainLoader.length);
  }

  model.eval();
  const logits = (await model.run(images)) as Tensor;
  let correct = 0;
  for (let i = 0; i < 80; i++) {
    const row = logits.toNumbers().slice(i * 10, i * 10 + 10);
    if (row.indexOf(Math.max(...row)) === Number(labels.get(i))) correct++;
  }
  expect(epochLosses[4]!, `epoch losses ${epochLosses.map((l) => l.toFixed(3)).join(' ')}`).toBeLessThan(epochLosses[0]! * 0.5);
  expect(correct / 80).toBeGreaterThan(0.5);
}, 120_000);
