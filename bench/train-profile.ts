/**
 * Where a training step of the seed CNN spends its time, per ONNX op: wraps every CPU kernel in
 * `CPU_KERNELS` with a timer (forward ops run eagerly through autograd's trace, backward ops
 * through the backward graph's session; both end in these kernels) and runs bench/train.ts's
 * step. Prints ms per step and calls per step for each op type, largest first.
 * Run: `node --import tsx bench/train-profile.ts [--steps N] [--batch N]`. A benchmark, not a test.
 */
import { CPU_KERNELS } from '../src/kernels/cpu/index.js';
import { table } from '../src/cli/io.js';
import { rosettaTrainStep } from './train.js';

type Kernel = (inputs: unknown, ctx: unknown) => unknown;

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 || i + 1 >= process.argv.length ? def : Number(process.argv[i + 1]);
}

const steps = arg('steps', 5);
const batch = arg('batch', 32);
const spent = new Map<string, { ms: number; calls: number }>();
let timing = false;
const kernels = CPU_KERNELS as unknown as Record<string, Kernel>;
for (const [op, f] of Object.entries(kernels)) {
  kernels[op] = (inputs, ctx) => {
    if (!timing) return f(inputs, ctx);
    const t0 = performance.now();
    const out = f(inputs, ctx); // kernels used in training are synchronous on the CPU
    const e = spent.get(op) ?? { ms: 0, calls: 0 };
    e.ms += performance.now() - t0;
    e.calls++;
    spent.set(op, e);
    return out;
  };
}

const step = rosettaTrainStep({ batch, iterations: steps, warmup: 2 });
await step.times(2);
timing = true;
const times = await step.times(steps);
const perStep = times.reduce((a, b) => a + b, 0) / steps;
const rows = [...spent].sort((a, b) => b[1].ms - a[1].ms);
const inKernels = rows.reduce((a, [, e]) => a + e.ms, 0) / steps;
process.stdout.write(`seed CNN training step, batch ${batch}: ${perStep.toFixed(1)} ms/step (mean of ${steps}), ${inKernels.toFixed(1)} ms in kernels\n`);
process.stdout.write(table(['op', 'ms/step', 'calls/step', 'share'], rows.map(([op, e]) => [op, Number((e.ms / steps).toFixed(1)), Number((e.calls / steps).toFixed(1)), `${((100 * e.ms) / steps / perStep).toFixed(1)}%`])));
