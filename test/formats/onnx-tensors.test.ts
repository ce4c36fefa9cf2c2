/**
 * TensorProto decoding against goldens written by ONNX itself: fixtures/onnx/tensors/*.pb and
 * expected.json come from fixtures/onnx/make-tensors.py (onnx 1.12, numpy 1.24; see the JSON's
 * `_written_by`). Every element type ONNX 1.12 writes, with typed fields and with raw_data; then
 * the exporter's encoding must decode back bit-identically. int4/uint4 and float8, which ONNX 1.12
 * cannot write, are checked for a lossless pack/unpack round trip.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeTensorProto, tensorToProto } from '../../src/importers/onnx/index.js';
import { encodeOnnxMessage } from '../../src/formats/onnx-proto.js';
import { Tensor, elementToNumber, tensorsBitEqual } from '../../src/ir/tensor.js';
import { PROJECT_ROOT } from '../helpers/corpus.js';

const DIR = join(PROJECT_ROOT, 'fixtures', 'onnx', 'tensors');
const expected = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as Record<string, { dtype: string; shape: number[]; values: unknown[] }>;

function actualValues(t: Tensor): unknown[] {
  const out: unknown[] = [];
  for (let i = 0; i < t.size; i++) {
    if (t.dtype === 'string') out.push((t.data as string[])[i]);
    else if (t.dtype === 'int64' || t.dtype === 'uint64') out.push(String((t.data as BigInt64Array)[i]));
    else if (t.dtype === 'bool') out.push((t.data as Uint8Array)[i] === 1);
    else if (t.dtype === 'complex64' || t.dtype === 'complex128') out.push([(t.data as Float32Array)[2 * i], (t.data as Float32Array)[2 * i + 1]]);
    else {
      const v = elementToNumber(t, i);
      out.push(Number.isNaN(v) ? null : Number.isFinite(v) ? v : v > 0 ? 'inf' : '-inf');
    }
  }
  return out;
}

describe('TensorProto decoding (goldens from onnx 1.12)', () => {
  const keys = Object.keys(expected).filter((k) => !k.startsWith('_'));
  it('has goldens for every element type ONNX 1.12 writes', () => {
    expect(keys.length).toBeGreaterThanOrEqual(30);
  });
  for (const key of keys) {
    it(`${key}: dtype, shape and values as onnx.numpy_helper reads them; re-encoding is lossless`, () => {
      const e = expected[key]!;
      const t = decodeTensorProto(new Uint8Array(readFileSync(join(DIR, `${key}.pb`))), `${key}.pb`);
      expect(t.dtype).toBe(e.dtype);
      expect([...t.shape]).toEqual(e.shape);
      expect(actualValues(t)).toEqual(e.values);
      const again = decodeTensorProto(encodeOnnxMessage('TensorProto', tensorToProto(t, key)));
      expect(tensorsBitEqual(again, t)).toBe(true);
    });
  }
});

describe('narrow types ONNX 1.12 cannot write', () => {
  it('int4/uint4 pack two per byte and unpack losslessly, odd lengths included', () => {
    const i4 = Tensor.from('int4', [5], [-8, -1, 0, 7, 3]);
    const u4 = Tensor.from('uint4', [3], [0, 15, 9]);
    for (const t of [i4, u4]) {
      const pb = tensorToProto(t, 'x');
      expect((pb.raw_data as Uint8Array).length).toBe(Math.ceil(t.size / 2));
      expect(tensorsBitEqual(decodeTensorProto(encodeOnnxMessage('TensorProto', pb)), t)).toBe(true);
    }
    // low nibble first (onnx.proto: "the first element in the low-order bits")
    expect([...(tensorToProto(u4, 'x').raw_data as Uint8Array)]).toEqual([0xf0, 0x09]);
  });

  it('float8 bits and int32_data-typed int4 decode', () => {
    const f8 = new Tensor('float8e4m3fn', [3], Uint8Array.from([0x00, 0x38, 0x7f]));
    expect(tensorsBitEqual(decodeTensorProto(encodeOnnxMessage('TensorProto', tensorToProto(f8, 'x'))), f8)).toBe(true);
    const packed = decodeTensorProto(encodeOnnxMessage('TensorProto', { dims: [3], data_type: 22, int32_data: [0xf8, 0x07] }));
    expect([...(packed.data as Int8Array)]).toEqual([-8, -1, 7]);
  });
});
