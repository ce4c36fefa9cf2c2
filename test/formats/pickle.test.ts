/**
 * The allowlist unpickler against CPython's own pickles: the same object pickled with protocols
 * 0–5 (fixtures/pytorch-formats/gen.py, CPython 3.11) must decode to what `pickle.load` returned
 * (gen/expect.json, tagged JSON), plus the pickle writer read back by our reader.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PickleWriter } from '../../src/formats/pickle-writer.js';
import { PyGlobal, type PickleValue, unpickle } from '../../src/formats/pickle.js';
import { PROJECT_ROOT } from '../helpers/corpus.js';

const DIR = join(PROJECT_ROOT, 'fixtures', 'pytorch-formats', 'gen');
const EXPECT = JSON.parse(readFileSync(join(DIR, 'expect.json'), 'utf8')) as { pickles: Record<string, unknown> };

/** Our decoded value in the tagged JSON form gen.py writes. */
function tag(v: PickleValue): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return { int: v.toString() };
  if (typeof v === 'number') return Number.isInteger(v) ? { int: String(v) } : { float: v };
  if (v instanceof Uint8Array) return { bytes: [...v] };
  if (Array.isArray(v)) return Object.isFrozen(v) ? { tuple: v.map(tag) } : { list: v.map(tag) };
  if (v instanceof Set) return { set: [...v].map(tag).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)) };
  if (v instanceof Map) return { dict: [...v].map(([k, x]) => [tag(k), tag(x)]) };
  throw new Error(`unexpected value ${String(v)}`);
}

describe('pickle: CPython protocols 0–5', () => {
  for (const [file, want] of Object.entries(EXPECT.pickles)) {
    it(`${file} decodes to what pickle.load returns`, () => {
      const bytes = new Uint8Array(readFileSync(join(DIR, file)));
      const { value, end } = unpickle(bytes, { file });
      expect(end).toBe(bytes.length);
      // 2.5 is a float in Python but an integer-valued check in JS would misfile 2.0; the fixture uses 2.5.
      expect(tag(value)).toEqual(want);
      const m = value as Map<PickleValue, PickleValue>;
      // The memo makes shared objects identical, as in Python.
      expect(m.get('shared_a')).toBe(m.get('shared_b'));
      // A '__proto__' key is just a key: no prototype was touched.
      expect(m.get('__proto__')).toBe('not a prototype');
      expect(({} as Record<string, unknown>).constructor).toBe(Object);
    });
  }
});

describe('pickle: differential against CPython on random objects', () => {
  // fixtures/pytorch-formats/gen/random_pickles.json: 40 random nested objects (ints of every width,
  // floats, escaped and non-BMP strings, bytes, tuples/lists/dicts/sets/OrderedDicts, shared refs)
  // × protocols 0–5, with what CPython's pickle.loads returned, tagged.
  const cases = JSON.parse(readFileSync(join(DIR, 'random_pickles.json'), 'utf8')) as { protocol: number; pickle: string; expect: unknown }[];
  // JS has one number type: an integer-valued Python float (2.0, -0.0) decodes to the same number
  // as the int, so the expectation is normalised to that (documented on PickleValue).
  const normalise = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(normalise);
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if ('float' in o && typeof o.float === 'number' && Number.isInteger(o.float)) return { int: String(o.float) };
      if ('set' in o) return { set: (o.set as unknown[]).map(normalise).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)) };
      return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, normalise(x)]));
    }
    return v;
  };
  it(`${cases.length} pickles decode exactly as CPython decodes them`, () => {
    for (const [i, c] of cases.entries()) {
      const bytes = new Uint8Array(Buffer.from(c.pickle, 'base64'));
      expect(tag(unpickle(bytes).value), `case ${i} (protocol ${c.protocol})`).toEqual(normalise(c.expect));
    }
  });
});

describe('pickle: opcodes CPython 3 no longer emits', () => {
  const enc = (x: string): Uint8Array => new TextEncoder().encode(x);
  it('INST and OBJ build allowlisted classes; NEWOBJ_EX without kwargs; PERSID reaches the loader', () => {
    // INST: MARK, 'i' module\nname\n  → collections.OrderedDict()
    expect(unpickle(enc('(icollections\nOrderedDict\n.')).value).toBeInstanceOf(Map);
    // OBJ: MARK, class, args..., 'o'
    expect(unpickle(enc('(ccollections\nOrderedDict\no.')).value).toBeInstanceOf(Map);
    // NEWOBJ_EX: cls, args tuple, kwargs dict
    const ex = Uint8Array.from([0x80, 4, ...enc('ccollections\nOrderedDict\n'), 0x29, 0x7d, 0x92, 0x2e]);
    expect(unpickle(ex).value).toBeInstanceOf(Map);
    // PERSID (protocol 0 text persistent id)
    expect(unpickle(enc('Pstorage-7\n.'), { persistentLoad: (pid) => `loaded ${String(pid)}` }).value).toBe('loaded storage-7');
    // INST of a global outside the allowlist is refused like GLOBAL
    expect(() => unpickle(enc('(ios\nsystem\n.'))).toThrow(/E_UNSAFE_CONTENT.*os\.system/);
  });
});

describe('pickle writer', () => {
  it('writes ints of every width, strings, floats and dicts that read back', () => {
    const p = new PickleWriter(2);
    p.emptyDict().mark();
    const ints = [0, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31 - 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 53 - 1];
    ints.forEach((n, i) => p.str(`i${i}`).int(n));
    p.str('unsafe').int(2 ** 53).str('big').int(-(2n ** 70n)).str('f').float(-0.125).str('t').bool(true).str('n').none();
    p.str('shape').intTuple([3, 1, 4]).setItems();
    const v = unpickle(p.finish()).value as Map<string, PickleValue>;
    ints.forEach((n, i) => expect(v.get(`i${i}`)).toBe(n));
    expect(v.get('big')).toBe(-(2n ** 70n));
    expect(v.get('unsafe')).toBe(2n ** 53n); // beyond Number.MAX_SAFE_INTEGER ints stay exact as bigint
    expect([v.get('f'), v.get('t'), v.get('n')]).toEqual([-0.125, true, null]);
    expect(v.get('shape')).toEqual([3, 1, 4]);
  });

  it('resolves globals only through the resolver given', () => {
    const p = new PickleWriter(2).global('collections', 'OrderedDict').emptyTuple().reduce();
    const v = unpickle(p.finish()).value;
    expect(v).toBeInstanceOf(Map);
    const q = new PickleWriter(2).global('mymod', 'Thing').emptyTuple().reduce().finish();
    expect(unpickle(q, { resolveGlobal: (m, n) => (m === 'mymod' ? new PyGlobal(m, n, () => 'built') : undefined) }).value).toBe('built');
  });
});

describe('pickle: bytes objects are the reader\'s own copies', () => {
  // Buffer.prototype.slice is a view: a bytes value taken from a Node Buffer (readFileSync's
  // result) must not change when the caller later reuses or edits that buffer.
  it('a SHORT_BINBYTES value read from a Node Buffer does not alias it', () => {
    const input = Buffer.from([0x80, 3, 0x43, 2, 0x61, 0x62, 0x2e]); // PROTO 3, SHORT_BINBYTES b'ab', STOP
    const v = unpickle(input).value as Uint8Array;
    input[4] = 0x7a;
    expect([...v]).toEqual([0x61, 0x62]);
  });
});
