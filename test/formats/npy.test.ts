/**
 * `.npy`/`.npz` reader and writer against files numpy wrote.
 * Goldens: fixtures/npy/*.npy, *.npz and values.json, written by fixtures/npy/make_npy.py
 * (numpy 1.24.2, see values.json `__meta__`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRosettaError } from '../../src/ir/errors.js';
import { Tensor } from '../../src/ir/tensor.js';
import { isNpy, readNpy, readNpyHeader, readNpz, writeNpy, writeNpz } from '../../src/formats/npy.js';
import { writeZip } from '../../src/formats/zip.js';

const DIR = join(import.meta.dirname, '..', '..', 'fixtures', 'npy');
type Golden = { descr: string; shape: number[]; fortran: boolean; values: unknown[]; bits?: number[] };
const GOLDEN = JSON.parse(readFileSync(join(DIR, 'values.json'), 'utf8')) as Record<string, Golden>;
const CASES = Object.keys(GOLDEN).filter((k) => k !== '__meta__');

const DTYPE_OF: Record<string, string> = { f2: 'float16', f4: 'float32', f8: 'float64', i1: 'int8', i2: 'int16', i4: 'int32', i8: 'int64', u1: 'uint8', u2: 'uint16', u4: 'uint32', u8: 'uint64', b1: 'bool', c8: 'complex64', c16: 'complex128' };

function num(v: unknown): number {
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  return v as number;
}

/** Compare a tensor with numpy's values (exact: every golden is representable in the dtype). */
function expectMatches(t: Tensor, g: Golden): void {
  const code = g.descr.slice(1);
  const expectedDType = code.startsWith('U') ? 'string' : DTYPE_OF[code];
  expect(t.dtype).toBe(expectedDType);
  expect([...t.shape]).toEqual(g.shape);
  const d = t.data as ArrayLike<unknown>;
  g.values.forEach((v, i) => {
    if (t.dtype === 'int64' || t.dtype === 'uint64') expect(d[i]).toBe(BigInt(v as string | number));
    else if (t.dtype === 'string') expect(d[i]).toBe(v);
    else if (t.dtype === 'bool') expect(d[i]).toBe(v ? 1 : 0);
    else if (t.dtype === 'complex64' || t.dtype === 'complex128') {
      const [re, im] = v as [number, number];
      expect(d[2 * i]).toBe(t.dtype === 'complex64' ? Math.fround(re) : re);
      expect(d[2 * i + 1]).toBe(t.dtype === 'complex64' ? Math.fround(im) : im);
    } else if (t.dtype === 'float16') expect(d[i]).toBe(g.bits![i]);
    else expect(t.get(i)).toBe(num(v));
  });
}

describe('readNpy on files numpy wrote', () => {
  it.each(CASES)('%s', (name) => {
    const bytes = new Uint8Array(readFileSync(join(DIR, `${name}.npy`)));
    expect(isNpy(bytes)).toBe(true);
    expectMatches(readNpy(bytes, `${name}.npy`), GOLDEN[name]!);
  });

  // A Node Buffer from readFileSync is a view into a shared pool: decoding must copy, not alias it.
  it.each(CASES)('%s read straight from a Node Buffer', (name) => {
    expectMatches(readNpy(readFileSync(join(DIR, `${name}.npy`)), `${name}.npy`), GOLDEN[name]!);
  });

  it('reads header versions 2.0 and 3.0', () => {
    expect(readNpyHeader(new Uint8Array(readFileSync(join(DIR, 'v2.npy')))).version).toEqual([2, 0]);
    expect(readNpyHeader(new Uint8Array(readFileSync(join(DIR, 'v3.npy')))).version).toEqual([3, 0]);
  });

  it('reports Fortran order in the header and returns C order', () => {
    const bytes = new Uint8Array(readFileSync(join(DIR, 'fortran_f4.npy')));
    expect(readNpyHeader(bytes).fortranOrder).toBe(true);
    expect(GOLDEN.fortran_f4!.fortran).toBe(true);
  });
});

describe('writeNpy round trip', () => {
  it.each(CASES)('%s survives write → read bit-exactly (C and Fortran order)', (name) => {
    const t = readNpy(new Uint8Array(readFileSync(join(DIR, `${name}.npy`))));
    for (const fortranOrder of [false, true]) {
      const back = readNpy(writeNpy(t, { fortranOrder }));
      expect(back.dtype).toBe(t.dtype);
      expect([...back.shape]).toEqual([...t.shape]);
      if (Array.isArray(t.data)) expect(back.data).toEqual(t.data);
      else expect(Buffer.from((back.data as Float32Array).buffer, (back.data as Float32Array).byteOffset, (back.data as Float32Array).byteLength).equals(Buffer.from((t.data as Float32Array).buffer, (t.data as Float32Array).byteOffset, (t.data as Float32Array).byteLength))).toBe(true);
    }
  });

  it('writes the same bytes numpy writes for a C-order array', () => {
    // numpy pads headers to 64 bytes; our writer follows the same layout byte for byte.
    for (const name of ['f4', 'i8', 'b1', 'u1', 'f2', 'scalar', 'empty', 'c16']) {
      const bytes = new Uint8Array(readFileSync(join(DIR, `${name}.npy`)));
      expect(Buffer.from(writeNpy(readNpy(bytes))).equals(Buffer.from(bytes)), name).toBe(true);
    }
  });

  it('refuses dtypes numpy cannot hold', () => {
    expect(() => writeNpy(new Tensor('bfloat16', [2]))).toThrow(/E_UNSUPPORTED_DTYPE/);
  });
});

describe('npz', () => {
  it.each(['bundle.npz', 'bundle-compressed.npz'])('reads %s', (file) => {
    const m = readNpz(new Uint8Array(readFileSync(join(DIR, file))), file);
    expect(m.get('x')!.toNumbers()).toEqual([0, 1, 2, 3, 4]);
    expect(m.get('x')!.dtype).toBe('float32');
    expect([...(m.get('ids')!.data as BigInt64Array)]).toEqual([1n, 2n, 3n, 4n]);
    if (file.includes('compressed')) expect(m.get('names')!.data).toEqual(['α', 'b']);
  });

  it('rejects archive entries that are not .npy files, and corrupt entries', () => {
    expect(() => readNpz(writeZip([{ name: 'x.txt', data: new Uint8Array([1]) }]))).toThrow(/E_BAD_FORMAT.*not a \.npy/);
    expect(() => readNpz(writeZip([{ name: 'x.npy', data: new Uint8Array([0x93, 0x4e, 0x55]) }]))).toThrow(/E_BAD_FORMAT/);
  });

  it('round-trips through writeNpz, stored and deflated', () => {
    const tensors = new Map([
      ['a', Tensor.from('float32', [2, 2], [1, 2, 3, 4])],
      ['b.c', Tensor.from('int64', [1], [-5n])],
    ]);
    for (const compress of [false, true]) {
      const back = readNpz(writeNpz(tensors, { compress }));
      expect([...back.keys()]).toEqual(['a', 'b.c']);
      expect(back.get('a')!.toNumbers()).toEqual([1, 2, 3, 4]);
      expect(back.get('b.c')!.data[0]).toBe(-5n);
    }
  });
});

describe('hostile .npy headers', () => {
  const good = new Uint8Array(readFileSync(join(DIR, 'f4.npy')));
  const withHeader = (dict: string, extra = new Uint8Array(0)): Uint8Array => {
    const h = new TextEncoder().encode(dict + '\n');
    const out = new Uint8Array(10 + h.length + extra.length);
    out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, h.length & 0xff, h.length >> 8]);
    out.set(h, 10);
    out.set(extra, 10 + h.length);
    return out;
  };
  const code = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      expect(isRosettaError(e)).toBe(true);
      return (e as { code: string }).code;
    }
    return 'no error';
  };

  it('rejects a missing magic', () => expect(code(() => readNpy(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])))).toBe('E_BAD_FORMAT'));
  it('rejects a truncated preamble', () => expect(code(() => readNpy(good.subarray(0, 8)))).toBe('E_TRUNCATED'));
  it('rejects a header length beyond the file', () => expect(code(() => readNpy(good.subarray(0, 40)))).toBe('E_TRUNCATED'));
  it('rejects data shorter than the shape', () => expect(code(() => readNpy(good.subarray(0, good.length - 1)))).toBe('E_TRUNCATED'));
  it('rejects a header above the size limit', () => {
    const b = new Uint8Array(16);
    b.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0, 0, 0, 0, 0x10]);
    expect(code(() => readNpy(b))).toBe('E_LIMIT');
  });
  it('rejects an unknown version', () => {
    const b = good.slice();
    b[6] = 9;
    expect(code(() => readNpy(b))).toBe('E_UNSUPPORTED');
  });
  it('rejects a shape above the element limit before allocating', () => expect(code(() => readNpy(withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 100000), }")))).toBe('E_TOO_LARGE'));
  it('rejects a huge shape whose data is absent', () => expect(code(() => readNpy(withHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000,), }")))).toBe('E_TRUNCATED'));
  it('rejects negative dims', () => expect(code(() => readNpy(withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }")))).toBe('E_BAD_FORMAT'));
  it('refuses object arrays (pickle)', () => expect(code(() => readNpy(withHeader("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }")))).toBe('E_UNSAFE_CONTENT'));
  it('refuses structured dtypes', () => expect(code(() => readNpy(withHeader("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }")))).toBe('E_UNSUPPORTED_DTYPE'));
  it('never evaluates the header', () => expect(code(() => readNpy(withHeader("__import__('os').system('true')")))).toBe('E_BAD_FORMAT'));
  it('rejects deep nesting', () => expect(code(() => readNpy(withHeader('('.repeat(500))))).toBe('E_BAD_FORMAT'));
  it('rejects missing and extra keys', () => {
    expect(code(() => readNpy(withHeader("{'descr': '<f4', 'shape': (1,), }")))).toBe('E_BAD_FORMAT');
    expect(code(() => readNpy(withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}")))).toBe('E_BAD_FORMAT');
  });
  it('rejects invalid code points in unicode data', () => {
    expect(code(() => readNpy(withHeader("{'descr': '<U1', 'fortran_order': False, 'shape': (1,), }", new Uint8Array([0xff, 0xff, 0xff, 0xff]))))).toBe('E_BAD_FORMAT');
  });
  it('normalises non-0/1 bool bytes', () => {
    const t = readNpy(withHeader("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", new Uint8Array([7, 0])));
    expect([...(t.data as Uint8Array)]).toEqual([1, 0]);
  });
  it('survives random bytes after the magic with a typed error', () => {
    let seed = 1;
    for (let k = 0; k < 200; k++) {
      const b = good.slice();
      for (let j = 0; j < 8; j++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        b[8 + (seed % (b.length - 8))] = seed >>> 24;
      }
      try {
        readNpy(b);
      } catch (e) {
        expect(isRosettaError(e)).toBe(true);
      }
    }
  });
});
