/**
 * Shared WGSL writers for the WebGPU kernels: every index computation (flat offset ⇄ indices,
 * numpy broadcasting, strided reads) is written here once, as in ONNX Runtime's JS WebGPU
 * `IndicesHelper`. Kernels only compose these pieces.
 *
 * All per-dispatch numbers (shapes, strides, sizes, float attributes) travel in one uniform buffer
 * of u32 words (`Params`), so a shader depends only on static facts (dtype, ranks, flags) and one
 * compiled pipeline serves every shape. Spec: https://www.w3.org/TR/WGSL/
 */
import type { DType } from '../../ir/dtype.js';
import { stridesOf } from '../../ir/tensor.js';

/** Threads per workgroup of the one-thread-per-element kernels. */
export const WG = 64;
/** WebGPU's guaranteed minimum of `maxComputeWorkgroupsPerDimension`. */
export const MAX_GROUPS = 65535;

/** The WGSL scalar type holding a tensor of `dtype` (float32 → f32, int32 → i32). */
export function wgslType(dtype: DType): 'f32' | 'i32' {
  return dtype === 'int32' ? 'i32' : 'f32';
}

const f32Bits = new Float32Array(1);
const u32View = new Uint32Array(f32Bits.buffer);

/**
 * Uniform parameters of one dispatch, packed as u32 words (floats as their bits). Each adder
 * returns the WGSL expression that reads the value back; the word layout depends only on the order
 * of calls and the ranks involved, never on values, so the WGSL text is shape-independent.
 */
export class Params {
  readonly words: number[] = [];

  /** A u32 parameter; returns its WGSL expression. */
  u32(v: number): string {
    return `prm(${this.words.push(v >>> 0) - 1}u)`;
  }

  /** An f32 parameter (stored as its bits). */
  f32(v: number): string {
    f32Bits[0] = v;
    return `bitcast<f32>(prm(${this.words.push(u32View[0]!) - 1}u))`;
  }

  /** An i32 parameter (two's complement bits). */
  i32(v: number): string {
    return `bitcast<i32>(prm(${this.words.push(v >>> 0) - 1}u))`;
  }

  /** A scalar of the tensor element type `t` (f32 or i32). */
  scalar(t: 'f32' | 'i32', v: number): string {
    return t === 'f32' ? this.f32(v) : this.i32(v);
  }

  /** A run of u32 words; returns the index of the first (read with `prm(base + d)`). */
  u32s(vs: readonly number[]): number {
    const base = this.words.length;
    for (const v of vs) this.words.push(v >>> 0);
    return base;
  }

  /** An indexer over a contiguous tensor of `shape` named `name` in WGSL. */
  tensor(name: string, shape: readonly number[]): Indexer {
    const s = shape.length ? shape : [1];
    const shapeAt = this.u32s(s);
    const strideAt = this.u32s(stridesOf(s));
    return new Indexer(name, s.length, shapeAt, strideAt);
  }

  /** Packed words, padded to whole vec4s (and at least one) as uniform buffers require. */
  packed(): Uint32Array<ArrayBuffer> {
    const n = Math.max(4, Math.ceil(this.words.length / 4) * 4);
    const out = new Uint32Array(n);
    out.set(this.words);
    return out;
  }

  /** The uniform declaration and the `prm` accessor. `binding` is the uniform's slot. */
  decl(binding: number): string {
    const vec4s = Math.max(1, Math.ceil(this.words.length / 4));
    return `struct Params { p: array<vec4<u32>, ${vec4s}> }
@group(0) @binding(${binding}) var<uniform> params: Params;
fn prm(i: u32) -> u32 { return params.p[i >> 2u][i & 3u]; }
`;
  }
}

/**
 * Index arithmetic for one contiguous tensor of static rank (rank 0 is treated as [1]). Shapes and
 * strides live in `Params`, so the same WGSL serves every shape of that rank.
 */
export class Indexer {
  constructor(
    readonly name: string,
    readonly rank: number,
    private readonly shapeAt: number,
    private readonly strideAt: number,
  ) {}

  /** WGSL type of an index vector for this tensor. */
  get idxType(): string {
    return `array<u32, ${this.rank}>`;
  }

  /** Expression for dimension `d` (static). */
  dim(d: number): string {
    return `prm(${this.shapeAt + d}u)`;
  }

  /**
   * WGSL functions `<name>_indices(flat) -> array<u32, R>` and `<name>_offset(idx) -> u32`, and,
   * when `broadcastFrom` is given, `<name>_bcast(idx of rank broadcastFrom) -> u32`: the flat
   * offset of the element a numpy-broadcast output index reads (size-1 dims repeat, leading dims
   * missing from this tensor are dropped).
   */
  fns(broadcastFrom?: number): string {
    const { name: n, rank: r, shapeAt: sh, strideAt: st } = this;
    let s = `fn ${n}_indices(flat: u32) -> array<u32, ${r}> {
  var idx: array<u32, ${r}>;
  var rest = flat;
  for (var d = 0u; d < ${r}u; d++) { let s = prm(${st}u + d); idx[d] = rest / s; rest = rest % s; }
  return idx;
}
fn ${n}_offset(idx: array<u32, ${r}>) -> u32 {
  var o = 0u;
  for (var d = 0u; d < ${r}u; d++) { o += idx[d] * prm(${st}u + d); }
  return o;
}
`;
    if (broadcastFrom !== undefined) {
      if (broadcastFrom < r) throw new Error(`Indexer ${n}: cannot broadcast rank ${r} from rank ${broadcastFrom}`);
      s += `fn ${n}_bcast(outIdx: array<u32, ${broadcastFrom}>) -> u32 {
  var o = 0u;
  for (var d = 0u; d < ${r}u; d++) { o += (outIdx[${broadcastFrom - r}u + d] % prm(${sh}u + d)) * prm(${st}u + d); }
  return o;
}
`;
    }
    return s;
  }
}

/** One storage binding of a program. */
export interface BindingDecl {
  name: string;
  type: 'f32' | 'i32';
  access: 'read' | 'read_write';
}

/** Storage declarations for bindings 0..n-1 in order (inputs first, then outputs). */
export function storageDecls(bindings: readonly BindingDecl[]): string {
  return bindings.map((b, i) => `@group(0) @binding(${i}) var<storage, ${b.access}> ${b.name}: array<${b.type}>;`).join('\n') + '\n';
}

/** Workgroup counts for `n` threads of `WG` each, spilling into y past the per-dimension limit. */
export function dispatch1d(n: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(n / WG));
  const x = Math.min(groups, MAX_GROUPS);
  return [x, Math.ceil(groups / x), 1];
}

/**
 * Entry point of a one-thread-per-element kernel: `gi` is the flat element index; threads past
 * `count` (a WGSL expression) return at once. Pair with `dispatch1d`.
 */
export function mainHeader(count: string): string {
  return `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let gi = gid.x + gid.y * nwg.x * ${WG}u;
  if (gi >= ${count}) { return; }
`;
}

/** WGSL inf/NaN: not writable as literals, and const-evaluation rejects them, hence the `var`. */
export const WGSL_SPECIALS = `fn f32_inf() -> f32 { var b = 0x7f800000u; return bitcast<f32>(b); }
fn f32_nan() -> f32 { var b = 0x7fc00000u; return bitcast<f32>(b); }
`;
