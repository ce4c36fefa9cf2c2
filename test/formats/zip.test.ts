/**
 * Zip container: archives written by CPython's zipfile (fixtures/pytorch-formats/make_zips.py,
 * CPython 3.11; expected contents as sha256 in zip/expect.json), our writer's output read back by
 * our reader and by CPython, alignment, and Zip64 end records.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { crc32, isZip, readZip, writeZip } from '../../src/formats/zip.js';
import { PROJECT_ROOT, SYSTEM_PYTHON } from '../helpers/corpus.js';

const DIR = join(PROJECT_ROOT, 'fixtures', 'pytorch-formats', 'zip');
const EXPECT = JSON.parse(readFileSync(join(DIR, 'expect.json'), 'utf8')) as { files: Record<string, Record<string, string>> };
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const HAS_PY = existsSync(SYSTEM_PYTHON);

describe('zip: archives written by CPython zipfile', () => {
  for (const [file, contents] of Object.entries(EXPECT.files)) {
    it(`reads ${file}`, () => {
      const bytes = new Uint8Array(readFileSync(join(DIR, file)));
      expect(isZip(bytes)).toBe(true);
      const z = readZip(bytes, { file });
      expect(z.names().sort()).toEqual(Object.keys(contents).sort());
      for (const [name, digest] of Object.entries(contents)) expect(sha(z.read(name))).toBe(digest);
    });
  }
});

describe('zip: writer', () => {
  it('round-trips stored and deflated entries', () => {
    const data = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) % 251);
    const bytes = writeZip([
      { name: 'x/stored', data },
      { name: 'x/deflated', data, compress: true },
      { name: 'empty', data: new Uint8Array(0) },
    ]);
    const z = readZip(bytes);
    expect(z.read('x/stored')).toEqual(data);
    expect(z.read('x/deflated')).toEqual(data);
    expect(z.read('empty').length).toBe(0);
    expect(z.entries.find((e) => e.name === 'x/deflated')!.method).toBe(8);
  });

  it('aligns entry data to the requested multiple', () => {
    const entries = [1, 3, 17, 100].map((n, i) => ({ name: `archive/data/${i}`, data: new Uint8Array(n).fill(i + 1), align: 64 }));
    const bytes = writeZip(entries);
    const z = readZip(bytes);
    for (const e of z.entries) {
      const start = e.offset + 30 + (bytes[e.offset + 26]! | (bytes[e.offset + 27]! << 8)) + (bytes[e.offset + 28]! | (bytes[e.offset + 29]! << 8));
      expect(start % 64).toBe(0);
    }
    expect(z.read('archive/data/3')).toEqual(new Uint8Array(100).fill(4));
  });

  it('writes Zip64 end records above 65535 entries and reads them back', () => {
    const n = 66000;
    const entries = Array.from({ length: n }, (_, i) => ({ name: `e${i}`, data: Uint8Array.of(i & 0xff) }));
    const bytes = writeZip(entries);
    const z = readZip(bytes);
    expect(z.entries.length).toBe(n);
    expect(z.read('e65999')).toEqual(Uint8Array.of(65999 & 0xff));
    if (HAS_PY) {
      const dir = mkdtempSync(join(tmpdir(), 'rosetta-zip64-'));
      writeFileSync(join(dir, 'many.zip'), bytes);
      const py = spawnSync(SYSTEM_PYTHON, ['-c', 'import sys,zipfile;z=zipfile.ZipFile(sys.argv[1]);print(len(z.infolist()), z.read("e65999")[0])', join(dir, 'many.zip')], { encoding: 'utf8' });
      expect(py.stdout.trim()).toBe(`${n} ${65999 & 0xff}`); // CPython reads our Zip64 end records
    }
  });

  it.skipIf(!HAS_PY)('output is read by CPython zipfile (skipped when /usr/bin/python3 is missing)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rosetta-zip-'));
    const data = Uint8Array.from({ length: 3000 }, (_, i) => (i * 13) % 256);
    const p = join(dir, 'ours.zip');
    writeFileSync(p, writeZip([{ name: 'a/s', data, align: 64 }, { name: 'a/d', data, compress: true }]));
    const r = spawnSync(SYSTEM_PYTHON, ['-c', 'import sys,zipfile,hashlib\nz=zipfile.ZipFile(sys.argv[1]);assert z.testzip() is None\nprint(" ".join(hashlib.sha256(z.read(n)).hexdigest() for n in ["a/s","a/d"]))', p], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`${sha(data)} ${sha(data)}`);
  });

  it('reads Zip64 extended information in central records (sizes and offset saturated, as large torch files have)', () => {
    const data = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    const plain = writeZip([{ name: 'big/data/0', data }]);
    // Rebuild the central record with 0xFFFFFFFF sizes/offset and a Zip64 extra field carrying them.
    const dv = new DataView(plain.buffer);
    const eocd = plain.length - 22;
    const cd = dv.getUint32(eocd + 16, true);
    const nameLen = dv.getUint16(cd + 28, true);
    const rec = new Uint8Array(46 + nameLen + 28);
    rec.set(plain.subarray(cd, cd + 46 + nameLen));
    const r = new DataView(rec.buffer);
    r.setUint32(20, 0xffffffff, true);
    r.setUint32(24, 0xffffffff, true);
    r.setUint32(42, 0xffffffff, true);
    r.setUint16(30, 28, true);
    const x = 46 + nameLen;
    r.setUint16(x, 1, true);
    r.setUint16(x + 2, 24, true);
    r.setBigUint64(x + 4, BigInt(data.length), true); // uncompressed size
    r.setBigUint64(x + 12, BigInt(data.length), true); // compressed size
    r.setBigUint64(x + 20, 0n, true); // local header offset
    const end = plain.slice(eocd);
    new DataView(end.buffer).setUint32(12, rec.length, true);
    const z64 = new Uint8Array(cd + rec.length + end.length);
    z64.set(plain.subarray(0, cd));
    z64.set(rec, cd);
    z64.set(end, cd + rec.length);
    const z = readZip(z64);
    expect(z.entries[0]).toMatchObject({ name: 'big/data/0', size: 300, compressedSize: 300, offset: 0 });
    expect(z.read('big/data/0')).toEqual(data);
    if (HAS_PY) {
      const dir = mkdtempSync(join(tmpdir(), 'rosetta-zip64-'));
      writeFileSync(join(dir, 'z64.zip'), z64);
      const py = spawnSync(SYSTEM_PYTHON, ['-c', 'import sys,zipfile;z=zipfile.ZipFile(sys.argv[1]);print(len(z.read("big/data/0")), z.testzip())', join(dir, 'z64.zip')], { encoding: 'utf8' });
      expect(py.stdout.trim()).toBe('300 None'); // CPython agrees the crafted archive is valid
    }
  });

  it('crc32 matches the IEEE check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });
});
