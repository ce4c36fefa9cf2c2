/**
 * Loss values and input gradients of the src/nn losses match PyTorch 1.13 (torch.nn.functional),
 * including label smoothing, class weights, probability targets and pos_weight. Goldens:
 * fixtures/pytorch/make_fixtures.py → losses_optim.json.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/ir/tensor.js';
import * as nn from '../../src/nn/index.js';
import { FIXTURES, expectClose } from '../nn/helpers.js';

type Nested = number | Nested[];
interface LossCase {
  name: string;
  x: Nested;
  target: Nested;
  target_dtype: string;
  kw: Record<string, Nested>;
  loss: number;
  grad: Nested;
}

const data = JSON.parse(readFileSync(join(FIXTURES, 'losses_optim.json'), 'utf8')) as { losses: LossCase[] };

function shapeOf(v: Nested): number[] {
  return Array.isArray(v) ? [v.length, ...shapeOf(v[0]!)] : [];
}
function tensor(v: Nested, dtype: 'float32' | 'int64' = 'float32'): Tensor {
  const flat: number[] = [];
  const walk = (u: Nested): void => void (Array.isArray(u) ? u.forEach(walk) : flat.push(u));
  walk(v);
  return Tensor.from(dtype, shapeOf(v), dtype === 'int64' ? flat.map((x) => BigInt(x)) : flat);
}

function criterion(c: LossCase): nn.Module {
  const kw = c.kw;
  switch (c.name.replace(/_(smoothing|weight|probs|pos_weight)/g, '')) {
    case 'mse':
      return new nn.MSELoss();
    case 'l1':
      return new nn.L1Loss();
    case 'huber':
      return new nn.HuberLoss('mean', kw.delta as number);
    case 'smooth':
    case 'smooth_l1':
      return new nn.SmoothL1Loss('mean', kw.beta as number);
    case 'cross_entropy':
      return new nn.CrossEntropyLoss({ labelSmoothing: (kw.label_smoothing as number) ?? 0, weight: kw.weight ? tensor(kw.weight) : undefined });
    case 'nll':
      return new nn.NLLLoss();
    case 'bce':
      return new nn.BCELoss();
    case 'bce_with_logits':
      return new nn.BCEWithLogitsLoss({ posWeight: kw.pos_weight !== undefined ? tensor(kw.pos_weight) : undefined });
  }
  throw new Error(`no criterion for ${c.name}`);
}

describe('losses match PyTorch 1.13', () => {
  for (const c of data.losses) {
    it(c.name, async () => {
      const x = new nn.Parameter(tensor(c.x));
      x.key = 'x';
      const trace = new nn.Trace({ training: true });
      const xv = trace.param(x, 'input', true);
      const target = trace.input(tensor(c.target, c.target_dtype === 'int64' ? 'int64' : 'float32'), 'target');
      const loss = criterion(c).callVar(xv, target);
      expect(Math.abs(loss.item() - c.loss)).toBeLessThanOrEqual(1e-5 + 1e-4 * Math.abs(c.loss));
      await loss.backward();
      expectClose(x.grad!, tensor(c.grad), { what: `${c.name} grad` });
    });
  }
});

describe('functional forms equal the modules', () => {
  it('F.crossEntropy / F.mseLoss / F.binaryCrossEntropyWithLogits match PyTorch', () => {
    for (const [name, f] of [
      ['cross_entropy_smoothing', (x: nn.Var, c: LossCase) => nn.F.crossEntropy(x, tensor(c.target, 'int64'), { labelSmoothing: c.kw.label_smoothing as number })],
      ['mse', (x: nn.Var, c: LossCase) => nn.F.mseLoss(x, tensor(c.target))],
      ['bce_with_logits_pos_weight', (x: nn.Var, c: LossCase) => nn.F.binaryCrossEntropyWithLogits(x, tensor(c.target), { posWeight: tensor(c.kw.pos_weight!) })],
    ] as const) {
      const c = data.losses.find((l) => l.name === name)!;
      const loss = f(new nn.Trace().input(tensor(c.x)), c).item();
      expect(Math.abs(loss - c.loss), name).toBeLessThanOrEqual(1e-5 + 1e-4 * Math.abs(c.loss));
    }
  });
});
