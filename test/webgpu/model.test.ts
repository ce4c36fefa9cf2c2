/**
 * Whole models on WebGPU: fixtures/models/{mnist-cnn,mlp}.onnx (written by
 * fixtures/models/make_models.py with torch 1.13, onnx 1.12; see VERSIONS.txt) imported through
 * src/importers/onnx run on the WebGPU backend and match both the CPU backend and PyTorch's own
 * outputs stored next to them. A graph with an op the GPU lacks shows the per-node CPU fallback.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readNpz } from '../../src/formats/npy.js';
import { onnxImporter } from '../../src/importers/onnx/index.js';
import { emptyGraph, makeNode, type Model } from '../../src/ir/graph.js';
import type { Tensor } from '../../src/ir/tensor.js';
import { Session } from '../../src/runtime/session.js';
import { expectClose, rand } from './compare.js';
import { GPU, GPU_SKIP } from './gpu-env.js';

const DIR = join(import.meta.dirname, '..', '..', 'fixtures', 'models');
const read = (f: string): Uint8Array => new Uint8Array(readFileSync(join(DIR, f)));

async function load(name: string): Promise<Model> {
  const res = await onnxImporter.open({ name, bytes: read(name) });
  if (res.kind !== 'model') throw new Error(`${name}: expected a model`);
  return res.model;
}

describe.skipIf(!GPU)(`models on WebGPU${GPU_SKIP ? ` — skipped: ${GPU_SKIP}` : ''}`, () => {
  const gpu = GPU!;
  for (const stem of ['mnist-cnn', 'mlp']) {
    it(`${stem}.onnx matches the CPU backend and PyTorch, every node on the GPU`, async () => {
      const model = await load(`${stem}.onnx`);
      const inputs = readNpz(read(`${stem}.inputs.npz`));
      const torchOut = [...readNpz(read(`${stem}.outputs.npz`)).values()][0]!;
      const feeds = Object.fromEntries(inputs);
      const cpu = (await (await Session.create(model)).run(feeds)).outputs;
      const before = { ...gpu.counters };
      const s = await Session.create(model, { backend: gpu });
      const out = (await s.run(feeds)).outputs;
      const name = s.outputNames[0]!;
      expect(gpu.counters.cpuFallbacks).toBe(before.cpuFallbacks);
      // every node but the Reshape/Flatten views dispatches at least once
      expect(gpu.counters.dispatches - before.dispatches).toBeGreaterThanOrEqual(model.graph.nodes.filter((n) => !['Flatten', 'Reshape'].includes(n.opType)).length);
      for (const n of model.graph.nodes) expect(gpu.supports(n, ['float32', 'float32', 'float32']), n.opType).toBe(true);
      expectClose(out[name] as Tensor, cpu[name] as Tensor, `${stem} vs CPU`);
      expectClose(out[name] as Tensor, torchOut, `${stem} vs PyTorch`);
    });
  }

  it('falls back to the CPU per node for ops without a GPU kernel', async () => {
    // Add (GPU) → Erf (CPU) → Mul (GPU)
    const g = emptyGraph('mixed');
    g.inputs.push({ name: 'x', type: { kind: 'tensor', dtype: 'float32' } });
    g.initializers.set('b', rand([4], 2));
    g.nodes.push(makeNode('Add', ['x', 'b'], ['s']), makeNode('Erf', ['s'], ['e']), makeNode('Mul', ['e', 'x'], ['y']));
    g.outputs.push({ name: 'y' });
    const feeds = { x: rand([3, 4], 1) };
    const want = (await (await Session.create(g)).run(feeds)).outputs['y'] as Tensor;
    const d0 = gpu.counters.dispatches;
    const got = (await (await Session.create(g, { backend: gpu })).run(feeds)).outputs['y'] as Tensor;
    expect(gpu.counters.dispatches - d0).toBe(2);
    expectClose(got, want, 'Add→Erf→Mul');
  });
});
