/**
 * A WebAssembly SIMD micro-kernel for `sgemm` (gemm.ts): 4×8 register tile, f32x4 arithmetic,
 * packed panels read linearly from the module's own memory.
 *
 * The module is tiny and fixed, so it is emitted here byte by byte from the WebAssembly binary
 * format (https://webassembly.github.io/spec/core/binary/) rather than assembled by a build tool:
 * set-up stays `npm install`, the bytes are reviewable below, and nothing is fetched or evaluated
 * (the LEB128/section helpers and the SIMD check live in wasm-emit.ts, shared with wasm-math.ts).
 * When the engine lacks SIMD (`WebAssembly.validate` fails) `wasmGemm()` returns undefined and
 * gemm.ts keeps its plain-JS micro-kernel.
 *
 * Exports: `mem` (memory) and `panels(kc, a, b, c, n, ldc, alpha)`: for each of n B panels (kc×8
 * floats, packed k-major), the 4×8 block of C starting 32·p bytes after `c` (rows `ldc` bytes apart)
 * gets += alpha · Apanel(kc×4, k-major)ᵀ · Bpanel[p]. Pointers are byte offsets into `mem`; C lives
 * in `mem` too, so results never pass through JS one element at a time. `rowdots(k4, a, b, groups,
 * ldb, out)` computes dot products of one A row with groups of 4 B rows (see `rowdotsBody`).
 */

import {
  F32,
  F32_ADD,
  F32X4_ADD,
  F32X4_MUL,
  F32X4_SPLAT,
  I32,
  I32_ADD,
  I32_EQZ,
  I32_LT_U,
  I32_SHL,
  V128,
  get,
  i32c,
  instantiateKernels,
  name,
  section,
  set,
  simd,
  uleb,
  v128Load,
  v128Load32Splat,
  v128Store,
  vec,
} from './wasm-emit.js';

/**
 * Body of `tile(kc, a, b, c, ldc, alpha)`: C[4×8] += alpha · Apanelᵀ·Bpanel, C rows `ldc` bytes apart.
 * Params 0..5 (kc, a, b, c, ldc: i32; alpha: f32); locals 6..13 accumulators, 14..15 b0/b1,
 * 16 a splat, 17 end, 18 row address.
 */
function tileBody(): number[] {
  const [KC, A, B, C, LDC, ALPHA] = [0, 1, 2, 3, 4, 5];
  const acc = (r: number, h: number): number => 6 + r * 2 + h;
  const B0 = 14, B1 = 15, AV = 16, END = 17, ROW = 18;
  const code: number[] = [];
  // end = a + kc * 16
  code.push(...get(A), ...get(KC), ...i32c(4), I32_SHL, I32_ADD, ...set(END));
  code.push(0x02, 0x40); // block
  code.push(...get(KC), I32_EQZ, 0x0d, 0); // br_if 0 (kc == 0)
  code.push(0x03, 0x40); // loop
  code.push(...get(B), ...v128Load(0), ...set(B0));
  code.push(...get(B), ...v128Load(16), ...set(B1));
  for (let r = 0; r < 4; r++) {
    code.push(...get(A), ...v128Load32Splat(r * 4), ...set(AV));
    for (let h = 0; h < 2; h++) code.push(...get(acc(r, h)), ...get(AV), ...get(h === 0 ? B0 : B1), ...F32X4_MUL, ...F32X4_ADD, ...set(acc(r, h)));
  }
  code.push(...get(A), ...i32c(16), I32_ADD, ...set(A));
  code.push(...get(B), ...i32c(32), I32_ADD, ...set(B));
  code.push(...get(A), ...get(END), I32_LT_U, 0x0d, 0); // br_if 0 → loop
  code.push(0x0b); // end loop
  code.push(0x0b); // end block
  // C[r] += alpha · acc[r]
  code.push(...get(ALPHA), ...F32X4_SPLAT, ...set(AV));
  code.push(...get(C), ...set(ROW));
  for (let r = 0; r < 4; r++) {
    for (let h = 0; h < 2; h++) {
      code.push(...get(ROW), ...get(ROW), ...v128Load(h * 16), ...get(acc(r, h)), ...get(AV), ...F32X4_MUL, ...F32X4_ADD, ...v128Store(h * 16));
    }
    if (r < 3) code.push(...get(ROW), ...get(LDC), I32_ADD, ...set(ROW));
  }
  code.push(0x0b);
  const locals = vec([[...uleb(11), V128], [...uleb(2), I32]]);
  const body = [...locals, ...code];
  return [...uleb(body.length), ...body];
}

/** Body of `panels(kc, a, b, c, n, ldc, alpha)`: tile over n B panels; params 0..6, local 7 = end. */
function panelsBody(): number[] {
  const [KC, A, B, C, N, LDC, ALPHA] = [0, 1, 2, 3, 4, 5, 6];
  const END = 7;
  const code: number[] = [];
  code.push(...get(C), ...get(N), ...i32c(5), I32_SHL, I32_ADD, ...set(END)); // c + n*32 bytes
  code.push(0x02, 0x40, ...get(N), I32_EQZ, 0x0d, 0);
  code.push(0x03, 0x40);
  code.push(...get(KC), ...get(A), ...get(B), ...get(C), ...get(LDC), ...get(ALPHA), 0x10, 0); // call tile
  code.push(...get(B), ...get(KC), ...i32c(5), I32_SHL, I32_ADD, ...set(B)); // b += kc*32 bytes
  code.push(...get(C), ...i32c(32), I32_ADD, ...set(C));
  code.push(...get(C), ...get(END), I32_LT_U, 0x0d, 0);
  code.push(0x0b, 0x0b, 0x0b);
  const body = [...vec([[...uleb(1), I32]]), ...code];
  return [...uleb(body.length), ...body];
}

/**
 * Body of `rowdots(k4, a, b, groups, ldb, out)`: for each group of 4 B rows (rows `ldb` bytes apart),
 * out[r] = Σ_{k < 4·k4} a[k]·b_r[k] — the transposed-B product for a single row of A (batch-1 Linear).
 * Params 0..5; locals 6..9 accumulators, 10 a vector, 11 k, 12..14 rows 1..3, 15 group end.
 */
function rowdotsBody(): number[] {
  const [K4, A, B, G, LDB, OUT] = [0, 1, 2, 3, 4, 5];
  const ACC = [6, 7, 8, 9];
  const AV = 10, K = 11, R1 = 12, R2 = 13, R3 = 14, KEND = 15;
  const rows = [B, R1, R2, R3];
  const code: number[] = [];
  code.push(0x02, 0x40, ...get(G), I32_EQZ, 0x0d, 0); // block; if groups == 0 → done
  code.push(...get(K4), ...i32c(4), I32_SHL, ...set(KEND));
  code.push(0x03, 0x40); // loop over groups
  for (const acc of ACC) code.push(0x43, 0, 0, 0, 0, ...F32X4_SPLAT, ...set(acc)); // f32.const 0; splat
  code.push(...get(B), ...get(LDB), I32_ADD, ...set(R1));
  code.push(...get(R1), ...get(LDB), I32_ADD, ...set(R2));
  code.push(...get(R2), ...get(LDB), I32_ADD, ...set(R3));
  code.push(...i32c(0), ...set(K));
  code.push(0x02, 0x40, ...get(KEND), I32_EQZ, 0x0d, 0); // block; skip when k4 == 0
  code.push(0x03, 0x40); // loop over k
  code.push(...get(A), ...get(K), I32_ADD, ...v128Load(0), ...set(AV));
  for (let r = 0; r < 4; r++) code.push(...get(ACC[r]!), ...get(AV), ...get(rows[r]!), ...get(K), I32_ADD, ...v128Load(0), ...F32X4_MUL, ...F32X4_ADD, ...set(ACC[r]!));
  code.push(...get(K), ...i32c(16), I32_ADD, ...set(K));
  code.push(...get(K), ...get(KEND), I32_LT_U, 0x0d, 0);
  code.push(0x0b, 0x0b); // end loop k, end block
  for (let r = 0; r < 4; r++) {
    code.push(...get(OUT));
    code.push(...get(ACC[r]!), ...simd(0x1f, 0), ...get(ACC[r]!), ...simd(0x1f, 1), F32_ADD, ...get(ACC[r]!), ...simd(0x1f, 2), F32_ADD, ...get(ACC[r]!), ...simd(0x1f, 3), F32_ADD);
    code.push(0x38, 2, ...uleb(r * 4)); // f32.store
  }
  code.push(...get(R3), ...get(LDB), I32_ADD, ...set(B)); // next group of rows
  code.push(...get(OUT), ...i32c(16), I32_ADD, ...set(OUT));
  code.push(...get(G), ...i32c(-1), I32_ADD, ...set(G));
  code.push(...get(G), 0x0d, 0); // br_if groups left
  code.push(0x0b, 0x0b, 0x0b); // end loop, end block, end func
  const body = [...vec([[...uleb(5), V128], [...uleb(5), I32]]), ...code];
  return [...uleb(body.length), ...body];
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([
      [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [F32]]), 0x00],
      [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32], [F32]]), 0x00],
      [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32]]), 0x00],
    ])),
    ...section(3, vec([[0], [1], [2]])),
    ...section(5, vec([[0x00, ...uleb(1)]])),
    ...section(7, vec([[...name('mem'), 0x02, 0], [...name('panels'), 0x00, 1], [...name('rowdots'), 0x00, 2]])),
    ...section(10, [...uleb(3), ...tileBody(), ...panelsBody(), ...rowdotsBody()]),
  ];
  return new Uint8Array(bytes);
}

/** The instantiated kernel: its memory and the panel loop. */
export interface WasmGemm {
  memory: WebAssembly.Memory;
  panels: (kc: number, a: number, b: number, c: number, n: number, ldc: number, alpha: number) => void;
  rowdots: (k4: number, a: number, b: number, groups: number, ldb: number, out: number) => void;
}

let cached: WasmGemm | null | undefined;

/** The SIMD kernel, or undefined when this engine has no WebAssembly SIMD (or it is disabled). */
export function wasmGemm(): WasmGemm | undefined {
  if (cached !== undefined) return cached ?? undefined;
  cached = null;
  const e = instantiateKernels(moduleBytes()) as { mem: WebAssembly.Memory; panels: WasmGemm['panels']; rowdots: WasmGemm['rowdots'] } | undefined;
  if (e) cached = { memory: e.mem, panels: e.panels, rowdots: e.rowdots };
  return cached ?? undefined;
}
