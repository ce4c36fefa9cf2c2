/**
 * safetensors writer and reader: every dtype round-trips bit-exactly with `__metadata__`, the
 * header is padded to 8 bytes as the reference writer does, our files decode with numpy when
 * /usr/bin/python3 is installed (an independent reader), and sharded checkpoints load through
 * `model.safetensors.index.json` + `readSibling`. Corpus files: torch-corpus.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SAFETENSORS_DTYPES, readSafetensors, writeSafetensors } from '../../src/formats/safetensors.js';
import type { DType } from '../../src/ir/dtype.js';
import { isRosettaError } from '../../src/ir/errors.js';
import { Tensor, tensorsBitEqual } from '../../src/ir/tensor.js';
import { importFile } from '../../src/importers/index.js';
import { SYSTEM_PYTHON } from '../helpers/corpus.js';

/** A tensor whose bytes are a fixed pseudo-random pattern (every bit pattern, incl. NaN payloads). */
function patterned(dtype: DType, shape: number[], seed: number): Tensor {
  const t = new Tensor(dtype, shape);
  const d = t.data as Uint8Array;
  const bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  let x = seed;
  for (let i = 0; i < bytes.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  if (dtype === 'bool') for (let i = 0; i < bytes.length; i++) bytes[i] = bytes[i]! & 1;
  return t;
}

const ALL = new Map<string, Tensor>(Object.values(SAFETENSORS_DTYPES).map((dt, i) => [`t_${dt}`, patterned(dt, [2, 3], i + 1)]));
ALL.set('scalar', patterned('float32', [], 99));
ALL.set('empty', new Tensor('float32', [0, 4]));


const HAS_NUMPY = existsSync(SYSTEM_PYTHON) && spawnSync(SYSTEM_PYTHON, ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

describe('safetensors', () => {
  it('every dtype round-trips bit-exactly, in order, with metadata', () => {
    const bytes = writeSafetensors(ALL, { format: 'pt', note: 'ünïcode' });
    const back = readSafetensors(bytes);
    expect([...back.tensors.keys()]).toEqual([...ALL.keys()]);
    for (const [k, t] of ALL) expect(tensorsBitEqual(t, back.tensors.get(k)!), k).toBe(true);
    expect(Object.fromEntries(back.metadata)).toEqual({ format: 'pt', note: 'ünïcode' });
    const n = new DataView(bytes.buffer).getUint32(0, true);
    expect((8 + n) % 8).toBe(0);
  });

  it('refuses to write dtypes safetensors has no tag for', () => {
    let code = '';
    try {
      writeSafetensors(new Map([['s', new Tensor('complex128', [1])]]));
    } catch (e) {
      if (isRosettaError(e)) code = e.code;
    }
    expect(code).toBe('E_UNSUPPORTED_DTYPE');
  });

  it.skipIf(!HAS_NUMPY)('our files decode with json + numpy (skipped without /usr/bin/python3 + numpy)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rosetta-st-'));
    const p = join(dir, 'ours.safetensors');
    const t = new Map([['a', Tensor.from('float32', [2, 2], [1, -2.5, 3, 4])], ['b', Tensor.from('int64', [3], [-1, 0, 2 ** 40])]]);
    writeFileSync(p, writeSafetensors(t, { k: 'v' }));
    const script = [
      'import sys, json, numpy as np',
      'b = open(sys.argv[1], "rb").read(); n = int.from_bytes(b[:8], "little"); h = json.loads(b[8:8+n]); m = h.pop("__metadata__")',
      'dt = {"F32": "<f4", "I64": "<i8"}',
      'print(json.dumps({"meta": m, **{k: np.frombuffer(b[8+n+v["data_offsets"][0]:8+n+v["data_offsets"][1]], dtype=dt[v["dtype"]]).reshape(v["shape"]).tolist() for k, v in h.items()}}))',
    ].join('\n');
    const r = spawnSync(SYSTEM_PYTHON, ['-c', script, p], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ meta: { k: 'v' }, a: [[1, -2.5], [3, 4]], b: [-1, 0, 2 ** 40] });
  });

  it('sharded checkpoints load through model.safetensors.index.json', async () => {
    const s1 = writeSafetensors(new Map([['layer.0.weight', ALL.get('t_float32')!]]), { shard: '1' });
    const s2 = writeSafetensors(new Map([['layer.0.bias', ALL.get('t_int64')!], ['layer.1.weight', ALL.get('t_bfloat16')!]]));
    const files: Record<string, Uint8Array> = { 'model-00001-of-00002.safetensors': s1, 'model-00002-of-00002.safetensors': s2 };
    const index = {
      metadata: { total_size: 123 },
      weight_map: { 'layer.0.weight': 'model-00001-of-00002.safetensors', 'layer.0.bias': 'model-00002-of-00002.safetensors', 'layer.1.weight': 'model-00002-of-00002.safetensors' },
    };
    const src = {
      name: 'model.safetensors.index.json',
      bytes: new TextEncoder().encode(JSON.stringify(index)),
      readSibling: async (p: string) => {
        const f = files[p];
        if (!f) throw new Error(`no ${p}`);
        return f;
      },
    };
    const r = await importFile(src);
    expect(r.kind).toBe('weights');
    if (r.kind !== 'weights') return;
    expect(r.weights.format).toBe('safetensors');
    expect([...r.weights.tensors.keys()].sort()).toEqual(Object.keys(index.weight_map).sort());
    expect(tensorsBitEqual(r.weights.tensors.get('layer.1.weight')!, ALL.get('t_bfloat16')!)).toBe(true);
    expect(r.weights.metadata).toMatchObject({ total_size: '123', shard: '1' });
    // An index that lists a tensor no shard holds is refused.
    const broken = { ...src, bytes: new TextEncoder().encode(JSON.stringify({ weight_map: { ...index.weight_map, ghost: 'model-00001-of-00002.safetensors' } })) };
    await expect(importFile(broken)).rejects.toMatchObject({ code: 'E_BAD_FORMAT' });
  });
});

describe('safetensors from a Node Buffer (what readFileSync returns)', () => {
  // Buffer.prototype.slice is a view, not a copy: the reader must still copy into an aligned
  // buffer, or a tensor at an offset that is not a multiple of 4 throws a raw RangeError and
  // normalising bools would write into the caller's bytes.
  it('reads tensors at unaligned offsets and leaves the input untouched', () => {
    const header = '{"b":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]},"a":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}';
    const h = new TextEncoder().encode(header);
    const bytes = new Uint8Array(8 + h.length + 6);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(h.length), true);
    bytes.set(h, 8);
    const body = 8 + h.length;
    bytes.set([2, 0], body); // a non-0/1 bool byte, which the reader normalises to 1
    new DataView(bytes.buffer).setFloat32(body + 2, 1.5, true);
    const buf = Buffer.concat([Buffer.from([0]), bytes]).subarray(1); // odd byteOffset in its pool
    expect((body + 2 + buf.byteOffset) % 4).not.toBe(0);
    const f = readSafetensors(buf);
    expect([...f.tensors.get('a')!.data]).toEqual([1.5]);
    expect([...f.tensors.get('b')!.data]).toEqual([1, 0]);
    expect(buf[body]).toBe(2);
  });
});
