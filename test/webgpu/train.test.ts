/**
 * Training with the backward graph on WebGPU: the gradient rules are IR ops, so the backward graph
 * of a step runs on any backend (the forward tape stays on the CPU). The seed CNN's gradients with
 * `loss.backward({ backend })` on the GPU equal those of the CPU backward graph; Keras-style
 * `fit({ backend })` and `rosetta finetune --backend webgpu` reach the weights the CPU runs reach.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { getBackend } from '../../src/runtime/backend.js';
import { Tensor } from '../../src/ir/tensor.js';
import { Sequential, layers } from '../../src/keras/index.js';
import * as nn from '../../src/nn/index.js';
import { loadFile } from '../../src/node/model-io.js';
import { ImageClassifier } from '../nn/models.js';
import { expectClose, rand } from './compare.js';
import { GPU, GPU_SKIP } from './gpu-env.js';

const ROOT = join(import.meta.dirname, '..', '..');

describe.skipIf(!GPU)(`training with the backward graph on WebGPU${GPU_SKIP ? ` — skipped: ${GPU_SKIP}` : ''}`, () => {
  const gpu = GPU!;

  it("seed CNN (train mode, batch 2): every parameter gradient equals the CPU backward graph's", async () => {
    const x = rand([2, 1, 28, 28], 7, 0, 1);
    const y = Tensor.from('int64', [2], [3n, 8n]);
    const grads = async (backend?: typeof gpu): Promise<Map<string, Tensor>> => {
      nn.initSeed(0);
      nn.manualSeed(0); // same Dropout mask on both runs
      const model = new ImageClassifier().train();
      const loss = new nn.CrossEntropyLoss().callVar(model.callVar(x), y);
      await loss.backward(backend ? { backend } : {});
      return new Map(model.namedParameters().map(([k, p]) => [k, p.grad!]));
    };
    const cpu = await grads();
    const before = gpu.counters.dispatches;
    const onGpu = await grads(gpu);
    expect(gpu.counters.dispatches).toBeGreaterThan(before); // the backward graph really ran there
    expect([...onGpu.keys()]).toEqual([...cpu.keys()]);
    for (const [k, g] of cpu) expectClose(onGpu.get(k)!, g, k);
  });

  it("Keras-style fit({ backend }) trains a Dense classifier to the CPU run's weights", async () => {
    const x = rand([24, 4], 11);
    const y = Tensor.from('float32', [24], Array.from({ length: 24 }, (_, i) => i % 3));
    const fitted = async (backend?: typeof gpu): Promise<Tensor[]> => {
      const m = new Sequential([layers.Dense(16, { activation: 'relu', inputShape: [4] }), layers.Dense(3, { activation: 'softmax' })], { seed: 5 });
      m.compile({ optimizer: 'sgd', loss: 'sparse_categorical_crossentropy' });
      await m.fit(x, y, { epochs: 2, batchSize: 8, shuffle: false, verbose: 0, backend });
      return m.getWeights();
    };
    const cpu = await fitted();
    const before = gpu.counters.dispatches;
    const onGpu = await fitted(gpu);
    expect(gpu.counters.dispatches).toBeGreaterThan(before);
    cpu.forEach((w, i) => expectClose(onGpu[i]!, w, `weight ${i}`));
  });

  it('rosetta finetune --backend webgpu reaches the weights of the CPU run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rosetta-gpu-ft-'));
    const run = async (backend: string): Promise<Map<string, Tensor>> => {
      const out = join(dir, `${backend}.safetensors`);
      const quiet = { stdout: () => undefined, stderr: () => undefined };
      const code = await main(['finetune', join(ROOT, 'fixtures', 'models', 'mlp.onnx'), '--data', join(ROOT, 'fixtures', 'train', 'mlp.train.npz'), '--epochs', '1', '--batch-size', '16', '--lr', '0.01', '--optimizer', 'sgd', '--loss', 'cross_entropy', '--no-shuffle', '--backend', backend, '--out', out], quiet);
      expect(code).toBe(0);
      const r = await loadFile(out);
      if (r.kind !== 'weights') throw new Error(`${out}: expected weights`);
      return r.weights.tensors;
    };
    const cpu = await run('cpu');
    const cliGpu = (await getBackend('webgpu')) as typeof gpu; // the instance the CLI's --backend webgpu uses
    const before = cliGpu.counters.dispatches;
    const onGpu = await run('webgpu');
    expect(cliGpu.counters.dispatches).toBeGreaterThan(before);
    expect([...onGpu.keys()].sort()).toEqual([...cpu.keys()].sort());
    for (const [k, t] of cpu) expectClose(onGpu.get(k)!, t, k);
  });
});
