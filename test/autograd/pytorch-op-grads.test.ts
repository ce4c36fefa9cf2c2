/**
 * Op-level gradients against PyTorch 1.13 for the ops whose gradient rules are not exercised by the
 * fixture models: F.pad (reflect, replicate = ONNX edge, circular = ONNX wrap, constant with
 * negative pads), F.interpolate (nearest, nearest-exact, bilinear and bicubic with and without
 * align_corners, sizes and scale factors), F.grid_sample (input and grid; bilinear, bicubic,
 * nearest; zeros, border, reflection padding) and nn.LSTM/GRU/RNN on pack_padded_sequence (per-row
 * sequence_lens, bidirectional, initial states). Each case is one ONNX node; loss = Σ_k
 * sum(out_k · w_k) with PyTorch's weights; both the forward outputs and every input gradient must
 * match PyTorch's; every case runs again as a float32 graph (looser tolerance), which checks that the
 * rules' constants and masks follow the graph's dtype. Goldens (float64): fixtures/pytorch/make_grad_ops.py (torch 1.13, see
 * grad_ops.json), which also documents the layout conversions.
 */
import { describe, expect, it } from 'vitest';
import type { Attr, AttrMap } from '../../src/ir/graph.js';
import { emptyGraph, makeNode } from '../../src/ir/graph.js';
import { Tensor, toFloat32Array } from '../../src/ir/tensor.js';
import { gradients } from '../../src/runtime/autograd.js';
import { expectClose, loadFixture } from '../nn/helpers.js';

const str = (value: string): Attr => ({ type: 'string', value });
const int = (value: number): Attr => ({ type: 'int', value });
const float = (value: number): Attr => ({ type: 'float', value });

/** One node: its inputs are fixture arrays (`@name` = differentiable, `=name` = constant) or '' (absent). */
interface OpCase {
  name: string;
  op: string;
  inputs: string[];
  attrs: AttrMap;
  outputs: number;
  /** Resize coordinates are float32 arithmetic by spec; PyTorch computes them in float64. */
  tol: { rtol: number; atol: number };
  /** Extra constant inputs not stored in the fixture. */
  extra?: Record<string, Tensor>;
}

const EXACT = { rtol: 1e-10, atol: 1e-12 };
const F32_COORDS = { rtol: 1e-5, atol: 1e-6 };

const pad = (name: string, mode: string, extra?: Record<string, Tensor>): OpCase => ({
  name,
  op: 'Pad',
  inputs: ['@x0', '=pads', ...(extra ? ['=value'] : [])],
  attrs: { mode: str(mode) },
  outputs: 1,
  tol: EXACT,
  extra,
});
const resize = (name: string, by: 'sizes' | 'scales', attrs: AttrMap): OpCase => ({
  name,
  op: 'Resize',
  inputs: ['@x0', '', by === 'scales' ? '=scales' : '', by === 'sizes' ? '=sizes' : ''],
  attrs,
  outputs: 1,
  tol: F32_COORDS,
});
const linear = (ctm: string): AttrMap => ({ mode: str('linear'), coordinate_transformation_mode: str(ctm) });
const cubic = (ctm: string): AttrMap => ({ mode: str('cubic'), cubic_coeff_a: float(-0.75), coordinate_transformation_mode: str(ctm) });
const grid = (name: string, mode: string, padding: string, alignCorners: boolean): OpCase => ({
  name,
  op: 'GridSample',
  inputs: ['@x0', '@x1'],
  attrs: { mode: str(mode), padding_mode: str(padding), align_corners: int(alignCorners ? 1 : 0) },
  outputs: 1,
  tol: { rtol: 1e-9, atol: 1e-11 },
});
const recurrent = (name: string, op: string, hidden: number, bidirectional: boolean, states: number): OpCase => ({
  name,
  op,
  inputs: ['@x0', '@W', '@R', '@B', '=lens', ...Array.from({ length: states }, (_, k) => `@x${k + 1}`)],
  attrs: { hidden_size: int(hidden), ...(bidirectional ? { direction: str('bidirectional') } : {}), ...(op === 'GRU' ? { linear_before_reset: int(1) } : {}) },
  outputs: op === 'LSTM' ? 3 : 2,
  tol: { rtol: 1e-9, atol: 1e-11 },
});

const CASES: OpCase[] = [
  pad('pad_reflect_2d', 'reflect'),
  pad('pad_reflect_3d', 'reflect'),
  pad('pad_replicate_2d', 'edge'),
  pad('pad_replicate_1d_wide', 'edge'),
  pad('pad_circular_2d', 'wrap'),
  pad('pad_circular_1d', 'wrap'),
  pad('pad_constant_negative', 'constant', { value: Tensor.from('float64', [], [0.5]) }),
  // PyTorch's 'nearest' is floor(dst · in/out); 'nearest-exact' floor((dst + 0.5) · in/out).
  resize('nearest_up2_down2', 'sizes', { mode: str('nearest'), coordinate_transformation_mode: str('asymmetric'), nearest_mode: str('floor') }),
  resize('nearest_exact', 'sizes', { mode: str('nearest'), coordinate_transformation_mode: str('tf_half_pixel_for_nn'), nearest_mode: str('floor') }),
  resize('bilinear_up', 'sizes', linear('pytorch_half_pixel')),
  resize('bilinear_down', 'sizes', linear('pytorch_half_pixel')),
  resize('bilinear_scale_1_5', 'scales', linear('pytorch_half_pixel')),
  resize('bilinear_align_corners', 'sizes', linear('align_corners')),
  resize('bicubic_up', 'sizes', cubic('pytorch_half_pixel')),
  resize('bicubic_align_corners', 'sizes', cubic('align_corners')),
  grid('grid_bilinear_zeros', 'bilinear', 'zeros', false),
  grid('grid_bilinear_border_ac', 'bilinear', 'border', true),
  grid('grid_bilinear_reflection', 'bilinear', 'reflection', false),
  grid('grid_bicubic_zeros', 'bicubic', 'zeros', false),
  grid('grid_bicubic_reflection_ac', 'bicubic', 'reflection', true),
  grid('grid_nearest_border', 'nearest', 'border', false),
  recurrent('lstm_packed_bidirectional', 'LSTM', 4, true, 2),
  recurrent('gru_packed_bidirectional', 'GRU', 3, true, 1),
  recurrent('rnn_packed', 'RNN', 3, false, 0),
];

describe('op gradients match PyTorch 1.13 (float64)', () => {
  const arrays = loadFixture('grad_ops');
  const get = (c: OpCase, key: string): Tensor => {
    const t = c.extra?.[key] ?? arrays.get(`${c.name}.${key}`);
    if (!t) throw new Error(`fixture grad_ops.npz has no ${c.name}.${key}`);
    return t;
  };
  /** float32 runs of the same cases: the rules' constants and masks follow the graph's dtype. */
  const F32 = { rtol: 2e-4, atol: 2e-5 };
  const cases = [...CASES.map((c) => ({ c, f32: false })), ...CASES.map((c) => ({ c, f32: true }))];
  for (const { c, f32 } of cases) {
    it(`${c.name}: ${c.op} outputs and input gradients${f32 ? ' (float32 graph)' : ''}`, async () => {
      const tol = f32 ? F32 : c.tol;
      const asRun = (t: Tensor): Tensor => (f32 && t.dtype === 'float64' ? new Tensor('float32', t.shape, toFloat32Array(t)) : t);
      const g = emptyGraph(c.name);
      const feeds = new Map<string, Tensor>();
      const wrt: string[] = [];
      const ins = c.inputs.map((ref) => {
        if (!ref) return '';
        const key = ref.slice(1);
        const t = asRun(get(c, key));
        if (ref[0] === '=') g.initializers.set(key, t);
        else {
          g.inputs.push({ name: key, type: { kind: 'tensor', dtype: t.dtype, shape: t.shape.slice() } });
          feeds.set(key, t);
          wrt.push(key);
        }
        return key;
      });
      const outs = Array.from({ length: c.outputs }, (_, k) => `out${k}`);
      g.nodes.push(makeNode(c.op, ins, outs, c.attrs));
      let loss = '';
      outs.forEach((o, k) => {
        g.initializers.set(`w${k}`, asRun(get(c, `w${k}`)));
        g.nodes.push(makeNode('Mul', [o, `w${k}`], [`p${k}`]));
        g.nodes.push(makeNode('ReduceSum', [`p${k}`], [`s${k}`], { keepdims: int(0) }));
        if (k === 0) loss = 's0';
        else {
          g.nodes.push(makeNode('Add', [loss, `s${k}`], [`l${k}`]));
          loss = `l${k}`;
        }
      });
      const { tape, grads } = await gradients(g, feeds, loss, wrt);
      outs.forEach((o, k) => {
        const mine = tape.values.get(o)!;
        expect(mine.shape, `${o} shape`).toEqual(get(c, `out${k}`).shape);
        expectClose(mine, get(c, `out${k}`), { ...tol, what: `${c.name} ${o}` });
      });
      for (const w of wrt) {
        const expected = get(c, /^x\d$/.test(w) ? `grad${w.slice(1)}` : `${w}.grad`);
        expect(grads.get(w)!.shape, `d/d${w} shape`).toEqual(expected.shape);
        expect(grads.get(w)!.dtype, `d/d${w} dtype`).toBe(f32 ? 'float32' : 'float64');
        expectClose(grads.get(w)!, expected, { ...tol, what: `${c.name} d loss/d ${w}` });
      }
    });
  }
});
