/**
 * Keras writers for models that did not come from Keras: a PyTorch-style chain (NCHW Conv with
 * explicit pads → [BatchNormalization →] Relu → MaxPool → Flatten → Gemm → Softmax, and a
 * MatMul+Add MLP) is rebuilt as Keras layers in channels_first layout. The tfjs-layers export is
 * loaded by @tensorflow/tfjs 4.22 (`tf.loadLayersModel`) and must compute what the IR computes;
 * `.keras` and `.h5` re-imports must too. Also: depthwise Conv → DepthwiseConv2D, PyTorch's
 * batch_first LSTM/GRU export pattern → Bidirectional(LSTM) / GRU, BatchNormalization on axis 1
 * through Permutes for tfjs-layers. Unsupported shapes (branches, general grouped convs, the last
 * step of a bidirectional RNN, GRU reset_after=True for tfjs) are refused.
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

async function tfjsOf(t: { files: Map<string, Uint8Array> }): Promise<Awaited<ReturnType<typeof tf.loadLayersModel>>> {
  const json = JSON.parse(new TextDecoder().decode(t.files.get('model.json')));
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: t.files.get('group1-shard1of1.bin')!.slice().buffer }));
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
  it('CNN with BatchNormalization on channels (axis 1): .keras and .h5 agree; tfjs gets Permute → BN(axis=-1) → Permute and tfjs-layers agrees', async () => {
    const m = cnn(true);
    const x = seededTensor([2, 3, 8, 8], 98);
    const want = await run(m, x);
    const z = await exportKerasZip(m, 'm.keras');
    expectClose(await run(((await kerasZipImporter.open({ name: 'm.keras', bytes: z.files.get('m.keras')! })) as { model: Model }).model, x), want, 1e-5, 1e-6, '.keras');
    const h = await exportKerasH5(m, 'm.h5');
    expectClose(await run(((await kerasH5Importer.open({ name: 'm.h5', bytes: h.files.get('m.h5')! })) as { model: Model }).model, x), want, 1e-5, 1e-6, '.h5');
    // tfjs-layers broadcasts BN parameters over the last axis whatever `axis` says: the writer
    // moves the channel axis last around the layer, and tfjs-layers itself must then agree.
    const t = await exportTfjs(m, 'model.json');
    expect(t.rewrites.map((r) => `${r.kind}:${r.scope}`)).toContain('layer-substituted:features_1');
    expectClose(tfjsPredict(await tfjsOf(t), [x])[0]!, want, 1e-4, 1e-5, 'tfjs-layers (BN axis 1 via Permute)');
  });
  it('depthwise Conv (group = C_in, multiplier 2) becomes DepthwiseConv2D; tfjs-layers agrees; other groupings are refused naming the node', async () => {
    const g = emptyGraph('dw');
    g.inputs.push({ name: 'x', type: { kind: 'tensor', dtype: 'float32', shape: ['N', 3, 6, 6] } });
    g.initializers.set('dw.weight', seededTensor([6, 1, 3, 3], 21));
    g.initializers.set('dw.bias', seededTensor([6], 22));
    g.nodes.push(makeNode('Conv', ['x', 'dw.weight', 'dw.bias'], ['y'], { group: attrInt(3), kernel_shape: attrInts([3, 3]), pads: attrInts([1, 1, 1, 1]) }, { scope: 'dw' }));
    g.outputs.push({ name: 'y', type: { kind: 'tensor', dtype: 'float32' } });
    const m = emptyModel(g);
    const x = seededTensor([2, 3, 6, 6], 23);
    const want = await run(m, x);
    const t = await exportTfjs(m, 'model.json');
    const json = JSON.parse(new TextDecoder().decode(t.files.get('model.json')));
    expect(json.modelTopology.config.layers.map((l: { class_name: string }) => l.class_name)).toEqual(['ZeroPadding2D', 'DepthwiseConv2D']);
    expectClose(tfjsPredict(await tfjsOf(t), [x])[0]!, want, 1e-4, 1e-5, 'tfjs-layers DepthwiseConv2D');
    const z = await exportKerasZip(m, 'm.keras');
    expectClose(await run(((await kerasZipImporter.open({ name: 'm.keras', bytes: z.files.get('m.keras')! })) as { model: Model }).model, x), want, 1e-5, 1e-6, '.keras');
    // Two groups of 3 input channels (6 → 4): not depthwise.
    const g2 = emptyGraph('grouped');
    g2.inputs.push({ name: 'x', type: { kind: 'tensor', dtype: 'float32', shape: ['N', 6, 6, 6] } });
    g2.initializers.set('w', seededTensor([4, 3, 3, 3], 24));
    g2.nodes.push(makeNode('Conv', ['x', 'w'], ['y'], { group: attrInt(2), kernel_shape: attrInts([3, 3]) }, { scope: 'gc', name: 'gc_node' }));
    g2.outputs.push({ name: 'y', type: { kind: 'tensor', dtype: 'float32' } });
    await expect(exportKerasZip(emptyModel(g2), 'm.keras')).rejects.toMatchObject({ code: 'E_UNSUPPORTED', where: { node: 'gc_node' }, message: expect.stringMatching(/grouped convolution with 2 groups/) });
  });
  it("PyTorch's batch_first export (Transpose → bidirectional LSTM → Transpose/Reshape → GRU → Squeeze → Transpose → h[:, -1] → Gemm) becomes Bidirectional(LSTM) → GRU(return_sequences=False) → Dense; tfjs-layers agrees", async () => {
    // GRU with linear_before_reset = 0 (Keras reset_after=False), the form tfjs-layers has.
    const H = 3;
    const G = 4;
    const g = emptyGraph('rnn');
    g.inputs.push({ name: 'x', type: { kind: 'tensor', dtype: 'float32', shape: ['N', 5, 4] } });
    const w = (name: string, shape: number[], seed: number): string => {
      g.initializers.set(name, seededTensor(shape, seed, -0.6, 0.6));
      return name;
    };
    const c = (name: string, values: number[], shape: number[]): string => {
      g.nodes.push(makeNode('Constant', [], [name], { value: { type: 'tensor', value: Tensor.from('int64', shape, values.map(BigInt)) } }, { scope: '' }));
      return name;
    };
    g.nodes.push(makeNode('Transpose', ['x'], ['xt'], { perm: attrInts([1, 0, 2]) }, { scope: 'lstm' }));
    g.nodes.push(makeNode('LSTM', ['xt', w('lw', [2, 4 * H, 4], 31), w('lr', [2, 4 * H, H], 32), w('lb', [2, 8 * H], 33)], ['ly', '', ''], { hidden_size: attrInt(H), direction: { type: 'string', value: 'bidirectional' } }, { scope: 'lstm' }));
    g.nodes.push(makeNode('Transpose', ['ly'], ['lt'], { perm: attrInts([0, 2, 1, 3]) }, { scope: 'lstm' }));
    g.nodes.push(makeNode('Reshape', ['lt', c('shape', [0, 0, -1], [3])], ['lr2'], {}, { scope: 'lstm' }));
    g.nodes.push(makeNode('GRU', ['lr2', w('gw', [1, 3 * G, 2 * H], 34), w('gr', [1, 3 * G, G], 35), w('gb', [1, 6 * G], 36)], ['gy', ''], { hidden_size: attrInt(G) }, { scope: 'gru' }));
    g.nodes.push(makeNode('Squeeze', ['gy', c('axes', [1], [1])], ['gs'], {}, { scope: 'gru' }));
    g.nodes.push(makeNode('Transpose', ['gs'], ['gt'], { perm: attrInts([1, 0, 2]) }, { scope: 'gru' }));
    g.nodes.push(makeNode('Gather', ['gt', c('last', [-1], [])], ['h'], { axis: attrInt(1) }, { scope: '' }));
    g.nodes.push(makeNode('Gemm', ['h', w('hw', [2, G], 37), w('hb', [2], 38)], ['y'], { transB: attrInt(1) }, { scope: 'head' }));
    g.outputs.push({ name: 'y', type: { kind: 'tensor', dtype: 'float32' } });
    const m = emptyModel(g);
    const x = seededTensor([2, 5, 4], 39);
    const want = await run(m, x);
    const t = await exportTfjs(m, 'model.json');
    const layers = JSON.parse(new TextDecoder().decode(t.files.get('model.json'))).modelTopology.config.layers as { class_name: string; config: Record<string, unknown> }[];
    expect(layers.map((l) => l.class_name)).toEqual(['Bidirectional', 'GRU', 'Dense']);
    expect(layers[1]!.config.return_sequences).toBe(false);
    expectClose(tfjsPredict(await tfjsOf(t), [x])[0]!, want, 1e-4, 1e-5, 'tfjs-layers LSTM/GRU');
    const h = await exportKerasH5(m, 'm.h5');
    expectClose(await run(((await kerasH5Importer.open({ name: 'm.h5', bytes: h.files.get('m.h5')! })) as { model: Model }).model, x), want, 1e-5, 1e-6, '.h5');
    // PyTorch's GRU (linear_before_reset = 1) is reset_after=True, which tfjs-layers lacks: refused.
    g.nodes.find((n) => n.opType === 'GRU')!.attrs.linear_before_reset = attrInt(1);
    await expect(exportTfjs(m, 'model.json')).rejects.toMatchObject({ code: 'E_UNSUPPORTED', message: expect.stringMatching(/reset_after=True/) });
    // The last step of a bidirectional RNN is not Keras' return_sequences=False: refused.
    g.nodes = g.nodes.filter((n) => n.opType !== 'GRU' && n.opType !== 'Squeeze');
    g.nodes.find((n) => n.outputs[0] === 'gt')!.inputs[0] = 'lr2';
    g.initializers.set('hw', seededTensor([2, 2 * H], 40));
    await expect(exportKerasZip(m, 'm.keras')).rejects.toMatchObject({ code: 'E_UNSUPPORTED', message: expect.stringMatching(/last time step/) });
  });
  it('Gather(table, int64 ids) → Embedding behind an explicit integer InputLayer; tfjs-layers (ids as int32) and .h5 agree', async () => {
    const g = emptyGraph('emb');
    g.inputs.push({ name: 'ids', type: { kind: 'tensor', dtype: 'int64', shape: ['N', 4] } });
    g.initializers.set('emb.weight', seededTensor([10, 3], 51));
    g.initializers.set('fc.weight', seededTensor([2, 12], 52));
    g.nodes.push(makeNode('Gather', ['emb.weight', 'ids'], ['e'], { axis: attrInt(0) }, { scope: 'emb' }));
    g.nodes.push(makeNode('Flatten', ['e'], ['f'], { axis: attrInt(1) }, { scope: 'flatten' }));
    g.nodes.push(makeNode('Gemm', ['f', 'fc.weight'], ['y'], { transB: attrInt(1) }, { scope: 'fc' }));
    g.outputs.push({ name: 'y', type: { kind: 'tensor', dtype: 'float32' } });
    const m = emptyModel(g);
    const ids = [3, 0, 9, 4, 1, 1, 7, 2];
    const x = Tensor.from('int64', [2, 4], ids.map(BigInt));
    const want = await run(m, x);
    const t = await exportTfjs(m, 'model.json');
    const layers = JSON.parse(new TextDecoder().decode(t.files.get('model.json'))).modelTopology.config.layers as { class_name: string; config: Record<string, unknown> }[];
    expect(layers.map((l) => l.class_name)).toEqual(['InputLayer', 'Embedding', 'Flatten', 'Dense']);
    expect([layers[0]!.config.dtype, layers[1]!.config.dtype]).toEqual(['int32', 'float32']);
    const ref = await tfjsOf(t);
    const y = ref.predict(tf.tensor(ids, [2, 4], 'int32')) as ReturnType<typeof tf.tensor>;
    expectClose(new Tensor('float32', y.shape, Float32Array.from(y.dataSync())), want, 1e-5, 1e-6, 'tfjs-layers Embedding');
    const h = await exportKerasH5(m, 'm.h5');
    expectClose(await run(((await kerasH5Importer.open({ name: 'm.h5', bytes: h.files.get('m.h5')! })) as { model: Model }).model, x), want, 1e-6, 1e-7, '.h5');
  });
  it('hostile RNN and Conv attributes are typed refusals, never an allocation from a declared size', async () => {
    const g = emptyGraph('hostile');
    g.inputs.push({ name: 'x', type: { kind: 'tensor', dtype: 'float32', shape: ['N', 5, 4] } });
    g.initializers.set('w', seededTensor([1, 12, 4], 61));
    g.initializers.set('r', seededTensor([1, 12, 3], 62));
    g.nodes.push(makeNode('Transpose', ['x'], ['xt'], { perm: attrInts([1, 0, 2]) }, { scope: 'rnn' }));
    // hidden_size claims 10^9 and there is no bias: the writer must not allocate [1, 8·10^9].
    g.nodes.push(makeNode('LSTM', ['xt', 'w', 'r'], ['y'], { hidden_size: attrInt(1e9) }, { scope: 'rnn', name: 'lstm_node' }));
    g.outputs.push({ name: 'y', type: { kind: 'tensor', dtype: 'float32' } });
    await expect(exportKerasZip(emptyModel(g), 'm.keras')).rejects.toMatchObject({ code: 'E_UNSUPPORTED', where: { node: 'lstm_node' } });
    const c = emptyGraph('conv');
    c.inputs.push({ name: 'x', type: { kind: 'tensor', dtype: 'float32', shape: ['N', 2, 4, 4] } });
    c.initializers.set('w', seededTensor([4, 1, 3, 3], 63));
    c.nodes.push(makeNode('Conv', ['x', 'w'], ['y'], { group: attrInt(-2) }, { scope: 'c', name: 'conv_node' }));
    c.outputs.push({ name: 'y', type: { kind: 'tensor', dtype: 'float32' } });
    await expect(exportKerasZip(emptyModel(c), 'm.keras')).rejects.toMatchObject({ code: 'E_UNSUPPORTED', where: { node: 'conv_node' } });
  });
  it('refuses a graph that is not a chain, naming the node', async () => {
    const m = mlp();
    m.graph.nodes.push(makeNode('Add', ['y', 'a'], ['z'], {}, { scope: 'skip' }));
    m.graph.outputs[0]!.name = 'z';
    await expect(exportTfjs(m, 'model.json')).rejects.toMatchObject({ code: 'E_UNSUPPORTED', where: { node: 'z' } });
  });
});
