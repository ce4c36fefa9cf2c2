/** The fixture losses of fixtures/pytorch/make_fixtures.py, on src/nn. */
import { Tensor } from '../../src/ir/tensor.js';
import * as nn from '../../src/nn/index.js';
import type { Module, Var } from '../../src/nn/index.js';

/** Inputs, targets and the loss for one fixture model (train mode as the fixture recorded). */
export function fixtureLoss(_name: string, model: Module, arrays: Map<string, Tensor>): Var {
  const inputs = [...arrays.keys()].filter((k) => /^x\d$/.test(k)).map((k) => arrays.get(k)!);
  const out = model.call(...inputs);
  const outs = (Array.isArray(out) ? out : [out]) as Var[];
  if (arrays.has('y')) return new nn.CrossEntropyLoss().callVar(outs[0]!, arrays.get('y')!);
  // weighted_sum: Σ_i sum(out_i * y_i)
  let total: Var | undefined;
  outs.forEach((o, i) => {
    const w = o.trace.constant(arrays.get(`y${i}`)!, 'w');
    const s = o.mul(w).sum();
    total = total ? total.add(s) : s;
  });
  return total!;
}

/** Train mode as the fixture used it: the CNN's Dropout is kept in eval mode (masks cannot match PyTorch's RNG). */
export function setFixtureMode(name: string, model: Module, trainMode: boolean): void {
  model.train(trainMode);
  if (name === 'image_classifier') for (const m of model.modules()) if (m instanceof nn.Dropout) m.eval();
}
