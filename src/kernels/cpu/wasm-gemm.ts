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
 * Exports: `mem` (memory) and `panels(kc, a, ars, aks, b, c, n, ldc, alpha)`: for each of n B
 * panels (kc×8 floats, packed k-major), the 4×8 block of C starting 32·p bytes after `c` (rows `ldc`
 * bytes apart) gets += alpha · A(4×kc) · Bpanel[p], A read in place with byte strides (see
 * `tileBody`). Pointers are byte offsets into `mem`; C lives in `mem` too, so results never pass
 * through JS one element at a time. `packrows`/`packcols` build B panels from rows or columns
 * gathered through an address table (plain, transposed and convolution operands alike), so packing
 * runs at SIMD speed too. `rowdots(k4, a, b, groups, ldb, out)` computes dot products of one A row
 * with groups of 4 B rows (see `rowdotsBody`).
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
 * Body of `tile(kc, a, ars, aks, b, c, ldc, alpha)`: C[4×8] += alpha · A[4×kc]·Bpanel, C rows `ldc`
 * bytes apart. A is read in place: row r, step k at `a + r·ars + k·aks` (bytes), so a packed panel
 * (ars 4, aks 16), a row-major matrix (ars = row bytes, aks 4) and a transposed one (ars 4,
 * aks = row bytes) all work without packing. B is a packed kc×8 panel.
 * Params 0..7 (kc, a, ars, aks, b, c, ldc: i32; alpha: f32); locals 8..15 accumulators, 16..17
 * b0/b1, 18 a splat, 19 end, 20..22 rows 1..3, 23 row address.
 */
function tileBody(): number[] {
  const [KC, A, ARS, AKS, B, C, LDC, ALPHA] = [0, 1, 2, 3, 4, 5, 6, 7];
  const acc = (r: number, h: number): number => 8 + r * 2 + h;
  const B0 = 16, B1 = 17, AV = 18, END = 19, ROW = 23;
  const rows = [A, 20, 21, 22];
  const code: number[] = [];
  // end = b + kc * 32; row pointers a1..a3
  code.push(...get(B), ...get(KC), ...i32c(5), I32_SHL, I32_ADD, ...set(END));
  for (let r = 1; r < 4; r++) code.push(...get(rows[r - 1]!), ...get(ARS), I32_ADD, ...set(rows[r]!));
  code.push(0x02, 0x40); // block
  code.push(...get(KC), I32_EQZ, 0x0d, 0); // br_if 0 (kc == 0)
  code.push(0x03, 0x40); // loop
  code.push(...get(B), ...v128Load(0), ...set(B0));
  code.push(...get(B), ...v128Load(16), ...set(B1));
  for (let r = 0; r < 4; r++) {
    code.push(...get(rows[r]!), ...v128Load32Splat(0), ...set(AV));
    for (let h = 0; h < 2; h++) code.push(...get(acc(r, h)), ...get(AV), ...get(h === 0 ? B0 : B1), ...F32X4_MUL, ...F32X4_ADD, ...set(acc(r, h)));
  }
  for (const r of rows) code.push(...get(r), ...get(AKS), I32_ADD, ...set(r));
  code.push(...get(B), ...i32c(32), I32_ADD, ...set(B));
  code.push(...get(B), ...get(END), I32_LT_U, 0x0d, 0); // br_if 0 → loop
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
  const locals = vec([[...uleb(11), V128], [...uleb(5), I32]]);
  const body = [...locals, ...code];
  return [...uleb(body.length), ...body];
}

/** Body of `panels(kc, a, ars, aks, b, c, n, ldc, alpha)`: tile over n B panels; params 0..8, local 9 = end. */
function panelsBody(): number[] {
  const [KC, A, ARS, AKS, B, C, N, LDC, ALPHA] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const END = 9;
  const code: number[] = [];
  code.push(...get(C), ...get(N), ...i32c(5), I32_SHL, I32_ADD, ...set(END)); // c + n*32 bytes
  code.push(0x02, 0x40, ...get(N), I32_EQZ, 0x0d, 0);
  code.push(0x03, 0x40);
  code.push(...get(KC), ...get(A), ...get(ARS), ...get(AKS), ...get(B), ...get(C), ...get(LDC), ...get(ALPHA), 0x10, 0); // call tile
  code.push(...get(B), ...get(KC), ...i32c(5), I32_SHL, I32_ADD, ...set(B)); // b += kc*32 bytes
  code.push(...get(C), ...i32c(32), I32_ADD, ...set(C));
  code.push(...get(C), ...get(END), I32_LT_U, 0x0d, 0);
  code.push(0x0b, 0x0b, 0x0b);
  const body = [...vec([[...uleb(1), I32]]), ...code];
  return [...uleb(body.length), ...body];
}

/**
 * Body of `packrows(dst, offs, kc, np, shift)`: B panels from rows gathered anywhere in memory.
 * offs holds kc i32 byte addresses (row k of op(B) starts at offs[k] + shift); panel p takes the 8
 * floats at +32·p of every row and is written as kc×8 floats from dst + p·kc·32. Lanes past the
 * valid columns read whatever follows the row: they only reach C columns that are never stored.
 * Params 0..4; locals 5 panel byte offset, 6 table cursor, 7 table end, 8 panel end, 9 source.
 */
function packRowsBody(): number[] {
  const [DST, OFFS, KC, NP, SHIFT] = [0, 1, 2, 3, 4];
  const P32 = 5, KP = 6, KEND = 7, PEND = 8, S = 9;
  const code: number[] = [];
  code.push(...get(NP), ...i32c(5), I32_SHL, ...set(PEND));
  code.push(...get(OFFS), ...get(KC), ...i32c(2), I32_SHL, I32_ADD, ...set(KEND));
  code.push(...get(SHIFT), ...set(P32));
  code.push(...get(PEND), ...get(SHIFT), I32_ADD, ...set(PEND));
  code.push(0x02, 0x40, ...get(NP), I32_EQZ, 0x0d, 0, ...get(KC), I32_EQZ, 0x0d, 0); // nothing to do
  code.push(0x03, 0x40); // loop over panels
  code.push(...get(OFFS), ...set(KP));
  code.push(0x03, 0x40); // loop over k
  code.push(...get(KP), 0x28, 2, 0, ...get(P32), I32_ADD, ...set(S)); // s = offs[k] + shift + 32p
  code.push(...get(DST), ...get(S), ...v128Load(0), ...v128Store(0));
  code.push(...get(DST), ...get(S), ...v128Load(16), ...v128Store(16));
  code.push(...get(DST), ...i32c(32), I32_ADD, ...set(DST));
  code.push(...get(KP), ...i32c(4), I32_ADD, ...set(KP));
  code.push(...get(KP), ...get(KEND), I32_LT_U, 0x0d, 0);
  code.push(0x0b); // end loop k
  code.push(...get(P32), ...i32c(32), I32_ADD, ...set(P32));
  code.push(...get(P32), ...get(PEND), I32_LT_U, 0x0d, 0);
  code.push(0x0b, 0x0b, 0x0b); // end loop panels, end block, end function
  const body = [...vec([[...uleb(5), I32]]), ...code];
  return [...uleb(body.length), ...body];
}

/** i8x16.shuffle picking four float32 lanes (0–3 from the first operand, 4–7 from the second). */
function shuffle4(lanes: [number, number, number, number]): number[] {
  const bytes: number[] = [];
  for (const l of lanes) for (let b = 0; b < 4; b++) bytes.push(l * 4 + b);
  return simd(0x0d, ...bytes);
}

/**
 * Body of `packcols(dst, offs, kc, np, shift)`: B panels from columns gathered anywhere in memory,
 * i.e. the transposing pack (op(B) = a matrix stored with k contiguous, as Bᵀ of a row-major B or
 * the windows of a convolution's input). offs holds 8·np i32 byte addresses (column j of op(B)
 * starts at offs[j] + shift and runs along k). Panel p is written as kc×8 floats from dst + p·kc·32;
 * only the first 4·⌊kc/4⌋ rows are written (four k at a time, two 4×4 transposes per step): the
 * caller fills the last kc mod 4 rows.
 * Params 0..4; locals 5..12 column pointers, 13 k byte offset, 14 k end, 15 panel cursor,
 * 16 panel dst, 17 table end; v128 18..25 loads, 26..29 interleaves.
 */
function packColsBody(): number[] {
  const [DST, OFFS, KC, NP, SHIFT] = [0, 1, 2, 3, 4];
  const COL = [5, 6, 7, 8, 9, 10, 11, 12];
  const K = 13, KEND = 14, TP = 15, PD = 16, TEND = 17;
  const V = [18, 19, 20, 21, 22, 23, 24, 25];
  const T = [26, 27, 28, 29];
  const code: number[] = [];
  code.push(...get(KC), ...i32c(-4), 0x71, ...i32c(2), I32_SHL, ...set(KEND)); // (kc & ~3) * 4 bytes
  code.push(...get(OFFS), ...get(NP), ...i32c(5), I32_SHL, I32_ADD, ...set(TEND)); // 8 entries · 4 bytes per panel
  code.push(...get(OFFS), ...set(TP), ...get(DST), ...set(PD));
  code.push(0x02, 0x40, ...get(NP), I32_EQZ, 0x0d, 0, ...get(KEND), I32_EQZ, 0x0d, 0);
  code.push(0x03, 0x40); // loop over panels
  for (let r = 0; r < 8; r++) code.push(...get(TP), 0x28, 2, ...uleb(r * 4), ...get(SHIFT), I32_ADD, ...set(COL[r]!));
  code.push(...get(PD), ...set(DST), ...i32c(0), ...set(K));
  code.push(0x03, 0x40); // loop over k, four at a time
  for (let r = 0; r < 8; r++) code.push(...get(COL[r]!), ...get(K), I32_ADD, ...v128Load(0), ...set(V[r]!));
  for (let half = 0; half < 2; half++) {
    const [v0, v1, v2, v3] = V.slice(half * 4, half * 4 + 4) as [number, number, number, number];
    code.push(...get(v0), ...get(v1), ...shuffle4([0, 4, 1, 5]), ...set(T[0]!));
    code.push(...get(v0), ...get(v1), ...shuffle4([2, 6, 3, 7]), ...set(T[1]!));
    code.push(...get(v2), ...get(v3), ...shuffle4([0, 4, 1, 5]), ...set(T[2]!));
    code.push(...get(v2), ...get(v3), ...shuffle4([2, 6, 3, 7]), ...set(T[3]!));
    // row k+q of the panel gets lanes q of the four columns of this half
    const outs: Array<[number, number, [number, number, number, number]]> = [
      [T[0]!, T[2]!, [0, 1, 4, 5]],
      [T[0]!, T[2]!, [2, 3, 6, 7]],
      [T[1]!, T[3]!, [0, 1, 4, 5]],
      [T[1]!, T[3]!, [2, 3, 6, 7]],
    ];
    outs.forEach(([x, y, l], q) => code.push(...get(DST), ...get(x), ...get(y), ...shuffle4(l), ...v128Store(q * 32 + half * 16)));
  }
  code.push(...get(DST), ...i32c(128), I32_ADD, ...set(DST));
  code.push(...get(K), ...i32c(16), I32_ADD, ...set(K));
  code.push(...get(K), ...get(KEND), I32_LT_U, 0x0d, 0);
  code.push(0x0b); // end loop k
  code.push(...get(PD), ...get(KC), ...i32c(5), I32_SHL, I32_ADD, ...set(PD)); // next panel: + kc·32 bytes
  code.push(...get(TP), ...i32c(32), I32_ADD, ...set(TP));
  code.push(...get(TP), ...get(TEND), I32_LT_U, 0x0d, 0);
  code.push(0x0b, 0x0b, 0x0b); // end loop panels, end block, end function
  const body = [...vec([[...uleb(13), I32], [...uleb(12), V128]]), ...code];
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
  const i = (n: number): number[] => new Array<number>(n).fill(I32);
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([
      [0x60, ...vec([...i(7), F32].map((t) => [t])), 0x00], // tile
      [0x60, ...vec([...i(8), F32].map((t) => [t])), 0x00], // panels
      [0x60, ...vec(i(6).map((t) => [t])), 0x00], // rowdots
      [0x60, ...vec(i(5).map((t) => [t])), 0x00], // packrows, packcols
    ])),
    ...section(3, vec([[0], [1], [2], [3], [3]])),
    ...section(5, vec([[0x00, ...uleb(1)]])),
    ...section(7, vec([
      [...name('mem'), 0x02, 0],
      [...name('panels'), 0x00, 1],
      [...name('rowdots'), 0x00, 2],
      [...name('packrows'), 0x00, 3],
      [...name('packcols'), 0x00, 4],
    ])),
    ...section(10, [...uleb(5), ...tileBody(), ...panelsBody(), ...rowdotsBody(), ...packRowsBody(), ...packColsBody()]),
  ];
  return new Uint8Array(bytes);
}

/** The instantiated kernel: its memory and entry points (pointers are byte offsets into `memory`). */
export interface WasmGemm {
  memory: WebAssembly.Memory;
  /** n tiles along packed B panels: C[4×8·n] += alpha · A[4×kc]·B, A read at a + r·ars + k·aks. */
  panels: (kc: number, a: number, ars: number, aks: number, b: number, c: number, n: number, ldc: number, alpha: number) => void;
  rowdots: (k4: number, a: number, b: number, groups: number, ldb: number, out: number) => void;
  /** Pack np panels of op(B) whose rows start at the kc addresses in the i32 table at offs (+ shift). */
  packrows: (dst: number, offs: number, kc: number, np: number, shift: number) => void;
  /** Pack np panels of op(B) whose columns start at the 8·np addresses in the table (rows 0..4⌊kc/4⌋). */
  packcols: (dst: number, offs: number, kc: number, np: number, shift: number) => void;
}

let cached: WasmGemm | null | undefined;

/** The SIMD kernel, or undefined when this engine has no WebAssembly SIMD (or it is disabled). */
export function wasmGemm(): WasmGemm | undefined {
  if (cached !== undefined) return cached ?? undefined;
  cached = null;
  const e = instantiateKernels(moduleBytes()) as unknown as (Omit<WasmGemm, 'memory'> & { mem: WebAssembly.Memory }) | undefined;
  if (e) cached = { memory: e.mem, panels: e.panels, rowdots: e.rowdots, packrows: e.packrows, packcols: e.packcols };
  return cached ?? undefined;
}
