/**
 * The ONNX exporter: opset choice, lowering to a requested opset, external data. onnxruntime-node
 * is the oracle for "the written model computes the same" (skipped visibly when missing).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fromOrtTensor, loadOrt, toOrtTensor } from '../../scripts/conformance.js';
import { chooseOpset, exportOnnx } from '../../src/exporters/onnx/index.js';
import { getExporter, formatForOutput } from '../../src/exporters/index.js';
import { importOnnx } from '../../src/importers/onnx/index.js';
import { decodeOnnxMessage, longToNumber, type ModelPb } from '../../src/formats/onnx-proto.js';
import { isRosettaError } from '../../src/ir/errors.js';
import { emptyModel, makeNode, type Model } from '../../src/ir/graph.js';
import { Tensor, tensorsBitEqual } from '../../src/ir/tensor.js';
import { seededRandom } from '../../src/runtime/session.js';

const ort = await loadOrt();
const tmp = mkdtempSync(join(tmpdir(), 'rosetta-onnx-export-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const rnd = seededRandom(11);
const rand = (shape: number[]): Tensor => Tensor.from('float32', shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rnd() * 2 - 1));

/** x[2,3,4] → ReduceMean(axes input [1], keepdims 0) → MatMul(w[4,5]) + b → y */
function reduceModel(axesConstant = true): Model {
  const m = emptyModel();
  m.sourceFormat = 'test';
  const g = m.graph;
  g.inputs.push({ name: 'x', type: { kind: 'tensor', dtype: 'float32', shape: [2, 3, 4] } });
  if (!axesConstant) g.inputs.push({ name: 'axes', type: { kind: 'tensor', dtype: 'int64', shape: [1] } });
  g.outputs.push({ name: 'y', type: { kind: 'tensor', dtype: 'float32', shape: [2, 5] } });
  if (axesConstant) g.initializers.set('axes', Tensor.from('int64', [1], [1]));
  g.initializers.set('w', rand([4, 5]));
  g.initializers.set('b', rand([5]));
  g.nodes.push(makeNode('ReduceMean', ['x', 'axes'], ['r'], { keepdims: { type: 'int', value: 0 } }, { name: 'mean' }));
  g.nodes.push(makeNode('MatMul', ['r', 'w'], ['mm'], {}, { name: 'mm' }));
  g.nodes.push(makeNode('Add', ['mm', 'b'], ['y'], {}, { name: 'bias' }));
  return m;
}

function opsetOf(bytes: Uint8Array): number {
  const pb = decodeOnnxMessage<ModelPb>('ModelProto', bytes);
  return longToNumber(pb.opset_import!.find((o) => !o.domain)!.version);
}

async function ortRun(path: string | Uint8Array, feeds: Record<string, Tensor>): Promise<Tensor> {
  const s = await ort!.InferenceSession.create(path as string, { logSeverityLevel: 3 });
  const out = await s.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toOrtTensor(ort!, v)])));
  await s.release();
  return fromOrtTensor(out[s.outputNames[0]!]!);
}

describe('ONNX exporter', () => {
  it('is registered for .onnx', async () => {
    expect(formatForOutput('out/model.onnx')).toBe('onnx');
    expect((await getExporter('onnx')).extensions).toContain('.onnx');
  });

  it('chooses the lowest opset expressing the graph (ReduceMean with an axes input needs 18)', () => {
    expect(chooseOpset(reduceModel())).toBe(18);
    const m = reduceModel();
    m.graph.nodes[0]!.inputs = ['x'];
    expect(chooseOpset(m)).toBe(13); // floor for models from other formats
    expect(opsetOf(exportOnnx(reduceModel()).files.get('model.onnx')!)).toBe(18);
  });

  it('fills missing top-level output types by inference', () => {
    const m = reduceModel();
    m.graph.outputs = [{ name: 'y' }];
    const pb = decodeOnnxMessage<ModelPb>('ModelProto', exportOnnx(m).files.get('model.onnx')!);
    const t = pb.graph!.output![0]!.type!.tensor_type!;
    expect(t.elem_type).toBe(1);
    expect(t.shape!.dim!.map((d) => longToNumber(d.dim_value))).toEqual([2, 5]);
  });

  it.skipIf(!ort)('adds num_outputs to an even Split when writing opset 18 (required there)', async () => {
    const m = emptyModel();
    m.sourceFormat = 'test';
    m.graph.inputs.push({ name: 'x', type: { kind: 'tensor', dtype: 'float32', shape: [4, 2] } });
    m.graph.outputs.push({ name: 'a', type: { kind: 'tensor', dtype: 'float32', shape: [2, 2] } }, { name: 'b', type: { kind: 'tensor', dtype: 'float32', shape: [2, 2] } });
    m.graph.nodes.push(makeNode('Split', ['x'], ['a', 'b'], { axis: { type: 'int', value: 0 } }, { name: 'split' }));
    const x = rand([4, 2]);
    const at13 = exportOnnx(m).files.get('model.onnx')!;
    const at18 = exportOnnx(m, { opset: 18 }).files.get('model.onnx')!;
    expect(opsetOf(at13)).toBe(13);
    const node18 = decodeOnnxMessage<ModelPb>('ModelProto', at18).graph!.node![0]!;
    expect(node18.attribute!.find((a) => a.name === 'num_outputs')).toBeDefined();
    expect(tensorsBitEqual(await ortRun(at13 as unknown as string, { x }), await ortRun(at18 as unknown as string, { x }))).toBe(true);
  });

  it('never goes below the opset an ONNX model came from', async () => {
    const m = reduceModel();
    m.sourceFormat = 'onnx';
    m.sourceOpsets = { '': 20 };
    expect(chooseOpset(m)).toBe(20);
  });

  it.skipIf(!ort)('lowers a constant axes input to the attribute at --opset 13; both versions compute the same in onnxruntime-node', async () => {
    const x = rand([2, 3, 4]);
    const m = reduceModel();
    const at18 = exportOnnx(m).files.get('model.onnx')!;
    const at13 = exportOnnx(m, { opset: 13 }).files.get('model.onnx')!;
    expect(opsetOf(at13)).toBe(13);
    const lowered = decodeOnnxMessage<ModelPb>('ModelProto', at13).graph!.node![0]!;
    expect(lowered.input).toEqual(['x']);
    expect(lowered.attribute!.map((a) => a.name)).toContain('axes');
    // the axes initializer, now unused, is not written
    expect(decodeOnnxMessage<ModelPb>('ModelProto', at13).graph!.initializer!.map((t) => t.name)).toEqual(['w', 'b']);
    const y18 = await ortRun(at18 as unknown as string, { x });
    const y13 = await ortRun(at13 as unknown as string, { x });
    expect(tensorsBitEqual(y18, y13)).toBe(true);
    // and re-importing the lowered model gives the latest form back
    const again = await importOnnx(at13, { name: 'at13.onnx' });
    expect(again.graph.nodes[0]!.inputs.length).toBe(2);
  });

  it('refuses to lower a non-constant axes input, naming the node', () => {
    let err: unknown;
    try {
      exportOnnx(reduceModel(false), { opset: 13 });
    } catch (e) {
      err = e;
    }
    expect(isRosettaError(err) && err.code).toBe('E_UNSUPPORTED');
    expect((err as Error).message).toContain('mean');
    expect((err as Error).message).toContain('opset 18');
  });

  it.skipIf(!ort)('writes external data on request; Rosetta and onnxruntime-node read it back identically', async () => {
    const m = reduceModel();
    // 16 bytes: the weights go out, the 8-byte axes stay inline (onnxruntime needs shape inputs inline)
    const res = exportOnnx(m, { externalDataThreshold: 16, mainName: 'net.onnx' });
    expect([...res.files.keys()]).toEqual(['net.onnx', 'net.onnx.data']);
    const main = res.files.get('net.onnx')!;
    const pb = decodeOnnxMessage<ModelPb>('ModelProto', main);
    expect(pb.graph!.initializer!.map((t) => [t.name, t.data_location === 1])).toEqual([['axes', false], ['w', true], ['b', true]]);
    for (const [name, bytes] of res.files) writeFileSync(join(tmp, name), bytes);
    const back = await importOnnx(main, { name: 'net.onnx', readSibling: async (p) => res.files.get(p)! });
    for (const [name, t] of m.graph.initializers) expect(tensorsBitEqual(back.graph.initializers.get(name)!, t)).toBe(true);
    const x = rand([2, 3, 4]);
    const inline = await ortRun(exportOnnx(m).files.get('model.onnx')! as unknown as string, { x });
    const external = await ortRun(join(tmp, 'net.onnx'), { x });
    expect(tensorsBitEqual(inline, external)).toBe(true);
  });
});
