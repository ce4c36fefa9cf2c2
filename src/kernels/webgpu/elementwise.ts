/**
 * Elementwise WebGPU kernels: unary math (Relu Sigmoid Tanh Exp Log Sqrt Neg Abs), Clip, and the
 * broadcasting binaries (Add Sub Mul Div Pow). One thread per output element; broadcast reads go
 * through `Indexer.fns(outRank)`. Semantics follow the ONNX operator spec
 * (https://onnx.ai/onnx/operators/) and match the CPU kernels in src/kernels/cpu/elementwise*.ts.
 */
import type { DType } from '../../ir/dtype.js';
import type { Node } from '../../ir/graph.js';
import { broadcastShapes } from '../cpu/util.js';
import { dtypesIn, type GpuKernelContext, type GpuTensor, type WebGpuKernel } from './kernel.js';
import { Params, WGSL_SPECIALS, dispatch1d, mainHeader, wgslType } from './wgsl.js';

const F32: readonly DType[] = ['float32'];
const F32_I32: readonly DType[] = ['float32', 'int32'];

/** WGSL for y = f(v), per element type. */
const UNARY: Record<string, { types: readonly DType[]; f32: string; i32?: string }> = {
  // select(): NaN compares false, so Relu(NaN) = 0 would differ from the CPU; max() keeps NaN on most drivers.
  Relu: { types: F32_I32, f32: 'max(v, 0.0)', i32: 'max(v, 0)' },
  Sigmoid: { types: F32, f32: '1.0 / (1.0 + exp(-v))' },
  // tanh via exp overflows to inf/inf = NaN on some drivers for large |v|; tanh(±10) is ±1 in f32.
  Tanh: { types: F32, f32: 'select(tanh(v), sign(v), abs(v) > 10.0)' },
  Exp: { types: F32, f32: 'exp(v)' },
  Log: { types: F32, f32: 'log(v)' },
  Sqrt: { types: F32, f32: 'sqrt(v)' },
  Neg: { types: F32_I32, f32: '-v', i32: '-v' },
  Abs: { types: F32_I32, f32: 'abs(v)', i32: 'abs(v)' },
};

function unaryKernel(name: string): WebGpuKernel {
  const op = UNARY[name]!;
  return {
    name,
    supports: (_node, dtypes) => dtypes[0] !== undefined && op.types.includes(dtypes[0]),
    run(ctx) {
      const x = ctx.input(0);
      const y = ctx.alloc(x.dtype, x.shape);
      const t = wgslType(x.dtype);
      const p = new Params();
      const n = p.u32(x.size);
      const expr = t === 'f32' ? op.f32 : op.i32!;
      ctx.run({
        key: `${name}:${t}`,
        shader: () => `${mainHeader(n)}  let v = in0[gi];\n  out0[gi] = ${expr};\n}\n`,
        inputs: [x],
        outputs: [y],
        params: p,
        dispatch: dispatch1d(x.size),
      });
      return [y];
    },
  };
}

/** The extreme finite values of an element type, for Clip's absent bounds. */
function typeLimits(t: 'f32' | 'i32'): [number, number] {
  return t === 'f32' ? [-Infinity, Infinity] : [-2147483648, 2147483647];
}

const Clip: WebGpuKernel = {
  name: 'Clip',
  supports: (node, dtypes) => dtypes[0] !== undefined && dtypesIn(dtypes, [0, 1, 2], F32_I32) && node.inputs.length <= 3,
  async run(ctx) {
    const x = ctx.input(0);
    const t = wgslType(x.dtype);
    const [lo0, hi0] = typeLimits(t);
    const lo = await ctx.host(1);
    const hi = await ctx.host(2);
    const p = new Params();
    const n = p.u32(x.size);
    const loE = p.scalar(t, lo && lo.size ? lo.get(0) : lo0);
    const hiE = p.scalar(t, hi && hi.size ? hi.get(0) : hi0);
    const y = ctx.alloc(x.dtype, x.shape);
    ctx.run({
      key: `Clip:${t}`,
      // min(max()) rather than clamp(): clamp is undefined when lo > hi, ONNX then yields hi.
      shader: () => `${mainHeader(n)}  out0[gi] = min(max(in0[gi], ${loE}), ${hiE});\n}\n`,
      inputs: [x],
      outputs: [y],
      params: p,
      dispatch: dispatch1d(x.size),
    });
    return [y];
  },
};

/** WGSL for c = f(a, b). */
const BINARY: Record<string, { types: readonly DType[]; expr: string }> = {
  Add: { types: F32_I32, expr: 'a + b' },
  Sub: { types: F32_I32, expr: 'a - b' },
  Mul: { types: F32_I32, expr: 'a * b' },
  Div: { types: F32, expr: 'a / b' },
  Pow: { types: F32, expr: 'pow_onnx(a, b)' },
};

/**
 * Pow with C semantics (what ONNX and the CPU kernel compute): WGSL's pow is undefined for a
 * negative base, but an integral exponent is well defined there, with the sign of the base when odd.
 */
const POW_ONNX = `${WGSL_SPECIALS}fn pow_onnx(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (a == 0.0) { return select(0.0, f32_inf(), b < 0.0); }
  let m = pow(abs(a), b);
  if (a > 0.0) { return m; }
  if (trunc(b) != b) { return f32_nan(); }
  return select(m, -m, abs(b % 2.0) == 1.0);
}
`;

function binaryKernel(name: string): WebGpuKernel {
  const op = BINARY[name]!;
  return {
    name,
    supports: (_node: Node, dtypes) => dtypes[0] !== undefined && dtypes[0] === dtypes[1] && op.types.includes(dtypes[0]),
    run(ctx: GpuKernelContext): GpuTensor[] {
      const a = ctx.input(0);
      const b = ctx.input(1);
      const outShape = broadcastShapes([a.shape, b.shape], ctx.cpu);
      const y = ctx.alloc(a.dtype, outShape);
      const t = wgslType(a.dtype);
      const p = new Params();
      const n = p.u32(y.size);
      const yi = p.tensor('y', outShape);
      const ai = p.tensor('a', a.shape);
      const bi = p.tensor('b', b.shape);
      ctx.run({
        key: `${name}:${t}:${yi.rank}:${ai.rank}:${bi.rank}`,
        shader: () => `${op.expr.includes('pow_onnx') ? POW_ONNX : ''}${yi.fns()}${ai.fns(yi.rank)}${bi.fns(yi.rank)}${mainHeader(n)}  let idx = y_indices(gi);
  let a = in0[a_bcast(idx)];
  let b = in1[b_bcast(idx)];
  out0[gi] = ${op.expr};
}
`,
        inputs: [a, b],
        outputs: [y],
        params: p,
        dispatch: dispatch1d(y.size),
      });
      return [y];
    },
  };
}

export const elementwiseKernels: Record<string, WebGpuKernel> = {
  ...Object.fromEntries(Object.keys(UNARY).map((k) => [k, unaryKernel(k)])),
  ...Object.fromEntries(Object.keys(BINARY).map((k) => [k, binaryKernel(k)])),
  Clip,
};
