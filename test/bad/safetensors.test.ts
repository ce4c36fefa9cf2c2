/**
 * Malformed safetensors files: each check of the reference implementation's validation
 * (huggingface/safetensors `Metadata::validate`, `read_metadata`) refuses with a typed error.
 */
import { describe, expect, it } from 'vitest';
import { readSafetensors, readSafetensorsIndex, writeSafetensors } from '../../src/formats/safetensors.js';
import { readZip, writeZip } from '../../src/formats/zip.js';
import { isRosettaError } from '../../src/ir/errors.js';
import { Tensor } from '../../src/ir/tensor.js';
import { errorOf } from '../helpers/errors.js';

/** A file from a raw header string and `dataLen` zero bytes of data. */
function file(header: string, dataLen: number, declared?: number): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + dataLen);
  new DataView(out.buffer).setUint32(0, declared ?? h.length, true);
  out.set(h, 8);
  return out;
}

describe('safetensors: invalid files are refused', () => {
  it('control: a valid two-tensor file reads', () => {
    const f = readSafetensors(file('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[],"data_offsets":[8,9]}}', 9));
    expect([...f.tensors.keys()]).toEqual(['a', 'b']);
  });

  const cases: [string, Uint8Array, string][] = [
    ['shorter than the length prefix', new Uint8Array(5), 'E_TRUNCATED'],
    ['header longer than the file', file('{}', 0, 1000), 'E_TRUNCATED'],
    ['header above 100 MB', file('{}', 0, 100_000_001), 'E_TOO_LARGE'],
    ['header not starting with {', file(' {}', 0), 'E_BAD_FORMAT'],
    ['header not JSON', file('{"a":', 0), 'E_BAD_FORMAT'],
    ['header not an object', file('{}', 0).fill(0x5b, 8, 9), 'E_BAD_FORMAT'],
    ['duplicate tensor names', file('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1), 'E_BAD_FORMAT'],
    ['unknown dtype', file('{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}', 16), 'E_UNSUPPORTED_DTYPE'],
    ['dtype that is an Object.prototype key', file('{"a":{"dtype":"constructor","shape":[1],"data_offsets":[0,1]}}', 1), 'E_UNSUPPORTED_DTYPE'],
    ['negative dimension', file('{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}', 1), 'E_BAD_FORMAT'],
    ['offsets reversed', file('{"a":{"dtype":"U8","shape":[0],"data_offsets":[1,0]}}', 1), 'E_BAD_FORMAT'],
    ['gap before the first tensor', file('{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', 2), 'E_BAD_FORMAT'],
    ['overlapping tensors', file('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}', 3), 'E_BAD_FORMAT'],
    ['byte length ≠ dtype size × elements', file('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', 4), 'E_BAD_FORMAT'],
    ['data past the end of the file', file('{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}', 4), 'E_TRUNCATED'],
    ['bytes after the last tensor', file('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 2), 'E_BAD_FORMAT'],
    ['__metadata__ with a non-string value', file('{"__metadata__":{"a":1}}', 0), 'E_BAD_FORMAT'],
    ['element count above the limit', file('{"a":{"dtype":"U8","shape":[65536,65536],"data_offsets":[0,1]}}', 1), 'E_TOO_LARGE'],
    ['invalid UTF-8 in the header', file('{"\xff":1}', 0).fill(0xff, 10, 11), 'E_BAD_FORMAT'],
  ];
  for (const [what, bytes, code] of cases) {
    it(what, () => expect(errorOf(() => readSafetensors(bytes, 'bad.safetensors')).code).toBe(code));
  }

  it('a sharded index may not name shards outside its folder', () => {
    const idx = new TextEncoder().encode(JSON.stringify({ weight_map: { w: '../../etc/passwd' } }));
    expect(errorOf(() => readSafetensorsIndex(idx)).code).toBe('E_PATH_ESCAPE');
    expect(errorOf(() => readSafetensorsIndex(new TextEncoder().encode('{"weight_map": 3}'))).code).toBe('E_BAD_FORMAT');
  });
});

describe('mutated files never escape as untyped errors', () => {
  let seed = 99;
  const r = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const mutate = (good: Uint8Array, k: number): Uint8Array => {
    if (k % 3 === 0) return good.subarray(0, Math.floor(r() * good.length));
    const b = good.slice();
    for (let j = 0; j < 1 + Math.floor(r() * 4); j++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
    return b;
  };
  const run = (good: Uint8Array, read: (b: Uint8Array) => unknown): number => {
    let refused = 0;
    for (let k = 0; k < 400; k++) {
      try {
        read(mutate(good, k));
      } catch (e) {
        if (!isRosettaError(e)) throw new Error(`mutation ${k} escaped as ${String(e)}`);
        refused++;
      }
    }
    return refused;
  };

  it('safetensors: 400 byte flips and truncations', () => {
    const good = writeSafetensors(new Map([['a', Tensor.from('float32', [2, 2], [1, 2, 3, 4])], ['b', Tensor.from('int64', [3], [1, 2, 3])]]), { k: 'v' });
    expect(run(good, (b) => readSafetensors(b))).toBeGreaterThan(0);
  });

  it('zip: 400 byte flips and truncations (reading every entry)', () => {
    const data = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) % 256);
    const good = writeZip([{ name: 'a/x', data }, { name: 'a/y', data, compress: true }, { name: 'a/z', data: new Uint8Array(5), align: 64 }]);
    expect(run(good, (b) => {
      const z = readZip(b);
      for (const n of z.names()) z.read(n);
    })).toBeGreaterThan(0);
  });
});
