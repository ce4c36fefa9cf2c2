/**
 * Scan in its opset-8 form (leading sequence_lens, batch axis 0, `directions`), which the kernel
 * recognises by its input count: a reversed running sum over a batch with uneven sequence
 * lengths, against onnxruntime-node as the oracle (run at test time; the short sequences' scan
 * outputs are zero past their length there too). Skipped, visibly, when onnxruntime-node cannot
 * load.
 */
import { describe, expect, it } from 'vitest';
import { encodeOnnxMessage } from '../../src/formats/onnx-proto.js';
import { importOnnx } from '../../src/importers/onnx/index.js';
import { Tensor } from '../../src/ir/tensor.js';
import { Session } from '../../src/runtime/session.js';
import { loadOrt } from './nn-oracle.js';

const ort = await loadOrt();

const FLOAT = 1;
const INT64 = 7;
const vi = (name: string, elem: number, dims: number[]) => ({ name, type: { tensor_type: { elem_type: elem, shape: { dim: dims.map((d) => ({ dim_value: d })) } } } });

function scan8Model(): Uint8Array {
  const body = {
    name: 'body',
    node: [
      { op_type: 'Add', input: ['s', 'x'], output: ['s2'] },
      { op_type: 'Identity', input: ['s2'], output: ['y'] },
    ],
    input: [vi('s', FLOAT, [2]), vi('x', FLOAT, [2])],
    output: [vi('s2', FLOAT, [2]), vi('y', FLOAT, [2])],
  };
  return encodeOnnxMessage('ModelProto', {
    ir_version: 4,
    opset_import: [{ domain: '', version: 8 }],
    graph: {
      name: 'scan8',
      node: [
        {
          op_type: 'Scan',
          input: ['lens', 's0', 'xs'],
          output: ['sf', 'ys'],
          attribute: [
            { name: 'num_scan_inputs', type: 2, i: 1 },
            { name: 'directions', type: 7, ints: [1] },
            { name: 'body', type: 5, g: body },
          ],
        },
      ],
      input: [vi('lens', INT64, [3]), vi('s0', FLOAT, [3, 2]), vi('xs', FLOAT, [3, 4, 2])],
      output: [vi('sf', FLOAT, [3, 2]), vi('ys', FLOAT, [3, 4, 2])],
    },
  });
}

describe.skipIf(!ort)('Scan opset 8 matches onnxruntime-node', () => {
  it('reversed running sum with sequence lengths 4, 2, 1', async () => {
    const bytes = scan8Model();
    const lens = BigInt64Array.from([4n, 2n, 1n]);
    const s0 = Float32Array.from({ length: 6 }, (_, i) => i * 10 - 7);
    const xs = Float32Array.from({ length: 24 }, (_, i) => (i * 37) % 11);
    const sess = await ort!.InferenceSession.create(bytes);
    const expected = await sess.run({ lens: new ort!.Tensor('int64', lens, [3]), s0: new ort!.Tensor('float32', s0, [3, 2]), xs: new ort!.Tensor('float32', xs, [3, 4, 2]) });
    const ours = await Session.create(await importOnnx(bytes));
    const got = (await ours.run({ lens: new Tensor('int64', [3], lens), s0: new Tensor('float32', [3, 2], s0), xs: new Tensor('float32', [3, 4, 2], xs) })).outputs;
    for (const name of ['sf', 'ys']) {
      const g = got[name] as Tensor;
      expect(g.shape, name).toEqual(expected[name]!.dims.map(Number));
      expect(Array.from(g.data as Float32Array), name).toEqual(Array.from(expected[name]!.data as Float32Array));
    }
  });
});
