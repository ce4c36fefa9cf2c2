/**
 * Softmax (opset-13 form: one axis), BatchNormalization (inference form) and ReduceMean/ReduceSum
 * (axes as an input or legacy attribute, keepdims, noop_with_empty_axes). One thread per output
 * row/element, looping over the reduced extent.
 * Spec: https://onnx.ai/onnx/operators/onnx__Softmax.html, onnx__BatchNormalization.html,
 * onnx__ReduceMean.html
 */
import type { DType } from '../../ir/dtype.js';
import { stridesOf } from '../../ir/tensor.js';
import { shapeError } from '../cpu/nn-util.js';
import { normAxis, toNumbers } from '../cpu/util.js';
import type { GpuKernelContext, GpuTensor, WebGpuKernel } from './kernel.js';
import { Params, dispatch1d, mainHeader } from './wgsl.js';

const isF32 = (d: DType | undefined): boolean => d === 'float32';
const prod = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

const Softmax: WebGpuKernel = {
  name: 'Softmax',
  supports: (_node, dtypes) => isF32(dtypes[0]),
  run(ctx) {
    const x = ctx.input(0);
    const rank = x.shape.length;
    if (rank === 0) return null;
    const y = ctx.alloc('float32', x.shape);
    const axis = normAxis(ctx.attrs.int('axis', -1), rank, ctx.cpu);
    const D = x.shape[axis]!;
    const inner = prod(x.shape.slice(axis + 1));
    const rows = prod(x.shape) / Math.max(D, 1);
    const p = new Params();
    const n = p.u32(D ? rows : 0);
    const [pD, pIn] = [D, inner].map((v) => p.u32(v));
    ctx.run({
      key: 'Softmax',
      shader: () => `${mainHeader(n)}  let base = (gi / ${pIn}) * ${pD} * ${pIn} + gi % ${pIn};
  var mx = in0[base];
  for (var i = 1u; i < ${pD}; i++) { mx = max(mx, in0[base + i * ${pIn}]); }
  var s = 0.0;
  for (var i = 0u; i < ${pD}; i++) { s += exp(in0[base + i * ${pIn}] - mx); }
  for (var i = 0u; i < ${pD}; i++) { out0[base + i * ${pIn}] = exp(in0[base + i * ${pIn}] - mx) / s; }
}
`,
      inputs: [x],
      outputs: [y],
      params: p,
      dispatch: dispatch1d(rows),
    });
    return [y];
  },
};

const BatchNormalization: WebGpuKernel = {
  name: 'BatchNormalization',
  // Training form (running-stat outputs, training_mode=1) stays on the CPU.
  supports: (node, dtypes) => [0, 1, 2, 3, 4].every((i) => isF32(dtypes[i])) && node.outputs.filter(Boolean).length === 1 && (node.attrs['training_mode'] === undefined || (node.attrs['training_mode'].type === 'int' && node.attrs['training_mode'].value === 0)),
  run(ctx) {
    if (ctx.cpu.training) return null;
    const [x, scale, bias, mean, variance] = [0, 1, 2, 3, 4].map((i) => ctx.input(i)) as [GpuTensor, GpuTensor, GpuTensor, GpuTensor, GpuTensor];
    const C = x.shape.length > 1 ? x.shape[1]! : 1;
    for (const t of [scale, bias, mean, variance]) if (t.size !== C) throw shapeError(ctx.cpu, `BatchNormalization parameters must have ${C} elements (channels), got [${t.shape.join(', ')}]`);
    const y = ctx.alloc('float32', x.shape);
    const p = new Params();
    const n = p.u32(x.size);
    const pC = p.u32(C);
    const pIn = p.u32(prod(x.shape.slice(2)));
    const eps = p.f32(ctx.attrs.float('epsilon', 1e-5));
    ctx.run({
      key: 'BatchNormalization',
      shader: () => `${mainHeader(n)}  let c = (gi / ${pIn}) % ${pC};
  out0[gi] = (in0[gi] - in3[c]) / sqrt(in4[c] + ${eps}) * in1[c] + in2[c];
}
`,
      inputs: [x, scale, bias, mean, variance],
      outputs: [y],
      params: p,
      dispatch: dispatch1d(x.size),
    });
    return [y];
  },
};

function reduceKernel(name: 'ReduceMean' | 'ReduceSum'): WebGpuKernel {
  return {
    name,
    supports: (_node, dtypes) => isF32(dtypes[0]),
    async run(ctx) {
      const x = ctx.input(0);
      const axesT = await ctx.host(1);
      let axes: number[] | null = axesT ? (axesT.size ? toNumbers(axesT) : null) : ctx.attrs.has('axes') ? ctx.attrs.ints('axes') : null;
      if (axes && axes.length === 0) axes = null;
      if (axes === null && ctx.attrs.int('noop_with_empty_axes', 0) !== 0) {
        const y = ctx.alloc('float32', x.shape);
        emitReduce(ctx, x, y, x.shape.slice(), new Array<number>(x.shape.length).fill(1), 'ReduceSum');
        return [y];
      }
      const rank = x.shape.length;
      const reduced = new Array<boolean>(rank).fill(axes === null);
      for (const a of axes ?? []) reduced[normAxis(a, rank, ctx.cpu)] = true;
      const kept = x.shape.map((d, i) => (reduced[i] ? 1 : d));
      const red = x.shape.map((d, i) => (reduced[i] ? d : 1));
      const keepdims = ctx.attrs.int('keepdims', 1) !== 0;
      const y = ctx.alloc('float32', keepdims ? kept : x.shape.filter((_, i) => !reduced[i]));
      emitReduce(ctx, x, y, kept, red, name);
      return [y];
    },
  };
}

/** y[o] = Σ (or mean) over the `red` sub-block of x at the kept position o. */
function emitReduce(ctx: GpuKernelContext, x: GpuTensor, y: GpuTensor, kept: number[], red: number[], name: string): void {
  const p = new Params();
  const n = p.u32(y.size);
  const count = prod(red);
  const pCount = p.u32(count);
  const ki = p.tensor('k', kept);
  const ri = p.tensor('r', red);
  const st = p.u32s(x.shape.length ? stridesOf(x.shape) : [0]);
  const mean = name === 'ReduceMean';
  ctx.run({
    key: `${name}:${ki.rank}`,
    shader: () => `${ki.fns()}${ri.fns()}fn x_at(a: array<u32, ${ki.rank}>, b: array<u32, ${ki.rank}>) -> u32 {
  var o = 0u;
  for (var d = 0u; d < ${ki.rank}u; d++) { o += (a[d] + b[d]) * prm(${st}u + d); }
  return o;
}
${mainHeader(n)}  let kIdx = k_indices(gi);
  var acc = 0.0;
  for (var r = 0u; r < ${pCount}; r++) { acc += in0[x_at(kIdx, r_indices(r))]; }
  out0[gi] = ${mean ? `acc / f32(${pCount})` : 'acc'};
}
`,
    inputs: [x],
    outputs: [y],
    params: p,
    dispatch: dispatch1d(y.size),
  });
}

export const normReduceKernels: Record<string, WebGpuKernel> = { Softmax, BatchNormalization, ReduceMean: reduceKernel('ReduceMean'), ReduceSum: reduceKernel('ReduceSum') };
