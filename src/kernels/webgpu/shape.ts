/**
 * Data movement on the GPU: Reshape and Flatten are views sharing the input's buffer (no copy, as
 * in the CPU backend); Transpose and Concat copy with one thread per element. Target shapes are
 * resolved by the CPU kernels' own helpers so both backends agree on every edge case.
 * Spec: https://onnx.ai/onnx/operators/onnx__Reshape.html, onnx__Transpose.html, onnx__Concat.html
 */
import type { DType } from '../../ir/dtype.js';
import { attrError } from '../cpu/nn-util.js';
import { reshapeTarget } from '../cpu/shape.js';
import { normAxis, toNumbers } from '../cpu/util.js';
import { GPU_DTYPES, type WebGpuKernel } from './kernel.js';
import { Params, dispatch1d, mainHeader, wgslType } from './wgsl.js';
import { stridesOf } from '../../ir/tensor.js';

const onGpu = (d: DType | undefined): boolean => d !== undefined && GPU_DTYPES.includes(d);

const Reshape: WebGpuKernel = {
  name: 'Reshape',
  supports: (_node, dtypes) => onGpu(dtypes[0]),
  async run(ctx) {
    const x = ctx.input(0);
    const target = await ctx.host(1);
    if (!target) throw attrError(ctx.cpu, 'Reshape needs its shape input');
    return [ctx.view(x, reshapeTarget(x.shape, toNumbers(target), ctx.attrs.int('allowzero', 0) !== 0, ctx.cpu))];
  },
};

const Flatten: WebGpuKernel = {
  name: 'Flatten',
  supports: (_node, dtypes) => onGpu(dtypes[0]),
  run(ctx) {
    const x = ctx.input(0);
    const rank = x.shape.length;
    let axis = ctx.attrs.int('axis', 1);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis > rank) throw attrError(ctx.cpu, `Flatten axis ${ctx.attrs.int('axis', 1)} out of range for rank ${rank}`);
    const prod = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
    return [ctx.view(x, [prod(x.shape.slice(0, axis)), prod(x.shape.slice(axis))])];
  },
};

const Transpose: WebGpuKernel = {
  name: 'Transpose',
  supports: (_node, dtypes) => onGpu(dtypes[0]),
  run(ctx) {
    const x = ctx.input(0);
    const rank = x.shape.length;
    const perm = ctx.attrs.ints('perm', [...Array(rank).keys()].reverse());
    if (perm.length !== rank || new Set(perm).size !== rank || perm.some((p) => !(p >= 0 && p < rank))) {
      throw attrError(ctx.cpu, `perm [${perm.join(', ')}] is not a permutation of the ${rank} axes`);
    }
    const outShape = perm.map((p) => x.shape[p]!);
    const y = ctx.alloc(x.dtype, outShape);
    const p = new Params();
    const n = p.u32(y.size);
    const yi = p.tensor('y', outShape);
    const inStrides = stridesOf(x.shape);
    // input stride of each output axis (rank 0 reads element 0)
    const st = p.u32s(rank ? perm.map((q) => inStrides[q]!) : [0]);
    ctx.run({
      key: `Transpose:${wgslType(x.dtype)}:${yi.rank}`,
      shader: () => `${yi.fns()}${mainHeader(n)}  let idx = y_indices(gi);
  var o = 0u;
  for (var d = 0u; d < ${yi.rank}u; d++) { o += idx[d] * prm(${st}u + d); }
  out0[gi] = in0[o];
}
`,
      inputs: [x],
      outputs: [y],
      params: p,
      dispatch: dispatch1d(y.size),
    });
    return [y];
  },
};

const Concat: WebGpuKernel = {
  name: 'Concat',
  supports: (node, dtypes) => onGpu(dtypes[0]) && node.inputs.every((_, i) => dtypes[i] === dtypes[0]),
  run(ctx) {
    const xs = ctx.node.inputs.map((_, i) => ctx.input(i));
    const first = xs[0]!;
    const rank = first.shape.length;
    if (rank === 0) throw attrError(ctx.cpu, 'Concat needs inputs of rank ≥ 1');
    const axis = normAxis(ctx.attrs.int('axis'), rank, ctx.cpu);
    for (const t of xs) {
      if (t.shape.length !== rank || t.shape.some((d, i) => i !== axis && d !== first.shape[i])) {
        throw attrError(ctx.cpu, `Concat inputs [${first.shape.join(', ')}] and [${t.shape.join(', ')}] differ outside axis ${axis}`);
      }
    }
    const total = xs.reduce((s, t) => s + t.shape[axis]!, 0);
    const outShape = first.shape.map((d, i) => (i === axis ? total : d));
    const y = ctx.alloc(first.dtype, outShape);
    const inner = first.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    let at = 0;
    for (const t of xs) {
      const len = t.shape[axis]!;
      const p = new Params();
      const n = p.u32(t.size);
      const [pIn, pLen, pTot, pAt] = [inner, len, total, at].map((v) => p.u32(v));
      // each input is copied into its slice of the output; one pipeline serves every input
      ctx.run({
        key: `Concat:${wgslType(first.dtype)}`,
        shader: () => `${mainHeader(n)}  let outer = gi / (${pLen} * ${pIn});
  let rest = gi % (${pLen} * ${pIn});
  out0[outer * ${pTot} * ${pIn} + ${pAt} * ${pIn} + rest] = in0[gi];
}
`,
        inputs: [t],
        outputs: [t.size ? y : { ...y, size: 0 }],
        params: p,
        dispatch: dispatch1d(t.size),
      });
      at += len;
    }
    return [y];
  },
};

export const shapeKernels: Record<string, WebGpuKernel> = { Reshape, Flatten, Transpose, Concat };
