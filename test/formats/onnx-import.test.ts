/**
 * ONNX import details the conformance run does not show: module scopes from exporter node names,
 * parameters (weights vs buffers) recovered from layer positions, model metadata, and the importer
 * sniff. Backend-test models are read from libonnx-testdata (skipped visibly when absent).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HAS_TESTDATA, TESTDATA_DIR } from '../../scripts/conformance-case.js';
import { encodeOnnxMessage } from '../../src/formats/onnx-proto.js';
import { importOnnx, onnxImporter, scopeFromName } from '../../src/importers/onnx/index.js';
import { importFile } from '../../src/importers/index.js';

describe('ONNX import details', () => {
  it('derives module scopes from exporter node names', () => {
    expect(scopeFromName('/layer1/layer1.0/conv1/Conv')).toBe('layer1.0.conv1');
    expect(scopeFromName('/features/features.0/Conv')).toBe('features.0');
    expect(scopeFromName('model/dense/MatMul')).toBe('model.dense');
    expect(scopeFromName('Conv_0')).toBe('');
  });

  it('keeps metadata, producer and opsets, and is found by the format registry', async () => {
    const bytes = encodeOnnxMessage('ModelProto', {
      ir_version: 8,
      producer_name: 'pytorch',
      producer_version: '1.13.1',
      opset_import: [{ domain: '', version: 17 }, { domain: 'ai.onnx.ml', version: 3 }],
      metadata_props: [{ key: 'author', value: 'me' }],
      graph: {
        name: 'g',
        node: [{ op_type: 'Relu', input: ['x'], output: ['y'], name: '/block/act/Relu' }],
        input: [{ name: 'x', type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_param: 'batch' }, { dim_value: 4 }] } } } }],
        output: [{ name: 'y', type: { tensor_type: { elem_type: 1 } } }],
      },
    });
    expect(onnxImporter.match(bytes, 'no-extension')).toBe(true);
    const r = await importFile({ name: 'm.onnx', bytes });
    expect(r.kind).toBe('model');
    const m = r.kind === 'model' ? r.model : undefined;
    expect(m!.producerName).toBe('pytorch');
    expect(m!.sourceOpsets).toEqual({ '': 17, 'ai.onnx.ml': 3 });
    expect(m!.metadata).toEqual({ author: 'me' });
    expect(m!.graph.inputs[0]!.type).toEqual({ kind: 'tensor', dtype: 'float32', shape: ['batch', 4] });
    expect(m!.graph.nodes[0]!.scope).toBe('block.act');
  });

  it.skipIf(!HAS_TESTDATA)('recovers weights and running statistics of a PyTorch BatchNorm export (skipped without libonnx-testdata)', async () => {
    const path = join(TESTDATA_DIR, 'pytorch-converted', 'test_BatchNorm2d_eval', 'model.onnx');
    const m = await importOnnx(new Uint8Array(readFileSync(path)), { name: path });
    const roles = [...m.graph.params.values()].map((p) => [p.role, p.trainable]);
    expect(roles).toEqual([
      ['weight', true],
      ['bias', true],
      ['running_mean', false],
      ['running_var', false],
    ]);
  });
});
