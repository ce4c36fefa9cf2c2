/**
 * Malformed torch.save files: each is refused with a typed error that says what is wrong.
 * Built by editing our own writer's output (whose validity torch.test.ts proves against torch 1.13).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PickleWriter } from '../../src/formats/pickle-writer.js';
import { readTorch, writeTorch } from '../../src/formats/torch.js';
import { readZip, writeZip } from '../../src/formats/zip.js';
import { isRosettaError } from '../../src/ir/errors.js';
import { Tensor } from '../../src/ir/tensor.js';
import { readPytorchWeights } from '../../src/importers/pytorch/index.js';
import { PROJECT_ROOT } from '../helpers/corpus.js';
import { errorOf } from '../helpers/errors.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A torch archive whose data.pkl is one tensor with the given storage/view description. */
function archive(o: { numel?: number; key?: string; storageType?: string; offset?: number; shape?: number[]; stride?: number[]; dataBytes?: number; extra?: { name: string; data: Uint8Array }[] }): Uint8Array {
  const numel = o.numel ?? 4;
  const key = o.key ?? '0';
  const p = new PickleWriter(2).emptyDict().mark().str('t').global('torch._utils', '_rebuild_tensor_v2').mark();
  p.mark().str('storage').global('torch', o.storageType ?? 'FloatStorage').str(key).str('cpu').int(numel).tuple().persId();
  p.int(o.offset ?? 0).intTuple(o.shape ?? [4]).intTuple(o.stride ?? [1]).bool(false).global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce().setItems();
  return writeZip([{ name: 'a/data.pkl', data: p.finish() }, { name: 'a/data/0', data: new Uint8Array(o.dataBytes ?? numel * 4) }, ...(o.extra ?? [])]);
}

describe('torch: malformed archives are refused with typed errors', () => {
  it('control: the unmodified archive reads', () => {
    expect(readPytorchWeights(archive({}), 'ok.pt').tensors.get('t')!.shape).toEqual([4]);
  });

  it('empty, 3-byte and non-torch files', () => {
    expect(errorOf(() => readTorch(new Uint8Array(0))).code).toBe('E_TRUNCATED');
    expect(errorOf(() => readTorch(enc('abc'))).code).toBe('E_BAD_FORMAT');
    expect(errorOf(() => readTorch(writeZip([{ name: 'x/readme.txt', data: enc('hi') }]))).code).toBe('E_BAD_FORMAT');
  });

  it('a view reaching past its storage', () => {
    expect(errorOf(() => readPytorchWeights(archive({ shape: [5] }), 'x.pt')).code).toBe('E_BAD_FORMAT');
    expect(errorOf(() => readPytorchWeights(archive({ offset: 2, shape: [3] }), 'x.pt')).code).toBe('E_BAD_FORMAT');
    expect(errorOf(() => readPytorchWeights(archive({ shape: [2, 2], stride: [3, 1] }), 'x.pt')).code).toBe('E_BAD_FORMAT');
  });

  it('a storage record shorter than its declared element count', () => {
    expect(errorOf(() => readPytorchWeights(archive({ numel: 4, dataBytes: 8 }), 'x.pt')).code).toBe('E_TRUNCATED');
  });

  it('a missing storage record and a path-like storage key', () => {
    expect(errorOf(() => readPytorchWeights(archive({ key: '7' }), 'x.pt')).message).toMatch(/a\/data\/7 is missing/);
    expect(errorOf(() => readPytorchWeights(archive({ key: '../0' }), 'x.pt')).code).toBe('E_BAD_FORMAT');
  });

  it('an unknown storage type', () => {
    expect(errorOf(() => readPytorchWeights(archive({ storageType: 'QInt8Storage' }), 'x.pt')).code).toBe('E_UNSUPPORTED_DTYPE');
    expect(errorOf(() => readPytorchWeights(archive({ storageType: 'system' }), 'x.pt')).code).toBe('E_UNSAFE_CONTENT');
  });

  it('a declared size above the element limit is refused before allocating', () => {
    expect(errorOf(() => readPytorchWeights(archive({ numel: 4, shape: [1 << 20, 1 << 20], stride: [0, 0] }), 'x.pt')).code).toBe('E_TOO_LARGE');
  });

  it('two data.pkl records, an unknown byteorder, a TorchScript layout', () => {
    const two = writeZip([{ name: 'a/data.pkl', data: new PickleWriter(2).none().finish() }, { name: 'b/data.pkl', data: new PickleWriter(2).none().finish() }]);
    expect(errorOf(() => readTorch(two)).code).toBe('E_BAD_FORMAT');
    expect(errorOf(() => readTorch(archive({ extra: [{ name: 'a/byteorder', data: enc('middle') }] }))).code).toBe('E_BAD_FORMAT');
    expect(errorOf(() => readTorch(archive({ extra: [{ name: 'a/constants.pkl', data: new PickleWriter(2).none().finish() }] }))).code).toBe('E_UNSUPPORTED');
  });

  it('legacy files: truncated storages and wrong element counts', () => {
    const legacy = new Uint8Array(readFileSync(join(PROJECT_ROOT, 'fixtures', 'pytorch-formats', 'gen', 'dtypes_legacy.pt')));
    for (const cut of [legacy.length - 1, legacy.length - 40, 200, 20]) {
      const e = errorOf(() => readPytorchWeights(legacy.subarray(0, cut), 'legacy.pt'));
      expect(e.code, `cut at ${cut}`).toMatch(/^E_(TRUNCATED|BAD_FORMAT)$/);
    }
  });

  it('a zip whose CRC no longer matches (bit flip in a storage)', () => {
    const good = writeTorch(new Map([['w', Tensor.from('float32', [4], [1, 2, 3, 4])]]));
    const z = readZip(good);
    const e = z.entries.find((x) => x.name.endsWith('data/0'))!;
    const bad = good.slice();
    const start = e.offset + 30 + (bad[e.offset + 26]! | (bad[e.offset + 27]! << 8)) + (bad[e.offset + 28]! | (bad[e.offset + 29]! << 8));
    bad[start] = bad[start]! ^ 1;
    expect(errorOf(() => readPytorchWeights(bad, 'flip.pt')).code).toBe('E_BAD_FORMAT');
  });
});

/** Deterministic xorshift so failures reproduce. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('torch: mutated real files never escape as untyped errors', () => {
  const files = ['dtypes_zip.pt', 'dtypes_legacy.pt', 'whole_module.pt', 'checkpoint.pt'];
  for (const f of files) {
    it(`${f}: 300 byte flips and truncations give a result or a RosettaError`, () => {
      const good = new Uint8Array(readFileSync(join(PROJECT_ROOT, 'fixtures', 'pytorch-formats', 'gen', f)));
      const r = rng(f.length * 7919);
      let refused = 0;
      for (let k = 0; k < 300; k++) {
        const b = k % 3 === 0 ? good.subarray(0, Math.floor(r() * good.length)) : good.slice();
        if (k % 3 !== 0) for (let j = 0; j < 1 + Math.floor(r() * 4); j++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
        try {
          readPytorchWeights(b, f);
        } catch (e) {
          if (!isRosettaError(e)) throw new Error(`mutation ${k} of ${f} escaped as ${String(e)}`);
          refused++;
        }
      }
      expect(refused).toBeGreaterThan(0);
    });
  }
});
