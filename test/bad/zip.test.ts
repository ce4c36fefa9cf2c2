/**
 * Hostile zip archives: every one is refused with a typed RosettaError naming what is wrong, and
 * nothing is inflated beyond the declared limits.
 */
import { describe, expect, it } from 'vitest';
import { isRosettaError } from '../../src/ir/errors.js';
import { isZip, readZip, writeZip } from '../../src/formats/zip.js';

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (isRosettaError(e)) return e.code;
    throw e;
  }
  return 'no error';
}

/** Rewrite a central-directory name (same length) in a copy of `bytes`. */
function renameEntry(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const out = bytes.slice();
  const f = new TextEncoder().encode(from);
  const t = new TextEncoder().encode(to);
  for (let i = 0; i + f.length <= out.length; i++) {
    if (f.every((c, k) => out[i + k] === c)) out.set(t, i);
  }
  return out;
}

const DATA = Uint8Array.from({ length: 2000 }, (_, i) => i % 97);
const GOOD = writeZip([{ name: 'aa/x', data: DATA }, { name: 'aa/y', data: DATA, compress: true }]);

describe('zip: hostile archives are refused with typed errors', () => {
  it('accepts the unmodified archive', () => {
    expect(readZip(GOOD).read('aa/y')).toEqual(DATA);
  });

  it('isZip never throws on short or foreign input', () => {
    expect(isZip(new Uint8Array(0))).toBe(false);
    expect(isZip(Uint8Array.of(0x50, 0x4b))).toBe(false);
    expect(isZip(new TextEncoder().encode('\x89PNG'))).toBe(false);
  });

  it('refuses a missing end record / truncated archive', () => {
    expect(codeOf(() => readZip(GOOD.subarray(0, GOOD.length - 10)))).toBe('E_BAD_FORMAT');
    expect(codeOf(() => readZip(new Uint8Array(5)))).toBe('E_TRUNCATED');
  });

  it('refuses names with .., absolute paths and backslashes (E_PATH_ESCAPE)', () => {
    expect(codeOf(() => readZip(renameEntry(GOOD, 'aa/x', '../x')))).toBe('E_PATH_ESCAPE');
    expect(codeOf(() => readZip(renameEntry(GOOD, 'aa/x', '/a/x')))).toBe('E_PATH_ESCAPE');
    expect(codeOf(() => readZip(renameEntry(GOOD, 'aa/x', 'a\\.x')))).toBe('E_PATH_ESCAPE');
    expect(codeOf(() => readZip(renameEntry(GOOD, 'aa/x', 'C:/x')))).toBe('E_PATH_ESCAPE');
  });

  it('refuses duplicate names naming the entry', () => {
    const dup = renameEntry(GOOD, 'aa/y', 'aa/x');
    expect(() => readZip(dup, { file: 'dup.zip' })).toThrow(/same name.*entry aa\/x/);
  });

  it('detects a corrupted byte through CRC-32', () => {
    const bad = GOOD.slice();
    bad[40] = bad[40]! ^ 0xff; // inside aa/x's stored data
    const z = readZip(bad);
    expect(codeOf(() => z.read('aa/x'))).toBe('E_BAD_FORMAT');
  });

  it('refuses declared sizes beyond the total limit before inflating', () => {
    expect(codeOf(() => readZip(GOOD, {}, { maxTotalSize: 3000 }))).toBe('E_TOO_LARGE');
    expect(codeOf(() => readZip(GOOD, {}, { maxEntries: 1 }))).toBe('E_LIMIT');
  });

  it('refuses a deflated entry whose declared size DEFLATE cannot produce (zip bomb header)', () => {
    const z = readZip(GOOD);
    const y = z.entries.find((e) => e.name === 'aa/y')!;
    const bad = GOOD.slice();
    // Central directory record of aa/y: find it by its name and patch the uncompressed size.
    const cdStart = findCentral(bad, 'aa/y');
    new DataView(bad.buffer).setUint32(cdStart + 24, y.compressedSize * 2000, true);
    expect(codeOf(() => readZip(bad))).toBe('E_TOO_LARGE');
  });

  it('refuses an entry whose data runs past the file data', () => {
    const bad = GOOD.slice();
    const cd = findCentral(bad, 'aa/x');
    const dv = new DataView(bad.buffer);
    dv.setUint32(cd + 20, 1e6, true);
    dv.setUint32(cd + 24, 1e6, true);
    expect(codeOf(() => readZip(bad))).toBe('E_TRUNCATED');
  });

  it('refuses an entry count that cannot fit in the central directory', () => {
    const bad = GOOD.slice();
    const eocd = bad.length - 22;
    new DataView(bad.buffer).setUint16(eocd + 10, 5000, true);
    expect(codeOf(() => readZip(bad))).toBe('E_BAD_FORMAT');
  });

  it('refuses entries whose data overlap (overlapping-file zip bomb)', () => {
    const bad = GOOD.slice();
    const x = readZip(GOOD).entries.find((e) => e.name === 'aa/x')!;
    // Stretch aa/x's stored data over aa/y's local header: the two entries now share bytes.
    const dv = new DataView(bad.buffer);
    dv.setUint32(findCentral(bad, 'aa/x') + 20, x.size + 100, true);
    dv.setUint32(findCentral(bad, 'aa/x') + 24, x.size + 100, true);
    expect(() => readZip(bad)).toThrow(/overlaps/);
    // and a central record pointing at another entry's local header is caught by the name check
    const other = GOOD.slice();
    new DataView(other.buffer).setUint32(findCentral(other, 'aa/y') + 42, x.offset, true);
    expect(() => readZip(other)).toThrow(/names a different file/);
  });

  it('refuses unknown compression methods and encryption', () => {
    const bad = GOOD.slice();
    new DataView(bad.buffer).setUint16(findCentral(bad, 'aa/x') + 10, 12, true);
    expect(codeOf(() => readZip(bad))).toBe('E_UNSUPPORTED');
    const enc = GOOD.slice();
    new DataView(enc.buffer).setUint16(findCentral(enc, 'aa/x') + 8, 1, true);
    expect(codeOf(() => readZip(enc))).toBe('E_UNSUPPORTED');
  });
});

function findCentral(b: Uint8Array, name: string): number {
  const n = new TextEncoder().encode(name);
  for (let i = 0; i + 46 + n.length <= b.length; i++) {
    if (b[i] === 0x50 && b[i + 1] === 0x4b && b[i + 2] === 1 && b[i + 3] === 2 && n.every((c, k) => b[i + 46 + k] === c)) return i;
  }
  throw new Error(`no central record for ${name}`);
}
