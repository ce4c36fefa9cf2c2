/**
 * 2-D Conv (groups, pads, strides, dilations, auto_pad, optional bias), MaxPool/AveragePool (2-D,
 * ceil_mode, count_include_pad, dilations) and GlobalAveragePool. One thread per output element;
 * window geometry (auto_pad, ceil_mode) is resolved on the host by the CPU kernels' own
 * `windowGeometry`, so both backends agree on output sizes by construction.
 * Spec: https://onnx.ai/onnx/operators/onnx__Conv.html, onnx__MaxPool.html, onnx__AveragePool.html
 */
import type { DType } from '../../ir/dtype.js';
import type { Node } from '../../ir/graph.js';
import { attrError, shapeError, windowGeometry } from '../cpu/nn-util.js';
import type { GpuKernelContext, GpuTensor, WebGpuKernel } from './kernel.js';
import { Params, WGSL_SPECIALS, dispatch1d, mainHeader } from './wgsl.js';

const isF32 = (d: DType | undefined): boolean => d === 'float32';

/** Spatial rank from a node's kernel_shape (or none declared): only 2-D windows run here. */
function is2d(node: Node): boolean {
  const ks = node.attrs['kernel_shape'];
  return ks === undefined || (ks.type === 'ints' && ks.value.length === 2);
}

/**
 * Kernel taps k in [0, k) whose position start + k·d falls in [0, n), as a range computed
 * arithmetically (like the CPU's tapRanges): a hostile kernel_shape or padding must not become a
 * long loop, and in-range taps need no per-tap test.
 */
const TAPS = `fn tap_lo(start: i32, d: u32, k: u32) -> u32 {
  if (start >= 0) { return 0u; }
  return min(k, (u32(-start) + d - 1u) / d);
}
fn tap_hi(start: i32, d: u32, k: u32, n: u32) -> u32 {
  if (start >= i32(n)) { return 0u; }
  if (start < 0) { return min(k, (n - 1u + u32(-start)) / d + 1u); }
  return min(k, (n - 1u - u32(start)) / d + 1u);
}
`;

/**
 * WGSL lines for the window of output (oh, ow): its top-left input position ih0/iw0 (may be
 * negative inside the padding) and the taps [h0, h1) × [w0, w1) that fall inside the input.
 * Arguments are the `Params` names of the strides, begin pads, dilations, kernel and input sizes.
 */
function tapWindow(g: { sh: string; sw: string; pt: string; pl: string; dh: string; dw: string; pKH: string; pKW: string; pH: string; pW: string }): string {
  return `  let ih0 = i32(oh * ${g.sh}) - ${g.pt};
  let iw0 = i32(ow * ${g.sw}) - ${g.pl};
  let h0 = tap_lo(ih0, ${g.dh}, ${g.pKH});
  let h1 = max(h0, tap_hi(ih0, ${g.dh}, ${g.pKH}, ${g.pH}));
  let w0 = tap_lo(iw0, ${g.dw}, ${g.pKW});
  let w1 = max(w0, tap_hi(iw0, ${g.dw}, ${g.pKW}, ${g.pW}));
`;
}

/** Geometry too large for exact u32/i32 index arithmetic goes to the CPU, which handles any size. */
const GEOMETRY_LIMIT = 1 << 24;

const Conv: WebGpuKernel = {
  name: 'Conv',
  supports: (node, dtypes) => isF32(dtypes[0]) && isF32(dtypes[1]) && (dtypes[2] === undefined || isF32(dtypes[2])) && is2d(node),
  run(ctx) {
    const x = ctx.input(0);
    const w = ctx.input(1);
    const b = ctx.has(2) ? ctx.input(2) : undefined;
    if (x.shape.length !== 4 || w.shape.length !== 4) {
      if (x.shape.length === w.shape.length && x.shape.length >= 3) return null; // 1-D/3-D: CPU
      throw shapeError(ctx.cpu, `Conv input [${x.shape.join(', ')}] and weight [${w.shape.join(', ')}] must be [N, C, spatial...] of equal rank`);
    }
    const group = ctx.attrs.int('group', 1);
    const [N, C, H, W] = x.shape as [number, number, number, number];
    const [M, Cg, KH, KW] = w.shape as [number, number, number, number];
    if (group < 1 || C % group !== 0 || M % group !== 0) throw attrError(ctx.cpu, `group ${group} must divide input channels ${C} and output channels ${M}`);
    if (Cg * group !== C) throw shapeError(ctx.cpu, `weight [${w.shape.join(', ')}] expects ${Cg * group} input channels, input has ${C}`);
    if (b && (b.shape.length !== 1 || b.shape[0] !== M)) throw shapeError(ctx.cpu, `bias [${b.shape.join(', ')}] must be [${M}]`);
    const kernel = ctx.attrs.ints('kernel_shape', [KH, KW]);
    if (kernel[0] !== KH || kernel[1] !== KW) throw attrError(ctx.cpu, `kernel_shape [${kernel.join(', ')}] differs from weight [${w.shape.join(', ')}]`);
    const g = windowGeometry([H, W], kernel, ctx.cpu);
    const [OH, OW] = g.outSpatial as [number, number];
    if ([...g.strides, ...g.dilations, ...g.padBegin, ...g.padEnd].some((v) => v > GEOMETRY_LIMIT) || kernel.some((k, i) => k * g.dilations[i]! > GEOMETRY_LIMIT)) return null;
    const y = ctx.alloc('float32', [N, M, OH, OW]);
    // Four output channels per thread when a group's channels split evenly: each input tap is
    // read once for four weights (vec4 accumulator), and there are 4× fewer threads.
    const V = (M / group) % 4 === 0 ? 4 : 1;
    const p = new Params();
    const n = p.u32(y.size / V);
    const [pC, pH, pW, pMv, pOH, pOW, pKH, pKW, pCg, pMg] = [C, H, W, M / V, OH, OW, KH, KW, Cg, M / group].map((v) => p.u32(v));
    const [sh, sw, dh, dw] = [...g.strides, ...g.dilations].map((v) => p.u32(v));
    const [pt, pl] = g.padBegin.map((v) => p.i32(v));
    const wt = V === 4 ? (at: string) => `vec4<f32>(in1[${at}], in1[${at} + wStep], in1[${at} + 2u * wStep], in1[${at} + 3u * wStep])` : (at: string) => `in1[${at}]`;
    ctx.run({
      key: `Conv:${V}:${b ? 'bias' : ''}`,
      shader: () => `${TAPS}${mainHeader(n)}  let ow = gi % ${pOW};
  let oh = (gi / ${pOW}) % ${pOH};
  let m = ((gi / (${pOW} * ${pOH})) % ${pMv}) * ${V}u;
  let nb = gi / (${pOW} * ${pOH} * ${pMv});
  let c0 = (m / ${pMg}) * ${pCg};
${tapWindow({ sh, sw, pt, pl, dh, dw, pKH, pKW, pH, pW })}  let wStep = ${pCg} * ${pKH} * ${pKW};
  _ = wStep;
  var acc = ${V === 4 ? (b ? 'vec4<f32>(in2[m], in2[m + 1u], in2[m + 2u], in2[m + 3u])' : 'vec4<f32>(0.0)') : b ? 'in2[m]' : '0.0'};
  for (var c = 0u; c < ${pCg}; c++) {
    let xBase = (nb * ${pC} + c0 + c) * ${pH} * ${pW};
    let wBase = (m * ${pCg} + c) * ${pKH} * ${pKW};
    for (var kh = h0; kh < h1; kh++) {
      let xRow = xBase + u32(ih0 + i32(kh * ${dh})) * ${pW};
      let wRow = wBase + kh * ${pKW};
      for (var kw = w0; kw < w1; kw++) {
        acc += in0[xRow + u32(iw0 + i32(kw * ${dw}))] * ${wt('wRow + kw')};
      }
    }
  }
  let o = ((nb * ${pMv} * ${V}u + m) * ${pOH} + oh) * ${pOW} + ow;
${V === 4 ? `  let plane = ${pOH} * ${pOW};
  out0[o] = acc.x;
  out0[o + plane] = acc.y;
  out0[o + 2u * plane] = acc.z;
  out0[o + 3u * plane] = acc.w;
` : '  out0[o] = acc;\n'}}
`,
      inputs: b ? [x, w, b] : [x, w],
      outputs: [y],
      params: p,
      dispatch: dispatch1d(y.size / V),
    });
    return [y];
  },
};

type PoolMode = 'max' | 'avg' | 'avg_pad';


function poolKernel(name: 'MaxPool' | 'AveragePool'): WebGpuKernel {
  return {
    name,
    // MaxPool's optional Indices output (int64) stays on the CPU.
    supports: (node, dtypes) => isF32(dtypes[0]) && is2d(node) && !(name === 'MaxPool' && node.outputs[1]),
    run(ctx: GpuKernelContext): GpuTensor[] | null {
      const x = ctx.input(0);
      if (x.shape.length !== 4) {
        if (x.shape.length >= 3) return null;
        throw shapeError(ctx.cpu, `${name} input must be [N, C, spatial...], got [${x.shape.join(', ')}]`);
      }
      const kernel = ctx.attrs.ints('kernel_shape');
      const [N, C, H, W] = x.shape as [number, number, number, number];
      const g = windowGeometry([H, W], kernel, ctx.cpu, { ceil: ctx.attrs.int('ceil_mode', 0) !== 0 });
      const [OH, OW] = g.outSpatial as [number, number];
      if ([...kernel, ...g.strides, ...g.dilations, ...g.padBegin, ...g.padEnd].some((v) => v > GEOMETRY_LIMIT) || kernel.some((k, i) => k * g.dilations[i]! > GEOMETRY_LIMIT)) return null;
      const mode: PoolMode = name === 'MaxPool' ? 'max' : ctx.attrs.int('count_include_pad', 0) ? 'avg_pad' : 'avg';
      const y = ctx.alloc('float32', [N, C, OH, OW]);
      const p = new Params();
      const n = p.u32(y.size);
      const [pH, pW, pOH, pOW, pKH, pKW, sh, sw, dh, dw] = [H, W, OH, OW, ...kernel, ...g.strides, ...g.dilations].map((v) => p.u32(v));
      const [pt, pl, hEnd, wEnd] = [g.padBegin[0]!, g.padBegin[1]!, H + g.padEnd[0]!, W + g.padEnd[1]!].map((v) => p.i32(v));
      const init = mode === 'max' ? '-f32_inf()' : '0.0';
      const tap = mode === 'max' ? 'acc = max(acc, v);' : 'acc += v;';
      // Averages divide by the taps inside the input (count_include_pad 0) or inside the padded
      // extent, never past the end padding (count_include_pad 1), as the CPU kernel does.
      const result = mode === 'max' ? 'acc' : mode === 'avg' ? 'select(0.0, acc / f32((h1 - h0) * (w1 - w0)), h1 > h0 && w1 > w0)' : 'select(0.0, acc / f32(hp * wp), hp * wp > 0u)';
      ctx.run({
        key: `${name}:${mode}`,
        shader: () => `${WGSL_SPECIALS}${TAPS}${mainHeader(n)}  let ow = gi % ${pOW};
  let oh = (gi / ${pOW}) % ${pOH};
  let base = (gi / (${pOW} * ${pOH})) * ${pH} * ${pW};
${tapWindow({ sh, sw, pt, pl, dh, dw, pKH, pKW, pH, pW })}  let hp = tap_hi(ih0, ${dh}, ${pKH}, u32(${hEnd}));
  let wp = tap_hi(iw0, ${dw}, ${pKW}, u32(${wEnd}));
  _ = hp; _ = wp;
  var acc = ${init};
  for (var kh = h0; kh < h1; kh++) {
    let row = base + u32(ih0 + i32(kh * ${dh})) * ${pW};
    for (var kw = w0; kw < w1; kw++) {
      let v = in0[row + u32(iw0 + i32(kw * ${dw}))];
      ${tap}
    }
  }
  out0[gi] = ${result};
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
}

const GlobalAveragePool: WebGpuKernel = {
  name: 'GlobalAveragePool',
  supports: (_node, dtypes) => isF32(dtypes[0]),
  run(ctx) {
    const x = ctx.input(0);
    if (x.shape.length < 2) throw shapeError(ctx.cpu, `GlobalAveragePool input must be [N, C, spatial...], got [${x.shape.join(', ')}]`);
    const rows = x.shape[0]! * x.shape[1]!;
    const spatial = x.shape.slice(2).reduce((a, b) => a * b, 1);
    const y = ctx.alloc('float32', [x.shape[0]!, x.shape[1]!, ...x.shape.slice(2).map(() => 1)]);
    const p = new Params();
    const n = p.u32(rows);
    const s = p.u32(spatial);
    ctx.run({
      key: 'GlobalAveragePool',
      shader: () => `${mainHeader(n)}  var acc = 0.0;
  for (var i = 0u; i < ${s}; i++) { acc += in0[gi * ${s} + i]; }
  out0[gi] = acc / f32(${s});
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

export const convPoolKernels: Record<string, WebGpuKernel> = { Conv, MaxPool: poolKernel('MaxPool'), AveragePool: poolKernel('AveragePool'), GlobalAveragePool };
