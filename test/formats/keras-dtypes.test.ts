/**
 * Narrow weight types: float16 datasets in Keras HDF5 (fixtures/keras/float16_dense.h5, written by
 * h5py 3.7 with numpy's own float32 conversion stored beside them as the golden) and quantised
 * tfjs-layers weights (uint8 / uint16 affine, float16), dequantised exactly as tfjs-core's
 * `tf.io.decodeWeights` does (the oracle). Also a Keras 3 config (DTypePolicy, batch_shape,
 * `{args, kwargs}` nodes) inside a legacy `.h5`, which must compute exactly like its Keras 2 twin.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { withHdf5 } from '../../src/formats/hdf5.js';
import { readKerasH5, tfjsImporter } from '../../src/importers/keras/index.js';
import type { Model } from '../../src/ir/graph.js';
import { Tensor, tensorsBitEqual } from '../../src/ir/tensor.js';
import { seededRandom } from '../../src/runtime/session.js';
import { PROJECT_ROOT } from '../helpers/corpus.js';
import { tf } from '../helpers/keras-oracle.js';
import { permute } from '../../src/importers/keras/weight-layout.js';

const param = (m: Model, scope: string, role: string): Tensor => {
  const e = [...m.graph.params].find(([, i]) => i.scope === scope && i.role === role);
  expect(e, `${scope} ${role}`).toBeDefined();
  return m.graph.initializers.get(e![0])!;
};

describe('float16 weights in Keras HDF5', () => {
  const bytes = new Uint8Array(readFileSync(`${PROJECT_ROOT}/fixtures/keras/float16_dense.h5`));
  it('datasets read as float16 bits and decode to numpy’s float32 values (max, subnormal, -0 included)', async () => {
    await withHdf5(bytes, 'float16_dense.h5', (r) => {
      const k = r.readTensor('model_weights/dense/dense/kernel:0');
      expect(k.dtype).toBe('float16');
      const ref = r.readTensor('reference/kernel');
      const decoded = new Tensor('float32', k.shape, Float32Array.from(k.toNumbers()));
      expect(tensorsBitEqual(decoded, ref)).toBe(true);
    });
  });
  it('the model loads with float32 parameters equal to the golden', async () => {
    const r = await readKerasH5(bytes, 'float16_dense.h5');
    const m = r.model!;
    const refs = await withHdf5(bytes, 'float16_dense.h5', (h) => ({ kernel: h.readTensor('reference/kernel'), bias: h.readTensor('reference/bias') }));
    expect(tensorsBitEqual(param(m, 'dense', 'kernel'), permute(refs.kernel, [1, 0]))).toBe(true);
    expect(tensorsBitEqual(param(m, 'dense', 'bias'), refs.bias)).toBe(true);
    expect(m.graph.inputs[0]!.type).toMatchObject({ dtype: 'float32' });
  });
});

describe('quantised tfjs-layers weights', () => {
  it('uint8, uint16 and float16 weights dequantise as tf.io.decodeWeights does', async () => {
    const rand = seededRandom(11);
    const specs = [
      { name: 'dense/kernel', shape: [4, 3], dtype: 'float32' as const, quantization: { dtype: 'uint8' as const, scale: 0.0123, min: -1.5 } },
      { name: 'dense/bias', shape: [3], dtype: 'float32' as const, quantization: { dtype: 'uint16' as const, scale: 1.7e-4, min: -0.25 } },
      { name: 'dense_1/kernel', shape: [3, 2], dtype: 'float32' as const, quantization: { dtype: 'float16' as const } },
      { name: 'dense_1/bias', shape: [2], dtype: 'float32' as const },
    ];
    const parts: Uint8Array[] = [
      Uint8Array.from({ length: 12 }, () => Math.floor(rand() * 256)),
      new Uint8Array(Uint16Array.from({ length: 3 }, () => Math.floor(rand() * 65536)).buffer),
      new Uint8Array(Uint16Array.from([0x3c00, 0xbc00, 0x3555, 0x0001, 0x7bff, 0x8000]).buffer),
      new Uint8Array(Float32Array.from([0.5, -0.25]).buffer),
    ];
    const data = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let off = 0;
    for (const p of parts) {
      data.set(p, off);
      off += p.length;
    }
    const topology = { class_name: 'Sequential', config: { name: 's', layers: [{ class_name: 'Dense', config: { name: 'dense', units: 3, batch_input_shape: [null, 4] } }, { class_name: 'Dense', config: { name: 'dense_1', units: 2 } }] } };
    const json = { modelTopology: topology, weightsManifest: [{ paths: ['w'], weights: specs }] };
    const res = await tfjsImporter.open({ name: 'model.json', bytes: new TextEncoder().encode(JSON.stringify(json)), readSibling: async () => data });
    const m = (res as { model: Model }).model;
    const oracle = tf.io.decodeWeights(data.slice().buffer, specs);
    const ours: Record<string, Tensor> = {
      'dense/kernel': permute(param(m, 'dense', 'kernel'), [1, 0]),
      'dense/bias': param(m, 'dense', 'bias'),
      'dense_1/kernel': permute(param(m, 'dense_1', 'kernel'), [1, 0]),
      'dense_1/bias': param(m, 'dense_1', 'bias'),
    };
    for (const s of specs) {
      const want = oracle[s.name]!.dataSync() as Float32Array;
      const got = ours[s.name]!.data as Float32Array;
      expect(Array.from(got), s.name).toEqual(Array.from(want));
    }
  });
});

describe('Keras 3 configs inside legacy .h5 (DTypePolicy, batch_shape, {args, kwargs} nodes)', () => {
  it('loads and computes like the same model read from its Keras 2 twin', async () => {
    const { h5group, writeHdf5 } = await import('../../src/formats/hdf5.js');
    const { lowerKerasModel, normalizeModel } = await import('../../src/importers/keras/index.js');
    const { Session } = await import('../../src/runtime/session.js');
    const { seededTensor, expectClose } = await import('../helpers/keras-oracle.js');
    const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
    const kt = (l: string) => ({ class_name: '__keras_tensor__', config: { shape: [null, 5], dtype: 'float32', keras_history: [l, 0, 0] } });
    const k3 = {
      module: 'keras',
      class_name: 'Functional',
      config: {
        name: 'f',
        layers: [
          { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 5], dtype: 'float32', name: 'x' }, name: 'x', inbound_nodes: [] },
          { module: 'keras.layers', class_name: 'Dense', config: { name: 'd', dtype: policy, units: 2, activation: 'tanh' }, name: 'd', inbound_nodes: [{ args: [kt('x')], kwargs: {} }] },
        ],
        input_layers: [['x', 0, 0]],
        output_layers: [['d', 0, 0]],
      },
    };
    const kernel = seededTensor([5, 2], 1);
    const bias = seededTensor([2], 2);
    const bytes = await writeHdf5(
      h5group(
        [
          ['keras_version', '3.6.0'],
          ['backend', 'tensorflow'],
          ['model_config', JSON.stringify(k3)],
        ],
        [['model_weights', h5group([['layer_names', ['x', 'd']]], [['x', h5group([['weight_names', []]])], ['d', h5group([['weight_names', ['d/kernel', 'd/bias']]], [['d', h5group([], [['kernel', kernel], ['bias', bias]])]])]])]],
      ),
    );
    const m = (await readKerasH5(bytes, 'k3.h5')).model!;
    const k2 = { class_name: 'Sequential', config: { name: 's', layers: [{ class_name: 'Dense', config: { name: 'd', units: 2, activation: 'tanh', batch_input_shape: [null, 5] } }] } };
    const twin = lowerKerasModel(normalizeModel(k2, 'k2'), { file: 'k2', weights: () => [{ name: 'k', tensor: kernel }, { name: 'b', tensor: bias }] });
    const x = seededTensor([3, 5], 3);
    const a = (await (await Session.create(m)).run({ x })).outputs.d as Tensor;
    const b = (await (await Session.create(twin)).run({ d_input: x })).outputs.d as Tensor;
    expectClose(a, b, 0, 0, 'keras 3 in h5');
  });
});

describe('tf.keras 2.13–2.15 .keras files (weights under _layer_checkpoint_dependencies)', () => {
  it('load with the weights in place', async () => {
    const { h5group, writeHdf5 } = await import('../../src/formats/hdf5.js');
    const { writeZip } = await import('../../src/formats/zip.js');
    const { kerasZipImporter } = await import('../../src/importers/keras/index.js');
    const { seededTensor } = await import('../helpers/keras-oracle.js');
    const config = { class_name: 'Sequential', config: { name: 's', layers: [{ class_name: 'InputLayer', config: { batch_input_shape: [null, 3], dtype: 'float32', name: 'x' } }, { class_name: 'Dense', config: { name: 'd', units: 2 } }] } };
    const kernel = seededTensor([3, 2], 4);
    const bias = seededTensor([2], 5);
    const weights = await writeHdf5(h5group([], [['_layer_checkpoint_dependencies', h5group([], [['d', h5group([], [['vars', h5group([], [['0', kernel], ['1', bias]])]])]])]]));
    const enc = new TextEncoder();
    const bytes = writeZip([
      { name: 'metadata.json', data: enc.encode(JSON.stringify({ keras_version: '2.15.0' })) },
      { name: 'config.json', data: enc.encode(JSON.stringify(config)) },
      { name: 'model.weights.h5', data: weights },
    ]);
    const m = ((await kerasZipImporter.open({ name: 'tf215.keras', bytes })) as { model: Model }).model;
    expect(tensorsBitEqual(param(m, 'd', 'kernel'), permute(kernel, [1, 0]))).toBe(true);
    expect(tensorsBitEqual(param(m, 'd', 'bias'), bias)).toBe(true);
  });
});
