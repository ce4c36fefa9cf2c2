/**
 * Hostile pickles: every file in ../shared/corpus/bad is refused with a typed error, crafted
 * payloads that would create files (proved live by running them in CPython when it is installed)
 * create nothing here, and structural limits hold.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PickleWriter } from '../../src/formats/pickle-writer.js';
import { type PickleValue, unpickle } from '../../src/formats/pickle.js';
import { torchGlobals, writeTorch } from '../../src/formats/torch.js';
import { writeZip } from '../../src/formats/zip.js';
import { isRosettaError } from '../../src/ir/errors.js';
import { Tensor } from '../../src/ir/tensor.js';
import { importFile } from '../../src/importers/index.js';
import { readPytorchWeights } from '../../src/importers/pytorch/index.js';
import { HAS_CORPUS, SYSTEM_PYTHON, corpusPath, readCorpus } from '../helpers/corpus.js';
import { errorOf } from '../helpers/errors.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const cat = (...parts: (Uint8Array | number[])[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

/** `module.name(arg)` as protocol 0 (GLOBAL + MARK + STRING + TUPLE + REDUCE). */
function p0Call(module: string, name: string, arg: string): Uint8Array {
  return enc(`c${module}\n${name}\n(S'${arg}'\ntR.`);
}
/** `module.name(*args)` as protocol 2. */
function p2Call(module: string, name: string, args: string[]): Uint8Array {
  const w = new PickleWriter(2).global(module, name).mark();
  for (const a of args) w.str(a);
  return w.tuple().reduce().finish();
}
/** `module.name(arg)` as protocol 4 (SHORT_BINUNICODE + STACK_GLOBAL + MEMOIZE + TUPLE1). */
function p4Call(module: string, name: string, arg: string): Uint8Array {
  const s = (x: string): number[] => [0x8c, enc(x).length, ...enc(x)];
  return cat([0x80, 4], s(module), s(name), [0x93, 0x94], s(arg), [0x85, 0x52, 0x2e]);
}

const HAS_PY = existsSync(SYSTEM_PYTHON);

describe.skipIf(!HAS_CORPUS)('corpus/bad: every file is refused with a typed error', () => {
  const files = HAS_CORPUS ? readdirSync(corpusPath('bad')) : [];
  for (const f of files) {
    it(`${f}`, async () => {
      let err: unknown;
      try {
        await importFile({ name: f, bytes: readCorpus('bad', f) });
      } catch (e) {
        err = e;
      }
      expect(isRosettaError(err), String(err)).toBe(true);
      expect((err as { code: string }).code).toMatch(/^E_(UNSAFE_CONTENT|BAD_FORMAT)$/);
    });
  }
  it('the unsafe ones name the global they refused', () => {
    expect(errorOf(() => readPytorchWeights(readCorpus('bad', 'modelscan_unsafe_zip_pytorch.pt'), 'x.pt')).message).toMatch(/posix\.system/);
    expect(errorOf(() => readPytorchWeights(readCorpus('bad', 'picklescan_malicious1_v4.pkl'), 'x.pkl')).message).toMatch(/builtins\.eval/);
    expect(errorOf(() => readPytorchWeights(readCorpus('bad', 'picklescan_pytorch_magic_bypass.pt'), 'x.pt')).message).toMatch(/__builtin__\.eval/);
  });
});

describe('crafted payloads run nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rosetta-pickle-'));
  const payloads: [string, (target: string) => Uint8Array][] = [
    ['posix.system touch (protocol 0)', (t) => p0Call('posix', 'system', `touch ${t}`)],
    ['os.system touch (protocol 2)', (t) => p2Call('os', 'system', [`touch ${t}`])],
    ['builtins.open for writing (protocol 2)', (t) => p2Call('builtins', 'open', [t, 'w'])],
    ['__builtin__.open (protocol 0)', (t) => enc(`c__builtin__\nopen\n(S'${t}'\nS'w'\ntR.`)],
    ['subprocess.getoutput via STACK_GLOBAL (protocol 4)', (t) => p4Call('subprocess', 'getoutput', `touch ${t}`)],
    ['builtins.exec (protocol 4)', (t) => p4Call('builtins', 'exec', `open(${JSON.stringify(t)}, 'w')`)],
  ];

  for (const [what, make] of payloads) {
    it(`${what}: refused with E_UNSAFE_CONTENT and the file is not created`, () => {
      const target = join(dir, `${what.replace(/\W+/g, '_')}`);
      const bytes = make(target);
      const e = errorOf(() => readPytorchWeights(bytes, 'evil.pkl'));
      expect(e.code).toBe('E_UNSAFE_CONTENT');
      // Inside a torch zip archive, too.
      const zipped = writeZip([{ name: 'archive/data.pkl', data: bytes }, { name: 'archive/version', data: enc('3\n') }]);
      expect(errorOf(() => readPytorchWeights(zipped, 'evil.pt')).code).toBe('E_UNSAFE_CONTENT');
      expect(existsSync(target)).toBe(false);
    });

    it.skipIf(!HAS_PY)(`${what}: the payload is live (CPython's pickle.load does create the file; skipped without /usr/bin/python3)`, () => {
      const target = join(dir, `live_${what.replace(/\W+/g, '_')}`);
      const p = join(dir, `live_${what.replace(/\W+/g, '_')}.pkl`);
      writeFileSync(p, make(target));
      spawnSync(SYSTEM_PYTHON, ['-c', 'import pickle,sys; pickle.load(open(sys.argv[1],"rb"))', p], { encoding: 'utf8' });
      expect(existsSync(target)).toBe(true);
    });
  }

  it('refuses getattr, eval, user classes and copyreg, naming each', () => {
    for (const [m, n] of [['builtins', 'getattr'], ['builtins', 'eval'], ['__main__', 'Net'], ['copyreg', '_reconstructor'], ['numpy.core.multiarray', '_reconstruct'], ['torch', 'load'], ['torch.storage', '_load_from_bytes']] as const) {
      const e = errorOf(() => unpickle(p2Call(m, n, []), { resolveGlobal: torchGlobals }));
      expect(e.code, `${m}.${n}`).toBe('E_UNSAFE_CONTENT');
      expect(e.message).toContain(`${m}.${n}`);
    }
  });

  it('allowlisted type tokens may be referenced but never called', () => {
    const e = errorOf(() => unpickle(new PickleWriter(2).global('torch', 'FloatStorage').emptyTuple().reduce().finish(), { resolveGlobal: torchGlobals }));
    expect(e.code).toBe('E_UNSAFE_CONTENT');
    const f = errorOf(() => unpickle(new PickleWriter(2).global('torch.nn.parameter', 'Parameter').emptyTuple().reduce().finish(), { resolveGlobal: torchGlobals }));
    expect(f.code).toBe('E_UNSAFE_CONTENT');
  });

  it('the extension registry (EXT1) is refused', () => {
    expect(errorOf(() => unpickle(Uint8Array.of(0x80, 2, 0x82, 1, 0x2e))).code).toBe('E_UNSAFE_CONTENT');
  });

  it('persistent ids are refused when no loader is given', () => {
    expect(errorOf(() => unpickle(enc('Pfoo\n.'))).code).toBe('E_UNSAFE_CONTENT');
  });
});

describe('prototype pollution is impossible', () => {
  it('__proto__, constructor and prototype keys stay plain keys', () => {
    const w = new PickleWriter(2).emptyDict().mark();
    w.str('__proto__').emptyDict().mark().str('polluted').bool(true).setItems();
    w.str('constructor').str('x').str('prototype').str('y').setItems();
    const v = unpickle(w.finish()).value as Map<string, PickleValue>;
    expect(v).toBeInstanceOf(Map);
    expect((v.get('__proto__') as Map<string, PickleValue>).get('polluted')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // and through the state-dict flattener into metadata
    const sd = new PickleWriter(2).emptyDict().mark().str('__proto__').int(1).setItems().finish();
    const ws = readPytorchWeights(sd, 'p.pkl');
    expect(Object.getPrototypeOf(ws.metadata)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('structural limits and malformed streams', () => {
  it('truncated streams give E_TRUNCATED', () => {
    const good = new PickleWriter(2).str('hello world').finish();
    for (let n = 1; n < good.length; n++) {
      const e = errorOf(() => unpickle(good.subarray(0, n)));
      expect(e.code, `cut at ${n}`).toBe('E_TRUNCATED');
    }
  });

  it('a declared string length beyond the data is refused before allocating', () => {
    expect(errorOf(() => unpickle(Uint8Array.of(0x80, 4, 0x8d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x2e))).code).toBe('E_TRUNCATED');
    expect(errorOf(() => unpickle(Uint8Array.of(0x80, 2, 0x58, 0xff, 0xff, 0xff, 0x7f))).code).toBe('E_TRUNCATED');
    expect(errorOf(() => unpickle(Uint8Array.of(0x80, 4, 0x95, 0, 0, 0, 0, 0, 0, 1, 0, 0x4e, 0x2e))).code).toBe('E_TRUNCATED');
  });

  it('deep MARK nesting hits E_LIMIT', () => {
    const deep = cat([0x80, 2], new Array(5000).fill(0x28), [0x2e]);
    expect(errorOf(() => unpickle(deep)).code).toBe('E_LIMIT');
  });

  it('memo and stack limits are enforced', () => {
    const many = cat([0x80, 4], ...Array.from({ length: 50 }, () => [0x4e, 0x94, 0x30]), [0x4e, 0x2e]);
    expect(errorOf(() => unpickle(many, { limits: { maxMemo: 10 } })).code).toBe('E_LIMIT');
    const tall = cat([0x80, 2], new Array(100).fill(0x4e), [0x2e]);
    expect(errorOf(() => unpickle(tall, { limits: { maxStack: 50 } })).code).toBe('E_LIMIT');
  });

  it('huge LONG4 integers are refused', () => {
    expect(errorOf(() => unpickle(cat([0x80, 2, 0x8b, 0, 0, 1, 0], new Array(65536).fill(1), [0x2e]))).code).toBe('E_LIMIT');
  });

  it('stack underflow, unknown opcodes, bad memo keys and missing STOP are E_BAD_FORMAT / E_TRUNCATED', () => {
    expect(errorOf(() => unpickle(Uint8Array.of(0x80, 2, 0x52, 0x2e))).code).toBe('E_BAD_FORMAT');
    expect(errorOf(() => unpickle(Uint8Array.of(0x80, 2, 0xff))).code).toBe('E_BAD_FORMAT');
    expect(errorOf(() => unpickle(Uint8Array.of(0x80, 2, 0x68, 9, 0x2e))).code).toBe('E_BAD_FORMAT');
    expect(errorOf(() => unpickle(Uint8Array.of(0x80, 2, 0x4e))).code).toBe('E_TRUNCATED');
    expect(errorOf(() => unpickle(Uint8Array.of(0x80, 2, 0x4e, 0x4e, 0x2e))).code).toBe('E_BAD_FORMAT');
    expect(errorOf(() => unpickle(Uint8Array.of(0x80, 9, 0x4e, 0x2e))).code).toBe('E_BAD_FORMAT');
    // POP with an empty frame discards the MARK (CPython semantics), so MARK POP NONE STOP is valid
    expect(unpickle(Uint8Array.of(0x80, 2, 0x28, 0x30, 0x4e, 0x2e)).value).toBe(null);
    // SETITEMS on a list, APPEND on a tuple
    expect(errorOf(() => unpickle(Uint8Array.of(0x80, 2, 0x5d, 0x28, 0x4e, 0x4e, 0x75, 0x2e))).code).toBe('E_BAD_FORMAT');
    expect(errorOf(() => unpickle(Uint8Array.of(0x80, 2, 0x29, 0x4e, 0x61, 0x2e))).code).toBe('E_BAD_FORMAT');
  });

  it('a self-referencing container does not hang the state-dict flattener', () => {
    // d = {}; d['me'] = d  →  EMPTY_DICT BINPUT 0 'me' BINGET 0 SETITEM
    const cyc = cat([0x80, 2, 0x7d, 0x71, 0], [0x58, 2, 0, 0, 0], enc('me'), [0x68, 0, 0x73, 0x2e]);
    expect(errorOf(() => readPytorchWeights(cyc, 'cyc.pkl')).code).toBe('E_BAD_FORMAT');
  });

  it('a DAG of shared containers (2^40 paths in a few hundred bytes) hits E_LIMIT instead of hanging', () => {
    // d0 = {}; d_{i+1} = {'a': d_i, 'b': d_i}; the flattener would visit 2^40 leaves.
    const parts: number[] = [0x80, 2, 0x7d, 0x71, 0];
    for (let i = 1; i <= 40; i++) parts.push(0x30, 0x7d, 0x71, i, 0x28, 0x55, 1, 0x61, 0x68, i - 1, 0x55, 1, 0x62, 0x68, i - 1, 0x75);
    parts.push(0x2e);
    const t0 = Date.now();
    expect(errorOf(() => readPytorchWeights(Uint8Array.from(parts), 'dag.pkl')).code).toBe('E_LIMIT');
    expect(Date.now() - t0).toBeLessThan(60_000);
  });

  it('protocol-0 integers with millions of digits are refused', () => {
    expect(errorOf(() => unpickle(enc(`L${'9'.repeat(100_000)}L\n.`))).code).toBe('E_LIMIT');
  });

  it('a legitimate file still loads after all that (control)', () => {
    const ok = writeTorch(new Map([['w', Tensor.from('float32', [2], [1, 2])]]));
    expect(readPytorchWeights(ok, 'ok.pt').tensors.get('w')!.toNumbers()).toEqual([1, 2]);
  });
});
