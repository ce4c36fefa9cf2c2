/**
 * Optimizer update rules, LR schedules and gradient clipping match PyTorch 1.13: five steps under
 * fixed gradients for SGD (momentum, dampening, nesterov, weight decay), Adam (amsgrad, L2), AdamW,
 * RMSprop (centered, momentum) and Adagrad (lr decay, initial accumulator); StepLR, ExponentialLR,
 * CosineAnnealingLR, LinearLR over eight epochs; clip_grad_norm_/clip_grad_value_.
 * Goldens: fixtures/pytorch/make_fixtures.py → losses_optim.json. Keras-default variants are
 * checked for the documented formula differences only (no Keras here to compare with).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/ir/tensor.js';
import * as nn from '../../src/nn/index.js';
import type { Trainable } from '../../src/runtime/optim.js';
import { FIXTURES, expectClose } from '../nn/helpers.js';

interface OptCase {
  name: string;
  kw: Record<string, number | boolean | number[]>;
  w0: number[];
  grads: number[][];
  trajectory: number[][];
}
const data = JSON.parse(readFileSync(join(FIXTURES, 'losses_optim.json'), 'utf8')) as {
  optimizers: OptCase[];
  schedules: { name: string; lrs: number[] }[];
  clip: { norm: { a: number[][]; b: number[]; max_norm: number; total: number; a_after: number[][]; b_after: number[] }; value: { clip: number; a_after: number[][]; b_after: number[] } };
};

const vec = (v: number[]): Tensor => Tensor.from('float32', [v.length], v);

function make(c: OptCase, params: Trainable[]): nn.Optimizer {
  const k = c.kw as Record<string, never>;
  switch (c.name) {
    case 'SGD':
      return new nn.SGD(params, { lr: k.lr, momentum: k.momentum, dampening: k.dampening, nesterov: k.nesterov, weightDecay: k.weight_decay });
    case 'Adam':
      return new nn.Adam(params, { lr: k.lr, betas: k.betas, amsgrad: k.amsgrad, weightDecay: k.weight_decay });
    case 'AdamW':
      return new nn.AdamW(params, { lr: k.lr });
    case 'RMSprop':
      return new nn.RMSprop(params, { lr: k.lr, alpha: k.alpha, centered: k.centered, momentum: k.momentum, weightDecay: k.weight_decay });
    case 'Adagrad':
      return new nn.Adagrad(params, { lr: k.lr, lrDecay: k.lr_decay, weightDecay: k.weight_decay, initialAccumulatorValue: k.initial_accumulator_value });
  }
  throw new Error(c.name);
}

describe('optimizers match PyTorch 1.13', () => {
  for (const c of data.optimizers) {
    it(`${c.name} ${JSON.stringify(c.kw)}`, () => {
      const p: Trainable = { data: vec(c.w0), grad: null };
      const opt = make(c, [p]);
      c.grads.forEach((g, step) => {
        opt.zeroGrad();
        p.grad = vec(g);
        opt.step();
        expectClose(p.data, vec(c.trajectory[step]!), { rtol: 1e-5, atol: 1e-6, what: `step ${step + 1}` });
      });
    });
  }

  it('frozen parameters (requiresGrad = false) and missing gradients are skipped', () => {
    const frozen: Trainable = { data: vec([1, 2]), grad: vec([1, 1]), requiresGrad: false };
    const nograd: Trainable = { data: vec([3, 4]), grad: null };
    const opt = new nn.SGD([frozen, nograd], { lr: 0.5 });
    opt.step();
    expect(frozen.data.toNumbers()).toEqual([1, 2]);
    expect(nograd.data.toNumbers()).toEqual([3, 4]);
  });
});

describe('LR schedules match PyTorch 1.13', () => {
  for (const s of data.schedules) {
    it(s.name, () => {
      const opt = new nn.SGD([{ data: vec([0]), grad: null }], { lr: 0.1 });
      const sch =
        s.name === 'StepLR' ? new nn.StepLR(opt, 2, 0.5) : s.name === 'ExponentialLR' ? new nn.ExponentialLR(opt, 0.9) : s.name === 'CosineAnnealingLR' ? new nn.CosineAnnealingLR(opt, 5, 0.01) : new nn.LinearLR(opt, 0.25, 1, 4);
      const lrs = [opt.lr];
      for (let e = 0; e < 8; e++) {
        opt.step();
        sch.step();
        lrs.push(opt.lr);
      }
      lrs.forEach((lr, i) => expect(Math.abs(lr - s.lrs[i]!), `epoch ${i}: ${lr} vs ${s.lrs[i]}`).toBeLessThanOrEqual(1e-9));
    });
  }

  it('WarmupLR ramps linearly then hands over', () => {
    const opt = new nn.SGD([{ data: vec([0]), grad: null }], { lr: 0.1 });
    const after = new nn.ExponentialLR(opt, 0.5);
    const sch = new nn.WarmupLR(opt, 3, after);
    const lrs = [opt.lr];
    for (let e = 0; e < 5; e++) {
      sch.step();
      lrs.push(opt.lr);
    }
    expect(lrs.map((x) => +x.toFixed(6))).toEqual([0.025, 0.05, 0.075, 0.1, 0.05, 0.025]);
  });
});

describe('gradient clipping matches PyTorch 1.13', () => {
  const t2 = (rows: number[][]): Tensor => Tensor.from('float32', [rows.length, rows[0]!.length], rows.flat());
  it('clipGradNorm', () => {
    const c = data.clip.norm;
    const a: Trainable = { data: t2(c.a), grad: t2(c.a) };
    const b: Trainable = { data: vec(c.b), grad: vec(c.b) };
    const total = nn.clipGradNorm([a, b], c.max_norm);
    expect(Math.abs(total - c.total)).toBeLessThanOrEqual(1e-5);
    expectClose(a.grad!, t2(c.a_after));
    expectClose(b.grad!, vec(c.b_after));
  });
  it('clipGradValue', () => {
    const c = data.clip.value;
    const a: Trainable = { data: t2(data.clip.norm.a), grad: t2(data.clip.norm.a) };
    const b: Trainable = { data: vec(data.clip.norm.b), grad: vec(data.clip.norm.b) };
    nn.clipGradValue([a, b], c.clip);
    expectClose(a.grad!, t2(c.a_after));
    expectClose(b.grad!, vec(c.b_after));
  });
});

describe('Keras-default optimizers match tfjs (the TF/Keras formulas in JS)', () => {
  const GRADS = [
    [1e-4, -1, 2],
    [0.1, 0.3, -0.2],
  ];
  async function tfjsRun(make: (tf: typeof import('@tensorflow/tfjs')) => import('@tensorflow/tfjs').Optimizer): Promise<number[]> {
    const tf = await import('@tensorflow/tfjs');
    const w = tf.variable(tf.tensor1d([1, -2, 0.5]));
    const opt = make(tf);
    for (const g of GRADS) opt.applyGradients([{ name: w.name, tensor: tf.tensor1d(g) }]);
    return Array.from(w.dataSync());
  }
  function mine(make: (p: Trainable[]) => nn.Optimizer): number[] {
    const w: Trainable = { data: vec([1, -2, 0.5]), grad: null };
    const opt = make([w]);
    for (const g of GRADS) {
      w.grad = vec(g);
      opt.step();
    }
    return w.data.toNumbers();
  }
  it('RMSprop (rho 0.9, eps 1e-7 inside the square root)', async () => {
    const ref = await tfjsRun((tf) => tf.train.rmsprop(1e-3, 0.9, 0, 1e-7));
    expectClose(vec(mine((p) => new nn.RMSprop(p, nn.kerasDefaults.rmsprop()))), vec(ref), { rtol: 1e-5, atol: 1e-7 });
  });
  it('Adam (eps 1e-7; tfjs adds eps after the bias correction, Keras before: "epsilon hat")', async () => {
    const ref = await tfjsRun((tf) => tf.train.adam(1e-3, 0.9, 0.999, 1e-7));
    // tfjs places eps like PyTorch, so it checks everything but the placement …
    expectClose(vec(mine((p) => new nn.Adam(p, { ...nn.kerasDefaults.adam(), epsilonHat: false }))), vec(ref), { rtol: 1e-5, atol: 1e-7 });
    // … and the placement is visible where the gradient is tiny (element 0), invisible elsewhere.
    const hat = mine((p) => new nn.Adam(p, nn.kerasDefaults.adam()));
    expect(Math.abs(hat[0]! - ref[0]!)).toBeGreaterThan(1e-6);
    expectClose(vec(hat.slice(1)), vec(ref.slice(1)), { rtol: 1e-5, atol: 1e-7 });
  });
});
