/**
 * A minimal WebAssembly binary emitter shared by the hand-written SIMD kernels (wasm-gemm.ts,
 * wasm-math.ts): LEB128 integers, sections, a module assembler with one exported memory, the
 * opcodes those kernels use, and `instantiateKernels`, the one place that decides whether SIMD
 * kernels run at all (`ROSETTA_NO_WASM` set, no `WebAssembly`, or `WebAssembly.validate` failing
 * → undefined, and callers keep their plain-JS loops).
 *
 * Why emit bytes instead of shipping a .wasm or using a toolchain: set-up stays `npm install`, the
 * kernels are reviewable as code, and nothing is fetched or evaluated.
 * Spec: https://webassembly.github.io/spec/core/binary/ (SIMD opcodes: the "fixed-width SIMD"
 * proposal, merged into the core spec 2.0: https://webassembly.github.io/spec/core/binary/instructions.html#vector-instructions).
 */

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (32-bit constants). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** A length-prefixed vector of already-encoded items. */
export const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
/** A section: id, byte length, body. */
export const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
/** A UTF-8 (here: ASCII) name. */
export const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

// ---- value types and scalar opcodes -----------------------------------------------------------

export const I32 = 0x7f;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;
export const get = (i: number): number[] => [0x20, ...uleb(i)];
export const set = (i: number): number[] => [0x21, ...uleb(i)];
export const tee = (i: number): number[] => [0x22, ...uleb(i)];
export const i32c = (v: number): number[] => [0x41, ...sleb(v)];
export const I32_EQZ = 0x45;
export const I32_LT_U = 0x49;
export const I32_ADD = 0x6a;
export const I32_SUB = 0x6b;
export const I32_MUL = 0x6c;
export const I32_SHL = 0x74;
export const F32_ADD = 0x92;
export const F32_MAX = 0x97;
export const F64_ADD = 0xa0;
export const F64_PROMOTE_F32 = 0xbb;
/** f32.load / f32.store / f64.load / f64.store with a byte offset (alignment hint natural). */
export const f32Load = (offset: number): number[] => [0x2a, 2, ...uleb(offset)];
export const f32Store = (offset: number): number[] => [0x38, 2, ...uleb(offset)];
export const f64Load = (offset: number): number[] => [0x2b, 3, ...uleb(offset)];
export const f64Store = (offset: number): number[] => [0x39, 3, ...uleb(offset)];
export const BLOCK = [0x02, 0x40];
export const LOOP = [0x03, 0x40];
export const END = 0x0b;
export const brIf = (depth: number): number[] => [0x0d, ...uleb(depth)];

// ---- SIMD opcodes -----------------------------------------------------------------------------

/** A SIMD instruction: prefix 0xfd, LEB128 opcode, immediates. */
export const simd = (op: number, ...imm: number[]): number[] => [0xfd, ...uleb(op), ...imm];
export const v128Load = (offset: number): number[] => simd(0x00, 2, ...uleb(offset)); // align hint 4 bytes
export const v128Load32Splat = (offset: number): number[] => simd(0x09, 2, ...uleb(offset));
export const v128Store = (offset: number): number[] => simd(0x0b, 2, ...uleb(offset));
export const F32X4_SPLAT = simd(0x13);
export const F32X4_ADD = simd(0xe4);
export const F32X4_MUL = simd(0xe6);

/** v128.const holding four copies of the float32 `v`. */
export function f32x4Const(v: number): number[] {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  for (let i = 0; i < 4; i++) dv.setFloat32(i * 4, v, true);
  return simd(0x0c, ...b);
}

/** v128.const holding four copies of the int32 `v`. */
export function i32x4Const(v: number): number[] {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  for (let i = 0; i < 4; i++) dv.setInt32(i * 4, v, true);
  return simd(0x0c, ...b);
}

// ---- module assembly --------------------------------------------------------------------------

/** One function of a module: signature, extra locals (grouped runs of one type), body, export name. */
export interface WasmFunc {
  params: number[];
  results: number[];
  /** Local declarations after the parameters, as [count, value type] runs. */
  locals: Array<[number, number]>;
  /** Instructions, without the final `end`. */
  code: number[];
  /** Export name; omitted = internal (still callable by index). */
  exportName?: string;
}

/**
 * A module with one memory (`mem`, `pages` × 64 KiB initially, growable from JS) and `funcs`
 * (function i has index i; identical signatures share one type entry). With `pages` 'import' the
 * memory is not declared but imported as `env.mem` (functions that work on another module's
 * memory, e.g. wasm-rnn.ts on the GEMM module's), and not exported.
 */
export function assembleModule(funcs: WasmFunc[], pages: number | 'import' = 1): Uint8Array<ArrayBuffer> {
  const types: number[][] = [];
  const typeOf: number[] = [];
  for (const f of funcs) {
    const t = [0x60, ...vec(f.params.map((p) => [p])), ...vec(f.results.map((r) => [r]))];
    let idx = types.findIndex((u) => u.length === t.length && u.every((b, i) => b === t[i]));
    if (idx < 0) idx = types.push(t) - 1;
    typeOf.push(idx);
  }
  const exports: number[][] = pages === 'import' ? [] : [[...name('mem'), 0x02, 0]];
  funcs.forEach((f, i) => {
    if (f.exportName) exports.push([...name(f.exportName), 0x00, ...uleb(i)]);
  });
  const bodies = funcs.map((f) => {
    const body = [...vec(f.locals.map(([n, t]) => [...uleb(n), t])), ...f.code, END];
    return [...uleb(body.length), ...body];
  });
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...(pages === 'import' ? section(2, vec([[...name('env'), ...name('mem'), 0x02, 0x00, ...uleb(1)]])) : []),
    ...section(3, vec(typeOf.map((t) => uleb(t)))),
    ...(pages === 'import' ? [] : section(5, vec([[0x00, ...uleb(pages)]]))),
    ...section(7, vec(exports)),
    ...section(10, [...uleb(bodies.length), ...bodies.flat()]),
  ]);
}

/**
 * Validate and instantiate an emitted module; undefined when WebAssembly (or its SIMD) is missing,
 * disabled with the `ROSETTA_NO_WASM` environment variable, or the engine rejects the bytes.
 */
export function instantiateKernels(bytes: Uint8Array<ArrayBuffer>): WebAssembly.Exports | undefined {
  try {
    if (typeof WebAssembly === 'undefined' || (typeof process !== 'undefined' && process.env?.ROSETTA_NO_WASM)) return undefined;
    if (!WebAssembly.validate(bytes)) return undefined;
    return new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports;
  } catch {
    return undefined;
  }
}
