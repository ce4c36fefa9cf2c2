/**
 * A pool of large tensor buffers, so a training step or a repeated inference does not allocate,
 * page in and garbage-collect tens of megabytes of fresh ArrayBuffers every time.
 *
 * Why: every kernel output is a new typed array. Past a few hundred KiB V8 backs each with fresh
 * zeroed pages (page faults) and counts it as external memory, which triggers a full mark-compact
 * about once per seed-CNN training step and keeps V8's background GC threads busy (measured: ~15 ms
 * of extra CPU per 50 ms step, which on a loaded machine is taken from the step itself).
 *
 * Ownership is explicit and conservative: `allocBuffer` marks the buffers it hands out; only a
 * holder that knows a buffer is dead (the Session executor, for values no later node, no graph
 * output and no caller can see: src/runtime/session.ts) calls `recycleBuffer`. Buffers that
 * were never marked (initializers, caller feeds, small arrays) are never taken back, so code that
 * does not know about the pool is unaffected.
 */

/**
 * Smallest buffer worth pooling (bytes): below it V8's allocator is cheap, and a typed array made
 * by length (`new Float32Array(n)`) rather than over an ArrayBuffer can even live on V8's heap
 * (tiny RNN-step tensors); `pooledArray` takes that route below this size.
 */
export const POOL_MIN_BYTES = 1 << 18;
const MIN_BYTES = POOL_MIN_BYTES;
/** Most bytes kept idle in the pool; beyond it, recycled buffers are left to the GC. */
const MAX_IDLE_BYTES = 256 << 20;
/** Most idle buffers of one size. */
const MAX_PER_SIZE = 16;

/** Pooled buffers and the allocation number at which each was last handed out. */
const marked = new WeakMap<ArrayBuffer, number>();
const idle = new Map<number, ArrayBuffer[]>();
let idleBytes = 0;
let handedOut = 0;
const stats = { reused: 0, fresh: 0, recycled: 0 };

/**
 * An ArrayBuffer of exactly `bytes` bytes, from the pool when one is idle. Zero-filled unless
 * `zeroed` is false: then a reused buffer keeps its old contents, for callers that write every
 * byte before anyone reads (a kernel output computed element by element), saving a pass over it.
 */
export function allocBuffer(bytes: number, zeroed = true): ArrayBuffer {
  if (bytes < MIN_BYTES) return new ArrayBuffer(bytes);
  const list = idle.get(bytes);
  const b = list?.pop();
  if (b) {
    idleBytes -= bytes;
    stats.reused++;
    if (zeroed) new Uint8Array(b).fill(0);
    marked.set(b, ++handedOut);
    return b;
  }
  const fresh = new ArrayBuffer(bytes);
  stats.fresh++;
  marked.set(fresh, ++handedOut);
  return fresh;
}

type ArrayCtor<T> = { new (n: number): T; new (b: ArrayBuffer): T; readonly BYTES_PER_ELEMENT: number };

/** A typed array of `n` elements: by length below `POOL_MIN_BYTES`, over a pooled buffer above. */
export function pooledArray<T>(ctor: ArrayCtor<T>, n: number, zeroed = true): T {
  const bytes = n * ctor.BYTES_PER_ELEMENT;
  return bytes < POOL_MIN_BYTES ? new ctor(n) : new ctor(allocBuffer(bytes, zeroed));
}

/** A mark that every buffer handed out after this call exceeds (see `handedOutSince`). */
export function poolMark(): number {
  return handedOut;
}

/**
 * Whether `buf` is a pooled buffer handed out after `mark`: the executor recycles only those, so a
 * buffer that existed before a run (a feed, an initializer, a constant) is never taken back.
 */
export function handedOutSince(buf: ArrayBufferLike, mark: number): boolean {
  return buf instanceof ArrayBuffer && (marked.get(buf) ?? 0) > mark;
}

/**
 * Give back a pooled buffer nobody will read or write again. The caller guarantees it: every view
 * of `buf` is dead. Unmarked buffers are ignored.
 */
export function recycleBuffer(buf: ArrayBufferLike): void {
  if (!(buf instanceof ArrayBuffer) || !marked.has(buf)) return;
  const bytes = buf.byteLength;
  if (idleBytes + bytes > MAX_IDLE_BYTES) return;
  let list = idle.get(bytes);
  if (!list) idle.set(bytes, (list = []));
  if (list.length >= MAX_PER_SIZE || list.includes(buf)) return;
  list.push(buf);
  idleBytes += bytes;
  stats.recycled++;
}

/** Pool counters since start (tests and benchmarks): buffers reused, freshly allocated, given back; bytes idle. */
export function poolStats(): { reused: number; fresh: number; recycled: number; idleBytes: number } {
  return { ...stats, idleBytes };
}
