/**
 * Keras writers for models that did not come from Keras: a PyTorch-style chain (NCHW Conv with
 * explicit pads → [BatchNormalization →] Relu → MaxPool → Flatten → Gemm → Softmax, and a
 * MatMul+Add MLP) is rebuilt as Keras layers in channels_first layout. The tfjs-layers export is
 * loaded by @tensorflow/tfjs 4.22 (`tf.loadLayersModel`) and must compute what the IR computes;
 * `.keras` and `.h5` re-imports must too. Unsupported shapes (branches) are refused.
 */
import { describe, expect, it } from 'vitest';
import { exportKerasH5, exportKerasZip, exportTfjs } from '../../src/exporters/keras/index.js';
import { kerasH5Importer, kerasZipImporter } from '../../src/importers/keras/index.js';
import { attrFloat, attrInt, attrInts } from '../../src/ir/attrs.js';
import { emptyGraph, emptyModel, makeNode, type Model } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { Session } from '../../src/runtime/session.js';
import { expectClose, seededTensor, tf, tfjsPredict } from '../helpers/keras-oracle.js';

function cnn(withBn: boolean): Model {
  const g = emptyGraph('cnn');
  g.inputs.push({ name: 'x', type: { kind: 'tensor', dtype: 'float32', shape: ['N', 3, 8, 8] } });
  const w = (name: string, shape: number[], seed: number, lo = -0.5, hi = 0.5): string => {
    g.initializers.set(name, seededTensor(shape, seed, lo, hi));
    return name;
  };
  g.nodes.push(makeNode('Conv', ['x', w('conv.weight', [4, 3, 3, 3], 1), w('conv.bias', [4], 2)], ['c'], { pads: attrInts([1, 1, 1, 1]), kernel_shape: attrInts([3, 3]) }, { scope: 'features.0' }));
  if (withBn) g.nodes.push(makeNode('BatchNormalization', ['c', w('bn.weight', [4], 3), w('bn.bias', [4], 4), w('bn.mean', [4], 5), w('bn.var', [4], 6, 0.5, 1.5)], ['bn'], { epsilon: attrFloat(1e-5) }, { scope: 'features.1' }));
  g.nodes.push(makeNode('Relu', [withBn ? 'bn' : 'c'], ['r'], {}, { scope: 'features.2' }));
  g.nodes.push(makeNode('MaxPool', ['r'], ['p'], { kernel_shape: attrInts([2, 2]), strides: attrInts([2, 2]) }, { scope: 'features.3' }));
  g.nodes.push(makeNode('Flatten', ['p'], ['f'], { axis: attrInt(1) }, { scope: 'flatten' }));
  g.nodes.push(makeNode('Gemm', ['f', w('fc.weight', [5, 64], 7), w('fc.bias', [5], 8)], ['logits'], { transB: attrInt(1) }, { scope: 'classifier' }));
  g.nodes.push(makeNode('Softmax', ['logits'], ['y'], { axis: attrInt(-1) }, { scope: 'softmax' }));
  g.outputs.push({ name: 'y', type: { kind: 'tensor', dtype: 'float32' } });
  return emptyModel(g);
}

function mlp(): Model {
  const g = emptyGraph('mlp');
  g.inputs.push({ name: 'x', type: { kind: 'tensor', dtype: 'float32', shape: ['N', 6] } });
  g.initializers.set('w1', seededTensor([6, 4], 11));
  g.initializers.set('b1', seededTensor([4], 12));
  g.nodes.push(makeNode('MatMul', ['x', 'w1'], ['m'], {}, { scope: 'fc1' }));
  g.nodes.push(makeNode('Add', ['m', 'b1'], ['a'], {}, { scope: 'fc1' }));
  g.nodes.push(makeNode('Tanh', ['a'], ['y'], {}, { scope: 'act' }));
  g.outputs.push({ name: 'y', type: { kind: 'tensor', dtype: 'float32' } });
  return emptyModel(g);
}

async function run(m: Model, x: Tensor): Promise<Tensor> {
  const s = await Session.create(m);
  const out = (await s.run({ [m.graph.inputs[0]!.name]: x })).outputs;
  return out[m.graph.outputs[0]!.name] as Tensor;
}

describe('Keras writers rebuild layers for models not from Keras', () => {
  for (const [label, build, shape] of [['CNN (NCHW)', () => cnn(false), [2, 3, 8, 8]], ['MLP (MatMul+Add)', mlp, [3, 6]]] as const) {
    it(`${label}: tfjs-layers loads the export and agrees; .keras and .h5 re-imports agree`, async () => {
      const m = build();
      const x = seededTensor(shape.slice(), 99);
      const want = await run(m, x);
      const t = await exportTfjs(m, 'model.json');
      const json = JSON.parse(new TextDecoder().decode(t.files.get('model.json')));
      const ref = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: t.files.get('group1-shard1of1.bin')!.slice().buffer }));
      expectClose(tfjsPredict(ref, [x])[0]!, want, 1e-4, 1e-5, `${label} tfjs-layers`);
      const z = await exportKerasZip(m, 'm.keras');
      const fromZip = ((await kerasZipImporter.open({ name: 'm.keras', bytes: z.files.get('m.keras')! })) as { model: Model }).model;
      expectClose(await run(fromZip, x), want, 1e-5, 1e-6, `${label} .keras`);
      const h = await exportKerasH5(m, 'm.h5');
      const fromH5 = ((await kerasH5Importer.open({ name: 'm.h5', bytes: h.files.get('m.h5')! })) as { model: Model }).model;
      expectClose(await run(fromH5, x), want, 1e-5, 1e-6, `${label} .h5`);
    });
  }
  it('CNN with BatchNormalization on channels (axis 1): .keras and .h5 agree; tfjs is refused (tfjs-layers mis-broadcasts non-last BN axes)', async () => {
    const m = cnn(true);
    const x = seededTensor([2, 3, 8, 8], 98);
    const want = await run(m, x);
    const z = await exportKerasZip(m, 'm.keras');
    expectClose(await run(((await kerasZipImporter.open({ name: 'm.keras', bytes: z.files.get('m.keras')! })) as { model: Model }).model, x), want, 1e-5, 1e-6, '.keras');
    const h = await exportKerasH5(m, 'm.h5');
    expectClose(await run(((await kerasH5Importer.open({ name: 'm.h5', bytes: h.files.get('m.h5')! })) as { model: Model }).model, x), want, 1e-5, 1e-6, '.h5');
    await expect(exportTfjs(m, 'model.json')).rejects.toMatchObject({ code: 'E_UNSUPPORTED', where: { layer: 'features_1' } });
  });
  it('refuses a graph that is not a chain, naming the node', async () => {
    const m = mlp();
    m.graph.nodes.push(makeNode('Add', ['y', 'a'], ['z'], {}, { scope: 'skip' }));
    m.graph.outputs[0]!.name = 'z';
    await expect(exportTfjs(m, 'model.json')).rejects.toMatchObject({ code: 'E_UNSUPPORTED', where: { node: 'z' } });
  });
});
