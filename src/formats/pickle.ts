/**
 * An allowlist unpickler: Python pickle protocols 0–5 decoded into plain JS values without ever
 * executing anything.
 *
 * Python's pickle is a small stack machine whose GLOBAL/REDUCE/BUILD/NEWOBJ opcodes import and call
 * arbitrary Python callables; that is how `os.system` ends up in a "model file". Here every global
 * is resolved through a caller-supplied resolver (see `safeBuiltins` and, for torch, the allowlist in
 * `torch.ts`, modelled on `torch.load(weights_only=True)`); anything it does not know is refused
 * with E_UNSAFE_CONTENT naming `module.name`. Resolved "callables" are TypeScript functions that
 * build data, never code. Dicts become `Map`s and objects keep their state in Maps, so keys such as
 * `__proto__` cannot reach object prototypes.
 *
 * Limits: memo size, mark depth, stack size, and every declared length checked against the bytes
 * that remain before anything is allocated.
 *
 * Spec: CPython Lib/pickletools.py (opcode table and semantics), PEP 307 (protocol 2), PEP 3154
 * (protocol 4), PEP 574 (protocol 5).
 */
import { RosettaError, wrapError, type ErrorWhere } from '../ir/errors.js';

/**
 * A decoded pickle value.
 * None → null, bool → boolean, int → number (bigint beyond 2^53), float → number (so an
 * integer-valued float such as 2.0 is indistinguishable from the int 2), str → string,
 * bytes/bytearray → Uint8Array, list → array, tuple → frozen array, dict → Map, set/frozenset → Set,
 * allowlisted globals → `PyGlobal`, placeholder instances → `PyObject`, and whatever opaque values
 * the resolver's callables return (e.g. torch tensor references).
 */
export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | readonly PickleValue[]
  | Map<PickleValue, PickleValue>
  | Set<PickleValue>
  | PyGlobal
  | PyObject
  | PickleOpaque;

/** Marker base class for values produced by resolver callables (tensor references, dtypes…). */
export abstract class PickleOpaque {
  /** Called for BUILD on this value; default: refuse. */
  setState(state: PickleValue, where: ErrorWhere): void {
    void state;
    throw new RosettaError('E_BAD_FORMAT', `pickle BUILD applied to ${this.constructor.name}, which has no state`, { where });
  }
}

/**
 * A resolved global. `call` implements REDUCE / NEWOBJ / INST / OBJ for it; globals without `call`
 * (type tokens such as `torch.nn.parameter.Parameter`) can be referenced but never invoked.
 */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly call?: (args: readonly PickleValue[], where: ErrorWhere) => PickleValue,
  ) {}
  get qualname(): string {
    return `${this.module}.${this.name}`;
  }
}

/**
 * A placeholder instance of an allowlisted class (e.g. a pickled `torch.nn.Linear`): never
 * constructed in any real sense; it just records the class name, constructor arguments and the
 * state BUILD gave it.
 */
export class PyObject extends PickleOpaque {
  state: PickleValue = null;
  constructor(
    readonly className: string,
    readonly args: readonly PickleValue[],
  ) {
    super();
  }
  override setState(state: PickleValue): void {
    this.state = state;
  }
}

/** Resolves `module.name` to an allowlisted global, or undefined to refuse it. */
export type GlobalResolver = (module: string, name: string) => PyGlobal | undefined;

export interface UnpickleLimits {
  /** Most memo entries (default 10,000,000). */
  maxMemo?: number;
  /** Deepest MARK nesting (default 1,000). */
  maxMarkDepth?: number;
  /** Largest stack (default 10,000,000 values). */
  maxStack?: number;
  /** Longest LONG1/LONG4 integer in bytes (default 1,024). */
  maxLongBytes?: number;
}

export interface UnpickleOptions {
  /** Allowlist resolver; default `safeBuiltins`. */
  resolveGlobal?: GlobalResolver;
  /** PERSID/BINPERSID handler; when absent, persistent ids are refused. */
  persistentLoad?: (pid: PickleValue, where: ErrorWhere) => PickleValue;
  /** Start offset in `bytes` (default 0). */
  offset?: number;
  file?: string;
  limits?: UnpickleLimits;
}

/** The value and the offset just after its STOP opcode (legacy torch files hold several pickles back to back). */
export interface UnpickleResult {
  value: PickleValue;
  end: number;
}

/** Python 2 module names that `fix_imports` maps to their Python 3 homes, as CPython's Unpickler does. */
const PY2_MODULES: Record<string, string> = { __builtin__: 'builtins', copy_reg: 'copyreg' };

/**
 * The builtins state dicts need: `collections.OrderedDict`, `builtins.set/frozenset/bytes/
 * bytearray/complex/slice`, and `_codecs.encode` (how protocol 2 pickles `bytes`). Nothing else.
 */
export const safeBuiltins: GlobalResolver = (module, name) => {
  const m = PY2_MODULES[module] ?? module;
  const q = `${m}.${name}`;
  switch (q) {
    case 'collections.OrderedDict':
      return new PyGlobal(m, name, (args, where) => {
        const out = new Map<PickleValue, PickleValue>();
        if (args.length > 0 && args[0] !== null) {
          for (const pair of iterate(args[0]!, where)) {
            if (!Array.isArray(pair) || pair.length !== 2) throw new RosettaError('E_BAD_FORMAT', 'OrderedDict argument is not a list of pairs', { where });
            out.set(pair[0] as PickleValue, pair[1] as PickleValue);
          }
        }
        return out;
      });
    case 'builtins.set':
    case 'builtins.frozenset':
      return new PyGlobal(m, name, (args, where) => new Set(args.length ? iterate(args[0]!, where) : []));
    case 'builtins.bytes': // protocols 0–2 spell b'' as bytes()
    case 'builtins.bytearray':
      return new PyGlobal(m, name, (args, where) => {
        if (args.length === 0) return new Uint8Array(0);
        const a = args[0]!;
        if (a instanceof Uint8Array) return a.slice();
        throw new RosettaError('E_BAD_FORMAT', `${name}() argument is not bytes`, { where });
      });
    case 'builtins.complex':
    case 'builtins.slice':
      return new PyGlobal(m, name, (args) => new PyObject(q, args));
    case '_codecs.encode':
      return new PyGlobal(m, name, (args, where) => codecsEncode(args, where));
    default:
      return undefined;
  }
};

function iterate(v: PickleValue, where: ErrorWhere): PickleValue[] {
  if (Array.isArray(v)) return v as PickleValue[];
  if (v instanceof Set) return [...v];
  if (v instanceof Map) return [...v.keys()];
  throw new RosettaError('E_BAD_FORMAT', 'expected a list, tuple or set in a pickle constructor argument', { where });
}

/** `_codecs.encode(str, 'latin1')`: protocol 2's spelling of a `bytes` object. */
function codecsEncode(args: readonly PickleValue[], where: ErrorWhere): Uint8Array {
  const [s, enc] = args;
  if (typeof s !== 'string') throw new RosettaError('E_BAD_FORMAT', '_codecs.encode expects a string', { where });
  const e = typeof enc === 'string' ? enc.toLowerCase().replace(/_/g, '-') : 'utf-8';
  if (e === 'latin1' || e === 'latin-1' || e === 'iso-8859-1') {
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 255) throw new RosettaError('E_BAD_FORMAT', '_codecs.encode: character outside latin-1', { where });
      out[i] = c;
    }
    return out;
  }
  if (e === 'utf-8' || e === 'utf8' || e === 'ascii') return new TextEncoder().encode(s);
  throw new RosettaError('E_UNSUPPORTED', `_codecs.encode with encoding '${String(enc)}'`, { where });
}

/** Raised for anything the resolver refuses; shared so all readers word it the same way. */
export function unsafeGlobal(module: string, name: string, where: ErrorWhere, hint?: string): RosettaError {
  return new RosettaError('E_UNSAFE_CONTENT', `pickle refers to global ${module}.${name}, which is not on the allowlist; nothing was executed`, {
    where,
    hint: hint ?? 'only plain tensors and containers can be loaded from pickles; re-save the data as a state dict (model.state_dict()) or as safetensors',
  });
}

// ---------------------------------------------------------------------------------------------

const MARK = Symbol('mark');
type Slot = PickleValue | typeof MARK;

const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8');

/**
 * Decode one pickle starting at `opts.offset`. Throws E_TRUNCATED, E_BAD_FORMAT, E_LIMIT or
 * E_UNSAFE_CONTENT (with the byte offset of the opcode) and nothing else.
 */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions = {}): UnpickleResult {
  const resolve = opts.resolveGlobal ?? safeBuiltins;
  const lim = {
    memo: opts.limits?.maxMemo ?? 10_000_000,
    marks: opts.limits?.maxMarkDepth ?? 1000,
    stack: opts.limits?.maxStack ?? 10_000_000,
    long: opts.limits?.maxLongBytes ?? 1024,
  };
  const file = opts.file;
  const b = bytes;
  let pos = opts.offset ?? 0;
  let opPos = pos;
  const stack: Slot[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const where = (): ErrorWhere => ({ file, offset: opPos });
  const fail = (msg: string): never => {
    throw new RosettaError('E_BAD_FORMAT', `pickle: ${msg}`, { where: where() });
  };

  const need = (n: number): void => {
    if (!(n >= 0) || pos + n > b.length) {
      throw new RosettaError('E_TRUNCATED', `pickle data ends inside an opcode (needs ${n} bytes, ${b.length - pos} left)`, { where: where() });
    }
  };
  const byte = (): number => {
    need(1);
    return b[pos++]!;
  };
  const u16 = (): number => {
    need(2);
    const v = dv.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = dv.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const lo = dv.getUint32(pos, true);
    const hi = dv.getUint32(pos + 4, true);
    pos += 8;
    // Any length above 2^53 cannot fit in the remaining bytes; report it as such.
    return hi >= 0x200000 ? Infinity : hi * 0x100000000 + lo;
  };
  // A bytes object the caller keeps: a copy, never a view of the input. `new Uint8Array(x)` always
  // copies; `slice()` would not on a Node Buffer (its slice is a view into the caller's bytes).
  const copyBytes = (s: Uint8Array): Uint8Array => new Uint8Array(s);
  const take = (n: number): Uint8Array => {
    need(n);
    const s = b.subarray(pos, pos + n);
    pos += n;
    return s;
  };
  const line = (): string => {
    const end = b.indexOf(0x0a, pos);
    if (end < 0) throw new RosettaError('E_TRUNCATED', 'pickle text argument has no terminating newline', { where: where() });
    const s = latin1.decode(b.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const push = (v: PickleValue): void => {
    if (stack.length >= lim.stack) throw new RosettaError('E_LIMIT', `pickle stack exceeds ${lim.stack} values`, { where: where() });
    stack.push(v);
  };
  const pop = (): PickleValue => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1]!)) fail('stack underflow');
    const v = stack.pop()!;
    return v as PickleValue;
  };
  const top = (): PickleValue => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1]!)) fail('stack underflow');
    return stack[stack.length - 1] as PickleValue;
  };
  const popMark = (): PickleValue[] => {
    if (marks.length === 0) fail('opcode needs a MARK but none is open');
    const m = marks.pop()!;
    return stack.splice(m) as PickleValue[];
  };
  const memoPut = (i: number, v: PickleValue): void => {
    if (!memo.has(i) && memo.size >= lim.memo) throw new RosettaError('E_LIMIT', `pickle memo exceeds ${lim.memo} entries`, { where: where() });
    memo.set(i, v);
  };
  const memoGet = (i: number): PickleValue => {
    if (!memo.has(i)) fail(`memo key ${i} was never stored`);
    return memo.get(i)!;
  };
  const global = (module: string, name: string): PickleValue => {
    const g = resolve(module, name);
    if (!g) throw unsafeGlobal(module, name, where());
    return g;
  };
  const callable = (f: PickleValue, what: string): PyGlobal => {
    if (!(f instanceof PyGlobal)) fail(`${what} target is not a global (got ${describe(f)})`);
    const g = f as PyGlobal;
    if (!g.call) {
      throw new RosettaError('E_UNSAFE_CONTENT', `pickle ${what} calls ${g.qualname}, which may be referenced but not called; nothing was executed`, { where: where() });
    }
    return g;
  };
  const invoke = (f: PickleValue, args: PickleValue, what: string): PickleValue => {
    const g = callable(f, what);
    if (!Array.isArray(args)) fail(`${what} arguments are not a tuple`);
    try {
      return g.call!(args as PickleValue[], where());
    } catch (e) {
      throw wrapError(e, 'E_BAD_FORMAT', `pickle: ${g.qualname} rejected its arguments`, where());
    }
  };
  const persistent = (pid: PickleValue): PickleValue => {
    if (!opts.persistentLoad) throw new RosettaError('E_UNSAFE_CONTENT', 'pickle uses a persistent id but this reader accepts none', { where: where() });
    return opts.persistentLoad(pid, where());
  };
  const setItems = (target: PickleValue, items: PickleValue[]): void => {
    if (!(target instanceof Map)) fail(`SETITEM(S) on ${describe(target)}, not a dict`);
    if (items.length % 2) fail('SETITEMS with an odd number of values');
    for (let i = 0; i < items.length; i += 2) (target as Map<PickleValue, PickleValue>).set(items[i]!, items[i + 1]!);
  };
  const appendItems = (target: PickleValue, items: PickleValue[]): void => {
    if (!Array.isArray(target) || Object.isFrozen(target)) fail(`APPEND(S) on ${describe(target)}, not a list`);
    for (const x of items) (target as PickleValue[]).push(x);
  };
  const int = (n: bigint): number | bigint => (n >= -9007199254740991n && n <= 9007199254740991n ? Number(n) : n);
  const longBytes = (data: Uint8Array): number | bigint => {
    if (data.length === 0) return 0;
    let v = 0n;
    for (let i = data.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[i]!);
    if (data[data.length - 1]! & 0x80) v -= 1n << BigInt(8 * data.length);
    return int(v);
  };
  const parseDecimal = (s: string, what: string): number | bigint => {
    const t = s.trim().replace(/L$/, '');
    // BigInt parsing is superlinear; the same bound as LONG1/LONG4 (in decimal digits) applies.
    if (t.length > lim.long * 3) throw new RosettaError('E_LIMIT', `pickle ${what} integer of ${t.length} digits is too long`, { where: where() });
    if (!/^[+-]?\d+$/.test(t)) fail(`${what} argument '${s.slice(0, 40)}' is not an integer`);
    return int(BigInt(t));
  };
  const tuple = (items: PickleValue[]): readonly PickleValue[] => Object.freeze(items);

  while (true) {
    opPos = pos;
    if (pos >= b.length) throw new RosettaError('E_TRUNCATED', 'pickle ends without a STOP opcode', { where: where() });
    const op = b[pos++]!;
    switch (op) {
      case 0x80: {
        // PROTO
        const v = byte();
        if (v > 5) fail(`unsupported pickle protocol ${v}`);
        break;
      }
      case 0x95: {
        // FRAME: a length hint only; the opcodes inside are read as usual.
        const n = u64();
        if (n > b.length - pos) throw new RosettaError('E_TRUNCATED', `pickle frame of ${n} bytes runs past the data`, { where: where() });
        break;
      }
      case 0x2e: // STOP '.'
        if (marks.length) fail('STOP with an open MARK');
        if (stack.length !== 1) fail(`STOP with ${stack.length} values on the stack`);
        return { value: stack[0] as PickleValue, end: pos };
      case 0x28: // MARK '('
        if (marks.length >= lim.marks) throw new RosettaError('E_LIMIT', `pickle MARK nesting exceeds ${lim.marks}`, { where: where() });
        marks.push(stack.length);
        break;
      case 0x30: // POP '0'
        // As CPython: POP on an empty frame discards the MARK itself.
        if (marks.length && stack.length === marks[marks.length - 1]) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK '1'
        popMark();
        break;
      case 0x32: // DUP '2'
        push(top());
        break;

      // ---- constants and numbers
      case 0x4e: // NONE 'N'
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4b: // BININT1 'K'
        push(byte());
        break;
      case 0x4d: // BININT2 'M'
        push(u16());
        break;
      case 0x4a: {
        // BININT 'J'
        need(4);
        push(dv.getInt32(pos, true));
        pos += 4;
        break;
      }
      case 0x49: {
        // INT 'I' (protocol 0; "01"/"00" are True/False)
        const s = line();
        if (s === '01') push(true);
        else if (s === '00') push(false);
        else push(parseDecimal(s, 'INT'));
        break;
      }
      case 0x4c: // LONG 'L'
        push(parseDecimal(line(), 'LONG'));
        break;
      case 0x8a: {
        // LONG1
        const n = byte();
        if (n > lim.long) throw new RosettaError('E_LIMIT', `pickle integer of ${n} bytes exceeds ${lim.long}`, { where: where() });
        push(longBytes(take(n)));
        break;
      }
      case 0x8b: {
        // LONG4
        const n = u32();
        if (n > 0x7fffffff) fail('LONG4 with a negative length');
        if (n > lim.long) throw new RosettaError('E_LIMIT', `pickle integer of ${n} bytes exceeds ${lim.long}`, { where: where() });
        push(longBytes(take(n)));
        break;
      }
      case 0x46: {
        // FLOAT 'F'
        const s = line().trim();
        const v = Number(s);
        if (s === '' || (Number.isNaN(v) && !/^[+-]?nan$/i.test(s))) fail(`FLOAT argument '${s.slice(0, 40)}' is not a number`);
        push(Number.isNaN(v) ? NaN : v);
        break;
      }
      case 0x47: {
        // BINFLOAT 'G' (big-endian double)
        need(8);
        push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      }

      // ---- strings and bytes
      case 0x58: // BINUNICODE 'X'
        push(utf8.decode(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(utf8.decode(take(byte())));
        break;
      case 0x8d: // BINUNICODE8
        push(utf8.decode(take(u64())));
        break;
      case 0x56: // UNICODE 'V' (raw-unicode-escape)
        push(rawUnicodeEscape(line()));
        break;
      case 0x53: // STRING 'S' (repr of a Python 2 str)
        push(pythonStringLiteral(line(), fail));
        break;
      case 0x54: {
        // BINSTRING 'T'
        const n = u32();
        if (n > 0x7fffffff) fail('BINSTRING with a negative length');
        push(latin1.decode(take(n)));
        break;
      }
      case 0x55: // SHORT_BINSTRING 'U'
        push(latin1.decode(take(byte())));
        break;
      case 0x42: // BINBYTES 'B'
        push(copyBytes(take(u32())));
        break;
      case 0x43: // SHORT_BINBYTES 'C'
        push(copyBytes(take(byte())));
        break;
      case 0x8e: // BINBYTES8
        push(copyBytes(take(u64())));
        break;
      case 0x96: // BYTEARRAY8
        push(copyBytes(take(u64())));
        break;
      case 0x97: // NEXT_BUFFER
        throw new RosettaError('E_UNSUPPORTED', 'pickle uses out-of-band buffers (protocol 5 NEXT_BUFFER), which a file cannot provide', { where: where() });
      case 0x98: // READONLY_BUFFER
        top();
        break;

      // ---- containers
      case 0x5d: // EMPTY_LIST ']'
        push([]);
        break;
      case 0x29: // EMPTY_TUPLE ')'
        push(tuple([]));
        break;
      case 0x7d: // EMPTY_DICT '}'
        push(new Map());
        break;
      case 0x8f: // EMPTY_SET
        push(new Set());
        break;
      case 0x6c: // LIST 'l'
        push(popMark());
        break;
      case 0x74: // TUPLE 't'
        push(tuple(popMark()));
        break;
      case 0x85: // TUPLE1
        push(tuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const y = pop();
        const x = pop();
        push(tuple([x, y]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const z = pop();
        const y = pop();
        const x = pop();
        push(tuple([x, y, z]));
        break;
      }
      case 0x64: {
        // DICT 'd'
        const items = popMark();
        const d = new Map<PickleValue, PickleValue>();
        setItems(d, items);
        push(d);
        break;
      }
      case 0x91: // FROZENSET
        push(new Set(popMark()));
        break;
      case 0x61: {
        // APPEND 'a'
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS 'e'
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x73: {
        // SETITEM 's'
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS 'u'
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail(`ADDITEMS on ${describe(s)}, not a set`);
        for (const x of items) (s as Set<PickleValue>).add(x);
        break;
      }

      // ---- memo
      case 0x70: // PUT 'p'
        memoPut(Number(parseDecimal(line(), 'PUT')), top());
        break;
      case 0x71: // BINPUT 'q'
        memoPut(byte(), top());
        break;
      case 0x72: // LONG_BINPUT 'r'
        memoPut(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size, top());
        break;
      case 0x67: // GET 'g'
        push(memoGet(Number(parseDecimal(line(), 'GET'))));
        break;
      case 0x68: // BINGET 'h'
        push(memoGet(byte()));
        break;
      case 0x6a: // LONG_BINGET 'j'
        push(memoGet(u32()));
        break;

      // ---- globals, calls and objects: all through the allowlist
      case 0x63: {
        // GLOBAL 'c'
        const module = line();
        const name = line();
        push(global(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL operands are not strings');
        push(global(module as string, name as string));
        break;
      }
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
        throw new RosettaError('E_UNSAFE_CONTENT', 'pickle uses the copyreg extension registry (EXT1/2/4), which can name any global; refused, nothing was executed', { where: where() });
      case 0x52: {
        // REDUCE 'R'
        const args = pop();
        const f = pop();
        push(invoke(f, args, 'REDUCE'));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args)
        const args = pop();
        const cls = pop();
        push(invoke(cls, args, 'NEWOBJ'));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX: cls.__new__(cls, *args, **kwargs)
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!(kwargs instanceof Map) || kwargs.size > 0) fail('NEWOBJ_EX with keyword arguments is not supported');
        push(invoke(cls, args, 'NEWOBJ_EX'));
        break;
      }
      case 0x69: {
        // INST 'i': protocol 0 instance creation
        const module = line();
        const name = line();
        const args = popMark();
        push(invoke(global(module, name), tuple(args), 'INST'));
        break;
      }
      case 0x6f: {
        // OBJ 'o'
        const items = popMark();
        if (items.length === 0) fail('OBJ without a class');
        push(invoke(items[0]!, tuple(items.slice(1)), 'OBJ'));
        break;
      }
      case 0x62: {
        // BUILD 'b'
        const state = pop();
        const obj = top();
        if (obj instanceof PickleOpaque) obj.setState(state, where());
        else if (obj instanceof Map) {
          // OrderedDict.__reduce__ passes its instance __dict__ (e.g. torch's `_metadata`) here;
          // a plain dict has no attributes we keep, so the state is checked and dropped.
          if (state !== null && !(state instanceof Map) && !Array.isArray(state)) fail(`BUILD state for a dict is ${describe(state)}`);
        } else fail(`BUILD applied to ${describe(obj)}`);
        break;
      }
      case 0x50: // PERSID 'P'
        push(persistent(line()));
        break;
      case 0x51: // BINPERSID 'Q'
        push(persistent(pop()));
        break;
      default:
        fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}

/** Short description of a value for error messages (never its full content). */
export function describe(v: PickleValue | undefined): string {
  if (v === null) return 'None';
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'number' || typeof v === 'bigint') return 'a number';
  if (typeof v === 'boolean') return 'a bool';
  if (v instanceof Uint8Array) return 'bytes';
  if (Array.isArray(v)) return Object.isFrozen(v) ? 'a tuple' : 'a list';
  if (v instanceof Map) return 'a dict';
  if (v instanceof Set) return 'a set';
  if (v instanceof PyGlobal) return `global ${v.qualname}`;
  if (v instanceof PyObject) return `a ${v.className} object`;
  return `a ${(v as object).constructor?.name ?? 'value'}`;
}

/** Python's raw-unicode-escape: only \uXXXX and \UXXXXXXXX are escapes; other bytes are latin-1. */
function rawUnicodeEscape(s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, a: string | undefined, b: string | undefined) => {
    const cp = parseInt(a ?? b!, 16);
    return cp <= 0x10ffff ? String.fromCodePoint(cp) : '\ufffd';
  });
}

/** A Python 2 `repr(str)` literal, as protocol 0's STRING opcode stores it. */
function pythonStringLiteral(raw: string, fail: (msg: string) => never): string {
  const s = raw.trimEnd();
  const q = s[0];
  if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) fail('STRING argument is not a quoted literal');
  const body = s.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = body[++i];
    switch (n) {
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case '\\': out += '\\'; break;
      case "'": out += "'"; break;
      case '"': out += '"'; break;
      case 'x': {
        const h = body.slice(i + 1, i + 3);
        if (!/^[0-9a-fA-F]{2}$/.test(h)) fail('STRING has a bad \\x escape');
        out += String.fromCharCode(parseInt(h, 16));
        i += 2;
        break;
      }
      default: {
        const oct = /^[0-7]{1,3}/.exec(body.slice(i));
        if (oct) {
          out += String.fromCharCode(parseInt(oct[0], 8) & 0xff);
          i += oct[0].length - 1;
        } else out += `\\${n ?? ''}`;
      }
    }
  }
  return out;
}
