/**
 * Per-call micro-benchmark of the non-GEMM kernels of the seed CNN's training step (issue 6's speed
 * bar): records every kernel call of one real step (forward through autograd's tape, backward
 * through the backward graph's session; bench/train.ts's model, batch and optimizer), then replays
 * each recorded call with its own inputs and attributes many times and prints the median ms per
 * call, per op and input shapes. Also times the Adam update (`optimizer.step()`) on the step's
 * gradients. Conv, ConvTranspose and Gemm are skipped unless `--all` is given (their speed is
 * bench/gemm.ts's business).
 *
 * Replaying recorded calls gives steadier numbers than bench/train-profile.ts's per-step totals on
 * a shared machine: each call runs ≥ `--reps` times and the median is kept.
 * Run: `node --import tsx bench/train-ops.ts [--reps N] [--batch N] [--all] [--only Op,Op]`.
 * A benchmark, not a test.
 */
import { ImageClassifier } from '../src/cli/demo.js';
import { table } from '../src/cli/io.js';
import { recycleBuffer } from '../src/ir/buffer-pool.js';
import { Tensor } from '../src/ir/tensor.js';
import { CPU_KERNELS } from '../src/kernels/cpu/index.js';
import * as nn from '../src/nn/index.js';
import { seededRandom } from '../src/runtime/session.js';

type Kernel = (inputs: readonly unknown[], ctx: unknown) => unknown;

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 || i + 1 >= process.argv.length ? def : Number(process.argv[i + 1]);
}
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt > 0 ? new Set(process.argv[onlyAt + 1]!.split(',')) : undefined;
const all = process.argv.includes('--all');
const reps = arg('reps', 40);
const batch = arg('batch', 32);
const HEAVY = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

interface Call {
  op: string;
  label: string;
  f: Kernel;
  inputs: readonly unknown[];
  ctx: unknown;
}
const calls: Call[] = [];
let recording = false;
const kernels = CPU_KERNELS as unknown as Record<string, Kernel>;
/** An input's shape, and its values when it is a small int64 tensor (axes, shapes). */
const shapeOf = (v: unknown): string => {
  if (!(v instanceof Tensor)) return v === undefined ? '-' : '?';
  const vals = v.dtype === 'int64' && v.size <= 4 ? `=${Array.from(v.data as BigInt64Array).join(',')}` : '';
  return `[${v.shape.join(',')}]${vals}`;
};
/** Integer-list attributes (perm, axes, kernel_shape…) shown in the label: they decide the path taken. */
function attrText(ctx: unknown): string {
  const attrs = (ctx as { node: { attrs: Record<string, { type: string; value: unknown }> } }).node.attrs;
  const parts = Object.entries(attrs).filter(([, a]) => a.type === 'ints').map(([k, a]) => `${k}=${(a.value as number[]).join(',')}`);
  return parts.length ? ` {${parts.join(' ')}}` : '';
}
for (const [op, f] of Object.entries(kernels)) {
  kernels[op] = (inputs, ctx) => {
    if (recording && (all || !HEAVY.has(op)) && (!only || only.has(op))) {
      calls.push({ op, label: `${op} ${inputs.map(shapeOf).join(' ')}${attrText(ctx)}`, f, inputs: [...inputs], ctx });
    }
    return f(inputs, ctx);
  };
}

nn.initSeed(0);
nn.manualSeed(0);
const model = new ImageClassifier().train();
const optimizer = new nn.Adam(model.parameters(), { lr: 1e-3 });
const criterion = new nn.CrossEntropyLoss();
const r = seededRandom(42);
const x = new Tensor('float32', [batch, 1, 28, 28], Float32Array.from({ length: batch * 784 }, () => r() * 2 - 1));
const y = Tensor.from('int64', [batch], Array.from({ length: batch }, () => BigInt(Math.floor(r() * 10))));
async function step(): Promise<void> {
  optimizer.zeroGrad();
  const loss = criterion.callVar(model.callVar(x), y);
  await loss.backward();
}
await step();
optimizer.step();
recording = true;
await step();
recording = false;

/**
 * One replay of a recorded call. Its outputs are dead right away, so their buffers go back to the
 * pool as the Session does with a dead intermediate (buffer-pool.ts); without this every replay
 * would pay for fresh pages, which a training step mostly does not. Buffers shared with an input
 * (Reshape, Identity…) are kept.
 */
function replay(c: Call): void {
  const outs = c.f(c.inputs, c.ctx) as unknown[];
  const ins = new Set(c.inputs.map((v) => (v instanceof Tensor ? v.data : undefined)).map((d) => (d && !Array.isArray(d) ? (d as ArrayBufferView).buffer : undefined)));
  for (const o of outs) {
    if (o instanceof Tensor && !Array.isArray(o.data)) {
      const b = (o.data as ArrayBufferView).buffer;
      if (!ins.has(b)) recycleBuffer(b);
    }
  }
}

function median(fn: () => unknown): number {
  for (let i = 0; i < 3; i++) fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[ts.length >> 1]!;
}

// Warm-up passes over every recorded call first, so the first op timed does not pay for JIT and
// WebAssembly tier-up or the allocator's first large mappings.
for (let i = 0; i < 5; i++) for (const c of calls) replay(c);
const rows: Array<[string, number]> = [];
const seen = new Set<string>();
for (const c of calls) {
  if (seen.has(c.label)) continue; // the same op on the same shapes twice per step: time it once
  seen.add(c.label);
  const n = calls.filter((d) => d.label === c.label).length;
  const ms = median(() => replay(c));
  rows.push([n > 1 ? `${c.label} (×${n})` : c.label, ms * n]);
}
if (!only || only.has('Adam')) rows.push(['Adam update (optimizer.step)', median(() => optimizer.step())]);
rows.sort((a, b) => b[1] - a[1]);
const total = rows.reduce((a, [, ms]) => a + ms, 0);
process.stdout.write(`seed CNN training step, batch ${batch}: median of ${reps} replays per recorded call (ms per step, calls of one shape summed)\n`);
process.stdout.write(table(['call', 'ms'], [...rows.filter(([, ms]) => ms >= 0.01).map(([l, ms]) => [l, ms.toFixed(3)]), ['total', total.toFixed(3)]]));
