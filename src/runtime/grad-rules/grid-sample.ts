/**
 * GridSample's gradient with respect to X and to the grid (4-D: X [N, C, H, W], grid
 * [N, H_out, W_out, 2]). On a tape the grid is concrete, so every output position's taps (input
 * position, weight, and the weight's derivatives along x and y) are computed here on the host,
 * following the forward kernel's arithmetic (src/kernels/cpu/resize.ts, which follows PyTorch's
 * grid_sampler): unnormalise, pad the coordinate (border: clamp; reflection: mirror, then clamp),
 * then nearest (1 tap), bilinear (4) or bicubic (16, each tap index padded on its own). Then
 * - dX: the gradient times each tap's weight, scatter-added into X (one ScatterElements);
 * - dgrid: Σ over channels and taps of gradient · X[tap] · ∂weight/∂coordinate, times the
 *   derivative of the unnormalise-and-pad map (zero where a clamp holds the coordinate). Nearest
 *   has a zero grid gradient (PyTorch's too).
 * Spec: https://onnx.ai/onnx/operators/onnx__GridSample.html
 */
import { RosettaError } from '../../ir/errors.js';
import { Tensor } from '../../ir/tensor.js';
import { roundHalfEven } from '../../kernels/cpu/quant.js';
import { onnxCode } from './builder.js';
import type { GradRule } from './elementwise.js';
import { cubicCoeffs } from '../../kernels/cpu/resize.js';

const int = (value: number) => ({ type: 'int' as const, value });

/** Derivatives of the four cubic convolution coefficients with respect to the fraction r. */
function cubicCoeffsDerivative(r: number, A: number): [number, number, number, number] {
  const r1 = r + 1;
  const r2 = 1 - r;
  const r3 = 2 - r;
  return [
    (3 * A * r1 - 10 * A) * r1 + 8 * A,
    (3 * (A + 2) * r - 2 * (A + 3)) * r,
    -((3 * (A + 2) * r2 - 2 * (A + 3)) * r2),
    -((3 * A * r3 - 10 * A) * r3 + 8 * A),
  ];
}

/** Mirror a coordinate into [low/2, high/2] (PyTorch's reflect_coordinates) and its derivative (±1). */
function reflect(x: number, twiceLow: number, twiceHigh: number): [number, number] {
  if (twiceLow === twiceHigh) return [0, 0];
  const min = twiceLow / 2;
  const span = (twiceHigh - twiceLow) / 2;
  const sign = x < min ? -1 : 1;
  const d = Math.abs(x - min);
  const extra = d % span;
  const flips = Math.floor(d / span);
  return flips % 2 === 0 ? [extra + min, sign] : [span - extra + min, -sign];
}

export const gridSampleRule: GradRule = (b, n, [g], a) => {
  if (!g) return [undefined, undefined];
  const [x, grid] = [n.inputs[0]!, n.inputs[1]!];
  const xs = b.shape(x);
  const gs = b.shape(grid);
  if (xs.length !== 4) throw new RosettaError('E_UNSUPPORTED_OP', `autograd: GridSample on rank ${xs.length} is not differentiable yet (4-D only)`, { where: { node: n.name } });
  const mode = a.string('mode', 'bilinear');
  const padding = a.string('padding_mode', 'zeros');
  const align = a.int('align_corners', 0) !== 0;
  const [N, C, H, W] = xs as [number, number, number, number];
  const P = gs[1]! * gs[2]!;
  const gv = b.intValues(grid);
  const nearest = mode === 'nearest';
  const cubic = mode === 'bicubic' || mode === 'cubic';
  const T = nearest ? 1 : cubic ? 16 : 4;
  const HW = H * W;
  // Per (n, tap, position): flat input index (HW = outside, reads a zero), weight, ∂w/∂gx, ∂w/∂gy.
  const idx = new Array<number>(N * T * P).fill(HW);
  const w = new Float64Array(N * T * P);
  const dwx = new Float64Array(N * T * P);
  const dwy = new Float64Array(N * T * P);
  const unnorm = (v: number, size: number): number => (align ? ((v + 1) / 2) * (size - 1) : ((v + 1) * size - 1) / 2);
  const scale = (size: number): number => (align ? (size - 1) / 2 : size / 2);
  /** Padded coordinate and d(padded)/d(unnormalised). */
  const fix = (v: number, size: number): [number, number] => {
    if (padding === 'border') return v < 0 ? [0, 0] : v > size - 1 ? [size - 1, 0] : [v, 1];
    if (padding === 'reflection') {
      const [r, dr] = align ? reflect(v, 0, 2 * (size - 1)) : reflect(v, -1, 2 * size - 1);
      return r < 0 ? [0, 0] : r > size - 1 ? [size - 1, 0] : [r, dr];
    }
    return [v, 1];
  };
  const tapIndex = (yy: number, xx: number): number => (yy >= 0 && yy < H && xx >= 0 && xx < W ? yy * W + xx : HW);
  for (let bn = 0; bn < N; bn++) {
    for (let p = 0; p < P; p++) {
      const gx = unnorm(gv[(bn * P + p) * 2]!, W);
      const gy = unnorm(gv[(bn * P + p) * 2 + 1]!, H);
      const at = (t: number): number => (bn * T + t) * P + p;
      if (nearest) {
        const [px] = fix(gx, W);
        const [py] = fix(gy, H);
        idx[at(0)] = tapIndex(roundHalfEven(py), roundHalfEven(px));
        w[at(0)] = 1;
      } else if (!cubic) {
        const [px, dpx] = fix(gx, W);
        const [py, dpy] = fix(gy, H);
        const x0 = Math.floor(px);
        const y0 = Math.floor(py);
        const lx = px - x0;
        const ly = py - y0;
        const sx = dpx * scale(W);
        const sy = dpy * scale(H);
        const corners: [number, number, number, number, number][] = [
          [y0, x0, (1 - ly) * (1 - lx), -(1 - ly) * sx, -(1 - lx) * sy],
          [y0, x0 + 1, (1 - ly) * lx, (1 - ly) * sx, -lx * sy],
          [y0 + 1, x0, ly * (1 - lx), -ly * sx, (1 - lx) * sy],
          [y0 + 1, x0 + 1, ly * lx, ly * sx, lx * sy],
        ];
        corners.forEach(([yy, xx, wk, dx, dy], t) => {
          idx[at(t)] = tapIndex(yy, xx);
          w[at(t)] = wk;
          dwx[at(t)] = dx;
          dwy[at(t)] = dy;
        });
      } else {
        // Taps on the raw coordinate; each tap's index is padded on its own (PyTorch's get_value_bounded).
        const x0 = Math.floor(gx);
        const y0 = Math.floor(gy);
        const cx = cubicCoeffs(gx - x0, -0.75);
        const cy = cubicCoeffs(gy - y0, -0.75);
        const dcx = cubicCoeffsDerivative(gx - x0, -0.75);
        const dcy = cubicCoeffsDerivative(gy - y0, -0.75);
        const bound = (i: number, size: number): number => (padding === 'zeros' ? i : fix(i, size)[0]);
        for (let q = 0; q < 4; q++) {
          for (let r = 0; r < 4; r++) {
            const t = q * 4 + r;
            idx[at(t)] = tapIndex(bound(y0 - 1 + q, H), bound(x0 - 1 + r, W));
            w[at(t)] = cy[q]! * cx[r]!;
            dwx[at(t)] = cy[q]! * dcx[r]! * scale(W);
            dwy[at(t)] = dcy[q]! * cx[r]! * scale(H);
          }
        }
      }
    }
  }
  const dt = b.dtypeOf(x);
  // dX: one scatter of g · w over every tap, into [N, C, HW + 1] (the extra column takes outside taps).
  const g4 = b.reshape(g, [N, C, 1, P]);
  const idxAll = b.expand(b.reshape(b.ints(idx), [N, 1, T * P]), [N, C, T * P]);
  const upd = b.reshape(b.mul(g4, b.constant(Tensor.from(dt, [N, 1, T, P], w), 'gsw')), [N, C, T * P]);
  const scattered = b.op('ScatterElements', [b.zeros([N, C, HW + 1], dt), idxAll, upd], { axis: int(2), reduction: { type: 'string', value: 'add' } });
  const gx = b.reshape(b.slice(scattered, [0], [HW], [2]), xs);
  if (nearest) return [gx, b.zeros(gs, b.dtypeOf(grid))];
  // dgrid: X at every tap (a zero appended for outside taps), weighted by g and ∂w.
  const xPad = b.op('Pad', [b.reshape(x, [N, C, HW]), b.ints([0, 0, 0, 0, 0, 1])]);
  const taps = b.reshape(b.op('GatherElements', [xPad, idxAll], { axis: int(2) }), [N, C, T, P]);
  const gTaps = b.mul(taps, g4);
  const along = (dw: Float64Array): string => b.reshape(b.reduceSum(b.mul(gTaps, b.constant(Tensor.from(dt, [N, 1, T, P], dw), 'gsdw')), [1, 2], false), [N, gs[1]!, gs[2]!, 1]);
  const gGrid = b.op('Concat', [along(dwx), along(dwy)], { axis: int(3) });
  return [gx, b.dtypeOf(grid) === dt ? gGrid : b.op('Cast', [gGrid], { to: int(onnxCode(b.dtypeOf(grid))) })];
};
